//! One supervised service: the policy of `tend_core::supervisor` with the fds, children
//! and supervise/ files of one service dir. tend-supervise runs one from its own loop;
//! tend-scan -F runs one per service dir and per `log/`, all from its loop. The loop
//! polls [`Unit::fds`], passes what happened in ([`Unit::ready`], [`Unit::reaped`],
//! [`Unit::event`]), then calls [`Unit::settle`]; nothing here blocks.
use std::collections::VecDeque;
use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use rustix::fs;
use rustix::io::Errno;
use rustix::pipe::{pipe_with, PipeFlags};
use rustix::process::{
    kill_process, kill_process_group, pidfd_open, Pid, PidfdFlags, Signal, WaitStatus,
};
use tend_core::cmd::Cmd;
use tend_core::info::{Exit, Info, RunFile};
use tend_core::spawn::spawn_session;
use tend_core::status::{RunState, Status};
use tend_core::supervise::{Spare, SuperviseDir};
use tend_core::supervisor::{Action, Event, Now, State, Supervisor};
use tend_core::svdir::Settings;
use tend_core::tai::Tai64n;
use tend_core::{control, procstat, Error};

use crate::{say, warn};

/// How long publishing waits for the death of a process just sent a signal, so that the
/// death and the restart are written together with the signal (see `Unit::hold`).
const PUBLISH_HOLD: Duration = Duration::from_millis(5);
/// Repeated complaints about the same problem are printed at most this often.
const COMPLAINT_INTERVAL: Duration = Duration::from_secs(60);
/// A `control/X` script still running after this is killed (with its process group) and
/// counts as failed: the command's own action follows.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(5);

/// A `control/X` script at work (runsv's custom control).
struct ControlRun {
    pid: u32,
    /// Its letter: it is `./control/LETTER`.
    letter: char,
    /// The command it was run for.
    cmd: Cmd,
    /// Run before the command's own action (whose signal it replaces on exit 0), or
    /// after it (`control/d` after a down: its exit status is not looked at).
    before: bool,
    kill_at: Instant,
}

/// What the processes a unit starts get as stdin and stdout; `None` leaves the loop's own.
#[derive(Default)]
pub struct Stdio {
    /// Given as fd 0.
    pub stdin: Option<Rc<OwnedFd>>,
    /// Given as fd 1.
    pub stdout: Option<Rc<OwnedFd>>,
}

/// One supervised service dir: the policy plus the fds and bookkeeping of its processes.
pub struct Unit {
    /// Prefix of its messages, e.g. "tend-supervise web".
    prog: String,
    /// The service dir as shown in messages.
    shown: String,
    sdir: SuperviseDir,
    stdio: Stdio,
    sup: Supervisor,
    /// Read end of the readiness pipe of the current run.
    notify: Option<OwnedFd>,
    /// A pidfd on an adopted run process (not our child, so no SIGCHLD for it).
    adopted: Option<OwnedFd>,
    /// What was last written to status and info.
    written: Option<(Status, Info)>,
    /// After a signal to the run process, publishing waits until then for its death, so
    /// that `svc -t` costs one update of the supervise files, not two.
    hold: Option<Instant>,
    /// The last complaint and when it was printed.
    complaint: Option<(String, Instant)>,
    /// Settings complaints last printed.
    settings_bad: Vec<String>,
    /// A spawn failure to report once the retry delay is known.
    pending_complaint: Option<String>,
    /// The `control/` script running, if any.
    control: Option<ControlRun>,
    /// Commands that came while a control script ran, obeyed in order after it.
    queued: VecDeque<Cmd>,
    exit: bool,
}

fn now() -> Now {
    Now {
        mono: Instant::now(),
        wall: Tai64n::now(),
    }
}

impl Unit {
    /// Takes charge of the service dir open as `dir` (shown as `shown`): takes its
    /// supervise dir, adopts a run process a killed supervisor left, starts `run` unless
    /// `down` says not to, and writes the status. `prog` prefixes its messages.
    pub fn open(
        prog: String,
        dir: OwnedFd,
        shown: &str,
        stdio: Stdio,
        spare: Spare,
    ) -> Result<Unit, Error> {
        use tend_core::svdir::GroupError;
        let group = match tend_core::svdir::read_control_group_at(dir.as_fd()) {
            Ok(g) => g,
            Err(GroupError::Bad(why)) => {
                warn(&prog, why);
                None
            }
            // Not knowing who may control the service, set nothing up yet.
            Err(GroupError::OutOfFds(errno)) => {
                return Err(Error::Sys {
                    op: format!("read {shown}/control-group"),
                    errno,
                })
            }
        };
        let sdir = SuperviseDir::open(dir, shown, group, spare)?;
        let (settings, bad) = Settings::read_at(sdir.dir.as_fd());
        let seed = u64::from(std::process::id())
            ^ u64::from(Tai64n::now().nanos)
            ^ (sdir.control.as_raw_fd() as u64) << 32;
        let mut u = Unit {
            prog,
            shown: shown.to_string(),
            sdir,
            stdio,
            sup: Supervisor::new(settings, now(), seed),
            notify: None,
            adopted: None,
            written: None,
            hold: None,
            complaint: None,
            settings_bad: Vec::new(),
            pending_complaint: None,
            control: None,
            queued: VecDeque::new(),
            exit: false,
        };
        u.complain_settings(bad);
        u.adopt_orphan();
        u.handle(Event::Tick);
        u.publish();
        Ok(u)
    }

