//! Signals for a poll loop: a flag per signal, set by its handler, and one self-pipe that
//! wakes the loop.
//!
//! The handlers are installed with sigaction(2) directly. signal-hook's registry, used
//! before, keeps its table on the heap and copies it at each registration: a daemon that
//! registers four signals touched two heap pages it never used again, in each of
//! thousands of processes (bench/RESULTS.md).
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use rustix::io::Errno;
use rustix::pipe::{pipe_with, PipeFlags};

use crate::Error;

/// One flag per signal number, set by [`on_signal`].
static PENDING: [AtomicBool; 65] = [const { AtomicBool::new(false) }; 65];
/// The write end of the self-pipe, for [`on_signal`]; -1 until installed.
static WAKE: AtomicI32 = AtomicI32::new(-1);

/// The handler: sets the signal's flag, then writes a byte to the self-pipe (a full pipe
/// is already readable, so a failed write loses nothing). Only async-signal-safe calls;
/// errno is kept for the code it interrupted.
extern "C" fn on_signal(sig: libc::c_int) {
    // SAFETY: errno is thread-local; the location is valid for the thread's life.
    let errno = unsafe { libc::__errno_location() };
    // SAFETY: reading and writing the thread's own errno.
    let saved = unsafe { *errno };
    if let Some(flag) = usize::try_from(sig).ok().and_then(|s| PENDING.get(s)) {
        flag.store(true, Ordering::SeqCst);
    }
    let fd = WAKE.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; the buffer is a static byte.
        unsafe { libc::write(fd, b"s".as_ptr().cast(), 1) };
    }
    // SAFETY: as above.
    unsafe { *errno = saved };
}

/// The handlers stay installed for the life of the process.
#[derive(Debug)]
pub struct Signals {
    /// The signals handled, by ascending number.
    sigs: Vec<i32>,
    wake: OwnedFd,
}

impl Signals {
    /// Installs handlers for `sigs` (numbers from 1 to 64). Installing again, for other
    /// signals, moves the wake-ups of all to the new self-pipe.
    pub fn install(sigs: &[i32]) -> Result<Signals, Error> {
        let sys = |op: String| move |errno| Error::Sys { op, errno };
        if let Some(bad) = sigs
            .iter()
            .find(|&&s| !(1..PENDING.len() as i32).contains(&s))
        {
            return Err(sys(format!("trap signal {bad}"))(Errno::INVAL));
        }
        let (rd, wr) = pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)
            .map_err(sys("create self-pipe".into()))?;
        // The handlers write to it until the process ends.
        let old = WAKE.swap(wr.as_raw_fd(), Ordering::SeqCst);
        std::mem::forget(wr);
        if old >= 0 {
            // SAFETY: `old` was forgotten by an earlier install; no handler uses it now.
            drop(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(old) });
        }
        let mut handled = sigs.to_vec();
        handled.sort_unstable();
        for &sig in &handled {
            // SAFETY: `act` is zeroed, then given a handler that is async-signal-safe
            // and an empty mask set by sigemptyset; sigaction reads it and does not keep it.
            let r = unsafe {
                let mut act: libc::sigaction = std::mem::zeroed();
                act.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
                act.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut act.sa_mask);
                libc::sigaction(sig, &act, std::ptr::null_mut())
            };
            if r != 0 {
                let errno = Errno::from_io_error(&std::io::Error::last_os_error());
                return Err(sys(format!("trap signal {sig}"))(
                    errno.unwrap_or(Errno::INVAL),
                ));
            }
        }
        Ok(Signals {
            sigs: handled,
            wake: rd,
        })
    }

    /// The fd to poll for input: readable once a signal has arrived.
    pub fn fd(&self) -> &impl AsFd {
        &self.wake
    }

    /// Empties the self-pipe and returns the signals that arrived since the last call, by
    /// ascending number: a HUP or TERM that came with a CHLD is seen first, so a
    /// supervisor told to exit does not restart what just ended.
    pub fn take(&self) -> impl Iterator<Item = i32> + '_ {
        let mut buf = [0u8; 64];
        while matches!(rustix::io::read(&self.wake, &mut buf), Ok(n) if n > 0) {}
        self.sigs.iter().copied().filter(|&sig| {
            usize::try_from(sig)
                .ok()
                .and_then(|s| PENDING.get(s))
                .is_some_and(|f| f.swap(false, Ordering::SeqCst))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libc::{SIGUSR1, SIGUSR2};
    use rustix::event::{poll, PollFd, PollFlags};
    use rustix::process::{getpid, kill_process, Signal};

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
        // The handler may run on this very thread, during the poll: EINTR, then the fd.
        let ready = loop {
            match poll(&mut fds, Some(&t)) {
                Err(rustix::io::Errno::INTR) => continue,
                other => break other.unwrap(),
            }
        };
        assert_eq!(ready, 1);
        assert_eq!(s.take().collect::<Vec<_>>(), [SIGUSR2]);
        assert_eq!(s.take().count(), 0);
        // Both pending at once come out by number. Another thread of the test harness may
        // run a handler a moment after kill returns: wait (bounded) for both flags.
        kill_process(getpid(), Signal::USR2).unwrap();
        kill_process(getpid(), Signal::USR1).unwrap();
        let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let set = |sig: i32| PENDING[sig as usize].load(Ordering::SeqCst);
        while !(set(SIGUSR1) && set(SIGUSR2)) {
            assert!(std::time::Instant::now() < end, "signals not delivered");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(s.take().collect::<Vec<_>>(), [SIGUSR1, SIGUSR2]);
        assert!(Signals::install(&[0]).is_err());
        assert!(Signals::install(&[65]).is_err());
    }
}
