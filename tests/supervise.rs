//! tend-supervise, run for real: real run scripts, real signals, real supervise/ files.
//! Most tests run twice (see `common::both_modes`): with the service dir's own
//! tend-supervise, and supervised inside `tend-scan -F` (flat mode), which runs the same
//! code on it and must keep the same supervise/ files and answer the same letters.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use std::ffi::OsString;
use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use rustix::fs::{Mode as FileMode, OFlags};

const SUP: &str = concat!(env!("TEND_BIN_DIR"), "/tend-supervise");
const SCAN: &str = concat!(env!("TEND_BIN_DIR"), "/tend-scan");

/// A test's service dir `sv` inside a temp dir, with its supervisor's stderr in `stderr`.
/// In pair mode the supervisor is `tend-supervise sv`; in flat mode it is `tend-scan -F
/// scan`, where `scan/sv` is a symlink to `../sv`.
struct Svc {
    // Fields drop in order: the supervisor is stopped before its dir is removed.
    sup: Option<Daemon>,
    tmp: TempDir,
    mode: common::Mode,
}

impl Svc {
    /// A service dir whose run script is `run`.
    fn new(name: &str, mode: common::Mode, run: &str) -> Svc {
        let tmp = TempDir::new(name);
        write_exec(&tmp.join("sv/run"), run);
        Svc {
            sup: None,
            tmp,
            mode,
        }
    }

    /// A service dir with nothing in it yet.
    fn empty(name: &str, mode: common::Mode) -> Svc {
        let tmp = TempDir::new(name);
        fs::create_dir_all(tmp.join("sv")).unwrap();
        Svc {
            sup: None,
            tmp,
            mode,
        }
    }

    fn dir(&self) -> PathBuf {
        self.tmp.join("sv")
    }

    fn file(&self, rel: &str) -> PathBuf {
        self.tmp.join(rel)
    }

    /// The prefix of the supervisor's messages about sv.
    fn prog(&self) -> String {
        self.mode.prog("sv")
    }

    /// The supervisor's command line, run from the temp dir: `tend-supervise sv`, or
    /// `tend-scan -F scan` (making `scan/sv -> ../sv` first).
    fn argv(&self) -> Vec<OsString> {
        match self.mode {
            common::Mode::Pair => vec![SUP.into(), "sv".into()],
            common::Mode::Flat => {
                let link = self.file("scan/sv");
                if fs::symlink_metadata(&link).is_err() {
                    fs::create_dir_all(self.file("scan")).unwrap();
                    std::os::unix::fs::symlink("../sv", &link).unwrap();
                }
                vec![SCAN.into(), "-F".into(), "scan".into()]
            }
        }
    }

    /// Starts the supervisor on sv, from the temp dir.
    fn start(&mut self) -> &mut Svc {
        let argv = self.argv();
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        self.start_with(cmd)
    }

    /// Starts `cmd` (the supervisor, or a program that execs it with the arguments it is
    /// given, see [`Svc::argv`]) from the temp dir, and waits until it answers on sv.
    fn start_with(&mut self, mut cmd: Command) -> &mut Svc {
        let err = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.file("stderr"))
            .unwrap();
        cmd.current_dir(self.tmp.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err);
        self.sup = Some(Daemon::spawn(&mut cmd));
        let ok = self.dir().join("supervise/ok");
        wait_until(LIMIT, "supervise/ok to have a reader", || {
            is_supervised(&ok)
        });
        self
    }

    /// The supervisor process: tend-supervise, or tend-scan in flat mode.
    fn sup(&mut self) -> &mut Daemon {
        self.sup.as_mut().unwrap()
    }

    /// Stops the supervisor for good, checking that it exits 0: `x` and `d` to
    /// tend-supervise, SIGTERM to tend-scan (`x` would only have it start a fresh one).
    fn stop(&mut self) {
        match self.mode {
            common::Mode::Pair => {
                self.ctl(b"x");
                self.ctl(b"d");
            }
            common::Mode::Flat => self.sup().signal(15),
        }
        let st = self.sup().wait_exit(LIMIT);
        assert!(st.success(), "{st:?}: {}", self.stderr());
    }

    /// Gets sv, which has no ./run, to where its supervisor finds ./run missing. tend-supervise
    /// is started on sv as it is ([`Svc::start`], or `start`); tend-scan takes a service dir
    /// up only once its ./run is executable, so in flat mode sv gets one first, which is
    /// removed once it runs, and its process killed.
    fn start_with_run_missing(&mut self, start: impl FnOnce(&mut Svc)) {
        assert!(!self.dir().join("run").exists());
        if self.mode == common::Mode::Flat {
            write_exec(&self.dir().join("run"), "#!/bin/sh\nexec sleep 1000\n");
        }
        start(self);
        if self.mode == common::Mode::Flat {
            let pid = self.wait_up(0);
            fs::remove_file(self.dir().join("run")).unwrap();
            self.ctl(b"k");
            wait_until(LIMIT, "the run to be killed", || !alive(pid as i32));
        }
        wait_until(LIMIT, "run missing in info", || {
            self.info("run") == "missing"
        });
    }

    /// A read end of the current supervisor's `alive` fifo: see [`ended`].
    fn alive_fd(&self) -> OwnedFd {
        rustix::fs::open(
            self.dir().join("supervise/alive"),
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
            FileMode::empty(),
        )
        .unwrap()
    }

    /// What shows that the current supervisor ends, taken before it is told to.
    fn ending(&self) -> Ending {
        Ending {
            alive: self.alive_fd(),
            said: self.stderr().matches(X_ENDED).count(),
        }
    }

    /// Checks that the supervisor of `was` (taken before the `x`) has ended as `x` asks,
    /// with exit code 0: tend-supervise exits; in flat mode tend-scan, which runs on, says
    /// so and starts a fresh supervisor on sv at once (a second after the last start at
    /// the latest), which makes a new `alive`.
    fn wait_ended_by_x(&mut self, was: Ending) {
        let alive = &was.alive;
        match self.mode {
            common::Mode::Pair => {
                let st = self.sup().wait_exit(LIMIT);
                assert!(st.success(), "{st:?}: {}", self.stderr());
                assert!(ended(alive));
            }
            common::Mode::Flat => {
                wait_until(LIMIT, "the supervisor in tend-scan to end", || ended(alive));
                wait_until(LIMIT, "tend-scan to say the supervisor ended", || {
                    self.stderr().matches(X_ENDED).count() == was.said + 1
                });
                let ino = rustix::fs::fstat(alive).unwrap().st_ino;
                let ok = self.dir().join("supervise/ok");
                wait_until(LIMIT, "a fresh supervisor in tend-scan", || {
                    is_supervised(&ok)
                        && fs::metadata(self.dir().join("supervise/alive"))
                            .is_ok_and(|m| m.ino() != ino)
                });
                assert!(!self.sup().exited(), "tend-scan exited: {}", self.stderr());
                assert!(!ended(&self.alive_fd()), "the fresh supervisor ended");
            }
        }
    }

    /// Writes control bytes to supervise/control.
    fn ctl(&self, bytes: &[u8]) {
        let fd = rustix::fs::open(
            self.dir().join("supervise/control"),
            OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
            FileMode::empty(),
        )
        .unwrap();
        assert_eq!(rustix::io::write(&fd, bytes).unwrap(), bytes.len());
    }

    fn status(&self) -> Vec<u8> {
        fs::read(self.dir().join("supervise/status")).unwrap_or_default()
    }

    fn pid(&self) -> u32 {
        let s = self.status();
        if s.len() < 16 {
            return 0;
        }
        u32::from_le_bytes([s[12], s[13], s[14], s[15]])
    }

    /// Status byte 19: 0 down, 1 run, 2 finish.
    fn state(&self) -> u8 {
        self.status().get(19).copied().unwrap_or(255)
    }

    fn info(&self, key: &str) -> String {
        let text = read(&self.dir().join("supervise/info"));
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{key} ")))
            .unwrap_or("");
        line.split_once(' ')
            .map(|(_, v)| v.to_string())
            .unwrap_or_default()
    }

    /// Waits until the service runs with a pid other than `not`, and returns the pid.
    fn wait_up(&self, not: u32) -> u32 {
        wait_until(LIMIT, "the service to be up", || {
            self.state() == 1 && self.pid() != 0 && self.pid() != not
        });
        self.pid()
    }

    fn wait_down(&self) {
        wait_until(LIMIT, "the service to be down", || self.state() == 0);
    }

    fn lines(&self, rel: &str) -> Vec<String> {
        read(&self.file(rel)).lines().map(str::to_string).collect()
    }

    fn stderr(&self) -> String {
        read(&self.file("stderr"))
    }
}

