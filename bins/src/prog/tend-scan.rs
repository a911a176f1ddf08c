//! tend-scan: the scanner. Runs `tend-supervise NAME` (and `tend-supervise NAME/log`, joined
//! by a pipe it holds) for every service dir of a scan dir, learning of changes from inotify.
//! With -F (flat mode) it runs no supervisor processes: each would-be supervisor is a
//! [`Unit`] in this process, which the scanner's policy knows by an id in place of a pid.
//!
//! The policy lives in `tend_core::scan`; this file does the system calls: reading the scan
//! dir, inotify, signals, spawning, reaping, pipes.
use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use libc::{SIGALRM, SIGCHLD, SIGHUP, SIGINT, SIGTERM};
use rustix::event::{PollFd, PollFlags};
use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};
use rustix::fs::{FileType, Stat};
use rustix::io::Errno;
use rustix::process::{Pid, Resource, Signal, WaitOptions};
use tend::unit::Unit;
use tend::{fatal, say, usage, warn};
use tend_core::scan::{Action, Entry, Exit, Key, Level, LogDir, Mask, Scanner, Side, Sig};
use tend_core::signals::Signals;
use tend_core::status::RunState;
use tend_core::timer::poll_until;
use tend_core::{Ctx, Error};

const PROG: &str = "tend-scan";
const SYNOPSIS: &str = "tend-scan [ -F ] [ -t timeout ] [ scandir ]";
/// Default for `-t`: how long services get to stop before SIGKILL.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long after a failed full scan (out of descriptors, say) it is tried again.
const SCAN_RETRY: Duration = Duration::from_secs(5);
/// In flat mode, the ids that stand for units where the scanner's policy expects pids:
/// above every pid (Linux's pid_max is at most 2^22).
const FIRST_UNIT_ID: u32 = 1 << 31;

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
struct Args {
    dir: PathBuf,
    timeout: Duration,
    /// -F: supervise every service in this process.
    flat: bool,
}

pub fn start(args: tend::Args) -> u8 {
    let args: Vec<OsString> = args.collect();
    if args.first().is_some_and(|a| a == tend::holder::OPTION) {
        return tend::holder::hold();
    }
    let args = match parse_args(args) {
        Ok(a) => a,
        Err(e) => return usage(PROG, SYNOPSIS, e),
    };
    match run(&args) {
        Ok(()) => 0,
        Err(e) => fatal(PROG, &e),
    }
}

