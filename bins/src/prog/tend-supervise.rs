//! tend-supervise: runs DIR/run, restarts it, obeys control letters, keeps DIR/supervise/.
use std::ffi::{CString, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use libc::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};
use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;
use rustix::pipe::{pipe_with, PipeFlags};
use rustix::process::{
    kill_process, kill_process_group, pidfd_open, wait, Pid, PidfdFlags, WaitOptions,
};
use tend::{fatal, say, usage, warn};
use tend_core::cmd::Cmd;
use tend_core::info::{Exit, Info, RunFile};
use tend_core::signals::Signals;
use tend_core::spawn::spawn_session;
use tend_core::status::{RunState, Status};
use tend_core::supervise::SuperviseDir;
use tend_core::supervisor::{Action, Event, Now, Supervisor};
use tend_core::svdir::Settings;
use tend_core::tai::Tai64n;
use tend_core::timer::poll_until;
use tend_core::{control, procstat, Error};

const PROG: &str = "tend-supervise";
const SYNOPSIS: &str = "tend-supervise servicedir";
/// How long publishing waits for the death of a process just sent a signal, so that the
/// death and the restart are written together with the signal (see `Daemon::hold`).
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

pub fn start(args: tend::Args) -> u8 {
    let dir = match parse_args(args) {
        Ok(d) => d,
        Err(e) => return usage(PROG, SYNOPSIS, e),
    };
    let shown = dir.to_string_lossy().trim_end_matches('/').to_string();
    let shown = if shown.is_empty() {
        "/".to_string()
    } else {
        shown
    };
    let prog = format!("{PROG} {shown}");
    if let Err(errno) = rustix::process::chdir(&dir) {
        return fatal(
            &prog,
            &Error::Sys {
                op: format!("chdir to {shown}"),
                errno,
            },
        );
    }
    match serve(&prog, &shown) {
        Ok(()) => 0,
        Err(e) => fatal(&prog, &e),
    }
}

fn parse_args(args: tend::Args) -> Result<PathBuf, lexopt::Error> {
    use lexopt::prelude::*;
    let (mut dir, mut p) = (None::<OsString>, lexopt::Parser::from_args(args));
    while let Some(arg) = p.next()? {
        match arg {
            Value(v) if dir.is_none() => dir = Some(v),
            _ => return Err(arg.unexpected()),
        }
    }
    match dir {
        Some(d) if !d.is_empty() => Ok(PathBuf::from(d)),
        Some(_) => Err("servicedir is empty".into()),
        None => Err("missing servicedir".into()),
    }
}

/// The supervisor's loop state: the policy plus the fds and bookkeeping of the process.
struct Daemon<'a> {
    prog: &'a str,
    sdir: SuperviseDir,
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
    queued: std::collections::VecDeque<Cmd>,
    exit: bool,
}

fn now() -> Now {
    Now {
        mono: Instant::now(),
        wall: Tai64n::now(),
    }
}

fn serve(prog: &str, shown: &str) -> Result<(), Error> {
    let group = tend_core::svdir::read_control_group(Path::new(".")).unwrap_or_else(|why| {
        warn(prog, why);
        None
    });
    let sdir = SuperviseDir::open(shown, group)?;
    let sigs = Signals::install(&[SIGCHLD, SIGTERM, SIGHUP, SIGINT])?;
    let (settings, bad) = Settings::read(Path::new("."));
    let seed = u64::from(std::process::id()) ^ u64::from(Tai64n::now().nanos);
    let mut d = Daemon {
        prog,
        sdir,
        sup: Supervisor::new(settings, now(), seed),
        notify: None,
        adopted: None,
        written: None,
        hold: None,
        complaint: None,
        settings_bad: Vec::new(),
        pending_complaint: None,
        control: None,
        queued: std::collections::VecDeque::new(),
        exit: false,
    };
    d.complain_settings(bad);
    d.adopt_orphan();
    d.handle(Event::Tick);
    d.publish();
    while !d.exit {
        let kill_script = d.control.as_ref().map(|c| c.kill_at);
        let wake = [d.sup.deadline(), d.hold, kill_script]
            .into_iter()
            .flatten()
            .min();
        let ctl = d.sdir.control.as_raw_fd();
        // SAFETY: these fds are owned by `d` and `sigs` and outlive the poll call.
        let (sig_fd, ctl_fd) = unsafe {
            (
                BorrowedFd::borrow_raw(sigs.fd().as_fd().as_raw_fd()),
                BorrowedFd::borrow_raw(ctl),
            )
        };
        let mut fds = [
            PollFd::new(&sig_fd, PollFlags::IN),
            PollFd::new(&ctl_fd, PollFlags::IN),
            PollFd::new(&sig_fd, PollFlags::empty()),
            PollFd::new(&sig_fd, PollFlags::empty()),
        ];
        if let Some(n) = &d.notify {
            fds[2] = PollFd::new(n, PollFlags::IN);
        }
        if let Some(p) = &d.adopted {
            fds[3] = PollFd::new(p, PollFlags::IN);
        }
        poll_until(&mut fds, wake)?;
        let ready: [bool; 4] =
            std::array::from_fn(|i| fds.get(i).is_some_and(|f| !f.revents().is_empty()));
        if ready[0] {
            for sig in sigs.take() {
                match sig {
                    SIGCHLD => d.reap(),
                    SIGHUP => d.handle(Event::Hup),
                    _ => d.handle(Event::Term),
                }
            }
        }
        if ready[1] {
            d.read_commands();
        }
        if ready[2] && d.notify.is_some() {
            d.read_notify();
        }
        if ready[3] && d.adopted.take().is_some() {
            d.handle(Event::RunExited(None));
        }
        d.time_out_control();
        d.handle(Event::Tick);
        if d.hold.is_some_and(|h| Instant::now() < h) && !d.exit {
            continue;
        }
        d.hold = None;
        d.publish();
    }
    Ok(())
}

