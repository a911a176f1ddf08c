//! The scanner's policy: which supervisors tend-scan runs for the service dirs of a scan
//! dir, when it starts, restarts and ends them, and what becomes of the log pipes.
//!
//! Deciding is pure: tend-scan's loop feeds in what it saw (directory entries, child
//! exits, spawn results, the clock) and performs the [`Action`]s it gets back. Services are
//! keyed by the device and inode of their directory, so a rename changes only the name.
//!
//! A service goes through three phases: `Pending` (seen, but `run` or `log/run` is not
//! executable yet: watched, nothing started), `Active` (its supervisors are kept running),
//! `Stopping` (its dir is gone, or tend-scan is shutting down: the main supervisor is
//! ended, then the scanner's write end of the pipe is closed and the log supervisor told
//! to exit once its logger has read everything). Each of the two supervisors of a service
//! is a [`Slot`] driven towards a [`Goal`] by [`drive`], the transition table.
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::time::{Duration, Instant};

/// Identity of a service dir: device and inode number of the directory.
pub type Key = (u64, u64);

/// Least time between two starts of the same supervisor.
pub const RESTART_DELAY: Duration = Duration::from_secs(1);
/// A supervisor that ends sooner than this after its start died quickly: the next wait
/// doubles (a supervisor that cannot take its lock must not spin, nor flood the log).
pub const QUICK_DEATH: Duration = Duration::from_secs(10);
/// The longest wait between two starts of a supervisor that keeps dying quickly.
pub const MAX_RESTART_DELAY: Duration = Duration::from_secs(10);
/// Time before a supervisor that could not be spawned is tried again.
pub const SPAWN_RETRY: Duration = Duration::from_secs(5);
/// A process SIGKILLed this long ago and still not reaped is not waited for any more (it
/// was not the scanner's child after all), so that a shutdown always ends.
pub const GIVE_UP: Duration = Duration::from_secs(1);
/// A warning about the same supervisor is repeated at most this often.
pub const WARN_EVERY: Duration = Duration::from_secs(60);

/// What a service dir's `log` entry is, as far as the scanner cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogDir {
    /// No `log` directory (absent, or a regular file: no logger wanted).
    Absent,
    /// A `log` directory whose `run` is not (yet) an executable file.
    Incomplete,
    /// A `log` directory with an executable `run`.
    Ready,
}

/// One subdirectory of the scan dir, as the scanner saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its name in the scan dir.
    pub name: OsString,
    /// Device and inode of the directory (after following a symlink).
    pub key: Key,
    /// The name starts with a dot: not a service (a dir being prepared, or one retired).
    pub hidden: bool,
    /// `run` is an executable regular file.
    pub run: bool,
    /// The state of `log/`.
    pub log: LogDir,
}

impl Entry {
    /// A visible entry; for tests and for the loop.
    pub fn new(name: &str, key: Key, run: bool, log: LogDir) -> Entry {
        Entry {
            name: name.into(),
            key,
            hidden: name.starts_with('.'),
            run,
            log,
        }
    }

    /// Whether everything needed to start the service is in place.
    fn complete(&self) -> bool {
        self.run && self.log != LogDir::Incomplete
    }
}

/// What a watch on a service dir (or its `log/`) must report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mask {
    /// Entries created, renamed in, written, chmodded: `run` may become executable.
    Full,
    /// Entries created or renamed in: only a late `log/` matters.
    NewEntries,
}

/// Which of a service's two supervisors: `tend-supervise NAME` or `tend-supervise NAME/log`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The supervisor of the service itself.
    Main,
    /// The supervisor of its logger.
    Log,
}

/// The signals the scanner sends to supervisors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sig {
    /// Bring the service down, then exit.
    Term,
    /// Exit once the service is down, without bringing it down.
    Hup,
    /// Die now (the global deadline).
    Kill,
}

/// Severity of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Something worth knowing happened as intended.
    Info,
    /// Something went wrong and is being dealt with.
    Warning,
}

/// What the loop must do. Every action names the service by key; the loop asks
/// [`Scanner::name`] for its current name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Watch the service dir (`Main`) or its `log/` (`Log`) with inotify, or change what
    /// an existing watch reports.
    Watch(Key, Side, Mask),
    /// Remove that watch.
    Unwatch(Key, Side),
    /// Start `tend-supervise NAME` (or `NAME/log`); `piped`: with the service's pipe
    /// (created on first use) as stdout (`Main`) or stdin (`Log`). The loop must report the
    /// outcome with [`Scanner::spawned`] before anything else.
    Spawn {
        /// The service.
        key: Key,
        /// Which supervisor.
        side: Side,
        /// Whether to plumb the pipe.
        piped: bool,
    },
    /// Send a signal to a supervisor.
    Signal {
        /// The supervisor's pid.
        pid: u32,
        /// The signal.
        sig: Sig,
    },
    /// SIGKILL the session of the daemon whose pid the supervisor left in its status file.
    KillDaemon(Key, Side),
    /// The supervisor was killed: find the daemon (`Main`) or logger (`Log`) it left
    /// running, from its status file, checked against the process's start time and
    /// session; send a daemon its down signal and SIGCONT (a logger is left to read to the
    /// end of the pipe). The loop must report the pid, if any, with [`Scanner::orphan`].
    Orphan(Key, Side),
    /// Close the scanner's write end of the service's pipe, so the logger can read EOF.
    ClosePipeWrite(Key),
    /// Close what is left of the service's pipe.
    ClosePipe(Key),
    /// Read the whole scan dir again: incremental observations were not enough.
    Rescan,
    /// Print a message.
    Say(Level, String),
}

/// How a supervisor ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// It was killed by this signal.
    Signal(i32),
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exit code {c}"),
            Exit::Signal(s) => write!(f, "killed by signal {s}"),
        }
    }
}

/// Where one supervisor is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Run {
    /// Not running; may be started from `at` on.
    Idle {
        /// Earliest start.
        at: Instant,
    },
    /// A spawn was requested and its outcome is not known yet.
    Starting,
    /// Running.
    Running {
        /// Its pid.
        pid: u32,
    },
    /// Asked to exit; still running.
    Ending {
        /// Its pid.
        pid: u32,
        /// The signal it was sent.
        sig: Sig,
        /// Already sent SIGKILL (with its daemon) at the deadline.
        killed: bool,
    },
    /// Ended for good.
    Done,
}

/// What the scanner wants of one supervisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Goal {
    /// Not wanted and never started (the log side of an unlogged service; pending services).
    Unused,
    /// Keep it running: start it when due, restart it when it dies.
    Run,
    /// It runs without the pipe that now exists: ask it to exit (HUP, the service keeps
    /// running until it next dies) and start it again on the pipe.
    Replumb,
    /// Leave a running one alone; do not start one.
    Hold,
    /// End it with this signal, SIGKILL it (and its daemon) at the deadline.
    End {
        /// The signal that asks it to exit.
        sig: Sig,
        /// Its supervisor was killed by a signal and may have left its daemon (or logger)
        /// running: find that process and see it end too.
        orphan: bool,
    },
}

