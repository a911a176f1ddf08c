//! Faults from outside, run for real (issue 7, "Reliability"): kill -9 of tend-log, a
//! logdir made read-only under it, running out of file descriptors (tend-supervise and
//! tend-scan), and fork failing for lack of processes (RLIMIT_NPROC). Every test that runs
//! a supervisor runs in both modes (common::Mode); where pair mode runs `tend-supervise .`
//! in the service dir, flat mode runs `tend-scan -F` on a scan dir holding it.
//!
//! Limits are lowered and raised with prlimit(1) on the running process, soft limit only:
//! raising a hard limit needs CAP_SYS_RESOURCE, which a container's root may lack. A
//! process of another uid accepts prlimit only from its own uid (without that capability),
//! so prlimit runs under setpriv as that uid.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    alive, both_modes, read, run, texts, wait_until, write_exec, Daemon, Mode, Rng, TempDir, LIMIT,
};

/// Length of each numbered line, newline included.
const LINE: usize = 100;

/// Skips (returning false) unless `cond`; CI (TEND_REQUIRE_ROOT_TESTS) never skips.
fn can_run(cond: bool, needs: &str) -> bool {
    if !cond {
        assert!(
            std::env::var_os("TEND_REQUIRE_ROOT_TESTS").is_none(),
            "needs {needs}"
        );
        eprintln!("skipped: needs {needs}");
    }
    cond
}

fn have_prlimit() -> bool {
    can_run(Path::new("/usr/bin/prlimit").exists(), "prlimit")
}

fn have_root_and_setpriv() -> bool {
    can_run(
        Path::new("/usr/bin/setpriv").exists()
            && Path::new("/usr/bin/prlimit").exists()
            && rustix::process::geteuid().as_raw() == 0,
        "root, setpriv and prlimit",
    )
}

/// setpriv arguments that run the rest of the command as `uid` (and gid `uid`).
fn as_user(uid: u32) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args([
        &format!("--reuid={uid}"),
        &format!("--regid={uid}"),
        "--clear-groups",
    ]);
    cmd
}

/// Sets the soft limit `what` (a prlimit option such as "nofile") of `pid`, as `uid` if
/// given, and checks that it took.
fn set_soft_limit(pid: i32, what: &str, value: &str, uid: Option<u32>) {
    let mut cmd = match uid {
        Some(u) => {
            let mut c = as_user(u);
            c.arg("prlimit");
            c
        }
        None => Command::new("prlimit"),
    };
    cmd.arg(format!("--pid={pid}"))
        .arg(format!("--{what}={value}:"));
    let o = run(&mut cmd);
    assert!(o.status.success(), "{cmd:?}: {:?}", texts(&o));
}

/// The soft limit named `row` ("Max open files", "Max processes") of `pid`, as a string.
fn soft_limit(pid: i32, row: &str) -> String {
    let limits = read(Path::new(&format!("/proc/{pid}/limits")));
    let line = limits.lines().find(|l| l.starts_with(row)).unwrap();
    line[row.len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// The lowest descriptor number `pid` has free: as a limit on open files, it leaves no
/// room for one more (descriptors inherited from the test harness may sit above it).
fn lowest_free_fd(pid: i32) -> usize {
    let used: Vec<usize> = fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    (0..).find(|n| !used.contains(n)).unwrap()
}

/// User plus system CPU time of `pid`, in clock ticks.
fn cpu_ticks(pid: i32) -> u64 {
    let stat = read(Path::new(&format!("/proc/{pid}/stat")));
    let rest: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    rest[11].parse::<u64>().unwrap() + rest[12].parse::<u64>().unwrap()
}

/// Line `n` of the numbered input: the number, padding, newline; LINE bytes in all.
fn numbered(n: u64) -> Vec<u8> {
    let mut l = format!("{n:010} ").into_bytes();
    l.resize(LINE - 1, b'x');
    l.push(b'\n');
    l
}

/// The logdir's files in time order: archives by name, then `current`.
fn logdir_files(dir: &Path) -> Vec<Vec<u8>> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('@'))
        .collect();
    names.sort();
    names.push("current".into());
    names
        .iter()
        .map(|n| fs::read(dir.join(n)).unwrap_or_default())
        .collect()
}

