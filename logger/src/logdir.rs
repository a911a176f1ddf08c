//! The logdir on disk: the lock, `current`, the archives, their names and their retention.
//!
//! `current` and the archives are only ever reached through the logdir's descriptor, with
//! `O_NOFOLLOW`: a symbolic link planted as `current` is refused, never followed.
use std::ffi::CStr;
use std::num::NonZeroU64;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rustix::fs::{Advice, AtFlags, FileType, FlockOperation, Mode, OFlags};
use rustix::io::Errno;
use tend_core::tai::Tai64n;
use tend_core::{Ctx, Error};

/// Mode of `current` while it is being written.
pub const MODE_WRITING: u32 = 0o644;
/// Mode of a cleanly finished `current` and of archives: the u+x bit marks "finalized".
pub const MODE_FINISHED: u32 = 0o744;
/// Writeback of `current` is started after this many bytes written.
pub const WRITEBACK_EVERY: u64 = 1 << 20;
/// Mode of a logdir that tend-log creates.
pub const MODE_DIR: u32 = 0o755;

/// One archive: `@<TAI64N>.s` (finished) or `@<TAI64N>.u` (recovered unfinished).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Archive {
    /// The TAI64N label in the name.
    pub label: Tai64n,
    /// The file name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
}

/// What [`Logdir::open`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found {
    /// No `current` (or an empty one): starting a fresh one.
    Fresh,
    /// A cleanly finished `current` of this many bytes: appending to it.
    Appended(u64),
    /// An unfinished `current`, archived under this name (`@....u`).
    Recovered(String),
}

/// An open, locked logdir.
#[derive(Debug)]
pub struct Logdir {
    path: PathBuf,
    dir: OwnedFd,
    lock: OwnedFd,
    current: Option<OwnedFd>,
    /// Bytes of `current` on disk.
    size: u64,
    /// Offset up to which writeback of `current` was started.
    advised: u64,
    /// The newest archive label seen or made: new names always sort after it.
    newest: Option<Tai64n>,
}

impl Logdir {
    /// Creates the logdir if missing (mode 0755, parents not created), locks `lock`
    /// (non-blocking) and opens `current` for appending, archiving an unfinished one as
    /// `@<label>.u` where `label` comes from `now` (and sorts after every archive).
    ///
    /// Errors: `Busy` if another process holds the lock; `Invalid` if `current` is a
    /// symbolic link or not a regular file; `Sys` for failed system calls.
    pub fn open(path: &Path, now: SystemTime) -> Result<(Logdir, Found), Error> {
        let show = path.display();
        match rustix::fs::mkdir(path, Mode::from_raw_mode(MODE_DIR)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(errno) => {
                return Err(Error::Sys {
                    op: format!("create {show}"),
                    errno,
                })
            }
        }
        let dir = open_dir(path)?;
        let lock = lock_dir(&dir, path)?;
        let mut d = Logdir {
            path: path.to_path_buf(),
            dir,
            lock,
            current: None,
            size: 0,
            advised: 0,
            newest: None,
        };
        d.newest = d.archives()?.last().map(|a| a.label);
        let found = d.adopt_current(now)?;
        Ok((d, found))
    }

    /// Decides what to do with a `current` left by an earlier run, then opens `current`.
    fn adopt_current(&mut self, now: SystemTime) -> Result<Found, Error> {
        let found = match rustix::fs::statat(&self.dir, "current", AtFlags::SYMLINK_NOFOLLOW) {
            Err(Errno::NOENT) => Found::Fresh,
            Err(errno) => {
                return Err(Error::Sys {
                    op: format!("stat {}", self.current_path()),
                    errno,
                })
            }
            Ok(st) => {
                self.check_regular(FileType::from_raw_mode(st.st_mode))?;
                let size = u64::try_from(st.st_size).unwrap_or(0);
                if st.st_mode & 0o100 != 0 {
                    Found::Appended(size)
                } else if size == 0 {
                    Found::Fresh
                } else {
                    let name = self.archive_current(now, 'u')?;
                    self.sync_dir()?;
                    Found::Recovered(name)
                }
            }
        };
        self.open_current()?;
        Ok(found)
    }