fn is_supervised(ok: &Path) -> bool {
    rustix::fs::open(
        ok,
        OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        FileMode::empty(),
    )
    .is_ok()
}

/// tend-scan -F's line when the supervisor of sv has ended after an `x`.
const X_ENDED: &str = "tend-scan: warning: supervisor for sv ended (exit code 0); restarting it\n";

/// See [`Svc::ending`].
struct Ending {
    alive: OwnedFd,
    /// How many times tend-scan had said [`X_ENDED`].
    said: usize,
}

/// Whether the supervisor whose `alive` fifo `fd` reads has ended: it holds the fifo open
/// for writing while it runs, and a fifo with no writer left reads end-of-file (a new
/// supervisor makes a new fifo).
fn ended(fd: &OwnedFd) -> bool {
    matches!(rustix::io::read(fd, &mut [0u8; 1]), Ok(0))
}

/// A run script that logs each start and each trapped signal to ../events, then waits.
const TRAPPING: &str = r#"#!/bin/sh
echo "start $$" >> ../events
for s in HUP ALRM INT QUIT USR1 USR2; do trap "echo $s >> ../events" $s; done
trap 'echo TERM >> ../events; exit 0' TERM
while :; do sleep 0.05; done
"#;

both_modes! {
    fn starts_run_and_keeps_the_supervise_dir_in_runit_format(mode) {
        let mut s = Svc::new("format", mode, "#!/bin/sh\nexec sleep 1000\n");
        s.start();
        let pid = s.wait_up(0);
        let st = s.status();
        assert_eq!(st.len(), 20);
        assert_eq!(&st[..8][..1], &[0x40]);
        assert_eq!((st[16], st[17], st[18], st[19]), (0, b'u', 0, 1));
        let sv = s.dir();
        assert_eq!(read(&sv.join("supervise/stat")), "run\n");
        assert_eq!(read(&sv.join("supervise/pid")), format!("{pid}\n"));
        for (f, mode) in [("control", 0o600), ("ok", 0o600)] {
            let m = fs::metadata(sv.join("supervise").join(f)).unwrap();
            assert!(m.file_type().is_fifo(), "{f} is a fifo");
            assert_eq!(m.permissions().mode() & 0o777, mode, "{f} mode");
        }
        assert_eq!(
            fs::metadata(sv.join("supervise/status"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o644
        );
        assert_eq!(
            fs::metadata(sv.join("supervise"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o755
        );
        assert_eq!(s.info("run"), "ok");
        assert_eq!(s.info("starts"), "1");
        // The daemon runs in a session of its own, with the service dir as cwd.
        let stat = read(Path::new(&format!("/proc/{pid}/stat")));
        let sid: u32 = stat
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .nth(3)
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(sid, pid);
        assert_eq!(
            fs::read_link(format!("/proc/{pid}/cwd")).unwrap(),
            fs::canonicalize(&sv).unwrap()
        );
    }
}

/// The names in sv/supervise, sorted.
fn entries(s: &Svc) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(s.dir().join("supervise"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

both_modes! {
    fn readers_see_whole_status_files_while_the_service_restarts(mode) {
        // A reader thread reads status, stat and pid over and over while the service is
        // restarted 10 times: every read is a whole file, old or new, never a torn one.
        let mut s = Svc::new("whole", mode, "#!/bin/sh\nexec sleep 1000\n");
        s.start();
        let mut pid = s.wait_up(0);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (dir, stop) = (s.dir().join("supervise"), std::sync::Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut reads = 0u64;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let status = fs::read(dir.join("status")).unwrap();
                    assert_eq!(status.len(), 20, "torn status: {status:?}");
                    let stat = fs::read_to_string(dir.join("stat")).unwrap();
                    let word = stat.split([',', '\n']).next().unwrap_or_default();
                    let whole = stat.ends_with('\n') && stat.matches('\n').count() == 1;
                    assert!(
                        whole && ["run", "down", "finish"].contains(&word),
                        "torn stat: {stat:?}"
                    );
                    let p = fs::read_to_string(dir.join("pid")).unwrap();
                    let whole = p.is_empty()
                        || (p.ends_with('\n') && p.trim_end().parse::<u32>().is_ok_and(|n| n > 0));
                    assert!(whole, "torn pid: {p:?}");
                    reads += 1;
                }
                reads
            })
        };
        for _ in 0..10 {
            s.ctl(b"k");
            pid = s.wait_up(pid);
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let reads = reader.join().unwrap();
        assert!(reads > 10, "only {reads} reads");
        assert_eq!(s.pid(), pid);
    }
}

both_modes! {
    fn the_supervise_dir_holds_eight_entries_at_rest(mode) {
        let mut s = Svc::new("entries", mode, "#!/bin/sh\nexec sleep 1000\n");
        // Spare files a tend before 2026-12 kept (or a supervisor killed mid-change left)
        // are removed when a supervisor starts.
        fs::create_dir(s.dir().join("supervise")).unwrap();
        for f in ["status.new", "stat.new", "pid.new", "info.new"] {
            fs::write(s.dir().join("supervise").join(f), "old").unwrap();
        }
        s.start();
        let at_rest = [
            "alive", "control", "info", "lock", "ok", "pid", "stat", "status",
        ];
        let pid = s.wait_up(0);
        assert_eq!(entries(&s), at_rest, "after the start");
        s.ctl(b"k");
        s.wait_up(pid);
        assert_eq!(entries(&s), at_rest, "after a restart");
        s.ctl(b"d");
        s.wait_down();
        assert_eq!(read(&s.dir().join("supervise/stat")), "down\n");
        assert_eq!(entries(&s), at_rest, "after a down");
    }
}

both_modes! {
    fn signal_letters_reach_the_service(mode) {
        let mut s = Svc::new("letters", mode, TRAPPING);
        s.start();
        let pid = s.wait_up(0);
        wait_until(LIMIT, "the run script to start", || {
            s.lines("events").len() == 1
        });
        for (letter, name) in [
            (b'h', "HUP"),
            (b'a', "ALRM"),
            (b'i', "INT"),
            (b'q', "QUIT"),
            (b'1', "USR1"),
            (b'2', "USR2"),
        ] {
            s.ctl(&[letter]);
            wait_until(LIMIT, name, || {
                s.lines("events").last().map(String::as_str) == Some(name)
            });
        }
        assert_eq!(s.pid(), pid, "no restart from harmless signals");
        // p stops it and marks it paused; c continues.
        s.ctl(b"p");
        let state = |pid: u32| {
            read(Path::new(&format!("/proc/{pid}/stat")))
                .rsplit(')')
                .next()
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap()
                .to_string()
        };
        wait_until(LIMIT, "paused flag and stopped process", || {
            s.status()[16] == 1 && state(pid) == "T"
        });
        assert_eq!(read(&s.dir().join("supervise/stat")), "run, paused\n");
        s.ctl(b"c");
        wait_until(LIMIT, "continued", || {
            s.status()[16] == 0 && state(pid) != "T"
        });
        // t: TERM, the script exits, and the service is started again (want up).
        s.ctl(b"t");
        let pid2 = s.wait_up(pid);
        assert!(s.lines("events").contains(&"TERM".to_string()));
        // k: KILL, restarted too.
        s.ctl(b"k");
        let pid3 = s.wait_up(pid2);
        assert!(!alive(pid2 as i32));
        assert_eq!(s.info("exit"), "signal 9");
        assert_ne!(pid3, pid2);
    }
}

both_modes! {
    fn down_up_once_and_exit(mode) {
        let mut s = Svc::new("dux", mode, TRAPPING);
        s.start();
        let pid = s.wait_up(0);
        s.ctl(b"d");
        s.wait_down();
        assert!(!alive(pid as i32));
        assert_eq!(s.status()[17], b'd');
        assert_eq!(read(&s.dir().join("supervise/stat")), "down\n");
        assert_eq!(read(&s.dir().join("supervise/pid")), "");
        s.ctl(b"u");
        let pid = s.wait_up(pid);
        assert_eq!(s.status()[17], b'u');
        // o: want nothing; once it ends, it stays down.
        s.ctl(b"o");
        wait_until(LIMIT, "want byte 0", || s.status()[17] == 0);
        s.ctl(b"t");
        s.wait_down();
        let starts = s
            .lines("events")
            .iter()
            .filter(|l| l.starts_with("start"))
            .count();
        s.ctl(b"o");
        let pid = s.wait_up(pid);
        let count = || {
            s.lines("events")
                .iter()
                .filter(|l| l.starts_with("start"))
                .count()
        };
        wait_until(LIMIT, "the run script to start", || count() == starts + 1);
        s.ctl(b"k");
        s.wait_down();
        assert_eq!(
            s.lines("events")
                .iter()
                .filter(|l| l.starts_with("start"))
                .count(),
            starts + 1
        );
        // x while down: the supervisor exits 0; in flat mode tend-scan starts a fresh one,
        // which starts the service, as the service dir says.
        let was = s.ending();
        s.ctl(b"x");
        s.wait_ended_by_x(was);
        assert!(!alive(pid as i32));
        if mode == Mode::Flat {
            s.wait_up(0);
            wait_until(LIMIT, "the fresh supervisor's start", || {
                s.lines("events")
                    .iter()
                    .filter(|l| l.starts_with("start"))
                    .count()
                    == starts + 2
            });
        }
    }
}

both_modes! {
    fn exit_letter_waits_until_the_service_is_down(mode) {
        let mut s = Svc::new("xwait", mode, TRAPPING);
        s.start();
        let pid = s.wait_up(0);
        wait_until(LIMIT, "the run script to start", || {
            s.lines("events").len() == 1
        });
        // Letters are obeyed in order: once HUP reaches the script, x has been seen.
        let was = s.ending();
        s.ctl(b"xh");
        wait_until(LIMIT, "HUP", || {
            s.lines("events").last().map(String::as_str) == Some("HUP")
        });
        assert!(alive(pid as i32), "x alone does not stop the service");
        assert!(!ended(&was.alive), "x alone does not end the supervisor");
        assert!(!s.sup().exited(), "x alone does not end the supervisor");
        s.ctl(b"d");
        s.wait_ended_by_x(was);
        assert!(!alive(pid as i32));
    }
}

both_modes! {
    fn finish_gets_exit_code_and_signal(mode) {
        let mut s = Svc::new(
            "finish",
            mode,
            "#!/bin/sh\necho run >> ../events\nexec sleep 1000\n",
        );
        write_exec(
            &s.dir().join("finish"),
            "#!/bin/sh\necho \"finish $1 $2\" >> ../events\n",
        );
        s.start();
        let pid = s.wait_up(0);
        s.ctl(b"k");
        s.wait_up(pid);
        assert!(
            s.lines("events").contains(&"finish -1 9".to_string()),
            "{:?}",
            s.lines("events")
        );
        // The shell opens ./run by name after the exec that status already reports: replacing
        // the file before the second start has run would run the new one in its place.
        wait_until(LIMIT, "the second start to run", || {
            s.lines("events").iter().filter(|l| *l == "run").count() == 2
        });
        write_exec(
            &s.dir().join("run"),
            "#!/bin/sh\necho run >> ../events\nexit 3\n",
        );
        s.ctl(b"t");
        wait_until(LIMIT, "finish 3 0", || {
            s.lines("events").contains(&"finish 3 0".to_string())
        });
        assert!(
            s.lines("events").contains(&"finish -1 15".to_string()),
            "{:?}",
            s.lines("events")
        );
    }
}

both_modes! {
    fn a_hanging_finish_is_killed_after_timeout_finish(mode) {
        let mut s = Svc::new(
            "finhang",
            mode,
            "#!/bin/sh\necho run >> ../events\nexec sleep 1000\n",
        );
        write_exec(
            &s.dir().join("finish"),
            "#!/bin/sh\necho finish $$ >> ../events\nexec sleep 1000\n",
        );
        fs::write(s.dir().join("timeout-finish"), "300\n").unwrap();
        s.start();
        let pid = s.wait_up(0);
        s.ctl(b"t");
        wait_until(LIMIT, "finish state", || s.state() == 2);
        let fpid = s.pid();
        assert_ne!(fpid, pid);
        assert_eq!(read(&s.dir().join("supervise/stat")), "finish\n");
        // finish is killed after 300 ms, and run starts again.
        s.wait_up(fpid);
        assert!(!alive(fpid as i32));
        wait_until(LIMIT, "the second run", || {
            s.lines("events").iter().filter(|l| *l == "run").count() == 2
        });
    }
}

both_modes! {
    fn down_file_keeps_the_service_down_until_up(mode) {
        let mut s = Svc::new(
            "downfile",
            mode,
            "#!/bin/sh\necho start >> ../events\nexec sleep 1000\n",
        );
        fs::write(s.dir().join("down"), "").unwrap();
        s.start();
        wait_until(LIMIT, "status", || s.status().len() == 20);
        assert_eq!((s.state(), s.status()[17]), (0, b'd'));
        assert!(s.lines("events").is_empty());
        s.ctl(b"u");
        s.wait_up(0);
        // The status says up once the run script is spawned; its first line comes a moment later.
        wait_until(LIMIT, "the run script to start", || {
            !s.lines("events").is_empty()
        });
        assert_eq!(s.lines("events"), vec!["start"]);
    }
}

both_modes! {
    fn down_signal_and_timeout_kill(mode) {
        // The daemon ignores TERM and HUP; down-signal HUP, then SIGKILL after 1 s: time enough
        // for the trap to run on a busy machine (it runs once the current `sleep 0.05` ends).
        let run = "#!/bin/sh\ntrap 'echo HUP >> ../events' HUP\ntrap '' TERM\necho trapped >> ../events\nwhile :; do sleep 0.05; done\n";
        let mut s = Svc::new("tkill", mode, run);
        fs::write(s.dir().join("down-signal"), "HUP\n").unwrap();
        fs::write(s.dir().join("timeout-kill"), "1000\n").unwrap();
        s.start();
        let pid = s.wait_up(0);
        wait_until(LIMIT, "traps set", || !s.lines("events").is_empty());
        s.ctl(b"d");
        s.wait_down();
        assert_eq!(s.lines("events"), vec!["trapped", "HUP"]);
        assert!(!alive(pid as i32));
        assert_eq!(s.info("exit"), "signal 9");
        assert_eq!(s.status()[18], 0, "got TERM is clear once down");
    }
}

both_modes! {
    fn malformed_settings_files_warn_and_keep_defaults(mode) {
        let mut s = Svc::new("badsettings", mode, "#!/bin/sh\nexec sleep 1000\n");
        fs::write(s.dir().join("timeout-kill"), "soon\n").unwrap();
        fs::write(s.dir().join("down-signal"), "SIGNOPE\n").unwrap();
        fs::write(s.dir().join("notification-fd"), "1\n").unwrap();
        s.start();
        let pid = s.wait_up(0);
        wait_until(LIMIT, "warnings", || s.stderr().lines().count() >= 3);
        let err = s.stderr();
        for why in [
            "timeout-kill: not a number of milliseconds up to 2147483648: soon",
            "down-signal: unknown signal: SIGNOPE",
            "notification-fd: not a descriptor from 3 to 1023: 1",
        ] {
            let line = format!("{}: warning: ignoring {why}\n", s.prog());
            assert_eq!(err.matches(&line).count(), 1, "{line}: {err}");
        }
        // The default down signal (TERM) still works.
        s.ctl(b"d");
        s.wait_down();
        assert!(!alive(pid as i32));
    }
}

both_modes! {
    fn notification_fd_marks_ready(mode) {
        let mut s = Svc::new(
            "notify",
            mode,
            "#!/bin/sh\ntest -e ../go || exec sleep 1000\necho ready >&5\nexec sleep 1000 5>&-\n",
        );
        fs::write(s.dir().join("notification-fd"), "5\n").unwrap();
        s.start();
        s.wait_up(0);
        assert_eq!(s.info("notify"), "5");
        assert_eq!(s.info("ready"), "-");
        fs::write(s.file("go"), "").unwrap();
        let pid = s.pid();
        s.ctl(b"t");
        s.wait_up(pid);
        wait_until(LIMIT, "ready time", || s.info("ready").starts_with("@4000"));
    }
}

both_modes! {
    fn run_starts_with_every_signal_at_its_default_action(mode) {
        // A supervisor started with HUP, INT and QUIT ignored (as under nohup, or in a
        // shell's background job) must not pass that on: a shell run script could not trap
        // them. HUP and INT it handles itself; QUIT stays ignored in it.
        let mut s = Svc::new("sigdfl", mode, "#!/bin/sh\nexec sleep 1000\n");
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", "trap '' HUP INT QUIT; exec \"$0\" \"$@\""])
            .args(s.argv());
        s.start_with(cmd);
        let pid = s.wait_up(0);
        let mask = |pid: i32, key: &str| {
            let text = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
            let line = text
                .lines()
                .find(|l| l.starts_with(key))
                .unwrap()
                .to_string();
            u64::from_str_radix(line[key.len()..].trim(), 16).unwrap()
        };
        let quit = 1 << (3 - 1);
        assert_eq!(mask(s.sup().pid(), "SigIgn:") & quit, quit);
        assert_eq!(mask(pid as i32, "SigIgn:"), 0);
        assert_eq!(mask(pid as i32, "SigBlk:"), 0);
    }
}

both_modes! {
    fn notification_fd_may_be_the_number_the_pipe_end_already_has(mode) {
        // The readiness pipe takes the lowest free numbers, within 3..=16 however the
        // supervisor's own descriptors are laid out, so one of these services asks for the
        // number its pipe end already has (a plain dup2 there would keep close-on-exec, and
        // ./run would find nothing on it).
        let mut svcs: Vec<Svc> = (3..=16)
            .map(|n| {
                let run = format!("#!/bin/sh\necho ready > /dev/fd/{n}\nexec sleep 1000\n");
                let s = Svc::new(&format!("nfd{n}"), mode, &run);
                fs::write(s.dir().join("notification-fd"), format!("{n}\n")).unwrap();
                s
            })
            .collect();
        for s in &mut svcs {
            s.start();
        }
        for s in &svcs {
            wait_until(LIMIT, "ready", || s.info("ready").starts_with("@4000"));
        }
    }
}

both_modes! {
    fn missing_then_non_executable_run_is_visible_and_retried(mode) {
        let mut s = Svc::empty("norun", mode);
        s.start_with_run_missing(|s| {
            s.start();
        });
        let said = format!(
            "{}: warning: unable to start ./run: file does not exist (retrying in ",
            s.prog()
        );
        wait_until(LIMIT, "a message", || s.stderr().contains(&said));
        fs::write(s.dir().join("run"), "#!/bin/sh\nexec sleep 1000\n").unwrap();
        wait_until(LIMIT, "run not executable in info", || {
            s.info("run") == "not-executable"
        });
        assert_eq!(s.state(), 0);
        fs::set_permissions(s.dir().join("run"), fs::Permissions::from_mode(0o755)).unwrap();
        // Fixed mid-loop: it comes up within the current backoff step, without any command.
        s.wait_up(0);
        assert_eq!(s.info("run"), "ok");
        // Messages are rate-limited: far fewer lines than attempts.
        let msgs = s.stderr().lines().count();
        assert!(msgs <= 4, "{}", s.stderr());
    }
}

both_modes! {
    fn crash_loop_backs_off_and_recovers_when_fixed(mode) {
        let run = "#!/bin/sh\ndate +%s%N >> ../events\ntest -e ../fixed && exec sleep 1000\nexit 1\n";
        let mut s = Svc::new("crashloop", mode, run);
        s.start();
        // Watch 10 seconds of a crash loop: the anchors start it 10 times (1 s apart).
        let t0 = Instant::now();
        wait_until(LIMIT, "a visible backoff", || {
            s.info("backoff").starts_with(|c: char| c.is_ascii_digit())
        });
        while t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50)); // observation window, not synchronisation
        }
        let times: Vec<u64> = s
            .lines("events")
            .iter()
            .map(|l| l.parse::<u64>().unwrap() / 1_000_000)
            .collect();
        let starts = times.len();
        assert!(
            (3..=5).contains(&starts),
            "{starts} starts in 10 s: {times:?}"
        );
        let gaps: Vec<u64> = times.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(
            gaps.iter().all(|&g| g >= 950),
            "starts less than 1 s apart: {gaps:?}"
        );
        assert!(gaps[1] > gaps[0] + 400, "the delay grows: {gaps:?}");
        // Fixed mid-loop: it comes up within the current step (at most 30 s), unprompted.
        fs::write(s.file("fixed"), "").unwrap();
        wait_until(
            Duration::from_secs(40),
            "the fixed service to stay up",
            || s.state() == 1 && s.info("backoff") == "-",
        );
        // u during a backoff starts at once, long before the backoff would have.
        let pid = s.pid();
        fs::remove_file(s.file("fixed")).unwrap();
        s.ctl(b"k");
        wait_until(LIMIT, "a backoff again", || {
            s.info("backoff").starts_with(|c: char| c.is_ascii_digit())
        });
        let t = Instant::now();
        let delay_ms: u64 = s
            .info("backoff")
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(delay_ms >= 2000, "{delay_ms}");
        fs::write(s.file("fixed"), "").unwrap();
        s.ctl(b"u");
        s.wait_up(pid);
        assert!(
            t.elapsed() < Duration::from_millis(delay_ms),
            "u did not cut the backoff short"
        );
    }
}

