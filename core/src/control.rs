//! The supervise dir, client side: is a supervisor there, send it commands, read its status.
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{self, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use crate::error::{Ctx, Error};
use crate::info::Info;
use crate::status::Status;
use crate::supervise::write_all;
use crate::svdir::join_show;

/// Whether a supervisor runs on a service dir, as [`find_supervisor`] found out.
#[derive(Debug)]
pub enum Presence {
    /// One runs. The fd, the write end of `ok` or a read end of `alive`, reports POLLERR
    /// or POLLHUP once it has exited.
    Running(OwnedFd),
    /// None runs: ENXIO (nobody holds `ok` open, or nobody holds `alive` locked) or
    /// ENOENT (no `ok` fifo, no supervise dir, no DIR).
    Absent(Errno),
}

/// Whether a supervisor runs on DIR ([`find_supervisor`]).
pub fn is_supervised(dir: &Path) -> Result<bool, Error> {
    Ok(matches!(find_supervisor(dir)?, Presence::Running(_)))
}

/// Finds out whether a supervisor runs on DIR, with whatever rights the caller has.
///
/// The owner (and the control group) open `DIR/supervise/ok` for writing, as daemontools
/// and runit do, which works on their supervise dirs too. Anyone else, refused `ok`, tries
/// a shared flock on `DIR/supervise/alive`, which a tend supervisor holds exclusively for
/// its life ([`crate::supervise::SuperviseDir::open`]). Where there is no `alive` (another
/// suite's supervisor) or it cannot be opened either, the error is opening `ok`'s.
pub fn find_supervisor(dir: &Path) -> Result<Presence, Error> {
    let denied = match open_ok(dir) {
        Ok(fd) => return Ok(Presence::Running(fd)),
        Err(errno @ (Errno::NXIO | Errno::NOENT)) => return Ok(Presence::Absent(errno)),
        Err(errno @ (Errno::ACCESS | Errno::PERM)) => errno,
        Err(errno) => return Err(open_error(dir, "supervise/ok", errno)),
    };
    match open_alive(dir) {
        Ok(Some(fd)) => Ok(Presence::Running(fd)),
        Ok(None) => Ok(Presence::Absent(Errno::NXIO)),
        Err(Errno::NOENT | Errno::ACCESS | Errno::PERM) => {
            Err(open_error(dir, "supervise/ok", denied))
        }
        Err(errno) => Err(open_error(dir, "supervise/alive", errno)),
    }
}

/// The error of opening `DIR/FILE`.
fn open_error(dir: &Path, file: &str, errno: Errno) -> Error {
    Error::Sys {
        op: format!("open {}", join_show(dir, file)),
        errno,
    }
}

/// Opens `DIR/supervise/alive` for reading, without blocking, and returns it if a
/// supervisor holds its lock; `None` if none does. Only a non-blocking shared lock is
/// tried, and released at once if it is had (the fifo of a supervisor that has exited,
/// which no later supervisor will lock again), so it never keeps anyone out.
fn open_alive(dir: &Path) -> rustix::io::Result<Option<OwnedFd>> {
    let fd = fs::open(
        dir.join("supervise/alive"),
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    match fs::flock(&fd, FlockOperation::NonBlockingLockShared) {
        Err(Errno::WOULDBLOCK) => Ok(Some(fd)),
        Ok(()) => Ok(None),
        Err(errno) => Err(errno),
    }
}

/// Opens `DIR/supervise/ok` for writing without blocking: succeeds only while a supervisor
/// holds it open for reading (ENXIO when none does). The fd reports POLLERR once the
/// supervisor has gone.
pub fn open_ok(dir: &Path) -> rustix::io::Result<OwnedFd> {
    fs::open(
        dir.join("supervise/ok"),
        OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// Writes `cmds` (control letters) to `DIR/supervise/control` in one write.
///
/// Fails with ENXIO ("supervisor not running") when nobody reads the fifo, ENOENT when
/// there is none.
pub fn send(dir: &Path, cmds: &[u8]) -> Result<(), Error> {
    let what = || format!("control {}", dir.to_string_lossy());
    let fd = fs::open(
        dir.join("supervise/control"),
        OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx(what)?;
    write_all(&fd, cmds).ctx(what)
}

/// Reads and decodes `DIR/supervise/status` (20 bytes from tend or runit, 18 from
/// daemontools). A file of any other size is [`Error::Invalid`].
pub fn read_status(dir: &Path) -> Result<Status, Error> {
    let shown = join_show(dir, "supervise/status");
    read_status_in(fs::CWD, &dir.join("supervise/status"), &shown)
}

/// As [`read_status`], in the service dir open as `dir` (shown as `shown`).
pub fn read_status_at(dir: BorrowedFd<'_>, shown: &str) -> Result<Status, Error> {
    let shown = format!("{shown}/supervise/status");
    read_status_in(dir, Path::new("supervise/status"), &shown)
}

/// Reads and decodes the status file at `path` from `base`.
fn read_status_in(base: BorrowedFd<'_>, path: &Path, shown: &str) -> Result<Status, Error> {
    // Read at most a few bytes more than a record, so a huge file costs nothing.
    let fd = fs::openat(
        base,
        path,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    )
    .ctx(|| format!("open {shown}"))?;
    let mut buf = [0u8; 64];
    let len = crate::supervise::read_up_to(&fd, &mut buf).map_err(|errno| Error::Sys {
        op: format!("read {shown}"),
        errno,
    })?;
    // A file that filled the buffer may be any size from there on.
    let size = if len == buf.len() {
        format!("at least {len} bytes")
    } else {
        format!("{len} bytes")
    };
    buf.get(..len)
        .and_then(Status::decode)
        .ok_or_else(|| Error::Invalid(format!("unable to read {shown}: bad format ({size})")))
}

/// Reads `DIR/supervise/info` if a tend supervisor wrote one; `None` otherwise.
pub fn read_info(dir: &Path) -> Option<Info> {
    read_info_in(fs::CWD, &dir.join("supervise/info"))
}

/// As [`read_info`], in the service dir open as `dir`.
pub fn read_info_at(dir: BorrowedFd<'_>) -> Option<Info> {
    read_info_in(dir, Path::new("supervise/info"))
}

/// Reads the info file at `path` from `base`, if it is at most 4096 bytes.
fn read_info_in(base: BorrowedFd<'_>, path: &Path) -> Option<Info> {
    let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK;
    let fd = fs::openat(base, path, flags, Mode::empty()).ok()?;
    let mut buf = [0u8; 4097];
    let len = crate::supervise::read_up_to(&fd, &mut buf).ok()?;
    let text = buf.get(..len).filter(|t| t.len() <= 4096)?;
    Some(Info::decode(&String::from_utf8_lossy(text)))
}