/// Bytes held in the logdir (archives and current).
fn logdir_size(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_name() != "lock")
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// The numbers of the whole numbered lines in the logdir, in order. A line may span two
/// files: a kill leaves the start of a line written open at the end of an archive, and the
/// next tend-log writes its rest first (man/tend-log.8, "Crashes"); such a pair is one
/// line. A piece that does not make a whole line with what follows (a write that SIGKILL
/// cut short; the next file has that line whole) is skipped.
fn numbers(dir: &Path) -> Vec<u64> {
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut open: Vec<u8> = Vec::new(); // the unfinished end of the previous file
    for file in logdir_files(dir) {
        let mut pieces = file.split_inclusive(|&b| b == b'\n').peekable();
        if !open.is_empty() {
            let joined = [&open[..], pieces.peek().copied().unwrap_or_default()].concat();
            if whole_line(&joined) {
                lines.push(joined);
                pieces.next();
            }
            open.clear();
        }
        for piece in pieces {
            if piece.ends_with(b"\n") {
                lines.push(piece.to_vec());
            } else {
                open = piece.to_vec();
            }
        }
    }
    lines
        .iter()
        .filter(|l| whole_line(l))
        .filter_map(|l| std::str::from_utf8(&l[..10]).ok()?.parse().ok())
        .collect()
}

/// Whether `l` is one whole numbered line.
fn whole_line(l: &[u8]) -> bool {
    let n: Option<u64> = l
        .get(..10)
        .and_then(|d| std::str::from_utf8(d).ok()?.parse().ok());
    n.is_some_and(|n| l == numbered(n))
}

/// What one kill -9 of tend-log can double, by construction (man/tend-log.8, "Crashes"):
/// one batch, at most one input buffer (128 KiB of input), if the kill falls between a
/// write to `current` and the consume of its input that follows.
const KILL_9_DOUBLE_BOUND: u64 = 128 << 10;

/// The pid in DIR/supervise/pid, if the service is up.
fn service_pid(dir: &Path) -> Option<i32> {
    read(&dir.join("supervise/pid")).trim().parse().ok()
}

/// Whether the second logdir's config (`-*5 *`) keeps line `n`: it drops the lines whose
/// first 5 is their number's last digit.
fn second_keeps(n: u64) -> bool {
    format!("{n:010}").find('5') != Some(9)
}

/// A logged service under tend-scan (in `mode`) whose daemon writes numbered lines (LINE
/// bytes each) at about 5000 a second, into `tend-log -t none OPTS`; tend-log is killed
/// with SIGKILL 20 times, 0.3 to 1 s after each start. Every number must be in the logdir,
/// in order; what a kill doubled is counted, printed, and held to its bound; and each
/// killed tend-log is back within 1.5 s (a run killed from outside does not back off).
fn kill_9_of_tend_log_under_tend_scan(name: &str, opts: &str, mode: Mode) {
    kill_9_of_tend_log_into(name, opts, false, mode);
}

