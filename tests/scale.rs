//! Reliability at scale and under change: 5000 services in one scan dir, and service dirs
//! whose files change, move or vanish while their service runs. Every test runs in both
//! modes (pair and flat, see common::Mode): where a test supervises one service dir with
//! `tend-supervise sv`, its flat variant runs `tend-scan -F` on a scan dir holding `sv`.
//!
//! The 5000-service test loads the machine (11 000 processes start and stop at once), so
//! it runs alone: it takes the write side of [`BIG`], every other test here the read side.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use common::{
    alive, both_modes, read, supervisors, wait_until, write_exec, Daemon, Mode, TempDir, LIMIT,
};

const SUP: &str = concat!(env!("TEND_BIN_DIR"), "/tend-supervise");
const SCAN: &str = concat!(env!("TEND_BIN_DIR"), "/tend-scan");

/// Held for writing by the 5000-service test, for reading by the others.
static BIG: RwLock<()> = RwLock::new(());

fn small() -> RwLockReadGuard<'static, ()> {
    BIG.read().unwrap_or_else(|e| e.into_inner())
}

/// The pid in DIR/supervise/pid, if the service is up.
fn daemon_pid(dir: &Path) -> Option<i32> {
    read(&dir.join("supervise/pid")).trim().parse().ok()
}

/// Waits (bounded) until DIR/supervise/pid names a daemon other than `not`; returns it.
fn up_other(dir: &Path, not: Option<i32>) -> i32 {
    let mut pid = None;
    wait_until(LIMIT, &format!("{} to be up", dir.display()), || {
        pid = daemon_pid(dir).filter(|p| Some(*p) != not);
        pid.is_some()
    });
    pid.unwrap()
}

fn up(dir: &Path) -> i32 {
    up_other(dir, None)
}

/// The value of `key` in DIR/supervise/info.
fn info(dir: &Path, key: &str) -> String {
    let text = read(&dir.join("supervise/info"));
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key} ")).map(str::to_string))
        .unwrap_or_default()
}

/// svstat's line for DIR.
fn svstat(dir: &Path) -> String {
    let out = common::run(Command::new(concat!(env!("TEND_BIN_DIR"), "/svstat")).arg(dir));
    common::texts(&out).0
}

fn ctl(dir: &Path, cmd: &[u8]) {
    tend_core::control::send(dir, cmd).unwrap();
}

