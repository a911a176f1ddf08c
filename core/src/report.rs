//! What the control tools say about a service dir: svstat's line, readiness, and why a
//! supervisor could not be reached. Pure functions, so the wording is unit-tested here.
use std::fmt::Write;
use std::path::Path;

use rustix::io::Errno;

use crate::error::describe;
use crate::info::{Exit, Info, RunFile};
use crate::status::{RunState, Status, Want};
use crate::tai::Tai64n;

/// Why a service dir's supervisor could not be reached, given the errno of opening its
/// `supervise/ok` or `supervise/control` fifo.
///
/// ENXIO (a fifo nobody reads) is "supervisor not running"; ENOENT when `dir` exists
/// (no supervise dir or no fifo in it yet) is "no supervisor yet"; anything else,
/// including ENOENT for a missing `dir`, is the errno's text.
pub fn unreachable(dir: &Path, errno: Errno) -> String {
    match errno {
        Errno::NXIO => "supervisor not running".into(),
        Errno::NOENT if dir.is_dir() => "no supervisor yet".into(),
        _ => describe(errno),
    }
}

/// Whether the current run of the service has reported ready: `run` is running and the
/// ready time in `info` is not older than the start of this run (an older one belongs to
/// a previous run whose `info` has not been rewritten yet).
pub fn is_ready(st: &Status, info: &Info) -> bool {
    st.state == RunState::Run && info.ready.is_some_and(|at| at >= st.stamp)
}

/// svstat's line for one service dir, without the leading `DIR: `.
///
/// The daemontools grammar comes first, then runit's `got TERM`, then what a tend
/// supervisor publishes in `info`:
///
/// ```text
/// up (pid 123) 45 seconds[, normally down][, paused][, want down][, got TERM][, ready 40 seconds]
/// down 2 seconds[, normally up][, want up][, run missing][, exited 1][, backoff 4 seconds, next start in 3 seconds]
/// finish (pid 124) 1 seconds[, normally up][, paused][, want up][, got TERM][, killed by SIGTERM]
/// ```
///
/// `normally_down` says whether the service dir has a `down` file; `now` is the time the
/// seconds are counted to (a stamp in the future counts as 0 seconds).
pub fn status_line(st: &Status, info: Option<&Info>, normally_down: bool, now: Tai64n) -> String {
    let running = st.state == RunState::Run;
    let mut s = match st.state {
        RunState::Run => format!("up (pid {}) ", st.pid),
        // runsv writes the finish state once with pid 0, before it forks ./finish.
        RunState::Finish if st.pid == 0 => "finish ".into(),
        RunState::Finish => format!("finish (pid {}) ", st.pid),
        RunState::Down => "down ".into(),
    };
    let _ = write!(s, "{} seconds", st.stamp.secs_until(now));
    if running && normally_down {
        s.push_str(", normally down");
    }
    if !running && !normally_down {
        s.push_str(", normally up");
    }
    if st.pid != 0 && st.paused {
        s.push_str(", paused");
    }
    match st.want {
        Want::Down if running => s.push_str(", want down"),
        Want::Up if !running => s.push_str(", want up"),
        Want::Up | Want::Down | Want::None => {}
    }
    if st.got_term {
        s.push_str(", got TERM");
    }
    if let Some(info) = info {
        push_info(&mut s, st, info, now);
    }
    s
}

/// Appends what `info` adds to the line: readiness while up; the state of `./run`, how
/// the last run ended and the backoff while not up.
fn push_info(s: &mut String, st: &Status, info: &Info, now: Tai64n) {
    if is_ready(st, info) {
        if let Some(at) = info.ready {
            let _ = write!(s, ", ready {} seconds", at.secs_until(now));
        }
    }
    if st.state == RunState::Run {
        return;
    }
    match info.run {
        RunFile::Ok => {}
        RunFile::Missing => s.push_str(", run missing"),
        RunFile::NotExecutable => s.push_str(", run not executable"),
    }
    match info.exit {
        Some(Exit::Code(c)) => {
            let _ = write!(s, ", exited {c}");
        }
        Some(Exit::Signal(n)) => {
            let _ = write!(s, ", killed by {}", signal_name(n));
        }
        None => {}
    }
    if info.finish_stop {
        s.push_str(", finish asked not to restart");
    }
    if let Some((ms, at)) = info.backoff {
        let _ = write!(
            s,
            ", backoff {} seconds, next start in {} seconds",
            ms.div_ceil(1000),
            now.secs_until(at)
        );
    }
}

