//! Helpers for the control-tool tests (control.rs, interop.rs): a fake supervisor that the
//! test drives by hand, real supervisors in guards (tend's in either mode), and the tools'
//! paths.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::ffi::OsStr;
use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rustix::fs::{FileType, Mode as FileMode, OFlags};
use tend_core::info::Info;
use tend_core::status::{RunState, Status, Want};
use tend_core::tai::Tai64n;

use crate::common::{
    alive, read, run, texts, wait_until, write_exec, Daemon, Mode, TempDir, LIMIT,
};

/// tend's svc, svok, svstat, svwait (Debian's daemontools installs programs of these names
/// in /usr/bin; the anchors are always called by absolute path).
pub const SVC: &str = concat!(env!("TEND_BIN_DIR"), "/svc");
pub const SVOK: &str = concat!(env!("TEND_BIN_DIR"), "/svok");
pub const SVSTAT: &str = concat!(env!("TEND_BIN_DIR"), "/svstat");
pub const SVWAIT: &str = concat!(env!("TEND_BIN_DIR"), "/svwait");

/// Runs one of the tools with `args` (and `SVDIR` pointing nowhere, unless given).
pub fn tool<S: AsRef<OsStr>>(prog: &str, args: &[S]) -> Output {
    let mut cmd = Command::new(prog);
    cmd.args(args).env("SVDIR", "/nonexistent/tend-test-svdir");
    run(&mut cmd)
}

/// Exit code, stdout and stderr of an output, for one-line assertions.
pub fn outcome(o: &Output) -> (i32, String, String) {
    let (out, err) = texts(o);
    (o.status.code().unwrap_or(-1), out, err)
}

/// Replaces every run of digits before " seconds" with N, so lines compare exactly
/// modulo the clock.
pub fn seconds_blurred(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find(" seconds") {
        let head = &rest[..at];
        let digits = head.len() - head.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        out.push_str(&head[..head.len() - digits]);
        out.push_str(if digits > 0 { "N seconds" } else { " seconds" });
        rest = &rest[at + " seconds".len()..];
    }
    out.push_str(rest);
    out
}

/// Makes a fifo of mode 0600, keeping an existing one.
pub fn mkfifo(path: &Path) {
    let made = rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        FileType::Fifo,
        FileMode::from_raw_mode(0o600),
        0,
    );
    assert!(
        matches!(made, Ok(()) | Err(rustix::io::Errno::EXIST)),
        "mkfifo {path:?}: {made:?}"
    );
}

/// A supervise dir run by the test itself: it holds the read ends of `ok` and `control`
/// (so svok says "supervised" and svc can write), and writes status and info by hand.
pub struct Fake {
    pub dir: PathBuf,
    ok: Option<OwnedFd>,
    control: Option<OwnedFd>,
}

impl Fake {
    /// Creates `dir/supervise/` (if needed) with its fifos and opens them, as a supervisor
    /// would.
    pub fn new(dir: &Path) -> Fake {
        fs::create_dir_all(dir.join("supervise")).unwrap();
        let mut f = Fake {
            dir: dir.to_path_buf(),
            ok: None,
            control: None,
        };
        mkfifo(&dir.join("supervise/ok"));
        mkfifo(&dir.join("supervise/control"));
        f.open();
        f
    }

    /// Opens the fifos for reading (again), as a supervisor starting up does.
    pub fn open(&mut self) {
        let rd = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let open = |f: &str| rustix::fs::open(self.dir.join(f), rd, FileMode::empty()).unwrap();
        self.control = Some(open("supervise/control"));
        self.ok = Some(open("supervise/ok"));
    }

    /// Closes the fifos, as an exiting supervisor does.
    pub fn close(&mut self) {
        self.ok = None;
        self.control = None;
    }

    /// Replaces `supervise/FILE` by rename, as supervisors do.
    pub fn replace(&self, file: &str, data: &[u8]) {
        let tmp = self.dir.join(format!("supervise/{file}.new"));
        fs::write(&tmp, data).unwrap();
        fs::rename(&tmp, self.dir.join("supervise").join(file)).unwrap();
    }

