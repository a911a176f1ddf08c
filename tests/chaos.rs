//! Chaos under tend-scan: a daemon writes numbered lines as fast as it can into tend-log
//! while, at random moments, its supervision is killed with SIGKILL, the logger is
//! restarted with `svc -t`, and the daemon is paused and continued. Afterwards every
//! number must be in the logdir once, in order, from the one daemon ever started.
//! TEND_CHAOS_SECS sets the length (30 s, for each mode).
//!
//! What is killed depends on the mode: in pair mode either supervisor (tend-supervise
//! app or app/log), which tend-scan replaces; in flat mode the supervisors are tend-scan
//! itself, so tend-scan is killed, and the test starts it again (the same command, its
//! output appended), as an init would: it must adopt the daemon and the logger and find
//! their pipe again.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    alive, both_modes, read, supervisors, wait_until, write_exec, Daemon, Mode, Rng, TempDir, LIMIT,
};

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

/// The faults, one of which strikes at each random moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// SIGKILL to tend-supervise app/log (pair mode).
    KillLogSupervisor,
    /// SIGKILL to tend-supervise app (pair mode).
    KillSupervisor,
    /// SIGKILL to tend-scan -F, which the test starts again (flat mode).
    KillScanner,
    /// `svc -t` of the logger.
    RestartLogger,
    /// SIGSTOP to the daemon, SIGCONT up to 200 ms later.
    PauseDaemon,
}

impl Fault {
    /// The faults of `mode`: whatever supervises, killed; the logger restarted; the daemon
    /// paused.
    fn of(mode: Mode) -> &'static [Fault] {
        match mode {
            Mode::Pair => &[
                Fault::KillLogSupervisor,
                Fault::KillSupervisor,
                Fault::RestartLogger,
                Fault::PauseDaemon,
            ],
            Mode::Flat => &[Fault::KillScanner, Fault::RestartLogger, Fault::PauseDaemon],
        }
    }
}

/// Starts tend-scan (in `mode`) on `t`/sv, its stdout and stderr appended to `t`/scan.out
/// and `t`/scan.err.
fn start_scan(t: &TempDir, mode: Mode) -> Daemon {
    let append = |name: &str| {
        fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(t.join(name))
            .unwrap()
    };
    Daemon::spawn(
        Command::new(concat!(env!("TEND_BIN_DIR"), "/tend-scan"))
            .args(mode.scan_args())
            .arg(t.join("sv"))
            .stdin(Stdio::null())
            .stdout(append("scan.out"))
            .stderr(append("scan.err")),
    )
}

