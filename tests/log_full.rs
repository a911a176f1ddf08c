//! tend-log on a full disk: a small tmpfs per test (needs root to mount; skipped with a
//! message otherwise, unless TEND_REQUIRE_ROOT_TESTS=1).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{read, wait_until, Daemon, TempDir, LIMIT};

/// A tmpfs mounted for one test, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` at `dir`, or None (after saying why) if that is not possible.
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        fs::create_dir_all(dir).unwrap();
        let o = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir)
            .output();
        match o {
            Ok(o) if o.status.success() => Some(Tmpfs(dir.to_path_buf())),
            other => {
                let why = format!("cannot mount a tmpfs (not root?): {other:?}");
                assert!(
                    std::env::var("TEND_REQUIRE_ROOT_TESTS").as_deref() != Ok("1"),
                    "{why}"
                );
                eprintln!("skipping disk-full test: {why}");
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system holding `path` with a file of zeros until it is full.
fn fill(path: &Path) {
    let mut f = fs::File::create(path).unwrap();
    let block = [0u8; 4096];
    loop {
        if f.write_all(&block).is_err() {
            break;
        }
    }
    // Whatever fits in less than a page, too.
    while f.write_all(&[0u8]).is_ok() {}
}

struct Logger {
    d: Daemon,
    wr: Option<fs::File>,
    /// The test's copy of the pipe's read end, for a next instance.
    rd: std::os::fd::OwnedFd,
    stderr: PathBuf,
}

/// Starts tend-log on `dir` with stdin a pipe holding `preload` already.
fn start(t: &TempDir, dir: &Path, args: &[&str], preload: &[u8]) -> Logger {
    let (rd, wr) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
    let mut wr = fs::File::from(wr);
    wr.write_all(preload).unwrap();
    let stderr = t.join(&format!(
        "stderr-{}",
        dir.file_name().unwrap().to_string_lossy()
    ));
    let mut cmd = Command::new(concat!(env!("TEND_BIN_DIR"), "/tend-log"));
    cmd.args(args)
        .arg(dir)
        .stdin(Stdio::from(rd.try_clone().unwrap()))
        .stderr(fs::File::create(&stderr).unwrap());
    Logger {
        d: Daemon::spawn(&mut cmd),
        wr: Some(wr),
        rd,
        stderr,
    }
}

fn numbered(n: usize, width: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for i in 0..n {
        let mut line = format!("line {i:06} ");
        while line.len() < width - 1 {
            line.push('.');
        }
        line.push('\n');
        v.extend(line.as_bytes());
    }
    v
}

fn everything(dir: &Path) -> Vec<u8> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('@'))
        .collect();
    names.sort();
    let mut all = Vec::new();
    for n in names {
        all.extend(fs::read(dir.join(n)).unwrap());
    }
    all.extend(fs::read(dir.join("current")).unwrap_or_default());
    all
}

