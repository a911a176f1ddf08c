//! Signals for a poll loop: a flag per signal, set by its handler, and one self-pipe that
//! wakes the loop. Lighter than signal-hook's iterator, whose delivery keeps a 128-slot
//! table (a dirty heap page in each of thousands of supervisors).
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::{Ctx, Error};

/// The handlers stay installed for the life of the process.
#[derive(Debug)]
pub struct Signals {
    flags: Vec<(i32, Arc<AtomicBool>)>,
    wake: UnixStream,
}

impl Signals {
    /// Installs handlers for `sigs`.
    pub fn install(sigs: &[i32]) -> Result<Signals, Error> {
        let (rd, wr) = UnixStream::pair().ctx(|| "create self-pipe".into())?;
        for end in [&rd, &wr] {
            end.set_nonblocking(true)
                .ctx(|| "set self-pipe non-blocking".into())?;
        }
        let mut flags = Vec::with_capacity(sigs.len());
        for &sig in sigs {
            let flag = Arc::new(AtomicBool::new(false));
            signal_hook::flag::register(sig, Arc::clone(&flag))
                .ctx(|| format!("trap signal {sig}"))?;
            signal_hook::low_level::pipe::register_raw(sig, wr.as_raw_fd())
                .ctx(|| format!("trap signal {sig}"))?;
            flags.push((sig, flag));
        }
        flags.sort_by_key(|(sig, _)| *sig);
        // The handlers write to it until the process ends.
        std::mem::forget(wr);
        Ok(Signals { flags, wake: rd })
    }

    /// The fd to poll for input: readable once a signal has arrived.
    pub fn fd(&self) -> &impl AsFd {
        &self.wake
    }

    /// Empties the self-pipe and returns the signals that arrived since the last call, by
    /// ascending number (as signal-hook's iterator did): a HUP or TERM that came with a
    /// CHLD is seen first, so a supervisor told to exit does not restart what just ended.
    pub fn take(&self) -> impl Iterator<Item = i32> + '_ {
        let mut buf = [0u8; 64];
        while matches!((&self.wake).read(&mut buf), Ok(n) if n > 0) {}
        self.flags
            .iter()
            .filter(|(_, f)| f.swap(false, Ordering::SeqCst))
            .map(|(sig, _)| *sig)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::event::{poll, PollFd, PollFlags};
    use rustix::process::{getpid, kill_process, Signal};
    use signal_hook::consts::{SIGUSR1, SIGUSR2};

    #[test]
    fn a_signal_wakes_the_fd_and_is_taken_once() {
        let s = Signals::install(&[SIGUSR2, SIGUSR1]).unwrap();
        assert_eq!(s.take().count(), 0);
        kill_process(getpid(), Signal::USR2).unwrap();
        let mut fds = [PollFd::new(s.fd(), PollFlags::IN)];
        let t = rustix::time::Timespec {
            tv_sec: 10,
            tv_nsec: 0,
        };
        assert_eq!(poll(&mut fds, Some(&t)).unwrap(), 1);
        assert_eq!(s.take().collect::<Vec<_>>(), [SIGUSR2]);
        assert_eq!(s.take().count(), 0);
        // Both pending at once come out by number. Another thread of the test harness may
        // run a handler a moment after kill returns: wait (bounded) for both flags.
        kill_process(getpid(), Signal::USR2).unwrap();
        kill_process(getpid(), Signal::USR1).unwrap();
        let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !s.flags.iter().all(|(_, f)| f.load(Ordering::SeqCst)) {
            assert!(std::time::Instant::now() < end, "signals not delivered");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(s.take().collect::<Vec<_>>(), [SIGUSR1, SIGUSR2]);
    }
}
