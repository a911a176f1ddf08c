//! Deadlines for poll: the daemons' timers are `Instant`s, never sleeps.
use std::time::Instant;

use rustix::event::{poll, PollFd, Timespec};
use rustix::io::Errno;

use crate::Error;

/// Waits in poll(2) on `fds` until one is ready or `deadline` passes (no deadline: until
/// one is ready). A signal that interrupts it is a wakeup like the others: the caller looks
/// at the revents and at its signal pipe.
pub fn poll_until(fds: &mut [PollFd<'_>], deadline: Option<Instant>) -> Result<(), Error> {
    match poll(fds, deadline.map(timespec_until).as_ref()) {
        Ok(_) | Err(Errno::INTR) => Ok(()),
        Err(errno) => Err(Error::Sys {
            op: "poll".into(),
            errno,
        }),
    }
}

/// The time left until `t`, for poll, rounded up to a whole millisecond so that poll does
/// not wake a hair early and spin; zero if it has passed.
pub fn timespec_until(t: Instant) -> Timespec {
    let d = t.saturating_duration_since(Instant::now());
    let ms = d.as_nanos().div_ceil(1_000_000);
    Timespec {
        tv_sec: i64::try_from(ms / 1000).unwrap_or(i64::MAX),
        tv_nsec: i64::try_from(ms % 1000).unwrap_or(0) * 1_000_000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timespec_rounds_up_to_whole_ms() {
        let ts = timespec_until(Instant::now() + Duration::from_micros(1500));
        assert!(ts.tv_sec == 0 && ts.tv_nsec <= 2_000_000 && ts.tv_nsec >= 1_000_000);
        let ts = timespec_until(Instant::now() + Duration::from_nanos(2_999_999_999));
        assert!(ts.tv_nsec < 1_000_000_000, "{ts:?}");
        let ts = timespec_until(Instant::now());
        assert_eq!((ts.tv_sec, ts.tv_nsec), (0, 0));
    }
}