both_modes! {
    fn a_run_that_exits_by_itself_a_second_after_start_backs_off(mode) {
        // Killed from outside, a run is restarted without backoff (faults.rs shows it under
        // kill -9); one that fails by itself after a second is still a crash loop.
        let mut s = Svc::new("selfexit", mode, "#!/bin/sh\nsleep 1\nexit 1\n");
        s.start();
        wait_until(Duration::from_secs(30), "a visible backoff", || {
            s.info("backoff").starts_with(|c: char| c.is_ascii_digit())
        });
        assert_eq!(s.info("exit"), "exit 1");
    }
}

both_modes! {
    fn finish_exiting_125_keeps_the_service_down_until_up(mode) {
        // s6's permanent failure: ./finish exits 125, so the service is not restarted.
        let mut s = Svc::new(
            "finish125",
            mode,
            "#!/bin/sh\necho started >> ../starts\ntest -e ../fixed && exec sleep 1000\nexit 3\n",
        );
        write_exec(
            &s.dir().join("finish"),
            "#!/bin/sh\ntest -e ../fixed || exit 125\n",
        );
        s.start();
        wait_until(LIMIT, "finish to ask for no restart", || {
            s.info("finish") == "stop" && s.state() == 0
        });
        let svstat = || {
            let o = run(Command::new(concat!(env!("TEND_BIN_DIR"), "/svstat"))
                .arg("./sv")
                .current_dir(s.tmp.path()));
            texts(&o).0
        };
        let line = svstat();
        assert!(
            line.contains(", normally up, exited 3, finish asked not to restart"),
            "{line}"
        );
        assert_eq!(s.status()[17], b'd', "want down in the status record");
        // It stays down (the 1 s spacing and any backoff long past).
        let t = Instant::now();
        while t.elapsed() < Duration::from_millis(2500) {
            std::thread::sleep(Duration::from_millis(50)); // observation window
        }
        assert_eq!(s.lines("starts").len(), 1, "restarted after finish 125");
        // svc -u starts it again, and the note goes.
        fs::write(s.file("fixed"), "").unwrap();
        s.ctl(b"u");
        s.wait_up(0);
        assert_eq!(s.info("finish"), "-");
        assert!(!svstat().contains("finish asked"), "{}", svstat());
    }
}