/// Kills tend-log 20 times under tend-scan; with `two`, it writes a second logdir too,
/// whose config selects other lines and rotates at another size.
fn kill_9_of_tend_log_into(name: &str, opts: &str, two: bool, mode: Mode) {
    const KILLS: usize = 20;
    let (t, scan_dir, mut scan) = scanner(name, mode);
    let logdir = t.join("log");
    let logdir2 = t.join("log2");
    let second = if two {
        fs::create_dir(&logdir2).unwrap();
        fs::write(logdir2.join("config"), "s20000\nn0\n-*5 *\n").unwrap();
        format!(" '{}'", logdir2.display())
    } else {
        String::new()
    };
    let last = t.join("last");
    let tmp = t.join("tmp");
    // 50 lines every 10 ms; on TERM the daemon notes the last number it wrote.
    write_exec(
        &tmp.join("run"),
        &format!(
            "#!/bin/sh\nexec perl -e '$| = 1; $i = 0; $SIG{{TERM}} = sub {{ $stop = 1 }}; \
             while (!$stop) {{ for (1..50) {{ printf(\"%010d %s\\n\", $i, \"x\" x {pad}); $i++; \
             last if $stop }} select(undef, undef, undef, 0.01) }} \
             open(L, \">\", $ARGV[0]); print L $i - 1, \"\\n\"; close L' '{last}'\n",
            pad = LINE - 12,
            last = last.display()
        ),
    );
    write_exec(
        &tmp.join("log/run"),
        &format!(
            "#!/bin/sh\nexec '{}' -t none {opts} '{}'{second}\n",
            concat!(env!("TEND_BIN_DIR"), "/tend-log"),
            logdir.display()
        ),
    );
    fs::rename(&tmp, scan_dir.join("web")).unwrap();
    let sv = scan_dir.join("web");
    let sv_log = sv.join("log");
    let seed = std::process::id() as u64 * 0x9e37_79b9 + 7;
    let mut rng = Rng(seed);
    let mut pid = 0;
    let mut restarts = Vec::new();
    for i in 0..=KILLS {
        wait_until(LIMIT, &format!("tend-log start {i}"), || {
            service_pid(&sv_log).is_some_and(|p| p != pid)
        });
        pid = service_pid(&sv_log).unwrap();
        if i == KILLS {
            break;
        }
        // The kill's moment is the test's random input, not a synchronisation.
        std::thread::sleep(Duration::from_millis(300 + rng.below(700)));
        assert_eq!(
            service_pid(&sv_log),
            Some(pid),
            "tend-log {i} died by itself"
        );
        common::unsafe_kill(pid, 9);
        let killed = Instant::now();
        wait_until(LIMIT, &format!("tend-log restart {i}"), || {
            service_pid(&sv_log).is_some_and(|p| p != pid)
        });
        restarts.push(killed.elapsed());
    }
    let slowest = restarts.iter().max().copied().unwrap_or_default();
    // Stop the daemon, let the last tend-log catch up, then read the logdir.
    let o = run(Command::new(concat!(env!("TEND_BIN_DIR"), "/svc"))
        .arg("-d")
        .arg(&sv));
    assert!(o.status.success(), "{:?}", texts(&o));
    wait_until(LIMIT, "the daemon's last number", || {
        read(&last).ends_with('\n')
    });
    let last: u64 = read(&last).trim().parse().unwrap();
    wait_until(LIMIT, "tend-log to catch up", || {
        numbers(&logdir).last() == Some(&last)
    });
    scan.signal(15);
    assert!(scan.wait_exit(LIMIT).success());
    let got = numbers(&logdir);
    let context = || format!("seed {seed}\n{}\n{}", read(&t.join("stderr")), t.listing());
    // Nothing skipped: each line is the next number, or one written before (a double).
    let (mut expect, mut doubled) = (0u64, 0u64);
    for &n in &got {
        assert!(n <= expect, "{expect} to {n}: lines lost; {}", context());
        if n == expect {
            expect += 1;
        } else {
            doubled += 1;
        }
    }
    assert_eq!(expect, last + 1, "{}", context());
    eprintln!(
        "{name} ({mode:?} mode): seed {seed}: {} lines, {KILLS} kills, {doubled} lines \
         doubled, slowest restart {slowest:?}",
        last + 1
    );
    assert!(
        doubled * LINE as u64 <= KILLS as u64 * KILL_9_DOUBLE_BOUND,
        "{doubled} lines doubled; {}",
        context()
    );
    assert!(
        slowest < Duration::from_millis(1500),
        "a killed tend-log came back after {slowest:?}: {restarts:?}; {}",
        context()
    );
    if two {
        let want: Vec<u64> = (0..=last).filter(|&n| second_keeps(n)).collect();
        let got = numbers(&logdir2);
        let (mut at, mut doubled2) = (0usize, 0u64);
        for &n in &got {
            assert!(second_keeps(n), "{n} in the second logdir; {}", context());
            match want.get(at) {
                Some(&w) if n == w => at += 1,
                Some(&w) => {
                    assert!(n < w, "{w} to {n}: lines lost in log2; {}", context());
                    doubled2 += 1;
                }
                None => doubled2 += 1,
            }
        }
        assert_eq!(at, want.len(), "log2 stops early; {}", context());
        assert!(archives_in(&logdir2) > 1, "{}", context());
        eprintln!(
            "{name} ({mode:?} mode): second logdir: {} lines, {doubled2} doubled",
            want.len()
        );
        assert!(doubled2 * LINE as u64 <= KILLS as u64 * KILL_9_DOUBLE_BOUND);
    }
}

