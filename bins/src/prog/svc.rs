//! svc: write control letters to the supervise/control fifo of each service dir.
use std::ffi::OsString;

use tend::{usage, warn, EXIT_SYS};
use tend_core::report::unreachable;
use tend_core::svdir::resolve;
use tend_core::{control, Error};

const SYNOPSIS: &str = "svc [ -udopchaitkxq12 ] servicedir...";
/// The letters svc passes on, as DESIGN.md section 3 lists them.
const LETTERS: &str = "udopchaitkxq12";
/// At most this many letters, so that one write to the fifo stays atomic (PIPE_BUF).
const MAX_LETTERS: usize = 512;

pub fn start(args: tend::Args) -> u8 {
    let (letters, dirs) = match parse_args(args) {
        Ok(a) => a,
        Err(e) => return usage("svc", SYNOPSIS, e),
    };
    let mut failed = false;
    for arg in &dirs {
        let dir = resolve(arg);
        if let Err(e) = control::send(&dir, &letters) {
            let name = arg.to_string_lossy();
            match e {
                Error::Sys { errno, .. } => warn(
                    "svc",
                    format_args!("unable to control {name}: {}", unreachable(&dir, errno)),
                ),
                other => warn("svc", other),
            }
            failed = true;
        }
    }
    if failed {
        EXIT_SYS
    } else {
        0
    }
}

/// Splits argv into the letters, in the order given, and the service dirs.
fn parse_args(
    args: impl IntoIterator<Item = OsString>,
) -> Result<(Vec<u8>, Vec<OsString>), lexopt::Error> {
    use lexopt::prelude::*;
    let (mut letters, mut dirs) = (Vec::new(), Vec::new());
    let mut p = lexopt::Parser::from_args(args);
    while let Some(arg) = p.next()? {
        match arg {
            Short(c) if LETTERS.contains(c) => letters.push(c as u8),
            Value(v) if v.is_empty() => return Err("empty servicedir".into()),
            Value(v) => dirs.push(v),
            _ => return Err(arg.unexpected()),
        }
    }
    if letters.is_empty() {
        return Err("no command given".into());
    }
    if letters.len() > MAX_LETTERS {
        return Err(format!("more than {MAX_LETTERS} commands").into());
    }
    if dirs.is_empty() {
        return Err("missing servicedir".into());
    }
    Ok((letters, dirs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<(Vec<u8>, Vec<OsString>), String> {
        parse_args(args.iter().map(OsString::from)).map_err(|e| e.to_string())
    }

    #[test]
    fn letters_keep_their_order() {
        let (l, d) = parse(&["-tc", "-u", "a", "-d", "b"]).unwrap();
        assert_eq!(l, b"tcud");
        assert_eq!(d, vec![OsString::from("a"), OsString::from("b")]);
        let (l, _) = parse(&["-udopchaitkxq12", "x"]).unwrap();
        assert_eq!(l, LETTERS.as_bytes());
        let (l, d) = parse(&["-tt", "--", "-u"]).unwrap();
        assert_eq!((l, d), (b"tt".to_vec(), vec![OsString::from("-u")]));
    }

    #[test]
    fn refuses_bad_input() {
        assert_eq!(parse(&["-z", "a"]).unwrap_err(), "invalid option '-z'");
        assert_eq!(parse(&["-uz", "a"]).unwrap_err(), "invalid option '-z'");
        assert_eq!(parse(&["--up", "a"]).unwrap_err(), "invalid option '--up'");
        assert_eq!(parse(&["a"]).unwrap_err(), "no command given");
        assert_eq!(parse(&["-u"]).unwrap_err(), "missing servicedir");
        assert_eq!(parse(&["-u", ""]).unwrap_err(), "empty servicedir");
        let many = format!("-{}", "t".repeat(MAX_LETTERS + 1));
        assert_eq!(parse(&[&many, "a"]).unwrap_err(), "more than 512 commands");
    }
}