fn parse_args(argv: impl IntoIterator<Item = OsString>) -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_args(argv);
    let (mut dir, mut timeout, mut flat) = (None, DEFAULT_TIMEOUT, false);
    while let Some(arg) = p.next()? {
        match arg {
            Short('F') | Long("flat") => flat = true,
            Short('t') => {
                let v = p.value()?;
                let text = v.to_string_lossy();
                timeout = humantime::parse_duration(&text).map_err(|e| {
                    lexopt::Error::from(format!("unable to parse timeout {text:?}: {e}").as_str())
                })?;
            }
            Value(v) if dir.is_none() => dir = Some(PathBuf::from(v)),
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(Args {
        dir: dir.unwrap_or_else(tend_core::svdir::svdir),
        timeout,
        flat,
    })
}

/// Sets up, then runs the loop until every service has stopped after SIGTERM / SIGINT.
fn run(args: &Args) -> Result<(), Error> {
    raise_fd_limit();
    // Any nonzero argument turns the flag on: orphans below us become our children.
    let subreaper = match rustix::process::set_child_subreaper(Some(Pid::INIT)) {
        Ok(()) => true,
        Err(errno) => {
            warn(
                PROG,
                format_args!(
                    "unable to become a child subreaper: {}",
                    tend_core::error::describe(errno)
                ),
            );
            rustix::process::getpid() == Pid::INIT
        }
    };
    let shown = args.dir.to_string_lossy().into_owned();
    std::env::set_current_dir(&args.dir).ctx(|| format!("change directory to {shown}"))?;
    let inot = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)
        .ctx(|| "create an inotify instance".into())?;
    let scan_wd = inotify::add_watch(&inot, ".", scan_dir_mask())
        .ctx(|| format!("watch {shown} with inotify"))?;
    let sigs = Signals::install(&[SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGALRM])?;
    let flat = match args.flat {
        true => Some(Flat::new()?),
        false => None,
    };
    let holder_id = match rustix::fs::stat(".") {
        Ok(st) => format!("{}:{}", st.st_dev, st.st_ino),
        Err(_) => String::new(),
    };
    let mut world = World {
        flat,
        holder: None,
        holder_id,
        old_holders: true,
        scanner: Scanner::new(args.timeout),
        supervise: supervisor_program(),
        inot,
        scan_wd,
        watches: HashMap::new(),
        watched: HashMap::new(),
        pipes: HashMap::new(),
        rescan: true,
        scan_retry: None,
        subreaper,
    };
    if world.flat.is_some() {
        world.start_holder();
    }
    while !world.scanner.done() {
        if std::mem::take(&mut world.rescan) {
            world.full_scan();
            continue;
        }
        let (sig_ready, inot_ready, units_ready) = {
            let mut fds = vec![
                PollFd::new(sigs.fd(), PollFlags::IN),
                PollFd::new(&world.inot, PollFlags::IN),
            ];
            let mut owners = Vec::new();
            let mut wake = [world.scanner.deadline(), world.scan_retry]
                .into_iter()
                .flatten()
                .min();
            if let Some(flat) = &world.flat {
                for (&id, unit) in &flat.units {
                    for (i, fd) in unit.fds().into_iter().enumerate() {
                        if let Some(fd) = fd {
                            fds.push(PollFd::from_borrowed_fd(fd, PollFlags::IN));
                            owners.push((id, i));
                        }
                    }
                    wake = [wake, unit.deadline()].into_iter().flatten().min();
                }
            }
            poll_until(&mut fds, wake)?;
            let ready = |i: usize| fds.get(i).is_some_and(|f| !f.revents().is_empty());
            let units: Vec<(u32, usize)> = owners
                .iter()
                .enumerate()
                .filter(|(k, _)| ready(k + 2))
                .map(|(_, o)| *o)
                .collect();
            (ready(0), ready(1), units)
        };
        if sig_ready {
            // Reap first: a supervisor that died just before a SIGTERM must be known dead
            // when the shutdown decides what to do with it.
            let mut pending: Vec<i32> = sigs.take().collect();
            pending.sort_by_key(|&sig| sig != SIGCHLD);
            for sig in pending {
                match sig {
                    SIGCHLD => world.reap(),
                    SIGTERM | SIGINT => {
                        let acts = world.scanner.shutdown(Instant::now());
                        world.perform(acts);
                    }
                    _ => world.rescan = true,
                }
            }
        }
        if inot_ready {
            world.read_inotify();
        }
        for (id, which) in units_ready {
            if let Some(flat) = &mut world.flat {
                if let Some(unit) = flat.units.get_mut(&id) {
                    unit.ready(which);
                    flat.touched.insert(id);
                }
            }
        }
        world.settle_units();
        if world.scan_retry.is_some_and(|t| Instant::now() >= t) {
            world.rescan = true;
        }
        let acts = world.scanner.timeout(Instant::now());
        world.perform(acts);
    }
    if let Some(h) = &world.holder {
        h.bye();
    }
    Ok(())
}

/// Flat mode's units, with what they share.
struct Flat {
    /// Every unit by its id.
    units: HashMap<u32, Unit>,
    /// The id of the next unit.
    next_id: u32,
    /// Units that had input or a child reaped since they last settled.
    touched: HashSet<u32>,
    /// One reserve descriptor for all the supervise dirs.
    spare: tend_core::supervise::Spare,
    /// /dev/null, the stdin of services (as tend-supervise's stdin is in pair mode).
    null: Rc<OwnedFd>,
}

