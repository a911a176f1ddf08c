//! The signals tend-log acts on (TERM, HUP, ALRM, and CHLD from a processor): flags set by the handlers, and a
//! self-pipe that wakes the poll loop.
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGALRM, SIGCHLD, SIGHUP, SIGTERM};
use tend_core::{Ctx, Error};

/// Installed handlers for SIGTERM, SIGHUP, SIGALRM and SIGCHLD.
#[derive(Debug)]
pub struct Signals {
    term: Arc<AtomicBool>,
    hup: Arc<AtomicBool>,
    alrm: Arc<AtomicBool>,
    chld: Arc<AtomicBool>,
    wake: UnixStream,
}

impl Signals {
    /// Installs the handlers. Each sets its flag, then writes a byte to the self-pipe.
    pub fn install() -> Result<Signals, Error> {
        let (rd, wr) = UnixStream::pair().ctx(|| "create self-pipe".into())?;
        rd.set_nonblocking(true)
            .ctx(|| "set self-pipe non-blocking".into())?;
        wr.set_nonblocking(true)
            .ctx(|| "set self-pipe non-blocking".into())?;
        let s = Signals {
            term: Arc::new(AtomicBool::new(false)),
            hup: Arc::new(AtomicBool::new(false)),
            alrm: Arc::new(AtomicBool::new(false)),
            chld: Arc::new(AtomicBool::new(false)),
            wake: rd,
        };
        let all = [
            (SIGTERM, &s.term),
            (SIGHUP, &s.hup),
            (SIGALRM, &s.alrm),
            (SIGCHLD, &s.chld),
        ];
        for (sig, flag) in all {
            signal_hook::flag::register(sig, Arc::clone(flag))
                .ctx(|| format!("trap signal {sig}"))?;
            let w = wr.try_clone().ctx(|| "duplicate self-pipe".into())?;
            signal_hook::low_level::pipe::register(sig, w).ctx(|| format!("trap signal {sig}"))?;
        }
        Ok(s)
    }

    /// The read end of the self-pipe, for poll.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.wake.as_fd()
    }

    /// Empties the self-pipe.
    pub fn drain(&self) {
        let mut buf = [0u8; 64];
        while matches!((&self.wake).read(&mut buf), Ok(n) if n > 0) {}
    }

    /// Whether SIGTERM arrived (ever).
    pub fn term(&self) -> bool {
        self.term.load(Ordering::SeqCst)
    }

    /// Whether SIGHUP arrived since the last call.
    pub fn take_hup(&self) -> bool {
        self.hup.swap(false, Ordering::SeqCst)
    }

    /// Whether SIGCHLD (a processor ended) arrived since the last call.
    pub fn take_chld(&self) -> bool {
        self.chld.swap(false, Ordering::SeqCst)
    }

    /// Whether SIGALRM arrived since the last call.
    pub fn take_alrm(&self) -> bool {
        self.alrm.swap(false, Ordering::SeqCst)
    }
}