both_modes! {
    fn sigterm_brings_the_service_down_runs_finish_and_exits(mode) {
        let mut s = Svc::new("sigterm", mode, TRAPPING);
        write_exec(
            &s.dir().join("finish"),
            "#!/bin/sh\necho \"finish $1 $2\" >> ../events\n",
        );
        s.start();
        let pid = s.wait_up(0);
        wait_until(LIMIT, "the run script to start", || {
            s.lines("events").len() == 1
        });
        s.sup().signal(15);
        let st = s.sup().wait_exit(LIMIT);
        assert!(st.success(), "{st:?}");
        assert!(!alive(pid as i32));
        let ev = s.lines("events");
        assert_eq!(&ev[1..], ["TERM", "finish 0 0"]);
        assert_eq!(s.state(), 0);
    }
}

both_modes! {
    fn dangling_supervise_symlink_is_followed(mode) {
        let mut s = Svc::new("symlink", mode, "#!/bin/sh\nexec sleep 1000\n");
        let target = s.file("run-state/sv");
        std::os::unix::fs::symlink(&target, s.dir().join("supervise")).unwrap();
        s.start();
        s.wait_up(0);
        assert!(target.join("status").exists());
        assert!(fs::symlink_metadata(s.dir().join("supervise"))
            .unwrap()
            .file_type()
            .is_symlink());
    }
}

