//! Helpers the programs share: one-line messages on stderr and the exit codes that go with them.
#![deny(missing_docs)]
use std::fmt::Display;
use std::io::Write;
use std::process::ExitCode;

use tend_core::svdir::one_line;
use tend_core::Error;

/// Exit code of a usage error or permanent failure.
pub const EXIT_USAGE: u8 = 100;
/// Exit code of a temporary or system failure.
pub const EXIT_SYS: u8 = 111;

/// Prints `PROG: SEVERITY: MSG` as one line on stderr; a failed write is ignored.
/// Control characters in `prog` or `msg` (a newline in a service dir's name or an
/// option) are shown escaped, so that the message stays one line.
pub fn say(prog: &str, severity: &str, msg: impl Display) {
    let (prog, msg) = (one_line(prog), one_line(&msg.to_string()));
    let line = format!("{prog}: {severity}: {msg}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Prints `PROG: warning: MSG`.
pub fn warn(prog: &str, msg: impl Display) {
    say(prog, "warning", msg);
}

/// Prints `PROG: fatal: ERR` and returns the error's exit code.
pub fn fatal(prog: &str, err: &Error) -> ExitCode {
    say(prog, "fatal", err);
    ExitCode::from(err.exit_code())
}

/// Prints `PROG: usage: SYNOPSIS` (after `PROG: fatal: WHY` when there is a reason) and
/// returns 100.
pub fn usage(prog: &str, synopsis: &str, why: impl Display) -> ExitCode {
    let why = why.to_string();
    if !why.is_empty() {
        say(prog, "fatal", why);
    }
    say(prog, "usage", synopsis);
    ExitCode::from(EXIT_USAGE)
}

/// A `-t` timeout as svwait, svactivate and svdeactivate take it: a whole number of
/// milliseconds, or a duration like `5s`, `1m30s`, `500ms`.
pub fn parse_timeout(text: &str) -> Result<std::time::Duration, String> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse()
            .map(std::time::Duration::from_millis)
            .map_err(|_| format!("timeout too large: {text}"));
    }
    humantime::parse_duration(text).map_err(|e| format!("bad timeout {text:?}: {e}"))
}