/// A thread writing a whole input into tend-log's stdin.
struct Writer {
    done: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Writer {
    /// Whether it wrote everything.
    fn done(&self) -> bool {
        self.done.load(Ordering::SeqCst)
    }

    /// Waits (bounded) until it wrote everything.
    fn finish(self) {
        wait_until(LIMIT, "the writer", || self.done());
        self.thread.join().unwrap();
    }
}

/// Starts writing `input` into `l`'s stdin from a thread, and returns once tend-log says
/// that it pauses its input (its logdir is full).
fn write_until_paused(l: &mut Logger, input: &[u8]) -> Writer {
    let done = Arc::new(AtomicBool::new(false));
    let (mut wr, input, flag) = (l.wr.take().unwrap(), input.to_vec(), Arc::clone(&done));
    let thread = std::thread::spawn(move || {
        wr.write_all(&input).unwrap();
        flag.store(true, Ordering::SeqCst);
    });
    wait_until(LIMIT, "the pause warning", || {
        read(&l.stderr).contains("pausing input")
    });
    Writer { done, thread }
}

#[test]
fn block_pauses_the_writer_and_loses_nothing() {
    let t = TempDir::new("logfull-block");
    let Some(_fs) = Tmpfs::mount(&t.join("mnt"), "1m") else {
        return;
    };
    let dir = t.join("mnt/log");
    let filler = t.join("mnt/filler");
    let mut l = start(&t, &dir, &["-t", "none", "-s", "16k", "-n", "0"], b"");
    wait_until(LIMIT, "current", || dir.join("current").exists());
    fill(&filler);
    // More than the pipe (256 KiB: tend-log enlarges it) and tend-log's buffers can hold,
    // less than the file system.
    let input = numbered(10000, 64);
    let writer = write_until_paused(&mut l, &input);
    let want = format!(
        "tend-log: warning: unable to write {}/current: No space left on device; pausing input, retrying every second\n",
        dir.display()
    );
    assert_eq!(read(&l.stderr), want);
    // Backpressure: the producer is stuck, and tend-log is alive.
    assert!(!writer.done(), "the writer was not held back");
    assert!(!l.d.exited());
    fs::remove_file(&filler).unwrap();
    writer.finish();
    let st = l.d.wait_exit(LIMIT);
    assert!(st.success(), "{st:?} {}", read(&l.stderr));
    assert_eq!(everything(&dir), input, "lost or duplicated data");
    let err = read(&l.stderr);
    assert!(
        err.lines().nth(1).is_some_and(|l| l.starts_with(&format!(
            "tend-log: info: writing {}/current again after ",
            dir.display()
        ))),
        "{err}"
    );
}

/// SIGTERM while the disk is full under `policy`: tend-log exits at once, and what it had
/// read and not written is still in the pipe; the next tend-log writes it, once.
fn sigterm_while_full_leaves_the_lines_in_the_pipe(policy: &str) {
    let t = TempDir::new(&format!("logfull-term-{policy}"));
    let Some(_fs) = Tmpfs::mount(&t.join("mnt"), "256k") else {
        return;
    };
    let dir = t.join("mnt/log");
    fs::create_dir(&dir).unwrap();
    let filler = t.join("mnt/filler");
    fill(&filler);
    let input = numbered(10, 20);
    let args = ["-t", "none", "-f", policy];
    let mut l = start(&t, &dir, &args, &input);
    wait_until(LIMIT, "the pause warning", || {
        read(&l.stderr).contains("pausing input")
    });
    let sent = Instant::now();
    l.d.signal(15);
    let st = l.d.wait_exit(LIMIT);
    let took = sent.elapsed();
    // It acts at once; the margin is for a loaded test machine.
    assert!(took < Duration::from_millis(2500), "took {took:?}");
    assert_eq!(st.code(), Some(111));
    let err = read(&l.stderr);
    let last = err.lines().last().unwrap();
    assert_eq!(
        last,
        format!(
            "tend-log: fatal: unable to write {}/current: No space left on device; {} bytes left in the pipe for the next tend-log",
            dir.display(),
            input.len()
        )
    );
    // Room again: the next tend-log on the same pipe writes every line, once.
    fs::remove_file(&filler).unwrap();
    let stderr = t.join("stderr-next");
    let mut cmd = Command::new(concat!(env!("TEND_BIN_DIR"), "/tend-log"));
    cmd.args(args)
        .arg(&dir)
        .stdin(Stdio::from(l.rd.try_clone().unwrap()))
        .stderr(fs::File::create(&stderr).unwrap());
    let mut next = Daemon::spawn(&mut cmd);
    drop(l.wr.take());
    let st = next.wait_exit(LIMIT);
    assert!(st.success(), "{st:?} {}", read(&stderr));
    assert_eq!(
        everything(&dir),
        input,
        "lost or doubled data\n{}",
        t.listing()
    );
}

#[test]
fn a_full_logdir_holds_the_input_for_every_logdir_and_neither_loses_a_line() {
    let t = TempDir::new("logfull-two");
    let Some(_fs) = Tmpfs::mount(&t.join("mnt"), "1m") else {
        return;
    };
    let dir = t.join("mnt/log");
    let other = t.join("other");
    let filler = t.join("mnt/filler");
    let args = [
        "-t",
        "none",
        "-s",
        "16k",
        "-n",
        "0",
        other.to_str().unwrap(),
    ];
    let mut l = start(&t, &dir, &args, b"");
    wait_until(LIMIT, "current", || dir.join("current").exists());
    fill(&filler);
    let input = numbered(10000, 64);
    let writer = write_until_paused(&mut l, &input);
    // The full logdir holds the input for the other one too: the producer is stuck, and
    // the other logdir has no more than what was read before the pause.
    let before = everything(&other).len();
    assert!(!writer.done(), "the writer was not held back");
    assert!(before < input.len(), "{before}");
    fs::remove_file(&filler).unwrap();
    writer.finish();
    let st = l.d.wait_exit(LIMIT);
    assert!(st.success(), "{st:?} {}", read(&l.stderr));
    assert_eq!(
        everything(&dir),
        input,
        "lost or duplicated data in the full logdir"
    );
    assert_eq!(
        everything(&other),
        input,
        "lost or duplicated data in the other"
    );
}

#[test]
fn sigterm_is_honoured_while_the_disk_is_full() {
    sigterm_while_full_leaves_the_lines_in_the_pipe("block");
}

#[test]
fn sigterm_while_full_under_free_keeps_the_lines_too() {
    sigterm_while_full_leaves_the_lines_in_the_pipe("free");
}

#[test]
fn free_deletes_the_oldest_archives_to_make_room() {
    let t = TempDir::new("logfull-free");
    let Some(_fs) = Tmpfs::mount(&t.join("mnt"), "256k") else {
        return;
    };
    let dir = t.join("mnt/log");
    // Three times what the file system holds: only the newest part can stay.
    let input = numbered(12000, 64);
    let mut l = start(
        &t,
        &dir,
        &["-t", "none", "-s", "16k", "-n", "0", "-f", "free"],
        b"",
    );
    let mut wr = l.wr.take().unwrap();
    let writer = std::thread::spawn({
        let input = input.clone();
        move || wr.write_all(&input).unwrap()
    });
    let st = l.d.wait_exit(Duration::from_secs(60));
    writer.join().unwrap();
    let err = read(&l.stderr);
    assert!(st.success(), "{st:?} {err}");
    let kept = everything(&dir);
    assert!(kept.len() > 100_000, "kept only {} bytes", kept.len());
    assert!(
        input.ends_with(&kept),
        "what is kept is not the newest data, contiguous"
    );
    let deleted = err.lines().filter(|l| l.contains("to make room")).count();
    assert!(deleted > 0, "{err}");
    for line in err.lines() {
        assert!(
            line.starts_with(&format!("tend-log: warning: deleted {}/@", dir.display()))
                && line.ends_with(".s to make room: No space left on device"),
            "{line}"
        );
    }
}

#[test]
fn free_never_deletes_below_the_config_files_minimum() {
    let t = TempDir::new("logfull-nmin");
    let Some(_fs) = Tmpfs::mount(&t.join("mnt"), "256k") else {
        return;
    };
    let dir = t.join("mnt/log");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("config"), "N3\n").unwrap();
    // Room for three and a half archives of 16k: without N3, `free` would delete one.
    let filler = t.join("mnt/filler");
    fill(&filler);
    let full = fs::metadata(&filler).unwrap().len();
    fs::write(&filler, vec![0u8; full as usize - (56 << 10)]).unwrap();
    let input = numbered(12000, 64);
    let mut l = start(
        &t,
        &dir,
        &["-t", "none", "-s", "16k", "-n", "0", "-f", "free"],
        b"",
    );
    let mut wr = l.wr.take().unwrap();
    // Ends with EPIPE once tend-log and the test's read end are gone.
    let writer = std::thread::spawn(move || {
        let _ = wr.write_all(&input);
    });
    wait_until(Duration::from_secs(60), "the pause", || {
        read(&l.stderr).contains("pausing input")
    });
    let names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('@'))
        .collect();
    assert_eq!(names.len(), 3, "{names:?}\n{}", read(&l.stderr));
    let err = read(&l.stderr);
    assert!(!err.contains("to make room"), "{err}");
    l.d.signal(15);
    l.d.wait_exit(LIMIT);
    drop(l.rd);
    writer.join().unwrap();
}

