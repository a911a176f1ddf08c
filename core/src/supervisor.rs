//! The supervisor's policy: a pure state machine deciding what tend-supervise does.
//!
//! [`Supervisor::step`] takes one [`Event`] and the current time, updates the state and
//! returns the [`Action`]s for the loop to perform; it performs nothing itself. Results of
//! actions (a spawned pid, a failed spawn) come back as events.
use std::time::{Duration, Instant};

use rustix::process::Signal;

use crate::cmd::{Cmd, Sig};
use crate::info::{Exit, Info, RunFile};
use crate::status::{RunState, Status, Want};
use crate::svdir::Settings;
use crate::tai::Tai64n;

/// Least time between two starts of `run`.
pub const MIN_SPACING: Duration = Duration::from_secs(1);
/// A run that ends sooner than this after its start counts as a quick death (backoff
/// grows), unless a signal from outside ended it ([`is_crash`]).
pub const QUICK_DEATH: Duration = Duration::from_secs(2);
/// A run that lasts this long clears the quick-death count (backoff over). Runs between
/// the two leave the count as it is: neither a crash loop nor proof of health.
pub const STABLE: Duration = Duration::from_secs(10);
/// The longest backoff delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A `./check` still running after this is killed, and counts as not ready.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// The delays between runs of `./check` after the first (at once): then 1 s each.
pub const CHECK_DELAYS_MS: [u64; 5] = [50, 100, 200, 400, 800];

/// Where the service is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Nothing runs (a start may be scheduled).
    Down,
    /// `run` runs.
    Run,
    /// `run` ended; `finish` runs, or is being looked for (pid 0).
    Finish,
}

/// Something that happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Time passed: check the deadlines.
    Tick,
    /// A control letter arrived.
    Cmd(Cmd),
    /// A control letter whose signal a `control/` script handled (it exited 0): obeyed
    /// as [`Event::Cmd`], without sending the letter's signal (runsv's custom control).
    CmdHandled(Cmd),
    /// The supervisor got SIGTERM: bring the service down, then exit.
    Term,
    /// The supervisor got SIGHUP: exit once the service is down (as `x`).
    Hup,
    /// `run` was started with this pid.
    RunStarted(u32),
    /// `run` could not be started.
    RunFailed(RunFile),
    /// `run` ended; `None` when its status is unknown (an adopted process).
    RunExited(Option<Exit>),
    /// `finish` was started with this pid.
    FinishStarted(u32),
    /// `finish` ended, or there is none.
    FinishExited,
    /// `finish` exited 125: s6's "do not restart"; the service stays down until `u`.
    FinishStopped,
    /// The daemon wrote a newline on its notification fd.
    Ready,
    /// `./check` was started with this pid.
    CheckStarted(u32),
    /// `./check` ended (true: exit 0), or could not be started (false).
    CheckExited(bool),
}

/// What the loop must do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Start `./run` (re-reading the settings first).
    SpawnRun,
    /// Start `./finish` with the exit of `run`, or report [`Event::FinishExited`] if none.
    SpawnFinish(Option<Exit>),
    /// Start `./check` (runit's readiness check); report [`Event::CheckStarted`], or
    /// [`Event::CheckExited`]`(false)` if it cannot start.
    SpawnCheck,
    /// Send a signal to a process; to its process group when `group`.
    Signal {
        /// The target.
        pid: u32,
        /// The signal.
        sig: Signal,
        /// Send to the process group (the service runs as a session leader).
        group: bool,
    },
    /// Exit 0.
    Exit,
}

/// Up to four actions, without allocating.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Actions {
    list: [Option<Action>; 4],
}

impl Actions {
    fn push(&mut self, a: Action) {
        if let Some(slot) = self.list.iter_mut().find(|s| s.is_none()) {
            *slot = Some(a);
        }
    }

    /// The actions in order.
    pub fn iter(&self) -> impl Iterator<Item = Action> + '_ {
        self.list.iter().flatten().copied()
    }
}

/// The current time, monotonic for deadlines and wall-clock for the status record.
#[derive(Clone, Copy, Debug)]
pub struct Now {
    /// For deadlines.
    pub mono: Instant,
    /// For stamps.
    pub wall: Tai64n,
}

