//! Service dirs: `$SVDIR` name resolution and the service-dir files of DESIGN.md section 4.
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::fs::FlockOperation;
use rustix::io::Errno;
use rustix::process::Signal;

use crate::cmd::parse_signal;

/// The system service dir when `$SVDIR` is unset.
pub const DEFAULT_SVDIR: &str = "/var/service";
/// `timeout-finish` when the file is absent.
pub const DEFAULT_TIMEOUT_FINISH: Duration = Duration::from_millis(5000);

/// The system service dir: `$SVDIR`, or /var/service when unset or empty.
pub fn svdir() -> PathBuf {
    match std::env::var_os("SVDIR") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(DEFAULT_SVDIR),
    }
}

/// Resolves a DIR argument of svc, svok, svstat, svwait: a name with no slash that is not
/// `.` or `..` is taken relative to the system service dir; so is a relative path with a
/// slash (`web/log`) that does not start with `./` or `../` and names nothing in the
/// current directory. Anything else is used as given.
pub fn resolve(arg: &OsStr) -> PathBuf {
    resolve_in(arg, &svdir())
}

/// [`resolve`] against an explicit system service dir.
pub fn resolve_in(arg: &OsStr, base: &Path) -> PathBuf {
    let b = arg.as_bytes();
    let as_given = b == b"." || b == b".." || b.is_empty() || b.starts_with(b"/");
    let explicit = b.starts_with(b"./") || b.starts_with(b"../");
    let here = || std::fs::symlink_metadata(arg).is_ok();
    if as_given || (b.contains(&b'/') && (explicit || here())) {
        PathBuf::from(arg)
    } else {
        base.join(arg)
    }
}

/// The service-dir settings a supervisor reads before each start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `down` exists: do not start when the supervisor starts.
    pub down: bool,
    /// `notification-fd`: the fd on which the daemon reports readiness.
    pub notification_fd: Option<i32>,
    /// `timeout-kill`: SIGKILL this long after the down signal; `None` = never.
    pub timeout_kill: Option<Duration>,
    /// `timeout-finish`: SIGKILL `finish` after this long; `None` = never (file says 0).
    pub timeout_finish: Option<Duration>,
    /// `down-signal`: sent by `svc -d` and on supervisor SIGTERM; TERM by default.
    pub down_signal: Signal,
    /// `check` is executable: runit's readiness check, used without notification-fd.
    pub check: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            down: false,
            notification_fd: None,
            timeout_kill: None,
            timeout_finish: Some(DEFAULT_TIMEOUT_FINISH),
            down_signal: Signal::TERM,
            check: false,
        }
    }
}

/// Largest notification-fd accepted; fds 0-2 are the daemon's stdio and refused.
const MAX_NOTIFICATION_FD: i32 = 1023;
/// Largest timeout accepted, in ms (about 24 days), so that deadline math cannot overflow.
const MAX_TIMEOUT_MS: u64 = 1 << 31;

impl Settings {
    /// Whether readiness comes from runs of `./check` (no notification-fd, and `check`
    /// is executable), as runit's `sv check`.
    pub fn checks_readiness(&self) -> bool {
        self.notification_fd.is_none() && self.check
    }

    /// Reads the settings files in `dir`. A malformed file keeps its default and adds a
    /// one-line complaint (e.g. "ignoring timeout-kill: not a number of milliseconds: x")
    /// to the returned list, so the supervisor can warn without stopping.
    pub fn read(dir: &Path) -> (Settings, Vec<String>) {
        match open_dir(dir) {
            Ok(fd) => Settings::read_at(fd.as_fd()),
            Err(_) => (Settings::default(), Vec::new()),
        }
    }

    /// As [`Settings::read`], in the directory open as `dir`.
    pub fn read_at(dir: BorrowedFd<'_>) -> (Settings, Vec<String>) {
        let (s, bad, _) = Settings::read_noting_fds(dir);
        (s, bad)
    }

    /// As [`Settings::read_at`], but fails with EMFILE or ENFILE if a file could not be
    /// read for lack of a descriptor (a spawn would fail too; the settings in force should
    /// stay).
    pub fn read_checked_at(dir: BorrowedFd<'_>) -> Result<(Settings, Vec<String>), Errno> {
        match Settings::read_noting_fds(dir) {
            (_, _, Some(errno)) => Err(errno),
            (s, bad, None) => Ok((s, bad)),
        }
    }