both_modes! {
    fn a_second_supervisor_is_refused_by_the_lock(mode) {
        let mut s = Svc::new("second", mode, "#!/bin/sh\nexec sleep 1000\n");
        s.start();
        let pid = s.wait_up(0);
        let o = run(Command::new(SUP).arg("sv").current_dir(s.tmp.path()));
        let (_, err) = texts(&o);
        assert_eq!(o.status.code(), Some(111));
        assert_eq!(err, "tend-supervise sv: fatal: unable to lock sv/supervise/lock: another supervisor is running on sv\n");
        assert_eq!(s.pid(), pid);
    }
}

#[test]
fn tend_supervise_usage_errors() {
    let tmp = TempDir::new("usage");
    let o = run(Command::new(SUP).arg("missing").current_dir(tmp.path()));
    assert_eq!(o.status.code(), Some(111));
    assert_eq!(
        texts(&o).1,
        "tend-supervise missing: fatal: unable to chdir to missing: file does not exist\n"
    );

    for args in [vec![], vec!["a", "b"], vec!["-z"], vec![""]] {
        let o = run(Command::new(SUP).args(&args).current_dir(tmp.path()));
        assert_eq!(o.status.code(), Some(100), "{args:?}");
        let err = texts(&o).1;
        assert!(
            err.ends_with("tend-supervise: usage: tend-supervise servicedir\n"),
            "{args:?}: {err}"
        );
        assert_eq!(err.lines().count(), 2, "{err}");
    }
}