    fn check_regular(&self, kind: FileType) -> Result<(), Error> {
        match kind {
            FileType::RegularFile => Ok(()),
            FileType::Symlink => Err(Error::Invalid(format!(
                "unable to open {}: it is a symbolic link, and tend-log never follows one",
                self.current_path()
            ))),
            _ => Err(Error::Invalid(format!(
                "unable to open {}: not a regular file",
                self.current_path()
            ))),
        }
    }

    /// The logdir's path as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `LOGDIR/current`, for messages.
    pub fn current_path(&self) -> String {
        format!("{}/current", self.path.display())
    }

    /// Bytes of `current` on disk.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether `current` is open.
    pub fn has_current(&self) -> bool {
        self.current.is_some()
    }

    /// The logdir's descriptor (for privilege changes).
    pub fn dir_fd(&self) -> &OwnedFd {
        &self.dir
    }

    /// The lock file's descriptor.
    pub fn lock_fd(&self) -> &OwnedFd {
        &self.lock
    }

    /// `current`'s descriptor, if open.
    pub fn current_fd(&self) -> Option<&OwnedFd> {
        self.current.as_ref()
    }

    /// Opens (creating, mode 0644) `current` for appending, never through a symbolic link.
    pub fn open_current(&mut self) -> Result<(), Error> {
        let flags = OFlags::WRONLY
            | OFlags::APPEND
            | OFlags::CREATE
            | OFlags::NOFOLLOW
            | OFlags::CLOEXEC
            | OFlags::NONBLOCK; // a fifo planted as current must not hang us in open
        let fd = match rustix::fs::openat(&self.dir, "current", flags, Mode::from_raw_mode(0o644)) {
            Ok(fd) => fd,
            Err(Errno::LOOP) => return Err(self.refuse_symlink()),
            Err(errno) => {
                return Err(Error::Sys {
                    op: format!("open {}", self.current_path()),
                    errno,
                })
            }
        };
        let st = rustix::fs::fstat(&fd).ctx(|| format!("stat {}", self.current_path()))?;
        self.check_regular(FileType::from_raw_mode(st.st_mode))?;
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(MODE_WRITING))
            .ctx(|| format!("chmod {}", self.current_path()))?;
        self.size = u64::try_from(st.st_size).unwrap_or(0);
        self.advised = self.size;
        self.current = Some(fd);
        Ok(())
    }

    fn refuse_symlink(&self) -> Error {
        self.check_regular(FileType::Symlink)
            .err()
            .unwrap_or_else(|| Error::Invalid(String::new()))
    }

    /// Closes `current` (without finalizing it).
    pub fn close_current(&mut self) {
        self.current = None;
    }

    /// Appends to `current`; one write(2). `BADF` if `current` is not open.
    pub fn write(&mut self, buf: &[u8]) -> Result<usize, Errno> {
        let fd = self.current.as_ref().ok_or(Errno::BADF)?;
        let n = rustix::io::write(fd, buf)?;
        self.size = self.size.saturating_add(n as u64);
        if self.size - self.advised.min(self.size) >= WRITEBACK_EVERY {
            // Start writeback now (and let the pages go from the cache once written), so
            // the fsync at rotation finds little left to do; a failure only costs speed.
            let (from, len) = (self.advised, self.size - self.advised);
            let _ = rustix::fs::fadvise(fd, from, NonZeroU64::new(len), Advice::DontNeed);
            self.advised = self.size;
        }
        Ok(n)
    }

    /// Cuts `current` back to `len` bytes (to drop a partly written line).
    pub fn truncate(&mut self, len: u64) -> Result<(), Error> {
        let fd = self.current.as_ref().ok_or(Errno::BADF);
        fd.and_then(|fd| rustix::fs::ftruncate(fd, len))
            .ctx(|| format!("truncate {}", self.current_path()))?;
        self.size = len;
        self.advised = self.advised.min(len);
        Ok(())
    }

    /// fsync(2)s `current`.
    pub fn sync_current(&self) -> Result<(), Error> {
        let fd = self.current.as_ref().ok_or(Errno::BADF);
        fd.and_then(rustix::fs::fsync)
            .ctx(|| format!("fsync {}", self.current_path()))
    }

    /// Marks `current` finished (0744) or being written (0644).
    pub fn mark_current(&self, finished: bool) -> Result<(), Error> {
        let mode = if finished {
            MODE_FINISHED
        } else {
            MODE_WRITING
        };
        let fd = self.current.as_ref().ok_or(Errno::BADF);
        fd.and_then(|fd| rustix::fs::fchmod(fd, Mode::from_raw_mode(mode)))
            .ctx(|| format!("chmod {}", self.current_path()))
    }

    /// Renames `current` to `@<label>.<suffix>` and closes it; returns the new name. The
    /// label is `now`, or just after the newest archive if the clock says otherwise.
    pub fn archive_current(&mut self, now: SystemTime, suffix: char) -> Result<String, Error> {
        let label = next_label(Tai64n::from_system(now), self.newest);
        let name = format!("{}.{suffix}", label.to_hex());
        rustix::fs::renameat(&self.dir, "current", &self.dir, name.as_str())
            .ctx(|| format!("rename {} to {name}", self.current_path()))?;
        self.newest = Some(label);
        self.current = None;
        self.size = 0;
        self.advised = 0;
        Ok(name)
    }

    /// fsync(2)s the logdir, so that renames and new files survive a crash.
    pub fn sync_dir(&self) -> Result<(), Error> {
        rustix::fs::fsync(&self.dir).ctx(|| format!("fsync {}", self.path.display()))
    }

    /// The archives, oldest first.
    pub fn archives(&self) -> Result<Vec<Archive>, Error> {
        let op = || format!("read directory {}", self.path.display());
        let dir = rustix::fs::Dir::read_from(&self.dir).ctx(op)?;
        let mut out = Vec::new();
        for entry in dir {
            let entry = entry.ctx(op)?;
            let Some((label, name)) = archive_name(entry.file_name()) else {
                continue;
            };
            let size = match rustix::fs::statat(&self.dir, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => u64::try_from(st.st_size).unwrap_or(0),
                Err(Errno::NOENT) => continue,
                Err(errno) => {
                    return Err(Error::Sys {
                        op: format!("stat {}/{name}", self.path.display()),
                        errno,
                    })
                }
            };
            out.push(Archive {
                label,
                name: name.to_string(),
                size,
            });
        }
        out.sort_by(|a, b| (a.label, &a.name).cmp(&(b.label, &b.name)));
        Ok(out)
    }

    /// Deletes the archive `name`.
    pub fn remove(&self, name: &str) -> Result<(), Error> {
        rustix::fs::unlinkat(&self.dir, name, AtFlags::empty())
            .ctx(|| format!("remove {}/{name}", self.path.display()))
    }

    /// Deletes the oldest archives beyond `count` archives or `total` bytes (0: no limit);
    /// returns the names deleted. Stops at the first failure.
    /// The archive named `busy` (being processed) is neither counted nor deleted.
    pub fn trim(&self, count: usize, total: u64, busy: Option<&str>) -> Result<Vec<String>, Error> {
        let mut archives = self.archives()?;
        archives.retain(|a| Some(a.name.as_str()) != busy);
        let n = victims(&archives, count, total);
        let mut gone = Vec::new();
        for a in archives.iter().take(n) {
            self.remove(&a.name)?;
            gone.push(a.name.clone());
        }
        Ok(gone)
    }

    /// Deletes the oldest archive (but not `busy`) to make room, unless no more than `min`
    /// are left; returns its name, or None if none was deleted.
    pub fn remove_oldest(&self, busy: Option<&str>, min: usize) -> Result<Option<String>, Error> {
        let archives = self.archives()?;
        if archives.len() <= min {
            return Ok(None);
        }
        match archives.iter().find(|a| Some(a.name.as_str()) != busy) {
            Some(a) => self.remove(&a.name).map(|()| Some(a.name.clone())),
            None => Ok(None),
        }
    }

    /// Reads the logdir's `config` file (svlogd's), at most `max` bytes and one more to
    /// tell that it is longer; None if there is none.
    pub fn read_config(&self, max: usize) -> Result<Option<Vec<u8>>, Error> {
        use std::io::Read;
        let op = || format!("read {}/config", self.path.display());
        let fd = match rustix::fs::openat(
            &self.dir,
            "config",
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(None),
            Err(errno) => return Err(Error::Sys { op: op(), errno }),
        };
        let mut text = Vec::new();
        let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
        std::fs::File::from(fd)
            .take(limit)
            .read_to_end(&mut text)
            .ctx(op)?;
        Ok(Some(text))
    }

    /// Deletes `@<label>.t` files: a processor's output left unfinished by a crash.
    pub fn remove_temporaries(&self) -> Result<(), Error> {
        let op = || format!("read directory {}", self.path.display());
        let dir = rustix::fs::Dir::read_from(&self.dir).ctx(op)?;
        let mut names = Vec::new();
        for entry in dir {
            let entry = entry.ctx(op)?;
            if let Some(stem) = entry
                .file_name()
                .to_str()
                .ok()
                .and_then(|n| n.strip_suffix(".t"))
            {
                if Tai64n::parse_hex(stem).is_some() {
                    names.push(format!("{stem}.t"));
                }
            }
        }
        names.iter().try_for_each(|n| self.remove(n))
    }

    /// Opens the archive `name` for reading, never through a symbolic link.
    pub fn open_archive(&self, name: &str) -> Result<OwnedFd, Error> {
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        rustix::fs::openat(&self.dir, name, flags, Mode::empty())
            .ctx(|| format!("open {}/{name}", self.path.display()))
    }

    /// Creates (or empties) `name` for a processor's output, never through a symbolic link.
    pub fn create_output(&self, name: &str) -> Result<OwnedFd, Error> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        rustix::fs::openat(&self.dir, name, flags, Mode::from_raw_mode(MODE_WRITING))
            .ctx(|| format!("create {}/{name}", self.path.display()))
    }

    /// Makes a processor's output `<stem>.t` (open as `out`) the archive `<stem>.s`:
    /// fsync, mode 0744, rename, then deletes the input `<stem>.u` and fsyncs the logdir.
    pub fn install_output(&self, out: &OwnedFd, stem: &str) -> Result<(), Error> {
        let show = self.path.display();
        rustix::fs::fsync(out).ctx(|| format!("fsync {show}/{stem}.t"))?;
        rustix::fs::fchmod(out, Mode::from_raw_mode(MODE_FINISHED))
            .ctx(|| format!("chmod {show}/{stem}.t"))?;
        let (from, to) = (format!("{stem}.t"), format!("{stem}.s"));
        rustix::fs::renameat(&self.dir, from.as_str(), &self.dir, to.as_str())
            .ctx(|| format!("rename {show}/{from} to {to}"))?;
        self.remove(&format!("{stem}.u"))?;
        self.sync_dir()
    }

    /// Whether `path` names this very logdir (same device and inode).
    pub fn is_at(&self, path: &Path) -> bool {
        let (Ok(here), Ok(there)) = (rustix::fs::fstat(&self.dir), rustix::fs::stat(path)) else {
            return false;
        };
        here.st_dev == there.st_dev && here.st_ino == there.st_ino
    }
}

