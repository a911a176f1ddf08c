//! A real corpus: Debian's own runit service dirs (package runit-services) for cron and
//! haveged, copied unchanged into a scan dir under tend-scan, with a log/run that execs
//! svlogd as Debian's runit-helper writes one. Both come up, obey tend's svc and runit's
//! sv, haveged's output reaches its logdir, and svc -d brings them down.
//!
//! Debian's run scripts start through /lib/runit/invoke-run, which asks
//! /usr/sbin/policy-rc.d first; container images ship one that exits 101 ("do not
//! start"), and invoke-run then takes the service down. The scanner therefore runs in a
//! private mount namespace (unshare -m) where a policy-rc.d that allows everything is
//! bound over that path: the scripts run unchanged, and the machine's file stays as it is.
//!
//! Needs root, unshare, runit-services, cron, haveged, svlogd and sv; skipped with a
//! message otherwise, unless TEND_REQUIRE_INTEROP=1 (CI). Needs no cron running already
//! (cron refuses a second instance).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{alive, read, run, texts, wait_until, write_exec, Daemon, TempDir, LIMIT};

fn have_everything() -> bool {
    let need = [
        "/usr/share/runit/sv/cron/run",
        "/usr/share/runit/sv/haveged/run",
        "/lib/runit/invoke-run",
        "/usr/sbin/cron",
        "/usr/sbin/haveged",
        "/usr/bin/svlogd",
        "/usr/bin/sv",
        "/usr/bin/unshare",
    ];
    let missing: Vec<&str> = need
        .iter()
        .copied()
        .filter(|p| !Path::new(p).exists())
        .collect();
    let root = rustix::process::geteuid().is_root();
    if missing.is_empty() && root {
        return true;
    }
    assert!(
        std::env::var("TEND_REQUIRE_INTEROP").as_deref() != Ok("1"),
        "missing {missing:?} (root: {root}): apt-get install -y runit runit-services cron haveged"
    );
    eprintln!("skipped: missing {missing:?} (root: {root})");
    false
}

/// The pid in DIR/supervise/pid, if the service is up.
fn pid_of(dir: &Path) -> Option<i32> {
    read(&dir.join("supervise/pid")).trim().parse().ok()
}

#[test]
fn debian_runit_service_dirs_run_unchanged_under_tend_scan() {
    if !have_everything() {
        return;
    }
    let t = TempDir::new("corpus");
    let sv = t.join("sv");
    fs::create_dir(&sv).unwrap();
    for name in ["cron", "haveged"] {
        let o = run(Command::new("cp")
            .arg("-a")
            .arg(format!("/usr/share/runit/sv/{name}"))
            .arg(&sv));
        assert!(o.status.success(), "{:?}", texts(&o));
    }
    // The logger, as runit-helper writes it (without the user switch and /var/log/runit).
    let logdir = t.join("logs/haveged");
    fs::create_dir_all(&logdir).unwrap();
    write_exec(
        &sv.join("haveged/log/run"),
        &format!(
            "#!/bin/sh\nexec 2>&1\nexec svlogd -tt '{}'\n",
            logdir.display()
        ),
    );
    let allow = t.join("policy-rc.d");
    write_exec(&allow, "#!/bin/sh\nexit 0\n");
    let bind = if Path::new("/usr/sbin/policy-rc.d").exists() {
        format!(
            "mount --bind '{}' /usr/sbin/policy-rc.d && ",
            allow.display()
        )
    } else {
        String::new()
    };
    let mut scan = Daemon::spawn(
        Command::new("unshare")
            .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg(format!(
                "{bind}exec '{}' '{}'",
                concat!(env!("TEND_BIN_DIR"), "/tend-scan"),
                sv.display()
            ))
            .env("SVDIR", &sv) // invoke-run's own `sv` calls land here
            .current_dir(t.path())
            .stdin(Stdio::null())
            .stdout(fs::File::create(t.join("scan.out")).unwrap())
            .stderr(fs::File::create(t.join("scan.err")).unwrap()),
    );
    let show = || {
        format!(
            "\n--- scan.err:\n{}\n--- scan.out:\n{}\n{}",
            read(&t.join("scan.err")),
            read(&t.join("scan.out")),
            t.listing()
        )
    };
    let tool = |prog: &str, args: &[&str]| {
        let o = run(Command::new(prog).args(args).env("SVDIR", &sv));
        let (out, err) = texts(&o);
        (o.status.code().unwrap_or(-1), out + &err)
    };
    let svc = concat!(env!("TEND_BIN_DIR"), "/svc");
    let svstat = concat!(env!("TEND_BIN_DIR"), "/svstat");
    // Both up, for tend's svstat and runit's sv.
    wait_until(LIMIT, "cron and haveged up", || {
        let (_, out) = tool(svstat, &["cron", "haveged", "haveged/log"]);
        out.lines().filter(|l| l.contains(": up (pid ")).count() == 3
    });
    let (code, out) = tool("/usr/bin/sv", &["status", "cron", "haveged"]);
    assert_eq!(code, 0, "{out}{}", show());
    assert!(out.starts_with("run: cron: (pid "), "{out}");
    assert!(
        out.contains("run: haveged: (pid ") && out.contains("; run: log: (pid "),
        "{out}"
    );
    let cron = pid_of(&sv.join("cron")).unwrap();
    let haveged = pid_of(&sv.join("haveged")).unwrap();
    // haveged's output reached its logdir through svlogd.
    wait_until(LIMIT, "haveged's line in its logdir", || {
        read(&logdir.join("current")).contains("haveged: ")
    });
    // runit's sv restarts cron; tend's svc restarts haveged.
    let (code, out) = tool("/usr/bin/sv", &["restart", "cron"]);
    assert_eq!(code, 0, "{out}{}", show());
    wait_until(LIMIT, "a new cron", || {
        pid_of(&sv.join("cron")).is_some_and(|p| p != cron)
    });
    assert!(!alive(cron), "the old cron is gone");
    let (code, out) = tool(svc, &["-t", "haveged"]);
    assert_eq!((code, out.as_str()), (0, ""));
    wait_until(LIMIT, "a new haveged", || {
        pid_of(&sv.join("haveged")).is_some_and(|p| p != haveged)
    });
    // svc -d brings both down; runit's sv agrees. (A cron started while the old one
    // still held its pid file exits, and is started again a second later: wait for both
    // to be up.)
    let mut up = (0, 0);
    wait_until(LIMIT, "cron and haveged up", || {
        match (pid_of(&sv.join("cron")), pid_of(&sv.join("haveged"))) {
            (Some(c), Some(h)) if alive(c) && alive(h) => {
                up = (c, h);
                true
            }
            _ => false,
        }
    });
    let (cron, haveged) = up;
    let (code, out) = tool(svc, &["-d", "cron", "haveged"]);
    assert_eq!((code, out.as_str()), (0, ""));
    wait_until(LIMIT, "both down", || !alive(cron) && !alive(haveged));
    wait_until(LIMIT, "sv to say down", || {
        let (_, out) = tool("/usr/bin/sv", &["status", "cron", "haveged"]);
        out.starts_with("down: cron: ") && out.contains("down: haveged: ")
    });
    scan.signal(15);
    let st = scan.wait_exit(LIMIT);
    assert!(st.success(), "tend-scan exited {st:?}{}", show());
}