/// What [`drive`] asks for, besides the new state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Spawn the supervisor.
    Spawn,
    /// Send it a signal.
    Send(u32, Sig),
    /// SIGKILL it and its daemon's session.
    Kill(u32),
    /// Look for the process its dead supervisor left behind.
    Orphan,
}

/// The transition table of one supervisor: given what is wanted, where it is, the clock
/// and the kill deadline, where it goes next and what to do. Pure.
pub fn drive(goal: Goal, run: Run, now: Instant, kill_at: Option<Instant>) -> (Run, Option<Step>) {
    let due = |at: Instant| at <= now;
    let kill_due = kill_at.is_some_and(due);
    let give_up = kill_at
        .and_then(|k| k.checked_add(GIVE_UP))
        .is_some_and(due);
    match (goal, run) {
        (Goal::Unused, r) => (r, None),
        (Goal::Run | Goal::Replumb, Run::Idle { at }) if due(at) => {
            (Run::Starting, Some(Step::Spawn))
        }
        (Goal::Run | Goal::Replumb, r @ Run::Idle { .. }) => (r, None),
        (Goal::Run, r @ (Run::Starting | Run::Running { .. } | Run::Ending { .. } | Run::Done)) => {
            (r, None)
        }
        (Goal::Replumb, Run::Running { pid }) => (
            Run::Ending {
                pid,
                sig: Sig::Hup,
                killed: false,
            },
            Some(Step::Send(pid, Sig::Hup)),
        ),
        (Goal::Replumb, r @ (Run::Starting | Run::Ending { .. } | Run::Done)) => (r, None),
        (
            Goal::Hold,
            r @ (Run::Idle { .. }
            | Run::Starting
            | Run::Running { .. }
            | Run::Ending { .. }
            | Run::Done),
        ) => (r, None),
        (Goal::End { orphan: true, .. }, Run::Idle { .. }) => (Run::Starting, Some(Step::Orphan)),
        (Goal::End { orphan: false, .. }, Run::Idle { .. }) => (Run::Done, None),
        (Goal::End { sig, .. }, Run::Running { pid }) => (
            Run::Ending {
                pid,
                sig,
                killed: false,
            },
            Some(Step::Send(pid, sig)),
        ),
        (
            Goal::End { .. },
            Run::Ending {
                pid,
                sig,
                killed: false,
            },
        ) if kill_due => (
            Run::Ending {
                pid,
                sig,
                killed: true,
            },
            Some(Step::Kill(pid)),
        ),
        (Goal::End { .. }, Run::Ending { killed: true, .. }) if give_up => (Run::Done, None),
        // Told to exit for another reason (HUP to re-plumb): now it must go down.
        (
            Goal::End { sig, .. },
            Run::Ending {
                pid,
                sig: sent,
                killed: false,
            },
        ) if sent != sig => (
            Run::Ending {
                pid,
                sig,
                killed: false,
            },
            Some(Step::Send(pid, sig)),
        ),
        (Goal::End { .. }, r @ (Run::Starting | Run::Ending { .. } | Run::Done)) => (r, None),
    }
}

/// When [`drive`] will next have something to do for this supervisor, if ever. Whenever
/// the result is not in the future, `drive` changes the state.
pub fn wakeup(goal: Goal, run: Run, kill_at: Option<Instant>) -> Option<Instant> {
    match (goal, run) {
        (Goal::Run | Goal::Replumb, Run::Idle { at }) => Some(at),
        (Goal::End { .. }, Run::Ending { killed: false, .. }) => kill_at,
        (Goal::End { .. }, Run::Ending { killed: true, .. }) => {
            kill_at.and_then(|k| k.checked_add(GIVE_UP))
        }
        (
            Goal::Unused | Goal::Run | Goal::Replumb | Goal::Hold | Goal::End { .. },
            Run::Idle { .. } | Run::Starting | Run::Running { .. } | Run::Ending { .. } | Run::Done,
        ) => None,
    }
}

/// One supervisor of a service, with its history.
#[derive(Clone, Debug)]
pub struct Slot {
    /// Where it is.
    pub run: Run,
    /// When it was last started.
    last_start: Option<Instant>,
    /// When a warning about it was last printed.
    last_warn: Option<Instant>,
    /// Its last end was by a signal: its daemon may still be running, unsupervised.
    orphan_risk: bool,
    /// The process its supervisor left behind was looked for (once per service).
    orphan_checked: bool,
    /// Its deaths in a row: the last one, plus those before it that came soon after a
    /// start.
    quick_deaths: u32,
    /// It was started with the pipe (`Main`: as stdout).
    piped: bool,
}

impl Slot {
    fn new(now: Instant) -> Slot {
        Slot {
            run: Run::Idle { at: now },
            last_start: None,
            last_warn: None,
            orphan_risk: false,
            orphan_checked: false,
            quick_deaths: 0,
            piped: false,
        }
    }

    /// The earliest next start: [`RESTART_DELAY`] after the last one, doubled for each
    /// further quick death in a row, up to [`MAX_RESTART_DELAY`].
    fn next_start(&self, now: Instant) -> Instant {
        let doublings = self.quick_deaths.saturating_sub(1).min(8);
        let delay = RESTART_DELAY
            .saturating_mul(1 << doublings)
            .min(MAX_RESTART_DELAY);
        self.last_start
            .and_then(|t| t.checked_add(delay))
            .map_or(now, |t| t.max(now))
    }

    /// Whether a warning may be printed now, and if so, records it.
    fn may_warn(&mut self, now: Instant) -> bool {
        let ok = match self.last_warn {
            None => true,
            Some(t) => now
                .checked_duration_since(t)
                .is_some_and(|d| d >= WARN_EVERY),
        };
        if ok {
            self.last_warn = Some(now);
        }
        ok
    }
}

/// Why a service is being stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// Its directory disappeared from the scan dir.
    Removed,
    /// Its directory was renamed to a dot-name.
    Hidden,
    /// tend-scan is shutting down.
    Shutdown,
}

/// Where a service is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Seen, but `run` (or `log/run`) is not executable yet.
    Pending,
    /// Its supervisors are kept running.
    Active,
    /// Being stopped.
    Stopping {
        /// Why.
        why: Why,
        /// SIGKILL for the main supervisor and its daemon from then on.
        main_kill: Instant,
        /// SIGKILL for the logger's side, set once its input was closed.
        log_kill: Option<Instant>,
    },
}