    /// Reads the settings, noting whether descriptors ran out.
    fn read_noting_fds(dir: BorrowedFd<'_>) -> (Settings, Vec<String>, Option<Errno>) {
        let mut s = Settings::default();
        let mut bad = Vec::new();
        let mut out_of_fds = None;
        let mut read_small = |name: &str, bad: &mut Vec<String>| {
            let r = read_small(dir, name, bad);
            if let Err(errno) = r {
                out_of_fds = Some(errno);
            }
            r.ok().flatten()
        };
        let nofollow = rustix::fs::AtFlags::SYMLINK_NOFOLLOW;
        s.down = rustix::fs::statat(dir, "down", nofollow).is_ok();
        s.check = rustix::fs::accessat(
            dir,
            "check",
            rustix::fs::Access::EXEC_OK,
            rustix::fs::AtFlags::empty(),
        )
        .is_ok();
        if let Some(text) = read_small("notification-fd", &mut bad) {
            match text.trim().parse::<i32>() {
                Ok(n) if (3..=MAX_NOTIFICATION_FD).contains(&n) => s.notification_fd = Some(n),
                _ => bad.push(format!(
                    "ignoring notification-fd: not a descriptor from 3 to {MAX_NOTIFICATION_FD}: {}",
                    one_line(text.trim())
                )),
            }
        }
        if let Some(text) = read_small("timeout-kill", &mut bad) {
            match parse_ms(&text) {
                Some(0) => s.timeout_kill = None,
                Some(ms) => s.timeout_kill = Some(Duration::from_millis(ms)),
                None => bad.push(ms_complaint("timeout-kill", &text)),
            }
        }
        if let Some(text) = read_small("timeout-finish", &mut bad) {
            match parse_ms(&text) {
                Some(0) => s.timeout_finish = None,
                Some(ms) => s.timeout_finish = Some(Duration::from_millis(ms)),
                None => bad.push(ms_complaint("timeout-finish", &text)),
            }
        }
        if let Some(text) = read_small("down-signal", &mut bad) {
            match parse_signal(&text) {
                Some(sig) => s.down_signal = sig,
                None => bad.push(format!(
                    "ignoring down-signal: unknown signal: {}",
                    one_line(text.trim())
                )),
            }
        }
        (s, bad, out_of_fds)
    }
}

/// Reads `control-group`: a group name (looked up in /etc/group) or a numeric gid whose
/// members may control the service. `Ok(None)` when the file is absent; a complaint when
/// it is unreadable or names no group (the fifos then stay the owner's alone).
pub fn read_control_group(dir: &Path) -> Result<Option<u32>, String> {
    match open_dir(dir) {
        Ok(fd) => read_control_group_at(fd.as_fd()).map_err(|e| match e {
            GroupError::Bad(why) => why,
            GroupError::OutOfFds(errno) => format!(
                "ignoring control-group: unable to read it: {}",
                crate::error::describe(errno)
            ),
        }),
        Err(errno) => Err(format!(
            "ignoring control-group: unable to open {}: {}",
            show(dir),
            crate::error::describe(errno)
        )),
    }
}

/// Why `control-group` gives no group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupError {
    /// The file is unreadable or names no group: a complaint; the fifos stay the owner's.
    Bad(String),
    /// Out of descriptors (EMFILE or ENFILE) reading it or /etc/group: nothing is known,
    /// so the supervise dir should not be set up now (tend-scan -F tries again later).
    OutOfFds(Errno),
}

/// As [`read_control_group`], in the directory open as `dir`.
pub fn read_control_group_at(dir: BorrowedFd<'_>) -> Result<Option<u32>, GroupError> {
    let mut bad = Vec::new();
    let text = match read_small(dir, "control-group", &mut bad) {
        Ok(Some(text)) => text,
        Ok(None) => {
            return match bad.pop() {
                Some(b) => Err(GroupError::Bad(b)),
                None => Ok(None),
            }
        }
        Err(errno) => return Err(GroupError::OutOfFds(errno)),
    };
    let name = text.trim();
    if let Ok(gid) = name.parse::<u32>() {
        return Ok(Some(gid));
    }
    let groups = match std::fs::read_to_string("/etc/group") {
        Ok(g) => g,
        Err(e) => match Errno::from_io_error(&e) {
            Some(errno @ (Errno::MFILE | Errno::NFILE)) => return Err(GroupError::OutOfFds(errno)),
            _ => String::new(),
        },
    };
    lookup_group(&groups, name).map(Some).ok_or_else(|| {
        GroupError::Bad(format!(
            "ignoring control-group: no such group: {}",
            one_line(name)
        ))
    })
}

