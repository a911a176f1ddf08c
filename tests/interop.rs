//! tend's control tools against the anchors' supervisors (daemontools' supervise, runit's
//! runsv), and the anchors' control tools against tend's supervisor in both modes
//! (`both_modes!`): tend-supervise on the service dir, and tend-scan -F.
//!
//! An anchor that is not installed skips its test with a message, unless
//! TEND_REQUIRE_INTEROP=1 (CI), which makes it a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;
mod ctl;

use std::ffi::OsStr;
use std::fs;
use std::path::Path;
use std::process::Command;

use common::{alive, both_modes, read, run, texts, wait_until, write_exec, Mode, LIMIT};
use ctl::*;
use tend_core::status::{RunState, Want};

/// tend's svc with `letters` on the service; it must succeed silently.
fn svc(s: &Supervised, letters: &str) {
    let o = tool(
        SVC,
        &[OsStr::new(&format!("-{letters}")), s.arg().as_os_str()],
    );
    assert_eq!(
        outcome(&o),
        (0, String::new(), String::new()),
        "svc -{letters}"
    );
}

/// tend's svstat line for the service, seconds blurred, without the name.
fn tend_line(s: &Supervised) -> String {
    let (code, out, err) = outcome(&tool(SVSTAT, &[s.arg()]));
    assert_eq!((code, err.as_str()), (0, ""), "{out}");
    let name = s.arg().to_str().unwrap();
    seconds_blurred(out.trim_end().strip_prefix(&format!("{name}: ")).unwrap())
}

/// An anchor tool's output (stdout and stderr, as daemontools prints errors on stdout),
/// run with `args` and SVDIR pointing nowhere.
fn anchor_run(prog: &str, args: &[&OsStr]) -> (i32, String) {
    let mut c = Command::new(prog);
    c.args(args).env("SVDIR", "/nonexistent/tend-test-svdir");
    let o = run(&mut c);
    let (out, err) = texts(&o);
    (o.status.code().unwrap_or(-1), out + &err)
}

/// Daemontools' svstat line for the service, seconds blurred, without the name.
fn daemontools_line(s: &Supervised) -> String {
    let (_, out) = anchor_run("/usr/bin/svstat", &[s.arg().as_os_str()]);
    let name = s.arg().to_str().unwrap();
    seconds_blurred(out.trim_end().strip_prefix(&format!("{name}: ")).unwrap())
}

/// A finish script that logs `finish PID` and runs until `release` exists (or its
/// supervisor is gone).
const FINISH: &str = r#"#!/bin/sh
echo "finish $$" >> events
while [ ! -e release ] && kill -0 $PPID 2>/dev/null; do sleep 0.05; done
"#;

