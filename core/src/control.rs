//! The supervise dir, client side: is a supervisor there, send it commands, read its status.
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{self, Mode, OFlags};
use rustix::io::Errno;

use crate::error::{Ctx, Error};
use crate::info::Info;
use crate::status::Status;
use crate::supervise::write_all;
use crate::svdir::join_show;

/// Whether a supervisor holds `DIR/supervise/ok` open.
///
/// `Ok(false)` when the fifo has no reader (ENXIO) or does not exist (ENOENT, also for a
/// missing DIR); other failures are errors.
pub fn is_supervised(dir: &Path) -> Result<bool, Error> {
    match open_ok(dir) {
        Ok(_) => Ok(true),
        Err(Errno::NXIO | Errno::NOENT) => Ok(false),
        Err(errno) => Err(Error::Sys {
            op: format!("open {}", join_show(dir, "supervise/ok")),
            errno,
        }),
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
    let path = dir.join("supervise/status");
    let shown = join_show(dir, "supervise/status");
    // Read at most a few bytes more than a record, so a huge file costs nothing.
    let fd = fs::open(
        &path,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    )
    .ctx(|| format!("open {shown}"))?;
    let mut buf = [0u8; 64];
    let mut len = 0;
    while let Some(rest) = buf.get_mut(len..).filter(|r| !r.is_empty()) {
        match rustix::io::read(&fd, rest) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(Errno::INTR) => {}
            Err(errno) => {
                return Err(Error::Sys {
                    op: format!("read {shown}"),
                    errno,
                })
            }
        }
    }
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
    let text = std::fs::read(dir.join("supervise/info")).ok()?;
    if text.len() > 4096 {
        return None;
    }
    Some(Info::decode(&String::from_utf8_lossy(&text)))
}