    /// Writes a 20-byte status record.
    pub fn status(&self, st: &Status) {
        self.replace("status", &st.encode());
    }

    /// Writes `supervise/info`.
    pub fn info(&self, info: &Info) {
        self.replace("info", info.encode().as_bytes());
    }

    /// Every byte written to the control fifo so far.
    pub fn control_bytes(&self) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = [0u8; 512];
        let fd = self.control.as_ref().unwrap();
        loop {
            match rustix::io::read(fd, &mut buf) {
                Ok(0) | Err(rustix::io::Errno::AGAIN) => return got,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => panic!("read control: {e}"),
            }
        }
    }
}

/// A status record `secs_ago` seconds old.
pub fn record(state: RunState, pid: u32, want: Want, secs_ago: u64) -> Status {
    let now = Tai64n::now();
    Status {
        stamp: Tai64n {
            secs: now.secs - secs_ago,
            nanos: 0,
        },
        pid,
        paused: false,
        want,
        got_term: false,
        state,
    }
}

/// A TAI64N label `secs` from now (negative: in the past).
pub fn tai_in(secs: i64) -> Tai64n {
    let now = Tai64n::now();
    Tai64n {
        secs: now.secs.saturating_add_signed(secs),
        nanos: 0,
    }
}

/// Which supervisor runs a real service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Daemontools,
    Runit,
    /// tend-supervise on the service dir (pair mode), or tend-scan -F on a scan dir that
    /// holds a symlink to it (flat mode).
    Tend(Mode),
}

impl Kind {
    /// The supervisor's program.
    pub fn program(self) -> &'static str {
        match self {
            Kind::Daemontools => "/usr/bin/supervise",
            Kind::Runit => "/usr/bin/runsv",
            Kind::Tend(Mode::Pair) => concat!(env!("TEND_BIN_DIR"), "/tend-supervise"),
            Kind::Tend(Mode::Flat) => concat!(env!("TEND_BIN_DIR"), "/tend-scan"),
        }
    }

    /// Whether the supervisor is installed; when it is not, prints why the test is
    /// skipped and returns false, unless TEND_REQUIRE_INTEROP=1, which fails the test.
    pub fn available(self, test: &str) -> bool {
        anchor(self.program(), test)
    }
}

/// Whether an anchor program such as /usr/bin/sv is installed (see [`Kind::available`]).
pub fn anchor(program: &str, test: &str) -> bool {
    if Path::new(program).exists() {
        return true;
    }
    assert!(
        std::env::var("TEND_REQUIRE_INTEROP").as_deref() != Ok("1"),
        "{test}: {program} is not installed and TEND_REQUIRE_INTEROP=1"
    );
    eprintln!("{test}: skipped: {program} not installed");
    false
}

/// The state letter of a process in /proc (R, S, T, Z...).
pub fn proc_state(pid: i32) -> char {
    let s = read(&PathBuf::from(format!("/proc/{pid}/stat")));
    let after = s.rsplit(')').next().unwrap_or("");
    after.trim_start().chars().next().unwrap_or('?')
}

/// A run script that logs to `events` in the service dir: `start PID` once its traps are
/// set, then the name of every signal it catches (TERM also ends it). It exits by itself
/// within 0.1 s of its supervisor's death, so no test leaves a service behind.
pub const RUN: &str = r#"#!/bin/sh
sup=$PPID
for s in HUP ALRM INT QUIT USR1 USR2 CONT; do trap "echo $s >> events" $s; done
trap 'echo TERM >> events; exit 0' TERM
echo "start $$" >> events
while kill -0 "$sup" 2>/dev/null; do sleep 0.1; done
"#;

/// The signal letters of svc with the event the run script ([`RUN`]) logs for each.
pub const SIGNAL_LETTERS: [(&str, &str); 7] = [
    ("h", "HUP"),
    ("a", "ALRM"),
    ("i", "INT"),
    ("q", "QUIT"),
    ("1", "USR1"),
    ("2", "USR2"),
    ("c", "CONT"),
];