fn archives_in(dir: &Path) -> usize {
    fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().starts_with('@'))
        })
        .count()
}

both_modes! {
    fn kill_9_of_tend_log_loses_nothing(mode) {
        kill_9_of_tend_log_under_tend_scan("faults-kill9", "", mode);
    }
}

both_modes! {
    fn kill_9_of_tend_log_loses_nothing_with_a_processor(mode) {
        kill_9_of_tend_log_under_tend_scan(
            "faults-kill9-proc",
            "-s 50k -n 0 -p 'sleep 0.1; cat'",
            mode,
        );
    }
}

both_modes! {
    fn kill_9_of_tend_log_loses_nothing_in_two_logdirs(mode) {
        kill_9_of_tend_log_into("faults-kill9-two", "-s 30k -n 0", true, mode);
    }
}

both_modes! {
    fn kill_9_of_tend_log_loses_nothing_with_frequent_rotations(mode) {
        kill_9_of_tend_log_under_tend_scan("faults-kill9-rot", "-s 30k -n 0", mode);
    }
}

// tend-log alone, fed by the test: no supervisor, so nothing that depends on the mode.
#[test]
fn a_logdir_made_read_only_pauses_rotation_and_loses_nothing() {
    if !have_root_and_setpriv() {
        return;
    }
    const UID: u32 = 64_732; // used by no other test: permissions must bite
    let t = TempDir::new("faults-rolog");
    let dir = t.join("log");
    fs::create_dir(&dir).unwrap();
    chown(&dir, Some(UID), Some(UID)).unwrap();
    let (rd, wr) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
    let mut wr = fs::File::from(wr);
    let mut cmd = as_user(UID);
    cmd.arg(concat!(env!("TEND_BIN_DIR"), "/tend-log"))
        .args(["-t", "none", "-s", "2k", "-n", "0"])
        .arg(&dir)
        .stdin(Stdio::from(rd))
        .stdout(Stdio::null())
        .stderr(fs::File::create(t.join("stderr")).unwrap());
    let mut log = Daemon::spawn(&mut cmd);
    let err = || read(&t.join("stderr"));
    let lines = |from: u64, to: u64| (from..to).flat_map(numbered).collect::<Vec<u8>>();
    wr.write_all(&lines(0, 10)).unwrap();
    wait_until(LIMIT, "the first lines", || numbers(&dir).len() == 10);
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o555)).unwrap();
    // 1000 more bytes than fit: a rotation is due, and cannot rename current.
    wr.write_all(&lines(10, 40)).unwrap();
    wait_until(LIMIT, "a warning about the rename", || {
        err().contains("unable to rename") && err().contains("pausing input")
    });
    // Paused: input stays in the pipe, current does not change, and the retries (every
    // second) cost next to no CPU.
    let (size, ticks) = (logdir_size(&dir), cpu_ticks(log.pid()));
    let end = Instant::now() + Duration::from_secs(3);
    while Instant::now() < end {
        assert_eq!(logdir_size(&dir), size, "{}", t.listing());
        std::thread::sleep(Duration::from_millis(10));
    }
    let spent = cpu_ticks(log.pid()) - ticks;
    assert!(
        spent < 50,
        "{spent} ticks of CPU in 3 s of pause: spinning?"
    );
    assert_eq!(err().lines().count(), 1, "{}", err());
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    wr.write_all(&lines(40, 100)).unwrap();
    drop(wr);
    let st = log.wait_exit(LIMIT);
    assert!(st.success(), "tend-log exited {st:?}: {}", err());
    assert_eq!(
        numbers(&dir),
        (0..100).collect::<Vec<u64>>(),
        "{}",
        t.listing()
    );
    assert!(err().contains("tend-log: info: writing"), "{}", err());
    let archives = fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('@')
        })
        .count();
    assert!(archives >= 4, "{}", t.listing());
}

