//! tend-log's selection, prefix, alerts, rotation by age and svlogd's `config` file, run
//! for real (and against the real svlogd where it is installed).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use std::fs;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{feed, texts, wait_until, Daemon, TempDir, LIMIT};

const SVLOGD: &str = "/usr/bin/svlogd";

fn tend_log() -> Command {
    Command::new(concat!(env!("TEND_BIN_DIR"), "/tend-log"))
}

/// A tend-log running on a pipe the test writes.
struct Live {
    d: Daemon,
    wr: fs::File,
    #[allow(dead_code)] // holds the pipe open, as the scanner does
    rd: OwnedFd,
    stderr: PathBuf,
}

fn live(t: &TempDir, args: &[&str], dirs: &[&Path]) -> Live {
    let (rd, wr) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
    let stderr = t.join("stderr");
    let mut cmd = tend_log();
    cmd.args(args)
        .args(dirs)
        .stdin(Stdio::from(rd.try_clone().unwrap()))
        .stderr(fs::File::create(&stderr).unwrap());
    Live {
        d: Daemon::spawn(&mut cmd),
        wr: fs::File::from(wr),
        rd,
        stderr,
    }
}

fn read(path: &Path) -> String {
    common::read(path)
}

/// Archive names in the logdir, sorted (= oldest first).
fn archives(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('@'))
        .collect();
    v.sort();
    v
}

/// Archives (oldest first), then current.
fn joined(dir: &Path) -> String {
    let mut s: String = archives(dir).iter().map(|a| read(&dir.join(a))).collect();
    s.push_str(&read(&dir.join("current")));
    s
}