impl Flat {
    fn new() -> Result<Flat, Error> {
        let null = rustix::fs::open(
            "/dev/null",
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .ctx(|| "open /dev/null".into())?;
        Ok(Flat {
            units: HashMap::new(),
            next_id: FIRST_UNIT_ID,
            touched: HashSet::new(),
            spare: tend_core::supervise::new_spare(),
            null: Rc::new(null),
        })
    }
}

/// A service's pipe as the scanner holds it: (read end, write end); in flat mode its
/// units hold them too.
type PipeEnds = (Option<Rc<OwnedFd>>, Option<Rc<OwnedFd>>);

/// The scanner with everything its actions touch.
struct World {
    /// Flat mode (-F): the units that stand for supervisors.
    flat: Option<Flat>,
    /// Flat mode: the process that holds a read end of every log pipe ([`tend::holder`]).
    holder: Option<tend::holder::Holder>,
    /// The scan dir's device:inode, which names its holders.
    holder_id: String,
    /// Holders that earlier (killed) scanners left may still run: stop them once the
    /// first full scan has opened the pipes again.
    old_holders: bool,
    scanner: Scanner,
    /// The `tend-supervise` program to run.
    supervise: PathBuf,
    inot: OwnedFd,
    scan_wd: i32,
    /// Watch descriptor to the service dir (or its log/) it watches.
    watches: HashMap<i32, (Key, Side)>,
    watched: HashMap<(Key, Side), i32>,
    /// The pipes between services and their loggers.
    pipes: HashMap<Key, PipeEnds>,
    /// A full scan is due.
    rescan: bool,
    /// The last full scan failed: when to try again.
    scan_retry: Option<Instant>,
    /// Orphans below us become our children (so we can wait for them).
    subreaper: bool,
}

impl World {
    /// Reads the whole scan dir and hands it to the scanner.
    fn full_scan(&mut self) {
        let entries = match read_scan_dir() {
            Ok(e) => e,
            Err(e) => {
                // One warning for a run of failures; the scan is retried without one.
                if self.scan_retry.is_none() {
                    let every = SCAN_RETRY.as_secs();
                    warn(PROG, format_args!("{e} (retrying every {every} seconds)"));
                }
                self.scan_retry = Some(Instant::now() + SCAN_RETRY);
                return;
            }
        };
        self.scan_retry = None;
        let acts = self.scanner.scan(&entries, Instant::now());
        self.perform(acts);
        if self.flat.is_some() && std::mem::take(&mut self.old_holders) {
            tend::holder::stop_old(&self.holder_id, self.holder.as_ref().map(|h| h.pid()));
        }
    }

    /// Starts the pipe holder (flat mode), and has it hold every pipe there is.
    fn start_holder(&mut self) {
        let exe = match std::env::current_exe() {
            Ok(e) => e,
            Err(e) => {
                warn(PROG, format_args!("unable to start the pipe holder: {e}"));
                return;
            }
        };
        match tend::holder::Holder::spawn(&exe, &self.holder_id) {
            Ok(h) => {
                for r in self.pipes.values().filter_map(|p| p.0.as_ref()) {
                    h.hold(r.as_raw_fd());
                }
                self.holder = Some(h);
            }
            Err(e) => warn(PROG, format_args!("unable to start the pipe holder: {e}")),
        }
    }

    /// Reaps every child that has exited, known or not (orphans too).
    fn reap(&mut self) {
        loop {
            match rustix::process::wait(WaitOptions::NOHANG) {
                Ok(Some((pid, st))) => {
                    let pid = pid.as_raw_nonzero().get().unsigned_abs();
                    if self.holder.as_ref().is_some_and(|h| h.pid() == pid) {
                        warn(PROG, "the pipe holder ended; starting it again");
                        self.holder = None;
                        self.start_holder();
                        continue;
                    }
                    if let Some(flat) = &mut self.flat {
                        // A unit's child: only the unit cares.
                        if let Some((&id, unit)) = flat.units.iter_mut().find(|(_, u)| u.owns(pid))
                        {
                            unit.reaped(pid, st);
                            flat.touched.insert(id);
                            continue;
                        }
                    }
                    let exit = match (st.exit_status(), st.terminating_signal()) {
                        (Some(c), _) => Exit::Code(c),
                        (None, Some(s)) => Exit::Signal(s),
                        (None, None) => continue,
                    };
                    let acts = self.scanner.child_exited(pid, exit, Instant::now());
                    self.perform(acts);
                }
                Ok(None) | Err(Errno::CHILD) => return,
                Err(Errno::INTR) => {}
                Err(errno) => {
                    warn(
                        PROG,
                        Error::Sys {
                            op: "wait for children".into(),
                            errno,
                        },
                    );
                    return;
                }
            }
        }
    }

