//! svstat: print one line per service dir: up or down, for how long, and what else is known.
use std::ffi::OsString;
use std::io::Write;

use rustix::fs;
use rustix::io::Errno;
use tend::{fatal, usage, warn, EXIT_SYS};
use tend_core::control::{find_supervisor, read_info, read_status, Presence};
use tend_core::report::{status_line, unreachable};
use tend_core::svdir::{join_show, resolve};
use tend_core::tai::Tai64n;
use tend_core::{Ctx, Error};

const SYNOPSIS: &str = "svstat servicedir...";
/// Exit code when a service dir has no running supervisor (or does not exist).
const EXIT_UNSUPERVISED: u8 = 1;

pub fn start(args: tend::Args) -> u8 {
    let dirs = match parse_args(args) {
        Ok(d) => d,
        Err(e) => return usage("svstat", SYNOPSIS, e),
    };
    let mut worst = 0;
    let mut out = std::io::stdout().lock();
    for arg in &dirs {
        let name = arg.to_string_lossy();
        match line(arg) {
            Ok(text) => {
                let written = writeln!(out, "{name}: {text}").and_then(|()| out.flush());
                if let Err(e) = written.ctx(|| "write to stdout".into()) {
                    return fatal("svstat", &e);
                }
            }
            Err((code, msg)) => {
                warn("svstat", msg);
                worst = worst.max(code);
            }
        }
    }
    worst
}

/// The status line of one service dir, or the exit code and message of its failure.
fn line(arg: &OsString) -> Result<String, (u8, String)> {
    let dir = resolve(arg);
    let name = arg.to_string_lossy();
    match find_supervisor(&dir) {
        Ok(Presence::Running(_)) => {}
        Ok(Presence::Absent(errno)) => {
            let why = unreachable(&dir, errno);
            return Err((
                EXIT_UNSUPERVISED,
                format!("unable to read status of {name}: {why}"),
            ));
        }
        Err(e) => return Err((EXIT_SYS, e.to_string())),
    }
    let st = read_status(&dir).map_err(|e| (EXIT_SYS, e.to_string()))?;
    let normally_down = match fs::lstat(dir.join("down")) {
        Ok(_) => true,
        Err(Errno::NOENT) => false,
        Err(errno) => {
            let op = format!("stat {}", join_show(&dir, "down"));
            return Err((EXIT_SYS, Error::Sys { op, errno }.to_string()));
        }
    };
    let info = read_info(&dir);
    Ok(status_line(
        &st,
        info.as_ref(),
        normally_down,
        Tai64n::now(),
    ))
}

/// The service dir arguments.
fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Vec<OsString>, lexopt::Error> {
    use lexopt::prelude::*;
    let (mut dirs, mut p) = (Vec::new(), lexopt::Parser::from_args(args));
    while let Some(arg) = p.next()? {
        match arg {
            Value(v) if v.is_empty() => return Err("empty servicedir".into()),
            Value(v) => dirs.push(v),
            _ => return Err(arg.unexpected()),
        }
    }
    if dirs.is_empty() {
        return Err("missing servicedir".into());
    }
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Vec<OsString>, String> {
        parse_args(args.iter().map(OsString::from)).map_err(|e| e.to_string())
    }

    #[test]
    fn dirs_only() {
        assert_eq!(
            parse(&["a", "b"]).unwrap(),
            vec![OsString::from("a"), "b".into()]
        );
        assert_eq!(parse(&[]).unwrap_err(), "missing servicedir");
        assert_eq!(parse(&["a", ""]).unwrap_err(), "empty servicedir");
        assert_eq!(parse(&["-v", "a"]).unwrap_err(), "invalid option '-v'");
    }
}
