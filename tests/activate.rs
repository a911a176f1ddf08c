//! svactivate and svdeactivate, run for real on temp install dirs, live dirs and log
//! roots: what gets copied, the generated log/run, idempotence, errors, and the waits,
//! first against supervisors started by hand, then under a real tend-scan.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::*;

const ACTIVATE: &str = concat!(env!("TEND_BIN_DIR"), "/svactivate");
const DEACTIVATE: &str = concat!(env!("TEND_BIN_DIR"), "/svdeactivate");
const SUP: &str = concat!(env!("TEND_BIN_DIR"), "/tend-supervise");

/// A test's layout: install dir `rc`, live dir `sv`, log root `logs`, all in a temp dir.
struct Site {
    tmp: TempDir,
}

impl Site {
    fn new(name: &str) -> Site {
        let tmp = TempDir::new(name);
        for d in ["rc", "sv", "logs"] {
            fs::create_dir(tmp.join(d)).unwrap();
        }
        Site { tmp }
    }

    fn rc(&self, rel: &str) -> PathBuf {
        self.tmp.join("rc").join(rel)
    }

    fn sv(&self, rel: &str) -> PathBuf {
        self.tmp.join("sv").join(rel)
    }

    fn logs(&self, rel: &str) -> PathBuf {
        self.tmp.join("logs").join(rel)
    }

    /// Installs service `name` in the install dir with this run script.
    fn install(&self, name: &str, run: &str) {
        write_exec(&self.rc(&format!("{name}/run")), run);
    }