both_modes! {
    fn garbage_in_the_control_fifo_is_ignored(mode) {
        let mut s = Svc::new("garbage", mode, TRAPPING);
        s.start();
        let pid = s.wait_up(0);
        let sup_alive = s.alive_fd();
        let junk: Vec<u8> = (0u8..=255)
            .filter(|b| !b"udoxpchaitkq12".contains(b))
            .collect();
        s.ctl(&junk);
        s.ctl(&[0, 0xff, b'\n', b'z']);
        s.ctl(b"d");
        s.wait_down();
        assert!(!alive(pid as i32));
        assert!(!ended(&sup_alive), "still supervising");
        assert!(
            s.sup().child.try_wait().unwrap().is_none(),
            "still supervising"
        );
        assert!(s.stderr().is_empty(), "{}", s.stderr());
    }
}

both_modes! {
    fn idle_supervisor_does_not_wake_up_and_writes_nothing(mode) {
        let mut s = Svc::new("idle", mode, "#!/bin/sh\nexec sleep 1000\n");
        s.start();
        s.wait_up(0);
        let sp = s.sup().pid();
        let switches = || {
            let st = read(Path::new(&format!("/proc/{sp}/status")));
            st.lines()
                .filter(|l| l.contains("ctxt_switches"))
                .map(|l| l.split_whitespace().last().unwrap().parse::<u64>().unwrap())
                .sum::<u64>()
        };
        // Let start-up settle (the first SIGCHLD-free moment), then observe one idle second.
        let ino = fs::metadata(s.dir().join("supervise/status"))
            .unwrap()
            .ino();
        let wchan = || read(Path::new(&format!("/proc/{sp}/wchan")));
        wait_until(LIMIT, "the supervisor to sleep in poll", || {
            wchan().contains("poll")
        });
        let before = switches();
        std::thread::sleep(Duration::from_secs(1)); // observation window, not synchronisation
        assert_eq!(switches(), before, "the idle supervisor woke up");
        assert_eq!(
            fs::metadata(s.dir().join("supervise/status"))
                .unwrap()
                .ino(),
            ino,
            "status rewritten while idle"
        );
    }
}

both_modes! {
    fn killed_supervisor_is_replaced_without_a_second_copy(mode) {
        let mut s = Svc::new(
            "adopt",
            mode,
            "#!/bin/sh\necho start >> ../events\nexec sleep 1000\n",
        );
        s.start();
        let pid = s.wait_up(0);
        // In flat mode the supervisor process is tend-scan itself.
        s.sup().signal(9);
        s.sup().wait_exit(LIMIT);
        assert!(alive(pid as i32), "the daemon outlives its supervisor");
        s.start();
        let adopted = format!("{}: info: adopted running service pid {pid}\n", s.prog());
        wait_until(LIMIT, "adoption message", || {
            s.stderr().matches(&adopted).count() == 1
        });
        assert_eq!(s.pid(), pid);
        assert_eq!(s.lines("events").len(), 1, "no second copy");
        // The adopted daemon obeys commands, and its death is noticed and it is restarted.
        s.ctl(b"k");
        let pid2 = s.wait_up(pid);
        wait_until(LIMIT, "the second run script to start", || {
            s.lines("events").len() >= 2
        });
        assert_eq!(s.lines("events").len(), 2);
        s.ctl(b"d");
        s.wait_down();
        assert!(!alive(pid2 as i32));
    }
}

