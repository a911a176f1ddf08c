//! svwait: wait until every service dir is up, down or ready, without polling.
//!
//! Each service dir's supervise dir is watched with inotify (status and info are replaced
//! by rename; a supervisor renames `alive` into place and opens `ok` when it starts); the
//! watch is set before each check, so no change falls between them. While a supervisor
//! runs, svwait holds the write end of its `ok` fifo, or, for a user who may not open that,
//! a read end of its `alive` fifo: when the supervisor exits, poll reports POLLERR or
//! POLLHUP on it.
use std::ffi::OsString;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};
use rustix::io::Errno;
use tend::{parse_timeout, say, usage, warn, EXIT_SYS};
use tend_core::control::{find_supervisor, read_info, read_status, Presence};
use tend_core::error::describe;
use tend_core::report::is_ready;
use tend_core::status::{RunState, Status};
use tend_core::svdir::{resolve, show, Settings};

const SYNOPSIS: &str = "svwait -u|-d|-r [ -t timeout ] servicedir...";
/// Exit code on timeout.
const EXIT_TIMEOUT: u8 = 1;
/// Events in a supervise dir that may change the answer.
const SUPERVISE_MASK: WatchFlags = WatchFlags::MOVED_TO
    .union(WatchFlags::CLOSE_WRITE)
    .union(WatchFlags::OPEN);
/// Events in a service dir or its parent while the supervise dir does not exist yet.
const PARENT_MASK: WatchFlags = WatchFlags::CREATE.union(WatchFlags::MOVED_TO);

/// The state to wait for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Goal {
    Up,
    Down,
    Ready,
}

