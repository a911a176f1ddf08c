//! The pipe holder of tend-scan -F: a small process that holds a read end of every log
//! pipe for as long as the scanner that started it lives, and after that scanner is
//! killed, until the next one has taken the pipes over.
//!
//! In pair mode each log pipe always has a reader besides the logger: the log
//! supervisor's stdin. In flat mode the scanner alone holds the read end while a logger
//! is down (between a crash and its restart, or after `svc -d`); were the scanner killed
//! then, the pipe would have no reader left, and the daemon's next write would kill it
//! with SIGPIPE, losing what the pipe held. The holder is that other reader. It never
//! reads: it only keeps the pipes open.
//!
//! It is `tend-scan --hold-pipes ID`, ID naming the scan dir (device:inode), started by
//! the scanner in a process group of its own with a pipe as stdin, on which the scanner
//! writes one line per change: `hold N` (take the scanner's fd N, through
//! /proc/SCANNER/fd/N), `drop N` (let it go), `bye` (the scanner is exiting in order:
//! exit). At end of file without `bye` the scanner died: it keeps holding, asleep, until
//! the next scanner of the same scan dir has opened the pipes again and sends it SIGTERM.
use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

/// The option that makes tend-scan a pipe holder.
pub const OPTION: &str = "--hold-pipes";

/// The holder's life: takes and drops the scanner's pipes as told on stdin.
pub fn hold() -> u8 {
    let scanner = rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get());
    let mut held: HashMap<RawFd, OwnedFd> = HashMap::new();
    let (mut line, mut buf) = (Vec::new(), [0u8; 512]);
    let stdin = std::io::stdin();
    loop {
        let n = match rustix::io::read(stdin.as_fd(), &mut buf) {
            Ok(n) => n,
            Err(Errno::INTR) => continue,
            Err(_) => 0,
        };
        if n == 0 {
            break;
        }
        for &b in buf.get(..n).unwrap_or_default() {
            if b != b'\n' {
                line.push(b);
                continue;
            }
            let text = String::from_utf8_lossy(&line).into_owned();
            line.clear();
            let mut words = text.split(' ');
            let (verb, num) = (words.next(), words.next().and_then(|w| w.parse().ok()));
            match (verb, num) {
                (Some("hold"), Some(fd)) => {
                    let path = format!("/proc/{scanner}/fd/{fd}");
                    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
                    if let Ok(own) = rustix::fs::open(path.as_str(), flags, Mode::empty()) {
                        held.insert(fd, own);
                    }
                }
                (Some("drop"), Some(fd)) => {
                    held.remove(&fd);
                }
                (Some("bye"), _) => return 0,
                _ => {}
            }
        }
    }
    // The scanner died: hold on, asleep (no wakeups), until the next one ends us.
    loop {
        let _ = rustix::event::poll(&mut [], None);
    }
}

/// The scanner's side: the holder it started and the pipe to it.
pub struct Holder {
    pid: u32,
    tx: OwnedFd,
}

impl Holder {
    /// Starts `exe` (this executable) as `tend-scan --hold-pipes ID`.
    pub fn spawn(exe: &Path, id: &str) -> Result<Holder, String> {
        let mut child = Command::new(exe)
            .arg0("tend-scan")
            .args([OPTION, id])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| e.to_string())?;
        let tx: OwnedFd = child.stdin.take().ok_or("no pipe to the holder")?.into();
        // Never wait on the holder: a line that does not fit is dropped (it reads at once).
        let _ = rustix::fs::fcntl_setfl(&tx, OFlags::NONBLOCK);
        Ok(Holder {
            pid: child.id(),
            tx,
        })
    }

    /// The holder's pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Asks the holder to hold the pipe the scanner has as `fd`.
    pub fn hold(&self, fd: impl AsRawFd) {
        self.send(&format!("hold {}\n", fd.as_raw_fd()));
    }

    /// Asks the holder to let go of what it holds as the scanner's `fd`.
    pub fn release(&self, fd: impl AsRawFd) {
        self.send(&format!("drop {}\n", fd.as_raw_fd()));
    }

    /// Tells the holder that the scanner exits in order: it exits too.
    pub fn bye(&self) {
        self.send("bye\n");
    }

    fn send(&self, line: &str) {
        let _ = tend_core::supervise::write_all(&self.tx, line.as_bytes());
    }
}

/// Sends SIGTERM to the holders that earlier scanners of scan dir `id` left (they were
/// killed), once this scanner holds the pipes itself; `except` is this scanner's own.
/// Only processes of the same user, whose command line is `tend-scan --hold-pipes ID`.
pub fn stop_old(id: &str, except: Option<u32>) {
    let uid = rustix::process::geteuid().as_raw();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return;
    };
    for ent in dir.flatten() {
        let Ok(pid) = ent.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if Some(pid) == except {
            continue;
        }
        let Ok(cmdline) = std::fs::read(ent.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        let name = args
            .first()
            .map(|a| Path::new(std::ffi::OsStr::from_bytes(a)));
        let ours = name.and_then(Path::file_name) == Some(std::ffi::OsStr::new("tend-scan"))
            && args.get(1) == Some(&OPTION.as_bytes())
            && args.get(2) == Some(&id.as_bytes());
        let same_user = rustix::fs::stat(ent.path()).is_ok_and(|st| st.st_uid == uid);
        if ours && same_user {
            if let Some(p) = i32::try_from(pid)
                .ok()
                .and_then(rustix::process::Pid::from_raw)
            {
                let _ = rustix::process::kill_process(p, rustix::process::Signal::TERM);
            }
        }
    }
}
