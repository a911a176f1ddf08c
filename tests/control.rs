//! svc, svok, svstat and svwait, run for real: against a fake supervise dir the test
//! drives by hand (exact bytes, exact lines) and against a real supervisor, tend's in both
//! modes (`both_modes!`): tend-supervise on the service dir, and tend-scan -F.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;
mod ctl;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{alive, both_modes, read, texts, wait_until, write_exec, Mode, TempDir, LIMIT};
use ctl::*;
use tend_core::info::{Exit, Info, RunFile};
use tend_core::status::{RunState, Status, Want};

const SVC_USAGE: &str = "svc: usage: svc [ -udopchaitkxq12 ] servicedir...\n";

// ---- svc ----------------------------------------------------------------------------

#[test]
fn svc_writes_the_letters_in_the_order_given_to_every_dir() {
    let t = TempDir::new("svc-order");
    let (a, b) = (Fake::new(&t.join("a")), Fake::new(&t.join("b")));
    let o = tool(SVC, &[OsStr::new("-tc"), OsStr::new("-u")])
        .status
        .code();
    assert_eq!(o, Some(100), "no servicedir is a usage error");
    let o = tool(
        SVC,
        &[
            OsStr::new("-tc"),
            OsStr::new("-u"),
            a.dir.as_os_str(),
            OsStr::new("-d"),
            b.dir.as_os_str(),
            OsStr::new("-opchaikxq12"),
            OsStr::new("-uu"),
        ],
    );
    assert_eq!(outcome(&o), (0, String::new(), String::new()));
    assert_eq!(a.control_bytes(), b"tcudopchaikxq12uu");
    assert_eq!(b.control_bytes(), b"tcudopchaikxq12uu");
}

#[test]
fn svc_refuses_bad_usage_and_sends_nothing() {
    let t = TempDir::new("svc-usage");
    let f = Fake::new(&t.join("a"));
    let a = f.dir.to_str().unwrap();
    let usage = |why: &str| format!("svc: fatal: {why}\n{SVC_USAGE}");
    for (args, why) in [
        (vec!["-z", a], "invalid option '-z'"),
        (vec!["-uz", a], "invalid option '-z'"),
        (vec!["-r", a], "invalid option '-r'"),
        (vec!["--up", a], "invalid option '--up'"),
        (vec![a], "no command given"),
        (vec![], "no command given"),
        (vec!["-u"], "missing servicedir"),
        (vec!["-u", a, ""], "empty servicedir"),
    ] {
        let o = tool(SVC, &args);
        assert_eq!(
            outcome(&o),
            (100, String::new(), usage(why)),
            "svc {args:?}"
        );
    }
    let many = format!("-{}", "h".repeat(513));
    let o = tool(SVC, &[many.as_str(), a]);
    assert_eq!(outcome(&o).0, 100);
    assert_eq!(f.control_bytes(), b"");
    let max = format!("-{}", "h".repeat(512));
    assert_eq!(outcome(&tool(SVC, &[max.as_str(), a])).0, 0);
    assert_eq!(f.control_bytes(), "h".repeat(512).as_bytes());
}

#[test]
fn svc_warns_per_dir_and_exits_111() {
    let t = TempDir::new("svc-fail");
    let good = Fake::new(&t.join("good"));
    let mut gone = Fake::new(&t.join("gone"));
    gone.close();
    fs::create_dir(t.join("bare")).unwrap();
    fs::write(t.join("file"), "").unwrap();
    let p = |n: &str| t.join(n).to_str().unwrap().to_string();
    let o = tool(
        SVC,
        &[
            "-u",
            &p("missing"),
            &p("gone"),
            &p("good"),
            &p("bare"),
            &p("file"),
        ],
    );
    let want = format!(
        "svc: warning: unable to control {}: file does not exist\n\
         svc: warning: unable to control {}: supervisor not running\n\
         svc: warning: unable to control {}: no supervisor yet\n\
         svc: warning: unable to control {}: Not a directory\n",
        p("missing"),
        p("gone"),
        p("bare"),
        p("file")
    );
    assert_eq!(outcome(&o), (111, String::new(), want));
    assert_eq!(
        good.control_bytes(),
        b"u",
        "the good dir is controlled all the same"
    );
    // A name that is not UTF-8 is used as given and shown lossily.
    let odd = OsStr::from_bytes(b"./no\xffsuch");
    let o = tool(SVC, &[OsStr::new("-d"), odd]);
    assert_eq!(
        outcome(&o),
        (
            111,
            String::new(),
            "svc: warning: unable to control ./no\u{fffd}such: file does not exist\n".into()
        )
    );
}

// ---- svok ---------------------------------------------------------------------------

#[test]
fn svok_exit_codes() {
    let t = TempDir::new("svok");
    let good = Fake::new(&t.join("good"));
    let mut gone = Fake::new(&t.join("gone"));
    gone.close();
    fs::create_dir(t.join("bare")).unwrap();
    fs::write(t.join("file"), "").unwrap();
    let p = |n: &str| t.join(n).to_str().unwrap().to_string();
    let none = (100, String::new(), String::new());
    assert_eq!(
        outcome(&tool(SVOK, &[&p("good")])),
        (0, String::new(), String::new())
    );
    assert_eq!(outcome(&tool(SVOK, &[&p("gone")])), none);
    assert_eq!(outcome(&tool(SVOK, &[&p("bare")])), none);
    // A service dir that does not exist: still 100, but said (a typo is no stopped service).
    let missing = format!(
        "svok: fatal: unable to open {}: file does not exist\n",
        p("missing")
    );
    assert_eq!(
        outcome(&tool(SVOK, &[&p("missing")])),
        (100, String::new(), missing)
    );
    let fatal = format!(
        "svok: fatal: unable to open {}/supervise/ok: Not a directory\n",
        p("file")
    );
    assert_eq!(
        outcome(&tool(SVOK, &[&p("file")])),
        (111, String::new(), fatal)
    );
    let usage = |why: &str| format!("svok: fatal: {why}\nsvok: usage: svok servicedir\n");
    for (args, why) in [
        (vec![], "missing servicedir".to_string()),
        (vec![""], "empty servicedir".into()),
        (vec!["-u", "x"], "invalid option '-u'".into()),
        (vec!["x", "y"], "unexpected argument \"y\"".into()),
    ] {
        assert_eq!(
            outcome(&tool(SVOK, &args)),
            (100, String::new(), usage(&why)),
            "svok {args:?}"
        );
    }
    drop(good);
}

