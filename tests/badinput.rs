//! Bad input for every program: argv (unknown options, empty strings, huge values, names
//! with spaces, newlines and non-UTF-8 bytes), truncated and oversized status files, junk
//! service-dir settings. Each gets a clear one-line message (or the `fatal` + `usage`
//! pair) and the exit code its man page documents; nothing panics or hangs.
//!
//! The last test is a deterministic fuzz run of the parsers on stable Rust: the same
//! properties as fuzz/fuzz_targets, on inputs from a seeded generator.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;
mod ctl;

use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{run, texts, wait_until, write_exec, Daemon, TempDir, LIMIT};
use ctl::{record, Fake, SVC, SVOK, SVSTAT, SVWAIT};
use tend_core::status::{RunState, Status, Want};

const SUP: &str = concat!(env!("TEND_BIN_DIR"), "/tend-supervise");
const LOG: &str = concat!(env!("TEND_BIN_DIR"), "/tend-log");

fn os(s: &str) -> OsString {
    OsString::from(s)
}

fn bytes(b: &[u8]) -> OsString {
    OsString::from_vec(b.to_vec())
}

/// Runs `path` with `args` (bounded in time, stdin empty, SVDIR set to `svdir`).
fn exec(path: &str, args: &[OsString], svdir: &Path) -> Output {
    let mut cmd = Command::new(path);
    cmd.args(args).env("SVDIR", svdir).current_dir(svdir);
    run(&mut cmd)
}

/// Asserts what every refusal shares: the exit code, no panic, and every stderr line a
/// `PROG: ...` message. Returns stderr.
fn refused(prog: &str, o: &Output, code: i32, what: &str) -> String {
    let (_, err) = texts(o);
    assert!(!err.contains("panicked at"), "{what}: {err}");
    assert_eq!(o.status.code(), Some(code), "{what}: {err}");
    assert!(!err.is_empty(), "{what}: no message");
    for line in err.lines() {
        assert!(line.starts_with(prog), "{what}: {err:?}");
    }
    err
}

/// A usage error: exit 100 and exactly `PROG: fatal: WHY` then `PROG: usage: ...`, or
/// the usage line alone.
fn usage_error(prog: &str, path: &str, args: &[OsString], svdir: &Path) {
    let what = format!("{prog} {args:?}");
    let o = exec(path, args, svdir);
    let err = refused(prog, &o, 100, &what);
    let lines: Vec<&str> = err.lines().collect();
    match lines.as_slice() {
        [fatal, usage] => {
            assert!(
                fatal.starts_with(&format!("{prog}: fatal: ")),
                "{what}: {err:?}"
            );
            assert!(
                usage.starts_with(&format!("{prog}: usage: {prog} ")),
                "{what}: {err:?}"
            );
        }
        [usage] => assert!(
            usage.starts_with(&format!("{prog}: usage: ")),
            "{what}: {err:?}"
        ),
        _ => panic!("{what}: not a usage error: {err:?}"),
    }
    assert!(texts(&o).0.is_empty(), "{what}: wrote to stdout");
}

/// A failure that is not a usage error: `code` and one line per message, no usage line.
fn failed(prog: &str, path: &str, args: &[OsString], svdir: &Path, code: i32) -> String {
    let what = format!("{prog} {args:?}");
    let o = exec(path, args, svdir);
    let err = refused(prog, &o, code, &what);
    assert!(!err.contains(": usage: "), "{what}: {err:?}");
    err
}

/// Names that are hard to print: spaces, a newline, a tab, an escape, non-UTF-8 bytes.
fn odd_names() -> Vec<OsString> {
    vec![
        os("no such service"),
        os("a\nb"),
        os("tab\there"),
        os("esc\x1b[2J"),
        bytes(b"caf\xe9\xff"),
    ]
}

/// A name longer than a path may be (ENAMETOOLONG): a system error, 111.
fn long_name() -> OsString {
    os(&"x".repeat(5000))
}

// ---- argv ---------------------------------------------------------------------------