    /// Reads every pending inotify event, then observes what they touched.
    fn read_inotify(&mut self) {
        let mut names: HashSet<OsString> = HashSet::new();
        let mut keys: HashSet<Key> = HashSet::new();
        let mut buf = [MaybeUninit::<u8>::uninit(); 16384];
        let mut reader = inotify::Reader::new(&self.inot, &mut buf);
        loop {
            let ev = match reader.next() {
                Ok(ev) => ev,
                Err(Errno::WOULDBLOCK) => break,
                Err(Errno::INTR) => continue,
                Err(errno) => {
                    warn(
                        PROG,
                        Error::Sys {
                            op: "read inotify events".into(),
                            errno,
                        },
                    );
                    self.rescan = true;
                    break;
                }
            };
            let flags = ev.events();
            if flags.contains(ReadFlags::QUEUE_OVERFLOW) {
                self.rescan = true;
                continue;
            }
            let name = ev.file_name().map(|n| OsStr::from_bytes(n.to_bytes()));
            if ev.wd() == self.scan_wd {
                if let Some(n) = name.filter(|n| !n.is_empty()) {
                    names.insert(n.to_owned());
                }
                continue;
            }
            let Some(&(key, side)) = self.watches.get(&ev.wd()) else {
                continue;
            };
            if flags.contains(ReadFlags::IGNORED) {
                // The kernel dropped the watch (dir removed): forget it.
                self.watches.remove(&ev.wd());
                self.watched.remove(&(key, side));
                continue;
            }
            let relevant = match (side, name.map(OsStr::as_bytes)) {
                (Side::Main, Some(b"run" | b"log")) | (Side::Log, Some(b"run")) => true,
                (Side::Main | Side::Log, _) => false,
            };
            if relevant {
                keys.insert(key);
            }
        }
        for key in keys {
            if let Some(name) = self.scanner.name(key) {
                names.insert(name.to_owned());
            }
        }
        if self.rescan {
            return;
        }
        let now = Instant::now();
        let mut gone = Vec::new();
        for name in names {
            match observe(Path::new(&name)) {
                Some(e) if !e.hidden => {
                    let acts = self.scanner.observe(&e, now);
                    self.perform(acts);
                }
                Some(_) | None => gone.push(name),
            }
        }
        if gone.iter().any(|n| self.scanner.vanished(n)) {
            self.rescan = true;
        }
    }

    /// Performs the scanner's actions, feeding spawn results back.
    fn perform(&mut self, acts: Vec<Action>) {
        let mut todo = std::collections::VecDeque::from(acts);
        while let Some(act) = todo.pop_front() {
            match act {
                Action::Watch(key, side, mask) => {
                    if self.watch(key, side, mask) {
                        // What changed before the watch existed has no event: look again.
                        let name = self.scanner.name(key).map(Path::new).and_then(observe);
                        if let Some(e) = name.filter(|e| !e.hidden) {
                            let more = self.scanner.observe(&e, Instant::now());
                            todo.extend(more);
                        }
                    }
                }
                Action::Unwatch(key, side) => {
                    if let Some(wd) = self.watched.remove(&(key, side)) {
                        self.watches.remove(&wd);
                        let _ = inotify::remove_watch(&self.inot, wd);
                    }
                }
                Action::Spawn { key, side, piped } => {
                    let outcome = self.spawn(key, side, piped);
                    let more = self.scanner.spawned(key, side, outcome, Instant::now());
                    // Depth first: what the spawn result asks for comes next.
                    for a in more.into_iter().rev() {
                        todo.push_front(a);
                    }
                }
                Action::Signal { pid, sig } if self.is_unit(pid) => {
                    let more = self.signal_unit(pid, sig);
                    for a in more.into_iter().rev() {
                        todo.push_front(a);
                    }
                }
                Action::Signal { pid, sig } => {
                    let sig = match sig {
                        Sig::Term => Signal::TERM,
                        Sig::Hup => Signal::HUP,
                        Sig::Kill => Signal::KILL,
                    };
                    if let Some(p) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
                        let _ = rustix::process::kill_process(p, sig);
                    }
                }
                Action::KillDaemon(key, side) => self.kill_daemon(key, side),
                Action::Orphan(key, side) => {
                    let pid = self.stop_orphan(key, side);
                    let more = self.scanner.orphan(key, side, pid, Instant::now());
                    for a in more.into_iter().rev() {
                        todo.push_front(a);
                    }
                }
                Action::ClosePipeWrite(key) => {
                    if let Some(p) = self.pipes.get_mut(&key) {
                        p.1 = None;
                    }
                }
                Action::ClosePipe(key) => {
                    if let Some((Some(r), _)) = self.pipes.remove(&key) {
                        if let Some(h) = &self.holder {
                            h.release(r.as_raw_fd());
                        }
                    }
                }
                Action::Rescan => self.rescan = true,
                Action::Say(Level::Info, msg) => say(PROG, "info", msg),
                Action::Say(Level::Warning, msg) => warn(PROG, msg),
            }
        }
    }

