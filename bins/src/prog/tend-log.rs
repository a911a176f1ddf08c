//! tend-log: read lines on stdin, stamp them, write them to LOGDIR/current, rotate and
//! trim archives, and never lose a line silently.
use std::path::PathBuf;

use tend::{fatal, say, usage, warn, EXIT_SYS};
use tend_logger::config::{parse_size, MAX_LINEMAX, MIN_LINEMAX};
use tend_logger::engine::Note;
use tend_logger::input::Input;
use tend_logger::run::{run, Failure};
use tend_logger::signals::Signals;
use tend_logger::{privs, Config, Format, Logger, Policy, SystemClock};

const PROG: &str = "tend-log";
const SYNOPSIS: &str = "tend-log [ -t iso|local|tai64n|none ] [ -s size ] [ -n count ] \
                        [ -S total ] [ -l linemax ] [ -f block|free|drop ] [ -p processor ] [ -u user ] logdir";

pub fn start(args: tend::Args) -> u8 {
    let (cfg, user) = match parse_args(args) {
        Ok(Some(args)) => args,
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
    let mut log = match Logger::new(cfg, SystemClock) {
        Ok(l) => l,
        Err(e) => return fatal(PROG, &e),
    };
    log.take_notes().into_iter().for_each(print_note);
    if let Some(spec) = user {
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let who = privs::resolve(&spec, &passwd);
        if let Err(e) = who.and_then(|who| privs::become_user(who, log.logdir())) {
            return fatal(PROG, &e);
        }
    }
    let mut input = Input::new(rustix::stdio::stdin());
    match run(&mut log, &mut input, &sigs, &mut print_note) {
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

/// The settings and the `-u` user, or None for `-h`.
fn parse_args(args: tend::Args) -> Result<Option<(Config, Option<String>)>, lexopt::Error> {
    use lexopt::prelude::*;
    let mut cfg = Config::new(PathBuf::new());
    let (mut dir, mut user) = (None, None);
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
            Short('h') | Long("help") => return Ok(None),
            Value(v) if dir.is_none() => dir = Some(PathBuf::from(v)),
            _ => return Err(arg.unexpected()),
        }
    }
    cfg.dir = dir.ok_or("missing logdir")?;
    if cfg.dir.as_os_str().is_empty() {
        return Err("empty logdir".into());
    }
    Ok(Some((cfg, user)))
}

fn size(p: &mut lexopt::Parser, opt: &str) -> Result<u64, lexopt::Error> {
    use lexopt::ValueExt;
    let v = p.value()?.string()?;
    parse_size(&v)
        .ok_or_else(|| format!("bad size for {opt}: {v} (want digits, then k, M or G)").into())
}