    /// A command for one of the programs, with the site's environment and no config file.
    fn cmd(&self, prog: &str) -> Command {
        let mut cmd = Command::new(prog);
        let bindir = Path::new(SUP).parent().unwrap();
        let path = format!(
            "{}:{}",
            bindir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        cmd.current_dir(self.tmp.path())
            .env("SVDIR", self.tmp.join("sv"))
            .env("TEND_INSTALL_DIR", self.tmp.join("rc"))
            .env("TEND_LOG_ROOT", self.tmp.join("logs"))
            .env("TEND_LOG_CONF", "")
            .env("PATH", path);
        for var in [
            "TEND_LOGGER",
            "TEND_LOG_OPTIONS",
            "TEND_LOG_USER",
            "TEND_LOG_SIZE",
            "TEND_LOG_COUNT",
        ] {
            cmd.env_remove(var);
        }
        cmd
    }

    fn activate(&self, args: &[&str]) -> Output {
        run(self.cmd(ACTIVATE).args(args))
    }

    fn deactivate(&self, args: &[&str]) -> Output {
        run(self.cmd(DEACTIVATE).args(args))
    }

    /// The names in the live dir, sorted.
    fn live_names(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.tmp.join("sv"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// Starts a tend-supervise on `sv/rel` by hand, standing in for a scanner.
    fn supervise(&self, rel: &str) -> Daemon {
        let err =
            fs::File::create(self.tmp.join(&format!("{}.stderr", rel.replace('/', "_")))).unwrap();
        Daemon::spawn(
            Command::new(SUP)
                .arg(self.sv(rel))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(err),
        )
    }
}

/// Asserts an exit code and the exact stderr, showing everything on failure.
fn expect(out: &Output, code: i32, stderr: &str, site: &Site) {
    let (o, e) = texts(out);
    assert!(
        out.status.code() == Some(code) && e == stderr,
        "expected exit {code} and stderr {stderr:?}\ngot {:?}\nstdout: {o}\nstderr: {e}\n{}",
        out.status,
        site.tmp.listing()
    );
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

fn ok_has_reader(dir: &Path) -> bool {
    rustix::fs::open(
        dir.join("supervise/ok"),
        rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .is_ok()
}

const SLEEPER: &str = "#!/bin/sh\nexec sleep 1000\n";

#[test]
fn copies_modes_and_links_and_adds_the_policy_logger() {
    let s = Site::new("act-copy");
    s.install("web", "#!/bin/sh\nexec 2>&1\necho hello\nexec sleep 1000\n");
    fs::write(s.rc("web/env"), "PORT=80\n").unwrap();
    fs::set_permissions(s.rc("web/env"), fs::Permissions::from_mode(0o640)).unwrap();
    fs::create_dir(s.rc("web/conf.d")).unwrap();
    fs::set_permissions(s.rc("web/conf.d"), fs::Permissions::from_mode(0o750)).unwrap();
    fs::write(s.rc("web/conf.d/a"), "a\n").unwrap();
    // A link out of the install dir: copied as a link, never followed.
    std::os::unix::fs::symlink(s.tmp.join("outside"), s.rc("web/data")).unwrap();
    // Runtime state in the install dir is not configuration: left out.
    fs::create_dir(s.rc("web/supervise")).unwrap();
    fs::write(s.rc("web/supervise/status"), "x").unwrap();

    let out = s.activate(&["-n", "web"]);
    expect(&out, 0, "", &s);
    assert_eq!(s.live_names(), ["web"]);
    assert_eq!(mode(&s.sv("web/run")), 0o755);
    assert_eq!(mode(&s.sv("web/env")), 0o640);
    assert_eq!(mode(&s.sv("web/conf.d")), 0o750);
    assert_eq!(read(&s.sv("web/conf.d/a")), "a\n");
    assert_eq!(read(&s.sv("web/run")), read(&s.rc("web/run")));
    assert_eq!(
        fs::read_link(s.sv("web/data")).unwrap(),
        s.tmp.join("outside")
    );
    assert!(!s.tmp.join("outside").exists());
    assert!(!s.sv("web/supervise").exists());
    assert_eq!(mode(&s.sv("web/log")), 0o755);
    assert_eq!(mode(&s.sv("web/log/run")), 0o755);
    assert_eq!(
        read(&s.sv("web/log/run")),
        format!(
            "#!/bin/sh\n# Generated by svactivate from built-in defaults and TEND_LOG_ROOT; \
             edit freely.\nexec tend-log -s 1M -n 10 {}\n",
            s.logs("web").display()
        )
    );
    // The install dir is read only: untouched.
    assert!(!s.rc("web/log").exists());
}

#[test]
fn the_policy_file_and_environment_shape_log_run() {
    let s = Site::new("act-conf");
    s.install("db", SLEEPER);
    let conf = s.tmp.join("logging.conf");
    fs::write(
        &conf,
        "# site policy\nlogger = /opt/tend/tend-log\noptions = -t tai64n\nroot = /srv/log\n\
         size = 64k\ncount = 3\nuser = nobody\n",
    )
    .unwrap();
    let out = run(s
        .cmd(ACTIVATE)
        .env("TEND_LOG_CONF", &conf)
        .env("TEND_LOG_COUNT", "5")
        .args(["-n", "db"]));
    expect(&out, 0, "", &s);
    assert_eq!(
        read(&s.sv("db/log/run")),
        format!(
            "#!/bin/sh\n# Generated by svactivate from {} and TEND_LOG_ROOT, TEND_LOG_COUNT; \
             edit freely.\nexec /opt/tend/tend-log -t tai64n -u nobody -s 64k -n 5 {}\n",
            conf.display(),
            s.logs("db").display()
        )
    );
    // A bad file is refused before anything is touched.
    s.install("web", SLEEPER);
    fs::write(&conf, "size = huge\n").unwrap();
    let out = run(s
        .cmd(ACTIVATE)
        .env("TEND_LOG_CONF", &conf)
        .args(["-n", "web"]));
    expect(
        &out,
        100,
        &format!(
            "svactivate: fatal: unable to read {}: line 1: size: not a size such as 1M or 500k: huge\n",
            conf.display()
        ),
        &s,
    );
    assert_eq!(s.live_names(), ["db"]);
    // A file named by TEND_LOG_CONF must exist.
    let out = run(s
        .cmd(ACTIVATE)
        .env("TEND_LOG_CONF", s.tmp.join("nope"))
        .args(["-n", "web"]));
    expect(
        &out,
        111,
        &format!(
            "svactivate: fatal: unable to read {}: file does not exist\n",
            s.tmp.join("nope").display()
        ),
        &s,
    );
}

#[test]
fn an_empty_log_file_means_no_logger_and_an_own_log_dir_is_kept() {
    let s = Site::new("act-log");
    s.install("quiet", SLEEPER);
    fs::write(s.rc("quiet/log"), "").unwrap();
    s.install("own", SLEEPER);
    write_exec(&s.rc("own/log/run"), "#!/bin/sh\nexec cat > ./out\n");
    let out = s.activate(&["-n", "quiet", "own"]);
    expect(&out, 0, "", &s);
    let log = fs::symlink_metadata(s.sv("quiet/log")).unwrap();
    assert!(log.is_file() && log.len() == 0);
    assert_eq!(read(&s.sv("own/log/run")), "#!/bin/sh\nexec cat > ./out\n");
    assert_eq!(
        fs::read_dir(s.sv("own/log")).unwrap().count(),
        1,
        "{}",
        s.tmp.listing()
    );
}

#[test]
fn activation_is_idempotent_and_clears_a_stale_tmp() {
    let s = Site::new("act-idem");
    s.install("web", SLEEPER);
    // A half copy left by a crashed svactivate.
    fs::create_dir_all(s.sv(".web.tmp/junk")).unwrap();
    expect(&s.activate(&["-n", "web"]), 0, "", &s);
    assert_eq!(s.live_names(), ["web"]);
    let ino = fs::metadata(s.sv("web")).unwrap().ino();
    // The admin edits the live copy; activating again must not touch it.
    fs::write(s.sv("web/down"), "").unwrap();
    fs::write(s.rc("web/new"), "").unwrap();
    fs::create_dir(s.sv(".web.tmp")).unwrap();
    expect(&s.activate(&["-n", "web"]), 0, "", &s);
    expect(&s.activate(&["-n", "--all"]), 0, "", &s);
    assert_eq!(fs::metadata(s.sv("web")).unwrap().ino(), ino);
    assert!(s.sv("web/down").exists());
    assert!(!s.sv("web/new").exists());
    assert_eq!(s.live_names(), ["web"]);
}

#[test]
fn all_activates_every_service_dir_of_the_install_dir() {
    let s = Site::new("act-all");
    for name in ["a", "b", "c"] {
        s.install(name, SLEEPER);
    }
    fs::create_dir(s.rc(".hidden")).unwrap();
    fs::write(s.rc("README"), "not a service\n").unwrap();
    expect(&s.activate(&["-n", "--all"]), 0, "", &s);
    assert_eq!(s.live_names(), ["a", "b", "c"]);
}

#[test]
fn a_missing_live_dir_is_created() {
    let s = Site::new("act-mkdir");
    s.install("web", SLEEPER);
    fs::remove_dir(s.sv("")).unwrap();
    expect(&s.activate(&["-n", "web"]), 0, "", &s);
    assert_eq!(mode(&s.sv("")), 0o755);
    assert_eq!(s.live_names(), ["web"]);
}

#[test]
fn refusals_name_the_problem() {
    let s = Site::new("act-refuse");
    s.install("ok", SLEEPER);
    fs::create_dir(s.rc("norun")).unwrap();
    fs::create_dir(s.rc("noexec")).unwrap();
    fs::write(s.rc("noexec/run"), "#!/bin/sh\n").unwrap();
    let rc = s.rc("").display().to_string();
    let rc = rc.trim_end_matches('/');
    let out = s.activate(&["-n", "missing", "norun", "noexec", ".x", "a/b", "ok"]);
    expect(
        &out,
        100,
        &format!(
            "svactivate: fatal: unable to activate missing: {rc}/missing does not exist\n\
             svactivate: fatal: unable to activate norun: {rc}/norun/run does not exist\n\
             svactivate: fatal: unable to activate noexec: {rc}/noexec/run is not an executable file\n\
             svactivate: fatal: unable to use \".x\" as a service name: it starts with a dot\n\
             svactivate: fatal: unable to use \"a/b\" as a service name: it has a slash\n"
        ),
        &s,
    );
    // The good one was activated all the same, and nothing else left behind.
    assert_eq!(s.live_names(), ["ok"]);
    expect(
        &s.activate(&[]),
        100,
        "svactivate: fatal: missing name\n\
         svactivate: usage: svactivate [-n | -t timeout] --all | name...\n",
        &s,
    );
}

#[test]
fn waiting_for_a_supervisor_that_never_comes_times_out() {
    let s = Site::new("act-timeout");
    s.install("web", SLEEPER);
    let out = s.activate(&["-t", "300ms", "web"]);
    let sv = s.sv("").display().to_string();
    let sv = sv.trim_end_matches('/');
    expect(
        &out,
        1,
        &format!(
            "svactivate: fatal: unable to see a supervisor on {sv}/web within 300ms: \
             is tend-scan running on {sv}?\n\
             svactivate: fatal: unable to see a supervisor on {sv}/web/log within 300ms: \
             is tend-scan running on {sv}?\n"
        ),
        &s,
    );
    // The service dir is in place all the same: a scanner started later picks it up.
    assert_eq!(s.live_names(), ["web"]);
}

#[test]
fn svactivate_returns_once_supervisors_run() {
    let s = Site::new("act-wait");
    s.install("web", SLEEPER);
    fs::write(s.rc("web/log"), "").unwrap();
    let mut act = Daemon::spawn(
        s.cmd(ACTIVATE)
            .args(["-t", "20s", "web"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    wait_until(LIMIT, "web in the live dir", || s.sv("web/run").exists());
    assert!(!act.exited(), "svactivate returned before a supervisor ran");
    let _sup = s.supervise("web");
    let st = act.wait_exit(LIMIT);
    assert!(st.success(), "{st:?}\n{}", s.tmp.listing());
    assert!(ok_has_reader(&s.sv("web")));
}

#[test]
fn deactivating_without_supervisors_removes_the_dir_and_keeps_the_logdir() {
    let s = Site::new("deact-plain");
    s.install("web", SLEEPER);
    expect(&s.activate(&["-n", "web"]), 0, "", &s);
    fs::create_dir(s.logs("web")).unwrap();
    fs::write(s.logs("web/current"), "old line\n").unwrap();
    expect(&s.deactivate(&["web"]), 0, "", &s);
    assert!(s.live_names().is_empty(), "{}", s.tmp.listing());
    assert_eq!(read(&s.logs("web/current")), "old line\n");
    // Not active: nothing to do.
    expect(&s.deactivate(&["web", "never"]), 0, "", &s);
    expect(
        &s.deactivate(&[".web"]),
        100,
        "svdeactivate: fatal: unable to use \".web\" as a service name: it starts with a dot\n",
        &s,
    );
}

#[test]
fn deactivating_with_no_scanner_to_stop_the_supervisor_times_out_and_resumes() {
    let s = Site::new("deact-noscan");
    s.install("web", SLEEPER);
    fs::write(s.rc("web/log"), "").unwrap();
    expect(&s.activate(&["-n", "web"]), 0, "", &s);
    let mut sup = s.supervise("web");
    wait_until(LIMIT, "a supervisor on web", || ok_has_reader(&s.sv("web")));
    let out = s.deactivate(&["-t", "300ms", "web"]);
    let sv = s.sv("").display().to_string();
    let sv = sv.trim_end_matches('/');
    expect(
        &out,
        1,
        &format!(
            "svdeactivate: fatal: unable to remove {sv}/.web.removing: a supervisor still runs on \
             {sv}/.web.removing after 300ms: is tend-scan running on {sv}? \
             (svdeactivate again finishes the job)\n"
        ),
        &s,
    );
    assert_eq!(s.live_names(), [".web.removing"]);
    // The service was brought down (svc -d) before the rename.
    wait_until(LIMIT, "web down", || {
        read(&s.sv(".web.removing/supervise/stat")).starts_with("down")
    });
    // Once the supervisor is gone, svdeactivate finishes the job.
    sup.signal(15);
    sup.wait_exit(LIMIT);
    expect(&s.deactivate(&["web"]), 0, "", &s);
    assert!(s.live_names().is_empty(), "{}", s.tmp.listing());
}

// Under a real tend-scan.

const SCAN: &str = concat!(env!("TEND_BIN_DIR"), "/tend-scan");

impl Site {
    /// Starts tend-scan on the live dir, its stdout in scan.out and stderr in scan.err.
    fn scan(&self) -> Daemon {
        let out = fs::File::create(self.tmp.join("scan.out")).unwrap();
        let err = fs::File::create(self.tmp.join("scan.err")).unwrap();
        Daemon::spawn(
            self.cmd(SCAN)
                .arg(self.sv(""))
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err),
        )
    }
}

/// A service that says hello, and goodbye when told to stop.
const GREETER: &str = r#"#!/bin/sh
exec 2>&1
trap 'echo "bye from $(basename "$PWD")"; exit 0' TERM
echo "hello from $(basename "$PWD")"
while :; do sleep 0.05; done
"#;

#[test]
fn under_a_scanner_activation_waits_and_the_log_lands_in_the_log_root() {
    let s = Site::new("scan-log");
    s.install("web", GREETER);
    s.install("quiet", GREETER);
    fs::write(s.rc("quiet/log"), "").unwrap();
    let _scan = s.scan();
    expect(&s.activate(&["web", "quiet"]), 0, "", &s);
    // No waiting here: supervisors run by the time svactivate returns.
    for dir in ["web", "web/log", "quiet"] {
        assert!(ok_has_reader(&s.sv(dir)), "{dir}\n{}", s.tmp.listing());
    }
    wait_until(LIMIT, "web's line in logs/web/current", || {
        read(&s.logs("web/current")).contains("Z hello from web\n")
    });
    // The service with an empty log file writes to the scanner's stdout.
    wait_until(LIMIT, "quiet's line on tend-scan's stdout", || {
        read(&s.tmp.join("scan.out")).contains("hello from quiet\n")
    });
    assert!(!s.logs("quiet").exists());

    // Deactivation: the service's last words are in the log when svdeactivate returns.
    wait_until(LIMIT, "web's daemon", || {
        !read(&s.sv("web/supervise/pid")).is_empty()
    });
    let pid: i32 = read(&s.sv("web/supervise/pid")).trim().parse().unwrap();
    expect(&s.deactivate(&["web", "quiet"]), 0, "", &s);
    assert!(s.live_names().is_empty(), "{}", s.tmp.listing());
    assert!(!alive(pid), "web's daemon {pid} still runs");
    let log = read(&s.logs("web/current"));
    assert!(
        log.contains("Z hello from web\n") && log.contains("Z bye from web\n"),
        "{log}"
    );
    let err = read(&s.tmp.join("scan.err"));
    assert!(!err.contains("warning"), "{err}");
}

#[test]
fn under_a_scanner_activating_twice_touches_nothing() {
    let s = Site::new("scan-idem");
    s.install("web", GREETER);
    let _scan = s.scan();
    expect(&s.activate(&["web"]), 0, "", &s);
    // svactivate waits for the supervisor; the supervisor then starts the daemon.
    wait_until(LIMIT, "web's daemon", || {
        !read(&s.sv("web/supervise/pid")).is_empty()
    });
    let pid = read(&s.sv("web/supervise/pid"));
    let ino = fs::metadata(s.sv("web")).unwrap().ino();
    expect(&s.activate(&["web"]), 0, "", &s);
    expect(&s.activate(&["--all"]), 0, "", &s);
    assert_eq!(read(&s.sv("web/supervise/pid")), pid);
    assert_eq!(fs::metadata(s.sv("web")).unwrap().ino(), ino);
    assert_eq!(s.live_names(), ["web"]);
}

/// Watches the live dir with inotify from another thread and, the moment a name
/// appears, checks that the service dir under it is complete.
#[test]
fn the_scanner_never_sees_a_half_copied_dir() {
    use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let s = Site::new("scan-atomic");
    s.install("big", GREETER);
    const FILES: usize = 300;
    for i in 0..FILES {
        fs::write(s.rc(&format!("big/f{i:03}")), vec![b'x'; 4096]).unwrap();
    }
    fs::create_dir(s.rc("big/data")).unwrap();
    fs::write(s.rc("big/data/blob"), vec![b'y'; 8 << 20]).unwrap();
    let svdir = s.sv("");
    let complete = move |dir: &Path| {
        (0..FILES)
            .all(|i| fs::metadata(dir.join(format!("f{i:03}"))).is_ok_and(|m| m.len() == 4096))
            && fs::metadata(dir.join("data/blob")).is_ok_and(|m| m.len() == 8 << 20)
            && fs::metadata(dir.join("log/run")).is_ok_and(|m| m.len() > 0)
            && fs::metadata(dir.join("run")).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
    };
    let ino = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK).unwrap();
    inotify::add_watch(
        &ino,
        &svdir,
        WatchFlags::CREATE | WatchFlags::MOVED_TO | WatchFlags::MOVED_FROM | WatchFlags::DELETE,
    )
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let watcher = std::thread::spawn(move || {
        let mut seen: Vec<(String, bool)> = Vec::new();
        let mut buf = [std::mem::MaybeUninit::uninit(); 8192];
        let mut reader = inotify::Reader::new(&ino, &mut buf);
        loop {
            match reader.next() {
                Ok(ev) => {
                    let name = ev.file_name().unwrap().to_string_lossy().into_owned();
                    let appeared = ev
                        .events()
                        .intersects(inotify::ReadFlags::CREATE | inotify::ReadFlags::MOVED_TO);
                    if appeared && !name.starts_with('.') {
                        seen.push((name.clone(), complete(&svdir.join(&name))));
                    } else if appeared {
                        seen.push((name, true));
                    }
                }
                Err(rustix::io::Errno::AGAIN) => {
                    if stop2.load(Ordering::Relaxed) {
                        return seen;
                    }
                    let mut fds = [rustix::event::PollFd::new(
                        &ino,
                        rustix::event::PollFlags::IN,
                    )];
                    let tick = rustix::event::Timespec {
                        tv_sec: 0,
                        tv_nsec: 10_000_000,
                    };
                    let _ = rustix::event::poll(&mut fds, Some(&tick));
                }
                Err(e) => panic!("inotify: {e}"),
            }
        }
    });
    let _scan = s.scan();
    expect(&s.activate(&["big"]), 0, "", &s);
    stop.store(true, Ordering::Relaxed);
    let seen = watcher.join().unwrap();
    assert_eq!(
        seen,
        [(".big.tmp".to_string(), true), ("big".to_string(), true)],
        "names that appeared in the live dir, and whether each was complete then"
    );
    assert!(ok_has_reader(&s.sv("big")) && ok_has_reader(&s.sv("big/log")));
}

#[test]
fn the_boot_step_waits_for_a_scanner_started_after_it() {
    let s = Site::new("scan-boot");
    s.install("a", GREETER);
    s.install("b", GREETER);
    fs::write(s.rc("b/log"), "").unwrap();
    let mut act = Daemon::spawn(
        s.cmd(ACTIVATE)
            .args(["-t", "20s", "--all"])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_until(LIMIT, "a and b in the live dir", || {
        s.live_names() == ["a", "b"]
    });
    assert!(
        !act.exited(),
        "svactivate returned before any supervisor ran"
    );
    let _scan = s.scan();
    let st = act.wait_exit(LIMIT);
    assert!(st.success(), "{st:?}\n{}", s.tmp.listing());
    for dir in ["a", "a/log", "b"] {
        assert!(ok_has_reader(&s.sv(dir)), "{dir}");
    }
}