/// A service dir `sv` in `t` whose run script appends a line to `t`/starts and sleeps.
fn sleeper(t: &TempDir) -> PathBuf {
    let sv = t.join("sv");
    write_exec(
        &sv.join("run"),
        "#!/bin/sh\necho started >> ../starts\nexec sleep 1000\n",
    );
    sv
}

/// The value of `key` in `sv`/supervise/info.
fn info_value(sv: &Path, key: &str) -> String {
    let info = read(&sv.join("supervise/info"));
    let line = info.lines().find(|l| l.starts_with(&format!("{key} ")));
    line.map(|l| l[key.len() + 1..].to_string())
        .unwrap_or_default()
}

/// svstat's line for `sv`.
fn svstat(sv: &Path) -> String {
    texts(&run(
        Command::new(concat!(env!("TEND_BIN_DIR"), "/svstat")).arg(sv)
    ))
    .0
}

/// Supervises the service dir `sv` (in `t`), stderr to `t`/stderr, as `uid` if given:
/// with `tend-supervise .` run in `sv` (pair mode), or with `tend-scan -F` on a scan dir
/// `t`/scan whose `sv` links to it (flat mode). Returns the supervising process and the
/// prefix of its messages about `sv`.
fn supervisor(t: &TempDir, sv: &Path, mode: Mode, uid: Option<u32>) -> (Daemon, String) {
    let (prog, args, cwd, name) = match mode {
        Mode::Pair => ("tend-supervise", vec![".".into()], sv.to_path_buf(), "."),
        Mode::Flat => {
            let scan_dir = t.join("scan");
            fs::create_dir(&scan_dir).unwrap();
            std::os::unix::fs::symlink(sv, scan_dir.join("sv")).unwrap();
            let args = vec!["-F".into(), scan_dir.into_os_string()];
            ("tend-scan", args, t.path().to_path_buf(), "sv")
        }
    };
    let path = format!("{}/{prog}", env!("TEND_BIN_DIR"));
    let mut cmd = match uid {
        Some(u) => {
            let mut c = as_user(u);
            c.arg(path);
            c
        }
        None => Command::new(path),
    };
    cmd.args::<_, std::ffi::OsString>(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(t.join("stderr")).unwrap());
    (Daemon::spawn(&mut cmd), mode.prog(name))
}

/// The pid of the run process once svstat says `sv` is up with a pid other than `not`.
fn wait_up(sv: &Path, not: i32) -> i32 {
    let mut pid = 0;
    wait_until(LIMIT, "the service to be up", || {
        pid = read(&sv.join("supervise/pid")).trim().parse().unwrap_or(0);
        pid != 0 && pid != not && svstat(sv).contains(&format!("up (pid {pid})"))
    });
    pid
}

both_modes! {
    fn out_of_file_descriptors_the_supervisor_keeps_going_and_recovers(mode) {
        if !have_prlimit() {
            return;
        }
        let t = TempDir::new(&format!("faults-emfile-sup-{mode:?}"));
        let sv = sleeper(&t);
        let (sup, prog) = supervisor(&t, &sv, mode, None);
        let err = || read(&t.join("stderr"));
        let pid = wait_up(&sv, 0);
        // Not one descriptor more: the restart after the kill cannot spawn.
        let limit = soft_limit(sup.pid(), "Max open files");
        let full = lowest_free_fd(sup.pid()).to_string();
        set_soft_limit(sup.pid(), "nofile", &full, None);
        common::unsafe_kill(pid, 9);
        wait_until(LIMIT, "a warning about the failed start", || {
            err().contains("unable to start ./run: Too many open files (retrying in ")
        });
        // It says so in one line (settings it could not read are no news), the status shows
        // the service down and backing off, and it keeps serving.
        wait_until(LIMIT, "svstat to show the service down", || {
            svstat(&sv).contains(": down ")
        });
        // The kill from outside is no crash; the failed starts after it are (from the second).
        wait_until(LIMIT, "a backoff", || {
            info_value(&sv, "backoff").starts_with(|c: char| c.is_ascii_digit())
        });
        let warning =
            format!("{prog}: warning: unable to start ./run: Too many open files (retrying in ");
        for line in err().lines() {
            assert!(line.starts_with(&warning), "{}", err());
        }
        assert_eq!(err().lines().count(), 1, "{}", err());
        assert!(alive(sup.pid()));
        set_soft_limit(sup.pid(), "nofile", &limit, None);
        wait_up(&sv, pid);
        assert_eq!(read(&t.join("starts")).lines().count(), 2);
    }
}