    /// The path of a service's side, relative to the scan dir.
    fn path(&self, key: Key, side: Side) -> Option<PathBuf> {
        let name = Path::new(self.scanner.name(key)?);
        Some(match side {
            Side::Main => name.to_path_buf(),
            Side::Log => name.join("log"),
        })
    }

    /// Adds an inotify watch; whether it was added.
    fn watch(&mut self, key: Key, side: Side, mask: Mask) -> bool {
        let Some(path) = self.path(key, side) else {
            return false;
        };
        let mask = match mask {
            Mask::Full => {
                WatchFlags::CREATE
                    | WatchFlags::MOVED_TO
                    | WatchFlags::ATTRIB
                    | WatchFlags::CLOSE_WRITE
                    | WatchFlags::ONLYDIR
            }
            Mask::NewEntries => WatchFlags::CREATE | WatchFlags::MOVED_TO | WatchFlags::ONLYDIR,
        };
        match inotify::add_watch(&self.inot, &path, mask) {
            Ok(wd) => {
                self.watches.insert(wd, (key, side));
                self.watched.insert((key, side), wd);
                true
            }
            // Gone already: the scan dir's own events tell the rest.
            Err(Errno::NOENT | Errno::NOTDIR) => false,
            Err(errno) => {
                warn(
                    PROG,
                    format_args!(
                    "unable to watch {} with inotify (changes there are seen only on SIGHUP): {}",
                        path.to_string_lossy(),
                        tend_core::error::describe(errno)
                    ),
                );
                false
            }
        }
    }

    /// Whether `pid` is a unit's id (flat mode).
    fn is_unit(&self, pid: u32) -> bool {
        self.flat
            .as_ref()
            .is_some_and(|f| f.units.contains_key(&pid))
    }

    /// Tells a unit what the scanner would signal to a supervisor: TERM (bring the service
    /// down, then end), HUP (end once it is down), KILL (its processes are killed, and it
    /// ends now). Returns the scanner's answer when the unit ended.
    fn signal_unit(&mut self, id: u32, sig: Sig) -> Vec<Action> {
        let Some(unit) = self.flat.as_mut().and_then(|f| f.units.get_mut(&id)) else {
            return Vec::new();
        };
        let exit = match sig {
            Sig::Term => {
                unit.event(tend_core::supervisor::Event::Term);
                unit.settle();
                Exit::Code(0)
            }
            Sig::Hup => {
                unit.event(tend_core::supervisor::Event::Hup);
                unit.settle();
                Exit::Code(0)
            }
            Sig::Kill => {
                unit.kill();
                Exit::Signal(libc::SIGKILL)
            }
        };
        if sig != Sig::Kill && !unit.exited() {
            return Vec::new();
        }
        self.end_unit(id, exit)
    }

    /// Drops a unit that ended (closing its supervise dir and lock) and tells the scanner.
    fn end_unit(&mut self, id: u32, exit: Exit) -> Vec<Action> {
        if let Some(flat) = &mut self.flat {
            flat.units.remove(&id);
            flat.touched.remove(&id);
        }
        self.scanner.child_exited(id, exit, Instant::now())
    }

    /// Settles the units that were touched or whose deadline passed; ends those that are
    /// done.
    fn settle_units(&mut self) {
        let Some(flat) = &mut self.flat else {
            return;
        };
        let now = Instant::now();
        let mut ended = Vec::new();
        for (&id, unit) in flat.units.iter_mut() {
            if flat.touched.contains(&id) || unit.deadline().is_some_and(|d| d <= now) {
                unit.settle();
                if unit.exited() {
                    ended.push(id);
                }
            }
        }
        flat.touched.clear();
        for id in ended {
            let acts = self.end_unit(id, Exit::Code(0));
            self.perform(acts);
        }
    }

