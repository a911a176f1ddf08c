//! tend-scan, run for real with the real tend-supervise.
//!
//! Loggers: the tests were written before tend-log existed, so most use a stand-in whose
//! `run` appends its stdin to a file in the test's temp dir: `cat`, or, where a logger is
//! restarted while lines flow, a perl one-liner that copies one byte at a time and exits
//! between bytes on SIGTERM (cat can be killed between its read and its write and lose
//! what it read, which would blame the scanner for the stand-in's loss). The ten-restarts
//! test runs once with that stand-in and once with the real tend-log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    alive, both_modes, read, run, supervisors, texts, wait_until, write_exec, Daemon, Mode,
    TempDir, LIMIT,
};

/// A test's world: temp dir with the scan dir `sv/` and an `out/` dir for what services
/// and loggers write.
struct World {
    td: TempDir,
    mode: Mode,
}

impl World {
    fn new(name: &str, mode: Mode) -> World {
        let td = TempDir::new(name);
        fs::create_dir_all(td.join("sv")).unwrap();
        fs::create_dir_all(td.join("out")).unwrap();
        World { td, mode }
    }

    /// Checks that `arg` (a service dir or its log/) is supervised as the mode says: by
    /// one tend-supervise child of tend-scan in pair mode, by tend-scan itself (no
    /// tend-supervise at all) in flat mode.
    fn assert_supervisors(&self, scan: &Daemon, arg: &str) {
        let want = match self.mode {
            Mode::Pair => 1,
            Mode::Flat => 0,
        };
        let found = supervisors(scan.pid(), arg);
        assert_eq!(found.len(), want, "{arg}: {found:?}{}", self.show());
    }

    fn sv(&self, rel: &str) -> PathBuf {
        self.td.join("sv").join(rel)
    }

    fn out(&self, rel: &str) -> PathBuf {
        self.td.join("out").join(rel)
    }

    /// Starts tend-scan on sv/, stdout and stderr appended to out/scan.out and
    /// out/scan.err.
    fn scan(&self, args: &[&str]) -> Daemon {
        let append = |name: &str| {
            fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.out(name))
                .unwrap()
        };
        let mut cmd = Command::new(concat!(env!("TEND_BIN_DIR"), "/tend-scan"));
        cmd.args(self.mode.scan_args())
            .args(args)
            .arg(self.td.join("sv"))
            .stdin(Stdio::null())
            .stdout(append("scan.out"))
            .stderr(append("scan.err"));
        Daemon::spawn(&mut cmd)
    }

    fn err(&self) -> String {
        read(&self.out("scan.err"))
    }

    /// Context for failure messages.
    fn show(&self) -> String {
        format!(
            "\n--- scan.err:\n{}\n--- scan.out:\n{}\n--- listing:\n{}",
            self.err(),
            read(&self.out("scan.out")),
            self.td.listing()
        )
    }

    /// A logger stand-in appending to out/FILE: `cat`.
    fn cat_logger(&self, svc: &str, file: &str) {
        write_exec(
            &self.sv(&format!("{svc}/log/run")),
            &format!("#!/bin/sh\nexec cat >>'{}'\n", self.out(file).display()),
        );
    }

    /// A logger stand-in that loses nothing when TERMed, appending to out/FILE and noting
    /// each start in out/FILE.starts.
    fn safe_logger(&self, svc: &str, file: &str) {
        let out = self.out(file);
        write_exec(
            &self.sv(&format!("{svc}/log/run")),
            &format!(
                "#!/bin/sh\necho $$ >>'{out}.starts'\nexec perl -e '$SIG{{TERM}} = sub {{ $stop = 1 }}; \
                 open(O, \">>\", $ARGV[0]) or die; \
                 while (!$stop) {{ $n = sysread(STDIN, $c, 1); last if !$n; syswrite(O, $c) }}' '{out}'\n",
                out = out.display()
            ),
        );
    }

    /// A daemon that prints 1, 2, 3... every 5 ms, notes each start in out/NAME.starts, and
    /// on TERM writes the last number it printed to out/NAME.last.
    fn counter(&self, svc: &str) {
        let starts = self.out(&format!("{svc}.starts"));
        let last = self.out(&format!("{svc}.last"));
        write_exec(
            &self.sv(&format!("{svc}/run")),
            &format!(
                "#!/bin/sh\necho $$ >>'{}'\ni=0\ntrap 'echo $i >\"{}\"; exit 0' TERM\n\
                 while :; do i=$((i+1)); echo $i; sleep 0.005; done\n",
                starts.display(),
                last.display()
            ),
        );
    }
}

/// The pid in DIR/supervise/pid, if the service is up.
fn daemon_pid(dir: &Path) -> Option<i32> {
    read(&dir.join("supervise/pid")).trim().parse().ok()
}