    /// The fds to poll for input: `control`, the readiness pipe, an adopted process's
    /// pidfd. Hand each one that is ready to [`Unit::ready`] by its index.
    pub fn fds(&self) -> [Option<BorrowedFd<'_>>; 3] {
        [
            Some(self.sdir.control.as_fd()),
            self.notify.as_ref().map(AsFd::as_fd),
            self.adopted.as_ref().map(AsFd::as_fd),
        ]
    }

    /// Fd `which` of [`Unit::fds`] is ready.
    pub fn ready(&mut self, which: usize) {
        match which {
            0 => self.read_commands(),
            1 if self.notify.is_some() => self.read_notify(),
            2 if self.adopted.take().is_some() => self.handle(Event::RunExited(None)),
            _ => {}
        }
    }

    /// Whether `pid` is a child of this unit (run, finish, check or a control script).
    pub fn owns(&self, pid: u32) -> bool {
        pid != 0
            && (self.control.as_ref().is_some_and(|c| c.pid == pid)
                || pid == self.sup.check_pid
                || (pid == self.sup.pid && self.adopted.is_none()))
    }

    /// A child of this unit ([`Unit::owns`]) was reaped with status `st`.
    pub fn reaped(&mut self, pid: u32, st: WaitStatus) {
        self.hold = None;
        if self.control.as_ref().is_some_and(|c| c.pid == pid) {
            self.control_done(st.exit_status() == Some(0));
            return;
        }
        if pid == self.sup.check_pid {
            self.handle(Event::CheckExited(st.exit_status() == Some(0)));
            return;
        }
        if pid != self.sup.pid || self.adopted.is_some() {
            return;
        }
        match self.sup.state {
            State::Run => {
                let exit = match (st.exit_status(), st.terminating_signal()) {
                    (Some(c), _) => Some(Exit::Code(c)),
                    (None, Some(s)) => Some(Exit::Signal(s)),
                    (None, None) => None,
                };
                self.handle(Event::RunExited(exit));
            }
            // 125: s6's "permanent failure", do not restart.
            State::Finish if st.exit_status() == Some(125) => self.handle(Event::FinishStopped),
            State::Finish => self.handle(Event::FinishExited),
            State::Down => {}
        }
    }

    /// The supervisor was told to stop ([`Event::Term`]) or to exit once the service is
    /// down ([`Event::Hup`]).
    pub fn event(&mut self, ev: Event) {
        self.handle(ev);
    }

    /// When [`Unit::settle`] next has something to do, if ever.
    pub fn deadline(&self) -> Option<Instant> {
        let kill_script = self.control.as_ref().map(|c| c.kill_at);
        [self.sup.deadline(), self.hold, kill_script]
            .into_iter()
            .flatten()
            .min()
    }

    /// Acts on the deadlines that passed, and writes the supervise files if they changed
    /// (unless a death just signalled is still awaited, and the unit is not exiting).
    pub fn settle(&mut self) {
        self.time_out_control();
        self.handle(Event::Tick);
        if self.hold.is_some_and(|h| Instant::now() < h) && !self.exit {
            return;
        }
        self.hold = None;
        self.publish();
    }

    /// Whether the policy has ended: the service is down and the supervisor is to exit.
    pub fn exited(&self) -> bool {
        self.exit
    }

    /// SIGKILLs every process of the unit with its process group (run or finish, check,
    /// a control script): the loop's last word to a unit that did not stop in time.
    pub fn kill(&mut self) {
        let pids = [
            self.sup.pid,
            self.sup.check_pid,
            self.control.as_ref().map_or(0, |c| c.pid),
        ];
        for pid in pids.into_iter().filter(|&p| p != 0) {
            self.signal(pid, Signal::KILL, true);
            self.signal(pid, Signal::KILL, false);
        }
    }