fn open_dir(path: &Path) -> Result<OwnedFd, Error> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    rustix::fs::open(path, flags, Mode::empty()).ctx(|| format!("open {}", path.display()))
}

fn lock_dir(dir: &impl AsFd, path: &Path) -> Result<OwnedFd, Error> {
    let show = format!("{}/lock", path.display());
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let lock = rustix::fs::openat(dir, "lock", flags, Mode::from_raw_mode(0o644))
        .ctx(|| format!("open {show}"))?;
    match rustix::fs::flock(&lock, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(lock),
        Err(Errno::WOULDBLOCK) => Err(Error::Busy(format!(
            "unable to lock {show}: another tend-log is running"
        ))),
        Err(errno) => Err(Error::Sys {
            op: format!("lock {show}"),
            errno,
        }),
    }
}

/// The label of an archive name `@<24 hex>.s` or `@<24 hex>.u`, with the name as text.
pub fn archive_name(name: &CStr) -> Option<(Tai64n, &str)> {
    let name = name.to_str().ok()?;
    let stem = name
        .strip_suffix(".s")
        .or_else(|| name.strip_suffix(".u"))?;
    Tai64n::parse_hex(stem).map(|label| (label, name))
}

/// The label for a new archive: `now`, unless that does not sort after `newest` (the clock
/// was stepped back), then 1 ns after `newest`. So names always grow, and retention, which
/// deletes the smallest names, never deletes newer data.
pub fn next_label(now: Tai64n, newest: Option<Tai64n>) -> Tai64n {
    match newest {
        Some(n) if now <= n => {
            if n.nanos >= 999_999_999 {
                Tai64n {
                    secs: n.secs.saturating_add(1),
                    nanos: 0,
                }
            } else {
                Tai64n {
                    secs: n.secs,
                    nanos: n.nanos + 1,
                }
            }
        }
        _ => now,
    }
}