/// Waits (bounded) until DIR/supervise/pid names the daemon, and returns it: the daemon
/// may print before its supervisor has written the file.
fn up(dir: &Path) -> i32 {
    let mut pid = None;
    wait_until(LIMIT, &format!("{} to be up", dir.display()), || {
        pid = daemon_pid(dir);
        pid.is_some()
    });
    pid.unwrap()
}

/// Checks that `text` is exactly the lines 1..=last.
fn assert_numbered(text: &str, last: u64, what: &str) {
    let mut want = 1u64;
    for line in text.lines() {
        let n: u64 = line
            .parse()
            .unwrap_or_else(|_| panic!("{what}: not a number: {line:?}"));
        assert_eq!(
            n, want,
            "{what}: line {n} where {want} was due (lost or doubled)"
        );
        want += 1;
    }
    assert_eq!(
        want - 1,
        last,
        "{what}: ends at {} instead of {last}",
        want - 1
    );
}

/// Checks that `cond` holds throughout `dur` (for "nothing happens" assertions).
fn assert_stays(dur: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + dur;
    while Instant::now() < end {
        assert!(cond(), "{what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// SIGTERMs tend-scan and checks that it exits 0 (bounded).
fn stop(scan: &mut Daemon, w: &World) {
    stop_with(scan, w, 15);
}

/// Sends tend-scan SIG and checks that it exits 0 (bounded).
fn stop_with(scan: &mut Daemon, w: &World, sig: i32) {
    scan.signal(sig);
    let st = scan.wait_exit(LIMIT);
    assert!(st.success(), "tend-scan exited {st:?}{}", w.show());
}

both_modes! {
    fn starts_a_service_and_routes_unlogged_output_to_its_stdout(mode) {
        let w = World::new("scan-start", mode);
        write_exec(
            &w.sv("web/run"),
            "#!/bin/sh\necho web is up\nexec sleep 1000\n",
        );
        let mut scan = w.scan(&[]);
        wait_until(LIMIT, "web's output on tend-scan's stdout", || {
            read(&w.out("scan.out")).contains("web is up")
        });
        let pid = up(&w.sv("web"));
        assert!(alive(pid));
        w.assert_supervisors(&scan, "web");
        stop(&mut scan, &w);
        assert!(!alive(pid), "web's daemon outlived tend-scan{}", w.show());
        assert!(
            w.err().contains("tend-scan: info: stopping 1 service\n"),
            "{}",
            w.show()
        );
    }
}

both_modes! {
    fn a_half_populated_dir_waits_for_an_executable_run(mode) {
        let w = World::new("scan-half", mode);
        let mut scan = w.scan(&[]);
        // run appears, but not executable.
        fs::create_dir_all(w.sv("web")).unwrap();
        let marker = w.out("web.started");
        let script = format!("#!/bin/sh\necho >'{}'\nexec sleep 1000\n", marker.display());
        fs::write(w.sv("web/run"), &script).unwrap();
        // log/ exists too, and its run is missing.
        fs::create_dir_all(w.sv("app/log")).unwrap();
        let app_marker = w.out("app.started");
        write_exec(
            &w.sv("app/run"),
            &format!(
                "#!/bin/sh\necho >'{}'\nexec sleep 1000\n",
                app_marker.display()
            ),
        );
        assert_stays(Duration::from_millis(500), "nothing starts yet", || {
            !marker.exists() && !app_marker.exists() && !w.sv("web/supervise").exists()
        });
        fs::set_permissions(
            w.sv("web/run"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        wait_until(LIMIT, "web to start once run is executable", || {
            marker.exists()
        });
        assert!(!app_marker.exists(), "app started without log/run");
        w.cat_logger("app", "app.log");
        wait_until(LIMIT, "app and app/log to start", || {
            app_marker.exists() && daemon_pid(&w.sv("app/log")).is_some()
        });
        w.assert_supervisors(&scan, "app/log");
        stop(&mut scan, &w);
    }
}

both_modes! {
    fn a_late_log_dir_is_paired_from_the_next_start(mode) {
        let w = World::new("scan-late-log", mode);
        write_exec(
            &w.sv("web/run"),
            "#!/bin/sh\necho web start\nexec sleep 1000\n",
        );
        let mut scan = w.scan(&[]);
        wait_until(LIMIT, "web's first start", || {
            read(&w.out("scan.out")).contains("web start")
        });
        let first = up(&w.sv("web"));
        w.cat_logger("web", "web.log");
        wait_until(LIMIT, "the pairing", || {
            w.err().contains("tend-scan: info: paired web with web/log")
                && daemon_pid(&w.sv("web/log")).is_some()
        });
        // The daemon keeps running, untouched, with its old stdout.
        assert!(alive(first));
        assert_eq!(daemon_pid(&w.sv("web")), Some(first));
        // From its next start on, its output reaches the logger.
        tend_core::control::send(&w.sv("web"), b"t").unwrap();
        wait_until(LIMIT, "web's output in the logger", || {
            read(&w.out("web.log")) == "web start\n"
        });
        assert_eq!(read(&w.out("scan.out")), "web start\n");
        w.assert_supervisors(&scan, "web");
        stop(&mut scan, &w);
    }
}

both_modes! {
    fn the_daemons_last_words_reach_the_logger_on_shutdown(mode) {
        let w = World::new("scan-last-words", mode);
        write_exec(
            &w.sv("web/run"),
            "#!/bin/sh\nexec 2>&1\ntrap 'kill $!; echo last words; exit 0' TERM\necho hello\nsleep 1000 & wait\n",
        );
        w.cat_logger("web", "web.log");
        let mut scan = w.scan(&[]);
        wait_until(LIMIT, "hello in the log", || {
            read(&w.out("web.log")) == "hello\n"
        });
        let (daemon, logger) = (up(&w.sv("web")), up(&w.sv("web/log")));
        stop(&mut scan, &w);
        assert_eq!(
            read(&w.out("web.log")),
            "hello\nlast words\n",
            "{}",
            w.show()
        );
        assert!(!alive(daemon) && !alive(logger), "{}", w.show());
    }
}

both_modes! {
    fn ten_logger_restarts_lose_and_double_nothing(mode) {
        let w = World::new("scan-log-restarts", mode);
        w.safe_logger("web", "web.log");
        let log = w.out("web.log");
        ten_logger_restarts(&w, || read(&log));
    }
}

both_modes! {
    fn ten_restarts_of_tend_log_lose_and_double_nothing(mode) {
        let w = World::new("scan-tend-log-restarts", mode);
        let logdir = w.out("weblog");
        write_exec(
            &w.sv("web/log/run"),
            &format!(
                "#!/bin/sh\necho $$ >>'{}'\nexec '{}' -t none '{}'\n",
                w.out("web.log.starts").display(),
                concat!(env!("TEND_BIN_DIR"), "/tend-log"),
                logdir.display()
            ),
        );
        ten_logger_restarts(&w, || logdir_text(&logdir));
    }
}

/// Runs the counter into the logger of `w`, restarts the logger ten times (`svc -t`), and
/// checks that what `text` reads is every number once, in order.
fn ten_logger_restarts(w: &World, text: impl Fn() -> String) {
    w.counter("web");
    let mut scan = w.scan(&[]);
    wait_until(LIMIT, "lines in the log", || text().lines().count() >= 20);
    for i in 0..10 {
        let old = up(&w.sv("web/log"));
        let before = text().len();
        tend_core::control::send(&w.sv("web/log"), b"t").unwrap();
        wait_until(LIMIT, &format!("logger restart {i}"), || {
            // Quick restarts make the supervisor back off; `u` cuts that short (the 1 s
            // spacing between starts still holds). The supervisor reports the new pid
            // as soon as it has spawned it: wait for the run script's own line as well,
            // so that the next TERM cannot hit it before it has written that line.
            let _ = tend_core::control::send(&w.sv("web/log"), b"u");
            daemon_pid(&w.sv("web/log")).is_some_and(|p| p != old)
                && text().len() > before + 20
                && read(&w.out("web.log.starts")).lines().count() == i + 2
        });
    }
    tend_core::control::send(&w.sv("web"), b"d").unwrap();
    let last_file = w.out("web.last");
    wait_until(LIMIT, "the counter to stop", || {
        read(&last_file).ends_with('\n')
    });
    let last: u64 = read(&last_file).trim().parse().unwrap();
    wait_until(LIMIT, "the logger to catch up", || {
        text().lines().last() == Some(last.to_string().as_str())
    });
    assert_numbered(&text(), last, "the log");
    assert_eq!(read(&w.out("web.log.starts")).lines().count(), 11);
    assert_eq!(read(&w.out("web.starts")).lines().count(), 1);
    stop(&mut scan, w);
}

/// Everything in a logdir, oldest first: archives (`@...`, named by time), then `current`.
fn logdir_text(dir: &Path) -> String {
    let mut names: Vec<String> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('@'))
        .collect();
    names.sort();
    names.push("current".into());
    names.iter().map(|n| read(&dir.join(n))).collect()
}

#[test]
fn kill_9_of_either_supervisor_loses_nothing_and_starts_no_second_copy() {
    let w = World::new("scan-kill9", Mode::Pair);
    w.counter("web");
    w.safe_logger("web", "web.log");
    let mut scan = w.scan(&[]);
    let log = w.out("web.log");
    wait_until(LIMIT, "lines in the log", || {
        read(&log).lines().count() >= 20
    });
    let daemon = up(&w.sv("web"));
    let logger = up(&w.sv("web/log"));
    for (arg, kept) in [("web", daemon), ("web/log", logger), ("web", daemon)] {
        let old = supervisors(scan.pid(), arg);
        assert_eq!(old.len(), 1, "{arg}: {old:?}{}", w.show());
        // Counted before the kill: the new supervisor may say it adopted the daemon at once.
        let before = read(&log).len();
        let adopted = format!("adopted running service pid {kept}\n");
        let seen = w.err().matches(&adopted).count();
        common::unsafe_kill(old[0], 9);
        wait_until(
            LIMIT,
            &format!("a new supervisor for {arg} to take over"),
            || {
                let now = supervisors(scan.pid(), arg);
                now.len() == 1
                    && now[0] != old[0]
                    && w.err().matches(&adopted).count() == seen + 1
                    && read(&log).len() > before + 20
            },
        );
        assert_eq!(daemon_pid(&w.sv(arg)), Some(kept), "{arg}: {}", w.show());
        assert!(alive(kept));
    }
    assert_eq!(read(&w.out("web.starts")).lines().count(), 1);
    assert_eq!(read(&w.out("web.log.starts")).lines().count(), 1);
    tend_core::control::send(&w.sv("web"), b"d").unwrap();
    let last_file = w.out("web.last");
    wait_until(LIMIT, "the counter to stop", || {
        read(&last_file).ends_with('\n')
    });
    let last: u64 = read(&last_file).trim().parse().unwrap();
    wait_until(LIMIT, "the logger to catch up", || {
        read(&log).lines().last() == Some(last.to_string().as_str())
    });
    assert_numbered(&read(&log), last, "web.log");
    stop(&mut scan, &w);
    assert!(!alive(logger), "the adopted logger outlived tend-scan");
}

#[test]
fn kill_9_of_the_flat_scanner_loses_nothing_and_starts_no_second_copy() {
    // In flat mode nothing supervises while tend-scan is dead: started again, it must adopt
    // the daemon and the logger, and find their pipe again, so that a logger restarted
    // later still reads what the adopted daemon writes.
    let w = World::new("scan-flat-kill9", Mode::Flat);
    w.counter("web");
    w.safe_logger("web", "web.log");
    let mut scan = w.scan(&[]);
    let log = w.out("web.log");
    wait_until(LIMIT, "lines in the log", || {
        read(&log).lines().count() >= 20
    });
    let daemon = up(&w.sv("web"));
    let mut logger = up(&w.sv("web/log"));
    let adopted = |pid: i32, name: &str| {
        let line = format!("tend-scan {name}: info: adopted running service pid {pid}\n");
        w.err().matches(&line).count()
    };
    for round in 0..10 {
        // Every third round the logger is down when tend-scan dies: only the pipe holder
        // (tend-scan --hold-pipes) still reads the pipe then, so the daemon's writes block
        // instead of killing it with SIGPIPE.
        let logger_down = round % 3 == 2;
        if logger_down {
            tend_core::control::send(&w.sv("web/log"), b"d").unwrap();
            wait_until(LIMIT, &format!("round {round}: the logger down"), || {
                !alive(logger) && daemon_pid(&w.sv("web/log")).is_none()
            });
        }
        let seen = (adopted(daemon, "web"), adopted(logger, "web/log"));
        scan.signal(9);
        scan.wait_exit(LIMIT);
        assert!(alive(daemon), "round {round}{}", w.show());
        assert!(logger_down || alive(logger), "round {round}{}", w.show());
        let before = read(&log).len();
        scan = w.scan(&[]);
        if logger_down {
            wait_until(LIMIT, &format!("round {round}: the daemon adopted"), || {
                adopted(daemon, "web") == seen.0 + 1
            });
            tend_core::control::send(&w.sv("web/log"), b"u").unwrap();
            wait_until(LIMIT, &format!("round {round}: a logger again"), || {
                daemon_pid(&w.sv("web/log")).is_some_and(|p| p != logger)
            });
            logger = up(&w.sv("web/log"));
        }
        wait_until(LIMIT, &format!("round {round}: both adopted"), || {
            adopted(daemon, "web") == seen.0 + 1
                && (logger_down || adopted(logger, "web/log") == seen.1 + 1)
                && read(&log).len() > before + 20
        });
        w.assert_supervisors(&scan, "web");
        if round % 2 == 1 {
            // A logger started by the new tend-scan reads the same pipe.
            let old = logger;
            let before = read(&log).len();
            tend_core::control::send(&w.sv("web/log"), b"t").unwrap();
            wait_until(LIMIT, &format!("round {round}: a new logger"), || {
                let _ = tend_core::control::send(&w.sv("web/log"), b"u");
                daemon_pid(&w.sv("web/log")).is_some_and(|p| p != old)
                    && read(&log).len() > before + 20
            });
            assert!(!alive(old));
            logger = up(&w.sv("web/log"));
        }
        assert_eq!(daemon_pid(&w.sv("web")), Some(daemon), "round {round}");
    }
    assert_eq!(
        read(&w.out("web.starts")).lines().count(),
        1,
        "a second daemon"
    );
    tend_core::control::send(&w.sv("web"), b"d").unwrap();
    let last_file = w.out("web.last");
    wait_until(LIMIT, "the counter to stop", || {
        read(&last_file).ends_with('\n')
    });
    let last: u64 = read(&last_file).trim().parse().unwrap();
    wait_until(LIMIT, "the logger to catch up", || {
        read(&log).lines().last() == Some(last.to_string().as_str())
    });
    assert_numbered(&read(&log), last, "web.log");
    stop(&mut scan, &w);
    assert!(!alive(daemon) && !alive(logger), "left running{}", w.show());
}

both_modes! {
    fn a_renamed_dir_keeps_its_daemon(mode) {
        let w = World::new("scan-rename", mode);
        let starts = w.out("web.starts");
        write_exec(
            &w.sv("web/run"),
            &format!(
                "#!/bin/sh\necho $$ >>'{}'\nexec sleep 1000\n",
                starts.display()
            ),
        );
        let mut scan = w.scan(&[]);
        wait_until(LIMIT, "web to start", || daemon_pid(&w.sv("web")).is_some());
        let pid = up(&w.sv("web"));
        let sup = supervisors(scan.pid(), "web");
        fs::rename(w.sv("web"), w.sv("www")).unwrap();
        wait_until(LIMIT, "the rename to be noticed", || {
            w.err().contains("tend-scan: info: web is now called www")
        });
        assert_stays(Duration::from_millis(300), "www keeps running", || {
            alive(pid) && daemon_pid(&w.sv("www")) == Some(pid)
        });
        assert_eq!(read(&starts).lines().count(), 1);
        assert_eq!(
            supervisors(scan.pid(), "web"),
            sup,
            "the supervisor was replaced"
        );
        // SIGINT (a Ctrl-C) shuts down like SIGTERM.
        stop_with(&mut scan, &w, 2);
        assert!(!alive(pid));
    }
}

both_modes! {
    fn a_removed_dir_stops_its_daemon_and_drains_its_logger(mode) {
        let w = World::new("scan-remove", mode);
        write_exec(
            &w.sv("web/run"),
            "#!/bin/sh\ntrap 'kill $!; echo last words; exit 0' TERM\necho hello\nsleep 1000 & wait\n",
        );
        w.cat_logger("web", "web.log");
        write_exec(&w.sv("app/run"), "#!/bin/sh\nexec sleep 1000\n");
        write_exec(&w.sv("db/run"), "#!/bin/sh\nexec sleep 1000\n");
        let mut scan = w.scan(&[]);
        wait_until(LIMIT, "everything up", || {
            read(&w.out("web.log")) == "hello\n"
                && daemon_pid(&w.sv("app")).is_some()
                && daemon_pid(&w.sv("db")).is_some()
        });
        let (web, logger, app, db) = (
            up(&w.sv("web")),
            up(&w.sv("web/log")),
            up(&w.sv("app")),
            up(&w.sv("db")),
        );
        // Moved out of the scan dir: removed.
        fs::rename(w.sv("web"), w.td.join("web-gone")).unwrap();
        wait_until(LIMIT, "web and its logger to stop", || {
            !alive(web) && !alive(logger) && w.err().contains("stopped web: directory removed")
        });
        assert_eq!(read(&w.out("web.log")), "hello\nlast words\n");
        assert!(
            supervisors(scan.pid(), "web").is_empty() && supervisors(scan.pid(), "web/log").is_empty()
        );
        // Deleted outright.
        fs::remove_dir_all(w.sv("app")).unwrap();
        wait_until(LIMIT, "app to stop", || {
            !alive(app) && w.err().contains("stopped app: directory removed")
        });
        // Renamed to a dot-name.
        fs::rename(w.sv("db"), w.sv(".db")).unwrap();
        wait_until(LIMIT, "db to stop", || {
            !alive(db)
                && w.err()
                    .contains("stopped .db: directory renamed to a dot-name")
        });
        assert!(supervisors(scan.pid(), ".db").is_empty());
        stop(&mut scan, &w);
    }
}

both_modes! {
    fn sighup_and_sigalrm_rescan(mode) {
        // A run that is a symlink to a file elsewhere: making that file executable is a change
        // no inotify watch of the scanner sees, so only a rescan starts the service.
        let w = World::new("scan-rescan", mode);
        let mut scan = w.scan(&[]);
        for (svc, sig) in [("web", 1), ("app", 14)] {
            let tool = w.td.join(&format!("{svc}-tool"));
            let marker = w.out(&format!("{svc}.started"));
            fs::write(
                &tool,
                format!("#!/bin/sh\necho >'{}'\nexec sleep 1000\n", marker.display()),
            )
            .unwrap();
            fs::create_dir_all(w.sv(svc)).unwrap();
            std::os::unix::fs::symlink(&tool, w.sv(&format!("{svc}/run"))).unwrap();
            let ino = std::os::unix::fs::MetadataExt::ino(&fs::metadata(w.sv(svc)).unwrap());
            wait_until(LIMIT, "the scanner to watch the new dir", || {
                watched_inodes(scan.pid()).contains(&ino)
            });
            // The scanner looks at a dir once more right after watching it; a service added
            // now starts only after that look, since events are handled in order.
            let sync = w.out(&format!("sync-{svc}.started"));
            write_exec(
                &w.sv(&format!("sync-{svc}/run")),
                &format!("#!/bin/sh\necho >'{}'\nexec sleep 1000\n", sync.display()),
            );
            wait_until(LIMIT, "a later service to start", || sync.exists());
            fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
            assert_stays(
                Duration::from_millis(300),
                "no start without a rescan",
                || !marker.exists(),
            );
            scan.signal(sig);
            wait_until(LIMIT, &format!("{svc} to start after signal {sig}"), || {
                marker.exists()
            });
        }
        stop(&mut scan, &w);
    }
}

both_modes! {
    fn shutdown_kills_what_ignores_sigterm_after_the_deadline(mode) {
        let w = World::new("scan-deadline", mode);
        write_exec(
            &w.sv("stubborn/run"),
            "#!/bin/sh\ntrap '' TERM\necho up\nwhile :; do sleep 0.05; done\n",
        );
        w.cat_logger("stubborn", "stubborn.log");
        let mut scan = w.scan(&["-t", "300ms"]);
        wait_until(LIMIT, "stubborn up", || {
            read(&w.out("stubborn.log")) == "up\n"
        });
        let pid = up(&w.sv("stubborn"));
        let start = Instant::now();
        stop(&mut scan, &w);
        assert!(start.elapsed() < Duration::from_secs(10));
        assert!(!alive(pid), "{}", w.show());
        assert!(
            w.err().contains(
                "tend-scan: warning: killing stubborn: still running 0.300s after it was told to stop"
            ),
            "{}",
            w.show()
        );
    }
}

both_modes! {
    fn as_pid_1_it_reaps_orphans_and_shuts_down_on_sigterm(mode) {
        let probe = Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", "true"])
            .stderr(Stdio::null())
            .status();
        if !probe.is_ok_and(|s| s.success()) {
            assert!(
                std::env::var_os("TEND_REQUIRE_ROOT_TESTS").is_none(),
                "unshare --pid --fork --mount-proc fails, and TEND_REQUIRE_ROOT_TESTS is set"
            );
            eprintln!("skipping: unshare --pid --fork --mount-proc fails (needs root)");
            return;
        }
        let w = World::new("scan-pid1", mode);
        let done = w.out("orphan");
        // Each subshell forks a sleeper and exits at once: the sleepers are orphans, left to
        // the nearest subreaper to reap when they exit.
        write_exec(
            &w.sv("web/run"),
            &format!(
                "#!/bin/sh\nfor i in 1 2 3 4 5; do (sh -c \"sleep 0.2; echo >'{}'.\\$\\$\" &); done\nwait\nexec sleep 1000\n",
                done.display()
            ),
        );
        let mut cmd = Command::new("unshare");
        cmd.args(["--pid", "--fork", "--mount-proc", "--kill-child"])
            .arg(concat!(env!("TEND_BIN_DIR"), "/tend-scan"))
            .args(mode.scan_args())
            .args(["-t", "2s"])
            .arg(w.sv(""))
            .stdin(Stdio::null())
            .stdout(fs::File::create(w.out("scan.out")).unwrap())
            .stderr(fs::File::create(w.out("scan.err")).unwrap());
        let mut unshare = Daemon::spawn(&mut cmd);
        let mut scan_pid = 0;
        wait_until(LIMIT, "tend-scan inside the namespace", || {
            scan_pid = children(unshare.pid()).first().copied().unwrap_or(0);
            // Exec'd by unshare: its argv[0] is the link's path.
            let cmdline = fs::read(format!("/proc/{scan_pid}/cmdline")).unwrap_or_default();
            scan_pid > 0
                && cmdline
                    .split(|&b| b == 0)
                    .next()
                    .is_some_and(|a| a.ends_with(b"/tend-scan"))
        });
        wait_until(LIMIT, "the orphans to finish", || {
            fs::read_dir(w.out(""))
                .unwrap()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("orphan."))
                .count()
                == 5
        });
        wait_until(LIMIT, "every orphan reaped", || {
            descendants(scan_pid).into_iter().all(|p| {
                !is_zombie(p) && !read(Path::new(&format!("/proc/{p}/cmdline"))).contains("orphan")
            })
        });
        common::unsafe_kill(scan_pid, 15);
        let st = unshare.wait_exit(LIMIT);
        assert!(st.success(), "unshare/tend-scan exited {st:?}{}", w.show());
    }
}

/// The inodes a process watches with inotify, from /proc/PID/fdinfo.
fn watched_inodes(pid: i32) -> Vec<u64> {
    let mut out = Vec::new();
    for fd in fs::read_dir(format!("/proc/{pid}/fdinfo"))
        .unwrap()
        .flatten()
    {
        for line in read(&fd.path()).lines() {
            let Some(rest) = line.strip_prefix("inotify ") else {
                continue;
            };
            if let Some(ino) = rest
                .split_whitespace()
                .find_map(|f| f.strip_prefix("ino:"))
                .and_then(|h| u64::from_str_radix(h, 16).ok())
            {
                out.push(ino);
            }
        }
    }
    out
}

fn children(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for task in fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let text = fs::read_to_string(task.path().join("children")).unwrap_or_default();
        out.extend(
            text.split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok()),
        );
    }
    out
}

fn descendants(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for c in children(p) {
            out.push(c);
            todo.push(c);
        }
    }
    out
}