/// Polls `cond` for `span`; fails the test as soon as it does not hold.
fn stays(span: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + span;
    while Instant::now() < end {
        assert!(cond(), "{what} stopped holding");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn logdir_with(t: &TempDir, name: &str, config: &str) -> PathBuf {
    let dir = t.join(name);
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("config"), config).unwrap();
    dir
}

/// Lines that exercise svlogd's patterns: its man page's example, stars that stop early,
/// pluses, and its quirk of a plus that reaches the end of the line.
const INPUT: &str = "tcpsvd: info: pid 1977 from 10.4.1.14\n\
    tcpsvd: info: end 1977 exit 0\n\
    web: fatal: out of memory\n\
    web: warning: slow\n\
    aaab\n\
    abb\n\
    debug: x\n\
    \n\
    debug: fatal: boring\n\
    tcpsvd: info: pid 12 from fatal\n";

#[test]
fn a_config_selects_prefixes_and_alerts_the_same_lines_as_svlogd() {
    if !Path::new(SVLOGD).exists() {
        eprintln!("skipping: {SVLOGD} is not installed");
        return;
    }
    let t = TempDir::new("select-svlogd");
    let config = "# svlogd(8)'s example, and more\n-*\n+*: *: pid *\n+*: fatal: *\n\
                  +a+bxyz\n-*fatal: boring\ne*fatal*\nE*pid*\npsrv \n";
    let ours = logdir_with(&t, "ours", config);
    let theirs = logdir_with(&t, "theirs", config);
    let o = feed(tend_log().args(["-t", "none"]).arg(&ours), INPUT.as_bytes());
    let s = feed(Command::new(SVLOGD).arg(&theirs), INPUT.as_bytes());
    let ((_, our_err), (_, their_err)) = (texts(&o), texts(&s));
    assert!(
        o.status.success() && s.status.success(),
        "{our_err} {their_err}"
    );
    let current = read(&ours.join("current"));
    assert_eq!(current, read(&theirs.join("current")), "{}", t.listing());
    assert_eq!(
        current,
        "srv tcpsvd: info: pid 1977 from 10.4.1.14\nsrv web: fatal: out of memory\n\
         srv abb\nsrv tcpsvd: info: pid 12 from fatal\n"
    );
    assert_eq!(our_err, their_err);
    assert_eq!(
        our_err,
        "srv web: fatal: out of memory\nsrv debug: fatal: boring\n"
    );
}

#[test]
fn every_config_line_kind_applies_and_a_hup_reads_the_file_again() {
    let t = TempDir::new("select-hup");
    let config = "s4096\nn5\nN2\nt3600\n!cat\nu127.0.0.1:9\npweb: \n-*debug*\ne*fatal*\n";
    let dir = logdir_with(&t, "log", config);
    let mut l = live(&t, &["-t", "none", "-s", "1M", "-n", "1"], &[&dir]);
    l.wr.write_all(b"one\ndebug two\nthree fatal\n").unwrap();
    wait_until(LIMIT, "line three", || {
        read(&dir.join("current")).contains("three")
    });
    assert_eq!(read(&dir.join("current")), "web: one\nweb: three fatal\n");
    wait_until(LIMIT, "the alert", || !read(&l.stderr).is_empty());
    assert_eq!(read(&l.stderr), "web: three fatal\n");
    // A new file: another prefix, the debug lines back, the others out.
    fs::write(dir.join("config"), "pnew: \n-*\n+*debug*\n").unwrap();
    l.d.signal(1);
    // tend-log takes a signal before input that comes after it: the handler runs before
    // tend-log returns to reading.
    l.wr.write_all(b"four\ndebug five\nsix fatal\n").unwrap();
    wait_until(LIMIT, "line five", || {
        read(&dir.join("current")).contains("five")
    });
    drop(l.wr);
    assert!(l.d.wait_exit(LIMIT).success(), "{}", read(&l.stderr));
    assert_eq!(
        read(&dir.join("current")),
        "web: one\nweb: three fatal\nnew: debug five\n"
    );
    assert_eq!(
        read(&l.stderr),
        "web: three fatal\n",
        "no alert rule any more"
    );
}

#[test]
fn a_bad_config_line_is_named_and_skipped_and_the_rest_applies() {
    let t = TempDir::new("select-bad");
    let dir = logdir_with(&t, "log", "pok: \nbogus\nt1d\n-*no*\n");
    let o = feed(tend_log().args(["-t", "none"]).arg(&dir), b"yes\nno\n");
    let (_, err) = texts(&o);
    assert!(o.status.success(), "{err}");
    let d = dir.display();
    assert_eq!(
        err,
        format!(
            "tend-log: warning: {d}/config line 2: unknown setting \"bogus\": line skipped\n\
             tend-log: warning: {d}/config line 3: bad age \"1d\" (want seconds, or digits \
             then m or h): line skipped\n"
        )
    );
    assert_eq!(read(&dir.join("current")), "ok: yes\n");
}

#[test]
fn current_is_rotated_by_age_without_further_input_and_never_when_empty() {
    let t = TempDir::new("select-age");
    let dir = logdir_with(&t, "log", "t1\n");
    let mut l = live(&t, &["-t", "none"], &[&dir]);
    wait_until(LIMIT, "current", || dir.join("current").exists());
    // Empty: no rotation, however long.
    stays(Duration::from_millis(1500), "no archive", || {
        dir.join("current").exists() && archives(&dir).is_empty()
    });
    l.wr.write_all(b"one\n").unwrap();
    wait_until(LIMIT, "an archive", || archives(&dir).len() == 1);
    assert_eq!(fs::read(dir.join(&archives(&dir)[0])).unwrap(), b"one\n");
    stays(Duration::from_millis(1500), "a single archive", || {
        archives(&dir).len() == 1
    });
    drop(l.wr);
    assert!(l.d.wait_exit(LIMIT).success(), "{}", read(&l.stderr));
    assert_eq!(read(&dir.join("current")), "");
    assert_eq!(read(&l.stderr), "");
}

#[test]
fn two_logdirs_take_different_lines_and_rotate_at_their_own_sizes() {
    let t = TempDir::new("select-two");
    let all = logdir_with(&t, "all", "s4096\nn0\n-*debug*\n");
    let debug = logdir_with(&t, "debug", "s100000\n-*\n+*debug*\npdbg \n");
    let mut input = String::new();
    let (mut want_all, mut want_debug) = (String::new(), String::new());
    for i in 0..400 {
        let line = if i % 4 == 0 {
            format!("debug line {i:04} ..........\n")
        } else {
            format!("info line {i:04} ...........\n")
        };
        input.push_str(&line);
        if i % 4 == 0 {
            want_debug.push_str(&format!("dbg {line}"));
        } else {
            want_all.push_str(&line);
        }
    }
    let o = feed(
        tend_log().args(["-t", "none"]).arg(&all).arg(&debug),
        input.as_bytes(),
    );
    let (_, err) = texts(&o);
    assert!(o.status.success() && err.is_empty(), "{err}");
    assert_eq!(joined(&all), want_all);
    assert_eq!(joined(&debug), want_debug);
    assert!(!archives(&all).is_empty(), "{}", t.listing());
    assert!(archives(&all)
        .iter()
        .all(|a| fs::metadata(all.join(a)).unwrap().len() <= 4096));
    assert!(archives(&debug).is_empty(), "{}", t.listing());
}

#[test]
fn sigterm_with_two_logdirs_leaves_what_neither_wrote_in_the_pipe() {
    let t = TempDir::new("select-two-term");
    let a = logdir_with(&t, "a", "-* odd\n");
    let b = logdir_with(&t, "b", "");
    let mut l = live(&t, &["-t", "none"], &[&a, &b]);
    l.wr.write_all(b"one even\ntwo odd\nthr").unwrap();
    wait_until(LIMIT, "the lines", || {
        read(&b.join("current")).ends_with("thr")
    });
    l.d.signal(19); // SIGSTOP: what follows is in the pipe when TERM arrives
    wait_until(LIMIT, "stopped", || {
        fs::read_to_string(format!("/proc/{}/stat", l.d.pid())).is_ok_and(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('T'))
        })
    });
    l.wr.write_all(b"ee odd\nfour even\nfi").unwrap();
    l.d.signal(15);
    l.d.signal(18);
    assert!(l.d.wait_exit(LIMIT).success(), "{}", read(&l.stderr));
    // "three odd" was judged on its start, "thr", written when the input went idle
    // (tend-log(8), "Patterns"): selected.
    assert_eq!(read(&a.join("current")), "one even\nthree odd\nfour even\n");
    assert_eq!(
        read(&b.join("current")),
        "one even\ntwo odd\nthree odd\nfour even\n"
    );
    // The next tend-log gets the rest.
    let mut cmd = tend_log();
    cmd.args(["-t", "none"])
        .arg(&a)
        .arg(&b)
        .stdin(Stdio::from(l.rd.try_clone().unwrap()));
    let mut next = Daemon::spawn(&mut cmd);
    l.wr.write_all(b"ve\n").unwrap();
    drop(l.wr);
    drop(l.rd);
    assert!(next.wait_exit(LIMIT).success());
    assert_eq!(
        read(&b.join("current")),
        "one even\ntwo odd\nthree odd\nfour even\nfive\n"
    );
    assert_eq!(
        read(&a.join("current")),
        "one even\nthree odd\nfour even\nfive\n"
    );
}

