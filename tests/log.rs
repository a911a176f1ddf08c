//! tend-log, run for real on real files in temp dirs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use std::fs;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use common::{texts, wait_until, Daemon, TempDir, LIMIT};
use tend_core::tai::Tai64n;

fn tend_log() -> Command {
    Command::new(concat!(env!("TEND_BIN_DIR"), "/tend-log"))
}

/// Runs tend-log with `args` and LOGDIR `dir` on `input` until it exits (bounded).
fn feed(dir: &Path, args: &[&str], input: &[u8]) -> Output {
    feed_env(dir, args, input, &[])
}

fn feed_env(dir: &Path, args: &[&str], input: &[u8], env: &[(&str, &str)]) -> Output {
    let mut cmd = tend_log();
    cmd.args(args).arg(dir).envs(env.iter().copied());
    common::feed(&mut cmd, input)
}

/// Asserts exit 0 and an empty stderr.
fn ok(o: &Output, t: &TempDir) {
    let (_, err) = texts(o);
    assert!(
        o.status.success() && err.is_empty(),
        "status {:?}, stderr {err:?}\n{}",
        o.status,
        t.listing()
    );
}

/// Archive names in the logdir, sorted (= oldest first).
fn archives(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('@') && !n.ends_with(".t"))
        .collect();
    v.sort();
    v
}