    /// Starts what stands for the supervisor of a service's side: `tend-supervise PATH`,
    /// or in flat mode a unit. Returns its pid (a unit's id) or why it could not start.
    fn spawn(&mut self, key: Key, side: Side, piped: bool) -> Result<u32, String> {
        if self.flat.is_some() {
            return self.spawn_unit(key, side, piped);
        }
        let path = self.path(key, side).ok_or("unknown service")?;
        let mut cmd = Command::new(&self.supervise);
        cmd.arg0("tend-supervise")
            .arg(&path)
            .stdin(Stdio::null())
            .process_group(0);
        if piped {
            let (rd, wr) = self.pipe(key)?;
            match side {
                Side::Main => cmd.stdout(Stdio::from(wr)),
                Side::Log => cmd.stdin(Stdio::from(rd)),
            };
        }
        let child = cmd.spawn().map_err(|e| {
            let errno = Errno::from_io_error(&e).unwrap_or(Errno::IO);
            format!(
                "{}: {}",
                self.supervise.display(),
                tend_core::error::describe(errno)
            )
        })?;
        // cmd's copies of the pipe ends close when it drops; we keep ours in `pipes`.
        Ok(child.id())
    }

    /// Takes charge of a service's side in this process (flat mode): a unit on the
    /// service dir (or its log/), with the pipe as stdout (`Main`) or stdin (`Log`).
    fn spawn_unit(&mut self, key: Key, side: Side, piped: bool) -> Result<u32, String> {
        let path = self.path(key, side).ok_or("unknown service")?;
        let shown = path.to_string_lossy().into_owned();
        let dir = tend_core::svdir::open_dir(&path).map_err(|errno| {
            format!(
                "unable to open {shown}: {}",
                tend_core::error::describe(errno)
            )
        })?;
        let pipe = match piped {
            true => Some(self.pipe_ends(key)?),
            false => None,
        };
        let flat = self.flat.as_mut().ok_or("not in flat mode")?;
        let stdio = match (side, pipe) {
            (Side::Main, p) => tend::unit::Stdio {
                stdin: Some(flat.null.clone()),
                stdout: p.map(|(_, w)| w),
            },
            (Side::Log, p) => tend::unit::Stdio {
                stdin: p.map(|(r, _)| r),
                stdout: None,
            },
        };
        let prog = format!("{PROG} {shown}");
        let unit =
            Unit::open(prog, dir, &shown, stdio, flat.spare.clone()).map_err(|e| e.to_string())?;
        let id = flat.next_id;
        flat.next_id = flat.next_id.wrapping_add(1).max(FIRST_UNIT_ID);
        flat.units.insert(id, unit);
        Ok(id)
    }

    /// Fresh duplicates of both ends of the service's pipe, creating it if needed.
    fn pipe(&mut self, key: Key) -> Result<(OwnedFd, OwnedFd), String> {
        let (r, w) = self.pipe_ends(key)?;
        let dup = |fd: &OwnedFd| -> Result<OwnedFd, String> {
            rustix::io::fcntl_dupfd_cloexec(fd, 0)
                .ctx(|| "duplicate a pipe end".into())
                .map_err(|e| e.to_string())
        };
        Ok((dup(&r)?, dup(&w)?))
    }

    /// Both ends of the service's pipe, creating it if needed: in flat mode, the pipe a
    /// killed tend-scan -F left between the service and its logger, if they still run.
    fn pipe_ends(&mut self, key: Key) -> Result<(Rc<OwnedFd>, Rc<OwnedFd>), String> {
        if !self.pipes.contains_key(&key) {
            let found = self.flat.as_ref().and_then(|_| self.recover_pipe(key));
            let (r, w) = match found {
                Some(ends) => ends,
                None => rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
                    .ctx(|| "create a pipe".into())
                    .map_err(|e| e.to_string())?,
            };
            if let Some(h) = &self.holder {
                h.hold(r.as_raw_fd());
            }
            self.pipes.insert(key, (Some(Rc::new(r)), Some(Rc::new(w))));
        }
        match self.pipes.get(&key) {
            Some((Some(r), Some(w))) => Ok((r.clone(), w.clone())),
            _ => Err("pipe already closed".into()),
        }
    }