#[test]
fn svc_bad_argv() {
    let t = TempDir::new("bad-svc");
    let many = format!("-{}", "u".repeat(513));
    for args in [
        vec![],
        vec![os("")],
        vec![os("-u")],
        vec![os("-u"), os("")],
        vec![os("web")],
        vec![os("-z"), os("web")],
        vec![os("-uz"), os("web")],
        vec![os("--up"), os("web")],
        vec![os("--"), os("web")],
        vec![os("-\n"), os("web")],
        vec![bytes(b"-\xff"), os("web")],
        vec![bytes(b"--\xff\n"), os("web")],
        vec![os(&many), os("web")],
        vec![os("-u"), os("web"), os("")],
    ] {
        usage_error("svc", SVC, &args, t.path());
    }
    // Dirs that cannot be controlled: 111, one warning line per dir, and the others are
    // still tried.
    let mut names = odd_names();
    names.push(long_name());
    let mut args = vec![os("-u")];
    args.extend(names.iter().cloned());
    let err = failed("svc", SVC, &args, t.path(), 111);
    assert_eq!(err.lines().count(), names.len(), "{err}");
    assert!(err
        .lines()
        .all(|l| l.starts_with("svc: warning: unable to control ")));
    assert!(err.contains("unable to control a\\nb: "), "{err}");
    assert!(err.contains("unable to control esc\\u{1b}[2J: "), "{err}");
}

#[test]
fn svok_bad_argv() {
    let t = TempDir::new("bad-svok");
    for args in [
        vec![],
        vec![os("")],
        vec![os("a"), os("b")],
        vec![os("-u"), os("a")],
        vec![os("--help")],
        vec![bytes(b"-\xff")],
        vec![os("-\n")],
    ] {
        usage_error("svok", SVOK, &args, t.path());
    }
    // No supervisor (no such dir): 100 and one line saying so, as the man page says.
    for name in odd_names() {
        let o = exec(SVOK, std::slice::from_ref(&name), t.path());
        assert_eq!(o.status.code(), Some(100), "{name:?}");
        let err = texts(&o).1;
        assert!(
            err.starts_with("svok: fatal: unable to open ")
                && err.ends_with(": file does not exist\n")
                && err.lines().count() == 1,
            "{name:?}: {err}"
        );
    }
    let err = failed("svok", SVOK, &[long_name()], t.path(), 111);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("svok: fatal: unable to open "), "{err}");
}

#[test]
fn svstat_bad_argv() {
    let t = TempDir::new("bad-svstat");
    for args in [
        vec![],
        vec![os("")],
        vec![os("a"), os("")],
        vec![os("-v"), os("a")],
        vec![os("--"), os("")],
        vec![bytes(b"--x\xff"), os("a")],
    ] {
        usage_error("svstat", SVSTAT, &args, t.path());
    }
    // Unsupervised (missing) dirs: 1, one warning line each.
    let names = odd_names();
    let err = failed("svstat", SVSTAT, &names, t.path(), 1);
    assert_eq!(err.lines().count(), names.len(), "{err}");
    assert!(err
        .lines()
        .all(|l| l.starts_with("svstat: warning: unable to read status of ")));
    // With a name it cannot even try: the highest code, 111, and still one line each.
    let mut args = names.clone();
    args.push(long_name());
    let err = failed("svstat", SVSTAT, &args, t.path(), 111);
    assert_eq!(err.lines().count(), args.len(), "{err}");
}