// ---- svstat -------------------------------------------------------------------------

/// svstat's stdout for one fake dir, seconds blurred.
fn svstat_line(f: &Fake) -> String {
    let o = tool(SVSTAT, &[&f.dir]);
    let (code, out, err) = outcome(&o);
    assert_eq!((code, err.as_str()), (0, ""), "svstat {:?}: {out}", f.dir);
    let name = f.dir.to_str().unwrap();
    let line = out.strip_prefix(&format!("{name}: ")).unwrap_or(&out);
    seconds_blurred(line.trim_end_matches('\n'))
}

#[test]
fn svstat_prints_daemontools_lines_for_every_state() {
    let t = TempDir::new("svstat-lines");
    let f = Fake::new(&t.join("web"));
    let up = record(RunState::Run, 123, Want::Up, 45);
    f.status(&up);
    assert_eq!(svstat_line(&f), "up (pid 123) N seconds");
    // The seconds count from the record's stamp (45 s ago, plus however slow we are).
    let exact = texts(&tool(SVSTAT, &[&f.dir])).0;
    let secs: u64 = exact.split(' ').nth(4).unwrap().parse().unwrap();
    assert!((45..45 + LIMIT.as_secs()).contains(&secs), "{exact}");
    fs::write(f.dir.join("down"), "").unwrap();
    assert_eq!(svstat_line(&f), "up (pid 123) N seconds, normally down");
    f.status(&Status {
        paused: true,
        want: Want::Down,
        got_term: true,
        ..up
    });
    assert_eq!(
        svstat_line(&f),
        "up (pid 123) N seconds, normally down, paused, want down, got TERM"
    );
    fs::remove_file(f.dir.join("down")).unwrap();
    f.status(&record(RunState::Down, 0, Want::Down, 2));
    assert_eq!(svstat_line(&f), "down N seconds, normally up");
    f.status(&record(RunState::Down, 0, Want::Up, 2));
    assert_eq!(svstat_line(&f), "down N seconds, normally up, want up");
    f.status(&record(RunState::Finish, 130, Want::Down, 3));
    assert_eq!(svstat_line(&f), "finish (pid 130) N seconds, normally up");
    // daemontools' 18-byte record.
    let mut dt = record(RunState::Run, 7401, Want::Up, 1).encode().to_vec();
    dt.truncate(18);
    f.replace("status", &dt);
    assert_eq!(svstat_line(&f), "up (pid 7401) N seconds");
}

#[test]
fn svstat_adds_what_tend_knows() {
    let t = TempDir::new("svstat-info");
    let f = Fake::new(&t.join("web"));
    let up = record(RunState::Run, 123, Want::Up, 45);
    f.status(&up);
    f.info(&Info {
        ready: Some(tai_in(-40)),
        notify: Some(3),
        starts: 1,
        ..Info::default()
    });
    assert_eq!(svstat_line(&f), "up (pid 123) N seconds, ready N seconds");
    f.status(&record(RunState::Run, 124, Want::Up, 2));
    assert_eq!(
        svstat_line(&f),
        "up (pid 124) N seconds",
        "ready of an older run"
    );
    f.status(&record(RunState::Down, 0, Want::Up, 1));
    f.info(&Info {
        exit: Some(Exit::Code(1)),
        backoff: Some((4000, tai_in(3))),
        starts: 5,
        ..Info::default()
    });
    assert_eq!(
        svstat_line(&f),
        "down N seconds, normally up, want up, exited 1, backoff N seconds, next start in N seconds"
    );
    f.info(&Info {
        exit: Some(Exit::Signal(15)),
        ..Info::default()
    });
    assert_eq!(
        svstat_line(&f),
        "down N seconds, normally up, want up, killed by SIGTERM"
    );
    f.info(&Info {
        run: RunFile::NotExecutable,
        ..Info::default()
    });
    assert_eq!(
        svstat_line(&f),
        "down N seconds, normally up, want up, run not executable"
    );
    f.info(&Info {
        run: RunFile::Missing,
        ..Info::default()
    });
    assert_eq!(
        svstat_line(&f),
        "down N seconds, normally up, want up, run missing"
    );
    // A garbled info file adds nothing and breaks nothing.
    f.replace("info", b"\xff\x00garbage\nready @zz\nexit signal x\n");
    assert_eq!(svstat_line(&f), "down N seconds, normally up, want up");
}

#[test]
fn svstat_reports_each_failure_and_goes_on() {
    let t = TempDir::new("svstat-fail");
    let good = Fake::new(&t.join("good"));
    good.status(&record(RunState::Run, 9, Want::Up, 1));
    let mut gone = Fake::new(&t.join("gone"));
    gone.status(&record(RunState::Run, 9, Want::Up, 1));
    gone.close();
    let bad = Fake::new(&t.join("bad"));
    bad.replace("status", &[0u8; 35]);
    let nostatus = Fake::new(&t.join("nostatus"));
    fs::create_dir(t.join("bare")).unwrap();
    let p = |n: &str| t.join(n).to_str().unwrap().to_string();
    let o = tool(
        SVSTAT,
        &[
            &p("missing"),
            &p("gone"),
            &p("good"),
            &p("bare"),
            &p("bad"),
            &p("nostatus"),
        ],
    );
    let (code, out, err) = outcome(&o);
    assert_eq!(
        seconds_blurred(&out),
        format!("{}: up (pid 9) N seconds\n", p("good"))
    );
    let want = format!(
        "svstat: warning: unable to read status of {}: file does not exist\n\
         svstat: warning: unable to read status of {}: supervisor not running\n\
         svstat: warning: unable to read status of {}: no supervisor yet\n\
         svstat: warning: unable to read {}/supervise/status: bad format (35 bytes)\n\
         svstat: warning: unable to open {}/supervise/status: file does not exist\n",
        p("missing"),
        p("gone"),
        p("bare"),
        p("bad"),
        p("nostatus"),
    );
    assert_eq!((code, err), (111, want));
    // Only unsupervised dirs: 1.
    let o = tool(SVSTAT, &[&p("good"), &p("gone"), &p("missing")]);
    assert_eq!(outcome(&o).0, 1);
    assert_eq!(outcome(&tool(SVSTAT, &[&p("good")])).0, 0);
    let usage = |why: &str| format!("svstat: fatal: {why}\nsvstat: usage: svstat servicedir...\n");
    for (args, why) in [
        (vec![], "missing servicedir"),
        (vec!["x", ""], "empty servicedir"),
        (vec!["-a", "x"], "invalid option '-a'"),
    ] {
        assert_eq!(
            outcome(&tool(SVSTAT, &args)),
            (100, String::new(), usage(why))
        );
    }
    drop((bad, nostatus));
}