    /// The pipe between a service and its logger that a killed tend-scan -F left: the
    /// stdin of the logger (or the stdout of the daemon) it recorded as running, opened
    /// again through /proc, so that a restarted daemon writes where the adopted logger
    /// reads. Both ends are blocking, as a fresh pipe's are.
    fn recover_pipe(&self, key: Key) -> Option<(OwnedFd, OwnedFd)> {
        use rustix::fs::{Mode, OFlags};
        for (side, fd) in [(Side::Log, 0), (Side::Main, 1)] {
            let Some(pid) = self.path(key, side).and_then(|p| recorded_process(&p)) else {
                continue;
            };
            let proc = format!("/proc/{pid}/fd/{fd}");
            let fifo = rustix::fs::stat(proc.as_str())
                .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Fifo);
            if !fifo {
                continue;
            }
            // The read end first: a pipe opened for writing needs a reader.
            let flags = OFlags::NONBLOCK | OFlags::CLOEXEC;
            let Ok(r) = rustix::fs::open(proc.as_str(), OFlags::RDONLY | flags, Mode::empty())
            else {
                continue;
            };
            let Ok(w) = rustix::fs::open(proc.as_str(), OFlags::WRONLY | flags, Mode::empty())
            else {
                continue;
            };
            let blocking = |fd: &OwnedFd| rustix::fs::fcntl_setfl(fd, OFlags::empty()).is_ok();
            if blocking(&r) && blocking(&w) {
                return Some((r, w));
            }
        }
        None
    }

    /// Finds the daemon (or logger) a killed supervisor left running, as the supervisor's
    /// status and info files describe it, checked against the process's start time and
    /// session so that a reused pid is never taken for it. A daemon gets its down signal
    /// and SIGCONT; a logger is left to read its pipe to the end. Only a subreaper (or
    /// process 1) can wait for such a process, so without that nothing is looked for.
    fn stop_orphan(&self, key: Key, side: Side) -> Option<u32> {
        if !self.subreaper {
            return None;
        }
        let path = self.path(key, side)?;
        let found = recorded_process(&path)?;
        let pid = i32::try_from(found).ok().and_then(Pid::from_raw)?;
        if side == Side::Main {
            let (settings, _) = tend_core::svdir::Settings::read(&path);
            let _ = rustix::process::kill_process(pid, settings.down_signal);
            let _ = rustix::process::kill_process(pid, Signal::CONT);
        }
        Some(found)
    }

    /// SIGKILLs the session of the daemon a supervisor left in its status file.
    fn kill_daemon(&self, key: Key, side: Side) {
        let Some(path) = self.path(key, side) else {
            return;
        };
        let Ok(st) = tend_core::control::read_status(&path) else {
            return;
        };
        let Some(pid) = i32::try_from(st.pid).ok().and_then(Pid::from_raw) else {
            return;
        };
        let _ = rustix::process::kill_process_group(pid, Signal::KILL);
        let _ = rustix::process::kill_process(pid, Signal::KILL);
    }
}

/// The process that the supervise files of service dir `path` say runs, if it still
/// does: the same start time and still its own session, so a reused pid is never taken
/// for it.
fn recorded_process(path: &Path) -> Option<u32> {
    let st = tend_core::control::read_status(path).ok()?;
    if st.state != RunState::Run || st.pid == 0 {
        return None;
    }
    let info = tend_core::control::read_info(path)?;
    let ps = tend_core::procstat::read(st.pid)?;
    if info.pstart != Some(ps.start) || ps.session != st.pid || ps.zombie {
        return None;
    }
    Some(st.pid)
}

/// Mask of the scan dir's watch: entries appearing, disappearing, changing.
fn scan_dir_mask() -> WatchFlags {
    WatchFlags::CREATE
        | WatchFlags::DELETE
        | WatchFlags::MOVED_FROM
        | WatchFlags::MOVED_TO
        | WatchFlags::ATTRIB
        | WatchFlags::ONLYDIR
}

/// Every subdirectory of the scan dir (the cwd), dot-names included.
fn read_scan_dir() -> Result<Vec<Entry>, Error> {
    let rd = std::fs::read_dir(".").ctx(|| "read the scan dir".into())?;
    let mut out = Vec::new();
    for ent in rd {
        let ent = ent.ctx(|| "read the scan dir".into())?;
        if let Some(e) = observe(Path::new(&ent.file_name())) {
            out.push(e);
        }
    }
    Ok(out)
}

/// What the entry `name` of the scan dir is now; `None` if it is not a directory.
fn observe(name: &Path) -> Option<Entry> {
    let st = rustix::fs::stat(name).ok()?;
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return None;
    }
    let key: Key = (st.st_dev, st.st_ino);
    let text = name.as_os_str();
    if name
        .file_name()
        .is_some_and(|f| f.as_bytes().starts_with(b"."))
    {
        return Some(Entry {
            name: text.to_owned(),
            key,
            hidden: true,
            run: false,
            log: LogDir::Absent,
        });
    }
    let log = match rustix::fs::stat(name.join("log")) {
        Ok(l) if is_dir(&l) => {
            if executable(&name.join("log/run")) {
                LogDir::Ready
            } else {
                LogDir::Incomplete
            }
        }
        Ok(_) | Err(_) => LogDir::Absent,
    };
    Some(Entry {
        name: text.to_owned(),
        key,
        hidden: false,
        run: executable(&name.join("run")),
        log,
    })
}