    /// Starts `path` in a new session from the service dir, with the unit's stdin and
    /// stdout, and `notify` `(from, to)` if given.
    fn spawn(
        &self,
        path: &CStr,
        args: &[&CStr],
        notify: Option<(RawFd, i32)>,
    ) -> Result<u32, Errno> {
        let mut give: Vec<(RawFd, RawFd)> = Vec::with_capacity(3);
        if let Some(fd) = &self.stdio.stdin {
            give.push((fd.as_raw_fd(), 0));
        }
        if let Some(fd) = &self.stdio.stdout {
            give.push((fd.as_raw_fd(), 1));
        }
        give.extend(notify);
        spawn_session(path, args, Some(self.sdir.dir.as_fd()), &give)
    }
}

impl Unit {
    /// Feeds an event to the policy and performs the actions it returns.
    fn handle(&mut self, ev: Event) {
        let acts = self.sup.step(ev, now());
        for a in acts.iter() {
            match a {
                Action::SpawnRun => {
                    let ev = self.spawn_run();
                    self.handle(ev);
                    if let Some(what) = self.pending_complaint.take() {
                        let left = self.sup.deadline().map_or(0, |d| {
                            d.saturating_duration_since(Instant::now())
                                .as_secs_f64()
                                .ceil() as u64
                        });
                        let msg = format!("{what} (retrying in {left} seconds)");
                        self.complain_as(what, msg);
                    }
                }
                Action::SpawnFinish(exit) => {
                    self.notify = None;
                    let ev = self.spawn_finish(exit);
                    self.handle(ev);
                }
                Action::SpawnCheck => {
                    let ev = match self.spawn(c"./check", &[c"./check"], None) {
                        Ok(pid) => Event::CheckStarted(pid),
                        Err(errno) => {
                            self.complain(format!(
                                "unable to start ./check: {}",
                                tend_core::error::describe(errno)
                            ));
                            Event::CheckExited(false)
                        }
                    };
                    self.handle(ev);
                }
                Action::Signal { pid, sig, group } => self.signal(pid, sig, group),
                Action::Exit => self.exit = true,
            }
        }
    }

    fn signal(&mut self, pid: u32, sig: rustix::process::Signal, group: bool) {
        let Some(p) = Pid::from_raw(pid as i32) else {
            return;
        };
        use rustix::process::Signal as S;
        if self.hold.is_none() && !matches!(sig, S::STOP | S::CONT) {
            self.hold = Some(Instant::now() + PUBLISH_HOLD);
        }
        let r = if group {
            kill_process_group(p, sig)
        } else {
            kill_process(p, sig)
        };
        match r {
            Ok(()) | Err(Errno::SRCH) => {}
            Err(errno) => warn(
                &self.prog,
                Error::Sys {
                    op: format!("signal pid {pid}"),
                    errno,
                },
            ),
        }
    }

    /// Starts ./run in a new session, with a readiness pipe on notification-fd if set.
    fn spawn_run(&mut self) -> Event {
        let (settings, bad) = match Settings::read_checked_at(self.sdir.dir.as_fd()) {
            Ok(read) => read,
            Err(errno) => {
                // Out of descriptors: the spawn would fail as well. Say that, once, and
                // keep the settings in force rather than fall back to the defaults.
                self.pending_complaint = Some(format!(
                    "unable to start ./run: {}",
                    tend_core::error::describe(errno)
                ));
                return Event::RunFailed(RunFile::Ok);
            }
        };
        self.complain_settings(bad);
        let notif = settings.notification_fd;
        self.sup.settings = settings;
        let pipe = match notif {
            Some(n) => match readiness_pipe(n) {
                Ok(p) => Some(p),
                Err(errno) => {
                    self.complain(format!(
                        "unable to create readiness pipe: {}",
                        tend_core::error::describe(errno)
                    ));
                    return Event::RunFailed(RunFile::Ok);
                }
            },
            None => None,
        };
        let give = pipe
            .as_ref()
            .zip(notif)
            .map(|((_, w), n)| (w.as_raw_fd(), n));
        match self.spawn(c"./run", &[c"./run"], give) {
            Ok(pid) => {
                self.notify = pipe.map(|(r, _w)| r);
                self.sup.info.notify = notif;
                self.sup.info.pstart = procstat::read(pid).map(|s| s.start);
                self.complaint = None;
                Event::RunStarted(pid)
            }
            Err(errno) => {
                let kind = match errno {
                    Errno::NOENT => RunFile::Missing,
                    Errno::ACCESS | Errno::NOEXEC | Errno::PERM => RunFile::NotExecutable,
                    _ => RunFile::Ok,
                };
                let what = format!(
                    "unable to start ./run: {}",
                    tend_core::error::describe(errno)
                );
                // The retry delay is known once the policy has seen the failure.
                self.pending_complaint = Some(what);
                Event::RunFailed(kind)
            }
        }
    }