/// The state of one supervised service.
#[derive(Clone, Debug)]
pub struct Supervisor {
    /// Where the service is.
    pub state: State,
    /// The pid of `run` (state Run) or `finish` (state Finish); 0 otherwise.
    pub pid: u32,
    /// What we want of the service.
    pub want: Want,
    /// Stopped with `p`.
    pub paused: bool,
    /// TERM was sent and the service has not exited yet.
    pub got_term: bool,
    /// Exit once the service is down (`x`, SIGHUP, SIGTERM).
    pub exiting: bool,
    /// When the current state began.
    pub stamp: Tai64n,
    /// The settings read at the last start.
    pub settings: Settings,
    /// The extra published state.
    pub info: Info,
    /// When `run` was last started.
    started: Option<Instant>,
    /// When to start `run` next.
    start_at: Option<Instant>,
    /// When to SIGKILL `run` after the down signal (`timeout-kill`).
    kill_at: Option<Instant>,
    /// When to SIGKILL `finish` (`timeout-finish`).
    finish_kill_at: Option<Instant>,
    /// Consecutive quick deaths.
    fails: u32,
    /// A signal letter (other than p, c) reached the current run: its death was asked
    /// for, so it is no crash and does not feed the backoff.
    signalled: bool,
    /// Jitter state (xorshift).
    rng: u64,
    /// When to run `./check` next (while up and not ready).
    check_at: Option<Instant>,
    /// The running `./check`, 0 if none.
    pub check_pid: u32,
    /// When to SIGKILL the running `./check`.
    check_kill_at: Option<Instant>,
    /// How many checks failed since the start.
    check_tries: usize,
    /// The running check belongs to an earlier run: its answer is ignored.
    check_stale: bool,
}

impl Supervisor {
    /// A supervisor that has just started: it wants the service up unless `down` exists.
    pub fn new(settings: Settings, now: Now, seed: u64) -> Supervisor {
        let want = if settings.down { Want::Down } else { Want::Up };
        Supervisor {
            state: State::Down,
            pid: 0,
            want,
            paused: false,
            got_term: false,
            exiting: false,
            stamp: now.wall,
            settings,
            info: Info::default(),
            started: None,
            start_at: (want == Want::Up).then_some(now.mono),
            kill_at: None,
            finish_kill_at: None,
            fails: 0,
            signalled: false,
            rng: seed | 1,
            check_at: None,
            check_pid: 0,
            check_kill_at: None,
            check_tries: 0,
            check_stale: false,
        }
    }

    /// Takes over a `run` process left by a previous supervisor (which was killed).
    pub fn adopt(&mut self, pid: u32, stamp: Tai64n, info: Info, now: Now) {
        self.state = State::Run;
        self.pid = pid;
        self.stamp = stamp;
        self.info = Info {
            backoff: None,
            ..info
        };
        self.started = Some(now.mono);
        self.start_at = None;
    }

    /// The status record for this state.
    pub fn status(&self) -> Status {
        Status {
            stamp: self.stamp,
            pid: self.pid,
            paused: self.paused,
            want: self.want,
            got_term: self.got_term,
            state: match self.state {
                State::Down => RunState::Down,
                State::Run => RunState::Run,
                State::Finish => RunState::Finish,
            },
        }
    }