fn is_dir(st: &Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::Directory
}

/// Whether `path` is a regular file with an execute bit.
fn executable(path: &Path) -> bool {
    rustix::fs::stat(path).is_ok_and(|st| {
        FileType::from_raw_mode(st.st_mode) == FileType::RegularFile && st.st_mode & 0o111 != 0
    })
}

/// `tend-supervise` next to this program (the link an installation makes) if it is there,
/// else this very executable (which is every program, run as `tend-supervise` by name);
/// from PATH only if neither can be found.
fn supervisor_program() -> PathBuf {
    let Ok(exe) = std::env::current_exe() else {
        return PathBuf::from("tend-supervise");
    };
    exe.parent()
        .map(|d| d.join("tend-supervise"))
        .filter(|p| executable(p))
        .unwrap_or(exe)
}

/// Raises the soft limit on open files to the hard limit: two fds per logged service.
fn raise_fd_limit() {
    let lim = rustix::process::getrlimit(Resource::Nofile);
    if lim.current != lim.maximum {
        let _ = rustix::process::setrlimit(
            Resource::Nofile,
            rustix::process::Rlimit {
                current: lim.maximum,
                maximum: lim.maximum,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Result<Args, String> {
        parse_args(v.iter().map(OsString::from)).map_err(|e| e.to_string())
    }

    #[test]
    fn parses_arguments() {
        assert_eq!(
            args(&["-t", "2s", "/srv"]),
            Ok(Args {
                dir: "/srv".into(),
                timeout: Duration::from_secs(2),
                flat: false,
            })
        );
        assert_eq!(args(&["/srv"]).map(|a| a.timeout), Ok(DEFAULT_TIMEOUT));
        assert_eq!(
            args(&["-t500ms", "x"]).map(|a| a.timeout),
            Ok(Duration::from_millis(500))
        );
        assert_eq!(args(&["-F", "x"]).map(|a| a.flat), Ok(true));
        assert_eq!(args(&["--flat"]).map(|a| a.flat), Ok(true));
        assert!(args(&["-t", "soon", "x"]).is_err());
        assert!(args(&["a", "b"]).is_err());
        assert!(args(&["-x"]).is_err());
    }

    #[test]
    fn observes_what_makes_a_service() {
        use std::os::unix::fs::PermissionsExt;
        let d = std::env::temp_dir().join(format!("tend-scan-observe-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let exec = |p: &Path, mode: u32| {
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        exec(&d.join("web/run"), 0o755);
        exec(&d.join("half/run"), 0o644);
        exec(&d.join("logged/run"), 0o755);
        exec(&d.join("logged/log/run"), 0o700);
        exec(&d.join("waiting/run"), 0o755);
        std::fs::create_dir_all(d.join("waiting/log")).unwrap();
        exec(&d.join("nolog/run"), 0o755);
        std::fs::write(d.join("nolog/log"), "").unwrap();
        std::fs::create_dir_all(d.join(".tmp")).unwrap();
        std::fs::create_dir_all(d.join("runisdir/run")).unwrap();
        std::fs::write(d.join("file"), "").unwrap();
        std::os::unix::fs::symlink(d.join("web"), d.join("link")).unwrap();
        let look = |name: &str| observe(&d.join(name)).map(|e| (e.hidden, e.run, e.log));
        assert_eq!(look("web"), Some((false, true, LogDir::Absent)));
        assert_eq!(look("half"), Some((false, false, LogDir::Absent)));
        assert_eq!(look("logged"), Some((false, true, LogDir::Ready)));
        assert_eq!(look("waiting"), Some((false, true, LogDir::Incomplete)));
        assert_eq!(look("nolog"), Some((false, true, LogDir::Absent)));
        assert_eq!(look(".tmp").map(|e| e.0), Some(true));
        assert_eq!(look("runisdir"), Some((false, false, LogDir::Absent)));
        assert_eq!(look("file"), None);
        assert_eq!(look("missing"), None);
        let (web, link) = (
            observe(&d.join("web")).unwrap(),
            observe(&d.join("link")).unwrap(),
        );
        assert_eq!(web.key, link.key, "a symlink is the dir it points to");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