/// Archives then current, concatenated.
fn everything(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for a in archives(dir) {
        all.extend(fs::read(dir.join(a)).unwrap());
    }
    all.extend(fs::read(dir.join("current")).unwrap_or_default());
    all
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn is_archive_name(n: &str) -> bool {
    let b = n.as_bytes();
    b.len() == 27
        && b[0] == b'@'
        && b[1..25]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
        && (n.ends_with(".s") || n.ends_with(".u"))
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `YYYY-MM-DDTHH:MM:SS.uuuuuu` into Unix seconds (as written, no offset applied).
fn parse_civil(s: &str) -> f64 {
    let n = |a: usize, b: usize| s[a..b].parse::<i64>().unwrap();
    assert_eq!(&s[4..5], "-");
    assert_eq!(&s[10..11], "T");
    assert_eq!(&s[19..20], ".");
    let days = days_from_civil(n(0, 4), n(5, 7), n(8, 10));
    let secs = days * 86400 + n(11, 13) * 3600 + n(14, 16) * 60 + n(17, 19);
    secs as f64 + n(20, 26) as f64 / 1e6
}

fn near_now(t: f64, what: &str) {
    let now = now_secs();
    assert!(
        (now - t).abs() < 120.0,
        "{what}: stamp {t} is not near now {now}"
    );
}

#[test]
fn iso_stamps_are_utc_with_microseconds() {
    let t = TempDir::new("log-iso");
    let dir = t.join("log");
    let o = feed(&dir, &[], b"one\ntwo\n");
    ok(&o, &t);
    let text = fs::read_to_string(dir.join("current")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    for (line, want) in lines.iter().zip(["one", "two"]) {
        assert_eq!(line.len(), 28 + want.len(), "{line}");
        assert_eq!(&line[26..28], "Z ", "{line}");
        assert_eq!(&line[28..], want);
        near_now(parse_civil(line), line);
    }
    assert_eq!(mode(&dir.join("current")), 0o744, "finished current is u+x");
    assert_eq!(mode(&dir), 0o755);
}

#[test]
fn local_stamps_carry_the_utc_offset() {
    let t = TempDir::new("log-local");
    let dir = t.join("log");
    // POSIX TZ: "ABC-01:30" is 1 h 30 min east of UTC.
    let o = feed_env(&dir, &["-t", "local"], b"hello\n", &[("TZ", "ABC-01:30")]);
    ok(&o, &t);
    let text = fs::read_to_string(dir.join("current")).unwrap();
    let line = text.lines().next().unwrap();
    assert_eq!(line.len(), 33 + 5, "{line}");
    assert_eq!(&line[26..33], "+01:30 ", "{line}");
    assert_eq!(&line[33..], "hello");
    near_now(parse_civil(line) - 5400.0, line);
}

#[test]
fn tai64n_stamps_are_multilog_labels() {
    let t = TempDir::new("log-tai");
    let dir = t.join("log");
    let o = feed(&dir, &["-t", "tai64n"], b"x y\n");
    ok(&o, &t);
    let text = fs::read_to_string(dir.join("current")).unwrap();
    let line = text.lines().next().unwrap();
    assert_eq!(&line[25..], " x y", "{line}");
    let label = Tai64n::parse_hex(&line[..25]).expect(line);
    assert!(line.starts_with("@40000000"), "{line}");
    let t = label.to_system().duration_since(UNIX_EPOCH).unwrap();
    near_now(t.as_secs_f64(), line);
}

#[test]
fn no_stamps_and_a_last_line_without_newline_gets_one() {
    let t = TempDir::new("log-none");
    let dir = t.join("log");
    let o = feed(&dir, &["-t", "none"], b"a\n\nb\nlast");
    ok(&o, &t);
    assert_eq!(fs::read(dir.join("current")).unwrap(), b"a\n\nb\nlast\n");
}

/// Lines of assorted lengths, numbered.
fn assorted_lines(n: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for i in 0..n {
        let len = (i * 37) % 150;
        v.extend(format!("{i:05}:").as_bytes());
        v.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, len));
        v.push(b'\n');
    }
    v
}

#[test]
fn rotation_splits_at_line_boundaries_without_passing_size() {
    let t = TempDir::new("log-rotate");
    let dir = t.join("log");
    let input = assorted_lines(400);
    let o = feed(&dir, &["-t", "none", "-s", "1000", "-n", "0"], &input);
    ok(&o, &t);
    let names = archives(&dir);
    assert!(names.len() > 20, "{}", t.listing());
    let mut files: Vec<Vec<u8>> = Vec::new();
    for n in &names {
        assert!(is_archive_name(n) && n.ends_with(".s"), "{n}");
        let p = dir.join(n);
        assert_eq!(mode(&p), 0o744, "{n}");
        files.push(fs::read(&p).unwrap());
    }
    files.push(fs::read(dir.join("current")).unwrap());
    for (i, f) in files.iter().enumerate() {
        assert!(f.len() <= 1000, "file {i} has {} bytes", f.len());
        assert_eq!(f.last(), Some(&b'\n'), "file {i} ends mid-line");
        if let Some(next) = files.get(i + 1) {
            // It was rotated only because the next line would not fit.
            let first = next.iter().position(|&b| b == b'\n').unwrap() + 1;
            assert!(f.len() + first > 1000, "file {i} rotated early");
        }
    }
    assert_eq!(files.concat(), input, "lines lost, duplicated or reordered");
}

#[test]
fn rotation_with_iso_stamps_counts_the_stamps() {
    let t = TempDir::new("log-rotate-iso");
    let dir = t.join("log");
    let input = assorted_lines(300);
    let o = feed(&dir, &["-s", "2k", "-n", "0"], &input);
    ok(&o, &t);
    let mut names = archives(&dir);
    assert!(names.len() > 10, "{}", t.listing());
    names.push("current".into());
    let mut back: Vec<u8> = Vec::new();
    for n in &names {
        let f = fs::read(dir.join(n)).unwrap();
        assert!(f.len() <= 2048, "{n} has {} bytes", f.len());
        assert_eq!(f.last(), Some(&b'\n'), "{n} ends mid-line");
        for line in f.split_inclusive(|&b| b == b'\n') {
            assert_eq!(&line[26..28], b"Z ", "{n}");
            back.extend(&line[28..]);
        }
    }
    assert_eq!(back, input);
}

#[test]
fn a_line_bigger_than_size_gets_a_file_of_its_own() {
    let t = TempDir::new("log-bigline");
    let dir = t.join("log");
    let big = vec![b'B'; 300];
    let mut input = b"small\n".to_vec();
    input.extend(&big);
    input.extend(b"\nafter\n");
    let o = feed(&dir, &["-t", "none", "-s", "100"], &input);
    ok(&o, &t);
    let names = archives(&dir);
    assert_eq!(names.len(), 2, "{}", t.listing());
    assert_eq!(fs::read(dir.join(&names[0])).unwrap(), b"small\n");
    assert_eq!(fs::read(dir.join(&names[1])).unwrap().len(), 301);
    assert_eq!(fs::read(dir.join("current")).unwrap(), b"after\n");
}

#[test]
fn retention_by_count_keeps_the_newest() {
    let t = TempDir::new("log-count");
    let dir = t.join("log");
    let input = assorted_lines(300);
    let o = feed(&dir, &["-t", "none", "-s", "500", "-n", "3"], &input);
    ok(&o, &t);
    let names = archives(&dir);
    assert_eq!(names.len(), 3, "{}", t.listing());
    // What is left is the tail of the input, contiguous.
    let all = everything(&dir);
    assert!(input.ends_with(&all), "kept data is not the newest");
    assert!(all.len() > 3 * 300);
}

#[test]
fn retention_by_total_size() {
    let t = TempDir::new("log-total");
    let dir = t.join("log");
    let input = assorted_lines(300);
    let o = feed(
        &dir,
        &["-t", "none", "-s", "500", "-n", "0", "-S", "1200"],
        &input,
    );
    ok(&o, &t);
    let names = archives(&dir);
    let sizes: Vec<u64> = names
        .iter()
        .map(|n| fs::metadata(dir.join(n)).unwrap().len())
        .collect();
    let total: u64 = sizes.iter().sum();
    assert!(total <= 1200, "{total} bytes of archives: {}", t.listing());
    // Only as much as needed was deleted: one archive more would not fit... unless none left.
    assert!(total + 500 > 1200, "deleted too much: {}", t.listing());
    assert!(input.ends_with(&everything(&dir)));
}

/// A tend-log reading a pipe the test holds the write end of.
struct Live {
    d: Daemon,
    wr: fs::File,
    rd: OwnedFd,
}

/// Starts tend-log on `dir`, its stdin a pipe, its stderr the file `dir` + ".stderr".
fn live(dir: &Path, args: &[&str]) -> Live {
    let (rd, wr) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
    let mut cmd = tend_log();
    cmd.args(args)
        .arg(dir)
        .stdin(Stdio::from(rd.try_clone().unwrap()))
        .stderr(fs::File::create(dir.with_extension("stderr")).unwrap());
    let d = Daemon::spawn(&mut cmd);
    Live {
        d,
        wr: fs::File::from(wr),
        rd,
    }
}

fn current_has(dir: &Path, text: &str) -> bool {
    fs::read(dir.join("current"))
        .map(|c| c.windows(text.len()).any(|w| w == text.as_bytes()))
        .unwrap_or(false)
}

fn stderr_of(dir: &Path) -> String {
    common::read(&dir.with_extension("stderr"))
}

#[test]
fn sigalrm_rotates_a_non_empty_current() {
    let t = TempDir::new("log-alrm");
    let dir = t.join("log");
    let mut l = live(&dir, &["-t", "none"]);
    wait_until(LIMIT, "current", || dir.join("current").exists());
    l.d.signal(14); // SIGALRM on an empty current: nothing to do
    l.wr.write_all(b"one\n").unwrap();
    wait_until(LIMIT, "line one", || current_has(&dir, "one\n"));
    assert!(archives(&dir).is_empty(), "{}", t.listing());
    l.d.signal(14);
    wait_until(LIMIT, "an archive", || archives(&dir).len() == 1);
    let name = &archives(&dir)[0];
    assert!(is_archive_name(name) && name.ends_with(".s"));
    assert_eq!(fs::read(dir.join(name)).unwrap(), b"one\n");
    assert_eq!(mode(&dir.join(name)), 0o744);
    wait_until(LIMIT, "new current", || {
        fs::read(dir.join("current")).is_ok_and(|c| c.is_empty())
    });
    assert_eq!(mode(&dir.join("current")), 0o644);
    l.wr.write_all(b"two\n").unwrap();
    wait_until(LIMIT, "line two", || current_has(&dir, "two\n"));
    drop(l.wr);
    assert!(l.d.wait_exit(LIMIT).success());
    assert_eq!(archives(&dir).len(), 1, "{}", t.listing());
    assert_eq!(fs::read(dir.join("current")).unwrap(), b"two\n");
}

#[test]
fn sighup_reopens_current() {
    let t = TempDir::new("log-hup");
    let dir = t.join("log");
    let mut l = live(&dir, &["-t", "none"]);
    l.wr.write_all(b"before\n").unwrap();
    wait_until(LIMIT, "line before", || current_has(&dir, "before\n"));
    // An outside rotation: move current away, then HUP.
    fs::rename(dir.join("current"), dir.join("moved")).unwrap();
    l.d.signal(1);
    wait_until(LIMIT, "a new current", || dir.join("current").exists());
    l.wr.write_all(b"after\n").unwrap();
    wait_until(LIMIT, "line after", || current_has(&dir, "after\n"));
    assert!(!l.d.exited(), "tend-log died of SIGHUP");
    assert_eq!(fs::read(dir.join("moved")).unwrap(), b"before\n");
    assert_eq!(mode(&dir.join("moved")), 0o744, "the old file was finished");
    // A HUP with nothing moved keeps writing the same current.
    l.d.signal(1);
    l.wr.write_all(b"again\n").unwrap();
    wait_until(LIMIT, "line again", || current_has(&dir, "again\n"));
    drop(l.wr);
    assert!(l.d.wait_exit(LIMIT).success());
    assert_eq!(fs::read(dir.join("current")).unwrap(), b"after\nagain\n");
    assert_eq!(stderr_of(&dir), "");
}

fn proc_state(pid: i32) -> char {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    s.rsplit(')')
        .next()
        .and_then(|r| r.trim_start().chars().next())
        .unwrap_or('?')
}

#[test]
fn sigterm_leaves_unread_input_in_the_pipe_for_the_next_instance() {
    let t = TempDir::new("log-term");
    let dir = t.join("log");
    let mut l = live(&dir, &["-t", "none"]);
    let mut want = Vec::new();
    for i in 0..100 {
        want.extend(format!("early {i}\n").as_bytes());
    }
    l.wr.write_all(&want).unwrap();
    l.wr.write_all(b"abc").unwrap(); // a line in hand: started, not finished
    wait_until(LIMIT, "early lines", || current_has(&dir, "early 99\n"));
    // Stop it, so that what follows is certainly still in the pipe when TERM arrives.
    l.d.signal(19); // SIGSTOP
    wait_until(LIMIT, "stopped", || proc_state(l.d.pid()) == 'T');
    let mut rest = b"def\n".to_vec();
    for i in 0..100 {
        rest.extend(format!("late {i}\n").as_bytes());
    }
    rest.extend(b"tail without newline");
    l.wr.write_all(&rest).unwrap();
    l.d.signal(15);
    l.d.signal(18); // SIGCONT
    let st = l.d.wait_exit(LIMIT);
    assert!(st.success(), "{st:?}: {}", stderr_of(&dir));
    // It had written the start of the line in hand ("abc") when its input went idle; it
    // waited for that line's end, wrote every complete line, and left the rest (a line
    // without its newline yet) in the pipe.
    want.extend(&b"abc"[..]);
    want.extend(&rest[..rest.len() - b"tail without newline".len()]);
    assert_eq!(fs::read(dir.join("current")).unwrap(), want);
    assert_eq!(mode(&dir.join("current")), 0o744);
    // A second instance on the same pipe gets exactly the rest.
    let mut cmd = tend_log();
    cmd.args(["-t", "none"])
        .arg(&dir)
        .stdin(Stdio::from(l.rd.try_clone().unwrap()));
    let mut second = Daemon::spawn(&mut cmd);
    drop(l.wr);
    drop(l.rd);
    assert!(second.wait_exit(LIMIT).success());
    let mut all = want.clone();
    all.extend(b"tail without newline\n");
    assert_eq!(fs::read(dir.join("current")).unwrap(), all);
}

#[test]
fn unfinished_current_becomes_a_u_archive_and_finished_one_is_appended() {
    let t = TempDir::new("log-recover");
    let dir = t.join("log");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("current"), b"crashed\n").unwrap();
    fs::set_permissions(dir.join("current"), fs::Permissions::from_mode(0o644)).unwrap();
    let o = feed(&dir, &["-t", "none"], b"new\n");
    assert!(o.status.success(), "{o:?}");
    let names = archives(&dir);
    assert_eq!(names.len(), 1, "{}", t.listing());
    assert!(is_archive_name(&names[0]) && names[0].ends_with(".u"));
    assert_eq!(fs::read(dir.join(&names[0])).unwrap(), b"crashed\n");
    let (_, err) = texts(&o);
    assert_eq!(
        err,
        format!(
            "tend-log: warning: {}/current was not finished (crash?): archived it as {}\n",
            dir.display(),
            names[0]
        )
    );
    // Now current is finished (0744): the next run appends to it.
    let o = feed(&dir, &["-t", "none"], b"more\n");
    ok(&o, &t);
    assert_eq!(fs::read(dir.join("current")).unwrap(), b"new\nmore\n");
    assert_eq!(archives(&dir).len(), 1);
}