/// The name of a signal number as svstat shows it, e.g. `SIGTERM`, or `signal 42`.
pub fn signal_name(n: i32) -> String {
    const NAMES: [&str; 31] = [
        "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
        "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
        "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
    ];
    usize::try_from(n)
        .ok()
        .and_then(|i| i.checked_sub(1))
        .and_then(|i| NAMES.get(i))
        .map_or_else(|| format!("signal {n}"), |name| format!("SIG{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 0x4000_0000_6b07_2ba7;

    fn at(secs: u64) -> Tai64n {
        Tai64n {
            secs: T0 + secs,
            nanos: 0,
        }
    }

    fn up() -> Status {
        Status {
            stamp: at(0),
            pid: 123,
            paused: false,
            want: Want::Up,
            got_term: false,
            state: RunState::Run,
        }
    }

    fn down() -> Status {
        Status {
            pid: 0,
            state: RunState::Down,
            ..up()
        }
    }

    #[test]
    fn daemontools_grammar() {
        let now = at(45);
        assert_eq!(
            status_line(&up(), None, false, now),
            "up (pid 123) 45 seconds"
        );
        assert_eq!(
            status_line(&up(), None, true, now),
            "up (pid 123) 45 seconds, normally down"
        );
        let d = Status {
            want: Want::Down,
            ..down()
        };
        assert_eq!(
            status_line(&d, None, false, at(2)),
            "down 2 seconds, normally up"
        );
        assert_eq!(status_line(&d, None, true, at(2)), "down 2 seconds");
        assert_eq!(
            status_line(&down(), None, true, at(1)),
            "down 1 seconds, want up"
        );
        let p = Status {
            paused: true,
            want: Want::Down,
            got_term: true,
            ..up()
        };
        assert_eq!(
            status_line(&p, None, true, at(1)),
            "up (pid 123) 1 seconds, normally down, paused, want down, got TERM"
        );
        // A stamp from the future (clock stepped back) counts as 0 seconds.
        assert_eq!(
            status_line(&up(), None, false, at(0)),
            status_line(&up(), None, false, Tai64n::default())
        );
    }

    #[test]
    fn finish_is_not_up() {
        let f = Status {
            pid: 124,
            state: RunState::Finish,
            ..up()
        };
        assert_eq!(
            status_line(&f, None, false, at(3)),
            "finish (pid 124) 3 seconds, normally up, want up"
        );
        let f = Status {
            want: Want::Down,
            paused: true,
            ..f
        };
        assert_eq!(
            status_line(&f, None, true, at(3)),
            "finish (pid 124) 3 seconds, paused"
        );
        let f = Status { pid: 0, ..f };
        assert_eq!(status_line(&f, None, true, at(3)), "finish 3 seconds");
    }

    #[test]
    fn info_extras() {
        let ready = Info {
            ready: Some(at(5)),
            notify: Some(3),
            starts: 1,
            ..Info::default()
        };
        assert_eq!(
            status_line(&up(), Some(&ready), false, at(45)),
            "up (pid 123) 45 seconds, ready 40 seconds"
        );
        // A ready time older than this run belongs to the previous run.
        let stale = Status {
            stamp: at(6),
            ..up()
        };
        assert_eq!(
            status_line(&stale, Some(&ready), false, at(45)),
            "up (pid 123) 39 seconds"
        );
        assert!(!is_ready(&stale, &ready));
        assert!(is_ready(&up(), &ready));
        assert!(!is_ready(&down(), &ready));
        let crashed = Info {
            run: RunFile::Ok,
            exit: Some(Exit::Code(1)),
            backoff: Some((4000, at(5))),
            ..ready
        };
        assert_eq!(
            status_line(&down(), Some(&crashed), false, at(2)),
            "down 2 seconds, normally up, want up, exited 1, backoff 4 seconds, next start in 3 seconds"
        );
        let killed = Info {
            exit: Some(Exit::Signal(15)),
            backoff: Some((500, at(1))),
            ..Info::default()
        };
        assert_eq!(
            status_line(&down(), Some(&killed), true, at(2)),
            "down 2 seconds, want up, killed by SIGTERM, backoff 1 seconds, next start in 0 seconds"
        );
        let missing = Info {
            run: RunFile::Missing,
            ..Info::default()
        };
        assert_eq!(
            status_line(&down(), Some(&missing), false, at(0)),
            "down 0 seconds, normally up, want up, run missing"
        );
        let noexec = Info {
            run: RunFile::NotExecutable,
            ..Info::default()
        };
        assert_eq!(
            status_line(&down(), Some(&noexec), true, at(0)),
            "down 0 seconds, want up, run not executable"
        );
        // While up, the last exit and backoff are history, not state.
        assert_eq!(
            status_line(&up(), Some(&crashed), false, at(45)),
            "up (pid 123) 45 seconds, ready 40 seconds"
        );
    }

    #[test]
    fn signal_names() {
        assert_eq!(signal_name(1), "SIGHUP");
        assert_eq!(signal_name(9), "SIGKILL");
        assert_eq!(signal_name(15), "SIGTERM");
        assert_eq!(signal_name(31), "SIGSYS");
        assert_eq!(signal_name(0), "signal 0");
        assert_eq!(signal_name(-3), "signal -3");
        assert_eq!(signal_name(64), "signal 64");
    }

    #[test]
    fn reasons() {
        let here = Path::new(".");
        let nowhere = Path::new("/nonexistent/tend-report-test");
        assert_eq!(unreachable(here, Errno::NXIO), "supervisor not running");
        assert_eq!(unreachable(here, Errno::NOENT), "no supervisor yet");
        assert_eq!(unreachable(nowhere, Errno::NOENT), "file does not exist");
        assert_eq!(unreachable(here, Errno::ACCESS), "access denied");
    }
}