impl Goal {
    fn word(self) -> &'static str {
        match self {
            Goal::Up => "up",
            Goal::Down => "down",
            Goal::Ready => "ready",
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Args {
    goal: Goal,
    timeout: Option<Duration>,
    dirs: Vec<OsString>,
}

/// A failure that ends svwait with 111; the text completes `svwait: fatal: `.
struct Failure(String);

/// One service dir being waited for.
struct Target {
    name: String,
    dir: PathBuf,
    /// The goal for this dir: `Ready` turns into `Up` when readiness is not reported.
    goal: Goal,
    /// Our write end of `supervise/ok` (or, where we may not open that, a read end of
    /// `supervise/alive`), held while its supervisor runs.
    held: Option<OwnedFd>,
    done: bool,
}

pub fn start(args: tend::Args) -> u8 {
    let args = match parse_args(args) {
        Ok(a) => a,
        Err(e) => return usage("svwait", SYNOPSIS, e),
    };
    match wait(&args) {
        Ok(code) => code,
        Err(Failure(msg)) => {
            say("svwait", "fatal", msg);
            EXIT_SYS
        }
    }
}

/// Waits for every dir; returns 0 when all reached the goal, 1 on timeout.
fn wait(args: &Args) -> Result<u8, Failure> {
    let ino = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK).map_err(|e| {
        Failure(format!(
            "unable to create inotify instance: {}",
            describe(e)
        ))
    })?;
    let deadline = args.timeout.and_then(|t| Instant::now().checked_add(t));
    let mut targets: Vec<Target> = args
        .dirs
        .iter()
        .map(|arg| Target {
            name: arg.to_string_lossy().into_owned(),
            dir: resolve(arg),
            goal: args.goal,
            held: None,
            done: false,
        })
        .collect();
    let mut recheck = true;
    loop {
        if recheck {
            for t in targets.iter_mut().filter(|t| !t.done) {
                t.watch(&ino)?;
                t.done = t.check()?;
            }
        }
        for t in targets.iter_mut().filter(|t| t.done) {
            t.held = None;
        }
        let pending: Vec<&str> = targets
            .iter()
            .filter(|t| !t.done)
            .map(|t| t.name.as_str())
            .collect();
        if pending.is_empty() {
            return Ok(0);
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left == Some(Duration::ZERO) {
            let (names, goal) = (pending.join(", "), args.goal.word());
            say(
                "svwait",
                "fatal",
                format_args!("timed out waiting for {names} to be {goal}"),
            );
            return Ok(EXIT_TIMEOUT);
        }
        let lost = sleep(&ino, &targets, left)?;
        recheck = drain(&ino)?;
        for i in lost {
            if let Some(t) = targets.get_mut(i) {
                t.done = t.lost(&ino)?;
            }
        }
    }
}

/// Polls the inotify fd and the held `ok` and `alive` fds until something happens or
/// `left` passes; returns the indices of targets whose supervisor closed them (it exited).
fn sleep(ino: &OwnedFd, targets: &[Target], left: Option<Duration>) -> Result<Vec<usize>, Failure> {
    let held: Vec<(usize, &OwnedFd)> = targets
        .iter()
        .enumerate()
        .filter(|(_, t)| !t.done)
        .filter_map(|(i, t)| t.held.as_ref().map(|fd| (i, fd)))
        .collect();
    let mut fds = vec![PollFd::new(ino, PollFlags::IN)];
    // No events asked on a write end: POLLERR (no reader left) is reported regardless.
    fds.extend(
        held.iter()
            .map(|(_, fd)| PollFd::new(*fd, PollFlags::empty())),
    );
    // A timeout too large for a timespec means no timeout.
    let timeout = left.and_then(|d| Timespec::try_from(d).ok());
    match poll(&mut fds, timeout.as_ref()) {
        Ok(_) | Err(Errno::INTR) => {}
        Err(e) => return Err(Failure(format!("unable to poll: {}", describe(e)))),
    }
    let gone = PollFlags::ERR | PollFlags::HUP;
    Ok(fds
        .iter()
        .skip(1)
        .zip(&held)
        .filter(|(fd, _)| fd.revents().intersects(gone))
        .map(|(_, (i, _))| *i)
        .collect())
}

/// Reads all pending inotify events; true if one of them may change an answer. Opens of
/// files other than `ok` are ours or other readers' and change nothing.
fn drain(ino: &OwnedFd) -> Result<bool, Failure> {
    let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
    let mut events = inotify::Reader::new(ino, &mut buf);
    let mut changed = false;
    loop {
        match events.next() {
            Ok(ev) => {
                let is_ok = ev.file_name().is_some_and(|n| n.to_bytes() == b"ok");
                changed |= !ev.events().contains(ReadFlags::OPEN) || is_ok;
            }
            Err(Errno::WOULDBLOCK) => return Ok(changed),
            Err(Errno::INTR) => {}
            Err(e) => {
                return Err(Failure(format!(
                    "unable to read inotify events: {}",
                    describe(e)
                )))
            }
        }
    }
}

impl Target {
    /// Watches the supervise dir, or, while it does not exist, where it will appear: the
    /// target of a dangling `supervise` symlink, the service dir, or the service dir's
    /// parent. A missing grandparent is an error.
    fn watch(&self, ino: &OwnedFd) -> Result<(), Failure> {
        let (mut path, mut mask, mut ups) = (self.dir.join("supervise"), SUPERVISE_MASK, 0);
        for _ in 0..8 {
            match inotify::add_watch(ino, &path, mask | WatchFlags::ONLYDIR) {
                Ok(_) => return Ok(()),
                Err(Errno::NOENT) if ups < 2 => {}
                Err(e) => {
                    let path = show(&path);
                    return Err(Failure(format!("unable to watch {path}: {}", describe(e))));
                }
            }
            path = match std::fs::read_link(&path) {
                Ok(target) => parent(&path).join(target),
                Err(_) => {
                    (mask, ups) = (PARENT_MASK, ups + 1);
                    parent(&path)
                }
            };
        }
        let path = show(&path);
        Err(Failure(format!(
            "unable to watch {path}: too many symbolic links"
        )))
    }

    /// Whether the service dir is in its goal state now. Down: the status file says down,
    /// supervised or not. Up: a supervisor runs and the status file says up. Ready: up
    /// and the supervisor reports readiness for this run.
    fn check(&mut self) -> Result<bool, Failure> {
        if self.held.is_none() {
            match find_supervisor(&self.dir) {
                Ok(Presence::Running(fd)) => self.held = Some(fd),
                Ok(Presence::Absent(_)) => {}
                Err(e) => return Err(Failure(e.to_string())),
            }
        }
        let st = match read_status(&self.dir) {
            Ok(st) => st,
            Err(e) if e.errno() == Some(Errno::NOENT) => return Ok(false),
            Err(e) => return Err(Failure(e.to_string())),
        };
        Ok(match self.goal {
            Goal::Down => st.state == RunState::Down,
            Goal::Up => self.held.is_some() && st.state == RunState::Run,
            Goal::Ready => self.held.is_some() && st.state == RunState::Run && self.ready(&st),
        })
    }

    /// Whether an up service reported ready. Without readiness notification (no
    /// notification-fd, or a supervisor that writes no `info`), up is as good as ready.
    fn ready(&mut self, st: &Status) -> bool {
        let name = &self.name;
        let settings = Settings::read(&self.dir).0;
        let fallback = if settings.notification_fd.is_none() && !settings.check {
            format!("{name} has no notification-fd or check: waiting for it to be up instead")
        } else if let Some(info) = read_info(&self.dir) {
            return is_ready(st, &info);
        } else {
            format!("the supervisor of {name} does not report readiness: waiting for it to be up instead")
        };
        warn("svwait", fallback);
        self.goal = Goal::Up;
        true
    }

    /// Handles the exit of the supervisor: done if the goal is reached all the same or a
    /// new supervisor took over; a failure if nobody is left to reach it.
    fn lost(&mut self, ino: &OwnedFd) -> Result<bool, Failure> {
        self.held = None;
        self.watch(ino)?;
        if self.check()? {
            return Ok(true);
        }
        if self.held.is_none() {
            let (name, goal) = (&self.name, self.goal.word());
            return Err(Failure(format!(
                "unable to wait for {name} to be {goal}: supervisor exited"
            )));
        }
        Ok(false)
    }
}

/// The directory holding `p`: `.` for a bare name, `/` for the root.
fn parent(p: &Path) -> PathBuf {
    match p.parent() {
        Some(q) if !q.as_os_str().is_empty() => q.to_path_buf(),
        Some(_) => PathBuf::from("."),
        None => p.to_path_buf(),
    }
}

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let (mut goal, mut timeout, mut dirs) = (None, None, Vec::new());
    let mut p = lexopt::Parser::from_args(args);
    while let Some(arg) = p.next()? {
        let g = match arg {
            Short('u') => Goal::Up,
            Short('d') => Goal::Down,
            Short('r') => Goal::Ready,
            Short('t') => {
                let v = p.value()?;
                let v = v.to_str().ok_or("bad timeout: not UTF-8")?;
                timeout = Some(parse_timeout(v)?);
                continue;
            }
            Value(v) if v.is_empty() => return Err("empty servicedir".into()),
            Value(v) => {
                dirs.push(v);
                continue;
            }
            _ => return Err(arg.unexpected()),
        };
        if goal.is_some_and(|old| old != g) {
            return Err("only one of -u, -d, -r".into());
        }
        goal = Some(g);
    }
    let goal = goal.ok_or("one of -u, -d, -r is required")?;
    if dirs.is_empty() {
        return Err("missing servicedir".into());
    }
    Ok(Args {
        goal,
        timeout,
        dirs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        parse_args(args.iter().map(OsString::from)).map_err(|e| e.to_string())
    }

    #[test]
    fn goals_and_timeouts() {
        let a = parse(&["-u", "-t", "5s", "a", "b"]).unwrap();
        assert_eq!(
            a,
            Args {
                goal: Goal::Up,
                timeout: Some(Duration::from_secs(5)),
                dirs: vec!["a".into(), "b".into()],
            }
        );
        let a = parse(&["-rt250", "a"]).unwrap();
        assert_eq!(
            (a.goal, a.timeout),
            (Goal::Ready, Some(Duration::from_millis(250)))
        );
        let a = parse(&["-d", "-d", "a", "-t", "1m 30s"]).unwrap();
        assert_eq!(
            (a.goal, a.timeout),
            (Goal::Down, Some(Duration::from_secs(90)))
        );
        assert_eq!(
            parse(&["-u", "-t0", "a"]).unwrap().timeout,
            Some(Duration::ZERO)
        );
        assert_eq!(parse(&["-u", "a"]).unwrap().timeout, None);
    }

    #[test]
    fn refuses_bad_input() {
        assert_eq!(parse(&["a"]).unwrap_err(), "one of -u, -d, -r is required");
        assert_eq!(
            parse(&["-u", "-d", "a"]).unwrap_err(),
            "only one of -u, -d, -r"
        );
        assert_eq!(parse(&["-u"]).unwrap_err(), "missing servicedir");
        assert_eq!(parse(&["-u", ""]).unwrap_err(), "empty servicedir");
        assert_eq!(parse(&["-x", "a"]).unwrap_err(), "invalid option '-x'");
        assert_eq!(
            parse(&["-u", "a", "-t"]).unwrap_err(),
            "missing argument for option '-t'"
        );
        assert!(parse(&["-u", "-t", "soon", "a"])
            .unwrap_err()
            .starts_with("bad timeout \"soon\": "));
        assert_eq!(
            parse(&["-u", "-t", "-5", "a"]).unwrap_err(),
            "bad timeout \"-5\": expected number at 0"
        );
        assert_eq!(
            parse(&["-u", "-t", "99999999999999999999999", "a"]).unwrap_err(),
            "timeout too large: 99999999999999999999999"
        );
    }

    #[test]
    fn parents() {
        assert_eq!(parent(Path::new("web")), PathBuf::from("."));
        assert_eq!(parent(Path::new("/srv/web")), PathBuf::from("/srv"));
        assert_eq!(parent(Path::new("/")), PathBuf::from("/"));
        assert_eq!(parent(Path::new("./web/supervise")), PathBuf::from("./web"));
    }
}