/// Finds a group's gid in the text of /etc/group.
fn lookup_group(etc_group: &str, name: &str) -> Option<u32> {
    etc_group.lines().find_map(|line| {
        let mut f = line.split(':');
        (f.next()? == name).then_some(())?;
        f.nth(1)?.parse().ok()
    })
}

fn ms_complaint(file: &str, text: &str) -> String {
    format!(
        "ignoring {file}: not a number of milliseconds up to {MAX_TIMEOUT_MS}: {}",
        one_line(text.trim())
    )
}

/// Parses a whole number of milliseconds, bounded so deadlines never overflow.
pub fn parse_ms(text: &str) -> Option<u64> {
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|&ms| ms <= MAX_TIMEOUT_MS)
}

/// Opens the directory `dir` for use as the base of *at calls (O_PATH: no read right
/// needed).
pub fn open_dir(dir: &Path) -> Result<OwnedFd, Errno> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    rustix::fs::open(dir, flags, Mode::empty())
}

/// Reads a settings file of at most 64 bytes in `dir` as text; `None` if absent.
/// Unreadable or oversized files add a complaint. A fifo put there does not block the
/// read (O_NONBLOCK): the supervisor must not hang on a file.
fn read_small(
    dir: BorrowedFd<'_>,
    name: &str,
    bad: &mut Vec<String>,
) -> Result<Option<String>, Errno> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK;
    let mut buf = [0u8; 65];
    let r = rustix::fs::openat(dir, name, flags, Mode::empty())
        .and_then(|fd| crate::supervise::read_up_to(&fd, &mut buf));
    match r {
        Ok(len) if len > 64 => {
            bad.push(format!("ignoring {name}: longer than 64 bytes"));
            Ok(None)
        }
        Ok(len) => match String::from_utf8(buf.get(..len).unwrap_or_default().to_vec()) {
            Ok(t) => Ok(Some(t)),
            Err(_) => {
                bad.push(format!("ignoring {name}: not text"));
                Ok(None)
            }
        },
        Err(Errno::NOENT) => Ok(None),
        Err(errno) => {
            bad.push(format!(
                "ignoring {name}: unable to read it: {}",
                crate::error::describe(errno)
            ));
            match errno {
                Errno::MFILE | Errno::NFILE => Err(errno),
                _ => Ok(None),
            }
        }
    }
}