/// A real supervisor on a fresh service dir `ROOT/svc`, stopped with `dx` (and then
/// signals) on drop; tend-scan -F (on `ROOT/scan`, holding `svc -> ../svc`) is stopped with
/// SIGTERM instead.
pub struct Supervised {
    // Fields drop in order: the supervisor is stopped before its dir is removed.
    pub daemon: Option<Daemon>,
    pub root: TempDir,
    pub dir: PathBuf,
    pub kind: Kind,
}

impl Supervised {
    /// Creates `ROOT/svc` with [`RUN`] (and a `down` file if `down`), starts the
    /// supervisor on it and waits until it answers svok and, unless `down`, until the
    /// service is up.
    pub fn start(kind: Kind, test: &str, down: bool) -> Supervised {
        let files: &[(&str, &str)] = if down { &[("down", "")] } else { &[] };
        let s = Supervised::start_with(kind, test, RUN, files);
        if !down {
            s.wait_started(1);
        }
        s
    }

    /// Creates `ROOT/svc` with `run` and the plain (0644) `files`, given as (name, text),
    /// starts the supervisor on it and waits until it answers svok and has written its
    /// status. A file named `run` replaces the executable one.
    pub fn start_with(kind: Kind, test: &str, run: &str, files: &[(&str, &str)]) -> Supervised {
        let root = TempDir::new(test);
        let dir = root.join("svc");
        write_exec(&dir.join("run"), run);
        for (name, text) in files {
            let _ = fs::remove_file(dir.join(name));
            fs::write(dir.join(name), text).unwrap();
        }
        let mut s = Supervised {
            root,
            dir,
            kind,
            daemon: None,
        };
        s.launch();
        s
    }

    /// Starts the supervisor (again), its stderr appended to `ROOT/supervisor.stderr`, and
    /// waits until it answers svok and has written its status.
    pub fn launch(&mut self) {
        let err = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.join("supervisor.stderr"))
            .unwrap();
        let mut cmd = Command::new("env");
        // With every signal at its default action: run from a shell's background job,
        // the tests inherit INT and QUIT ignored, which the anchors' supervisors pass on
        // to ./run, where the shell cannot trap them (tend-supervise resets them).
        cmd.arg("--default-signal").arg(self.kind.program());
        if self.kind == Kind::Tend(Mode::Flat) {
            let link = self.root.join("scan/svc");
            if fs::symlink_metadata(&link).is_err() {
                fs::create_dir_all(self.root.join("scan")).unwrap();
                std::os::unix::fs::symlink("../svc", &link).unwrap();
            }
            cmd.arg("-F").arg(self.root.join("scan"));
        } else {
            cmd.arg(&self.dir);
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(err);
        self.daemon = Some(Daemon::spawn(&mut cmd));
        wait_until(LIMIT, "the supervisor to start", || {
            tend_core::control::is_supervised(&self.dir).unwrap_or(false)
                && self.dir.join("supervise/status").exists()
        });
    }

    /// The supervisor's stderr, all its runs.
    pub fn stderr(&self) -> String {
        read(&self.root.join("supervisor.stderr"))
    }

    /// A read end of the current tend supervisor's `alive` fifo: see [`ended`].
    pub fn alive_fd(&self) -> OwnedFd {
        assert!(
            matches!(self.kind, Kind::Tend(_)),
            "{:?} has no alive",
            self.kind
        );
        rustix::fs::open(
            self.dir.join("supervise/alive"),
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
            FileMode::empty(),
        )
        .unwrap()
    }

    /// What shows that the current tend supervisor ends, taken before it is told to.
    pub fn ending(&self) -> Ending {
        Ending {
            alive: self.alive_fd(),
            said: self.stderr().matches(X_ENDED).count(),
        }
    }