#[test]
fn a_second_logger_on_the_same_logdir_exits_111() {
    let t = TempDir::new("log-lock");
    let dir = t.join("log");
    let mut l = live(&dir, &[]);
    wait_until(LIMIT, "current", || dir.join("current").exists());
    let o = feed(&dir, &[], b"intruder\n");
    assert_eq!(o.status.code(), Some(111));
    let (_, err) = texts(&o);
    assert_eq!(
        err,
        format!(
            "tend-log: fatal: unable to lock {}/lock: another tend-log is running\n",
            dir.display()
        )
    );
    assert!(!current_has(&dir, "intruder"));
    drop(l.wr);
    assert!(l.d.wait_exit(LIMIT).success());
}

#[test]
fn long_lines_are_split_and_marked_never_cut() {
    let t = TempDir::new("log-long");
    let dir = t.join("log");
    let mut input = vec![b'x'; 100];
    input.push(b'\n');
    input.extend(vec![b'y'; 250]);
    input.push(b'\n');
    let o = feed(&dir, &["-l", "100"], &input);
    ok(&o, &t);
    let text = fs::read_to_string(dir.join("current")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(&lines[0][27..], " ".to_string() + &"x".repeat(100));
    assert_eq!(&lines[1][27..], " ".to_string() + &"y".repeat(100));
    assert_eq!(&lines[2][27..], "+".to_string() + &"y".repeat(100));
    assert_eq!(&lines[3][27..], "+".to_string() + &"y".repeat(50));
    // Stripping the fixed-width stamps gives the pieces back, in order.
    let joined: String = lines[1..].iter().map(|l| &l[28..]).collect();
    assert_eq!(joined, "y".repeat(250));
}

#[test]
fn binary_input_and_nul_bytes_pass_through_unchanged() {
    let t = TempDir::new("log-binary");
    let mut input = Vec::new();
    for round in 0..50u32 {
        for b in 0..=255u8 {
            input.push(b.wrapping_add(round as u8));
        }
    }
    input.extend(b"\0\0\0\n\r\n\xff\xfe\n");
    let dir = t.join("none");
    let o = feed(&dir, &["-t", "none", "-l", "1M"], &input);
    ok(&o, &t);
    assert_eq!(fs::read(dir.join("current")).unwrap(), input);
    // With stamps: strip 28 bytes from every line and get the input back.
    let dir = t.join("iso");
    let o = feed(&dir, &["-l", "1M"], &input);
    ok(&o, &t);
    let out = fs::read(dir.join("current")).unwrap();
    let mut back: Vec<u8> = Vec::new();
    for line in out.split_inclusive(|&b| b == b'\n') {
        assert_eq!(line[27], b' ');
        back.extend(&line[28..]);
    }
    assert_eq!(back, input);
}

#[test]
fn archive_names_sort_after_existing_ones_even_if_the_clock_is_behind() {
    // An archive from the future (as if the clock had been ahead, then stepped back).
    let t = TempDir::new("log-clock");
    let dir = t.join("log");
    fs::create_dir(&dir).unwrap();
    let future = "@4000000100000000000000ff.s"; // year ~2106
    fs::write(dir.join(future), b"from the future\n").unwrap();
    let input = assorted_lines(100);
    let o = feed(&dir, &["-t", "none", "-s", "1000", "-n", "3"], &input);
    ok(&o, &t);
    let names = archives(&dir);
    assert_eq!(names.len(), 3, "{}", t.listing());
    // Retention deleted the "future" one (oldest by order of writing), not the new data.
    assert!(!names.contains(&future.to_string()), "{names:?}");
    for n in &names {
        assert!(n.as_str() > future, "{n} sorts before {future}");
    }
    assert!(input.ends_with(&everything(&dir)));
}

#[test]
fn a_symlink_planted_as_current_is_never_followed() {
    let t = TempDir::new("log-symlink");
    let dir = t.join("log");
    fs::create_dir(&dir).unwrap();
    let target = t.join("victim");
    fs::write(&target, b"precious\n").unwrap();
    symlink(&target, dir.join("current")).unwrap();
    let o = feed(&dir, &[], b"attack\n");
    assert_eq!(o.status.code(), Some(100), "{o:?}");
    let (_, err) = texts(&o);
    assert_eq!(
        err,
        format!(
            "tend-log: fatal: unable to open {}/current: it is a symbolic link, and tend-log never follows one\n",
            dir.display()
        )
    );
    assert_eq!(fs::read(&target).unwrap(), b"precious\n");
    assert_eq!(mode(&target), 0o644);
}

#[test]
fn a_symlink_planted_while_running_is_refused_on_reopen() {
    let t = TempDir::new("log-symlink-hup");
    let dir = t.join("log");
    let target = t.join("victim");
    fs::write(&target, b"precious\n").unwrap();
    let mut l = live(&dir, &["-t", "none"]);
    l.wr.write_all(b"one\n").unwrap();
    wait_until(LIMIT, "line one", || current_has(&dir, "one\n"));
    fs::rename(dir.join("current"), dir.join("moved")).unwrap();
    symlink(&target, dir.join("current")).unwrap();
    l.d.signal(1);
    // It pauses (and says so) rather than follow the link; TERM still ends it.
    let refusal = format!(
        "unable to open {}/current: it is a symbolic link, and tend-log never follows one",
        dir.display()
    );
    wait_until(LIMIT, "the refusal", || stderr_of(&dir).contains(&refusal));
    assert_eq!(
        stderr_of(&dir),
        format!("tend-log: warning: {refusal}; pausing input, retrying every second\n")
    );
    // Paused means input is left alone.
    l.wr.write_all(b"two\n").unwrap();
    l.d.signal(15);
    let st = l.d.wait_exit(LIMIT);
    assert_eq!(st.code(), Some(111));
    let err = stderr_of(&dir);
    assert_eq!(
        err.lines().last().unwrap(),
        format!("tend-log: fatal: {refusal}")
    );
    let mut left = [0u8; 16];
    let n = rustix::io::read(&l.rd, &mut left).unwrap();
    assert_eq!(&left[..n], b"two\n", "input was taken while paused");
    assert_eq!(fs::read(&target).unwrap(), b"precious\n");
    assert_eq!(fs::read(dir.join("moved")).unwrap(), b"one\n");
}

const USAGE: &str = "tend-log: usage: tend-log [ -t iso|local|tai64n|none ] [ -s size ] \
[ -n count ] [ -S total ] [ -l linemax ] [ -f block|free|drop ] [ -p processor ] [ -u user ] \
[ -r rule ]... [ -w statusfile ] logdir...\n";

#[test]
fn usage_errors_exit_100() {
    let t = TempDir::new("log-usage");
    for args in [
        vec![],
        vec!["-t", "utc", "x"],
        vec!["-s", "1T", "x"],
        vec!["-f", "maybe", "x"],
        vec!["-l", "3", "x"],
        vec!["-q", "x"],
        vec!["a", "b", "a"],
    ] {
        let mut cmd = tend_log();
        cmd.current_dir(t.path()).args(&args);
        let o = common::run(&mut cmd);
        assert_eq!(o.status.code(), Some(100), "{args:?}");
        let (_, err) = texts(&o);
        assert!(err.ends_with(USAGE), "{args:?}: {err}");
    }
}

#[test]
fn a_missing_parent_is_a_clear_error() {
    let t = TempDir::new("log-parent");
    let dir: PathBuf = t.join("no/such/log");
    let o = feed(&dir, &[], b"x\n");
    assert_eq!(o.status.code(), Some(111));
    let (_, err) = texts(&o);
    assert_eq!(
        err,
        format!(
            "tend-log: fatal: unable to create {}: file does not exist\n",
            dir.display()
        )
    );
}

#[test]
fn dropping_privileges_gives_the_logdir_to_the_user() {
    use std::os::unix::fs::MetadataExt;
    let t = TempDir::new("log-user");
    let dir = t.join("log");
    let input = assorted_lines(50);
    let o = feed(
        &dir,
        &["-t", "none", "-s", "500", "-u", "65534:65534"],
        &input,
    );
    if !rustix::process::geteuid().is_root() {
        assert_eq!(o.status.code(), Some(111));
        let (_, err) = texts(&o);
        assert_eq!(
            err,
            "tend-log: fatal: unable to switch to uid 65534 (only root can): Operation not permitted\n"
        );
        return;
    }
    ok(&o, &t);
    assert_eq!(everything(&dir), input);
    let names = archives(&dir);
    assert!(names.len() > 2, "{}", t.listing());
    // Archives made after the switch, and current, belong to the user.
    for n in names.iter().chain(["current".to_string()].iter()) {
        let m = fs::metadata(dir.join(n)).unwrap();
        assert_eq!((m.uid(), m.gid()), (65534, 65534), "{n}");
    }
    let o = feed(&dir, &["-u", "no-such-user-here"], b"x\n");
    assert_eq!(o.status.code(), Some(100));
    let (_, err) = texts(&o);
    assert_eq!(
        err,
        "tend-log: fatal: unable to find user no-such-user-here in /etc/passwd\n"
    );
}

#[test]
fn sighup_recreates_a_logdir_that_was_removed_even_mid_rotation() {
    let t = TempDir::new("log-hup-gone");
    let dir = t.join("log");
    let mut l = live(&dir, &["-t", "none"]);
    l.wr.write_all(b"one\n").unwrap();
    wait_until(LIMIT, "line one", || current_has(&dir, "one\n"));
    fs::remove_dir_all(&dir).unwrap();
    l.d.signal(14); // the rotation cannot rename into a removed directory
    let stuck = format!(
        "tend-log: warning: unable to rename {}/current to @",
        dir.display()
    );
    wait_until(LIMIT, "the rename warning", || {
        stderr_of(&dir).starts_with(&stuck)
    });
    l.d.signal(1);
    wait_until(LIMIT, "a new logdir", || dir.join("current").exists());
    l.wr.write_all(b"two\n").unwrap();
    wait_until(LIMIT, "line two", || current_has(&dir, "two\n"));
    drop(l.wr);
    assert!(l.d.wait_exit(LIMIT).success());
    assert_eq!(fs::read(dir.join("current")).unwrap(), b"two\n");
    let err = stderr_of(&dir);
    assert!(
        err.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("tend-log: info: writing ")),
        "{err}"
    );
}