both_modes! {
    fn fork_failing_for_lack_of_processes_is_shown_retried_and_recovered(mode) {
        if !have_root_and_setpriv() {
            return;
        }
        const UID: u32 = 64_731; // used by no other test: RLIMIT_NPROC counts the uid's processes
        let t = TempDir::new(&format!("faults-nproc-{mode:?}"));
        let sv = sleeper(&t);
        chown(&sv, Some(UID), Some(UID)).unwrap();
        fs::write(t.join("starts"), "").unwrap();
        chown(t.join("starts"), Some(UID), Some(UID)).unwrap();
        let (sup, prog) = supervisor(&t, &sv, mode, Some(UID));
        let err = || read(&t.join("stderr"));
        let pid = wait_up(&sv, 0);
        // One process for the uid: the supervisor itself (tend-scan in flat mode). The
        // restart's fork gets EAGAIN.
        let limit = soft_limit(sup.pid(), "Max processes");
        set_soft_limit(sup.pid(), "nproc", "1", Some(UID));
        common::unsafe_kill(pid, 9);
        let warning = format!(
            "{prog}: warning: unable to start ./run: Resource temporarily unavailable (retrying in "
        );
        wait_until(LIMIT, "a warning about the failed start", || {
            err().contains(&warning)
        });
        // Two more failed attempts, each scheduling the next (a new backoff in info), and no
        // second message: the news is the same whatever the retry delay.
        let backoff = || info_value(&sv, "backoff");
        for _ in 0..2 {
            let before = backoff();
            wait_until(LIMIT, "another attempt", || backoff() != before);
        }
        assert_eq!(err().lines().count(), 1, "{}", err());
        // Shown: down, wanted up, and the next attempt scheduled; run itself is fine.
        let shown = svstat(&sv);
        assert!(
            shown.contains(": down ") && shown.contains("want up"),
            "{shown}"
        );
        assert!(
            backoff().starts_with(|c: char| c.is_ascii_digit()),
            "{}",
            backoff()
        );
        assert_eq!(info_value(&sv, "starts"), "1");
        assert_eq!(info_value(&sv, "run"), "ok");
        assert!(alive(sup.pid()));
        set_soft_limit(sup.pid(), "nproc", &limit, Some(UID));
        wait_up(&sv, pid);
        assert_eq!(read(&t.join("starts")).lines().count(), 2);
    }
}

/// tend-scan (in `mode`) on an empty scan dir `sv` in a new temp dir (its stderr in
/// `stderr` there), once it has set up: (the temp dir, the scan dir, the scanner).
fn scanner(name: &str, mode: Mode) -> (TempDir, PathBuf, Daemon) {
    let t = TempDir::new(&format!("{name}-{mode:?}"));
    let scan_dir = t.join("sv");
    fs::create_dir(&scan_dir).unwrap();
    let mut cmd = Command::new(concat!(env!("TEND_BIN_DIR"), "/tend-scan"));
    cmd.args(mode.scan_args())
        .arg(&scan_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(t.join("stderr")).unwrap());
    let scan = Daemon::spawn(&mut cmd);
    // Set up, and asleep in its loop: not holding a descriptor it is about to close
    // (as in its first scan), which a test counting free descriptors would miss.
    wait_until(LIMIT, "tend-scan to set up and wait", || {
        lowest_free_fd(scan.pid()) >= 6
            && read(Path::new(&format!("/proc/{}/wchan", scan.pid()))).contains("poll")
    });
    (t, scan_dir, scan)
}