/// Checks that `cond` holds throughout `dur` (for "nothing happens" assertions).
fn assert_stays(dur: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + dur;
    while Instant::now() < end {
        assert!(cond(), "{what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The start time of process `pid` (clock ticks after boot), so that a pid reused by the
/// time of a check is not taken for the process recorded.
fn start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')')
        .next()?
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

/// The live children of `parent` running program `prog`.
fn children_named(parent: i32, prog: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for ent in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = ent.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let arg0 = cmdline.split(|&b| b == 0).next().unwrap_or_default();
        if arg0.ends_with(prog.as_bytes()) && common::ppid(pid) == Some(parent) && alive(pid) {
            out.push(pid);
        }
    }
    out
}

/// Whether the process recorded as (`pid`, `start`) still runs.
fn still_running(pid: i32, start: u64) -> bool {
    alive(pid) && start_time(pid) == Some(start)
}

/// A test's world: temp dir `td`, in which `sv/` is the service or scan dir and `out/`
/// holds what the scripts write; `mode` says how tend supervises.
struct World {
    // Fields drop in order: daemons stop before their dirs go.
    daemons: Vec<Daemon>,
    td: TempDir,
    mode: Mode,
}

impl World {
    fn new(name: &str, mode: Mode) -> World {
        World::at(TempDir::new(&format!("{name}-{mode:?}")), mode)
    }

    fn at(td: TempDir, mode: Mode) -> World {
        fs::create_dir_all(td.join("sv")).unwrap();
        fs::create_dir_all(td.join("out")).unwrap();
        World {
            daemons: Vec::new(),
            td,
            mode,
        }
    }

    fn sv(&self, rel: &str) -> PathBuf {
        self.td.join("sv").join(rel)
    }

    fn out(&self, rel: &str) -> PathBuf {
        self.td.join("out").join(rel)
    }

    fn lines(&self, rel: &str) -> Vec<String> {
        read(&self.out(rel)).lines().map(str::to_string).collect()
    }

    /// Starts `prog ARGS`, from the temp dir, with stdout and stderr appended to
    /// out/NAME.out and out/NAME.err; returns its index in `daemons`.
    fn start(&mut self, prog: &str, name: &str, args: &[&str]) -> usize {
        let append = |file: String| {
            fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.out(&file))
                .unwrap()
        };
        let mut cmd = Command::new(prog);
        cmd.args(args)
            .current_dir(self.td.path())
            .stdin(Stdio::null())
            .stdout(append(format!("{name}.out")))
            .stderr(append(format!("{name}.err")));
        self.daemons.push(Daemon::spawn(&mut cmd));
        self.daemons.len() - 1
    }

    /// Starts tend-scan, in the world's mode, with ARGS on the scan dir sv/, its output
    /// in out/scan.*; returns its index in `daemons`.
    fn scan(&mut self, args: &[&str]) -> usize {
        let args: Vec<&str> = [self.mode.scan_args(), args, &["sv"]].concat();
        self.start(SCAN, "scan", &args)
    }

    /// Supervises the service dir sv/, its output in out/sup.*: with `tend-supervise sv`
    /// (pair mode), or with `tend-scan -F` on a scan dir scan/ whose `sv` links to it
    /// (flat mode). Waits until it serves sv's control fifo.
    fn supervise(&mut self) {
        match self.mode {
            Mode::Pair => self.start(SUP, "sup", &["sv"]),
            Mode::Flat => {
                fs::create_dir_all(self.td.join("scan")).unwrap();
                std::os::unix::fs::symlink("../sv", self.td.join("scan/sv")).unwrap();
                self.start(SCAN, "sup", &["-F", "scan"])
            }
        };
        let sv = self.sv("");
        wait_until(LIMIT, "the supervisor to start", || {
            tend_core::control::is_supervised(&sv).unwrap_or(false)
        });
    }

    /// The prefix of the messages about sv/ after [`World::supervise`].
    fn sup_prog(&self) -> String {
        self.mode.prog("sv")
    }

    fn err(&self, name: &str) -> String {
        read(&self.out(&format!("{name}.err")))
    }

    /// Context for failure messages.
    fn show(&self) -> String {
        let mut s = String::new();
        for f in ["sup.err", "scan.err", "events"] {
            s += &format!("\n--- {f}:\n{}", read(&self.out(f)));
        }
        s + "\n--- listing:\n" + &self.td.listing()
    }

    /// SIGTERMs daemon `i` and checks that it exits 0 (bounded).
    fn stop(&mut self, i: usize, limit: Duration) {
        self.daemons[i].signal(15);
        let st = self.daemons[i].wait_exit(limit);
        assert!(st.success(), "exited {st:?}{}", self.show());
    }
}

