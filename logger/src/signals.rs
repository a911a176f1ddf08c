//! The signals tend-log acts on (TERM, HUP, ALRM, and CHLD from a processor): flags set by the handlers, and a
//! self-pipe that wakes the poll loop.
use std::cell::Cell;
use std::os::fd::{AsFd, BorrowedFd};

use libc::{SIGALRM, SIGCHLD, SIGHUP, SIGTERM};
use tend_core::Error;

/// Installed handlers for SIGTERM, SIGHUP, SIGALRM and SIGCHLD ([`tend_core::signals`]),
/// with what has arrived and not yet been acted on.
#[derive(Debug)]
pub struct Signals {
    inner: tend_core::signals::Signals,
    term: Cell<bool>,
    hup: Cell<bool>,
    alrm: Cell<bool>,
    chld: Cell<bool>,
}

impl Signals {
    /// Installs the handlers. Each sets its flag, then writes a byte to the self-pipe.
    pub fn install() -> Result<Signals, Error> {
        Ok(Signals {
            inner: tend_core::signals::Signals::install(&[SIGTERM, SIGHUP, SIGALRM, SIGCHLD])?,
            term: Cell::new(false),
            hup: Cell::new(false),
            alrm: Cell::new(false),
            chld: Cell::new(false),
        })
    }

    /// The read end of the self-pipe, for poll.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.inner.fd().as_fd()
    }

    /// Empties the self-pipe, noting the signals that came.
    pub fn drain(&self) {
        for sig in self.inner.take() {
            match sig {
                SIGTERM => self.term.set(true),
                SIGHUP => self.hup.set(true),
                SIGALRM => self.alrm.set(true),
                _ => self.chld.set(true),
            }
        }
    }

    /// Whether SIGTERM arrived (ever).
    pub fn term(&self) -> bool {
        self.drain();
        self.term.get()
    }

    /// Whether SIGHUP arrived since the last call.
    pub fn take_hup(&self) -> bool {
        self.drain();
        self.hup.replace(false)
    }

    /// Whether SIGCHLD (a processor ended) arrived since the last call.
    pub fn take_chld(&self) -> bool {
        self.drain();
        self.chld.replace(false)
    }

    /// Whether SIGALRM arrived since the last call.
    pub fn take_alrm(&self) -> bool {
        self.drain();
        self.alrm.replace(false)
    }
}
