//! tend: every program of the suite in one executable. `tend-scan`, `svc` and the others are
//! links to it; it runs the program it was run as (the last part of argv[0]), or, run as
//! `tend PROGRAM ARGS...`, the one its first argument names. Each program lives in a file
//! of its own under bins/src/prog; only this dispatch is shared.
#![cfg_attr(not(test), no_main)]
use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;

use tend::{say, Args, EXIT_USAGE};

#[path = "../prog/svactivate.rs"]
mod svactivate;
#[path = "../prog/svc.rs"]
mod svc;
#[path = "../prog/svdeactivate.rs"]
mod svdeactivate;
#[path = "../prog/svok.rs"]
mod svok;
#[path = "../prog/svstat.rs"]
mod svstat;
#[path = "../prog/svwait.rs"]
mod svwait;
#[path = "../prog/tend-log.rs"]
mod tend_log;
#[path = "../prog/tend-scan.rs"]
mod tend_scan;
#[path = "../prog/tend-supervise.rs"]
mod tend_supervise;

/// A program's entry: its arguments in, its exit code out.
type Start = fn(Args) -> u8;

/// The programs, by the name each is run as.
const PROGRAMS: [(&str, Start); 9] = [
    ("tend-scan", tend_scan::start),
    ("tend-supervise", tend_supervise::start),
    ("tend-log", tend_log::start),
    ("svc", svc::start),
    ("svok", svok::start),
    ("svstat", svstat::start),
    ("svwait", svwait::start),
    ("svactivate", svactivate::start),
    ("svdeactivate", svdeactivate::start),
];

/// The process's entry point, without Rust's runtime set-up. That set-up reads
/// /proc/self/maps through a 4 KiB stdio buffer to place a stack guard, installs a signal
/// stack, and names the main thread: in a supervisor that stays up for months it leaves a
/// dirty heap page behind for nothing, and it adds about a tenth to the run time of `svc`
/// (0.61 -> 0.54 ms from fork to exit on the benchmark machine). [`tend::lean_init`] does
/// the two parts of it that matter. Unit tests keep the harness.
#[cfg(not(test))]
#[no_mangle]
pub extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
    tend::lean_init();
    let code = dispatch();
    let _ = std::io::stdout().flush();
    i32::from(code)
}

/// Runs the program argv[0] names, or, under any other name, the one argv[1] names.
#[cfg_attr(test, allow(dead_code))]
fn dispatch() -> u8 {
    let argv0 = std::env::args_os().next().unwrap_or_default();
    if let Some(start) = program(base_name(&argv0)) {
        return start(std::env::args_os().skip(1));
    }
    let Some(name) = std::env::args_os().nth(1) else {
        return list();
    };
    if name == "-h" || name == "--help" {
        return list();
    }
    match program(&name) {
        Some(start) => start(std::env::args_os().skip(2)),
        None => {
            let names: Vec<&str> = PROGRAMS.iter().map(|(n, _)| *n).collect();
            let why = format!(
                "no program named {}: tend runs {}",
                name.to_string_lossy(),
                names.join(", ")
            );
            say("tend", "usage", why);
            EXIT_USAGE
        }
    }
}

/// The program run as `name`: its own name, or for the sv* tools also `tend-` and their
/// name (`tend-svc`), the names a system where daemontools owns `svc` reaches them by.
fn program(name: &OsStr) -> Option<fn(Args) -> u8> {
    let name = name.as_bytes();
    let plain = name.strip_prefix(b"tend-").filter(|n| n.starts_with(b"sv"));
    let name = plain.unwrap_or(name);
    PROGRAMS
        .iter()
        .find(|(n, _)| n.as_bytes() == name)
        .map(|&(_, start)| start)
}

/// The last part of a path (`/usr/bin/svc` -> `svc`).
fn base_name(path: &OsStr) -> &OsStr {
    let bytes = path.as_bytes();
    let start = bytes.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
    OsStr::from_bytes(&bytes[start..])
}

/// `tend` alone: how to run it, and the programs, on standard output.
fn list() -> u8 {
    let mut text = String::from("usage: tend PROGRAM [ARGS...]\nprograms:");
    for (name, _) in PROGRAMS {
        text.push(' ');
        text.push_str(name);
    }
    text.push('\n');
    let _ = std::io::stdout().write_all(text.as_bytes());
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_found_by_name_and_by_tend_name_for_the_sv_tools() {
        for (name, start) in PROGRAMS {
            assert_eq!(
                program(OsStr::new(name)).map(|f| f as usize),
                Some(start as usize)
            );
        }
        let svc = PROGRAMS[3].1 as usize;
        assert_eq!(
            program(OsStr::new("tend-svc")).map(|f| f as usize),
            Some(svc)
        );
        assert!(program(OsStr::new("tend-tend-scan")).is_none());
        assert!(program(OsStr::new("tend")).is_none());
        assert!(program(OsStr::new("scan")).is_none());
        assert!(program(OsStr::new("")).is_none());
    }

    #[test]
    fn base_names() {
        assert_eq!(base_name(OsStr::new("/usr/bin/svc")), "svc");
        assert_eq!(base_name(OsStr::new("svc")), "svc");
        assert_eq!(base_name(OsStr::new("./x/")), "");
    }
}