both_modes! {
    fn chaos_loses_and_doubles_nothing(mode) {
        let secs: u64 = std::env::var("TEND_CHAOS_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(30);
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1;
        let why = format!("{mode:?} mode, seed {seed}");
        let mut rng = Rng(seed);
        let t = TempDir::new(&format!("chaos-{mode:?}"));
        let sv = t.join("sv/app");
        let logdir = t.join("log");
        let starts = t.join("starts");
        // Whole lines in one write each (well under PIPE_BUF), as fast as it can, with a
        // pause of 1 ms every 200 lines so the run stays a few million lines long. Each
        // start is noted in `starts`.
        write_exec(
            &sv.join("run"),
            &format!(
                "#!/bin/sh\necho $$ >>'{}'\nexec perl -e '$| = 1; for ($i = 1; ; $i++) {{ print \"$i\\n\"; select(undef, undef, undef, 0.001) if $i % 200 == 0 }}'\n",
                starts.display()
            ),
        );
        write_exec(
            &sv.join("log/run"),
            &format!(
                "#!/bin/sh\nexec '{}' -t none -s 1M -n 0 '{}'\n",
                concat!(env!("TEND_BIN_DIR"), "/tend-log"),
                logdir.display()
            ),
        );
        let mut scan = start_scan(&t, mode);
        wait_until(LIMIT, "the daemon and its logger", || {
            daemon_pid(&sv).is_some() && daemon_pid(&sv.join("log")).is_some()
        });
        let daemon = daemon_pid(&sv).unwrap();
        let faults = Fault::of(mode);
        let mut counts = vec![0u32; faults.len()];
        let end = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < end {
            // Random moments: 50 to 500 ms apart (observation pacing, not synchronisation).
            std::thread::sleep(Duration::from_millis(50 + rng.below(450)));
            let i = rng.below(faults.len() as u64) as usize;
            match faults[i] {
                Fault::KillLogSupervisor | Fault::KillSupervisor => {
                    let arg = match faults[i] {
                        Fault::KillLogSupervisor => "app/log",
                        _ => "app",
                    };
                    if let Some(&pid) = supervisors(scan.pid(), arg).first() {
                        common::unsafe_kill(pid, 9);
                        counts[i] += 1;
                    }
                }
                Fault::KillScanner => {
                    scan.signal(9);
                    scan.wait_exit(LIMIT);
                    // Nothing supervises for a random while (the fault's length, not a
                    // synchronisation); then tend-scan starts again, as an init restarts it.
                    std::thread::sleep(Duration::from_millis(rng.below(200)));
                    scan = start_scan(&t, mode);
                    counts[i] += 1;
                }
                Fault::RestartLogger => {
                    // After kills, the scanner restarts the log supervisor with a growing
                    // delay (up to 10 s), and a tend-scan just started is still adopting:
                    // wait for it, so that this fault happens in every run.
                    let log = sv.join("log");
                    wait_until(LIMIT, "the log supervisor to be back", || svok(&log));
                    svc(&["-t"], &log);
                    counts[i] += 1;
                }
                Fault::PauseDaemon => {
                    if let Some(pid) = daemon_pid(&sv) {
                        common::unsafe_kill(pid, 19);
                        std::thread::sleep(Duration::from_millis(rng.below(200)));
                        common::unsafe_kill(pid, 18);
                        counts[i] += 1;
                    }
                }
            }
        }
        // Stop the writer, then the scanner: the logger drains the pipe to the end. The
        // supervisor of app is a tend-supervise in pair mode, tend-scan itself in flat mode.
        wait_until(LIMIT, "the supervisor of app to be back", || {
            let processes = supervisors(scan.pid(), "app").len();
            let back = match mode {
                Mode::Pair => processes == 1,
                Mode::Flat => processes == 0,
            };
            back && svok(&sv)
        });
        // The one daemon ran throughout, adopted by every new supervisor.
        assert_eq!(daemon_pid(&sv), Some(daemon), "{why}: {}", read(&t.join("scan.err")));
        assert_eq!(
            read(&starts),
            format!("{daemon}\n"),
            "{why}: a second daemon: {}",
            read(&t.join("scan.err"))
        );
        svc(&["-dc"], &sv);
        wait_until(LIMIT, "the daemon to stop", || {
            !alive(daemon) && daemon_pid(&sv).is_none()
        });
        scan.signal(15);
        let st = scan.wait_exit(Duration::from_secs(60));
        assert!(
            st.success(),
            "{why}: tend-scan {st:?}: {}",
            read(&t.join("scan.err"))
        );
        let n = assert_every_number_once(&logdir, &why);
        let done: Vec<String> = faults
            .iter()
            .zip(&counts)
            .map(|(f, c)| format!("{c} {f:?}"))
            .collect();
        eprintln!("chaos ({why}): {n} lines; {}", done.join(", "));
        assert!(n > 1000, "{why}: only {n} lines");
        assert!(
            counts.iter().all(|&c| c > 0) || secs < 10,
            "{why}: not every fault happened: {done:?}"
        );
    }
}

/// Whether svok finds a supervisor running on `dir`.
fn svok(dir: &Path) -> bool {
    Command::new(concat!(env!("TEND_BIN_DIR"), "/svok"))
        .arg(dir)
        .status()
        .unwrap()
        .success()
}
