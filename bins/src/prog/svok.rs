//! svok: exit 0 if a supervisor is running on the service directory, 100 if not.
use std::ffi::OsString;

use tend::{fatal, say, usage, EXIT_USAGE};
use tend_core::control::is_supervised;
use tend_core::svdir::resolve;

const SYNOPSIS: &str = "svok servicedir";

pub fn start(args: tend::Args) -> u8 {
    let arg = match parse_args(args) {
        Ok(a) => a,
        Err(e) => return usage("svok", SYNOPSIS, e),
    };
    let dir = resolve(&arg);
    match is_supervised(&dir) {
        Ok(true) => 0,
        Ok(false) if std::fs::symlink_metadata(&dir).is_err() => {
            // Not running, but say why: a typo is not a stopped service.
            let e = tend_core::Error::Sys {
                op: format!("open {}", dir.display()),
                errno: rustix::io::Errno::NOENT,
            };
            say("svok", "fatal", e);
            EXIT_USAGE
        }
        Ok(false) => EXIT_USAGE,
        Err(e) => fatal("svok", &e),
    }
}

/// The one service dir argument.
fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<OsString, lexopt::Error> {
    use lexopt::prelude::*;
    let (mut dir, mut p) = (None, lexopt::Parser::from_args(args));
    while let Some(arg) = p.next()? {
        match arg {
            Value(v) if v.is_empty() => return Err("empty servicedir".into()),
            Value(v) if dir.is_none() => dir = Some(v),
            _ => return Err(arg.unexpected()),
        }
    }
    dir.ok_or_else(|| "missing servicedir".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<OsString, String> {
        parse_args(args.iter().map(OsString::from)).map_err(|e| e.to_string())
    }

    #[test]
    fn one_dir_only() {
        assert_eq!(parse(&["web"]).unwrap(), "web");
        assert_eq!(parse(&["--", "-x"]).unwrap(), "-x");
        assert_eq!(parse(&[]).unwrap_err(), "missing servicedir");
        assert_eq!(parse(&[""]).unwrap_err(), "empty servicedir");
        assert_eq!(parse(&["a", "b"]).unwrap_err(), "unexpected argument \"b\"");
        assert_eq!(parse(&["-u", "a"]).unwrap_err(), "invalid option '-u'");
    }
}