    /// Starts ./finish with run's exit code (or -1) and signal (or 0), if there is one.
    fn spawn_finish(&mut self, exit: Option<Exit>) -> Event {
        if fs::statat(&self.sdir.dir, "finish", fs::AtFlags::SYMLINK_NOFOLLOW).is_err() {
            return Event::FinishExited;
        }
        let (code, sig) = match exit {
            Some(Exit::Code(c)) => (c, 0),
            Some(Exit::Signal(s)) => (-1, s),
            None => (-1, 0),
        };
        let (code, sig) = (cstring(code), cstring(sig));
        match self.spawn(c"./finish", &[c"./finish", &code, &sig], None) {
            Ok(pid) => Event::FinishStarted(pid),
            Err(errno) => {
                self.complain(format!(
                    "unable to start ./finish: {}",
                    tend_core::error::describe(errno)
                ));
                Event::FinishExited
            }
        }
    }

    /// Reads control letters until the fifo is empty and obeys each in order.
    fn read_commands(&mut self) {
        let mut buf = [0u8; 64];
        loop {
            match rustix::io::read(&self.sdir.control, &mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    for &b in buf.get(..n).unwrap_or_default() {
                        if let Some(c) = Cmd::from_byte(b) {
                            self.queued.push_back(c);
                        }
                    }
                    self.obey_queued();
                }
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => return,
                Err(errno) => {
                    self.complain(format!(
                        "unable to read supervise/control: {}",
                        tend_core::error::describe(errno)
                    ));
                    return;
                }
            }
        }
    }

    /// Obeys queued commands in order, until one waits for a control script.
    fn obey_queued(&mut self) {
        while self.control.is_none() {
            let Some(c) = self.queued.pop_front() else {
                return;
            };
            let script = match c {
                Cmd::Up | Cmd::Once => Some('u'),
                // runsv: d first runs control/t (in place of the TERM), then control/d.
                Cmd::Down => Some('t'),
                // tend's x sends no signal (daemontools' meaning): only control/x.
                Cmd::Exit => Some('x'),
                Cmd::Signal(sig) => sig.letter(),
            };
            if !script.is_some_and(|l| self.start_control(c, l, true)) {
                self.control_done_for(c, true, false);
            }
        }
    }

    /// Starts `./control/LETTER` for `cmd` if it is there and executable; true if it runs.
    fn start_control(&mut self, cmd: Cmd, letter: char, before: bool) -> bool {
        let path = format!("control/{letter}");
        let exec = fs::Access::EXEC_OK;
        if fs::accessat(&self.sdir.dir, path.as_str(), exec, fs::AtFlags::empty()).is_err() {
            return false;
        }
        let Ok(exe) = CString::new(format!("./{path}")) else {
            return false;
        };
        match self.spawn(&exe, &[&exe], None) {
            Ok(pid) => {
                let kill_at = Instant::now() + CONTROL_TIMEOUT;
                self.control = Some(ControlRun {
                    pid,
                    letter,
                    cmd,
                    before,
                    kill_at,
                });
                true
            }
            Err(errno) => {
                self.complain(format!(
                    "unable to start ./{path}: {}",
                    tend_core::error::describe(errno)
                ));
                false
            }
        }
    }

    /// A control script ended (`ok`: it exited 0): go on with its command.
    fn control_done(&mut self, ok: bool) {
        let Some(run) = self.control.take() else {
            return;
        };
        self.control_done_for(run.cmd, run.before, ok);
        self.obey_queued();
    }

    /// After the `before` script of `cmd` (or none): its own action, its signal left out
    /// when the script exited 0; after a down, `control/d` as well.
    fn control_done_for(&mut self, cmd: Cmd, before: bool, ok: bool) {
        if !before {
            return; // control/d ran after the down: nothing more
        }
        let handled = ok && !matches!(cmd, Cmd::Up | Cmd::Once | Cmd::Exit);
        self.handle(if handled {
            Event::CmdHandled(cmd)
        } else {
            Event::Cmd(cmd)
        });
        if cmd == Cmd::Down {
            self.start_control(cmd, 'd', false);
        }
    }

    /// Kills a control script that outlived [`CONTROL_TIMEOUT`]; its exit, reaped as
    /// usual, counts as a failure.
    fn time_out_control(&mut self) {
        let Some(run) = self.control.as_mut() else {
            return;
        };
        if Instant::now() < run.kill_at {
            return;
        }
        run.kill_at = Instant::now() + CONTROL_TIMEOUT; // once more, should KILL not do
        let (pid, letter) = (run.pid, run.letter);
        self.complain(format!(
            "./control/{letter} still running after {} seconds: killed it",
            CONTROL_TIMEOUT.as_secs()
        ));
        self.signal(pid, rustix::process::Signal::KILL, true);
    }

    /// Reads the readiness pipe: a newline means ready; EOF means the daemon gave up on it.
    fn read_notify(&mut self) {
        let Some(fd) = &self.notify else { return };
        let mut buf = [0u8; 256];
        let done = loop {
            match rustix::io::read(fd, &mut buf) {
                Ok(0) => break true,
                Ok(n) => {
                    if buf.get(..n).unwrap_or_default().contains(&b'\n') {
                        self.handle(Event::Ready);
                        break true;
                    }
                }
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => break false,
                Err(_) => break true,
            }
        };
        if done {
            self.notify = None;
        }
    }

    /// Takes over the run process of a supervisor that was killed: the status file says
    /// it runs, and /proc shows the same process (same start time, still its own session).
    fn adopt_orphan(&mut self) {
        let Ok(old) = control::read_status_at(self.sdir.dir.as_fd(), &self.shown) else {
            return;
        };
        if old.state != RunState::Run || old.pid == 0 {
            return;
        }
        let Some(info) = control::read_info_at(self.sdir.dir.as_fd()) else {
            return;
        };
        let Some(ps) = procstat::read(old.pid) else {
            return;
        };
        if info.pstart != Some(ps.start) || ps.session != old.pid || ps.zombie {
            return;
        }
        let Some(pid) = Pid::from_raw(old.pid as i32) else {
            return;
        };
        match pidfd_open(pid, PidfdFlags::empty()) {
            Ok(fd) => {
                self.adopted = Some(fd);
                self.sup.adopt(old.pid, old.stamp, info, now());
                say(
                    &self.prog,
                    "info",
                    format!("adopted running service pid {}", old.pid),
                );
            }
            Err(errno) => warn(
                &self.prog,
                Error::Sys {
                    op: format!("watch pid {}", old.pid),
                    errno,
                },
            ),
        }
    }

    /// Writes status (with stat and pid) and info if they changed.
    fn publish(&mut self) {
        let now = (self.sup.status(), self.sup.info);
        let before = self.written;
        if before == Some(now) {
            return;
        }
        // Only what changed is rewritten (each file costs a create and a rename, and this
        // runs between a signal letter and the restart it causes). info first: a reader
        // that sees the new status then finds the matching info.
        let r = if before.map(|b| b.1) == Some(now.1) {
            Ok(())
        } else {
            self.sdir.write_info(&now.1)
        };
        let r = r.and_then(|()| self.sdir.write_status(&now.0, before.map(|b| b.0).as_ref()));
        match r {
            Ok(()) => self.written = Some(now),
            Err(e) => self.complain(e.to_string()),
        }
    }

    /// Prints a warning unless the same one was printed within the last minute.
    fn complain(&mut self, msg: String) {
        self.complain_as(msg.clone(), msg);
    }

    /// Prints `msg` unless one with the same `key` was printed within the last minute:
    /// a start failure is the same news whatever its retry delay.
    fn complain_as(&mut self, key: String, msg: String) {
        let t = Instant::now();
        if let Some((last, when)) = &self.complaint {
            if *last == key && t.duration_since(*when) < COMPLAINT_INTERVAL {
                return;
            }
        }
        warn(&self.prog, &msg);
        self.complaint = Some((key, t));
    }

    /// Prints the settings complaints when they differ from the last ones printed.
    fn complain_settings(&mut self, bad: Vec<String>) {
        if bad != self.settings_bad {
            for b in &bad {
                warn(&self.prog, b);
            }
            self.settings_bad = bad;
        }
    }
}

/// A readiness pipe (read end, write end), both non-blocking and close-on-exec, whose
/// write end is not fd `n` itself: posix_spawn's dup2 from a number to the same number
/// would leave it close-on-exec in ./run.
fn readiness_pipe(n: i32) -> rustix::io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?;
    if w.as_raw_fd() == n {
        return Ok((r, rustix::io::fcntl_dupfd_cloexec(&w, n + 1)?));
    }
    Ok((r, w))
}

/// A number as a C string, for an argument.
fn cstring(n: i32) -> CString {
    CString::new(n.to_string()).unwrap_or_default()
}