#[test]
fn drop_counts_lost_lines_and_logs_a_marker() {
    let t = TempDir::new("logfull-drop");
    let Some(_fs) = Tmpfs::mount(&t.join("mnt"), "256k") else {
        return;
    };
    let dir = t.join("mnt/log");
    fs::create_dir(&dir).unwrap();
    let filler = t.join("mnt/filler");
    fill(&filler);
    let input = numbered(10, 20);
    let mut l = start(&t, &dir, &["-t", "none", "-f", "drop"], &input);
    wait_until(LIMIT, "the drop warning", || {
        read(&l.stderr).contains("dropping lines")
    });
    // The producer is not held back: more lines are taken (and dropped) at once.
    let more = numbered(5, 20);
    l.wr.as_mut().unwrap().write_all(&more).unwrap();
    fs::remove_file(&filler).unwrap();
    let marker = format!(
        "tend-log: dropped 15 lines ({} bytes) while {} was full\n",
        input.len() + more.len(),
        dir.display()
    );
    wait_until(LIMIT, "the marker line", || {
        read(&dir.join("current")).contains(&marker)
    });
    l.wr.as_mut().unwrap().write_all(b"after\n").unwrap();
    drop(l.wr.take());
    let st = l.d.wait_exit(LIMIT);
    assert!(st.success(), "{st:?}");
    assert_eq!(read(&dir.join("current")), format!("{marker}after\n"));
    let err = read(&l.stderr);
    assert_eq!(
        err,
        format!(
            "tend-log: warning: unable to write {d}/current: No space left on device; dropping lines until it works again\n\
             tend-log: info: dropped 15 lines ({} bytes) while {d} was full\n",
            input.len() + more.len(),
            d = dir.display()
        )
    );
}