#[test]
fn svstat_shows_non_utf8_names_lossily() {
    let t = TempDir::new("svstat-utf8");
    let dir = t.path().join(OsStr::from_bytes(b"caf\xe9"));
    let f = Fake::new(&dir);
    f.status(&record(RunState::Down, 0, Want::Down, 1));
    let (code, out, err) = outcome(&tool(SVSTAT, &[&dir]));
    let name = format!("{}/caf\u{fffd}", t.path().to_str().unwrap());
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(
        seconds_blurred(&out),
        format!("{name}: down N seconds, normally up\n")
    );
}

#[test]
fn bare_names_are_looked_up_in_svdir() {
    let t = TempDir::new("svdir");
    let f = Fake::new(&t.join("web"));
    f.status(&record(RunState::Run, 77, Want::Up, 1));
    let with_svdir = |prog: &str, args: &[&str]| {
        let mut c = Command::new(prog);
        c.args(args).env("SVDIR", t.path()).current_dir("/");
        outcome(&common::run(&mut c))
    };
    assert_eq!(with_svdir(SVC, &["-h", "web"]).0, 0);
    assert_eq!(f.control_bytes(), b"h");
    assert_eq!(with_svdir(SVOK, &["web"]).0, 0);
    let (code, out, _) = with_svdir(SVSTAT, &["web"]);
    assert_eq!(
        (code, seconds_blurred(&out)),
        (0, "web: up (pid 77) N seconds\n".into())
    );
    assert_eq!(with_svdir(SVWAIT, &["-u", "-t", "0", "web"]).0, 0);
    // A name with a slash, ".", and ".." are not looked up in $SVDIR.
    assert_eq!(with_svdir(SVOK, &["./web"]).0, 100);
    assert_eq!(with_svdir(SVOK, &["."]).0, 100);
    let mut c = Command::new(SVOK);
    c.arg("./web")
        .env("SVDIR", "/nonexistent")
        .current_dir(t.path());
    assert_eq!(outcome(&common::run(&mut c)).0, 0);
    let mut c = Command::new(SVOK);
    c.arg(".").env("SVDIR", "/nonexistent").current_dir(&f.dir);
    assert_eq!(outcome(&common::run(&mut c)).0, 0);
    // An empty SVDIR means /var/service.
    let mut c = Command::new(SVC);
    c.args(["-u", "tend-test-no-such-service"]).env("SVDIR", "");
    let (code, _, err) = outcome(&common::run(&mut c));
    assert_eq!(code, 111);
    assert!(
        err.starts_with("svc: warning: unable to control tend-test-no-such-service: "),
        "{err}"
    );
}

// ---- svwait -------------------------------------------------------------------------