/// A service dir the scanner knows.
#[derive(Clone, Debug)]
pub struct Service {
    /// Its current name in the scan dir.
    pub name: OsString,
    /// Its phase.
    pub phase: Phase,
    /// A pipe joins the service and its logger (decided once, when `log/` was ready).
    pub logged: bool,
    /// The scanner still holds the pipe's write end.
    write_open: bool,
    /// The inotify watch on the service dir, if any.
    main_watch: Option<Mask>,
    /// An inotify watch on `log/` is wanted (it exists but is not complete).
    watching_log: bool,
    /// Its dir was seen again (renamed back) while it was stopping: rescan once it stopped.
    back: bool,
    /// `tend-supervise NAME`.
    pub main: Slot,
    /// `tend-supervise NAME/log`.
    pub log: Slot,
}

impl Service {
    fn show(&self, side: Side) -> String {
        let name = self.name.to_string_lossy();
        match side {
            Side::Main => name.into_owned(),
            Side::Log => format!("{name}/log"),
        }
    }

    fn slot(&mut self, side: Side) -> &mut Slot {
        match side {
            Side::Main => &mut self.main,
            Side::Log => &mut self.log,
        }
    }

    /// What is wanted of each supervisor in the current phase.
    fn goals(&self) -> (Goal, Goal) {
        match &self.phase {
            Phase::Pending => (Goal::Unused, Goal::Unused),
            Phase::Active => {
                let main = if self.logged && !self.main.piped {
                    Goal::Replumb
                } else {
                    Goal::Run
                };
                let log = if self.logged { Goal::Run } else { Goal::Unused };
                (main, log)
            }
            Phase::Stopping { .. } => {
                let main = Goal::End {
                    sig: Sig::Term,
                    orphan: self.main.orphan_risk && !self.main.orphan_checked,
                };
                let log = if !self.logged {
                    Goal::Unused
                } else if self.write_open {
                    Goal::Hold
                } else {
                    Goal::End {
                        sig: Sig::Hup,
                        orphan: self.log.orphan_risk && !self.log.orphan_checked,
                    }
                };
                (main, log)
            }
        }
    }

    fn kill_at(&self, side: Side) -> Option<Instant> {
        match (&self.phase, side) {
            (Phase::Stopping { main_kill, .. }, Side::Main) => Some(*main_kill),
            (Phase::Stopping { log_kill, .. }, Side::Log) => *log_kill,
            (Phase::Pending | Phase::Active, Side::Main | Side::Log) => None,
        }
    }