both_modes! {
    fn a_lock_held_on_a_dead_supervisors_alive_keeps_no_supervisor_out(mode) {
        let mut s = Svc::new("alive", mode, "#!/bin/sh\nexec sleep 1000\n");
        s.start();
        let pid = s.wait_up(0);
        let alive = s.dir().join("supervise/alive");
        let ino = fs::metadata(&alive).unwrap().ino();
        s.sup().signal(9);
        s.sup().wait_exit(LIMIT);
        // Anyone may read alive, so anyone may lock it once its supervisor has gone, and
        // hold the lock for as long as they like.
        let old = rustix::fs::open(
            &alive,
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
            FileMode::empty(),
        )
        .unwrap();
        rustix::fs::flock(&old, rustix::fs::FlockOperation::NonBlockingLockShared).unwrap();
        // The next supervisor makes itself a new one, and is not kept out.
        s.start();
        let adopted = format!("{}: info: adopted running service pid {pid}\n", s.prog());
        wait_until(LIMIT, "adoption message", || {
            s.stderr().matches(&adopted).count() == 1
        });
        assert_ne!(fs::metadata(&alive).unwrap().ino(), ino, "a new alive");
        let new = rustix::fs::open(
            &alive,
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
            FileMode::empty(),
        )
        .unwrap();
        assert_eq!(
            rustix::fs::flock(&new, rustix::fs::FlockOperation::NonBlockingLockShared),
            Err(rustix::io::Errno::WOULDBLOCK),
            "the new supervisor holds the new alive"
        );
        s.ctl(b"d");
        s.wait_down();
    }
}

/// Runs `sh -c script` in the test dir as uid 65534 (nobody) and group `gid`.
fn as_nobody(dir: &Path, gid: u32, script: &str) -> std::process::Output {
    run(Command::new("setpriv")
        .args([
            "--reuid=65534",
            &format!("--regid={gid}"),
            "--clear-groups",
            "sh",
            "-c",
            script,
        ])
        .current_dir(dir))
}

both_modes! {
    fn control_is_the_owners_status_is_everyones_and_control_group_delegates(mode) {
        if !Path::new("/usr/bin/setpriv").exists() || rustix::process::geteuid().as_raw() != 0 {
            assert!(
                std::env::var_os("TEND_REQUIRE_ROOT_TESTS").is_none(),
                "needs root and setpriv"
            );
            eprintln!("skipped: needs root and setpriv");
            return;
        }
        let mut s = Svc::new("perms", mode, "#!/bin/sh\nexec sleep 1000\n");
        s.start();
        let pid = s.wait_up(0);
        // lock, control and ok are the owner's; alive, a fifo, is readable by all.
        for (file, fifo, perm) in [
            ("lock", false, 0o600),
            ("control", true, 0o600),
            ("ok", true, 0o600),
            ("alive", true, 0o644),
        ] {
            let m = fs::symlink_metadata(s.dir().join("supervise").join(file)).unwrap();
            let got = (m.file_type().is_fifo(), m.permissions().mode() & 0o7777);
            assert_eq!(got, (fifo, perm), "supervise/{file}");
        }
        let o = as_nobody(
            s.tmp.path(),
            65534,
            "od -An -tx1 sv/supervise/status >/dev/null && cat sv/supervise/stat",
        );
        assert_eq!(
            texts(&o).0,
            "run\n",
            "status readable by all: {:?}",
            texts(&o)
        );
        let o = as_nobody(s.tmp.path(), 65534, "printf d > sv/supervise/control");
        assert!(!o.status.success());
        assert!(texts(&o).1.contains("Permission denied"), "{:?}", texts(&o));
        assert!(alive(pid as i32));
        // With control-group 4242, a member of that group may control it.
        s.stop();
        fs::write(s.dir().join("control-group"), "4242\n").unwrap();
        s.start();
        let pid = s.wait_up(0);
        let m = fs::metadata(s.dir().join("supervise/control")).unwrap();
        assert_eq!((m.gid(), m.permissions().mode() & 0o777), (4242, 0o620));
        let o = as_nobody(s.tmp.path(), 4242, "printf d > sv/supervise/control");
        assert!(o.status.success(), "{:?}", texts(&o));
        s.wait_down();
        assert!(!alive(pid as i32));
        let o = as_nobody(s.tmp.path(), 65534, "printf u > sv/supervise/control");
        assert!(!o.status.success(), "other groups are still refused");
    }
}

both_modes! {
    fn closed_std_fds_and_a_broken_stderr_pipe_are_survived(mode) {
        // Started with fds 0, 1 and 2 closed: they are reopened on /dev/null, so no status
        // file becomes stderr.
        let mut s = Svc::new("closedfds", mode, "#!/bin/sh\nexec sleep 1000\n");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "exec \"$0\" \"$@\" <&- >&- 2>&-"])
            .args(s.argv())
            .current_dir(s.tmp.path());
        s.sup = Some(Daemon::spawn(&mut cmd));
        s.wait_up(0);
        let sp = s.sup().pid();
        for fd in 0..3 {
            let target = fs::read_link(format!("/proc/{sp}/fd/{fd}")).unwrap();
            assert_eq!(target, Path::new("/dev/null"), "fd {fd}");
        }
        assert_eq!(s.status().len(), 20);
        s.stop();

        // stderr a pipe nobody reads: the complaint about a missing run gets EPIPE, not death.
        let mut s = Svc::empty("epipe", mode);
        let (rd, wr) = rustix::pipe::pipe().unwrap();
        drop(rd);
        s.start_with_run_missing(|s| {
            let argv = s.argv();
            let mut cmd = Command::new(&argv[0]);
            cmd.args(&argv[1..])
                .current_dir(s.tmp.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(wr));
            s.sup = Some(Daemon::spawn(&mut cmd));
        });
        write_exec(&s.dir().join("run"), "#!/bin/sh\nexec sleep 1000\n");
        s.wait_up(0);
        assert!(
            s.sup().child.try_wait().unwrap().is_none(),
            "still supervising"
        );
    }
}