#[test]
fn tend_tools_drive_daemontools_supervise() {
    let test = "tend_tools_drive_daemontools_supervise";
    if !Kind::Daemontools.available(test) || !anchor("/usr/bin/svstat", test) {
        return;
    }
    let mut s = Supervised::start(Kind::Daemontools, "dt-drive", false);
    let dir = s.dir.clone();
    let d = dir.as_os_str();
    assert_eq!(outcome(&tool(SVOK, &[d])).0, 0);
    let pid1 = s.wait_started(1);
    assert_eq!(tend_line(&s), format!("up (pid {pid1}) N seconds"));
    assert_eq!(tend_line(&s), daemontools_line(&s));
    for (letter, event) in [("h", "HUP"), ("a", "ALRM"), ("i", "INT"), ("c", "CONT")] {
        svc(&s, letter);
        s.wait_event(event, 1);
    }
    svc(&s, "p");
    wait_until(LIMIT, "the paused flag", || s.status().paused);
    assert_eq!(tend_line(&s), format!("up (pid {pid1}) N seconds, paused"));
    assert_eq!(tend_line(&s), daemontools_line(&s));
    svc(&s, "c");
    wait_until(LIMIT, "the paused flag to clear", || !s.status().paused);
    svc(&s, "t");
    s.wait_event("TERM", 1);
    let pid2 = s.wait_started(2);
    svc(&s, "k");
    wait_until(LIMIT, "the killed run to die", || !alive(pid2));
    s.wait_started(3);
    // Down, then a want-up that daemontools shows the same way.
    svc(&s, "d");
    s.wait_event("TERM", 2);
    s.wait_down();
    assert_eq!(tend_line(&s), "down N seconds, normally up");
    assert_eq!(tend_line(&s), daemontools_line(&s));
    fs::write(s.dir.join("down"), "").unwrap();
    assert_eq!(tend_line(&s), "down N seconds");
    assert_eq!(tend_line(&s), daemontools_line(&s));
    svc(&s, "o");
    let pid4 = s.wait_started(4);
    assert_eq!(s.status().want, Want::None);
    assert_eq!(
        tend_line(&s),
        format!("up (pid {pid4}) N seconds, normally down")
    );
    assert_eq!(tend_line(&s), daemontools_line(&s));
    svc(&s, "t");
    s.wait_down();
    assert_eq!(s.starts().len(), 4, "once: not restarted");
    // svwait, woken by daemontools' status renames.
    let o = tool(SVWAIT, &[OsStr::new("-d"), OsStr::new("-t0"), d]);
    assert_eq!(outcome(&o).0, 0);
    svc(&s, "u");
    let o = tool(SVWAIT, &[OsStr::new("-u"), OsStr::new("-t20s"), d]);
    assert_eq!(outcome(&o).0, 0);
    s.wait_started(5);
    // svc -dx: down, then the supervisor exits.
    svc(&s, "dx");
    assert_eq!(s.wait_exit(), Some(0));
    assert_eq!(outcome(&tool(SVOK, &[d])).0, 100);
    let (code, out, err) = outcome(&tool(SVSTAT, &[d]));
    let name = s.arg().display();
    assert_eq!(
        (code, out.as_str(), err),
        (
            1,
            "",
            format!("svstat: warning: unable to read status of {name}: supervisor not running\n")
        )
    );
    let (code, _, err) = outcome(&tool(SVC, &[OsStr::new("-u"), d]));
    assert_eq!(
        (code, err),
        (
            111,
            format!("svc: warning: unable to control {name}: supervisor not running\n")
        )
    );
    let o = tool(SVWAIT, &[OsStr::new("-d"), OsStr::new("-t0"), d]);
    assert_eq!(outcome(&o).0, 0, "supervise leaves a down status behind");
    s.stop();
}

#[test]
fn tend_tools_drive_runsv() {
    let test = "tend_tools_drive_runsv";
    if !Kind::Runit.available(test) || !anchor("/usr/bin/sv", test) {
        return;
    }
    let mut s = Supervised::start(Kind::Runit, "rn-drive", false);
    let dir = s.dir.clone();
    let d = dir.as_os_str();
    let sv_status =
        |s: &Supervised| anchor_run("/usr/bin/sv", &[OsStr::new("status"), s.arg().as_os_str()]).1;
    assert_eq!(outcome(&tool(SVOK, &[d])).0, 0);
    let pid1 = s.wait_started(1);
    assert_eq!(tend_line(&s), format!("up (pid {pid1}) N seconds"));
    assert!(sv_status(&s).starts_with(&format!("run: {}: (pid {pid1}) ", s.arg().display())));
    for (letter, event) in SIGNAL_LETTERS {
        svc(&s, letter);
        s.wait_event(event, 1);
    }
    svc(&s, "p");
    wait_until(LIMIT, "the paused flag", || s.status().paused);
    assert_eq!(tend_line(&s), format!("up (pid {pid1}) N seconds, paused"));
    svc(&s, "c");
    wait_until(LIMIT, "the paused flag to clear", || !s.status().paused);
    // The finish state: runit's state 2, shown as such (daemontools' svstat says "up").
    write_exec(&s.dir.join("finish"), FINISH);
    svc(&s, "d");
    s.wait_event("TERM", 1);
    // runsv writes the finish state once with pid 0, before it forks ./finish.
    wait_until(LIMIT, "finish to run", || {
        let st = s.status();
        st.state == RunState::Finish && st.pid != 0
    });
    let fpid = s.status().pid;
    wait_until(LIMIT, "finish to log its start", || {
        s.events().contains(&format!("finish {fpid}\n"))
    });
    assert_eq!(
        tend_line(&s),
        format!("finish (pid {fpid}) N seconds, normally up")
    );
    assert!(sv_status(&s).starts_with("finish: "), "{}", sv_status(&s));
    let o = tool(SVWAIT, &[OsStr::new("-d"), OsStr::new("-t0"), d]);
    assert_eq!(outcome(&o).0, 1, "finishing is not down");
    fs::write(s.dir.join("release"), "").unwrap();
    let o = tool(SVWAIT, &[OsStr::new("-d"), OsStr::new("-t20s"), d]);
    assert_eq!(outcome(&o).0, 0);
    assert_eq!(tend_line(&s), "down N seconds, normally up");
    assert!(sv_status(&s).starts_with("down: "), "{}", sv_status(&s));
    fs::remove_file(s.dir.join("finish")).unwrap();
    svc(&s, "u");
    let o = tool(SVWAIT, &[OsStr::new("-u"), OsStr::new("-t20s"), d]);
    assert_eq!(outcome(&o).0, 0);
    let pid2 = s.wait_started(2);
    svc(&s, "k");
    wait_until(LIMIT, "the killed run to die", || !alive(pid2));
    s.wait_started(3);
    svc(&s, "dx");
    assert_eq!(s.wait_exit(), Some(0));
    assert_eq!(outcome(&tool(SVOK, &[d])).0, 100);
    assert_eq!(outcome(&tool(SVSTAT, &[d])).0, 1);
    s.stop();
}