impl Daemon<'_> {
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
                    let ev = match spawn_session(c"./check", &[c"./check"], None) {
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
                self.prog,
                Error::Sys {
                    op: format!("signal pid {pid}"),
                    errno,
                },
            ),
        }
    }

    /// Starts ./run in a new session, with a readiness pipe on notification-fd if set.
    fn spawn_run(&mut self) -> Event {
        let (settings, bad) = match Settings::read_checked(Path::new(".")) {
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
        match spawn_session(c"./run", &[c"./run"], give) {
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
        match std::fs::symlink_metadata("finish") {
            Ok(_) => {}
            Err(_) => return Event::FinishExited,
        }
        let (code, sig) = match exit {
            Some(Exit::Code(c)) => (c, 0),
            Some(Exit::Signal(s)) => (-1, s),
            None => (-1, 0),
        };
        let (code, sig) = (cstring(code), cstring(sig));
        match spawn_session(c"./finish", &[c"./finish", &code, &sig], None) {
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
}

impl Daemon<'_> {
    /// Reaps every exited child and tells the policy about run and finish.
    fn reap(&mut self) {
        self.hold = None;
        loop {
            match wait(WaitOptions::NOHANG) {
                Ok(Some((pid, st))) => {
                    let pid = pid.as_raw_nonzero().get() as u32;
                    if self.control.as_ref().is_some_and(|c| c.pid == pid) {
                        self.control_done(st.exit_status() == Some(0));
                        continue;
                    }
                    if pid == self.sup.check_pid {
                        self.handle(Event::CheckExited(st.exit_status() == Some(0)));
                        continue;
                    }
                    if pid != self.sup.pid || self.adopted.is_some() {
                        continue;
                    }
                    match self.sup.state {
                        tend_core::supervisor::State::Run => {
                            let exit = match (st.exit_status(), st.terminating_signal()) {
                                (Some(c), _) => Some(Exit::Code(c)),
                                (None, Some(s)) => Some(Exit::Signal(s)),
                                (None, None) => None,
                            };
                            self.handle(Event::RunExited(exit));
                        }
                        // 125: s6's "permanent failure", do not restart.
                        tend_core::supervisor::State::Finish if st.exit_status() == Some(125) => {
                            self.handle(Event::FinishStopped)
                        }
                        tend_core::supervisor::State::Finish => self.handle(Event::FinishExited),
                        tend_core::supervisor::State::Down => {}
                    }
                }
                Ok(None) | Err(Errno::CHILD) => return,
                Err(Errno::INTR) => {}
                Err(errno) => {
                    warn(
                        self.prog,
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
        if rustix::fs::access(path.as_str(), rustix::fs::Access::EXEC_OK).is_err() {
            return false;
        }
        let Ok(exe) = CString::new(format!("./{path}")) else {
            return false;
        };
        match spawn_session(&exe, &[&exe], None) {
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
        let Ok(old) = control::read_status(Path::new(".")) else {
            return;
        };
        if old.state != RunState::Run || old.pid == 0 {
            return;
        }
        let Some(info) = control::read_info(Path::new(".")) else {
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
                    self.prog,
                    "info",
                    format!("adopted running service pid {}", old.pid),
                );
            }
            Err(errno) => warn(
                self.prog,
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
        warn(self.prog, &msg);
        self.complaint = Some((key, t));
    }

    /// Prints the settings complaints when they differ from the last ones printed.
    fn complain_settings(&mut self, bad: Vec<String>) {
        if bad != self.settings_bad {
            for b in &bad {
                warn(self.prog, b);
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