both_modes! {
    fn control_scripts_stand_in_for_the_signals_of_their_letters(mode) {
        let mut s = Svc::new("control", mode, TRAPPING);
        // elogind's kind: control/t sends INT instead, and exits 0 (no TERM follows).
        write_exec(
            &s.dir().join("control/t"),
            "#!/bin/sh\necho control-t >> ../events\nkill -INT $(cat supervise/pid)\n",
        );
        // control/h fails: the HUP is sent as usual.
        write_exec(
            &s.dir().join("control/h"),
            "#!/bin/sh\necho control-h >> ../events\nexit 1\n",
        );
        write_exec(
            &s.dir().join("control/d"),
            "#!/bin/sh\necho control-d >> ../events\n",
        );
        s.start();
        let pid = s.wait_up(0);
        wait_until(LIMIT, "the run script", || s.lines("events").len() == 1);
        let after = |n: usize| {
            s.lines("events")[1..]
                .iter()
                .take(n)
                .cloned()
                .collect::<Vec<_>>()
        };
        s.ctl(b"t");
        wait_until(LIMIT, "control/t and INT", || s.lines("events").len() >= 3);
        assert_eq!(after(2), ["control-t", "INT"]);
        assert_eq!(s.pid(), pid, "no TERM: the daemon runs on");
        s.ctl(b"h");
        wait_until(LIMIT, "control/h and HUP", || s.lines("events").len() >= 5);
        assert_eq!(s.lines("events")[3..5], ["control-h", "HUP"]);
        // d: control/t first (its INT stands in for the TERM), then control/d.
        s.ctl(b"d");
        wait_until(LIMIT, "control/t, INT, control/d", || {
            s.lines("events").len() >= 8
        });
        // (The daemon's trap runs when its sleep ends: INT may come after control/d's line.)
        let ev = s.lines("events")[5..8].to_vec();
        let at = |e: &str| ev.iter().position(|x| x == e).unwrap_or(9);
        assert!(at("control-t") < at("control-d") && at("INT") < 3, "{ev:?}");
        assert_eq!(s.status()[17], b'd', "want down");
        assert!(
            alive(pid as i32),
            "INT does not stop this daemon; no TERM came"
        );
        // Without a control/t that succeeds, d sends TERM as usual.
        fs::write(s.dir().join("control/t"), "#!/bin/sh\nexit 1\n").unwrap();
        s.ctl(b"d");
        s.wait_down();
        wait_until(LIMIT, "TERM and control/d", || {
            s.lines("events").len() >= 10
        });
        let mut last = s.lines("events")[8..].to_vec();
        last.sort();
        assert_eq!(last, ["TERM", "control-d"]);
    }
}

both_modes! {
    fn a_hanging_control_script_is_killed_and_the_supervisor_keeps_answering(mode) {
        let mut s = Svc::new("control-hang", mode, TRAPPING);
        write_exec(
            &s.dir().join("control/h"),
            "#!/bin/sh\necho control-h >> ../events\nexec sleep 1000\n",
        );
        s.start();
        let pid = s.wait_up(0);
        wait_until(LIMIT, "the run script", || s.lines("events").len() == 1);
        let t = Instant::now();
        s.ctl(b"h");
        s.ctl(b"a"); // queued behind it
        wait_until(LIMIT, "control/h", || s.lines("events").len() >= 2);
        // Meanwhile status tools answer.
        let ok = s.dir().join("supervise/ok");
        assert!(is_supervised(&ok));
        let o = run(Command::new(concat!(env!("TEND_BIN_DIR"), "/svstat"))
            .arg("./sv")
            .current_dir(s.tmp.path()));
        assert!(texts(&o).0.starts_with("./sv: up (pid "), "{:?}", texts(&o));
        // Killed after 5 seconds: then the HUP, then the queued ALRM.
        wait_until(Duration::from_secs(30), "HUP and ALRM", || {
            s.lines("events").len() >= 4
        });
        assert!(t.elapsed() >= Duration::from_secs(4), "{:?}", t.elapsed());
        assert_eq!(s.lines("events")[1..4], ["control-h", "HUP", "ALRM"]);
        assert_eq!(s.pid(), pid);
        let err = read(&s.file("stderr"));
        let said = format!(
            "{}: warning: ./control/h still running after 5 seconds: killed it\n",
            s.prog()
        );
        assert_eq!(err.matches(&said).count(), 1, "{err}");
    }
}

both_modes! {
    fn check_marks_the_service_ready_and_svwait_r_waits_for_it(mode) {
        let mut s = Svc::new("check", mode, "#!/bin/sh\nexec sleep 1000\n");
        write_exec(
            &s.dir().join("check"),
            "#!/bin/sh\necho try >> ../checks\ntest -e ../go\n",
        );
        s.start();
        s.wait_up(0);
        wait_until(LIMIT, "a few tries", || s.lines("checks").len() >= 3);
        let svwait = |t: &str| {
            run(Command::new(concat!(env!("TEND_BIN_DIR"), "/svwait"))
                .args(["-r", "-t", t, "./sv"])
                .current_dir(s.tmp.path()))
        };
        // Not ready yet: svwait -r times out.
        let o = svwait("300ms");
        assert_eq!(o.status.code(), Some(1), "{:?}", texts(&o));
        assert_eq!(s.info("ready"), "-");
        let waiter = std::thread::spawn({
            let dir = s.tmp.path().to_path_buf();
            move || {
                run(Command::new(concat!(env!("TEND_BIN_DIR"), "/svwait"))
                    .args(["-r", "-t", "20s", "./sv"])
                    .current_dir(dir))
            }
        });
        fs::write(s.file("go"), "").unwrap();
        let o = waiter.join().unwrap();
        assert!(o.status.success(), "{:?}", texts(&o));
        assert!(s.info("ready").starts_with("@4000"));
        let o = run(Command::new(concat!(env!("TEND_BIN_DIR"), "/svstat"))
            .arg("./sv")
            .current_dir(s.tmp.path()));
        assert!(texts(&o).0.contains(", ready "), "{:?}", texts(&o));
        // Not run again once it succeeded.
        let n = s.lines("checks").len();
        let t = Instant::now();
        while t.elapsed() < Duration::from_millis(1500) {
            std::thread::sleep(Duration::from_millis(50)); // observation window
        }
        assert_eq!(s.lines("checks").len(), n, "check ran after success");
    }
}

both_modes! {
    fn a_hanging_check_is_killed_and_tried_again(mode) {
        let mut s = Svc::new("check-hang", mode, "#!/bin/sh\nexec sleep 1000\n");
        write_exec(
            &s.dir().join("check"),
            "#!/bin/sh\necho try >> ../checks\ntest -e ../go && exit 0\nexec sleep 1000\n",
        );
        s.start();
        s.wait_up(0);
        wait_until(LIMIT, "the first try", || s.lines("checks").len() == 1);
        fs::write(s.file("go"), "").unwrap();
        // The first try hangs: it is killed after 5 s, and the next one succeeds.
        wait_until(Duration::from_secs(30), "ready", || {
            s.info("ready").starts_with("@4000")
        });
        assert_eq!(s.lines("checks").len(), 2);
    }
}
