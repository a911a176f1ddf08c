//! Helpers shared by the integration tests: temp dirs, bounded waits, daemon guards.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A generous limit for waits: the suite runs in parallel on 2 busy cores.
pub const LIMIT: Duration = Duration::from_secs(20);

/// A directory removed (with everything in it) when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Creates a fresh directory named after the test.
    pub fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("tend-{name}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// A path inside.
    pub fn join(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }

    /// A recursive listing, for failure messages.
    pub fn listing(&self) -> String {
        let out = Command::new("ls").arg("-laR").arg(&self.0).output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // TEND_KEEP_FAILED=1 keeps a failed test's files for a look.
        if std::thread::panicking() && std::env::var_os("TEND_KEEP_FAILED").is_some() {
            eprintln!("kept {}", self.0.display());
            return;
        }
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The names the one executable `tend` answers to.
pub const PROGRAMS: [&str; 9] = [
    "tend-scan",
    "tend-supervise",
    "tend-log",
    "svc",
    "svok",
    "svstat",
    "svwait",
    "svactivate",
    "svdeactivate",
];

/// Makes every program's link to `tend` in TEND_BIN_DIR (where cargo puts `tend`), as an
/// installation does, before the test harness starts: tests name the programs by these
/// paths, and tend-scan finds `tend-supervise` beside itself.
#[used]
#[link_section = ".init_array"]
static MAKE_LINKS: extern "C" fn() = make_links;

extern "C" fn make_links() {
    let dir = Path::new(env!("TEND_BIN_DIR"));
    assert_eq!(
        Path::new(env!("CARGO_BIN_EXE_tend")).parent(),
        Some(dir),
        "TEND_BIN_DIR is not where cargo put tend"
    );
    for name in PROGRAMS {
        let link = dir.join(name);
        if fs::read_link(&link).is_ok_and(|to| to == Path::new("tend")) {
            continue;
        }
        // A fresh link renamed into place: test processes may run side by side.
        let tmp = dir.join(format!(".{name}.{}", std::process::id()));
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink("tend", &tmp).unwrap();
        fs::rename(&tmp, &link).unwrap();
    }
}

/// Polls `cond` every 10 ms until it holds; fails the test after `limit`.
pub fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !cond() {
        assert!(
            Instant::now() < end,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Writes an executable file (mode 0755), creating parent dirs.
pub fn write_exec(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    // Write under another name and rename, so no one ever executes a half-written
    // file (ETXTBSY races with fork in other test threads).
    let tmp = path.with_extension("tmp-write");
    fs::write(&tmp, text).unwrap();
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755)).unwrap();
    fs::rename(&tmp, path).unwrap();
}

/// Reads a file to a string, or "" if it cannot be read.
pub fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

/// A daemon started by a test: SIGTERM, then SIGKILL after a while, and reaped on drop.
pub struct Daemon {
    pub child: Child,
    pub what: String,
}

impl Daemon {
    /// Spawns `cmd` and guards it.
    pub fn spawn(cmd: &mut Command) -> Daemon {
        let what = format!("{cmd:?}");
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("unable to spawn {what}: {e}"));
        Daemon { child, what }
    }

    /// The pid.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends a signal by pid.
    pub fn signal(&self, sig: i32) {
        unsafe_kill(self.pid(), sig);
    }

    /// Waits (bounded) for the process to exit and returns its exit status.
    pub fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let end = Instant::now() + limit;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(
                Instant::now() < end,
                "timed out after {limit:?} waiting for {} to exit",
                self.what
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether it has exited (reaping it if so).
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        unsafe_kill(self.pid(), 15);
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        unsafe_kill(self.pid(), 9);
        let _ = self.child.wait();
    }
}

/// kill(2) by pid through the `kill` command, so the tests need no libc binding.
pub fn unsafe_kill(pid: i32, sig: i32) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

/// Whether a process with this pid exists (and is not a zombie).
pub fn alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

/// Runs a command to completion, with a bound on its run time.
pub fn run(cmd: &mut Command) -> Output {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("unable to spawn {what}: {e}"));
    let end = Instant::now() + LIMIT;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("{what} did not finish within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `cmd` with `input` on its stdin (closed after) until it exits (bounded). A write
/// refused because the program exited already is the caller's to judge.
pub fn feed(cmd: &mut Command, input: &[u8]) -> Output {
    use std::io::Write;
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("unable to spawn {what}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(input);
    drop(stdin);
    let end = Instant::now() + LIMIT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > end {
            let _ = child.kill();
            panic!("{what} did not exit within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.wait_with_output().unwrap()
}

/// stdout and stderr of an output, lossily, for assertions and failure messages.
pub fn texts(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The children of `parent` whose command line is `tend-supervise ARG`.
pub fn supervisors(parent: i32, arg: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for ent in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = ent.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if ppid(pid) != Some(parent) {
            continue;
        }
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        if args.len() >= 2
            && args[0].ends_with(b"tend-supervise")
            && args[1] == arg.as_bytes()
            && alive(pid)
        {
            out.push(pid);
        }
    }
    out
}

/// The parent pid of `pid`.
pub fn ppid(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')')
        .next()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// A small xorshift generator for tests that act at random moments: seed it from the
/// clock and print the seed, so that a failure can be replayed.
pub struct Rng(pub u64);

impl Rng {
    /// A number below `n` (> 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// How tend-scan runs the supervising: a `tend-supervise` process per service dir and per
/// `log/` (pair mode, the default), or every one of them inside tend-scan (flat mode, -F).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `tend-scan DIR`.
    Pair,
    /// `tend-scan -F DIR`.
    Flat,
}

impl Mode {
    /// tend-scan's arguments that choose this mode.
    pub fn scan_args(self) -> &'static [&'static str] {
        match self {
            Mode::Pair => &[],
            Mode::Flat => &["-F"],
        }
    }

    /// The prefix of the messages about service dir `name` (as tend-scan or the test
    /// named it): from its tend-supervise, or from tend-scan itself.
    pub fn prog(self, name: &str) -> String {
        match self {
            Mode::Pair => format!("tend-supervise {name}"),
            Mode::Flat => format!("tend-scan {name}"),
        }
    }
}

/// Defines a test run in both modes, as `NAME::pair` and `NAME::flat`: one body, given
/// the [`Mode`] as its one argument.
#[allow(unused_macros)] // not every test file runs in both modes
macro_rules! both_modes {
    ($(#[$attr:meta])* fn $name:ident($mode:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $(#[$attr])*
            #[test]
            fn pair() {
                body($crate::common::Mode::Pair)
            }
            $(#[$attr])*
            #[test]
            fn flat() {
                body($crate::common::Mode::Flat)
            }
            fn body($mode: $crate::common::Mode) $body
        }
    };
}
#[allow(unused_imports)]
pub(crate) use both_modes;
