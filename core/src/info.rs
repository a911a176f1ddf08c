//! `supervise/info`: what tend knows beyond the 20-byte status record.
//!
//! A small text file, one `key value` pair per line, rewritten atomically (via
//! `info.new`) whenever it changes:
//!
//! ```text
//! run ok              # ok | missing | not-executable: the state of ./run at the last try
//! ready @4000...      # TAI64N when the daemon reported ready since its last start, or -
//! starts 3            # how many times ./run was started by this supervisor
//! exit 0              # how the last run ended: exit N | signal N | -
//! backoff 4000 @4000. # the current delay in ms and the TAI64N of the next start, or -
//! notify 3            # the notification-fd in use, or -
//! pstart 123456       # start time of the run process (clock ticks after boot, from
//!                     # /proc/PID/stat), so a new supervisor can tell it is the same process
//! finish stop         # ./finish exited 125 (s6: do not restart) and the service stays
//!                     # down until `svc -u`; - otherwise
//! ```
//!
//! Readers ignore unknown keys and tolerate missing ones, so the format can grow.
use crate::tai::Tai64n;

/// The state of `./run` at the supervisor's last attempt to start it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RunFile {
    /// Present and executable (or not yet tried).
    #[default]
    Ok,
    /// No `run` file.
    Missing,
    /// `run` exists but cannot be executed.
    NotExecutable,
}

/// How the last run of the service ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Exited with this code.
    Code(i32),
    /// Killed by this signal number.
    Signal(i32),
}

/// The extra state a tend supervisor publishes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Info {
    /// The state of `./run`.
    pub run: RunFile,
    /// When the daemon reported ready (since its last start).
    pub ready: Option<Tai64n>,
    /// How many times `./run` was started.
    pub starts: u64,
    /// How the last run ended.
    pub exit: Option<Exit>,
    /// The crash-loop delay in ms and the time of the next start, while backing off.
    pub backoff: Option<(u64, Tai64n)>,
    /// The notification-fd in use for the current run.
    pub notify: Option<i32>,
    /// The start time of the current run process, from /proc/PID/stat.
    pub pstart: Option<u64>,
    /// `./finish` exited 125, asking that the service not be restarted.
    pub finish_stop: bool,
}

impl Info {
    /// The file's text.
    pub fn encode(&self) -> String {
        let run = match self.run {
            RunFile::Ok => "ok",
            RunFile::Missing => "missing",
            RunFile::NotExecutable => "not-executable",
        };
        let ready = self.ready.map_or_else(|| "-".into(), Tai64n::to_hex);
        let exit = match self.exit {
            Some(Exit::Code(c)) => format!("exit {c}"),
            Some(Exit::Signal(s)) => format!("signal {s}"),
            None => "-".into(),
        };
        let backoff = match self.backoff {
            Some((ms, at)) => format!("{ms} {}", at.to_hex()),
            None => "-".into(),
        };
        let notify = self.notify.map_or_else(|| "-".into(), |n| n.to_string());
        let pstart = self.pstart.map_or_else(|| "-".into(), |n| n.to_string());
        let finish = if self.finish_stop { "stop" } else { "-" };
        format!(
            "run {run}\nready {ready}\nstarts {}\nexit {exit}\nbackoff {backoff}\nnotify {notify}\npstart {pstart}\nfinish {finish}\n",
            self.starts
        )
    }

    /// Parses the file's text; unknown keys and malformed values are skipped.
    pub fn decode(text: &str) -> Info {
        let mut info = Info::default();
        for line in text.lines() {
            let (key, val) = line.split_once(' ').unwrap_or((line, ""));
            match key {
                "run" => {
                    info.run = match val {
                        "missing" => RunFile::Missing,
                        "not-executable" => RunFile::NotExecutable,
                        _ => RunFile::Ok,
                    }
                }
                "ready" => info.ready = Tai64n::parse_hex(val),
                "starts" => info.starts = val.parse().unwrap_or(0),
                "exit" => info.exit = parse_exit(val),
                "backoff" => {
                    info.backoff = val
                        .split_once(' ')
                        .and_then(|(ms, at)| Some((ms.parse().ok()?, Tai64n::parse_hex(at)?)))
                }
                "notify" => info.notify = val.parse().ok(),
                "pstart" => info.pstart = val.parse().ok(),
                "finish" => info.finish_stop = val == "stop",
                _ => {}
            }
        }
        info
    }
}

fn parse_exit(val: &str) -> Option<Exit> {
    let (kind, n) = val.split_once(' ')?;
    let n = n.parse().ok()?;
    match kind {
        "exit" => Some(Exit::Code(n)),
        "signal" => Some(Exit::Signal(n)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let at = Tai64n {
            secs: 0x4000_0000_6b07_2ba7,
            nanos: 5,
        };
        let i = Info {
            run: RunFile::NotExecutable,
            ready: Some(at),
            starts: 7,
            exit: Some(Exit::Signal(9)),
            backoff: Some((4000, at)),
            notify: Some(3),
            pstart: Some(99),
            finish_stop: true,
        };
        assert_eq!(Info::decode(&i.encode()), i);
        assert_eq!(Info::decode(&Info::default().encode()), Info::default());
        assert_eq!(
            Info::default().encode(),
            "run ok\nready -\nstarts 0\nexit -\nbackoff -\nnotify -\npstart -\nfinish -\n"
        );
    }

    #[test]
    fn garbage_is_tolerated() {
        let i = Info::decode("starts x\nexit exit\nbackoff 5\n\u{0}\nfuture 1\nexit exit 3\n");
        assert_eq!(
            i,
            Info {
                exit: Some(Exit::Code(3)),
                ..Info::default()
            }
        );
    }
}