    fn wakeup(&self) -> Option<Instant> {
        let (gm, gl) = self.goals();
        let m = wakeup(gm, self.main.run, self.kill_at(Side::Main));
        let l = wakeup(gl, self.log.run, self.kill_at(Side::Log));
        match (m, l) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The scanner: every service of the scan dir and the supervisors that run for them.
#[derive(Debug)]
pub struct Scanner {
    services: HashMap<Key, Service>,
    pids: HashMap<u32, (Key, Side)>,
    /// How long services get to stop before SIGKILL; loggers get as long again.
    timeout: Duration,
    shutting_down: bool,
}

impl Scanner {
    /// A scanner that gives stopping services `timeout` before SIGKILL (and their loggers
    /// as long again after their input closed).
    pub fn new(timeout: Duration) -> Scanner {
        Scanner {
            services: HashMap::new(),
            pids: HashMap::new(),
            timeout,
            shutting_down: false,
        }
    }

    /// The current name of a service.
    pub fn name(&self, key: Key) -> Option<&OsStr> {
        self.services.get(&key).map(|s| s.name.as_os_str())
    }

    /// A service, for inspection.
    pub fn service(&self, key: Key) -> Option<&Service> {
        self.services.get(&key)
    }

    /// The key of the service currently called `name`, if any.
    pub fn key_of(&self, name: &OsStr) -> Option<Key> {
        self.services
            .iter()
            .find(|(_, s)| s.name == name)
            .map(|(k, _)| *k)
    }

    /// How many services are known (in any phase).
    pub fn len(&self) -> usize {
        self.services.len()
    }

    /// Whether no service is known.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }

    /// Whether tend-scan may exit: shutting down and every service stopped.
    pub fn done(&self) -> bool {
        self.shutting_down && self.services.is_empty()
    }

    /// The nearest time at which [`Scanner::timeout`] has something to do.
    pub fn deadline(&self) -> Option<Instant> {
        self.services.values().filter_map(Service::wakeup).min()
    }

    /// The clock reached a deadline: act on every service that has something due.
    pub fn timeout(&mut self, now: Instant) -> Vec<Action> {
        let due: Vec<Key> = self
            .services
            .iter()
            .filter(|(_, s)| s.wakeup().is_some_and(|t| t <= now))
            .map(|(k, _)| *k)
            .collect();
        let mut out = Vec::new();
        for key in due {
            self.settle(key, now, &mut out);
        }
        out
    }

    /// A full scan of the scan dir: every entry, dot-names included (`hidden`). Services
    /// whose directory is not among the visible entries are stopped.
    pub fn scan(&mut self, entries: &[Entry], now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if self.shutting_down {
            return out;
        }
        let mut seen: HashMap<Key, &Entry> = HashMap::new();
        for e in entries {
            // The first visible name wins when two names lead to one dir (symlinks).
            match seen.get(&e.key) {
                Some(prev) if !prev.hidden => {}
                _ => {
                    seen.insert(e.key, e);
                }
            }
        }
        let known: Vec<Key> = self.services.keys().copied().collect();
        for key in known {
            match seen.get(&key) {
                Some(e) if !e.hidden => {}
                Some(e) => {
                    let e = (*e).clone();
                    self.retire(key, Why::Hidden, Some(e.name), now, &mut out);
                }
                None => self.retire(key, Why::Removed, None, now, &mut out),
            }
        }
        for e in seen.values().filter(|e| !e.hidden) {
            self.see(e, now, &mut out);
        }
        out
    }

    /// An observation of one visible entry (after an inotify event). If it contradicts what
    /// the scanner knows (another service held that name), the answer asks for a rescan.
    pub fn observe(&mut self, entry: &Entry, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if self.shutting_down || entry.hidden {
            return out;
        }
        if !self.services.contains_key(&entry.key) && self.key_of(&entry.name).is_some() {
            out.push(Action::Rescan);
            return out;
        }
        self.see(entry, now, &mut out);
        out
    }

    /// Whether the disappearance of `name` (deleted, renamed, hidden) matters, i.e. a
    /// service has that name: the loop then rescans, since only a full scan tells a rename
    /// from a removal.
    pub fn vanished(&self, name: &OsStr) -> bool {
        self.key_of(name).is_some()
    }

    /// The outcome of a [`Action::Spawn`].
    pub fn spawned(
        &mut self,
        key: Key,
        side: Side,
        outcome: Result<u32, String>,
        now: Instant,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        let Some(svc) = self.services.get_mut(&key) else {
            return out;
        };
        let stopping = matches!(svc.phase, Phase::Stopping { .. });
        let logged = svc.logged;
        let shown = svc.show(side);
        let slot = svc.slot(side);
        if slot.run != Run::Starting {
            return out;
        }
        match outcome {
            Ok(pid) => {
                slot.run = Run::Running { pid };
                slot.last_start = Some(now);
                slot.orphan_risk = false;
                slot.piped = logged;
                self.pids.insert(pid, (key, side));
            }
            Err(why) if stopping => {
                slot.run = Run::Done;
                out.push(Action::Say(
                    Level::Warning,
                    format!("unable to start supervisor for {shown}: {why}"),
                ));
            }
            Err(why) => {
                slot.run = Run::Idle {
                    at: now.checked_add(SPAWN_RETRY).unwrap_or(now),
                };
                if slot.may_warn(now) {
                    out.push(Action::Say(
                        Level::Warning,
                        format!(
                            "unable to start supervisor for {shown}: {why} (retrying every {} seconds)",
                            SPAWN_RETRY.as_secs()
                        ),
                    ));
                }
            }
        }
        self.settle(key, now, &mut out);
        out
    }

    /// The outcome of an [`Action::Orphan`]: the pid of the process the dead supervisor
    /// left running (a child of the scanner now, which must be a subreaper), if any.
    pub fn orphan(&mut self, key: Key, side: Side, pid: Option<u32>, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        let Some(svc) = self.services.get_mut(&key) else {
            return out;
        };
        let slot = svc.slot(side);
        if slot.run != Run::Starting {
            return out;
        }
        slot.orphan_checked = true;
        slot.run = match pid {
            Some(pid) => {
                self.pids.insert(pid, (key, side));
                let sig = match side {
                    Side::Main => Sig::Term,
                    Side::Log => Sig::Hup,
                };
                Run::Ending {
                    pid,
                    sig,
                    killed: false,
                }
            }
            None => Run::Done,
        };
        self.settle(key, now, &mut out);
        out
    }

    /// A child was reaped. Unknown pids (orphans that were reparented to the scanner) are
    /// ignored.
    pub fn child_exited(&mut self, pid: u32, exit: Exit, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        let Some((key, side)) = self.pids.remove(&pid) else {
            return out;
        };
        let Some(svc) = self.services.get_mut(&key) else {
            return out;
        };
        let active = match svc.phase {
            Phase::Active => true,
            Phase::Pending | Phase::Stopping { .. } => false,
        };
        let stopping = matches!(svc.phase, Phase::Stopping { .. });
        let shown = svc.show(side);
        let slot = svc.slot(side);
        let by_signal = matches!(exit, Exit::Signal(_));
        match (active, slot.run) {
            (true, Run::Running { pid: p }) if p == pid => {
                slot.orphan_risk = by_signal;
                let ran = slot
                    .last_start
                    .and_then(|t| now.checked_duration_since(t))
                    .unwrap_or_default();
                slot.quick_deaths = if ran < QUICK_DEATH {
                    slot.quick_deaths.saturating_add(1)
                } else {
                    1
                };
                slot.run = Run::Idle {
                    at: slot.next_start(now),
                };
                if slot.may_warn(now) {
                    out.push(Action::Say(
                        Level::Warning,
                        format!("supervisor for {shown} ended ({exit}); restarting it"),
                    ));
                }
            }
            (true, Run::Ending { pid: p, .. }) if p == pid => {
                slot.orphan_risk = by_signal;
                slot.run = Run::Idle {
                    at: slot.next_start(now),
                };
            }
            // Killed, and not by us, while stopping: its daemon may be left running. The
            // goal decides whether to look for it.
            (
                false,
                Run::Running { pid: p }
                | Run::Ending {
                    pid: p,
                    killed: false,
                    ..
                },
            ) if p == pid && by_signal && stopping => {
                slot.orphan_risk = true;
                slot.run = Run::Idle { at: now };
            }
            (false, Run::Running { pid: p } | Run::Ending { pid: p, .. }) if p == pid => {
                slot.run = Run::Done;
            }
            (
                true | false,
                Run::Idle { .. }
                | Run::Starting
                | Run::Running { .. }
                | Run::Ending { .. }
                | Run::Done,
            ) => {}
        }
        self.settle(key, now, &mut out);
        out
    }

    /// SIGTERM or SIGINT: stop every service; loggers drain; then [`Scanner::done`].
    pub fn shutdown(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if self.shutting_down {
            return out;
        }
        self.shutting_down = true;
        let n = self
            .services
            .values()
            .filter(|s| !matches!(s.phase, Phase::Pending))
            .count();
        if n > 0 {
            let s = if n == 1 { "" } else { "s" };
            out.push(Action::Say(Level::Info, format!("stopping {n} service{s}")));
        }
        let keys: Vec<Key> = self.services.keys().copied().collect();
        for key in keys {
            self.retire(key, Why::Shutdown, None, now, &mut out);
        }
        out
    }

    /// Starts stopping a service (or forgets a pending one).
    fn retire(
        &mut self,
        key: Key,
        why: Why,
        new_name: Option<OsString>,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let main_kill = now.checked_add(self.timeout).unwrap_or(now);
        let Some(svc) = self.services.get_mut(&key) else {
            return;
        };
        if let Some(n) = new_name {
            svc.name = n;
        }
        match &mut svc.phase {
            Phase::Pending => {
                self.forget(key, out);
                return;
            }
            Phase::Active => {
                svc.phase = Phase::Stopping {
                    why,
                    main_kill,
                    log_kill: None,
                };
            }
            Phase::Stopping {
                main_kill: k,
                log_kill,
                ..
            } => {
                // Shutdown during a removal: the nearer deadline holds.
                *k = (*k).min(main_kill);
                if let Some(l) = log_kill {
                    *l = (*l).min(main_kill);
                }
            }
        }
        self.settle(key, now, out);
    }

    /// Takes in what an entry says about its service (new, renamed, completed, late log/).
    fn see(&mut self, e: &Entry, now: Instant, out: &mut Vec<Action>) {
        let svc = match self.services.get_mut(&e.key) {
            Some(s) => s,
            None => self.services.entry(e.key).or_insert(Service {
                name: e.name.clone(),
                phase: Phase::Pending,
                logged: false,
                write_open: false,
                main_watch: None,
                watching_log: false,
                back: false,
                main: Slot::new(now),
                log: Slot::new(now),
            }),
        };
        if svc.name != e.name {
            if matches!(svc.phase, Phase::Active) {
                out.push(Action::Say(
                    Level::Info,
                    format!(
                        "{} is now called {}",
                        svc.name.to_string_lossy(),
                        e.name.to_string_lossy()
                    ),
                ));
            }
            svc.name = e.name.clone();
        }
        match svc.phase {
            Phase::Pending if e.complete() => {
                svc.phase = Phase::Active;
                svc.logged = e.log == LogDir::Ready;
                svc.write_open = svc.logged;
            }
            Phase::Active if !svc.logged && e.log == LogDir::Ready => {
                svc.logged = true;
                svc.write_open = true;
                let name = svc.name.to_string_lossy();
                out.push(Action::Say(
                    Level::Info,
                    format!(
                        "paired {name} with {name}/log: output reaches the logger from the service's next start (svc -t {name} restarts it now)"
                    ),
                ));
            }
            Phase::Stopping { .. } => svc.back = true,
            Phase::Pending | Phase::Active => {}
        }
        // Watch what can still change what the scanner does: an incomplete dir all over,
        // a running unlogged one for a late log/, a logged one not at all.
        let (want_main, want_log) = match svc.phase {
            Phase::Pending => (Some(Mask::Full), e.log == LogDir::Incomplete),
            Phase::Active if svc.logged => (None, false),
            Phase::Active => (Some(Mask::NewEntries), e.log == LogDir::Incomplete),
            Phase::Stopping { .. } => (svc.main_watch, false),
        };
        if want_main != svc.main_watch {
            svc.main_watch = want_main;
            out.push(match want_main {
                Some(mask) => Action::Watch(e.key, Side::Main, mask),
                None => Action::Unwatch(e.key, Side::Main),
            });
        }
        if want_log != svc.watching_log {
            svc.watching_log = want_log;
            out.push(if want_log {
                Action::Watch(e.key, Side::Log, Mask::Full)
            } else {
                Action::Unwatch(e.key, Side::Log)
            });
        }
        self.settle(e.key, now, out);
    }

    /// Drives both supervisors of a service until nothing changes; finishes a stopped one.
    fn settle(&mut self, key: Key, now: Instant, out: &mut Vec<Action>) {
        let (mut close_write, mut finished) = (false, false);
        // Each round changes a state towards Done or Running; a handful suffice.
        for _ in 0..8 {
            let Some(svc) = self.services.get_mut(&key) else {
                break;
            };
            let (gm, gl) = svc.goals();
            let mut changed = false;
            for (side, goal) in [(Side::Log, gl), (Side::Main, gm)] {
                let kill_at = svc.kill_at(side);
                let slot = svc.slot(side);
                let (run, step) = drive(goal, slot.run, now, kill_at);
                changed |= run != slot.run;
                slot.run = run;
                match step {
                    None => {}
                    Some(Step::Spawn) => out.push(Action::Spawn {
                        key,
                        side,
                        piped: svc.logged,
                    }),
                    Some(Step::Send(pid, sig)) => out.push(Action::Signal { pid, sig }),
                    Some(Step::Orphan) => out.push(Action::Orphan(key, side)),
                    Some(Step::Kill(pid)) => {
                        out.push(Action::Say(
                            Level::Warning,
                            format!(
                                "killing {}: still running {} after it was told to stop",
                                svc.show(side),
                                humantime_secs(self.timeout)
                            ),
                        ));
                        out.push(Action::KillDaemon(key, side));
                        out.push(Action::Signal {
                            pid,
                            sig: Sig::Kill,
                        });
                    }
                }
            }
            if let Phase::Stopping { log_kill, .. } = &mut svc.phase {
                if svc.main.run == Run::Done && svc.write_open {
                    svc.write_open = false;
                    *log_kill = Some(now.checked_add(self.timeout).unwrap_or(now));
                    close_write = true;
                    changed = true;
                }
                let log_done = !svc.logged || svc.log.run == Run::Done;
                if svc.main.run == Run::Done && log_done {
                    finished = true;
                    break;
                }
            }
            if !changed {
                break;
            }
        }
        // Closed only after the log supervisor has been told to end (SIGHUP, in the round
        // after the decision): one that saw its logger read end of file first would start
        // the logger again.
        if close_write {
            out.push(Action::ClosePipeWrite(key));
        }
        if finished {
            self.forget(key, out);
        }
    }

    /// Drops a service that has nothing running any more.
    fn forget(&mut self, key: Key, out: &mut Vec<Action>) {
        let Some(svc) = self.services.remove(&key) else {
            return;
        };
        if svc.logged {
            out.push(Action::ClosePipe(key));
        }
        if svc.watching_log {
            out.push(Action::Unwatch(key, Side::Log));
        }
        if svc.main_watch.is_some() {
            out.push(Action::Unwatch(key, Side::Main));
        }
        if svc.back && !self.shutting_down {
            out.push(Action::Rescan);
        }
        let name = svc.name.to_string_lossy();
        match &svc.phase {
            Phase::Stopping {
                why: Why::Removed, ..
            } => out.push(Action::Say(
                Level::Info,
                format!("stopped {name}: directory removed"),
            )),
            Phase::Stopping {
                why: Why::Hidden, ..
            } => out.push(Action::Say(
                Level::Info,
                format!("stopped {name}: directory renamed to a dot-name"),
            )),
            Phase::Stopping {
                why: Why::Shutdown, ..
            }
            | Phase::Pending
            | Phase::Active => {}
        }
    }
}

/// A duration for messages: "5s", "1.5s".
fn humantime_secs(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}.{:03}s", d.as_secs(), d.subsec_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(5);
    const K: Key = (1, 100);

    fn ms(t0: Instant, n: u64) -> Instant {
        t0 + Duration::from_millis(n)
    }

    /// goal, state, kill deadline -> next state, step
    type Row = (Goal, Run, Option<Instant>, Run, Option<Step>);

    #[test]
    fn drive_table() {
        let t0 = Instant::now();
        let past = t0;
        let future = ms(t0, 1000);
        let now = ms(t0, 500);
        let end_term = Goal::End {
            sig: Sig::Term,
            orphan: false,
        };
        let end_orphan = Goal::End {
            sig: Sig::Term,
            orphan: true,
        };
        let end_hup = Goal::End {
            sig: Sig::Hup,
            orphan: false,
        };
        let ending = |sig, killed| Run::Ending {
            pid: 7,
            sig,
            killed,
        };
        let running = Run::Running { pid: 7 };
        use Goal::{Hold, Replumb, Unused};
        #[rustfmt::skip]
        let rows: Vec<Row> = vec![
            // goal, state, kill deadline -> next state, step
            (Unused, Run::Idle { at: past }, None, Run::Idle { at: past }, None),
            (Unused, running, None, running, None),
            (Goal::Run, Run::Idle { at: past }, None, Run::Starting, Some(Step::Spawn)),
            (Goal::Run, Run::Idle { at: future }, None, Run::Idle { at: future }, None),
            (Goal::Run, Run::Starting, None, Run::Starting, None),
            (Goal::Run, running, None, running, None),
            (Goal::Run, ending(Sig::Hup, false), None, ending(Sig::Hup, false), None),
            (Goal::Run, Run::Done, None, Run::Done, None),
            (Replumb, Run::Idle { at: past }, None, Run::Starting, Some(Step::Spawn)),
            (Replumb, Run::Idle { at: future }, None, Run::Idle { at: future }, None),
            (Replumb, running, None, ending(Sig::Hup, false), Some(Step::Send(7, Sig::Hup))),
            (Replumb, ending(Sig::Hup, false), None, ending(Sig::Hup, false), None),
            (Replumb, Run::Starting, None, Run::Starting, None),
            (Hold, Run::Idle { at: future }, None, Run::Idle { at: future }, None),
            (Hold, running, None, running, None),
            (Hold, Run::Done, None, Run::Done, None),
            (end_term, Run::Idle { at: future }, Some(future), Run::Done, None),
            (end_orphan, Run::Idle { at: future }, Some(future), Run::Starting, Some(Step::Orphan)),
            (end_orphan, Run::Idle { at: past }, Some(past), Run::Starting, Some(Step::Orphan)),
            (end_term, running, Some(future), ending(Sig::Term, false), Some(Step::Send(7, Sig::Term))),
            (end_hup, running, Some(future), ending(Sig::Hup, false), Some(Step::Send(7, Sig::Hup))),
            (end_term, ending(Sig::Term, false), Some(future), ending(Sig::Term, false), None),
            (end_term, ending(Sig::Term, false), None, ending(Sig::Term, false), None),
            (end_term, ending(Sig::Term, false), Some(past), ending(Sig::Term, true), Some(Step::Kill(7))),
            (end_term, ending(Sig::Term, true), Some(past), ending(Sig::Term, true), None),
            // HUP'd to re-plumb, then the dir goes: it must go down now.
            (end_term, ending(Sig::Hup, false), Some(future), ending(Sig::Term, false), Some(Step::Send(7, Sig::Term))),
            (end_hup, ending(Sig::Hup, false), Some(future), ending(Sig::Hup, false), None),
            (end_term, Run::Starting, Some(past), Run::Starting, None),
            (end_term, Run::Done, Some(past), Run::Done, None),
        ];
        for (i, (goal, run, kill, next, step)) in rows.into_iter().enumerate() {
            assert_eq!(
                drive(goal, run, now, kill),
                (next, step),
                "row {i}: {goal:?} {run:?}"
            );
            // A wakeup that is due always leads somewhere, or the loop would spin.
            if wakeup(goal, run, kill).is_some_and(|w| w <= now) {
                assert_ne!(drive(goal, run, now, kill).0, run, "row {i} would spin");
            }
        }
        // SIGKILLed long ago and still not reaped: not ours, given up.
        let later = now + GIVE_UP;
        assert_eq!(
            drive(end_term, ending(Sig::Term, true), later, Some(now)),
            (Run::Done, None)
        );
        assert_eq!(
            wakeup(end_term, ending(Sig::Term, true), Some(now)),
            Some(later)
        );
    }

    fn entry(name: &str, run: bool, log: LogDir) -> Entry {
        Entry::new(name, K, run, log)
    }

    fn spawn(key: Key, side: Side, piped: bool) -> Action {
        Action::Spawn { key, side, piped }
    }

    fn says(acts: &[Action], level: Level) -> Vec<String> {
        acts.iter()
            .filter_map(|a| match a {
                Action::Say(l, m) if *l == level => Some(m.clone()),
                _ => None,
            })
            .collect()
    }

    /// What ends the logged service of [`logged`] once its main side is gone: the log
    /// supervisor (pid 20) is told to drain, and the pipe's write end is closed.
    fn drain_log() -> Vec<Action> {
        vec![
            Action::Signal {
                pid: 20,
                sig: Sig::Hup,
            },
            Action::ClosePipeWrite(K),
        ]
    }

    /// A scanner with one active logged service: log supervisor pid 20, main pid 10.
    fn logged(t0: Instant) -> Scanner {
        let mut s = Scanner::new(T);
        let acts = s.scan(&[entry("web", true, LogDir::Ready)], t0);
        assert_eq!(
            acts,
            vec![spawn(K, Side::Log, true), spawn(K, Side::Main, true)]
        );
        assert!(s.spawned(K, Side::Log, Ok(20), t0).is_empty());
        assert!(s.spawned(K, Side::Main, Ok(10), t0).is_empty());
        s
    }

    #[test]
    fn a_complete_dir_starts_at_once() {
        let t0 = Instant::now();
        let mut s = Scanner::new(T);
        let acts = s.observe(&entry("web", true, LogDir::Absent), t0);
        assert_eq!(
            acts,
            vec![
                Action::Watch(K, Side::Main, Mask::NewEntries),
                spawn(K, Side::Main, false)
            ]
        );
        assert!(s.spawned(K, Side::Main, Ok(10), t0).is_empty());
        assert_eq!(s.deadline(), None);
        // Seeing it again changes nothing.
        assert!(s
            .observe(&entry("web", true, LogDir::Absent), t0)
            .is_empty());
    }

    #[test]
    fn a_half_populated_dir_waits() {
        let t0 = Instant::now();
        let mut s = Scanner::new(T);
        assert_eq!(
            s.observe(&entry("web", false, LogDir::Absent), t0),
            vec![Action::Watch(K, Side::Main, Mask::Full)]
        );
        assert_eq!(
            s.observe(&entry("web", true, LogDir::Incomplete), t0),
            vec![Action::Watch(K, Side::Log, Mask::Full)]
        );
        assert_eq!(s.deadline(), None);
        assert_eq!(
            s.observe(&entry("web", true, LogDir::Ready), ms(t0, 50)),
            vec![
                Action::Unwatch(K, Side::Main),
                Action::Unwatch(K, Side::Log),
                spawn(K, Side::Log, true),
                spawn(K, Side::Main, true)
            ]
        );
    }

    #[test]
    fn a_pending_dir_removed_is_forgotten() {
        let t0 = Instant::now();
        let mut s = Scanner::new(T);
        s.observe(&entry("web", false, LogDir::Incomplete), t0);
        assert!(s.vanished(OsStr::new("web")));
        assert_eq!(
            s.scan(&[], t0),
            vec![
                Action::Unwatch(K, Side::Log),
                Action::Unwatch(K, Side::Main)
            ]
        );
        assert!(s.is_empty());
    }

    #[test]
    fn a_late_log_dir_is_paired_from_the_next_start() {
        let t0 = Instant::now();
        let mut s = Scanner::new(T);
        s.observe(&entry("web", true, LogDir::Absent), t0);
        s.spawned(K, Side::Main, Ok(10), t0);
        assert_eq!(
            s.observe(&entry("web", true, LogDir::Incomplete), t0),
            vec![Action::Watch(K, Side::Log, Mask::Full)]
        );
        let acts = s.observe(&entry("web", true, LogDir::Ready), ms(t0, 2000));
        assert_eq!(says(&acts, Level::Info).len(), 1);
        assert_eq!(
            acts.into_iter()
                .filter(|a| !matches!(a, Action::Say(..)))
                .collect::<Vec<_>>(),
            vec![
                Action::Unwatch(K, Side::Main),
                Action::Unwatch(K, Side::Log),
                spawn(K, Side::Log, true),
                Action::Signal {
                    pid: 10,
                    sig: Sig::Hup
                }
            ]
        );
        s.spawned(K, Side::Log, Ok(20), ms(t0, 2000));
        // The supervisor exits once its daemon dies; the next one gets the pipe.
        assert_eq!(
            s.child_exited(10, Exit::Code(0), ms(t0, 3000)),
            vec![spawn(K, Side::Main, true)]
        );
        s.spawned(K, Side::Main, Ok(11), ms(t0, 3000));
        assert_eq!(s.deadline(), None);
    }

    #[test]
    fn a_dead_supervisor_restarts_on_the_same_pipe_throttled() {
        let t0 = Instant::now();
        let mut s = logged(t0);
        let acts = s.child_exited(10, Exit::Signal(9), ms(t0, 200));
        assert_eq!(
            says(&acts, Level::Warning),
            vec!["supervisor for web ended (killed by signal 9); restarting it"]
        );
        assert_eq!(acts.len(), 1);
        assert_eq!(s.deadline(), Some(ms(t0, 1000)));
        assert!(s.timeout(ms(t0, 999)).is_empty());
        assert_eq!(s.timeout(ms(t0, 1000)), vec![spawn(K, Side::Main, true)]);
        s.spawned(K, Side::Main, Ok(11), ms(t0, 1000));
        // Dying again soon: restarted two seconds after the last start, without a warning.
        assert!(s.child_exited(11, Exit::Code(111), ms(t0, 1100)).is_empty());
        assert_eq!(s.deadline(), Some(ms(t0, 3000)));
        // The logger's supervisor after a long run: at once.
        let acts = s.child_exited(20, Exit::Signal(9), ms(t0, 5000));
        assert!(acts.contains(&spawn(K, Side::Log, true)), "{acts:?}");
        // Unknown pids (reaped orphans) change nothing.
        assert!(s.child_exited(4242, Exit::Code(0), ms(t0, 5000)).is_empty());
    }

    #[test]
    fn a_supervisor_dying_quickly_again_and_again_waits_longer_up_to_10_s() {
        let t0 = Instant::now();
        let mut s = Scanner::new(T);
        s.observe(&entry("web", true, LogDir::Absent), t0);
        let mut t = t0;
        let mut pid = 10;
        s.spawned(K, Side::Main, Ok(pid), t);
        let mut waits = Vec::new();
        for _ in 0..6 {
            s.child_exited(pid, Exit::Code(111), t + Duration::from_millis(10));
            let next = s.deadline().unwrap();
            waits.push(next.duration_since(t).as_secs());
            t = next;
            pid += 1;
            assert_eq!(s.timeout(t), vec![spawn(K, Side::Main, false)]);
            s.spawned(K, Side::Main, Ok(pid), t);
        }
        assert_eq!(waits, vec![1, 2, 4, 8, 10, 10]);
        // After a long run, it is restarted at once.
        let acts = s.child_exited(pid, Exit::Code(111), t + Duration::from_secs(60));
        assert!(acts.contains(&spawn(K, Side::Main, false)), "{acts:?}");
    }

    #[test]
    fn spawn_failures_are_retried_and_warned_about_once_a_minute() {
        let t0 = Instant::now();
        let mut s = Scanner::new(T);
        s.observe(&entry("web", true, LogDir::Absent), t0);
        let acts = s.spawned(
            K,
            Side::Main,
            Err("tend-supervise: file does not exist".into()),
            t0,
        );
        assert_eq!(
            says(&acts, Level::Warning),
            vec!["unable to start supervisor for web: tend-supervise: file does not exist (retrying every 5 seconds)"]
        );
        assert_eq!(s.deadline(), Some(ms(t0, 5000)));
        assert_eq!(s.timeout(ms(t0, 5000)), vec![spawn(K, Side::Main, false)]);
        let acts = s.spawned(K, Side::Main, Err("x".into()), ms(t0, 5000));
        assert!(acts.is_empty());
        s.timeout(ms(t0, 10_000));
        let acts = s.spawned(K, Side::Main, Err("x".into()), ms(t0, 61_000));
        assert_eq!(says(&acts, Level::Warning).len(), 1);
    }

    #[test]
    fn a_removed_dir_stops_the_service_then_drains_the_logger() {
        let t0 = Instant::now();
        let mut s = logged(t0);
        assert_eq!(
            s.scan(&[], ms(t0, 100)),
            vec![Action::Signal {
                pid: 10,
                sig: Sig::Term
            }]
        );
        // The logger keeps running while the service goes down.
        assert_eq!(s.child_exited(10, Exit::Code(0), ms(t0, 150)), drain_log());
        let acts = s.child_exited(20, Exit::Code(0), ms(t0, 160));
        assert_eq!(
            acts,
            vec![
                Action::ClosePipe(K),
                Action::Say(Level::Info, "stopped web: directory removed".into())
            ]
        );
        assert!(s.is_empty());
        assert!(!s.done());
    }

    #[test]
    fn a_renamed_dir_keeps_running() {
        let t0 = Instant::now();
        let mut s = logged(t0);
        let acts = s.scan(&[entry("www", true, LogDir::Ready)], t0);
        assert_eq!(
            acts,
            vec![Action::Say(Level::Info, "web is now called www".into())]
        );
        assert_eq!(s.name(K), Some(OsStr::new("www")));
        // An incremental observation of the new name does the same.
        let acts = s.observe(&entry("w3", true, LogDir::Ready), t0);
        assert_eq!(says(&acts, Level::Info), vec!["www is now called w3"]);
    }

    #[test]
    fn a_dir_renamed_to_a_dot_name_stops_under_that_name() {
        let t0 = Instant::now();
        let mut s = logged(t0);
        let mut hidden = entry(".web", false, LogDir::Absent);
        hidden.hidden = true;
        let acts = s.scan(&[hidden], t0);
        assert_eq!(
            acts,
            vec![Action::Signal {
                pid: 10,
                sig: Sig::Term
            }]
        );
        assert_eq!(s.name(K), Some(OsStr::new(".web")));
        s.child_exited(10, Exit::Code(0), t0);
        let acts = s.child_exited(20, Exit::Code(0), t0);
        assert_eq!(
            says(&acts, Level::Info),
            vec!["stopped .web: directory renamed to a dot-name"]
        );
    }

    #[test]
    fn a_name_taken_by_another_dir_asks_for_a_rescan() {
        let t0 = Instant::now();
        let mut s = logged(t0);
        let other = Entry::new("web", (1, 200), true, LogDir::Absent);
        assert_eq!(s.observe(&other, t0), vec![Action::Rescan]);
        // The full scan sorts it out: old one stopped, new one started.
        let acts = s.scan(&[other], t0);
        assert!(acts.contains(&Action::Signal {
            pid: 10,
            sig: Sig::Term
        }));
        assert!(acts.contains(&spawn((1, 200), Side::Main, false)));
    }

    #[test]
    fn shutdown_kills_what_outlives_the_deadline() {
        let t0 = Instant::now();
        let mut s = logged(t0);
        s.observe(&Entry::new("idle", (1, 300), false, LogDir::Absent), t0);
        let acts = s.shutdown(ms(t0, 1000));
        assert!(acts.contains(&Action::Signal {
            pid: 10,
            sig: Sig::Term
        }));
        assert!(!acts
            .iter()
            .any(|a| matches!(a, Action::Signal { pid: 20, .. })));
        assert_eq!(s.len(), 1, "the pending service is forgotten at once");
        assert_eq!(says(&acts, Level::Info), vec!["stopping 1 service"]);
        assert!(s
            .observe(&Entry::new("new", (1, 400), true, LogDir::Absent), t0)
            .is_empty());
        assert_eq!(s.deadline(), Some(ms(t0, 6000)));
        let acts = s.timeout(ms(t0, 6000));
        assert_eq!(
            acts[1..],
            [
                Action::KillDaemon(K, Side::Main),
                Action::Signal {
                    pid: 10,
                    sig: Sig::Kill
                }
            ]
        );
        assert_eq!(
            says(&acts, Level::Warning),
            vec!["killing web: still running 5s after it was told to stop"]
        );
        s.child_exited(10, Exit::Signal(9), ms(t0, 6010));
        assert_eq!(s.deadline(), Some(ms(t0, 11_010)));
        let acts = s.timeout(ms(t0, 11_010));
        assert_eq!(acts[1], Action::KillDaemon(K, Side::Log));
        assert!(!s.done());
        s.child_exited(20, Exit::Signal(9), ms(t0, 11_020));
        assert!(s.done());
    }

    #[test]
    fn shutdown_stops_what_killed_supervisors_left_behind() {
        let t0 = Instant::now();
        let mut s = logged(t0);
        // Both supervisors were SIGKILLed; the daemon and the logger may still run (as
        // the scanner's children). Shutdown comes before their restart.
        s.child_exited(10, Exit::Signal(9), ms(t0, 300));
        s.child_exited(20, Exit::Signal(9), ms(t0, 300));
        assert_eq!(
            s.shutdown(ms(t0, 400)),
            vec![
                Action::Say(Level::Info, "stopping 1 service".into()),
                Action::Orphan(K, Side::Main)
            ]
        );
        // The loop found the daemon, pid 99, and sent it its down signal.
        assert!(s.orphan(K, Side::Main, Some(99), ms(t0, 400)).is_empty());
        assert_eq!(s.deadline(), Some(ms(t0, 5400)));
        // It exits: the logger's turn; the logger, pid 98, reads to the end of the pipe.
        assert_eq!(
            s.child_exited(99, Exit::Code(0), ms(t0, 500)),
            vec![Action::Orphan(K, Side::Log), Action::ClosePipeWrite(K)]
        );
        assert!(s.orphan(K, Side::Log, Some(98), ms(t0, 500)).is_empty());
        assert_eq!(
            s.child_exited(98, Exit::Code(0), ms(t0, 600)),
            vec![Action::ClosePipe(K)]
        );
        assert!(s.done());
    }

    #[test]
    fn a_supervisor_killed_during_a_stop_leaves_no_daemon() {
        let t0 = Instant::now();
        let mut s = logged(t0);
        s.shutdown(t0);
        // SIGKILLed by someone else while bringing its daemon down.
        assert_eq!(
            s.child_exited(10, Exit::Signal(9), ms(t0, 100)),
            vec![Action::Orphan(K, Side::Main)]
        );
        assert!(s.orphan(K, Side::Main, Some(99), ms(t0, 100)).is_empty());
        // Once only: the daemon dies by its signal, and that is the end of it.
        assert_eq!(
            s.child_exited(99, Exit::Signal(15), ms(t0, 200)),
            drain_log()
        );
        // Nothing found: done with that side.
        let mut s = logged(t0);
        s.shutdown(t0);
        s.child_exited(10, Exit::Signal(9), ms(t0, 100));
        let acts = s.orphan(K, Side::Main, None, ms(t0, 100));
        assert_eq!(acts, drain_log());
        // Not after the scanner's own SIGKILL at the deadline.
        let mut s = logged(t0);
        s.shutdown(t0);
        s.timeout(ms(t0, 5000));
        let acts = s.child_exited(10, Exit::Signal(9), ms(t0, 5001));
        assert_eq!(acts, drain_log());
        // A removed dir is looked at too (the loop finds nothing if it is gone).
        let mut s = logged(t0);
        s.scan(&[], t0);
        let acts = s.child_exited(10, Exit::Signal(9), ms(t0, 1));
        assert_eq!(acts, vec![Action::Orphan(K, Side::Main)]);
    }

    #[test]
    fn a_removed_dir_being_replumbed_goes_down() {
        let t0 = Instant::now();
        let mut s = Scanner::new(T);
        s.observe(&entry("web", true, LogDir::Absent), t0);
        s.spawned(K, Side::Main, Ok(10), t0);
        s.observe(&entry("web", true, LogDir::Ready), t0);
        s.spawned(K, Side::Log, Ok(20), t0);
        let acts = s.scan(&[], t0);
        assert_eq!(
            acts,
            vec![Action::Signal {
                pid: 10,
                sig: Sig::Term
            }]
        );
    }

    #[test]
    fn a_dir_back_while_stopping_is_rescanned_once_stopped() {
        let t0 = Instant::now();
        let mut s = Scanner::new(T);
        s.observe(&entry("web", true, LogDir::Absent), t0);
        s.spawned(K, Side::Main, Ok(10), t0);
        s.scan(&[], t0);
        assert!(s
            .observe(&entry("web", true, LogDir::Absent), t0)
            .is_empty());
        let acts = s.child_exited(10, Exit::Code(0), t0);
        assert!(acts.contains(&Action::Rescan));
    }

    #[test]
    fn messages_show_exits() {
        assert_eq!(Exit::Code(111).to_string(), "exit code 111");
        assert_eq!(Exit::Signal(9).to_string(), "killed by signal 9");
        assert_eq!(humantime_secs(Duration::from_millis(1500)), "1.500s");
    }
}
