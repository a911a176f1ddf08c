//! svactivate: copy service dirs from the install dir into the live dir in one step each,
//! give them a logger per the logging policy, and wait until their supervisors run.
use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
use rustix::fs::{self as rfs, AtFlags, Gid, Mode, OFlags, RenameFlags, Uid};
use rustix::io::Errno;
use tend::{fatal, parse_timeout, say, usage, warn};
use tend_core::policy::{self, Policy};
use tend_core::svdir::{self, show};
use tend_core::timer::poll_until;
use tend_core::{control, Ctx, Error};

const PROG: &str = "svactivate";
const SYNOPSIS: &str = "svactivate [-n | -t timeout] --all | name...";
/// How long to wait for supervisors when `-t` is not given.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Deepest directory nesting copied from the install dir.
const MAX_DEPTH: usize = 32;

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
struct Args {
    /// Activate every service dir of the install dir.
    all: bool,
    /// How long to wait for supervisors; `None` with `-n`: do not wait.
    wait: Option<Duration>,
    names: Vec<OsString>,
}

pub fn start(args: tend::Args) -> u8 {
    let args = match parse_args(args) {
        Ok(a) => a,
        Err(e) => return usage(PROG, SYNOPSIS, e),
    };
    let svdir = svdir::svdir();
    let install = policy::install_dir();
    let policy = match Policy::load() {
        Ok(p) => p,
        Err(e) => return fatal(PROG, &e),
    };
    let names = if args.all {
        match list_install_dir(&install) {
            Ok(n) => n,
            Err(e) => return fatal(PROG, &e),
        }
    } else {
        args.names
    };
    let mut code = 0u8;
    let mut fail = |e: &Error| code = code.max(e.exit_code());
    let mut targets = Vec::new();
    {
        let scan = match lock_scan_dir(&svdir) {
            Ok(fd) => fd,
            Err(e) => return fatal(PROG, &e),
        };
        for name in &names {
            let name = match policy::check_name(name) {
                Ok(n) => n,
                Err(e) => {
                    say(PROG, "fatal", &e);
                    fail(&e);
                    continue;
                }
            };
            match activate(&install, &svdir, &scan, &policy, name) {
                Ok(dirs) => targets.extend(dirs),
                Err(e) => {
                    say(PROG, "fatal", format!("unable to activate {name}: {e}"));
                    fail(&e);
                }
            }
        }
    } // the lock is released here: waiting needs no lock
    if let Some(limit) = args.wait {
        match wait_supervised(targets, limit) {
            Ok(missing) => {
                for dir in missing {
                    say(
                        PROG,
                        "fatal",
                        format!(
                            "unable to see a supervisor on {} within {}: is tend-scan running on {}?",
                            show(&dir),
                            humantime::format_duration(limit),
                            show(&svdir)
                        ),
                    );
                    code = code.max(1);
                }
            }
            Err(e) => fail(&e),
        }
    }
    code
}

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let (mut all, mut timeout, mut nowait, mut names) = (false, None, false, Vec::new());
    let mut p = lexopt::Parser::from_args(args);
    while let Some(arg) = p.next()? {
        match arg {
            Short('a') | Long("all") => all = true,
            Short('n') => nowait = true,
            Short('t') => {
                let v = p.value()?;
                let v = v.to_str().ok_or("bad timeout: not UTF-8")?;
                timeout = Some(parse_timeout(v)?);
            }
            Value(v) => names.push(v),
            _ => return Err(arg.unexpected()),
        }
    }
    if nowait && timeout.is_some() {
        return Err("-n and -t exclude each other".into());
    }
    if all && !names.is_empty() {
        return Err("--all takes no names".into());
    }
    if !all && names.is_empty() {
        return Err("missing name".into());
    }
    let wait = (!nowait).then(|| timeout.unwrap_or(DEFAULT_TIMEOUT));
    Ok(Args { all, wait, names })
}

