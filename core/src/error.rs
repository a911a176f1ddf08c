//! The error type shared by tend's libraries: every failure completes "unable to ...".
use std::fmt;

use rustix::io::Errno;

/// A failure, phrased so that it completes "unable to ...".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A system call failed while doing `op`, e.g. "open sv/supervise/lock".
    Sys {
        /// What we were doing, e.g. "open sv/supervise/lock".
        op: String,
        /// The errno the kernel returned.
        errno: Errno,
    },
    /// Input we refuse: a malformed file, a bad argument. The text is the whole message.
    Invalid(String),
    /// Something else holds what we need, e.g. another supervisor's lock. The whole message.
    Busy(String),
}

impl Error {
    /// The exit code a program reports for this error: 111 for system errors, 100 for input.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Sys { .. } => 111,
            Error::Invalid(_) => 100,
            Error::Busy(_) => 111,
        }
    }

    /// The errno of a system error, if this is one.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Sys { errno, .. } => Some(*errno),
            Error::Invalid(_) | Error::Busy(_) => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Sys { op, errno } => write!(f, "unable to {op}: {}", describe(*errno)),
            Error::Invalid(msg) | Error::Busy(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for Error {}

/// The errno's text in daemontools' lower-case style, e.g. "file does not exist".
pub fn describe(errno: Errno) -> String {
    match errno {
        Errno::NOENT => "file does not exist".into(),
        Errno::ACCESS => "access denied".into(),
        Errno::NXIO => "supervisor not running".into(),
        _ => {
            let text = std::io::Error::from_raw_os_error(errno.raw_os_error()).to_string();
            // std appends " (os error N)"; the admin needs only the words.
            match text.find(" (os error") {
                Some(at) => text[..at].to_string(),
                None => text,
            }
        }
    }
}

/// Lifts `rustix::io::Result` and `std::io::Result` into [`Error`] with the operation named.
pub trait Ctx<T> {
    /// Names the operation that failed, e.g. `.ctx(|| format!("open {path}"))`.
    fn ctx(self, op: impl FnOnce() -> String) -> Result<T, Error>;
}

impl<T> Ctx<T> for Result<T, Errno> {
    fn ctx(self, op: impl FnOnce() -> String) -> Result<T, Error> {
        self.map_err(|errno| Error::Sys { op: op(), errno })
    }
}

impl<T> Ctx<T> for std::io::Result<T> {
    fn ctx(self, op: impl FnOnce() -> String) -> Result<T, Error> {
        self.map_err(|e| Error::Sys {
            op: op(),
            errno: Errno::from_io_error(&e).unwrap_or(Errno::IO),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_complete_unable_to() {
        let e = Error::Sys {
            op: "open sv/supervise/ok".into(),
            errno: Errno::NOENT,
        };
        assert_eq!(
            e.to_string(),
            "unable to open sv/supervise/ok: file does not exist"
        );
        assert_eq!(e.exit_code(), 111);
        let e = Error::Sys {
            op: "write x".into(),
            errno: Errno::NOSPC,
        };
        assert_eq!(e.to_string(), "unable to write x: No space left on device");
        assert_eq!(Error::Invalid("bad".into()).exit_code(), 100);
    }
}