    /// The nearest deadline, if any: the loop polls until then, and sends [`Event::Tick`].
    pub fn deadline(&self) -> Option<Instant> {
        let check = self.check_at.filter(|_| self.state == State::Run);
        [
            self.start_at,
            self.kill_at,
            self.finish_kill_at,
            check,
            self.check_kill_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Decides what to do about `ev`; performs nothing.
    pub fn step(&mut self, ev: Event, now: Now) -> Actions {
        let mut a = Actions::default();
        if ev == Event::Tick {
            self.check_tick(now, &mut a);
        }
        match (self.state, ev) {
            (_, Event::Cmd(c)) => self.command_with(c, false, now, &mut a),
            (_, Event::CmdHandled(c)) => self.command_with(c, true, now, &mut a),
            (_, Event::Term) => {
                self.exiting = true;
                self.command_with(Cmd::Down, false, now, &mut a);
            }
            (_, Event::Hup) => self.command_with(Cmd::Exit, false, now, &mut a),
            (State::Down, Event::Tick) => {
                if self.start_at.is_some_and(|t| t <= now.mono) {
                    self.start_at = None;
                    if self.want != Want::Down && !self.exiting {
                        a.push(Action::SpawnRun);
                    }
                }
            }
            (State::Run, Event::Tick) => {
                if self.kill_at.is_some_and(|t| t <= now.mono) {
                    self.kill_at = None;
                    a.push(Action::Signal {
                        pid: self.pid,
                        sig: Signal::KILL,
                        group: true,
                    });
                }
            }
            (State::Finish, Event::Tick) => {
                if self.finish_kill_at.is_some_and(|t| t <= now.mono) {
                    self.finish_kill_at = None;
                    a.push(Action::Signal {
                        pid: self.pid,
                        sig: Signal::KILL,
                        group: true,
                    });
                }
            }
            (State::Down, Event::RunStarted(pid)) => {
                self.state = State::Run;
                self.pid = pid;
                self.stamp = now.wall;
                self.started = Some(now.mono);
                self.info.run = RunFile::Ok;
                self.info.ready = None;
                self.info.backoff = None;
                self.info.finish_stop = false;
                self.info.starts = self.info.starts.saturating_add(1);
                self.signalled = false;
                self.check_tries = 0;
                self.check_stale |= self.check_pid != 0;
                self.check_at = self.settings.checks_readiness().then_some(now.mono);
            }
            (State::Down, Event::RunFailed(kind)) => {
                self.info.run = kind;
                self.started = Some(now.mono);
                self.fails = self.fails.saturating_add(1);
                self.after_down(now, &mut a);
            }
            (State::Run, Event::RunExited(exit)) => {
                self.info.exit = exit;
                let ran = self.started.map(|s| now.mono.duration_since(s));
                if ran.is_some_and(|r| r >= STABLE) {
                    self.fails = 0;
                } else if ran.is_none_or(|r| r < QUICK_DEATH)
                    && !self.signalled
                    && exit.is_none_or(is_crash)
                {
                    self.fails = self.fails.saturating_add(1);
                }
                self.state = State::Finish;
                self.pid = 0;
                self.paused = false;
                self.got_term = false;
                self.kill_at = None;
                a.push(Action::SpawnFinish(exit));
            }
            (State::Finish, Event::FinishStarted(pid)) => {
                self.pid = pid;
                self.finish_kill_at = self.settings.timeout_finish.map(|d| now.mono + d);
            }
            (State::Finish, Event::FinishExited) => {
                self.finish_kill_at = None;
                self.after_down(now, &mut a);
            }
            (State::Finish, Event::FinishStopped) => {
                self.finish_kill_at = None;
                self.want = Want::Down;
                self.info.finish_stop = true;
                self.info.backoff = None;
                self.after_down(now, &mut a);
            }
            (State::Run, Event::Ready) => self.info.ready = Some(now.wall),
            (_, Event::CheckStarted(pid)) => {
                self.check_pid = pid;
                self.check_kill_at = Some(now.mono + CHECK_TIMEOUT);
            }
            (_, Event::CheckExited(ok)) => self.check_exited(ok, now),
            // Results that do not fit the state are stale (e.g. a late readiness byte).
            (
                State::Down,
                Event::RunExited(_)
                | Event::FinishStarted(_)
                | Event::FinishExited
                | Event::FinishStopped,
            )
            | (State::Down | State::Finish, Event::Ready)
            | (State::Run | State::Finish, Event::RunStarted(_) | Event::RunFailed(_))
            | (State::Run, Event::FinishStarted(_) | Event::FinishExited | Event::FinishStopped)
            | (State::Finish, Event::RunExited(_)) => {}
        }
        a
    }

    /// Starts a due `./check`, and kills one that outlived [`CHECK_TIMEOUT`].
    fn check_tick(&mut self, now: Now, a: &mut Actions) {
        if self.check_kill_at.is_some_and(|t| t <= now.mono) {
            self.check_kill_at = None;
            a.push(Action::Signal {
                pid: self.check_pid,
                sig: Signal::KILL,
                group: true,
            });
        }
        let due = self.check_at.is_some_and(|t| t <= now.mono);
        if due && self.state == State::Run && self.check_pid == 0 {
            self.check_at = None;
            a.push(Action::SpawnCheck);
        }
    }

    /// A `./check` ended: the service is ready on exit 0; otherwise the next try is
    /// scheduled, a little later each time, then every second.
    fn check_exited(&mut self, ok: bool, now: Now) {
        self.check_pid = 0;
        self.check_kill_at = None;
        if std::mem::take(&mut self.check_stale) {
            // An earlier run's check; this run's first check is due now.
            return;
        }
        if self.state != State::Run || self.info.ready.is_some() {
            self.check_at = None;
            return;
        }
        if ok {
            self.info.ready = Some(now.wall);
            self.check_at = None;
            return;
        }
        let ms = CHECK_DELAYS_MS
            .get(self.check_tries)
            .copied()
            .unwrap_or(1000);
        self.check_tries = self.check_tries.saturating_add(1);
        self.check_at = Some(now.mono + Duration::from_millis(ms));
    }

    /// Obeys one control letter; `handled`: a `control/` script stood in for its signal,
    /// which is then not sent (the CONT after a down still is).
    fn command_with(&mut self, c: Cmd, handled: bool, now: Now, a: &mut Actions) {
        match c {
            Cmd::Up => {
                self.want = Want::Up;
                if self.state == State::Down && !self.exiting {
                    // An admin's `u` cuts a backoff short; the 1 s spacing still holds.
                    self.fails = 0;
                    self.info.backoff = None;
                    self.start_at = Some(self.earliest_start(now));
                }
            }
            Cmd::Once => {
                self.want = Want::None;
                if self.state == State::Down && !self.exiting {
                    self.start_at = Some(self.earliest_start(now));
                }
            }
            Cmd::Down => {
                self.want = Want::Down;
                self.start_at = None;
                self.info.backoff = None;
                if self.state == State::Run {
                    let sig = self.settings.down_signal;
                    if !handled {
                        a.push(Action::Signal {
                            pid: self.pid,
                            sig,
                            group: false,
                        });
                        self.got_term |= sig == Signal::TERM;
                    }
                    a.push(Action::Signal {
                        pid: self.pid,
                        sig: Signal::CONT,
                        group: false,
                    });
                    self.paused = false;
                    if self.kill_at.is_none() {
                        self.kill_at = self.settings.timeout_kill.map(|d| now.mono + d);
                    }
                } else if self.state == State::Down && self.exiting {
                    a.push(Action::Exit);
                }
            }
            Cmd::Exit => {
                self.exiting = true;
                if self.state == State::Down {
                    self.start_at = None;
                    a.push(Action::Exit);
                }
            }
            Cmd::Signal(s) => {
                if self.state == State::Run {
                    if !handled {
                        a.push(Action::Signal {
                            pid: self.pid,
                            sig: s.signal(),
                            group: false,
                        });
                    }
                    self.signalled |= !matches!(s, Sig::Stop | Sig::Cont);
                    match s {
                        Sig::Stop => self.paused = true,
                        Sig::Cont => self.paused = false,
                        Sig::Term => self.got_term |= !handled,
                        Sig::Hup
                        | Sig::Alrm
                        | Sig::Int
                        | Sig::Kill
                        | Sig::Quit
                        | Sig::Usr1
                        | Sig::Usr2 => {}
                    }
                }
            }
        }
    }

    /// The service is down (run and finish done, or run could not start): exit, or
    /// schedule the next start with the crash-loop backoff.
    fn after_down(&mut self, now: Now, a: &mut Actions) {
        self.state = State::Down;
        self.pid = 0;
        self.stamp = now.wall;
        if self.exiting {
            a.push(Action::Exit);
            return;
        }
        if self.want != Want::Up {
            return;
        }
        let delay = self.backoff_delay();
        let at = self.earliest_start(now).max(now.mono + delay);
        self.start_at = Some(at);
        self.info.backoff = (self.fails >= 2).then(|| {
            let wait = at.saturating_duration_since(now.mono);
            let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
            let wall = Tai64n::from_system(now.wall.to_system() + wait);
            (ms, wall)
        });
    }

    /// 1 s after the last start (or now, if longer ago).
    fn earliest_start(&self, now: Now) -> Instant {
        self.started
            .map_or(now.mono, |s| (s + MIN_SPACING).max(now.mono))
    }

    /// The delay after the `fails`-th consecutive quick death: none after the first (the
    /// 1 s spacing alone), then 2, 4, 8 ... s, capped at
    /// [`MAX_BACKOFF`], with ±25 % jitter so services failing together spread out.
    fn backoff_delay(&mut self) -> Duration {
        if self.fails <= 1 {
            return Duration::ZERO;
        }
        let exp = self.fails.saturating_sub(1).min(16);
        let base = MIN_SPACING.saturating_mul(1u32 << exp).min(MAX_BACKOFF);
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        // A factor from 0.75 to 1.25, in thousandths.
        let permille = 750 + u32::try_from(self.rng % 501).unwrap_or(0);
        (base * permille / 1000).min(MAX_BACKOFF)
    }
}

/// Whether a run that ended with `exit` failed by itself: it exited, or a fault killed it
/// (SEGV, ABRT, BUS, ILL, FPE, SYS, or any signal not listed here). A run killed with
/// KILL, TERM, INT, HUP, QUIT, USR1, USR2 or ALRM was stopped from outside (an admin, the
/// OOM killer, a shutdown): no crash, so no backoff; the 1 s spacing still holds.
pub fn is_crash(exit: Exit) -> bool {
    const FROM_OUTSIDE: [i32; 8] = [
        libc::SIGKILL,
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGALRM,
    ];
    match exit {
        Exit::Code(_) => true,
        Exit::Signal(sig) => !FROM_OUTSIDE.contains(&sig),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t0: Instant, ms: u64) -> Now {
        Now {
            mono: t0 + Duration::from_millis(ms),
            wall: Tai64n {
                secs: 1 << 62,
                nanos: 0,
            },
        }
    }

    fn acts(a: Actions) -> Vec<Action> {
        a.iter().collect()
    }

    fn term(pid: u32) -> Vec<Action> {
        vec![
            Action::Signal {
                pid,
                sig: Signal::TERM,
                group: false,
            },
            Action::Signal {
                pid,
                sig: Signal::CONT,
                group: false,
            },
        ]
    }

    /// (event, ms since start, next state, actions) rows from a fresh supervisor.
    fn table(settings: Settings, rows: &[(Event, u64, State, Vec<Action>)]) -> Supervisor {
        let t0 = Instant::now();
        let mut s = Supervisor::new(settings, at(t0, 0), 42);
        for (i, (ev, ms, state, actions)) in rows.iter().enumerate() {
            let got = acts(s.step(*ev, at(t0, *ms)));
            assert_eq!((s.state, &got), (*state, actions), "row {i}: {ev:?}");
        }
        s
    }

    /// A crash loop, a stop with a kill timeout and a restart, fed to two supervisors: one
    /// whose wall clock runs with the monotonic clock, one whose wall clock is stepped back
    /// a day and forward a year between events. They decide the same things at the same
    /// monotonic times: deadlines, backoff and kill timeouts never read the wall clock.
    #[test]
    fn stepping_the_wall_clock_changes_no_decision() {
        let settings = Settings {
            timeout_kill: Some(Duration::from_millis(300)),
            ..Settings::default()
        };
        let t0 = Instant::now();
        let steady = |ms: u64| at(t0, ms);
        let stepped = |ms: u64, i: usize| {
            let mut n = at(t0, ms);
            n.wall.secs = match i % 3 {
                0 => n.wall.secs - 86_400,
                1 => n.wall.secs + 365 * 86_400,
                _ => n.wall.secs,
            };
            n
        };
        let mut a = Supervisor::new(settings.clone(), steady(0), 7);
        let mut b = Supervisor::new(settings, stepped(0, 0), 7);
        let mut pid = 100;
        let mut ms = 0;
        for i in 0..40 {
            // Start when due; die at once (a crash loop) for a while, then run and be stopped.
            let ev = match (a.state, i) {
                (State::Down, _) => Event::Tick,
                (State::Run, 0..=25) => Event::RunExited(Some(Exit::Code(1))),
                (State::Run, 26) => Event::Cmd(Cmd::Down),
                (State::Run, _) => Event::Tick,
                (State::Finish, _) => Event::FinishExited,
            };
            let (x, y) = (
                acts(a.step(ev, steady(ms))),
                acts(b.step(ev, stepped(ms, i))),
            );
            assert_eq!(x, y, "step {i}: {ev:?}");
            assert_eq!((a.state, a.deadline()), (b.state, b.deadline()), "step {i}");
            if x.contains(&Action::SpawnRun) {
                pid += 1;
                let (x, y) = (
                    acts(a.step(Event::RunStarted(pid), steady(ms))),
                    acts(b.step(Event::RunStarted(pid), stepped(ms, i))),
                );
                assert_eq!(x, y, "step {i}: started");
            }
            // Next event at the next deadline, or 50 ms on.
            ms = a
                .deadline()
                .map_or(ms + 50, |d| d.duration_since(t0).as_millis() as u64);
        }
        assert!(a.info.starts > 3, "the loop ran: {} starts", a.info.starts);
        assert_eq!(a.info.starts, b.info.starts);
    }

    #[test]
    fn starts_runs_and_restarts_after_a_second() {
        let s = table(
            Settings::default(),
            &[
                (Event::Tick, 0, State::Down, vec![Action::SpawnRun]),
                (Event::RunStarted(7), 0, State::Run, vec![]),
                (
                    Event::RunExited(Some(Exit::Code(1))),
                    100,
                    State::Finish,
                    vec![Action::SpawnFinish(Some(Exit::Code(1)))],
                ),
                (Event::FinishExited, 100, State::Down, vec![]),
                (Event::Tick, 500, State::Down, vec![]),
                (Event::Tick, 1000, State::Down, vec![Action::SpawnRun]),
            ],
        );
        assert_eq!(s.info.starts, 1);
        assert_eq!(s.info.exit, Some(Exit::Code(1)));
    }

    #[test]
    fn down_file_keeps_it_down_until_up() {
        let settings = Settings {
            down: true,
            ..Settings::default()
        };
        let s = table(
            settings,
            &[
                (Event::Tick, 0, State::Down, vec![]),
                (Event::Cmd(Cmd::Up), 10, State::Down, vec![]),
                (Event::Tick, 10, State::Down, vec![Action::SpawnRun]),
            ],
        );
        assert_eq!(s.want, Want::Up);
    }

    #[test]
    fn down_signals_then_kills_after_timeout() {
        let settings = Settings {
            timeout_kill: Some(Duration::from_millis(300)),
            ..Settings::default()
        };
        let s = table(
            settings,
            &[
                (Event::Tick, 0, State::Down, vec![Action::SpawnRun]),
                (Event::RunStarted(9), 0, State::Run, vec![]),
                (Event::Cmd(Cmd::Down), 50, State::Run, term(9)),
                (Event::Tick, 200, State::Run, vec![]),
                (
                    Event::Tick,
                    350,
                    State::Run,
                    vec![Action::Signal {
                        pid: 9,
                        sig: Signal::KILL,
                        group: true,
                    }],
                ),
                (
                    Event::RunExited(Some(Exit::Signal(9))),
                    360,
                    State::Finish,
                    vec![Action::SpawnFinish(Some(Exit::Signal(9)))],
                ),
                (Event::FinishExited, 360, State::Down, vec![]),
                (Event::Tick, 5000, State::Down, vec![]),
            ],
        );
        assert_eq!((s.want, s.got_term), (Want::Down, false));
    }

    #[test]
    fn once_runs_once() {
        table(
            Settings {
                down: true,
                ..Settings::default()
            },
            &[
                (Event::Cmd(Cmd::Once), 0, State::Down, vec![]),
                (Event::Tick, 0, State::Down, vec![Action::SpawnRun]),
                (Event::RunStarted(3), 0, State::Run, vec![]),
                (
                    Event::RunExited(Some(Exit::Code(0))),
                    20_000,
                    State::Finish,
                    vec![Action::SpawnFinish(Some(Exit::Code(0)))],
                ),
                (Event::FinishExited, 20_000, State::Down, vec![]),
                (Event::Tick, 30_000, State::Down, vec![]),
            ],
        );
    }

    #[test]
    fn exit_waits_for_down_and_term_brings_down() {
        table(
            Settings::default(),
            &[
                (Event::Tick, 0, State::Down, vec![Action::SpawnRun]),
                (Event::RunStarted(4), 0, State::Run, vec![]),
                (Event::Cmd(Cmd::Exit), 10, State::Run, vec![]),
                (
                    Event::RunExited(Some(Exit::Code(0))),
                    20,
                    State::Finish,
                    vec![Action::SpawnFinish(Some(Exit::Code(0)))],
                ),
                (Event::FinishExited, 20, State::Down, vec![Action::Exit]),
            ],
        );
        table(
            Settings::default(),
            &[
                (Event::Tick, 0, State::Down, vec![Action::SpawnRun]),
                (Event::RunStarted(4), 0, State::Run, vec![]),
                (Event::Term, 10, State::Run, term(4)),
                (
                    Event::RunExited(None),
                    20,
                    State::Finish,
                    vec![Action::SpawnFinish(None)],
                ),
                (Event::FinishStarted(5), 20, State::Finish, vec![]),
                (Event::Tick, 5019, State::Finish, vec![]),
                (
                    Event::Tick,
                    5020,
                    State::Finish,
                    vec![Action::Signal {
                        pid: 5,
                        sig: Signal::KILL,
                        group: true,
                    }],
                ),
                (Event::FinishExited, 5030, State::Down, vec![Action::Exit]),
            ],
        );
        table(
            Settings {
                down: true,
                ..Settings::default()
            },
            &[(Event::Term, 0, State::Down, vec![Action::Exit])],
        );
        table(
            Settings {
                down: true,
                ..Settings::default()
            },
            &[(Event::Hup, 0, State::Down, vec![Action::Exit])],
        );
    }

    #[test]
    fn signal_letters_only_reach_a_running_service() {
        let s = table(
            Settings::default(),
            &[
                (Event::Cmd(Cmd::Signal(Sig::Hup)), 0, State::Down, vec![]),
                (Event::Tick, 0, State::Down, vec![Action::SpawnRun]),
                (Event::RunStarted(8), 0, State::Run, vec![]),
                (
                    Event::Cmd(Cmd::Signal(Sig::Stop)),
                    1,
                    State::Run,
                    vec![Action::Signal {
                        pid: 8,
                        sig: Signal::STOP,
                        group: false,
                    }],
                ),
            ],
        );
        assert!(s.paused);
        assert_eq!(s.status().encode()[16], 1);
    }

    #[test]
    fn crash_loop_backs_off_and_up_cuts_it_short() {
        let t0 = Instant::now();
        let mut s = Supervisor::new(Settings::default(), at(t0, 0), 7);
        let mut starts = vec![];
        let mut ms = 0;
        while ms < 10_000 {
            if s.step(Event::Tick, at(t0, ms))
                .iter()
                .any(|a| a == Action::SpawnRun)
            {
                starts.push(ms);
                s.step(Event::RunStarted(100), at(t0, ms));
                s.step(Event::RunExited(Some(Exit::Code(1))), at(t0, ms + 5));
                s.step(Event::FinishExited, at(t0, ms + 5));
            }
            ms += 10;
        }
        assert!(starts.len() <= 5, "starts at {starts:?}");
        assert!(s.info.backoff.is_some());
        let gap = |i: usize| starts[i + 1] - starts[i];
        assert!(
            gap(0) >= 1000 && gap(1) >= 1000 && gap(2) > gap(0),
            "{starts:?}"
        );
        s.step(Event::Cmd(Cmd::Up), at(t0, ms));
        assert_eq!(s.info.backoff, None);
        assert_eq!(
            acts(s.step(Event::Tick, at(t0, ms + 10))),
            vec![Action::SpawnRun]
        );
    }

    /// Ten runs, each ending `ms_per_run` after its start (after `letter`, if any, was
    /// obeyed): every restart is due as soon as the 1 s spacing allows, with no backoff.
    fn assert_ten_restarts_without_backoff(ms_per_run: u64, letter: Option<Sig>, exit: Exit) {
        let t0 = Instant::now();
        let mut s = Supervisor::new(Settings::default(), at(t0, 0), 7);
        let mut ms = 0;
        for pid in 1..=10 {
            let a = acts(s.step(Event::Tick, at(t0, ms)));
            assert_eq!(a, vec![Action::SpawnRun], "start {pid}");
            s.step(Event::RunStarted(pid), at(t0, ms));
            let due = ms + ms_per_run.max(1000);
            ms += ms_per_run;
            if let Some(sig) = letter {
                s.step(Event::Cmd(Cmd::Signal(sig)), at(t0, ms));
            }
            s.step(Event::RunExited(Some(exit)), at(t0, ms));
            s.step(Event::FinishExited, at(t0, ms));
            assert_eq!(s.info.backoff, None);
            let want = Some(t0 + Duration::from_millis(due));
            assert_eq!(s.deadline(), want, "restart {pid} without backoff");
            ms = due;
        }
    }

    #[test]
    fn restarts_asked_for_with_letters_are_no_crashes() {
        assert_ten_restarts_without_backoff(300, Some(Sig::Term), Exit::Signal(15));
        assert_ten_restarts_without_backoff(100, Some(Sig::Kill), Exit::Signal(9));
    }

    #[test]
    fn runs_killed_from_outside_do_not_back_off() {
        for sig in [9, 15, 2, 1, 3, 10, 12, 14] {
            assert_ten_restarts_without_backoff(300, None, Exit::Signal(sig));
        }
        assert_ten_restarts_without_backoff(1600, None, Exit::Signal(9));
    }

    /// Runs that end by themselves (or by a fault) `ms_per_run` after their start: the
    /// delay between starts grows.
    fn assert_backoff_grows(ms_per_run: u64, exit: Exit) {
        let t0 = Instant::now();
        let mut s = Supervisor::new(Settings::default(), at(t0, 0), 7);
        let mut ms = 0;
        for pid in 1..=4 {
            assert_eq!(
                acts(s.step(Event::Tick, at(t0, ms))),
                vec![Action::SpawnRun]
            );
            s.step(Event::RunStarted(pid), at(t0, ms));
            ms += ms_per_run;
            s.step(Event::RunExited(Some(exit)), at(t0, ms));
            s.step(Event::FinishExited, at(t0, ms));
            ms = s
                .deadline()
                .map(|d| d.duration_since(t0).as_millis() as u64)
                .unwrap();
        }
        assert!(s.info.backoff.is_some(), "{exit:?} after {ms_per_run} ms");
    }

    #[test]
    fn runs_that_fail_by_themselves_back_off() {
        assert_backoff_grows(1000, Exit::Code(1));
        assert_backoff_grows(1500, Exit::Code(0));
        for sig in [11, 6, 7, 4, 8, 31] {
            assert_backoff_grows(100, Exit::Signal(sig));
        }
    }

    #[test]
    fn long_runs_reset_the_backoff() {
        let t0 = Instant::now();
        let mut s = Supervisor::new(Settings::default(), at(t0, 0), 7);
        s.fails = 5;
        s.step(Event::Tick, at(t0, 0));
        s.step(Event::RunStarted(1), at(t0, 0));
        s.step(Event::RunExited(Some(Exit::Code(0))), at(t0, 20_000));
        s.step(Event::FinishExited, at(t0, 20_000));
        assert_eq!(s.deadline(), Some(t0 + Duration::from_millis(20_000)));
    }

    #[test]
    fn missing_run_is_retried_with_backoff() {
        let t0 = Instant::now();
        let mut s = Supervisor::new(Settings::default(), at(t0, 0), 7);
        s.step(Event::Tick, at(t0, 0));
        s.step(Event::RunFailed(RunFile::Missing), at(t0, 0));
        assert_eq!((s.state, s.info.run), (State::Down, RunFile::Missing));
        assert_eq!(s.deadline(), Some(t0 + MIN_SPACING));
    }

    #[test]
    fn finish_exiting_125_keeps_the_service_down_until_up() {
        let t0 = Instant::now();
        let mut s = Supervisor::new(Settings::default(), at(t0, 0), 7);
        s.step(Event::Tick, at(t0, 0));
        s.step(Event::RunStarted(1), at(t0, 0));
        s.step(Event::RunExited(Some(Exit::Code(1))), at(t0, 100));
        s.step(Event::FinishStopped, at(t0, 110));
        assert_eq!(
            (s.state, s.want, s.deadline()),
            (State::Down, Want::Down, None)
        );
        assert!(s.info.finish_stop);
        s.step(Event::Cmd(Cmd::Up), at(t0, 2000));
        let a = acts(s.step(Event::Tick, at(t0, 2000)));
        assert_eq!(a, vec![Action::SpawnRun]);
        s.step(Event::RunStarted(2), at(t0, 2000));
        assert!(!s.info.finish_stop);
    }

    #[test]
    fn a_letter_handled_by_a_control_script_sends_no_signal() {
        let t0 = Instant::now();
        let mut s = Supervisor::new(Settings::default(), at(t0, 0), 7);
        s.step(Event::Tick, at(t0, 0));
        s.step(Event::RunStarted(9), at(t0, 0));
        let cont = Action::Signal {
            pid: 9,
            sig: Signal::CONT,
            group: false,
        };
        // d: no down signal, but the CONT, and want down.
        assert_eq!(
            acts(s.step(Event::CmdHandled(Cmd::Down), at(t0, 10))),
            vec![cont]
        );
        assert_eq!((s.want, s.got_term), (Want::Down, false));
        // t, p: nothing sent; p still marks the service paused.
        assert_eq!(
            acts(s.step(Event::CmdHandled(Cmd::Signal(Sig::Term)), at(t0, 20))),
            vec![]
        );
        assert_eq!(
            acts(s.step(Event::CmdHandled(Cmd::Signal(Sig::Stop)), at(t0, 30))),
            vec![]
        );
        assert!(s.paused);
    }

    #[test]
    fn check_runs_at_once_then_spaced_out_until_it_succeeds() {
        let t0 = Instant::now();
        let settings = Settings {
            check: true,
            ..Settings::default()
        };
        let mut s = Supervisor::new(settings, at(t0, 0), 7);
        s.step(Event::Tick, at(t0, 0));
        s.step(Event::RunStarted(9), at(t0, 0));
        let mut tries = vec![];
        let mut ms = 0;
        while ms < 4000 {
            if acts(s.step(Event::Tick, at(t0, ms))).contains(&Action::SpawnCheck) {
                tries.push(ms);
                s.step(Event::CheckStarted(100), at(t0, ms));
                s.step(Event::CheckExited(ms >= 2500), at(t0, ms + 5));
            }
            ms += 5;
        }
        assert_eq!(tries[..3], [0, 55, 160], "{tries:?}");
        let gaps: Vec<u64> = tries.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.iter().all(|&g| g <= 1010), "{gaps:?}");
        assert!(s.info.ready.is_some());
        assert_eq!(s.deadline(), None, "no check after the first success");
        // A hanging check is killed.
        let mut s = Supervisor::new(s.settings.clone(), at(t0, 0), 7);
        s.step(Event::Tick, at(t0, 0));
        s.step(Event::RunStarted(9), at(t0, 0));
        assert_eq!(
            acts(s.step(Event::Tick, at(t0, 0))),
            vec![Action::SpawnCheck]
        );
        s.step(Event::CheckStarted(100), at(t0, 0));
        let kill = Action::Signal {
            pid: 100,
            sig: Signal::KILL,
            group: true,
        };
        assert_eq!(acts(s.step(Event::Tick, at(t0, 5000))), vec![kill]);
    }

    #[test]
    fn backoff_is_capped() {
        let t0 = Instant::now();
        let mut s = Supervisor::new(Settings::default(), at(t0, 0), 7);
        for fails in 1..100 {
            s.fails = fails;
            assert!(s.backoff_delay() <= MAX_BACKOFF);
        }
    }
}