/// Text for a one-line message: control characters (newline, carriage return, escape...)
/// are shown escaped, as `\n`, `\r`, `\u{1b}`, so that a file's contents or a name
/// cannot split a message or forge another one.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Shows a path for a message, lossily for non-UTF-8 bytes.
pub fn show(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Joins a directory name and a file name for messages, e.g. "sv/supervise/ok".
pub fn join_show(dir: &Path, file: &str) -> String {
    let mut s: OsString = dir.as_os_str().to_owned();
    s.push("/");
    s.push(file);
    PathBuf::from(s).to_string_lossy().into_owned()
}

/// Takes an exclusive `flock` on `fd` (the live scan dir, `shown` in messages), waiting
/// for svactivate or svdeactivate runs that hold it: they must not trample each other's
/// `.NAME.tmp` and `.NAME.removing`.
pub fn lock_exclusive(fd: OwnedFd, shown: &str) -> Result<OwnedFd, crate::Error> {
    use crate::Ctx;
    loop {
        match rustix::fs::flock(&fd, FlockOperation::LockExclusive) {
            Err(Errno::INTR) => continue,
            r => return r.map(|()| fd).ctx(|| format!("lock {shown}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_by_name_or_number() {
        let etc = "root:x:0:\nwheel:x:10:alice,bob\nbroken\nweb:x:nope:\n";
        assert_eq!(lookup_group(etc, "wheel"), Some(10));
        assert_eq!(lookup_group(etc, "root"), Some(0));
        assert_eq!(lookup_group(etc, "web"), None);
        assert_eq!(lookup_group(etc, "broken"), None);
        assert_eq!(lookup_group(etc, "nobody-here"), None);
        let d = std::env::temp_dir().join(format!("tend-cgroup-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        assert_eq!(read_control_group(&d), Ok(None));
        std::fs::write(d.join("control-group"), "4242\n").unwrap();
        assert_eq!(read_control_group(&d), Ok(Some(4242)));
        std::fs::write(d.join("control-group"), "root\n").unwrap();
        assert_eq!(read_control_group(&d), Ok(Some(0)));
        std::fs::write(d.join("control-group"), "no-such-group-here\n").unwrap();
        assert_eq!(
            read_control_group(&d),
            Err("ignoring control-group: no such group: no-such-group-here".into())
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn names_resolve_against_svdir() {
        let base = Path::new("/srv/sv");
        assert_eq!(
            resolve_in(OsStr::new("web"), base),
            PathBuf::from("/srv/sv/web")
        );
        assert_eq!(
            resolve_in(OsStr::new("./web"), base),
            PathBuf::from("./web")
        );
        // With a slash: in the service dir unless it names something here (tests run
        // in the crate's dir, which has src/).
        assert_eq!(
            resolve_in(OsStr::new("web/log"), base),
            PathBuf::from("/srv/sv/web/log")
        );
        assert_eq!(
            resolve_in(OsStr::new("web/"), base),
            PathBuf::from("/srv/sv/web/")
        );
        assert_eq!(
            resolve_in(OsStr::new("src/svdir.rs"), base),
            PathBuf::from("src/svdir.rs")
        );
        assert_eq!(
            resolve_in(OsStr::new("../web/log"), base),
            PathBuf::from("../web/log")
        );
        assert_eq!(
            resolve_in(OsStr::new("/x/web"), base),
            PathBuf::from("/x/web")
        );
        assert_eq!(resolve_in(OsStr::new("."), base), PathBuf::from("."));
        assert_eq!(resolve_in(OsStr::new(".."), base), PathBuf::from(".."));
        assert_eq!(
            resolve_in(OsStr::new(".web"), base),
            PathBuf::from("/srv/sv/.web")
        );
    }

    #[test]
    fn settings_files_parse_and_complain() {
        let d = std::env::temp_dir().join(format!("tend-svdir-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        assert_eq!(Settings::read(&d), (Settings::default(), vec![]));
        std::fs::write(d.join("down"), "").unwrap();
        std::fs::write(d.join("notification-fd"), "3\n").unwrap();
        std::fs::write(d.join("timeout-kill"), "250\n").unwrap();
        std::fs::write(d.join("timeout-finish"), "0").unwrap();
        std::fs::write(d.join("down-signal"), "SIGHUP\n").unwrap();
        let (s, bad) = Settings::read(&d);
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(
            s,
            Settings {
                down: true,
                notification_fd: Some(3),
                timeout_kill: Some(Duration::from_millis(250)),
                timeout_finish: None,
                down_signal: Signal::HUP,
                check: false,
            }
        );
        std::fs::write(d.join("notification-fd"), "1").unwrap();
        std::fs::write(d.join("timeout-kill"), "-5").unwrap();
        std::fs::write(d.join("timeout-finish"), vec![0xffu8, 0xfe]).unwrap();
        std::fs::write(d.join("down-signal"), "BOGUS").unwrap();
        let (s, bad) = Settings::read(&d);
        assert_eq!(
            s,
            Settings {
                down: true,
                ..Settings::default()
            }
        );
        assert_eq!(
            bad,
            vec![
                "ignoring notification-fd: not a descriptor from 3 to 1023: 1".to_string(),
                "ignoring timeout-kill: not a number of milliseconds up to 2147483648: -5".into(),
                "ignoring timeout-finish: not text".into(),
                "ignoring down-signal: unknown signal: BOGUS".into(),
            ]
        );
        std::fs::write(d.join("timeout-kill"), "5\n6\r\x1b[2J").unwrap();
        let (_, bad) = Settings::read(&d);
        assert_eq!(
            bad.get(1).map(String::as_str),
            Some("ignoring timeout-kill: not a number of milliseconds up to 2147483648: 5\\n6\\r\\u{1b}[2J")
        );
        std::fs::remove_dir_all(&d).unwrap();
    }
}