#[test]
fn svwait_bad_argv() {
    let t = TempDir::new("bad-svwait");
    for args in [
        vec![],
        vec![os("a")],
        vec![os("-u")],
        vec![os("-u"), os("")],
        vec![os("-u"), os("-d"), os("a")],
        vec![os("-x"), os("a")],
        vec![os("-u"), os("a"), os("-t")],
        vec![os("-u"), os("-t"), os(""), os("a")],
        vec![os("-u"), os("-t"), os("99999999999999999999s"), os("a")],
        vec![os("-u"), os("-t"), os("99999999999999999999"), os("a")],
        vec![os("-u"), os("-t"), os("600000000000 years"), os("a")],
        vec![os("-u"), os("-t"), os("-5"), os("a")],
        vec![os("-u"), os("-t"), os("5 parsecs"), os("a")],
        vec![os("-u"), os("-t"), bytes(b"5\xffs"), os("a")],
        vec![os("-\n"), os("a")],
    ] {
        usage_error("svwait", SVWAIT, &args, t.path());
    }
    // The largest timeout in ms is accepted (as "no timeout"); a dir whose parent does not
    // exist cannot be watched: 111 at once, not a hang.
    let err = failed(
        "svwait",
        SVWAIT,
        &[
            os("-d"),
            os("-t"),
            os("18446744073709551615"),
            os("/nonexistent/tend/web"),
        ],
        t.path(),
        111,
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("svwait: fatal: unable to watch "), "{err}");
    // Odd names under $SVDIR that do not exist: svwait waits for them to appear, until the
    // timeout; the message is one line.
    for name in odd_names() {
        let args = [os("-u"), os("-t"), os("100ms"), name.clone()];
        let err = failed("svwait", SVWAIT, &args, t.path(), 1);
        assert_eq!(err.lines().count(), 1, "{name:?}: {err}");
        assert!(
            err.starts_with("svwait: fatal: timed out waiting for "),
            "{err}"
        );
    }
    let args = [os("-u"), os("-t"), os("100ms"), long_name()];
    let err = failed("svwait", SVWAIT, &args, t.path(), 111);
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn tend_supervise_bad_argv() {
    let t = TempDir::new("bad-supervise");
    for args in [
        vec![],
        vec![os("")],
        vec![os("a"), os("b")],
        vec![os("-z")],
        vec![os("--help")],
        vec![os("-\n")],
        vec![bytes(b"--\xff")],
    ] {
        usage_error("tend-supervise", SUP, &args, t.path());
    }
    // Dirs it cannot enter: 111, one line.
    for name in odd_names().into_iter().chain([long_name()]) {
        let err = failed(
            "tend-supervise",
            SUP,
            std::slice::from_ref(&name),
            t.path(),
            111,
        );
        assert_eq!(err.lines().count(), 1, "{name:?}: {err}");
        assert!(err.contains(": fatal: unable to chdir to "), "{err}");
    }
    // A supervise that is a file, not a directory: 100.
    write_exec(&t.join("filesup/run"), "#!/bin/sh\nexec sleep 1000\n");
    fs::write(t.join("filesup/supervise"), "").unwrap();
    let err = failed("tend-supervise", SUP, &[os("filesup")], t.path(), 100);
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn tend_log_bad_argv() {
    let t = TempDir::new("bad-log");
    let dir = t.join("logdir");
    let d = dir.as_os_str().to_owned();
    for args in [
        vec![],
        vec![os("")],
        vec![d.clone(), d.clone()],
        vec![os("-z"), d.clone()],
        vec![os("-t"), os("utc"), d.clone()],
        vec![os("-t"), bytes(b"iso\xff"), d.clone()],
        vec![os("-s"), os(""), d.clone()],
        vec![os("-s"), os("99999999999999999999"), d.clone()],
        vec![os("-s"), os("99999999999G"), d.clone()],
        vec![os("-s"), os("-1"), d.clone()],
        vec![os("-S"), os("1T"), d.clone()],
        vec![os("-n"), os("-1"), d.clone()],
        vec![os("-n"), os("99999999999999999999999"), d.clone()],
        vec![os("-l"), os("0"), d.clone()],
        vec![os("-l"), os("2G"), d.clone()],
        vec![os("-f"), os("panic"), d.clone()],
        vec![os("-u"), bytes(b"\xff"), d.clone()],
        vec![os("-\n"), d.clone()],
        vec![d.clone(), os("-s")],
    ] {
        usage_error("tend-log", LOG, &args, t.path());
    }
    assert!(!dir.exists(), "a refused command line created the logdir");
    // An unknown user: 100 (man page), one line.
    let args = [os("-u"), os("no such user\n"), d.clone()];
    let err = failed("tend-log", LOG, &args, t.path(), 100);
    assert_eq!(err.lines().count(), 1, "{err}");
    // Odd logdir names are just names: empty input, exit 0.
    for name in odd_names() {
        let o = exec(LOG, std::slice::from_ref(&name), t.path());
        assert_eq!(o.status.code(), Some(0), "{name:?}: {}", texts(&o).1);
        assert!(t.path().join(&name).join("current").exists(), "{name:?}");
    }
    // A logdir name longer than a file name may be: 111, one line.
    let err = failed("tend-log", LOG, &[long_name()], t.path(), 111);
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// Runs tend-scan, svactivate or svdeactivate with a live dir `t/sv`, an empty install
/// dir `t/rc` and no policy file.
fn exec_live(path: &str, args: &[OsString], t: &TempDir, live: &Path) -> Output {
    let _ = fs::create_dir_all(t.join("rc"));
    let mut cmd = Command::new(path);
    cmd.args(args)
        .current_dir(t.path())
        .env("SVDIR", live)
        .env("TEND_INSTALL_DIR", t.join("rc"))
        .env("TEND_LOG_ROOT", t.join("logs"))
        .env("TEND_LOG_CONF", "");
    run(&mut cmd)
}

const SCAN: &str = concat!(env!("TEND_BIN_DIR"), "/tend-scan");
const ACTIVATE: &str = concat!(env!("TEND_BIN_DIR"), "/svactivate");
const DEACTIVATE: &str = concat!(env!("TEND_BIN_DIR"), "/svdeactivate");

#[test]
fn tend_scan_bad_argv() {
    let t = TempDir::new("bad-scan");
    // $SVDIR does not exist, so no case can start a scanner that runs on.
    let live = t.join("nowhere");
    for args in [
        vec![os("-z")],
        vec![os("--help")],
        vec![os("a"), os("b")],
        vec![os("-t")],
        vec![os("-t"), os(""), os("a")],
        vec![os("-t"), os("soon"), os("a")],
        vec![os("-t"), os("99999999999999999999s"), os("a")],
        vec![os("-t"), os("-5"), os("a")],
        vec![os("-t"), bytes(b"5\xffs"), os("a")],
        vec![os("-\n")],
    ] {
        let what = format!("tend-scan {args:?}");
        let o = exec_live(SCAN, &args, &t, &live);
        let err = refused("tend-scan", &o, 100, &what);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 2, "{what}: {err:?}");
        assert!(
            lines[0].starts_with("tend-scan: fatal: "),
            "{what}: {err:?}"
        );
        assert!(
            lines[1].starts_with("tend-scan: usage: "),
            "{what}: {err:?}"
        );
    }
    // Scan dirs it cannot enter (the default included): 111, one line.
    let names = [vec![]]
        .into_iter()
        .chain(odd_names().into_iter().map(|n| vec![n]))
        .chain([vec![long_name()]]);
    for args in names {
        let what = format!("tend-scan {args:?}");
        let o = exec_live(SCAN, &args, &t, &live);
        let err = refused("tend-scan", &o, 111, &what);
        assert_eq!(err.lines().count(), 1, "{what}: {err:?}");
        assert!(err.starts_with("tend-scan: fatal: "), "{what}: {err:?}");
    }
}

#[test]
fn svactivate_and_svdeactivate_bad_argv() {
    let t = TempDir::new("bad-activate");
    let live = t.join("sv");
    fs::create_dir_all(&live).unwrap();
    for (prog, path) in [("svactivate", ACTIVATE), ("svdeactivate", DEACTIVATE)] {
        let mut cases = vec![
            vec![],
            vec![os("-z"), os("web")],
            vec![os("-t")],
            vec![os("-t"), os(""), os("web")],
            vec![os("-t"), os("99999999999999999999s"), os("web")],
            vec![os("-t"), os("99999999999999999999"), os("web")],
            vec![os("-t"), os("-5"), os("web")],
            vec![os("-t"), bytes(b"\xff"), os("web")],
            vec![os("-\n"), os("web")],
            vec![bytes(b"--\xff"), os("web")],
        ];
        if prog == "svactivate" {
            cases.push(vec![os("-n"), os("-t"), os("1s"), os("web")]);
            cases.push(vec![os("--all"), os("web")]);
        }
        for args in cases {
            let what = format!("{prog} {args:?}");
            let o = exec_live(path, &args, &t, &live);
            let err = refused(prog, &o, 100, &what);
            assert!(err.lines().count() <= 2, "{what}: {err:?}");
            assert!(err.contains(&format!("{prog}: usage: ")), "{what}: {err:?}");
        }
        // Bad names: 100, one line each, and every name is tried.
        let bad = [
            os(""),
            os("a/b"),
            os("/abs"),
            os(".hidden"),
            os(".."),
            os("."),
        ];
        let mut args = if prog == "svactivate" {
            vec![os("-n")]
        } else {
            vec![]
        };
        args.extend(bad.iter().cloned());
        let what = format!("{prog} {args:?}");
        let o = exec_live(path, &args, &t, &live);
        let err = refused(prog, &o, 100, &what);
        assert_eq!(err.lines().count(), bad.len(), "{what}: {err:?}");
        assert!(!err.contains(": usage: "), "{what}: {err:?}");
    }
    // Odd names: with control characters or not UTF-8 they are bad names (100, as the
    // man pages say); with spaces they are names, not installed (svactivate 100) or
    // never there (svdeactivate 0). One line per failing name.
    let names = odd_names();
    let mut args = vec![os("-n")];
    args.extend(names.iter().cloned());
    let o = exec_live(ACTIVATE, &args, &t, &live);
    let err = refused("svactivate", &o, 100, "odd names");
    assert_eq!(err.lines().count(), names.len(), "{err:?}");
    let o = exec_live(DEACTIVATE, &names, &t, &live);
    let err = refused("svdeactivate", &o, 100, "odd names");
    assert_eq!(err.lines().count(), names.len() - 1, "{err:?}");
    let o = exec_live(DEACTIVATE, &[os("no such service")], &t, &live);
    assert_eq!(o.status.code(), Some(0), "{}", texts(&o).1);
    for (prog, path) in [("svactivate", ACTIVATE), ("svdeactivate", DEACTIVATE)] {
        let args = if prog == "svactivate" {
            vec![os("-n"), long_name()]
        } else {
            vec![long_name()]
        };
        let o = exec_live(path, &args, &t, &live);
        let (_, err) = texts(&o);
        assert!(!err.contains("panicked"), "{prog}: {err}");
        assert!(
            matches!(o.status.code(), Some(0 | 100 | 111)),
            "{prog}: {err}"
        );
        assert!(err.lines().count() <= 1, "{prog}: {err:?}");
    }
    assert_eq!(
        fs::read_dir(&live).unwrap().count(),
        0,
        "the live dir changed"
    );
}

// ---- status files ---------------------------------------------------------------------

#[test]
fn truncated_and_oversized_status_files() {
    let t = TempDir::new("bad-status");
    let dir = t.join("web");
    let f = Fake::new(&dir);
    let good = record(RunState::Run, 77, Want::Up, 3).encode();
    let arg = [dir.as_os_str().to_owned()];
    for size in [0usize, 1, 17, 19, 21, 35, 64, 1 << 20] {
        let data: Vec<u8> = good.iter().copied().cycle().take(size).collect();
        f.replace("status", &data);
        let shown = if size >= 64 {
            "at least 64 bytes".to_string()
        } else {
            format!("{size} bytes")
        };
        let want = format!(
            "unable to read {}/supervise/status: bad format ({shown})\n",
            dir.display()
        );
        // svstat: 111 (man page: a malformed status file), one warning line.
        let o = exec(SVSTAT, &arg, t.path());
        assert_eq!(
            refused("svstat", &o, 111, "svstat"),
            format!("svstat: warning: {want}")
        );
        assert!(texts(&o).0.is_empty());
        // svwait: 111 for every goal, one fatal line, at once.
        for goal in ["-u", "-d", "-r"] {
            let args = [os(goal), os("-t"), os("20s"), arg[0].clone()];
            let err = failed("svwait", SVWAIT, &args, t.path(), 111);
            assert_eq!(err, format!("svwait: fatal: {want}"), "{goal} {size}");
        }
        // svok looks at the ok fifo only: still supervised.
        let o = exec(SVOK, &arg, t.path());
        assert_eq!(o.status.code(), Some(0), "{}", texts(&o).1);
    }
    // 18 (daemontools) and 20 bytes are read.
    for rec in [&good[..18], &good[..]] {
        f.replace("status", rec);
        let o = exec(SVSTAT, &arg, t.path());
        assert_eq!(o.status.code(), Some(0), "{}", texts(&o).1);
        assert!(texts(&o).0.contains(": up (pid 77) "), "{}", texts(&o).0);
    }
    // Any 20 bytes are a record: unknown want and state bytes read as "no wish", "down".
    let mut junk = [0xffu8; 20];
    junk[12..16].copy_from_slice(&0u32.to_le_bytes());
    f.replace("status", &junk);
    let o = exec(SVSTAT, &arg, t.path());
    assert_eq!(o.status.code(), Some(0), "{}", texts(&o).1);
    assert!(texts(&o).0.contains(": down "), "{}", texts(&o).0);
    let o = exec(SVWAIT, &[os("-d"), arg[0].clone()], t.path());
    assert_eq!(o.status.code(), Some(0), "{}", texts(&o).1);
    // Junk in info is ignored.
    f.replace(
        "info",
        &[0xff, b'\n', 0, b'r', b'e', b'a', b'd', b'y', b' ', b'@'],
    );
    let o = exec(SVSTAT, &arg, t.path());
    assert_eq!(o.status.code(), Some(0), "{}", texts(&o).1);
    drop(f);
}

// ---- service-dir settings -------------------------------------------------------------

/// Starts tend-supervise on `sv` in `t` with these settings files; waits until the
/// service is up, checks that each file got exactly one warning line, then that the
/// supervisor still obeys `d` and `u`.
fn junk_settings(name: &str, files: &[(&str, &[u8])]) {
    let t = TempDir::new(name);
    let sv = t.join("sv");
    write_exec(&sv.join("run"), "#!/bin/sh\nexec sleep 1000\n");
    for (file, data) in files {
        fs::write(sv.join(file), data).unwrap();
    }
    let stderr = t.join("stderr");
    let err_file = fs::File::create(&stderr).unwrap();
    let mut sup = Daemon::spawn(
        Command::new(SUP)
            .arg("sv")
            .current_dir(t.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err_file),
    );
    let read_status = || Status::decode(&fs::read(sv.join("supervise/status")).unwrap_or_default());
    let up = || read_status().is_some_and(|s| s.state == RunState::Run && s.pid != 0);
    wait_until(LIMIT, "the service to be up", up);
    let err = || fs::read_to_string(&stderr).unwrap_or_default();
    wait_until(LIMIT, "one warning per file", || {
        err().lines().count() >= files.len()
    });
    // Observation window, not synchronisation: a second warning for a file would come now.
    std::thread::sleep(Duration::from_millis(100));
    let err = err();
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.lines().count(), files.len(), "{err}");
    for (file, _) in files {
        let head = format!("tend-supervise sv: warning: ignoring {file}: ");
        assert_eq!(
            err.lines().filter(|l| l.starts_with(&head)).count(),
            1,
            "{file}: {err}"
        );
    }
    // Defaults apply: TERM brings it down, and it comes back up.
    let ctl = |b: &[u8]| {
        let o = run(Command::new(SVC)
            .arg(format!("-{}", String::from_utf8_lossy(b)))
            .arg(&sv));
        assert_eq!(o.status.code(), Some(0), "{}", texts(&o).1);
    };
    ctl(b"d");
    wait_until(LIMIT, "the service to be down", || {
        read_status().is_some_and(|s| s.state == RunState::Down)
    });
    ctl(b"u");
    wait_until(LIMIT, "the service to be up again", up);
    assert!(!sup.exited(), "the supervisor exited");
    ctl(b"dx");
    let st = sup.wait_exit(LIMIT);
    assert_eq!(st.code(), Some(0));
}

#[test]
fn settings_with_binary_junk() {
    junk_settings(
        "bad-settings-binary",
        &[
            ("notification-fd", b"\xff\xfe\x00\n"),
            ("timeout-kill", b"\x00\x01\x02"),
            ("timeout-finish", b"\x1b[2J\n5"),
            ("down-signal", b"\xc3\x28"),
            ("control-group", b"\x00\n\x00"),
        ],
    );
}

#[test]
fn settings_with_huge_numbers() {
    junk_settings(
        "bad-settings-huge",
        &[
            ("notification-fd", b"99999999999999999999\n"),
            ("timeout-kill", b"18446744073709551616\n"),
            ("timeout-finish", b"2147483649\n"),
            ("down-signal", b"4294967311\n"),
            ("control-group", b"99999999999999999999\n"),
        ],
    );
}

#[test]
fn settings_with_negative_numbers() {
    junk_settings(
        "bad-settings-negative",
        &[
            ("notification-fd", b"-3\n"),
            ("timeout-kill", b"-1\n"),
            ("timeout-finish", b"-5000\n"),
            ("down-signal", b"-15\n"),
            ("control-group", b"-1\n"),
        ],
    );
}

#[test]
fn settings_longer_than_64_bytes() {
    let long = [b'7'; 65];
    let lines = "1\n".repeat(40);
    junk_settings(
        "bad-settings-long",
        &[
            ("notification-fd", &long),
            ("timeout-kill", &long),
            ("timeout-finish", lines.as_bytes()),
            ("down-signal", &[b'A'; 1 << 16]),
            ("control-group", &long),
        ],
    );
}

#[test]
fn settings_with_several_lines() {
    junk_settings(
        "bad-settings-lines",
        &[
            ("notification-fd", b"3\n4\n"),
            ("timeout-kill", b"5\n\ntend-supervise sv: fatal: forged\n"),
            ("timeout-finish", b"1 2"),
            ("down-signal", b"TERM\nKILL"),
            ("control-group", b"root\nroot"),
        ],
    );
}

// ---- a fuzz run on stable -------------------------------------------------------------

/// xorshift64*: a small deterministic generator, so a failure names its seed and input.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// Random bytes, or a seed from `dict` mutated a little: the mix a fuzzer explores.
    fn input(&mut self, dict: &[&[u8]]) -> Vec<u8> {
        let mut v: Vec<u8> = if self.below(3) == 0 || dict.is_empty() {
            let n = self.below(48);
            (0..n).map(|_| self.next() as u8).collect()
        } else {
            dict[self.below(dict.len())].to_vec()
        };
        for _ in 0..self.below(4) {
            let at = self.below(v.len() + 1);
            match self.below(4) {
                0 if at < v.len() => v[at] = self.next() as u8,
                1 if at < v.len() => {
                    v.remove(at);
                }
                2 => v.insert(at, b"\n -+@0123456789abcdefxyz\xff"[self.below(25)]),
                _ => {
                    let d = dict
                        .get(self.below(dict.len()))
                        .copied()
                        .unwrap_or_default();
                    v.splice(at..at, d.iter().copied());
                }
            }
        }
        v
    }
}

