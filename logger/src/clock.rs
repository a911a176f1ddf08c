//! The wall clock, injectable so that tests can step it backwards.
use std::time::SystemTime;

/// A source of wall-clock time for line stamps and archive names.
pub trait Clock {
    /// The current wall-clock time.
    fn now(&mut self) -> SystemTime;
}

/// The system's realtime clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&mut self) -> SystemTime {
        SystemTime::now()
    }
}

impl<F: FnMut() -> SystemTime> Clock for F {
    fn now(&mut self) -> SystemTime {
        self()
    }
}