#[test]
fn a_processor_turns_each_archive_into_its_output() {
    let t = TempDir::new("log-processor");
    let dir = t.join("log");
    let input = assorted_lines(200);
    let o = feed(
        &dir,
        &["-t", "none", "-s", "1000", "-n", "0", "-p", "tr a-z A-Z"],
        &input,
    );
    ok(&o, &t);
    let names = archives(&dir);
    assert!(names.len() > 10, "{}", t.listing());
    let mut archived = Vec::new();
    for n in &names {
        assert!(n.ends_with(".s"), "{n} left: {}", t.listing());
        assert_eq!(mode(&dir.join(n)), 0o744);
        archived.extend(fs::read(dir.join(n)).unwrap());
    }
    let current = fs::read(dir.join("current")).unwrap();
    assert_eq!(archived, input[..archived.len()].to_ascii_uppercase());
    assert_eq!(&input[archived.len()..], &current[..]);
    let leftovers = fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            let n = e.as_ref().unwrap().file_name();
            n.to_string_lossy().ends_with(".t")
        })
        .count();
    assert_eq!(leftovers, 0);
}

#[test]
fn a_failing_processor_keeps_the_archive_and_says_so() {
    let t = TempDir::new("log-processor-fail");
    let dir = t.join("log");
    let mut l = live(&dir, &["-t", "none", "-p", "exit 3"]);
    l.wr.write_all(b"one\n").unwrap();
    wait_until(LIMIT, "line one", || current_has(&dir, "one\n"));
    l.d.signal(14);
    wait_until(LIMIT, "the failure", || {
        stderr_of(&dir).contains("processor failed on")
    });
    let names = archives(&dir);
    assert_eq!(names.len(), 1, "{}", t.listing());
    assert!(names[0].ends_with(".u"));
    assert_eq!(fs::read(dir.join(&names[0])).unwrap(), b"one\n");
    // Logging goes on meanwhile.
    l.wr.write_all(b"two\n").unwrap();
    wait_until(LIMIT, "line two", || current_has(&dir, "two\n"));
    l.d.signal(15);
    assert!(l.d.wait_exit(LIMIT).success());
    let err = stderr_of(&dir);
    let stem = names[0].trim_end_matches(".u");
    assert_eq!(
        err,
        format!(
            "tend-log: warning: processor failed on {d}/{stem}.u (exit status: 3); running it again in 5 seconds\n\
             tend-log: warning: processor stopped before it finished: {d}/{stem}.u stays unprocessed\n",
            d = dir.display()
        )
    );
    assert_eq!(archives(&dir), names);
}