fn is_zombie(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

#[test]
fn a_supervisor_that_cannot_start_is_retried_with_one_message() {
    // A copy of tend-scan whose `tend-supervise` beside it cannot be run (its interpreter
    // is missing), until a working one is put in its place.
    let w = World::new("scan-nosup", Mode::Pair);
    let bin = w.td.join("bin");
    fs::create_dir_all(&bin).unwrap();
    fs::copy(env!("CARGO_BIN_EXE_tend"), bin.join("tend-scan")).unwrap();
    write_exec(&bin.join("tend-supervise"), "#!/nonexistent/sh\n");
    let marker = w.out("web.started");
    write_exec(
        &w.sv("web/run"),
        &format!("#!/bin/sh\necho >'{}'\nexec sleep 1000\n", marker.display()),
    );
    let mut cmd = Command::new(bin.join("tend-scan"));
    cmd.arg(w.sv(""))
        .stdin(Stdio::null())
        .stdout(fs::File::create(w.out("scan.out")).unwrap())
        .stderr(fs::File::create(w.out("scan.err")).unwrap());
    let mut scan = Daemon::spawn(&mut cmd);
    let line = format!(
        "tend-scan: warning: unable to start supervisor for web: {}: \
         file does not exist (retrying every 5 seconds)\n",
        bin.join("tend-supervise").display()
    );
    wait_until(LIMIT, "the warning", || w.err() == line);
    // The replacement must not be half-written when the scanner tries it.
    let tmp = bin.join("tend-supervise.tmp");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_tend"), &tmp).unwrap();
    fs::rename(&tmp, bin.join("tend-supervise")).unwrap();
    wait_until(LIMIT, "web to start on a retry", || marker.exists());
    assert!(w.err().starts_with(&line), "{}", w.show());
    assert_eq!(
        w.err().matches("unable to start").count(),
        1,
        "{}",
        w.show()
    );
    stop(&mut scan, &w);
}

both_modes! {
    fn a_dir_replaced_under_the_same_name_is_a_new_service(mode) {
        let w = World::new("scan-replace", mode);
        let starts = w.out("web.starts");
        let script = format!(
            "#!/bin/sh\necho $$ >>'{}'\nexec sleep 1000\n",
            starts.display()
        );
        write_exec(&w.sv("web/run"), &script);
        let mut scan = w.scan(&[]);
        wait_until(LIMIT, "web to start", || daemon_pid(&w.sv("web")).is_some());
        let old = up(&w.sv("web"));
        write_exec(&w.sv(".new/run"), &script);
        fs::rename(w.sv("web"), w.sv(".old")).unwrap();
        fs::rename(w.sv(".new"), w.sv("web")).unwrap();
        wait_until(
            LIMIT,
            "the old one to stop and the new one to start",
            || {
                !alive(old)
                    && daemon_pid(&w.sv("web")).is_some_and(alive)
                    && w.err()
                        .contains("stopped .old: directory renamed to a dot-name")
            },
        );
        assert_eq!(read(&starts).lines().count(), 2);
        stop(&mut scan, &w);
    }
}

#[test]
fn a_shutdown_just_after_supervisors_were_killed_stops_what_they_left() {
    let w = World::new("scan-kill-then-term", Mode::Pair);
    w.counter("web");
    w.safe_logger("web", "web.log");
    let mut scan = w.scan(&[]);
    let log = w.out("web.log");
    wait_until(LIMIT, "lines in the log", || {
        read(&log).lines().count() >= 20
    });
    let daemon = up(&w.sv("web"));
    let logger = up(&w.sv("web/log"));
    let sups = [
        supervisors(scan.pid(), "web"),
        supervisors(scan.pid(), "web/log"),
    ];
    assert!(sups.iter().all(|s| s.len() == 1), "{sups:?}{}", w.show());
    // The daemon and the logger are left without supervisors, and tend-scan is told to
    // stop before it restarts them: it must stop the daemon itself, then let the logger
    // read the pipe to the end.
    common::unsafe_kill(sups[0][0], 9);
    common::unsafe_kill(sups[1][0], 9);
    stop(&mut scan, &w);
    assert!(!alive(daemon), "the daemon was left running{}", w.show());
    assert!(!alive(logger), "the logger was left running{}", w.show());
    let last: u64 = read(&w.out("web.last"))
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("the daemon got no SIGTERM{}", w.show()));
    assert_numbered(&read(&log), last, "web.log");
    assert_eq!(read(&w.out("web.starts")).lines().count(), 1);
}