#[test]
fn command_line_rules_apply_to_the_next_logdir_with_alerts_and_a_status_file() {
    let t = TempDir::new("select-cli");
    let (x, y, st) = (t.join("x"), t.join("y"), t.join("status"));
    let mut l = live(
        &t,
        &[
            "-t",
            "none",
            "-r",
            "-*debug*",
            "-r",
            "e*fatal*",
            "-w",
            st.to_str().unwrap(),
            x.to_str().unwrap(),
            "-r",
            "-*",
            "-r",
            "+debug*",
        ],
        &[&y],
    );
    l.wr.write_all(b"a\ndebug b\nfatal c\n").unwrap();
    wait_until(LIMIT, "line c", || {
        read(&x.join("current")).contains("fatal c")
    });
    assert_eq!(read(&x.join("current")), "a\nfatal c\n");
    wait_until(LIMIT, "the status", || read(&st).starts_with("fatal c\n"));
    let status = fs::read(&st).unwrap();
    assert_eq!(status.len(), 1001);
    assert!(status[7..].iter().all(|&b| b == b'\n'));
    let inode = |p: &Path| std::os::unix::fs::MetadataExt::ino(&fs::metadata(p).unwrap());
    let before = inode(&st);
    // A longer line, then a shorter one: rewritten in place, always 1001 bytes.
    let long = "x".repeat(1500);
    l.wr.write_all(format!("{long}\nd\n").as_bytes()).unwrap();
    wait_until(LIMIT, "line d", || {
        read(&x.join("current")).ends_with("\nd\n")
    });
    wait_until(LIMIT, "the status d", || read(&st).starts_with("d\n"));
    assert_eq!(fs::read(&st).unwrap(), [&b"d"[..], &[b'\n'; 1000]].concat());
    assert_eq!(inode(&st), before);
    drop(l.wr);
    assert!(l.d.wait_exit(LIMIT).success());
    assert_eq!(read(&y.join("current")), "debug b\n");
    assert_eq!(read(&l.stderr), "fatal c\n");
}

