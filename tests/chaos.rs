//! Chaos under tend-scan: a daemon writes numbered lines as fast as it can into tend-log
//! while, at random moments, either supervisor is killed with SIGKILL, the logger is
//! restarted with `svc -t`, and the daemon is paused and continued. Afterwards every
//! number must be in the logdir once, in order. TEND_CHAOS_SECS sets the length (30 s).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{alive, read, supervisors, wait_until, write_exec, Daemon, Rng, TempDir, LIMIT};

fn daemon_pid(sv: &Path) -> Option<i32> {
    read(&sv.join("supervise/pid")).trim().parse().ok()
}

fn svc(args: &[&str], dir: &Path) {
    let st = Command::new(concat!(env!("TEND_BIN_DIR"), "/svc"))
        .args(args)
        .arg(dir)
        .status()
        .unwrap();
    assert!(st.success(), "svc {args:?} {}", dir.display());
}

/// Reads archives (in name order) then current, and checks they hold 1..=n once each.
fn assert_every_number_once(logdir: &Path, why: &str) -> u64 {
    let mut names: Vec<String> = fs::read_dir(logdir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('@'))
        .collect();
    names.sort();
    names.push("current".into());
    let mut want = 1u64;
    for name in &names {
        let text = fs::read_to_string(logdir.join(name)).unwrap();
        for line in text.lines() {
            let n: u64 = line
                .parse()
                .unwrap_or_else(|_| panic!("{why}: line {line:?} in {name}"));
            assert_eq!(n, want, "{why}: in {name}, {n} where {want} was due");
            want += 1;
        }
    }
    want - 1
}

#[test]
fn chaos_loses_and_doubles_nothing() {
    let secs: u64 = std::env::var("TEND_CHAOS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let why = format!("seed {seed}");
    let mut rng = Rng(seed);
    let t = TempDir::new("chaos");
    let sv = t.join("sv/app");
    let logdir = t.join("log");
    // Whole lines in one write each (well under PIPE_BUF), as fast as it can, with a pause
    // of 1 ms every 200 lines so the run stays a few million lines long.
    write_exec(
        &sv.join("run"),
        "#!/bin/sh\nexec perl -e '$| = 1; for ($i = 1; ; $i++) { print \"$i\\n\"; select(undef, undef, undef, 0.001) if $i % 200 == 0 }'\n",
    );
    write_exec(
        &sv.join("log/run"),
        &format!(
            "#!/bin/sh\nexec '{}' -t none -s 1M -n 0 '{}'\n",
            concat!(env!("TEND_BIN_DIR"), "/tend-log"),
            logdir.display()
        ),
    );
    let mut scan = Daemon::spawn(
        Command::new(concat!(env!("TEND_BIN_DIR"), "/tend-scan"))
            .arg(t.join("sv"))
            .stdin(Stdio::null())
            .stdout(fs::File::create(t.join("scan.out")).unwrap())
            .stderr(fs::File::create(t.join("scan.err")).unwrap()),
    );
    wait_until(LIMIT, "the daemon and its logger", || {
        daemon_pid(&sv).is_some() && daemon_pid(&sv.join("log")).is_some()
    });
    let end = Instant::now() + Duration::from_secs(secs);
    let mut counts = [0u32; 4];
    while Instant::now() < end {
        // Random moments: 50 to 500 ms apart (observation pacing, not synchronisation).
        std::thread::sleep(Duration::from_millis(50 + rng.below(450)));
        let action = rng.below(4) as usize;
        match action {
            0 | 1 => {
                let arg = if action == 0 { "app/log" } else { "app" };
                if let Some(&pid) = supervisors(scan.pid(), arg).first() {
                    common::unsafe_kill(pid, 9);
                    counts[action] += 1;
                }
            }
            2 => {
                // After kills, the scanner restarts the log supervisor with a growing delay
                // (up to 10 s): wait for it, so that this fault happens in every run.
                let log = sv.join("log");
                wait_until(LIMIT, "the log supervisor to be back", || svok(&log));
                svc(&["-t"], &log);
                counts[2] += 1;
            }
            _ => {
                if let Some(pid) = daemon_pid(&sv) {
                    common::unsafe_kill(pid, 19);
                    std::thread::sleep(Duration::from_millis(rng.below(200)));
                    common::unsafe_kill(pid, 18);
                    counts[3] += 1;
                }
            }
        }
    }
    // Stop the writer, then the scanner: the logger drains the pipe to the end.
    wait_until(LIMIT, "the supervisor of app to be back", || {
        !supervisors(scan.pid(), "app").is_empty()
    });
    let pid = daemon_pid(&sv);
    wait_until(LIMIT, "svok app", || svok(&sv));
    svc(&["-dc"], &sv);
    wait_until(LIMIT, "the daemon to stop", || {
        pid.is_none_or(|p| !alive(p)) && daemon_pid(&sv).is_none()
    });
    scan.signal(15);
    let st = scan.wait_exit(Duration::from_secs(60));
    assert!(
        st.success(),
        "{why}: tend-scan {st:?}: {}",
        read(&t.join("scan.err"))
    );
    let n = assert_every_number_once(&logdir, &why);
    eprintln!(
        "chaos ({why}): {n} lines; {} log supervisor kills, {} supervisor kills, {} logger restarts, {} pauses",
        counts[0], counts[1], counts[2], counts[3]
    );
    assert!(n > 1000, "{why}: only {n} lines");
    assert!(
        counts.iter().all(|&c| c > 0) || secs < 10,
        "{why}: not every fault happened: {counts:?}"
    );
}

/// Whether svok finds a supervisor running on `dir`.
fn svok(dir: &Path) -> bool {
    Command::new(concat!(env!("TEND_BIN_DIR"), "/svok"))
        .arg(dir)
        .status()
        .unwrap()
        .success()
}
