//! tend-log: read lines on stdin, stamp them, write them to LOGDIR/current, rotate and
//! trim archives, and never lose a line silently.
use std::path::PathBuf;

use tend::{fatal, say, usage, warn, EXIT_SYS};
use tend_logger::config::{parse_size, MAX_LINEMAX, MIN_LINEMAX};
use tend_logger::engine::Note;
use tend_logger::input::Input;
use tend_logger::pattern::Rule;
use tend_logger::run::{run, Failure};
use tend_logger::signals::Signals;
use tend_logger::{privs, Config, Format, Logger, Policy, SystemClock};

const PROG: &str = "tend-log";
const SYNOPSIS: &str = "tend-log [ -t iso|local|tai64n|none ] [ -s size ] [ -n count ] \
                        [ -S total ] [ -l linemax ] [ -f block|free|drop ] [ -p processor ] [ -u user ] \
                        [ -r rule ]... [ -w statusfile ] logdir...";

pub fn start(args: tend::Args) -> u8 {
    let Settings {
        logdirs: cfgs,
        user,
    } = match parse_args(args) {
        Ok(Some(s)) => s,
        Ok(None) => {
            println!("usage: {SYNOPSIS}");
            return 0;
        }
        Err(e) => return usage(PROG, SYNOPSIS, e),
    };
    let sigs = match Signals::install() {
        Ok(s) => s,
        Err(e) => return fatal(PROG, &e),
    };
    let mut logs = Vec::with_capacity(cfgs.len());
    for cfg in cfgs {
        match Logger::new(cfg, SystemClock) {
            Ok(mut l) => {
                l.take_notes().into_iter().for_each(print_note);
                logs.push(l);
            }
            Err(e) => return fatal(PROG, &e),
        }
    }
    if let Some(spec) = user {
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let dirs: Vec<_> = logs.iter().map(|l| l.logdir()).collect();
        let who = privs::resolve(&spec, &passwd);
        if let Err(e) = who.and_then(|who| privs::become_user(who, &dirs)) {
            return fatal(PROG, &e);
        }
    }
    let mut input = Input::new(rustix::stdio::stdin());
    match run(&mut logs, &mut input, &sigs, &mut print_note) {
        Ok(_) => 0,
        Err(Failure::Lost(lost)) if lost.kept && lost.bytes > 0 => {
            say(
                PROG,
                "fatal",
                format!(
                    "{}; {} bytes left in the pipe for the next tend-log",
                    lost.err, lost.bytes
                ),
            );
            EXIT_SYS
        }
        Err(Failure::Lost(lost)) if lost.bytes > 0 => {
            say(
                PROG,
                "fatal",
                format!("{}; {} bytes not written", lost.err, lost.bytes),
            );
            EXIT_SYS
        }
        Err(Failure::Lost(lost)) => {
            say(PROG, "fatal", &lost.err);
            EXIT_SYS
        }
        Err(Failure::Input(e)) => {
            say(PROG, "fatal", &e);
            EXIT_SYS
        }
    }
}

fn print_note(note: Note) {
    match note {
        Note::Warning(text) => warn(PROG, text),
        Note::Info(text) => say(PROG, "info", text),
        Note::Alert(line) => {
            use std::io::Write;
            // An alert that cannot be written is lost, as a message would be.
            let _ = std::io::stderr().lock().write_all(&line);
        }
    }
}

/// What the command line asks for.
struct Settings {
    /// The settings of each logdir.
    logdirs: Vec<Config>,
    /// `-u`: the user to become.
    user: Option<String>,
}

/// A logdir named on the command line, with the options that belong to it.
struct Named {
    dir: PathBuf,
    rules: Vec<Rule>,
    status: Option<PathBuf>,
}

/// The settings, or None for `-h`.
fn parse_args(args: tend::Args) -> Result<Option<Settings>, lexopt::Error> {
    use lexopt::prelude::*;
    let mut cfg = Config::new(PathBuf::new());
    let (mut dirs, mut user): (Vec<Named>, _) = (Vec::new(), None);
    // -r and -w belong to the logdir named next.
    let (mut rules, mut status) = (Vec::new(), None);
    let mut p = lexopt::Parser::from_args(args);
    while let Some(arg) = p.next()? {
        match arg {
            Short('t') => {
                let v = p.value()?.string()?;
                cfg.format = Format::parse(&v).ok_or_else(|| {
                    format!("unknown stamp format {v}: want iso, local, tai64n or none")
                })?;
            }
            Short('s') => cfg.size = size(&mut p, "-s")?,
            Short('S') => cfg.total = size(&mut p, "-S")?,
            Short('n') => {
                let v = p.value()?.string()?;
                cfg.count = v.parse().map_err(|_| format!("bad count for -n: {v}"))?;
            }
            Short('l') => {
                let v = size(&mut p, "-l")?;
                cfg.linemax = usize::try_from(v)
                    .ok()
                    .filter(|n| (MIN_LINEMAX..=MAX_LINEMAX).contains(n))
                    .ok_or_else(|| {
                        format!("line length for -l must be from {MIN_LINEMAX} to {MAX_LINEMAX}")
                    })?;
            }
            Short('f') => {
                let v = p.value()?.string()?;
                cfg.policy = Policy::parse(&v)
                    .ok_or_else(|| format!("unknown policy {v}: want block, free or drop"))?;
            }
            Short('u') => user = Some(p.value()?.string()?),
            Short('p') => cfg.processor = Some(p.value()?.string()?),
            Short('r') => {
                use std::os::unix::ffi::OsStrExt;
                let v = p.value()?;
                let rule = Rule::parse(v.as_bytes()).ok_or_else(|| {
                    format!(
                        "bad rule {:?} for -r: want +PATTERN, -PATTERN, ePATTERN or EPATTERN",
                        v.to_string_lossy()
                    )
                })?;
                rules.push(rule);
            }
            Short('w') => status = Some(PathBuf::from(p.value()?)),
            Short('h') | Long("help") => return Ok(None),
            Value(v) if v.is_empty() => return Err("empty logdir".into()),
            Value(v) if dirs.iter().any(|n| n.dir.as_os_str() == v) => {
                return Err(format!("logdir {} given twice", v.to_string_lossy()).into())
            }
            Value(v) => dirs.push(Named {
                dir: PathBuf::from(v),
                rules: std::mem::take(&mut rules),
                status: status.take(),
            }),
            _ => return Err(arg.unexpected()),
        }
    }
    if dirs.is_empty() {
        return Err("missing logdir".into());
    }
    if !rules.is_empty() || status.is_some() {
        return Err("-r or -w after the last logdir: they apply to the logdir named next".into());
    }
    let logdirs = dirs
        .into_iter()
        .map(|Named { dir, rules, status }| Config {
            dir,
            rules,
            status,
            ..cfg.clone()
        })
        .collect();
    Ok(Some(Settings { logdirs, user }))
}

fn size(p: &mut lexopt::Parser, opt: &str) -> Result<u64, lexopt::Error> {
    use lexopt::ValueExt;
    let v = p.value()?.string()?;
    parse_size(&v)
        .ok_or_else(|| format!("bad size for {opt}: {v} (want digits, then k, M or G)").into())
}