#[test]
fn usage_and_setup_errors() {
    let usage = "tend-scan: usage: tend-scan [ -F ] [ -t timeout ] [ scandir ]\n";
    let cases: [(&[&str], i32, String); 4] = [
        (
            &["a", "b"],
            100,
            format!("tend-scan: fatal: unexpected argument \"b\"\n{usage}"),
        ),
        (
            &["-t", "soon", "x"],
            100,
            format!(
                "tend-scan: fatal: unable to parse timeout \"soon\": expected number at 0\n{usage}"
            ),
        ),
        (&["-x"], 100, format!("tend-scan: fatal: invalid option '-x'\n{usage}")),
        (
            &["/nonexistent/scan"],
            111,
            "tend-scan: fatal: unable to change directory to /nonexistent/scan: file does not exist\n"
                .into(),
        ),
    ];
    for (args, code, err) in cases {
        let out = common::run(Command::new(concat!(env!("TEND_BIN_DIR"), "/tend-scan")).args(args));
        let (stdout, stderr) = common::texts(&out);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert_eq!(
            (stdout.as_str(), stderr.as_str()),
            ("", err.as_str()),
            "{args:?}"
        );
    }
}

both_modes! {
    fn svc_t_web_log_works_from_any_directory_with_svdir(mode) {
        let w = World::new("scan-names", mode);
        w.counter("web");
        w.cat_logger("web", "web.log");
        let mut scan = w.scan(&[]);
        let logger = up(&w.sv("web/log"));
        let elsewhere = w.out(""); // has no web/ of its own
        let tool = |prog: &str, args: &[&str]| {
            let bin = match prog {
                "svc" => concat!(env!("TEND_BIN_DIR"), "/svc"),
                "svok" => concat!(env!("TEND_BIN_DIR"), "/svok"),
                _ => concat!(env!("TEND_BIN_DIR"), "/svstat"),
            };
            run(Command::new(bin)
                .args(args)
                .env("SVDIR", w.sv(""))
                .current_dir(&elsewhere))
        };
        let o = tool("svstat", &["web/log"]);
        assert!(
            texts(&o)
                .0
                .starts_with(&format!("web/log: up (pid {logger}) ")),
            "{:?}",
            texts(&o)
        );
        let o = tool("svc", &["-t", "web/log"]);
        assert!(o.status.success(), "{:?}", texts(&o));
        wait_until(LIMIT, "the logger restarted", || {
            daemon_pid(&w.sv("web/log")).is_some_and(|p| p != logger)
        });
        // An explicit ./web/log is taken here, never in $SVDIR; the daemon is untouched.
        let o = tool("svc", &["-t", "./web/log"]);
        assert_eq!(o.status.code(), Some(111), "{:?}", texts(&o));
        assert_eq!(read(&w.out("web.starts")).lines().count(), 1);
        // svok on a name that does not exist says so (a typo is no stopped service).
        let o = tool("svok", &["wbe"]);
        assert_eq!(o.status.code(), Some(100));
        assert_eq!(
            texts(&o).1,
            format!(
                "svok: fatal: unable to open {}: file does not exist\n",
                w.sv("wbe").display()
            )
        );
        let o = tool("svok", &["web/log"]);
        assert!(o.status.success(), "{:?}", texts(&o));
        stop(&mut scan, &w);
    }
}