/// A directory for the 5000-service test: on tmpfs (/dev/shm) when there is one, as the
/// supervise dirs of a real system usually are (/run). On ext4 the supervisors' status
/// files (a new inode each write) make bring-up and shutdown several times slower.
fn fast_temp_dir(name: &str) -> TempDir {
    let shm = Path::new("/dev/shm");
    let base = if fs::metadata(shm).is_ok_and(|m| m.is_dir())
        && fs::write(shm.join(format!(".tend-probe-{}", std::process::id())), "").is_ok()
    {
        let _ = fs::remove_file(shm.join(format!(".tend-probe-{}", std::process::id())));
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let p = base.join(format!("tend-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&p);
    fs::create_dir_all(&p).unwrap();
    TempDir(p)
}

/// Writes an executable file without the rename dance (nothing runs it yet).
fn write_script(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

const SERVICES: usize = 5000;
/// Every LOG_EVERY-th service has a logger: 500 logged services, 1000 fds of pipes in
/// tend-scan, which raises its soft fd limit to the hard one.
const LOG_EVERY: usize = 10;
/// The descriptors tend-scan -F holds for each dir it supervises (a service dir or a
/// log/): the dir, and its supervise/lock, alive, control and ok.
const FLAT_FDS_PER_DIR: u64 = 5;
/// The descriptors tend-scan holds for each logged service: the two ends of its pipe.
const FDS_PER_PIPE: u64 = 2;
/// tend-scan's own descriptors (stdio, inotify, signals, /dev/null, the spare one), with
/// room for those a spawn or a status write holds for a moment.
const FDS_OWN: u64 = 64;

/// The descriptors tend-scan -F needs for `services` services, every LOG_EVERY-th logged.
fn flat_fds(services: usize) -> u64 {
    let logged = services.div_ceil(LOG_EVERY) as u64;
    (services as u64 + logged) * FLAT_FDS_PER_DIR + logged * FDS_PER_PIPE + FDS_OWN
}

/// How many services the big test runs. Pair mode: SERVICES (tend-scan holds a pipe per
/// logged service, each supervisor its own few descriptors). Flat mode: tend-scan holds
/// every supervise dir, 57 descriptors per LOG_EVERY services, and it can raise its soft
/// limit only to the hard limit it inherits from this process; SERVICES if they fit
/// there, else as many whole groups of LOG_EVERY as do (with a hard limit of 20 000,
/// 3490 services).
fn services(mode: Mode) -> usize {
    if mode == Mode::Pair {
        return SERVICES;
    }
    let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .maximum
        .unwrap_or(u64::MAX);
    let mut n = SERVICES;
    while n > LOG_EVERY && flat_fds(n) > hard {
        n -= LOG_EVERY;
    }
    n
}

both_modes! {
    fn five_thousand_services_start_once_each_and_all_stop_on_sigterm(mode) {
        let _alone = BIG.write().unwrap_or_else(|e| e.into_inner());
        let services = services(mode);
        let mut w = World::at(fast_temp_dir(&format!("scale-5000-{mode:?}")), mode);
        let (started, logged) = (w.out("started"), w.out("logged"));
        let mut names = Vec::new();
        for i in 0..services {
            let name = format!("s{i:04}");
            let has_log = i % LOG_EVERY == 0;
            // Each run script notes its start with one O_APPEND write, and a logged one
            // prints the same line to its logger; then it becomes the daemon (same pid).
            let say = if has_log { "echo \"$l\"\n" } else { "" };
            write_script(
                &w.sv(&format!("{name}/run")),
                &format!(
                    "#!/bin/sh\nl=\"{name} $$\"\necho \"$l\" >>'{}'\n{say}exec sleep 100000\n",
                    started.display()
                ),
            );
            names.push(name.clone());
            if has_log {
                write_script(
                    &w.sv(&format!("{name}/log/run")),
                    &format!(
                        "#!/bin/sh\necho \"{name}/log $$\" >>'{}'\nexec cat >>'{}'\n",
                        started.display(),
                        logged.display()
                    ),
                );
                names.push(format!("{name}/log"));
            }
        }
        let logged_count = services.div_ceil(LOG_EVERY);
        let t0 = Instant::now();
        let scan = w.scan(&["-t", "20s"]);
        let scan_pid = w.daemons[scan].pid();
        wait_until(Duration::from_secs(150), "every service to start", || {
            read(&started).lines().count() >= names.len()
                && read(&logged).lines().count() >= logged_count
        });
        let bring_up = t0.elapsed();

        // Every service and logger started exactly once, and each logged line reached its
        // logger exactly once.
        let text = read(&started);
        let mut daemons: HashMap<String, i32> = HashMap::new();
        for line in text.lines() {
            let (name, pid) = line.split_once(' ').unwrap();
            let old = daemons.insert(name.to_string(), pid.parse().unwrap());
            assert!(old.is_none(), "{name} started twice");
        }
        assert_eq!(daemons.len(), names.len(), "a service is missing");
        let log_lines: HashSet<String> = read(&logged).lines().map(str::to_string).collect();
        assert_eq!(log_lines.len(), logged_count, "a logged line doubled");
        for l in &log_lines {
            let (name, pid) = l.split_once(' ').unwrap();
            assert_eq!(daemons.get(name), Some(&pid.parse().unwrap()), "{l}");
        }
        // Every process recorded by start time.
        let mut procs: Vec<(String, i32, u64)> = Vec::new();
        for (name, &pid) in &daemons {
            let start = start_time(pid).unwrap_or_else(|| panic!("{name}'s daemon {pid} died"));
            procs.push((name.clone(), pid, start));
        }
        // Every service dir and log/ is supervised: in pair mode by one tend-supervise each,
        // children of tend-scan; in flat mode by tend-scan itself, with no tend-supervise,
        // in the descriptors the count of services was computed with.
        let unsupervised: Vec<&String> = names
            .iter()
            .filter(|n| !tend_core::control::is_supervised(&w.sv(n)).unwrap_or(false))
            .collect();
        assert!(unsupervised.is_empty(), "not supervised: {unsupervised:?}");
        let sups = children_named(scan_pid, "tend-supervise");
        let want = match mode {
            Mode::Pair => names.len(),
            Mode::Flat => 0,
        };
        assert_eq!(sups.len(), want, "supervisor processes");
        for pid in sups {
            if let Some(start) = start_time(pid) {
                procs.push((format!("supervisor {pid}"), pid, start));
            }
        }
        let fds = fs::read_dir(format!("/proc/{scan_pid}/fd")).unwrap().count() as u64;
        if mode == Mode::Flat {
            assert!(
                fds <= flat_fds(services),
                "tend-scan -F holds {fds} descriptors, over the {} counted for {services} \
                 services",
                flat_fds(services)
            );
        }

        let t1 = Instant::now();
        w.daemons[scan].signal(15);
        let st = w.daemons[scan].wait_exit(Duration::from_secs(90));
        let shutdown = t1.elapsed();
        let err = w.err("scan");
        assert!(st.success(), "tend-scan exited {st:?}: {err}");
        let left: Vec<_> = procs
            .iter()
            .filter(|(_, pid, start)| still_running(*pid, *start))
            .collect();
        assert!(left.is_empty(), "left running: {left:?}");
        let again: Vec<String> = read(&started)
            .lines()
            .skip(names.len())
            .map(str::to_string)
            .collect();
        assert!(
            again.is_empty(),
            "started again during the shutdown: {again:?}\n--- scan.err:\n{err}"
        );
        let killed = err.matches("warning: killing").count();
        eprintln!(
            "{mode:?} mode: {services} services ({logged_count} logged) in {}: up in \
             {bring_up:.1?}, down in {shutdown:.1?}, {killed} killed at the deadline; \
             tend-scan held {fds} descriptors",
            w.td.path().parent().unwrap().display()
        );
    }
}

both_modes! {
    fn run_replaced_by_rename_while_up_runs_at_the_next_start(mode) {
        let _g = small();
        let mut w = World::new("scale-run-replaced", mode);
        let starts = w.out("starts");
        let script = |v: &str| {
            format!(
                "#!/bin/sh\necho \"{v} $$\" >>'{}'\nexec sleep 100000\n",
                starts.display()
            )
        };
        write_exec(&w.sv("run"), &script("v1"));
        w.supervise();
        let p1 = up(&w.sv(""));
        wait_until(LIMIT, "v1's line", || w.lines("starts").len() == 1);
        assert_eq!(w.lines("starts"), [format!("v1 {p1}")]);
        write_exec(&w.sv("run"), &script("v2"));
        assert_stays(Duration::from_millis(500), "the daemon runs on", || {
            alive(p1) && daemon_pid(&w.sv("")) == Some(p1) && w.lines("starts").len() == 1
        });
        ctl(&w.sv(""), b"t");
        let p2 = up_other(&w.sv(""), Some(p1));
        wait_until(LIMIT, "v2's line", || w.lines("starts").len() == 2);
        assert_eq!(
            w.lines("starts"),
            [format!("v1 {p1}"), format!("v2 {p2}")],
            "{}",
            w.show()
        );
        assert!(!alive(p1));
    }
}

both_modes! {
    fn run_removed_while_up_is_shown_missing_and_retried_until_put_back(mode) {
        let _g = small();
        let mut w = World::new("scale-run-removed", mode);
        let script = format!(
            "#!/bin/sh\necho $$ >>'{}'\nexec sleep 100000\n",
            w.out("starts").display()
        );
        write_exec(&w.sv("run"), &script);
        w.supervise();
        let p1 = up(&w.sv(""));
        fs::remove_file(w.sv("run")).unwrap();
        assert_stays(Duration::from_millis(500), "the daemon runs on", || {
            alive(p1) && daemon_pid(&w.sv("")) == Some(p1)
        });
        assert_eq!(info(&w.sv(""), "run"), "ok");
        // The daemon ends; there is nothing to start in its place.
        ctl(&w.sv(""), b"t");
        wait_until(LIMIT, "run missing in info and svstat", || {
            info(&w.sv(""), "run") == "missing" && svstat(&w.sv("")).contains(", run missing")
        });
        assert!(!alive(p1));
        assert_eq!(daemon_pid(&w.sv("")), None);
        wait_until(LIMIT, "the supervisor's warning", || {
            w.err("sup").contains(&format!(
                "{}: warning: unable to start ./run: file does not exist",
                w.sup_prog()
            ))
        });
        // Put back, it comes up on the next retry, with no command.
        write_exec(&w.sv("run"), &script);
        let p2 = up_other(&w.sv(""), Some(p1));
        wait_until(LIMIT, "run ok in info", || info(&w.sv(""), "run") == "ok");
        wait_until(LIMIT, "the second start's line", || {
            w.lines("starts").len() == 2
        });
        assert_eq!(
            w.lines("starts"),
            [p1.to_string(), p2.to_string()],
            "{}",
            w.show()
        );
    }
}

both_modes! {
    fn down_created_or_removed_while_supervised_changes_nothing(mode) {
        let _g = small();
        let mut w = World::new("scale-down-file", mode);
        write_exec(
            &w.sv("run"),
            &format!(
                "#!/bin/sh\necho $$ >>'{}'\nexec sleep 100000\n",
                w.out("starts").display()
            ),
        );
        w.supervise();
        let p1 = up(&w.sv(""));
        fs::write(w.sv("down"), "").unwrap();
        assert_stays(Duration::from_millis(500), "the daemon runs on", || {
            alive(p1) && daemon_pid(&w.sv("")) == Some(p1)
        });
        assert!(
            svstat(&w.sv("")).contains(", normally down"),
            "svstat tells"
        );
        // `down` is read when the supervisor starts: a daemon that ends is still restarted.
        ctl(&w.sv(""), b"t");
        let p2 = up_other(&w.sv(""), Some(p1));
        // Brought down, it stays down when `down` goes away.
        ctl(&w.sv(""), b"d");
        wait_until(LIMIT, "the service to be down", || {
            daemon_pid(&w.sv("")).is_none() && !alive(p2)
        });
        fs::remove_file(w.sv("down")).unwrap();
        assert_stays(Duration::from_millis(1500), "nothing starts", || {
            daemon_pid(&w.sv("")).is_none() && w.lines("starts").len() == 2
        });
        assert!(svstat(&w.sv("")).contains(", normally up"));
    }
}

both_modes! {
    fn finish_timeout_kill_down_signal_and_notification_fd_apply_from_the_next_start(mode) {
        let _g = small();
        let mut w = World::new("scale-settings", mode);
        let events = w.out("events");
        let ev = events.display();
        // Says whether fd 3 is a readiness pipe (a pipe: the test may run with another fd 3
        // open, say flock's lock file); on TERM stops, on HUP carries on. The traps
        // come before anything the test waits for (its start, its readiness), which the
        // test may answer with a signal at once.
        write_exec(
            &w.sv("run"),
            &format!(
                "#!/bin/sh\ntrap 'echo TERM >>\"{ev}\"; kill $! 2>/dev/null; exit 0' TERM\n\
                 trap 'echo HUP >>\"{ev}\"' HUP\n\
                 echo \"start $$\" >>'{ev}'\n\
                 if [ -p /dev/fd/3 ]; then echo notified >>'{ev}'; echo >&3; fi\n\
                 sleep 100000 &\n\
                 while :; do wait; done\n"
            ),
        );
        w.supervise();
        let p1 = up(&w.sv(""));
        wait_until(LIMIT, "the first start", || {
            read(&events) == format!("start {p1}\n")
        });
        // All four appear while the service runs.
        write_exec(
            &w.sv("finish"),
            &format!("#!/bin/sh\necho \"finish $1 $2\" >>'{ev}'\n"),
        );
        fs::write(w.sv("down-signal"), "HUP\n").unwrap();
        fs::write(w.sv("timeout-kill"), "300\n").unwrap();
        fs::write(w.sv("notification-fd"), "3\n").unwrap();
        // This run was started without them: TERM stops it. finish is looked for when run
        // ends, so the new one runs already.
        ctl(&w.sv(""), b"d");
        wait_until(LIMIT, "TERM and finish", || {
            read(&events).ends_with("finish 0 0\n") && daemon_pid(&w.sv("")).is_none()
        });
        // The next run gets the readiness pipe, and its stop uses HUP (ignored), then SIGKILL.
        ctl(&w.sv(""), b"u");
        let p2 = up_other(&w.sv(""), Some(p1));
        wait_until(LIMIT, "the service to be ready", || {
            info(&w.sv(""), "ready") != "-" && svstat(&w.sv("")).contains(", ready")
        });
        ctl(&w.sv(""), b"d");
        wait_until(LIMIT, "HUP, SIGKILL and finish", || {
            read(&events).ends_with("finish -1 9\n") && daemon_pid(&w.sv("")).is_none()
        });
        // All four gone: the next run has no readiness pipe, stops on TERM, runs no finish.
        for f in ["finish", "down-signal", "timeout-kill", "notification-fd"] {
            fs::remove_file(w.sv(f)).unwrap();
        }
        ctl(&w.sv(""), b"u");
        let p3 = up_other(&w.sv(""), Some(p2));
        wait_until(LIMIT, "the third start", || {
            read(&events).contains(&format!("start {p3}\n"))
        });
        ctl(&w.sv(""), b"d");
        wait_until(LIMIT, "TERM", || {
            read(&events).ends_with("TERM\n") && daemon_pid(&w.sv("")).is_none()
        });
        // A finish would have been run before the supervisor published "down".
        assert_eq!(
            read(&events),
            format!(
                "start {p1}\nTERM\nfinish 0 0\nstart {p2}\nnotified\nHUP\nfinish -1 9\n\
                 start {p3}\nTERM\n"
            ),
            "{}",
            w.show()
        );
        assert_eq!(info(&w.sv(""), "notify"), "-");
    }
}

/// A daemon that prints 1, 2, 3... every 5 ms, notes each start in out/starts, and on TERM
/// writes the last number it printed to out/last (its trap is set before it notes its
/// start, which the test may answer with a TERM).
fn counter(w: &World, svc: &str) {
    write_exec(
        &w.sv(&format!("{svc}/run")),
        &format!(
            "#!/bin/sh\ni=0\ntrap 'echo $i >\"{}\"; exit 0' TERM\necho $$ >>'{}'\n\
             while :; do i=$((i+1)); echo $i; sleep 0.005; done\n",
            w.out("last").display(),
            w.out("starts").display()
        ),
    );
}

/// A World whose service `web` is a [`counter`] logged by `cat` into out/log, under a
/// running tend-scan (returned as its index in `daemons` and its pid), with output flowing.
fn logged_counter(name: &str, mode: Mode) -> (World, usize, i32) {
    let mut w = World::new(name, mode);
    counter(&w, "web");
    write_exec(
        &w.sv("web/log/run"),
        &format!("#!/bin/sh\nexec cat >>'{}'\n", w.out("log").display()),
    );
    let scan = w.scan(&[]);
    let scan_pid = w.daemons[scan].pid();
    wait_until(LIMIT, "lines in the log", || w.lines("log").len() >= 10);
    (w, scan, scan_pid)
}

/// Checks that `text` is runs of 1, 2, 3..., one per start: `runs` of them, nothing lost
/// or doubled, the last ending at `last`.
fn assert_runs(text: &str, runs: usize, last: u64) {
    let mut ends = Vec::new();
    let mut want = 1u64;
    for line in text.lines() {
        let n: u64 = line
            .parse()
            .unwrap_or_else(|_| panic!("not a number: {line:?}"));
        if n == 1 && want != 1 {
            ends.push(want - 1);
            want = 1;
        }
        assert_eq!(n, want, "line {n} where {want} was due (lost or doubled)");
        want += 1;
    }
    ends.push(want - 1);
    assert_eq!(ends.len(), runs, "runs ending at {ends:?}");
    assert_eq!(ends.last(), Some(&last), "runs ending at {ends:?}");
}

both_modes! {
    fn a_renamed_logged_service_keeps_one_daemon_and_a_dot_name_stops_it(mode) {
        let _g = small();
        let (mut w, mut scan, mut scan_pid) = logged_counter("scale-rename", mode);
        let (d1, logger) = (up(&w.sv("web")), up(&w.sv("web/log")));
        // The supervisor processes: one tend-supervise each in pair mode; none in flat mode,
        // where tend-scan supervises.
        let want = match mode {
            Mode::Pair => 1,
            Mode::Flat => 0,
        };
        let sups = (
            supervisors(scan_pid, "web"),
            supervisors(scan_pid, "web/log"),
        );
        assert_eq!((sups.0.len(), sups.1.len()), (want, want), "{}", w.show());

        fs::rename(w.sv("web"), w.sv("www")).unwrap();
        wait_until(LIMIT, "the rename to be noticed", || {
            w.err("scan")
                .contains("tend-scan: info: web is now called www\n")
        });
        let before = w.lines("log").len();
        assert_stays(Duration::from_millis(300), "both keep running", || {
            alive(d1) && alive(logger) && daemon_pid(&w.sv("www")) == Some(d1)
        });
        assert!(w.lines("log").len() > before, "the log stopped growing");
        assert_eq!(
            (
                supervisors(scan_pid, "web"),
                supervisors(scan_pid, "web/log")
            ),
            sups
        );

        // The daemon's supervisor killed after the rename (tend-supervise web; in flat mode
        // tend-scan, started again at once) is replaced under the new name, which adopts
        // the daemon (and in flat mode the logger): still one copy.
        match mode {
            Mode::Pair => common::unsafe_kill(sups.0[0], 9),
            Mode::Flat => {
                w.daemons[scan].signal(9);
                w.daemons[scan].wait_exit(LIMIT);
                scan = w.scan(&[]);
                scan_pid = w.daemons[scan].pid();
            }
        }
        let adopted = |name: &str, pid: i32| {
            let line = format!("{}: info: adopted running service pid {pid}\n", mode.prog(name));
            w.err("scan").contains(&line)
        };
        let before = w.lines("log").len();
        wait_until(LIMIT, "the supervision of www to adopt the daemon", || {
            supervisors(scan_pid, "www").len() == want
                && adopted("www", d1)
                && (mode == Mode::Pair || adopted("www/log", logger))
                && w.lines("log").len() > before + 10
        });
        assert!(supervisors(scan_pid, "web").is_empty());
        assert!(alive(logger));
        assert_eq!(daemon_pid(&w.sv("www")), Some(d1));
        assert_eq!(w.lines("starts").len(), 1, "a second copy started");

        // svc -t under the new name restarts it, once.
        ctl(&w.sv("www"), b"t");
        let d2 = up_other(&w.sv("www"), Some(d1));
        wait_until(LIMIT, "the old daemon to be gone", || !alive(d1));
        assert_eq!(w.lines("starts").len(), 2, "{}", w.show());

        // A dot-name is a removal: the service stops, its logger drains, its supervisors end.
        fs::rename(w.sv("www"), w.sv(".www")).unwrap();
        wait_until(LIMIT, "the daemon and the logger to stop", || {
            !alive(d2) && !alive(logger)
        });
        wait_until(LIMIT, "the supervisors to end", || {
            let supervised = |d: &str| tend_core::control::is_supervised(&w.sv(d)).unwrap_or(true);
            children_named(scan_pid, "tend-supervise").is_empty()
                && !supervised(".www")
                && !supervised(".www/log")
        });
        wait_until(LIMIT, "tend-scan to say so", || {
            w.err("scan")
                .contains("tend-scan: info: stopped .www: directory renamed to a dot-name\n")
        });
        let last: u64 = read(&w.out("last")).trim().parse().unwrap();
        assert_runs(&read(&w.out("log")), 2, last);
        assert_eq!(w.lines("starts").len(), 2);
        w.stop(scan, LIMIT);
    }
}

both_modes! {
    fn a_log_dir_removed_while_running_is_not_noticed_and_shutdown_still_drains(mode) {
        let _g = small();
        let (mut w, scan, scan_pid) = logged_counter("scale-log-removed", mode);
        let (daemon, logger) = (up(&w.sv("web")), up(&w.sv("web/log")));
        // The log supervisor process: tend-supervise web/log in pair mode; none in flat
        // mode, where tend-scan supervises.
        let log_sup = supervisors(scan_pid, "web/log");
        let want = match mode {
            Mode::Pair => 1,
            Mode::Flat => 0,
        };
        assert_eq!(log_sup.len(), want, "{}", w.show());

        fs::remove_dir_all(w.sv("web/log")).unwrap();
        let before = w.lines("log").len();
        // Nothing notices: the logger and its supervisor run on in the removed dir, and the
        // daemon's output still reaches the logger.
        assert_stays(Duration::from_millis(500), "everything runs on", || {
            alive(daemon) && alive(logger) && supervisors(scan_pid, "web/log") == log_sup
        });
        wait_until(LIMIT, "the log to grow", || {
            w.lines("log").len() > before + 10
        });
        assert_eq!(daemon_pid(&w.sv("web")), Some(daemon));
        assert!(
            !w.err("scan").contains("web"),
            "tend-scan said something: {}",
            w.show()
        );

        // Shutdown: the daemon stops, the logger drains the pipe, everything exits.
        w.stop(scan, LIMIT);
        assert!(!alive(daemon) && !alive(logger) && !log_sup.iter().any(|&p| alive(p)));
        let last: u64 = read(&w.out("last")).trim().parse().unwrap();
        assert_runs(&read(&w.out("log")), 1, last);
    }
}