#[test]
fn a_rule_after_the_last_logdir_or_a_bad_rule_is_a_usage_error() {
    let t = TempDir::new("select-cli-bad");
    let x = t.join("x");
    let xs = x.to_str().unwrap();
    for args in [
        vec![xs, "-r", "+a"],
        vec![xs, "-w", "st"],
        vec!["-r", "xyz", xs],
        vec!["-r", "", xs],
    ] {
        let o = common::run(tend_log().args(&args).stdin(Stdio::null()));
        assert_eq!(o.status.code(), Some(100), "{args:?}");
        assert!(!x.exists(), "{args:?}");
    }
}

/// The datagrams `sock` receives until `n` came (bounded).
fn datagrams(sock: &std::net::UdpSocket, n: usize) -> Vec<String> {
    sock.set_read_timeout(Some(LIMIT)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    while got.len() < n {
        let (len, _) = sock
            .recv_from(&mut buf)
            .expect("a datagram within the limit");
        got.push(String::from_utf8_lossy(&buf[..len]).into_owned());
    }
    got
}

#[test]
fn udp_sends_selected_lines_with_the_prefix_and_u_also_writes_them() {
    let t = TempDir::new("select-udp");
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    let long = "y".repeat(40);
    let config = format!("u127.0.0.1:{port}\npweb: \n-*debug*\n");
    let dir = logdir_with(&t, "log", &config);
    let input = format!("one\ndebug two\nthree\n{long}\n");
    let o = feed(
        tend_log().args(["-t", "none", "-l", "16"]).arg(&dir),
        input.as_bytes(),
    );
    let (_, err) = texts(&o);
    assert!(o.status.success() && err.is_empty(), "{err}");
    let y16 = "y".repeat(16);
    assert_eq!(
        datagrams(&sock, 3),
        [
            "web: one\n".to_string(),
            "web: three\n".to_string(),
            format!("web: {y16}...\n")
        ]
    );
    assert_eq!(
        read(&dir.join("current")),
        format!("web: one\nweb: three\nweb: {y16}\nweb: {y16}\nweb: yyyyyyyy\n")
    );
}

#[test]
fn udp_only_sends_and_writes_nothing_to_the_logdir() {
    let t = TempDir::new("select-udp-only");
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    let dir = logdir_with(&t, "log", &format!("U127.0.0.1:{port}\n"));
    let mut l = live(&t, &["-t", "tai64n"], &[&dir]);
    l.wr.write_all(b"alpha\nbeta\n").unwrap();
    let got = datagrams(&sock, 2);
    for (d, want) in got.iter().zip(["alpha\n", "beta\n"]) {
        assert!(
            d.starts_with("@4000") && d.len() == 26 + want.len(),
            "{d:?}"
        );
        assert!(d.ends_with(&format!(" {want}")), "{d:?}");
    }
    drop(l.wr);
    assert!(l.d.wait_exit(LIMIT).success());
    assert_eq!(read(&dir.join("current")), "");
    assert_eq!(read(&l.stderr), "");
}

#[test]
fn udp_errors_are_reported_once_and_lines_still_written() {
    let t = TempDir::new("select-udp-err");
    // A broadcast address without SO_BROADCAST: every send fails (EACCES).
    let dir = logdir_with(&t, "log", "u255.255.255.255:9\n");
    let o = feed(tend_log().args(["-t", "none"]).arg(&dir), b"a\nb\nc\n");
    let (_, err) = texts(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(
        err,
        "tend-log: warning: unable to send lines to 255.255.255.255:9 by UDP: access \
         denied (1 lines not sent; reported at most once a minute)\n"
    );
    assert_eq!(read(&dir.join("current")), "a\nb\nc\n");
}

#[test]
fn garbage_configs_and_huge_rules_give_one_line_warnings_and_lose_no_line() {
    let t = TempDir::new("select-garbage");
    let mut rng = common::Rng(0x5eed_1234_9876_abcd);
    for round in 0..20 {
        let dir = t.join(&format!("log{round}"));
        fs::create_dir(&dir).unwrap();
        // Random bytes, biased to the setting letters and to newlines.
        let letters = b"snNt!uUp+-eE#\n*:0123456789.\xff\x00 ";
        let len = rng.below(4000) as usize;
        let config: Vec<u8> = (0..len)
            .map(|_| letters[rng.below(letters.len() as u64) as usize])
            .collect();
        // Keep U out of it (lines would only be sent) and no processor (it would run).
        let config: Vec<u8> = config
            .split(|&b| b == b'\n')
            .filter(|l| !matches!(l.first(), Some(b'U' | b'!' | b'-' | b'p' | b'u')))
            .collect::<Vec<_>>()
            .join(&b'\n');
        fs::write(dir.join("config"), &config).unwrap();
        let o = feed(
            tend_log().args(["-t", "none", "-s", "0"]).arg(&dir),
            b"one\ntwo\n",
        );
        let (_, err) = texts(&o);
        assert!(o.status.success(), "round {round}: {err}");
        for line in err.lines() {
            assert!(
                line.starts_with("tend-log: warning: ") && line.ends_with(": line skipped")
                    || line == "one"
                    || line == "two",
                "round {round}: {line:?}"
            );
        }
        // Only + and e rules are left, and every line starts selected.
        assert_eq!(joined(&dir), "one\ntwo\n", "round {round}");
    }
    // Rules as long as an argument may be (128 KiB), and more in a file, and a config
    // line as long.
    let huge = format!("+{}", "*a".repeat(60 << 10));
    let in_file = format!("+{}", "*a".repeat(200 << 10));
    let dir = logdir_with(
        &t,
        "huge",
        &format!("{in_file}\nn{}\n", "9".repeat(400 << 10)),
    );
    let o = feed(
        tend_log()
            .args(["-t", "none", "-r", "-*", "-r"])
            .arg(&huge)
            .arg(t.join("cli"))
            .arg(&dir),
        b"aaa\nb\n",
    );
    let (_, err) = texts(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.ends_with("(want digits): line skipped\n"), "{err}");
    assert_eq!(read(&t.join("cli/current")), "");
    assert_eq!(read(&dir.join("current")), "aaa\nb\n");
}