#[test]
fn svwait_fails_when_an_anchor_supervisor_exits() {
    let test = "svwait_fails_when_an_anchor_supervisor_exits";
    for kind in [Kind::Daemontools, Kind::Runit] {
        if !kind.available(test) {
            continue;
        }
        // svwait -u on a down service; svc -x makes its supervisor exit.
        let mut s = Supervised::start(kind, "sv-exit", true);
        let dir = s.dir.clone();
        let d = dir.as_os_str();
        let o = tool(SVWAIT, &[OsStr::new("-u"), OsStr::new("-t0"), d]);
        assert_eq!(outcome(&o).0, 1);
        let mut w = Command::new(SVWAIT)
            .args([OsStr::new("-u"), OsStr::new("-t20s"), d])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pid = w.id();
        wait_until(LIMIT, "svwait to sleep", || {
            read(Path::new(&format!("/proc/{pid}/wchan"))).contains("poll")
        });
        svc(&s, "x");
        assert_eq!(s.wait_exit(), Some(0), "{kind:?}");
        let end = std::time::Instant::now() + LIMIT;
        while w.try_wait().unwrap().is_none() {
            assert!(std::time::Instant::now() < end, "svwait did not notice");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let (code, _, err) = outcome(&w.wait_with_output().unwrap());
        assert_eq!(
            (code, err),
            (
                111,
                format!(
                    "svwait: fatal: unable to wait for {} to be up: supervisor exited\n",
                    s.arg().display()
                )
            ),
            "{kind:?}"
        );
        s.stop();
    }
}

// ---- the anchors' tools against tend-supervise ------------------------------------------

/// Runs an anchor's tool on the service; it must succeed silently.
fn anchor_ok(prog: &str, args: &[&str], s: &Supervised) {
    let mut all: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    all.push(s.arg().as_os_str());
    assert_eq!(
        anchor_run(prog, &all),
        (0, String::new()),
        "{prog} {args:?}"
    );
}

both_modes! {
    fn daemontools_tools_drive_tend_supervise(mode) {
        let test = "daemontools_tools_drive_tend_supervise";
        for p in ["/usr/bin/svc", "/usr/bin/svok", "/usr/bin/svstat"] {
            if !anchor(p, test) {
                return;
            }
        }
        let mut s = Supervised::start(Kind::Tend(mode), "dt-tools", false);
        let dir = s.dir.clone();
        let d = dir.as_os_str();
        let dsvc = |letters: &str| anchor_ok("/usr/bin/svc", &[&format!("-{letters}")], &s);
        assert_eq!(anchor_run("/usr/bin/svok", &[d]), (0, String::new()));
        let pid1 = s.wait_started(1);
        assert_eq!(daemontools_line(&s), format!("up (pid {pid1}) N seconds"));
        assert_eq!(tend_line(&s), daemontools_line(&s));
        for (letter, event) in [("h", "HUP"), ("a", "ALRM"), ("i", "INT"), ("c", "CONT")] {
            dsvc(letter);
            s.wait_event(event, 1);
        }
        dsvc("p");
        // The flag is written once SIGSTOP is sent; the process stops when the kernel gets to it.
        wait_until(LIMIT, "the paused flag and a stopped process", || {
            s.status().paused && proc_state(pid1) == 'T'
        });
        assert_eq!(
            daemontools_line(&s),
            format!("up (pid {pid1}) N seconds, paused")
        );
        dsvc("c");
        wait_until(LIMIT, "the paused flag to clear", || !s.status().paused);
        dsvc("t");
        s.wait_event("TERM", 1);
        let pid2 = s.wait_started(2);
        dsvc("k");
        wait_until(LIMIT, "the killed run to die", || !alive(pid2));
        s.wait_started(3);
        dsvc("d");
        s.wait_event("TERM", 2);
        s.wait_down();
        assert_eq!(daemontools_line(&s), "down N seconds, normally up");
        assert_eq!(tend_line(&s), "down N seconds, normally up, exited 0");
        fs::write(s.dir.join("down"), "").unwrap();
        dsvc("o");
        let pid4 = s.wait_started(4);
        assert_eq!(s.status().want, Want::None);
        assert_eq!(
            daemontools_line(&s),
            format!("up (pid {pid4}) N seconds, normally down")
        );
        assert_eq!(tend_line(&s), daemontools_line(&s));
        dsvc("t");
        s.wait_down();
        assert_eq!(s.starts().len(), 4, "once: not restarted");
        dsvc("u");
        s.wait_started(5);
        let was = s.ending();
        dsvc("dx");
        s.wait_ended_by_x(was);
        match mode {
            Mode::Pair => {
                assert_eq!(anchor_run("/usr/bin/svok", &[d]).0, 100);
                let (_, out) = anchor_run("/usr/bin/svstat", &[d]);
                assert_eq!(out, format!("{}: supervise not running\n", dir.display()));
            }
            Mode::Flat => {
                // tend-scan's fresh supervisor, which keeps the service down (down file);
                // it answers svok a moment before it has written its status and info.
                assert_eq!(anchor_run("/usr/bin/svok", &[d]), (0, String::new()));
                wait_until(LIMIT, "the fresh supervisor's status", || {
                    let line = daemontools_line(&s);
                    line == "down N seconds" && tend_line(&s) == line
                });
            }
        }
        assert_eq!(s.starts().len(), 5);
        s.stop();
    }
}

both_modes! {
    fn runit_sv_drives_tend_supervise(mode) {
        let test = "runit_sv_drives_tend_supervise";
        if !anchor("/usr/bin/sv", test) {
            return;
        }
        let mut s = Supervised::start(Kind::Tend(mode), "sv-tools", false);
        let dir = s.dir.clone();
        let name = dir.display().to_string();
        let sv = |verb: &str| anchor_run("/usr/bin/sv", &[OsStr::new(verb), dir.as_os_str()]);
        let sv_ok = |verb: &str| assert_eq!(sv(verb), (0, String::new()), "sv {verb}");
        let pid1 = s.wait_started(1);
        let (code, out) = sv("status");
        assert_eq!(code, 0);
        assert!(
            out.starts_with(&format!("run: {name}: (pid {pid1}) ")),
            "{out}"
        );
        for (verb, event) in [
            ("hup", "HUP"),
            ("alarm", "ALRM"),
            ("interrupt", "INT"),
            ("quit", "QUIT"),
            ("1", "USR1"),
            ("2", "USR2"),
            ("cont", "CONT"),
        ] {
            sv_ok(verb);
            s.wait_event(event, 1);
        }
        sv_ok("pause");
        wait_until(LIMIT, "the paused flag", || s.status().paused);
        assert!(sv("status").1.contains(", paused"));
        sv_ok("cont");
        wait_until(LIMIT, "the paused flag to clear", || !s.status().paused);
        sv_ok("term");
        s.wait_event("TERM", 1);
        let pid2 = s.wait_started(2);
        sv_ok("kill");
        wait_until(LIMIT, "the killed run to die", || !alive(pid2));
        s.wait_started(3);
        sv_ok("down");
        s.wait_down();
        let (code, out) = sv("status");
        assert_eq!(code, 0);
        assert!(
            out.starts_with(&format!("down: {name}: ")) && out.ends_with("s, normally up\n"),
            "{out}"
        );
        sv_ok("once");
        s.wait_started(4);
        sv_ok("term");
        s.wait_down();
        assert_eq!(s.starts().len(), 4, "once: not restarted");
        sv_ok("up");
        s.wait_started(5);
        // runit's `exit` stops the service too; tend's x (as daemontools') waits for it to be
        // down, so stop it first.
        sv_ok("down");
        s.wait_down();
        let was = s.ending();
        sv_ok("exit");
        s.wait_ended_by_x(was);
        match mode {
            Mode::Pair => assert_eq!(
                sv("status"),
                (1, format!("fail: {name}: runsv not running\n"))
            ),
            Mode::Flat => {
                // tend-scan's fresh supervisor starts the service (no down file).
                let pid6 = s.wait_started(6);
                let (code, out) = sv("status");
                assert_eq!(code, 0);
                assert!(
                    out.starts_with(&format!("run: {name}: (pid {pid6}) ")),
                    "{out}"
                );
            }
        }
        s.stop();
    }
}