both_modes! {
    fn out_of_file_descriptors_the_scanner_reports_and_starts_the_rest_later(mode) {
        if !have_prlimit() {
            return;
        }
        let (t, scan_dir, mut scan) = scanner("faults-emfile-scan", mode);
        let err = || read(&t.join("stderr"));
        // Room for a few pipes (two descriptors per logged service) and the spawns, not 8;
        // in flat mode (12 per logged service: its two supervise dirs and the pipe) not even
        // for one. There too tend-scan runs out opening a supervise dir or making a pipe,
        // before a unit has to start ./run without a descriptor: every message is
        // tend-scan's own, about a supervisor it could not start.
        let limit = soft_limit(scan.pid(), "Max open files");
        set_soft_limit(
            scan.pid(),
            "nofile",
            &(lowest_free_fd(scan.pid()) + 10).to_string(),
            None,
        );
        const N: usize = 8;
        for i in 0..N {
            let tmp = t.join(&format!("tmp{i}"));
            write_exec(
                &tmp.join("run"),
                &format!("#!/bin/sh\necho hello s{i}\nexec sleep 1000\n"),
            );
            write_exec(&tmp.join("log/run"), "#!/bin/sh\nexec cat > ./out\n");
            fs::rename(&tmp, scan_dir.join(format!("s{i}"))).unwrap();
        }
        let paired =
            |i: usize| read(&scan_dir.join(format!("s{i}/log/out"))) == format!("hello s{i}\n");
        wait_until(LIMIT, "a warning about a supervisor not started", || {
            err().contains("Too many open files (retrying every 5 seconds)")
        });
        assert!(!scan.exited(), "{}", err());
        assert!(
            (0..N).any(|i| !paired(i)),
            "all {N} started within the limit: make it lower\n{}",
            err()
        );
        for line in err().lines() {
            assert!(
                line.starts_with("tend-scan: warning: unable to start supervisor for s")
                    && line.ends_with(": Too many open files (retrying every 5 seconds)"),
                "{}",
                err()
            );
        }
        set_soft_limit(scan.pid(), "nofile", &limit, None);
        scan.signal(14); // SIGALRM: rescan now, as an admin would
        wait_until(LIMIT, "every service paired with its logger", || {
            (0..N).all(paired)
        });
        scan.signal(15);
        let st = scan.wait_exit(LIMIT);
        assert!(st.success(), "tend-scan exited {st:?}: {}", err());
    }
}

both_modes! {
    fn a_full_scan_that_fails_for_lack_of_descriptors_is_retried(mode) {
        if !have_prlimit() {
            return;
        }
        let (t, scan_dir, mut scan) = scanner("faults-emfile-full-scan", mode);
        let err = || read(&t.join("stderr"));
        // Stopped, out of descriptors, and with its inotify queue overflowed before a service
        // appears: the full scan the overflow calls for cannot open the scan dir, and no
        // event will ever name the service, so only a retried full scan can start it.
        scan.signal(19); // SIGSTOP
        wait_until(LIMIT, "tend-scan to stop", || {
            let stat = read(Path::new(&format!("/proc/{}/stat", scan.pid())));
            stat.rsplit(')')
                .next()
                .unwrap()
                .trim_start()
                .starts_with('T')
        });
        let limit = soft_limit(scan.pid(), "Max open files");
        set_soft_limit(
            scan.pid(),
            "nofile",
            &lowest_free_fd(scan.pid()).to_string(),
            None,
        );
        let queued: usize = read(Path::new("/proc/sys/fs/inotify/max_queued_events"))
            .trim()
            .parse()
            .unwrap();
        let flood = scan_dir.join(".flood");
        for _ in 0..queued / 2 + 100 {
            fs::create_dir(&flood).unwrap();
            fs::remove_dir(&flood).unwrap();
        }
        let tmp = t.join("tmp");
        write_exec(
            &tmp.join("run"),
            "#!/bin/sh\necho up > ../../up\nexec sleep 1000\n",
        );
        fs::rename(&tmp, scan_dir.join("s0")).unwrap();
        scan.signal(18); // SIGCONT
        wait_until(LIMIT, "a warning about the scan", || {
            err().contains("Too many open files (retrying every 5 seconds)")
        });
        assert!(!t.join("up").exists());
        set_soft_limit(scan.pid(), "nofile", &limit, None);
        wait_until(LIMIT, "the service to start, with no signal sent", || {
            t.join("up").exists()
        });
        assert_eq!(err().lines().count(), 1, "{}", err());
        scan.signal(15);
        let st = scan.wait_exit(LIMIT);
        assert!(st.success(), "tend-scan exited {st:?}: {}", err());
    }
}