#[test]
fn a_rotation_waits_for_the_processor_and_retention_spares_its_input() {
    let t = TempDir::new("log-processor-wait");
    let dir = t.join("log");
    let processor = "while [ ! -e go ]; do sleep 0.01; done; tr a-z A-Z";
    let mut l = live(&dir, &["-t", "none", "-n", "1", "-p", processor]);
    l.wr.write_all(b"one\n").unwrap();
    wait_until(LIMIT, "line one", || current_has(&dir, "one\n"));
    l.d.signal(14);
    wait_until(LIMIT, "the first archive", || archives(&dir).len() == 1);
    l.wr.write_all(b"two\n").unwrap();
    wait_until(LIMIT, "line two", || current_has(&dir, "two\n"));
    // A second rotation while the processor runs waits for it, and so does the input.
    l.d.signal(14);
    l.wr.write_all(b"three\n").unwrap();
    let busy = archives(&dir);
    assert_eq!(busy.len(), 1);
    assert!(busy[0].ends_with(".u"), "{busy:?}");
    fs::write(dir.join("go"), b"").unwrap();
    wait_until(LIMIT, "line three", || current_has(&dir, "three\n"));
    drop(l.wr);
    assert!(l.d.wait_exit(LIMIT).success(), "{}", stderr_of(&dir));
    // Retention (-n 1) kept the newest archive, processed; "three" was read after it.
    let names = archives(&dir);
    assert_eq!(names.len(), 1, "{}", t.listing());
    assert!(names[0].ends_with(".s") && names[0] > busy[0], "{names:?}");
    assert_eq!(fs::read(dir.join(&names[0])).unwrap(), b"TWO\n");
    assert_eq!(fs::read(dir.join("current")).unwrap(), b"three\n");
    assert_eq!(stderr_of(&dir), "");
}