/// How many of `archives` (oldest first) to delete so that at most `count` remain and their
/// total size is at most `total` (a limit of 0 is no limit).
pub fn victims(archives: &[Archive], count: usize, total: u64) -> usize {
    let mut left = archives.len();
    let mut bytes: u64 = archives.iter().map(|a| a.size).sum();
    let mut n = 0;
    for a in archives {
        let too_many = count > 0 && left > count;
        let too_big = total > 0 && bytes > total;
        if !too_many && !too_big {
            break;
        }
        n += 1;
        left -= 1;
        bytes = bytes.saturating_sub(a.size);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arch(secs: u64, size: u64) -> Archive {
        let label = Tai64n { secs, nanos: 0 };
        Archive {
            label,
            name: format!("{}.s", label.to_hex()),
            size,
        }
    }

    #[test]
    fn labels_grow_even_when_the_clock_goes_back() {
        let t = |secs, nanos| Tai64n { secs, nanos };
        assert_eq!(next_label(t(100, 5), None), t(100, 5));
        assert_eq!(next_label(t(100, 5), Some(t(99, 0))), t(100, 5));
        assert_eq!(next_label(t(100, 5), Some(t(100, 5))), t(100, 6));
        assert_eq!(next_label(t(50, 0), Some(t(100, 5))), t(100, 6));
        assert_eq!(next_label(t(50, 0), Some(t(100, 999_999_999))), t(101, 0));
        // Names sort like labels.
        let a = next_label(t(50, 0), Some(t(100, 999_999_999)));
        assert!(a.to_hex() > t(100, 999_999_999).to_hex());
    }

    #[test]
    fn archive_names() {
        let l = Tai64n {
            secs: 0x4000_0000_6b07_2ba7,
            nanos: 0x3459_8aec,
        };
        assert_eq!(
            archive_name(c"@400000006b072ba734598aec.s"),
            Some((l, "@400000006b072ba734598aec.s"))
        );
        assert_eq!(
            archive_name(c"@400000006b072ba734598aec.u").map(|x| x.0),
            Some(l)
        );
        for bad in [
            c"current",
            c"lock",
            c"@400000006b072ba734598aec.t",
            c"@4000.s",
            c"state",
        ] {
            assert_eq!(archive_name(bad), None);
        }
    }

    #[test]
    fn retention_by_count_and_total() {
        let a: Vec<Archive> = (0..5).map(|i| arch(100 + i, 10)).collect();
        assert_eq!(victims(&a, 10, 0), 0);
        assert_eq!(victims(&a, 5, 0), 0);
        assert_eq!(victims(&a, 3, 0), 2);
        assert_eq!(victims(&a, 0, 0), 0);
        assert_eq!(victims(&a, 0, 50), 0);
        assert_eq!(victims(&a, 0, 49), 1);
        assert_eq!(victims(&a, 0, 20), 3);
        assert_eq!(victims(&a, 4, 25), 3);
        assert_eq!(victims(&a, 0, 1), 5);
        assert_eq!(victims(&[], 1, 1), 0);
    }
}