/// svwait started in the background, with its output captured.
fn svwait_bg(args: &[&OsStr]) -> Child {
    Command::new(SVWAIT)
        .args(args)
        .env("SVDIR", "/nonexistent/tend-test-svdir")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until the process sleeps in poll(2) (it has set its watches and checked), and
/// checks it stays asleep: no polling loop.
fn wait_asleep(child: &mut Child) {
    let pid = child.id();
    wait_until(LIMIT, "svwait to sleep in poll", || {
        assert!(child.try_wait().unwrap().is_none(), "svwait exited early");
        read(std::path::Path::new(&format!("/proc/{pid}/wchan"))).contains("poll")
    });
}

/// Waits (bounded) for a background svwait to end; exit code, stdout, stderr.
fn finish(child: Child) -> (i32, String, String) {
    let mut child = child;
    let end = Instant::now() + LIMIT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > end {
            let _ = child.kill();
            panic!("svwait did not finish");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    outcome(&child.wait_with_output().unwrap())
}

const OK: (i32, String, String) = (0, String::new(), String::new());

#[test]
fn svwait_wakes_up_on_status_changes() {
    let t = TempDir::new("svwait-fake");
    let f = Fake::new(&t.join("web"));
    let d = f.dir.as_os_str();
    f.status(&record(RunState::Down, 0, Want::Down, 1));
    let mut w = svwait_bg(&[OsStr::new("-u"), OsStr::new("-t20s"), d]);
    wait_asleep(&mut w);
    f.status(&record(RunState::Finish, 5, Want::Up, 0));
    wait_asleep(&mut w);
    f.status(&record(RunState::Run, 6, Want::Up, 0));
    assert_eq!(finish(w), OK);

    let mut w = svwait_bg(&[OsStr::new("-d"), d]);
    wait_asleep(&mut w);
    f.status(&record(RunState::Finish, 5, Want::Down, 0));
    wait_asleep(&mut w);
    f.status(&record(RunState::Down, 0, Want::Down, 0));
    assert_eq!(finish(w), OK);

    // Ready: up is not enough, an older ready time is not enough.
    fs::write(f.dir.join("notification-fd"), "3\n").unwrap();
    f.info(&Info {
        ready: Some(tai_in(-100)),
        notify: Some(3),
        ..Info::default()
    });
    let mut w = svwait_bg(&[OsStr::new("-r"), OsStr::new("-t"), OsStr::new("20000"), d]);
    wait_asleep(&mut w);
    f.status(&record(RunState::Run, 7, Want::Up, 10));
    wait_asleep(&mut w);
    f.info(&Info {
        ready: Some(tai_in(0)),
        notify: Some(3),
        ..Info::default()
    });
    assert_eq!(finish(w), OK);
}

#[test]
fn svwait_times_out_with_exit_1() {
    let t = TempDir::new("svwait-timeout");
    let a = Fake::new(&t.join("a"));
    let b = Fake::new(&t.join("b"));
    a.status(&record(RunState::Run, 5, Want::Up, 1));
    b.status(&record(RunState::Down, 0, Want::Down, 1));
    let start = Instant::now();
    let o = tool(
        SVWAIT,
        &[
            OsStr::new("-u"),
            OsStr::new("-t300ms"),
            b.dir.as_os_str(),
            a.dir.as_os_str(),
        ],
    );
    let took = start.elapsed();
    let want = format!(
        "svwait: fatal: timed out waiting for {} to be up\n",
        b.dir.display()
    );
    assert_eq!(outcome(&o), (1, String::new(), want));
    assert!(took >= Duration::from_millis(300), "{took:?}");
    // -t 0 looks once.
    assert_eq!(
        outcome(&tool(
            SVWAIT,
            &[OsStr::new("-u"), OsStr::new("-t0"), a.dir.as_os_str()]
        )),
        OK
    );
    let o = tool(
        SVWAIT,
        &[
            OsStr::new("-d"),
            OsStr::new("-t0"),
            a.dir.as_os_str(),
            b.dir.as_os_str(),
            t.join("c").as_os_str(),
        ],
    );
    let want = format!(
        "svwait: fatal: timed out waiting for {}, {} to be down\n",
        a.dir.display(),
        t.join("c").display()
    );
    assert_eq!(outcome(&o), (1, String::new(), want));
}

#[test]
fn svwait_waits_for_the_service_dir_and_its_supervisor_to_appear() {
    let t = TempDir::new("svwait-appear");
    let dir = t.join("later");
    let mut w = svwait_bg(&[OsStr::new("-u"), OsStr::new("-t20s"), dir.as_os_str()]);
    wait_asleep(&mut w);
    fs::create_dir(&dir).unwrap();
    wait_asleep(&mut w);
    // The status says up, but nobody supervises it: not up yet.
    fs::create_dir(dir.join("supervise")).unwrap();
    mkfifo(&dir.join("supervise/ok"));
    mkfifo(&dir.join("supervise/control"));
    let tmp = dir.join("supervise/status.new");
    fs::write(&tmp, record(RunState::Run, 5, Want::Up, 0).encode()).unwrap();
    fs::rename(&tmp, dir.join("supervise/status")).unwrap();
    wait_asleep(&mut w);
    // A supervisor opens ok.
    let f = Fake::new(&dir);
    assert_eq!(finish(w), OK);
    drop(f);
}

#[test]
fn svwait_follows_a_dangling_supervise_symlink() {
    let t = TempDir::new("svwait-link");
    let dir = t.join("web");
    fs::create_dir(&dir).unwrap();
    std::os::unix::fs::symlink(t.join("run/supervise.web"), dir.join("supervise")).unwrap();
    let mut w = svwait_bg(&[OsStr::new("-d"), OsStr::new("-t20s"), dir.as_os_str()]);
    wait_asleep(&mut w);
    fs::create_dir(t.join("run")).unwrap();
    wait_asleep(&mut w);
    fs::create_dir(t.join("run/supervise.web")).unwrap();
    wait_asleep(&mut w);
    let f = Fake::new(&dir);
    wait_asleep(&mut w);
    f.status(&record(RunState::Down, 0, Want::Down, 0));
    assert_eq!(finish(w), OK);
}

#[test]
fn svwait_fails_when_the_supervisor_exits() {
    let t = TempDir::new("svwait-exit");
    let mut f = Fake::new(&t.join("web"));
    f.status(&record(RunState::Down, 0, Want::Down, 1));
    let mut w = svwait_bg(&[OsStr::new("-u"), f.dir.as_os_str()]);
    wait_asleep(&mut w);
    f.close();
    let want = format!(
        "svwait: fatal: unable to wait for {} to be up: supervisor exited\n",
        f.dir.display()
    );
    assert_eq!(finish(w), (111, String::new(), want));
    // Down is reached all the same when the supervisor leaves a down status behind (-dx).
    f.open();
    f.status(&record(RunState::Run, 8, Want::Up, 1));
    let mut w = svwait_bg(&[OsStr::new("-d"), f.dir.as_os_str()]);
    wait_asleep(&mut w);
    f.status(&record(RunState::Down, 0, Want::Down, 0));
    f.close();
    assert_eq!(finish(w), OK);
    // And once the supervisor is gone, a down status needs no supervisor.
    assert_eq!(
        outcome(&tool(
            SVWAIT,
            &[OsStr::new("-d"), OsStr::new("-t0"), f.dir.as_os_str()]
        )),
        OK
    );
}

#[test]
fn svwait_ready_falls_back_to_up_with_a_warning() {
    let t = TempDir::new("svwait-ready");
    let f = Fake::new(&t.join("web"));
    f.status(&record(RunState::Run, 5, Want::Up, 1));
    let d = f.dir.display();
    let o = tool(
        SVWAIT,
        &[OsStr::new("-r"), OsStr::new("-t0"), f.dir.as_os_str()],
    );
    let want = format!(
        "svwait: warning: {d} has no notification-fd or check: waiting for it to be up instead\n"
    );
    assert_eq!(outcome(&o), (0, String::new(), want));
    fs::write(f.dir.join("notification-fd"), "3\n").unwrap();
    let o = tool(
        SVWAIT,
        &[OsStr::new("-r"), OsStr::new("-t0"), f.dir.as_os_str()],
    );
    let want = format!(
        "svwait: warning: the supervisor of {d} does not report readiness: waiting for it to be up instead\n"
    );
    assert_eq!(outcome(&o), (0, String::new(), want));
    f.info(&Info {
        notify: Some(3),
        ..Info::default()
    });
    let o = tool(
        SVWAIT,
        &[OsStr::new("-r"), OsStr::new("-t0"), f.dir.as_os_str()],
    );
    assert_eq!(
        outcome(&o).0,
        1,
        "not ready, and no fallback with tend's info"
    );
}

#[test]
fn svwait_usage_and_errors() {
    let usage = |why: &str| {
        format!(
            "svwait: fatal: {why}\nsvwait: usage: svwait -u|-d|-r [ -t timeout ] servicedir...\n"
        )
    };
    for (args, why) in [
        (vec!["x"], "one of -u, -d, -r is required"),
        (vec!["-u", "-r", "x"], "only one of -u, -d, -r"),
        (vec!["-u"], "missing servicedir"),
        (vec!["-u", ""], "empty servicedir"),
        (vec!["-k", "x"], "invalid option '-k'"),
        (vec!["-u", "x", "-t"], "missing argument for option '-t'"),
    ] {
        assert_eq!(
            outcome(&tool(SVWAIT, &args)),
            (100, String::new(), usage(why)),
            "{args:?}"
        );
    }
    let (code, _, err) = outcome(&tool(SVWAIT, &["-u", "-t", "soon", "x"]));
    assert_eq!(code, 100);
    assert!(
        err.starts_with("svwait: fatal: bad timeout \"soon\": "),
        "{err}"
    );
    let o = tool(SVWAIT, &["-u", "/nonexistent/tend-test/web"]);
    let want = "svwait: fatal: unable to watch /nonexistent/tend-test: file does not exist\n";
    assert_eq!(outcome(&o), (111, String::new(), want.into()));
    let t = TempDir::new("svwait-err");
    let f = Fake::new(&t.join("web"));
    f.replace("status", b"short");
    let o = tool(SVWAIT, &[OsStr::new("-u"), f.dir.as_os_str()]);
    let want = format!(
        "svwait: fatal: unable to read {}/supervise/status: bad format (5 bytes)\n",
        f.dir.display()
    );
    assert_eq!(outcome(&o), (111, String::new(), want));
    fs::write(t.join("file"), "").unwrap();
    let o = tool(SVWAIT, &[OsStr::new("-u"), t.join("file").as_os_str()]);
    let want = format!(
        "svwait: fatal: unable to watch {}/supervise: Not a directory\n",
        t.join("file").display()
    );
    assert_eq!(outcome(&o), (111, String::new(), want));
}

// ---- against a real supervisor --------------------------------------------------------

/// Runs tend's svc with one letter on the service; it must succeed silently.
fn svc(s: &Supervised, letters: &str) {
    let o = tool(
        SVC,
        &[OsStr::new(&format!("-{letters}")), s.arg().as_os_str()],
    );
    assert_eq!(outcome(&o), OK, "svc -{letters}");
}

/// svstat's line for a real service, seconds blurred, without the name.
fn real_line(s: &Supervised) -> String {
    let o = tool(SVSTAT, &[s.arg()]);
    let (code, out, err) = outcome(&o);
    assert_eq!((code, err.as_str()), (0, ""), "{out}");
    let name = s.arg().to_str().unwrap();
    seconds_blurred(out.trim_end().strip_prefix(&format!("{name}: ")).unwrap())
}

both_modes! {
    fn every_letter_reaches_the_supervisor(mode) {
        if !Kind::Tend(mode).available("every_letter_reaches_the_supervisor") {
            return;
        }
        let mut s = Supervised::start(Kind::Tend(mode), "letters", false);
        let pid1 = s.wait_started(1);
        for (letter, event) in SIGNAL_LETTERS {
            svc(&s, letter);
            s.wait_event(event, 1);
        }
        svc(&s, "p");
        wait_until(LIMIT, "the service to stop (T)", || proc_state(pid1) == 'T');
        wait_until(LIMIT, "the paused flag", || s.status().paused);
        assert_eq!(real_line(&s), format!("up (pid {pid1}) N seconds, paused"));
        svc(&s, "c");
        wait_until(LIMIT, "the service to continue", || proc_state(pid1) != 'T');
        wait_until(LIMIT, "the paused flag to clear", || !s.status().paused);
        svc(&s, "t");
        s.wait_event("TERM", 1);
        let pid2 = s.wait_started(2);
        assert_ne!(pid1, pid2);
        svc(&s, "k");
        wait_until(LIMIT, "the killed run to die", || !alive(pid2));
        let pid3 = s.wait_started(3);
        svc(&s, "d");
        s.wait_event("TERM", 2);
        s.wait_down();
        assert_eq!(s.status().want, Want::Down);
        assert!(!alive(pid3));
        assert_eq!(real_line(&s), "down N seconds, normally up, exited 0");
        svc(&s, "u");
        s.wait_started(4);
        svc(&s, "d");
        s.wait_down();
        // Once: started, and not restarted after it ends.
        svc(&s, "o");
        s.wait_started(5);
        assert_ne!(s.status().want, Want::Up);
        svc(&s, "t");
        s.wait_event("TERM", 4);
        s.wait_down();
        assert_eq!(s.starts().len(), 5);
        // x: the supervisor ends; in flat mode tend-scan starts a fresh one, which starts
        // the service (no down file).
        let was = s.ending();
        svc(&s, "x");
        s.wait_ended_by_x(was);
        if mode == Mode::Flat {
            let pid6 = s.wait_started(6);
            assert_eq!(real_line(&s), format!("up (pid {pid6}) N seconds"));
        }
        assert_eq!(s.starts().len(), 5 + usize::from(mode == Mode::Flat));
        s.stop();
    }
}

both_modes! {
    fn svc_applies_letters_in_order(mode) {
        if !Kind::Tend(mode).available("svc_applies_letters_in_order") {
            return;
        }
        let s = Supervised::start(Kind::Tend(mode), "order", false);
        let pid = s.wait_started(1);
        svc(&s, "cp");
        wait_until(LIMIT, "-cp to leave it stopped", || {
            proc_state(pid) == 'T' && s.status().paused
        });
        svc(&s, "pc");
        wait_until(LIMIT, "-pc to leave it running", || {
            proc_state(pid) != 'T' && !s.status().paused
        });
    }
}

both_modes! {
    fn svstat_and_svwait_on_a_real_supervisor(mode) {
        if !Kind::Tend(mode).available("svstat_and_svwait_on_a_real_supervisor") {
            return;
        }
        let s = Supervised::start(Kind::Tend(mode), "real-svwait", true);
        let d = s.arg().as_os_str();
        assert_eq!(real_line(&s), "down N seconds");
        let t20 = OsStr::new("-t20s");
        let mut w = svwait_bg(&[OsStr::new("-u"), t20, d]);
        wait_asleep(&mut w);
        svc(&s, "u");
        assert_eq!(finish(w), OK);
        let pid = s.wait_started(1);
        assert_eq!(
            real_line(&s),
            format!("up (pid {pid}) N seconds, normally down")
        );
        let o = tool(SVWAIT, &[OsStr::new("-r"), t20, d]);
        let want = format!(
            "svwait: warning: {} has no notification-fd or check: waiting for it to be up instead\n",
            s.arg().display()
        );
        assert_eq!(outcome(&o), (0, String::new(), want));
        let mut w = svwait_bg(&[OsStr::new("-d"), t20, d]);
        wait_asleep(&mut w);
        svc(&s, "d");
        assert_eq!(finish(w), OK);
        assert_eq!(s.status().state, RunState::Down);
        assert_eq!(outcome(&tool(SVOK, &[d])), OK);
    }
}

/// A run script with notification-fd 3: it reports ready once `go-ready` exists.
const READY_RUN: &str = r#"#!/bin/sh
sup=$PPID
echo "start $$" >> events
while [ ! -e go-ready ] && kill -0 "$sup" 2>/dev/null; do sleep 0.05; done
echo ready >&3
while kill -0 "$sup" 2>/dev/null; do sleep 0.1; done
"#;

both_modes! {
    fn readiness_from_tend_supervise_reaches_svwait_and_svstat(mode) {
        let s = Supervised::start_with(
            Kind::Tend(mode),
            "ready",
            READY_RUN,
            &[("notification-fd", "3\n")],
        );
        let dir = s.dir.clone();
        let d = dir.as_os_str();
        let pid = s.wait_started(1);
        assert_eq!(real_line(&s), format!("up (pid {pid}) N seconds"));
        let o = tool(SVWAIT, &[OsStr::new("-r"), OsStr::new("-t0"), d]);
        let want = format!(
            "svwait: fatal: timed out waiting for {} to be ready\n",
            dir.display()
        );
        assert_eq!(outcome(&o), (1, String::new(), want));
        let mut w = svwait_bg(&[OsStr::new("-r"), OsStr::new("-t20s"), d]);
        wait_asleep(&mut w);
        fs::write(dir.join("go-ready"), "").unwrap();
        assert_eq!(finish(w), OK);
        assert_eq!(
            real_line(&s),
            format!("up (pid {pid}) N seconds, ready N seconds")
        );
        // A new run is not ready until it says so again.
        fs::remove_file(dir.join("go-ready")).unwrap();
        svc(&s, "k");
        let pid2 = s.wait_started(2);
        assert_eq!(real_line(&s), format!("up (pid {pid2}) N seconds"));
        let o = tool(SVWAIT, &[OsStr::new("-r"), OsStr::new("-t0"), d]);
        assert_eq!(outcome(&o).0, 1);
    }
}

both_modes! {
    fn svstat_shows_tend_supervise_backing_off(mode) {
        let run = "#!/bin/sh\necho \"start $$\" >> events\nexit 3\n";
        let s = Supervised::start_with(Kind::Tend(mode), "backoff", run, &[]);
        let want = "down N seconds, normally up, want up, exited 3, backoff N seconds, next start in N seconds";
        let mut line = String::new();
        wait_until(LIMIT, "svstat to show the backoff", || {
            line = seconds_blurred(texts(&tool(SVSTAT, &[s.arg()])).0.trim_end());
            line.ends_with(want)
        });
        assert_eq!(line, format!("{}: {want}", s.arg().display()));
        svc(&s, "d");
        // Should the next start have begun just before, the down signal ends that run.
        wait_until(LIMIT, "svc -d to end the backoff", || {
            let line = real_line(&s);
            line == "down N seconds, normally up, exited 3"
                || line == "down N seconds, normally up, killed by SIGTERM"
        });
    }
}

both_modes! {
    fn svstat_shows_a_run_tend_supervise_cannot_execute(mode) {
        // tend-scan takes a service dir up only once its ./run is executable: in flat mode
        // ./run is made a plain file once it runs, and the run killed.
        let files: &[(&str, &str)] = match mode {
            Mode::Pair => &[("run", RUN)],
            Mode::Flat => &[],
        };
        let mut s = Supervised::start_with(Kind::Tend(mode), "noexec", RUN, files);
        let runs = s.starts().len();
        if mode == Mode::Flat {
            let pid = s.wait_started(1);
            fs::set_permissions(
                s.dir.join("run"),
                std::os::unix::fs::PermissionsExt::from_mode(0o644),
            )
            .unwrap();
            svc(&s, "k");
            wait_until(LIMIT, "the killed run to die", || !alive(pid));
        }
        let want = match mode {
            Mode::Pair => "down N seconds, normally up, want up, run not executable",
            Mode::Flat => {
                "down N seconds, normally up, want up, run not executable, killed by SIGKILL"
            }
        };
        wait_until(LIMIT, "svstat to show the run file", || real_line(&s) == want);
        let o = tool(
            SVWAIT,
            &[OsStr::new("-u"), OsStr::new("-t100ms"), s.arg().as_os_str()],
        );
        assert_eq!(outcome(&o).0, 1);
        write_exec(&s.dir.join("run"), RUN);
        svc(&s, "u");
        let o = tool(
            SVWAIT,
            &[OsStr::new("-u"), OsStr::new("-t20s"), s.arg().as_os_str()],
        );
        assert_eq!(outcome(&o), OK);
        let pid = s.wait_started(runs + 1);
        assert_eq!(real_line(&s), format!("up (pid {pid}) N seconds"));
        s.stop();
    }
}

// ---- man pages ------------------------------------------------------------------------

/// The exit codes a man page's EXIT STATUS section lists as `.B N` items.
fn listed_codes(page: &str) -> Vec<u8> {
    let section = page.split(".SH EXIT STATUS").nth(1).unwrap_or("");
    let section = section.split("\n.SH ").next().unwrap_or("");
    section
        .lines()
        .filter_map(|l| l.strip_prefix(".B "))
        .filter_map(|n| n.trim().parse().ok())
        .collect()
}

#[test]
fn man_pages_render_cleanly_and_list_every_exit_code() {
    let man = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../man");
    for (prog, codes) in [
        ("svc", vec![0, 100, 111]),
        ("svok", vec![0, 100, 111]),
        ("svstat", vec![0, 1, 100, 111]),
        ("svwait", vec![0, 1, 100, 111]),
    ] {
        let path = man.join(format!("{prog}.8"));
        let page = fs::read_to_string(&path).unwrap();
        assert_eq!(listed_codes(&page), codes, "{prog}.8 EXIT STATUS");
        for sec in [
            "NAME",
            "SYNOPSIS",
            "DESCRIPTION",
            "OPTIONS",
            "FILES",
            "EXIT STATUS",
            "SEE ALSO",
        ] {
            assert!(
                page.contains(&format!("\n.SH {sec}\n")),
                "{prog}.8 lacks {sec}"
            );
        }
        if !anchor(
            "/usr/bin/groff",
            "man_pages_render_cleanly_and_list_every_exit_code",
        ) {
            continue;
        }
        let o = common::run(Command::new("groff").args(["-man", "-ww", "-z"]).arg(&path));
        assert_eq!(outcome(&o), OK, "groff -man -ww -z {prog}.8");
    }
}

// ---- as an ordinary user ------------------------------------------------------------

/// The uid (nobody) the unprivileged tests run the tools as.
const NOBODY: u32 = 65534;
/// The control group of the service in [`control_is_refused_to_others_and_granted_to_the_control_group`].
const CONTROL_GID: u32 = 4242;

/// Whether the tests that switch users can run: they need root and setpriv(1); when they
/// cannot, prints why the test is skipped, unless TEND_REQUIRE_ROOT_TESTS is set, which
/// fails the test.
fn can_switch_users(test: &str) -> bool {
    let root = rustix::process::geteuid().is_root();
    if root && std::path::Path::new("/usr/bin/setpriv").exists() {
        return true;
    }
    assert!(
        std::env::var_os("TEND_REQUIRE_ROOT_TESTS").is_none(),
        "{test}: needs root and setpriv"
    );
    eprintln!("{test}: skipped: needs root and setpriv");
    false
}

/// `prog args` run as uid nobody and group `gid` (and no other group), with `SVDIR`
/// pointing nowhere.
fn command_as(gid: u32, prog: &str, args: &[&OsStr]) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.arg(format!("--reuid={NOBODY}"))
        .arg(format!("--regid={gid}"))
        .arg("--clear-groups")
        .arg(prog)
        .args(args)
        .env("SVDIR", "/nonexistent/tend-test-svdir");
    cmd
}

/// Exit code, stdout and stderr of `prog args` run as nobody in group `gid`, seconds
/// blurred.
fn outcome_as(gid: u32, prog: &str, args: &[&OsStr]) -> (i32, String, String) {
    let (code, out, err) = outcome(&common::run(&mut command_as(gid, prog, args)));
    (code, seconds_blurred(&out), err)
}

/// Exit code, stdout and stderr of `prog args` run as nobody, seconds blurred, after
/// checking that root gets exactly the same.
fn as_nobody_and_root(prog: &str, args: &[&OsStr]) -> (i32, String, String) {
    let nobody = outcome_as(NOBODY, prog, args);
    let (code, out, err) = outcome(&tool(prog, args));
    assert_eq!(
        nobody,
        (code, seconds_blurred(&out), err),
        "{prog} {args:?}: as nobody, then as root"
    );
    nobody
}

/// svwait started in the background as nobody, with its output captured.
fn svwait_bg_as_nobody(args: &[&OsStr]) -> Child {
    command_as(NOBODY, SVWAIT, args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// What the tools say about `s` as nobody: svok's and svstat's outcomes, then svwait's
/// with -t0 for up, down and ready, each asserted the same as root's.
fn tools_as_nobody(s: &Supervised) -> [(i32, String, String); 5] {
    let d = s.arg().as_os_str();
    let t0 = OsStr::new("-t0");
    [
        as_nobody_and_root(SVOK, &[d]),
        as_nobody_and_root(SVSTAT, &[d]),
        as_nobody_and_root(SVWAIT, &[OsStr::new("-u"), t0, d]),
        as_nobody_and_root(SVWAIT, &[OsStr::new("-d"), t0, d]),
        as_nobody_and_root(SVWAIT, &[OsStr::new("-r"), t0, d]),
    ]
}

both_modes! {
    fn status_tools_answer_every_user_on_a_running_and_a_stopped_service(mode) {
        let test = "status_tools_answer_every_user_on_a_running_and_a_stopped_service";
        if !can_switch_users(test) {
            return;
        }
        let s = Supervised::start(Kind::Tend(mode), "nobody-updown", false);
        let (d, name) = (s.arg().as_os_str(), s.arg().display().to_string());
        let pid = s.wait_started(1);
        let t20 = OsStr::new("-t20s");
        let timed_out =
            |goal: &str| format!("svwait: fatal: timed out waiting for {name} to be {goal}\n");
        let no_notify = format!(
            "svwait: warning: {name} has no notification-fd or check: waiting for it to be up instead\n"
        );
        assert_eq!(
            tools_as_nobody(&s),
            [
                OK,
                (
                    0,
                    format!("{name}: up (pid {pid}) N seconds\n"),
                    String::new()
                ),
                OK,
                (1, String::new(), timed_out("down")),
                (0, String::new(), no_notify.clone()),
            ]
        );
        // svwait as nobody sleeps until the service goes down, without polling.
        let mut w = svwait_bg_as_nobody(&[OsStr::new("-d"), t20, d]);
        wait_asleep(&mut w);
        svc(&s, "d");
        assert_eq!(finish(w), OK);
        assert_eq!(
            tools_as_nobody(&s),
            [
                OK,
                (
                    0,
                    format!("{name}: down N seconds, normally up, exited 0\n"),
                    String::new()
                ),
                (1, String::new(), timed_out("up")),
                OK,
                (1, String::new(), timed_out("ready")),
            ]
        );
        // And until it is up again.
        let mut w = svwait_bg_as_nobody(&[OsStr::new("-u"), t20, d]);
        wait_asleep(&mut w);
        svc(&s, "u");
        assert_eq!(finish(w), OK);
        s.wait_started(2);
    }
}

both_modes! {
    fn svwait_as_any_user_wakes_up_when_the_service_is_ready(mode) {
        if !can_switch_users("svwait_as_any_user_wakes_up_when_the_service_is_ready") {
            return;
        }
        let s = Supervised::start_with(
            Kind::Tend(mode),
            "nobody-ready",
            READY_RUN,
            &[("notification-fd", "3\n")],
        );
        let (d, name) = (s.arg().as_os_str(), s.arg().display().to_string());
        let pid = s.wait_started(1);
        let up = format!("{name}: up (pid {pid}) N seconds\n");
        let not_ready = format!("svwait: fatal: timed out waiting for {name} to be ready\n");
        assert_eq!(
            tools_as_nobody(&s),
            [
                OK,
                (0, up, String::new()),
                OK,
                (
                    1,
                    String::new(),
                    format!("svwait: fatal: timed out waiting for {name} to be down\n")
                ),
                (1, String::new(), not_ready),
            ]
        );
        let mut w = svwait_bg_as_nobody(&[OsStr::new("-r"), OsStr::new("-t20s"), d]);
        wait_asleep(&mut w);
        fs::write(s.dir.join("go-ready"), "").unwrap();
        assert_eq!(finish(w), OK);
        assert_eq!(
            as_nobody_and_root(SVSTAT, &[d]),
            (
                0,
                format!("{name}: up (pid {pid}) N seconds, ready N seconds\n"),
                String::new()
            )
        );
        assert_eq!(
            as_nobody_and_root(SVWAIT, &[OsStr::new("-r"), OsStr::new("-t0"), d]),
            OK
        );
    }
}

both_modes! {
    fn status_tools_as_any_user_see_a_killed_supervisor_and_its_successor(mode) {
        let test = "status_tools_as_any_user_see_a_killed_supervisor_and_its_successor";
        if !can_switch_users(test) {
            return;
        }
        let mut s = Supervised::start(Kind::Tend(mode), "nobody-killed", false);
        let (d, name) = (
            s.arg().as_os_str().to_owned(),
            s.arg().display().to_string(),
        );
        let d = d.as_os_str();
        s.wait_started(1);
        // svwait as nobody learns of the supervisor's death without polling. In flat mode
        // the supervisor process is tend-scan itself, and its successor a new tend-scan.
        let mut w = svwait_bg_as_nobody(&[OsStr::new("-d"), OsStr::new("-t20s"), d]);
        wait_asleep(&mut w);
        let mut sup = s.daemon.take().unwrap();
        sup.signal(9);
        sup.wait_exit(LIMIT);
        let want = format!("svwait: fatal: unable to wait for {name} to be down: supervisor exited\n");
        assert_eq!(finish(w), (111, String::new(), want));
        let timed_out =
            |goal: &str| format!("svwait: fatal: timed out waiting for {name} to be {goal}\n");
        let not_running =
            format!("svstat: warning: unable to read status of {name}: supervisor not running\n");
        assert_eq!(
            tools_as_nobody(&s),
            [
                (100, String::new(), String::new()),
                (1, String::new(), not_running),
                (1, String::new(), timed_out("up")),
                (1, String::new(), timed_out("down")),
                (1, String::new(), timed_out("ready")),
            ]
        );
        // A new supervisor makes a new alive fifo, which nobody can tell from the old one's.
        let mut w = svwait_bg_as_nobody(&[OsStr::new("-u"), OsStr::new("-t20s"), d]);
        wait_asleep(&mut w);
        s.launch();
        assert_eq!(finish(w), OK);
        let pid = s.wait_started(2);
        assert_eq!(
            as_nobody_and_root(SVSTAT, &[d]),
            (
                0,
                format!("{name}: up (pid {pid}) N seconds\n"),
                String::new()
            )
        );
        assert_eq!(as_nobody_and_root(SVOK, &[d]), OK);
    }
}

both_modes! {
    fn control_is_refused_to_others_and_granted_to_the_control_group(mode) {
        let test = "control_is_refused_to_others_and_granted_to_the_control_group";
        if !can_switch_users(test) {
            return;
        }
        let s = Supervised::start_with(
            Kind::Tend(mode),
            "nobody-svc",
            RUN,
            &[("control-group", &format!("{CONTROL_GID}\n"))],
        );
        let (d, name) = (s.arg().as_os_str(), s.arg().display().to_string());
        let pid = s.wait_started(1);
        let refused = format!("svc: warning: unable to control {name}: access denied\n");
        assert_eq!(
            outcome_as(NOBODY, SVC, &[OsStr::new("-d"), d]),
            (111, String::new(), refused)
        );
        assert_eq!(s.status().state, RunState::Run);
        assert_eq!(s.status().pid, pid as u32);
        // The control group asks through ok, which it may open, and gets the same answers.
        assert_eq!(outcome_as(CONTROL_GID, SVOK, &[d]), OK);
        assert_eq!(outcome_as(CONTROL_GID, SVC, &[OsStr::new("-d"), d]), OK);
        s.wait_down();
        assert_eq!(
            outcome_as(CONTROL_GID, SVSTAT, &[d]),
            (
                0,
                format!("{name}: down N seconds, normally up, exited 0\n"),
                String::new()
            )
        );
        assert_eq!(
            outcome_as(
                CONTROL_GID,
                SVWAIT,
                &[OsStr::new("-d"), OsStr::new("-t0"), d]
            ),
            OK
        );
        assert_eq!(
            outcome_as(NOBODY, SVC, &[OsStr::new("-u"), d]).0,
            111,
            "other groups are still refused"
        );
    }
}

both_modes! {
    fn a_supervise_dir_nobody_may_read_gets_one_line(mode) {
        if !can_switch_users("a_supervise_dir_nobody_may_read_gets_one_line") {
            return;
        }
        // As daemontools and runit make it: mode 0700, and then no alive fifo to read either.
        let s = Supervised::start(Kind::Tend(mode), "nobody-0700", false);
        let (d, name) = (s.arg().as_os_str(), s.arg().display().to_string());
        s.wait_started(1);
        let sdir = s.dir.join("supervise");
        fs::set_permissions(&sdir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        let denied = |prog: &str, level: &str| {
            format!("{prog}: {level}: unable to open {name}/supervise/ok: access denied\n")
        };
        assert_eq!(
            outcome_as(NOBODY, SVOK, &[d]),
            (111, String::new(), denied("svok", "fatal"))
        );
        assert_eq!(
            outcome_as(NOBODY, SVSTAT, &[d]),
            (111, String::new(), denied("svstat", "warning"))
        );
        assert_eq!(
            outcome_as(NOBODY, SVWAIT, &[OsStr::new("-u"), OsStr::new("-t0"), d]),
            (
                111,
                String::new(),
                format!("svwait: fatal: unable to watch {name}/supervise: access denied\n")
            )
        );
        fs::set_permissions(&sdir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
}
