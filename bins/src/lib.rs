//! Helpers the programs share: one-line messages on stderr and the exit codes that go with them.
#![deny(missing_docs)]
use std::fmt::Display;
use std::io::Write;
use std::os::fd::{AsRawFd, BorrowedFd};

use rustix::fs::{Mode, OFlags};

use tend_core::svdir::one_line;

pub mod holder;
pub mod unit;
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

/// Prints `PROG: fatal: ERR` and returns the error's exit code (as an `ExitCode`, or as
/// the `u8` a program's `start` returns).
pub fn fatal<T: From<u8>>(prog: &str, err: &Error) -> T {
    say(prog, "fatal", err);
    T::from(err.exit_code())
}

/// Prints `PROG: usage: SYNOPSIS` (after `PROG: fatal: WHY` when there is a reason) and
/// returns 100.
pub fn usage<T: From<u8>>(prog: &str, synopsis: &str, why: impl Display) -> T {
    let why = why.to_string();
    if !why.is_empty() {
        say(prog, "fatal", why);
    }
    say(prog, "usage", synopsis);
    T::from(EXIT_USAGE)
}

/// A program's arguments, after its name (`svc ARGS` or `tend svc ARGS`).
pub type Args = std::iter::Skip<std::env::ArgsOs>;

extern "C" {
    /// signal(2) of the C library: std offers no way to ignore a signal.
    fn signal(sig: i32, handler: usize) -> usize;
}

/// What Rust's runtime set-up does that a program relies on: fds 0, 1 and 2 are open (on
/// /dev/null when they were closed), so that no file the program opens later becomes its
/// stderr; and SIGPIPE is ignored, so that a write to a closed pipe is an EPIPE error, not
/// death. (Children get SIGPIPE back: std's spawn and tend_core::spawn reset it before
/// exec.)
pub fn lean_init() {
    for fd in 0..3 {
        // SAFETY: fd 0-2 are only inspected here; a closed one gives EBADF.
        let open = rustix::io::fcntl_getfd(unsafe { BorrowedFd::borrow_raw(fd) }).is_ok();
        if !open {
            // The lowest free fd is the one that was closed: keep it open for good.
            if let Ok(null) = rustix::fs::open("/dev/null", OFlags::RDWR, Mode::empty()) {
                if null.as_raw_fd() == fd {
                    std::mem::forget(null);
                }
            }
        }
    }
    // SAFETY: SIG_IGN (1) for SIGPIPE (13), as std's runtime does before main.
    unsafe {
        signal(13, 1);
    }
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