#[test]
fn sigterm_while_a_rotation_waits_for_the_processor_writes_everything() {
    let t = TempDir::new("log-processor-term");
    let dir = t.join("log");
    let processor = "while [ ! -e go ]; do sleep 0.01; done; cat";
    let mut l = live(&dir, &["-t", "none", "-p", processor]);
    l.wr.write_all(b"one\n").unwrap();
    wait_until(LIMIT, "line one", || current_has(&dir, "one\n"));
    l.d.signal(14);
    wait_until(LIMIT, "the first archive", || archives(&dir).len() == 1);
    l.wr.write_all(b"two\n").unwrap();
    wait_until(LIMIT, "line two", || current_has(&dir, "two\n"));
    l.d.signal(14); // waits for the processor, which waits for "go"
    l.d.signal(15);
    let st = l.d.wait_exit(LIMIT);
    assert!(st.success(), "{st:?} {}", stderr_of(&dir));
    // Nothing lost: "one" unprocessed in a .u archive, "two" in current or a .u too.
    let mut all = Vec::new();
    for n in archives(&dir) {
        assert!(n.ends_with(".u"), "{n}");
        all.extend(fs::read(dir.join(n)).unwrap());
    }
    all.extend(fs::read(dir.join("current")).unwrap());
    assert_eq!(all, b"one\ntwo\n");
}

#[test]
fn a_read_that_fills_the_buffer_exactly_is_written_without_more_input() {
    let t = TempDir::new("log-exact");
    let dir = t.join("log");
    let (rd, wr) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
    // 128 KiB exactly (the input buffer), already in the pipe when tend-log starts.
    rustix::pipe::fcntl_setpipe_size(&wr, 128 << 10).unwrap();
    let mut wr = fs::File::from(wr);
    let mut input = Vec::new();
    for i in 0..2048 {
        input.extend(format!("{i:063}\n").as_bytes());
    }
    assert_eq!(input.len(), 128 << 10);
    wr.write_all(&input).unwrap();
    let mut cmd = tend_log();
    cmd.args(["-t", "none"]).arg(&dir).stdin(Stdio::from(rd));
    let mut d = Daemon::spawn(&mut cmd);
    wait_until(LIMIT, "all of it written", || {
        fs::read(dir.join("current")).is_ok_and(|c| c == input)
    });
    drop(wr);
    assert!(d.wait_exit(LIMIT).success());
}