/// The names of the service dirs in the install dir, sorted: the entries that are
/// directories (or symbolic links to some) and do not start with a dot.
fn list_install_dir(install: &Path) -> Result<Vec<OsString>, Error> {
    let shown = show(install);
    let mut names = Vec::new();
    for entry in fs::read_dir(install).ctx(|| format!("read {shown}"))? {
        let entry = entry.ctx(|| format!("read {shown}"))?;
        let name = entry.file_name();
        if name.as_encoded_bytes().starts_with(b".") {
            continue;
        }
        if fs::metadata(entry.path()).is_ok_and(|m| m.is_dir()) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Opens the live dir (creating it, mode 0755, if missing) and takes an exclusive
/// `flock` on it, so that concurrent svactivate and svdeactivate runs do not trample
/// each other's `.NAME.tmp`.
fn lock_scan_dir(svdir: &Path) -> Result<OwnedFd, Error> {
    let shown = show(svdir);
    let open = || {
        rfs::open(
            svdir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
    };
    let fd = match open() {
        Err(Errno::NOENT) => {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(svdir)
                .ctx(|| format!("create {shown}"))?;
            open()
        }
        r => r,
    }
    .ctx(|| format!("open {shown}"))?;
    svdir::lock_exclusive(fd, &shown)
}

/// Puts `install/name` in place as `svdir/name`, unless something by that name is
/// already there, and returns the dirs whose supervisors to wait for.
fn activate(
    install: &Path,
    svdir: &Path,
    scan: &OwnedFd,
    policy: &Policy,
    name: &str,
) -> Result<Vec<PathBuf>, Error> {
    let src = install.join(name);
    check_source(&src)?;
    let live = svdir.join(name);
    let tmp_name = format!(".{name}.tmp");
    let tmp = svdir.join(&tmp_name);
    // A copy left by an svactivate that was interrupted.
    remove_any(&tmp)?;
    if live.symlink_metadata().is_ok() {
        // Already active: leave it exactly as it is.
        return Ok(targets(&live));
    }
    let shown = show(&tmp);
    rfs::mkdirat(scan, &tmp_name, Mode::from_raw_mode(0o700)).ctx(|| format!("create {shown}"))?;
    let dst = open_dir_at(scan, &tmp_name, &shown)?;
    copy_dir(&src, &dst, &shown, 0)?;
    copy_owner_mode(&dst, &src, &shown)?;
    add_logger(&dst, &shown, policy, name)?;
    // On disk before the rename, so that after a crash the live dir holds either no
    // `name` or a complete one.
    rfs::syncfs(&dst).ctx(|| format!("sync {shown}"))?;
    drop(dst);
    match rename_noreplace(scan, &tmp_name, name) {
        Ok(()) => {
            rfs::fsync(scan).ctx(|| format!("sync {}", show(svdir)))?;
            Ok(targets(&live))
        }
        // Someone not taking our lock put one there meanwhile: theirs wins.
        Err(Errno::EXIST | Errno::NOTEMPTY) => {
            remove_any(&tmp)?;
            Ok(targets(&live))
        }
        Err(errno) => Err(Error::Sys {
            op: format!("rename {shown} to {}", show(&live)),
            errno,
        }),
    }
}

/// Refuses a source that is not a service dir: `install/name` must be a directory
/// with an executable `run`.
fn check_source(src: &Path) -> Result<(), Error> {
    let shown = show(src);
    match fs::metadata(src) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(Error::Invalid(format!("{shown} is not a directory"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Invalid(format!("{shown} does not exist")))
        }
        Err(e) => return Err(e).ctx(|| format!("stat {shown}")),
    }
    match fs::metadata(src.join("run")) {
        Ok(m) if m.is_file() && m.mode() & 0o111 != 0 => Ok(()),
        Ok(_) => Err(Error::Invalid(format!(
            "{shown}/run is not an executable file"
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(Error::Invalid(format!("{shown}/run does not exist")))
        }
        Err(e) => Err(e).ctx(|| format!("stat {shown}/run")),
    }
}

/// The dirs a supervisor will run on: `live`, and `live/log` if that is a directory.
fn targets(live: &Path) -> Vec<PathBuf> {
    let log = live.join("log");
    if fs::metadata(&log).is_ok_and(|m| m.is_dir()) {
        vec![live.to_path_buf(), log]
    } else {
        vec![live.to_path_buf()]
    }
}

/// Removes whatever `path` names, a whole tree included, without following symlinks.
fn remove_any(path: &Path) -> Result<(), Error> {
    let shown = show(path);
    match path.symlink_metadata() {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path).ctx(|| format!("remove {shown}")),
        Ok(_) => fs::remove_file(path).ctx(|| format!("remove {shown}")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).ctx(|| format!("stat {shown}")),
    }
}

fn open_dir_at(dir: &OwnedFd, name: &str, shown: &str) -> Result<OwnedFd, Error> {
    rfs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("open {shown}"))
}

/// Copies the entries of directory `src` into the directory open as `dst` (shown as
/// `shown`): files with their content, modes and (as root) owners, directories
/// recursively, symbolic links as links, fifos as fifos. A `supervise` directory is
/// runtime state and is left out; sockets and devices are left out with a warning.
///
/// Everything is created through `dst` with O_EXCL / O_NOFOLLOW or their *at
/// equivalents, so a symbolic link in the source is never followed for writing.
fn copy_dir(src: &Path, dst: &OwnedFd, shown: &str, depth: usize) -> Result<(), Error> {
    let src_shown = show(src);
    if depth > MAX_DEPTH {
        return Err(Error::Invalid(format!(
            "{src_shown} is nested more than {MAX_DEPTH} levels deep"
        )));
    }
    let mut entries: Vec<_> = fs::read_dir(src)
        .ctx(|| format!("read {src_shown}"))?
        .collect::<Result<_, _>>()
        .ctx(|| format!("read {src_shown}"))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let from = entry.path();
        let to = format!("{shown}/{}", name.to_string_lossy());
        let meta = entry.metadata().ctx(|| format!("stat {}", show(&from)))?;
        let ft = meta.file_type();
        let create = |what: &str| format!("create {to} ({what})");
        if ft.is_symlink() {
            let target = fs::read_link(&from).ctx(|| format!("read link {}", show(&from)))?;
            rfs::symlinkat(&target, dst, &name).ctx(|| create("symbolic link"))?;
            chown_at(dst, &name, &meta, &to)?;
        } else if ft.is_dir() {
            if name == "supervise" {
                continue;
            }
            rfs::mkdirat(dst, &name, Mode::from_raw_mode(0o700)).ctx(|| create("directory"))?;
            let sub = rfs::openat(
                dst,
                &name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .ctx(|| format!("open {to}"))?;
            copy_dir(&from, &sub, &to, depth + 1)?;
            set_owner_mode(&sub, &meta, &to)?;
        } else if ft.is_file() {
            copy_file(&from, dst, &name, &to)?;
        } else if ft.is_fifo() {
            rfs::mkfifoat(dst, &name, Mode::from_raw_mode(0o600)).ctx(|| create("fifo"))?;
            chown_at(dst, &name, &meta, &to)?;
            rfs::chmodat(dst, &name, mode_of(&meta), AtFlags::empty())
                .ctx(|| format!("chmod {to}"))?;
        } else {
            warn(
                PROG,
                format!(
                    "not copying {}: not a file, directory, link or fifo",
                    show(&from)
                ),
            );
        }
    }
    Ok(())
}

/// Copies one regular file into `dst` as `name`, content, owner and mode.
fn copy_file(from: &Path, dst: &OwnedFd, name: &OsString, to: &str) -> Result<(), Error> {
    let from_shown = show(from);
    let mut input = fs::OpenOptions::new()
        .read(true)
        .custom_flags(OFlags::NOFOLLOW.bits() as i32)
        .open(from)
        .ctx(|| format!("open {from_shown}"))?;
    let meta = input.metadata().ctx(|| format!("stat {from_shown}"))?;
    let out = rfs::openat(
        dst,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .ctx(|| format!("create {to}"))?;
    let mut out = fs::File::from(out);
    std::io::copy(&mut input, &mut out).ctx(|| format!("copy {from_shown} to {to}"))?;
    out.flush().ctx(|| format!("write {to}"))?;
    set_owner_mode(&out, &meta, to)
}

fn mode_of(meta: &fs::Metadata) -> Mode {
    Mode::from_raw_mode(meta.permissions().mode() & 0o7777)
}

/// As root, gives `fd` the owner of the source; then its mode (after chown, which may
/// clear set-id bits).
fn set_owner_mode(
    fd: &impl std::os::fd::AsFd,
    meta: &fs::Metadata,
    shown: &str,
) -> Result<(), Error> {
    if rustix::process::geteuid().is_root() {
        rfs::fchown(
            fd,
            Some(Uid::from_raw(meta.uid())),
            Some(Gid::from_raw(meta.gid())),
        )
        .ctx(|| format!("chown {shown}"))?;
    }
    rfs::fchmod(fd, mode_of(meta)).ctx(|| format!("chmod {shown}"))
}

/// [`set_owner_mode`] for the top of the copy, from the source dir's own metadata.
fn copy_owner_mode(dst: &OwnedFd, src: &Path, shown: &str) -> Result<(), Error> {
    let meta = fs::metadata(src).ctx(|| format!("stat {}", show(src)))?;
    set_owner_mode(dst, &meta, shown)
}

/// As root, gives the entry `name` in `dir` (not followed) the owner in `meta`.
fn chown_at(dir: &OwnedFd, name: &OsString, meta: &fs::Metadata, shown: &str) -> Result<(), Error> {
    if !rustix::process::geteuid().is_root() {
        return Ok(());
    }
    rfs::chownat(
        dir,
        name,
        Some(Uid::from_raw(meta.uid())),
        Some(Gid::from_raw(meta.gid())),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .ctx(|| format!("chown {shown}"))
}

/// Adds `log/run` from the logging policy to the copy open as `dir`, unless it has a
/// `log` of its own: a directory (its own logger) or a file (no logger; an empty file
/// is the documented way to say so).
fn add_logger(dir: &OwnedFd, shown: &str, policy: &Policy, name: &str) -> Result<(), Error> {
    match rfs::statat(dir, "log", AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => {
            let ft = rfs::FileType::from_raw_mode(st.st_mode);
            if ft == rfs::FileType::RegularFile && st.st_size != 0 {
                warn(
                    PROG,
                    format!("{shown}/log is a file but not empty: taken as no logger for {name}"),
                );
            }
            return Ok(());
        }
        Err(Errno::NOENT) => {}
        Err(errno) => {
            return Err(Error::Sys {
                op: format!("stat {shown}/log"),
                errno,
            })
        }
    }
    rfs::mkdirat(dir, "log", Mode::from_raw_mode(0o755)).ctx(|| format!("create {shown}/log"))?;
    let log = open_dir_at(dir, "log", &format!("{shown}/log"))?;
    rfs::fchmod(&log, Mode::from_raw_mode(0o755)).ctx(|| format!("chmod {shown}/log"))?;
    let run = rfs::openat(
        &log,
        "run",
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .ctx(|| format!("create {shown}/log/run"))?;
    let mut run = fs::File::from(run);
    run.write_all(policy.log_run(name).as_bytes())
        .ctx(|| format!("write {shown}/log/run"))?;
    rfs::fchmod(&run, Mode::from_raw_mode(0o755)).ctx(|| format!("chmod {shown}/log/run"))
}

/// rename(2) of `from` to `to` in `dir` that never replaces an existing `to`
/// (RENAME_NOREPLACE; on a file system without it, a check and a plain rename).
fn rename_noreplace(dir: &OwnedFd, from: &str, to: &str) -> Result<(), Errno> {
    match rfs::renameat_with(dir, from, dir, to, RenameFlags::NOREPLACE) {
        Err(Errno::INVAL) => match rfs::statat(dir, to, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(_) => Err(Errno::EXIST),
            Err(Errno::NOENT) => rfs::renameat(dir, from, dir, to),
            Err(e) => Err(e),
        },
        r => r,
    }
}

/// Waits until a supervisor runs on every dir of `dirs` (its `supervise/ok` has a
/// reader), or `limit` has passed; returns the dirs still without one.
///
/// No polling: inotify watches each dir and its `supervise/` for the creation of
/// `supervise`, `ok`, and the opening of `ok`; after each batch of events (and after
/// adding watches, so no event is missed) every dir is checked again. Only when a
/// watch cannot be added (the watch limit, or `supervise` a symbolic link whose target
/// inotify cannot see being made) does it fall back to checking every 100 ms.
fn wait_supervised(mut dirs: Vec<PathBuf>, limit: Duration) -> Result<Vec<PathBuf>, Error> {
    let deadline = Instant::now() + limit;
    let ino = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)
        .ctx(|| "create an inotify instance".into())?;
    let mask = WatchFlags::CREATE
        | WatchFlags::MOVED_TO
        | WatchFlags::OPEN
        | WatchFlags::ATTRIB
        | WatchFlags::ONLYDIR;
    loop {
        let mut blind = false;
        for dir in &dirs {
            let sup = dir.join("supervise");
            for path in [dir, &sup] {
                match inotify::add_watch(&ino, path, mask) {
                    Ok(_) | Err(Errno::NOENT) => {}
                    Err(_) => blind = true,
                }
            }
            blind |= sup.symlink_metadata().is_ok_and(|m| m.is_symlink());
        }
        let mut left = Vec::new();
        for dir in dirs {
            if !control::is_supervised(&dir)? {
                left.push(dir);
            }
        }
        dirs = left;
        let now = Instant::now();
        if dirs.is_empty() || now >= deadline {
            return Ok(dirs);
        }
        let mut wake = deadline;
        if blind {
            wake = wake.min(now + Duration::from_millis(100));
        }
        poll_until(&mut [PollFd::new(&ino, PollFlags::IN)], Some(wake))?;
        drain(&ino)?;
    }
}

/// Reads and discards every pending inotify event: each wakeup means "check again".
fn drain(ino: &OwnedFd) -> Result<(), Error> {
    let mut buf = [0u8; 4096];
    loop {
        match rustix::io::read(ino, &mut buf) {
            Ok(0) | Err(Errno::AGAIN) => return Ok(()),
            Ok(_) | Err(Errno::INTR) => {}
            Err(errno) => {
                return Err(Error::Sys {
                    op: "read inotify events".into(),
                    errno,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        parse_args(args.iter().map(OsString::from)).map_err(|e| e.to_string())
    }

    #[test]
    fn arguments() {
        assert_eq!(
            parse(&["web", "db"]).unwrap(),
            Args {
                all: false,
                wait: Some(DEFAULT_TIMEOUT),
                names: vec!["web".into(), "db".into()]
            }
        );
        assert_eq!(
            parse(&["--all", "-t", "3s"]).unwrap(),
            Args {
                all: true,
                wait: Some(Duration::from_secs(3)),
                names: vec![]
            }
        );
        assert_eq!(parse(&["-a", "-n"]).unwrap().wait, None);
        assert_eq!(
            parse(&["-t", "250", "x"]).unwrap().wait,
            Some(Duration::from_millis(250))
        );
        assert_eq!(parse(&[]).unwrap_err(), "missing name");
        assert_eq!(
            parse(&["--all", "web"]).unwrap_err(),
            "--all takes no names"
        );
        assert_eq!(
            parse(&["-n", "-t", "1s", "web"]).unwrap_err(),
            "-n and -t exclude each other"
        );
        assert!(parse(&["-t", "soon", "web"]).is_err());
        assert!(parse(&["-x", "web"]).is_err());
    }
}