    /// Waits until the tend supervisor of `was` (taken before the `x`) has ended as `x`
    /// asks, with exit code 0. tend-supervise exits; in flat mode tend-scan, which runs
    /// on, says so and at once (a second after the last start at the latest) starts a
    /// fresh supervisor on svc, which makes a new `alive` and starts the service unless
    /// `down` says not to.
    pub fn wait_ended_by_x(&mut self, was: Ending) {
        let alive = &was.alive;
        if self.kind != Kind::Tend(Mode::Flat) {
            assert_eq!(self.wait_exit(), Some(0), "{}", self.stderr());
            assert!(ended(alive));
            return;
        }
        wait_until(LIMIT, "the supervisor in tend-scan to end", || ended(alive));
        wait_until(LIMIT, "tend-scan to say the supervisor ended", || {
            self.stderr().matches(X_ENDED).count() == was.said + 1
        });
        let ino = rustix::fs::fstat(alive).unwrap().st_ino;
        wait_until(LIMIT, "a fresh supervisor in tend-scan", || {
            tend_core::control::is_supervised(&self.dir).unwrap_or(false)
                && rustix::fs::stat(self.dir.join("supervise/alive")).is_ok_and(|m| m.st_ino != ino)
        });
        let d = self.daemon.as_mut().unwrap();
        assert!(!d.exited(), "tend-scan exited: {}", self.stderr());
        assert!(!ended(&self.alive_fd()), "the fresh supervisor ended");
    }

    /// The service dir as an argument with a slash, so it is not looked up in $SVDIR.
    pub fn arg(&self) -> &Path {
        &self.dir
    }

    /// The decoded status file.
    pub fn status(&self) -> Status {
        tend_core::control::read_status(&self.dir).unwrap()
    }

    /// The run script's event log.
    pub fn events(&self) -> String {
        read(&self.dir.join("events"))
    }

    /// The pids of the run script's starts, in order.
    pub fn starts(&self) -> Vec<i32> {
        self.events()
            .lines()
            .filter_map(|l| l.strip_prefix("start "))
            .map(|p| p.parse().unwrap())
            .collect()
    }

    /// Waits until the run script has started `n` times and its traps are set, and
    /// the status file shows that run up; returns its pid.
    pub fn wait_started(&self, n: usize) -> i32 {
        let mut pid = 0;
        wait_until(LIMIT, &format!("start #{n} of the service"), || {
            let starts = self.starts();
            pid = starts.get(n - 1).copied().unwrap_or(0);
            pid != 0 && {
                let st = self.status();
                st.state == RunState::Run && st.pid == pid as u32
            }
        });
        pid
    }

    /// Waits until `event` (a signal name) appears `n` times in the event log.
    pub fn wait_event(&self, event: &str, n: usize) {
        wait_until(LIMIT, &format!("{event} #{n} in the event log"), || {
            self.events().lines().filter(|l| *l == event).count() >= n
        });
    }

    /// Waits until the status file says down.
    pub fn wait_down(&self) {
        wait_until(LIMIT, "the service to be down", || {
            self.status().state == RunState::Down
        });
    }

    /// Waits (bounded) for the supervisor to exit; returns its exit code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        let d = self.daemon.as_mut().unwrap();
        d.wait_exit(LIMIT).code()
    }

    /// Stops the service and the supervisor: `dx` (SIGTERM to tend-scan -F, which `x`
    /// would only have start a fresh supervisor), then the guard's signals; then waits
    /// (bounded, without failing: this also runs while a failed test unwinds) for every
    /// run script to exit.
    pub fn stop(&mut self) {
        let end = Instant::now() + LIMIT;
        if let Some(mut d) = self.daemon.take() {
            if !d.exited() {
                match self.kind {
                    Kind::Tend(Mode::Flat) => d.signal(15),
                    _ => {
                        let _ = tend_core::control::send(&self.dir, b"dx");
                    }
                }
                while !d.exited() && Instant::now() < end {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
        for pid in self.starts() {
            while alive(pid) && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.stop();
    }
}

/// tend-scan -F's line when the supervisor of svc has ended after an `x`.
const X_ENDED: &str = "tend-scan: warning: supervisor for svc ended (exit code 0); restarting it\n";

/// See [`Supervised::ending`].
pub struct Ending {
    alive: OwnedFd,
    /// How many times tend-scan had said [`X_ENDED`].
    said: usize,
}

/// Whether the supervisor whose `alive` fifo (see [`Supervised::alive_fd`]) `fd` reads has
/// ended: it holds the fifo open while it runs, and a fifo with no writer left reads
/// end-of-file (a new supervisor makes a new `alive`).
pub fn ended(fd: &OwnedFd) -> bool {
    matches!(rustix::io::read(fd, &mut [0u8; 1]), Ok(0))
}