#[test]
fn parsers_hold_their_properties_on_random_and_mutated_input() {
    use tend_core::cmd::parse_signal;
    use tend_core::info::Info;
    use tend_core::procstat;
    use tend_core::report::{signal_name, status_line};
    use tend_core::svdir::{one_line, parse_ms};
    use tend_core::tai::Tai64n;
    use tend_logger::config::parse_size;
    use tend_logger::scan::{cut_point, find_newline};

    let rec = record(RunState::Run, 7403, Want::Up, 5).encode();
    let info = tend_core::info::Info {
        ready: Some(Tai64n::now()),
        ..Info::default()
    }
    .encode();
    let dict: Vec<&[u8]> = vec![
        &rec,
        &rec[..18],
        info.as_bytes(),
        b"@400000006b072ba734598aec",
        b"SIGTERM",
        b"usr1",
        b"15",
        b"2147483648",
        b"18446744073709551615",
        b"64k",
        b"3G",
        b"4242 (a) b) S 1 4242 4242 0 -1 4194560 104 0 0 0 0 0 0 0 20 0 1 0 987654 2330624",
        "h\u{e9}\u{20ac}\u{1f600}".as_bytes(),
    ];
    let mut rng = Rng(0x7e4d_5eed_0000_0001);
    for i in 0..20_000 {
        let data = rng.input(&dict);
        let text = String::from_utf8_lossy(&data);
        let ctx = || format!("input {i}: {data:?}");

        let st = Status::decode(&data);
        assert_eq!(
            st.is_some(),
            data.len() == 18 || data.len() == 20,
            "{}",
            ctx()
        );
        if let Some(st) = st {
            assert_eq!(Status::decode(&st.encode()), Some(st), "{}", ctx());
            let now = Tai64n::unpack(&[data[0]; 12]);
            let line = status_line(&st, Some(&Info::decode(&text)), data[0] & 1 == 0, now);
            assert!(!line.contains('\n'), "{}", ctx());
        }

        let inf = Info::decode(&text);
        assert_eq!(Info::decode(&inf.encode()), inf, "{}", ctx());

        if let Some(sig) = parse_signal(&text) {
            let n = sig.as_raw();
            assert!((1..=64).contains(&n), "{}", ctx());
            if n <= 31 {
                assert_eq!(parse_signal(&signal_name(n)), Some(sig), "{}", ctx());
            }
        }
        if let Some(ms) = parse_ms(&text) {
            assert!(ms <= 1 << 31, "{}", ctx());
        }
        if let Some(size) = parse_size(&text) {
            let digits = text.trim_end_matches(['k', 'K', 'm', 'M', 'g', 'G']);
            assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{}", ctx());
            assert!(size >= digits.parse::<u64>().unwrap_or(0), "{}", ctx());
        }
        let hex = Tai64n::parse_hex(&text);
        let want = text.len() == 25
            && text.starts_with('@')
            && text.bytes().skip(1).all(|b| b.is_ascii_hexdigit());
        assert_eq!(hex.is_some(), want, "{}", ctx());
        if let Some(t) = hex {
            assert_eq!(t.to_hex(), text.to_ascii_lowercase(), "{}", ctx());
        }
        if let Some(b) = data.first_chunk::<12>() {
            let t = Tai64n::unpack(b);
            assert_eq!(&t.pack(), b, "{}", ctx());
            let _ = t.to_system();
        }
        let _ = procstat::parse(&text);
        assert!(!one_line(&text).chars().any(char::is_control), "{}", ctx());

        assert_eq!(
            find_newline(&data),
            data.iter().position(|&b| b == b'\n'),
            "{}",
            ctx()
        );
        if !data.is_empty() {
            let max = rng.below(data.len());
            let cut = cut_point(&data, max);
            assert!(cut <= max && cut + 3 >= max, "{}", ctx());
            if let Ok(s) = std::str::from_utf8(&data) {
                assert!(s.is_char_boundary(cut), "{}", ctx());
            }
        }
    }
}

#[test]
fn names_are_shown_on_one_line_by_every_tool() {
    // One more check of the message helper through a real program: svc names a dir
    // whose name holds every control character.
    let t = TempDir::new("bad-names");
    let name: Vec<u8> = (1u8..32).chain([127]).collect();
    let o = exec(SVC, &[os("-u"), bytes(&name)], t.path());
    let err = refused("svc", &o, 111, "control characters");
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(
        !err.trim_end_matches('\n').chars().any(char::is_control),
        "{err:?}"
    );
}
