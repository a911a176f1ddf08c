//! The 20-byte status record of `supervise/status`, byte for byte runit's layout.
//!
//! 0-11 TAI64N of the last change; 12-15 pid little-endian (0 when down; the pid of
//! `finish` while finishing); 16 paused; 17 want `u`/`d`/0; 18 got TERM; 19 state
//! 0 down, 1 run, 2 finish. daemontools' supervise writes only the first 18 bytes;
//! [`Status::decode`] reads both.
use crate::tai::Tai64n;

/// Size of the record tend and runit write.
pub const SIZE: usize = 20;
/// Size of the record daemontools writes.
pub const DAEMONTOOLS_SIZE: usize = 18;

/// What the supervisor wants of the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// Keep it up (`u`).
    Up,
    /// Keep it down (`d`).
    Down,
    /// No wish: after `o`, run once and stay down.
    None,
}

/// What the service is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunState {
    /// Not running.
    Down,
    /// `run` is running.
    Run,
    /// `finish` is running.
    Finish,
}

/// One decoded status record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    /// When the current state began.
    pub stamp: Tai64n,
    /// The pid of `run` (or of `finish` while finishing); 0 when down.
    pub pid: u32,
    /// Stopped with `svc -p`.
    pub paused: bool,
    /// What the supervisor wants.
    pub want: Want,
    /// The service was sent TERM and has not exited yet.
    pub got_term: bool,
    /// What is running.
    pub state: RunState,
}

impl Status {
    /// Packs the record in runit's 20-byte layout.
    pub fn encode(&self) -> [u8; SIZE] {
        let mut b = [0u8; SIZE];
        b[..12].copy_from_slice(&self.stamp.pack());
        b[12..16].copy_from_slice(&self.pid.to_le_bytes());
        b[16] = u8::from(self.paused);
        b[17] = match self.want {
            Want::Up => b'u',
            Want::Down => b'd',
            Want::None => 0,
        };
        b[18] = u8::from(self.got_term);
        b[19] = match self.state {
            RunState::Down => 0,
            RunState::Run => 1,
            RunState::Finish => 2,
        };
        b
    }

    /// Reads a record of 20 bytes (runit, tend) or 18 bytes (daemontools).
    ///
    /// Returns `None` for any other size. In an 18-byte record a nonzero pid means `run`.
    /// Unknown want or state bytes read as "no wish" and "down" rather than failing.
    pub fn decode(b: &[u8]) -> Option<Status> {
        if b.len() != SIZE && b.len() != DAEMONTOOLS_SIZE {
            return None;
        }
        let mut stamp = [0u8; 12];
        stamp.copy_from_slice(b.get(..12)?);
        let mut pid = [0u8; 4];
        pid.copy_from_slice(b.get(12..16)?);
        let pid = u32::from_le_bytes(pid);
        let want = match b.get(17) {
            Some(b'u') => Want::Up,
            Some(b'd') => Want::Down,
            _ => Want::None,
        };
        let (got_term, state) = if b.len() == SIZE {
            let state = match b.get(19) {
                Some(1) => RunState::Run,
                Some(2) => RunState::Finish,
                _ => RunState::Down,
            };
            (b.get(18).is_some_and(|&v| v != 0), state)
        } else if pid != 0 {
            (false, RunState::Run)
        } else {
            (false, RunState::Down)
        };
        Some(Status {
            stamp: Tai64n::unpack(&stamp),
            pid,
            paused: b.get(16).is_some_and(|&v| v != 0),
            want,
            got_term,
            state,
        })
    }

    /// runit's `supervise/stat` text: `run`, `down` or `finish`, plus `, paused`,
    /// `, got TERM`, `, want up` / `, want down`, and a newline.
    pub fn stat_text(&self) -> String {
        let mut s = String::from(match self.state {
            RunState::Down => "down",
            RunState::Run => "run",
            RunState::Finish => "finish",
        });
        if self.paused {
            s.push_str(", paused");
        }
        if self.got_term {
            s.push_str(", got TERM");
        }
        match (self.state, self.want) {
            (RunState::Down, Want::Up) => s.push_str(", want up"),
            (RunState::Run | RunState::Finish, Want::Down) => s.push_str(", want down"),
            _ => {}
        }
        s.push('\n');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up() -> Status {
        Status {
            stamp: Tai64n {
                secs: 0x4000_0000_6b07_2ba7,
                nanos: 0x3461_f344,
            },
            pid: 7403,
            paused: false,
            want: Want::Up,
            got_term: false,
            state: RunState::Run,
        }
    }

    #[test]
    fn encodes_runit_bytes() {
        // The record runsv wrote for an up service (ANCHORS 1.4).
        let want = [
            0x40, 0, 0, 0, 0x6b, 0x07, 0x2b, 0xa7, 0x34, 0x61, 0xf3, 0x44, 0xeb, 0x1c, 0, 0, 0,
            0x75, 0, 1,
        ];
        assert_eq!(up().encode(), want);
        assert_eq!(Status::decode(&want), Some(up()));
    }

    #[test]
    fn round_trips_every_field() {
        let s = Status {
            stamp: Tai64n { secs: 1, nanos: 2 },
            pid: 0xdead_beef,
            paused: true,
            want: Want::None,
            got_term: true,
            state: RunState::Finish,
        };
        assert_eq!(Status::decode(&s.encode()), Some(s));
    }

    #[test]
    fn reads_daemontools_18_bytes() {
        let b = [
            0x40, 0, 0, 0, 0x6b, 0x07, 0x2b, 0xa7, 0x34, 0x59, 0x8a, 0xec, 0xe9, 0x1c, 0, 0, 0,
            0x75,
        ];
        let s = Status::decode(&b).unwrap();
        assert_eq!((s.pid, s.state, s.want), (7401, RunState::Run, Want::Up));
        let mut down = b;
        down[12..16].copy_from_slice(&[0; 4]);
        assert_eq!(Status::decode(&down).unwrap().state, RunState::Down);
    }

    #[test]
    fn refuses_other_sizes() {
        for n in [0, 1, 17, 19, 21, 35] {
            assert_eq!(Status::decode(&vec![0u8; n]), None, "size {n}");
        }
    }

    #[test]
    fn stat_text_as_runit() {
        assert_eq!(up().stat_text(), "run\n");
        let s = Status {
            paused: true,
            want: Want::Down,
            got_term: true,
            ..up()
        };
        assert_eq!(s.stat_text(), "run, paused, got TERM, want down\n");
        let s = Status {
            state: RunState::Down,
            pid: 0,
            ..up()
        };
        assert_eq!(s.stat_text(), "down, want up\n");
    }
}
