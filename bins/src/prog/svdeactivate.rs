//! svdeactivate: take services out of the live dir: bring each down, rename its dir to
//! `.NAME.removing` so the scanner stops it and drains its logger, wait for its
//! supervisors to exit, then remove the dir. The logdir is left alone.
use std::ffi::OsString;
use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::fs::{self as rfs, Mode, OFlags, RenameFlags};
use rustix::io::Errno;
use tend::{fatal, parse_timeout, say, usage, warn};
use tend_core::policy;
use tend_core::svdir::{self, show};
use tend_core::timer::poll_until;
use tend_core::{control, Ctx, Error};

const PROG: &str = "svdeactivate";
const SYNOPSIS: &str = "svdeactivate [-t timeout] name...";
/// How long to wait for supervisors to exit when `-t` is not given: the scanner's
/// default stop time for a service (5 s) and then for its logger (5 s), with room.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
struct Args {
    limit: Duration,
    names: Vec<OsString>,
}

pub fn start(args: tend::Args) -> u8 {
    let args = match parse_args(args) {
        Ok(a) => a,
        Err(e) => return usage(PROG, SYNOPSIS, e),
    };
    let svdir = svdir::svdir();
    let deadline = Instant::now() + args.limit;
    let mut code = 0u8;
    let mut removing = Vec::new();
    {
        let scan = match lock_scan_dir(&svdir) {
            Ok(fd) => fd,
            Err(e) => return fatal(PROG, &e),
        };
        for name in &args.names {
            let res = policy::check_name(name).and_then(|name| {
                take_out(&svdir, &scan, name, deadline, args.limit).map_err(|e| named(name, e))
            });
            match res {
                Ok(Some(gone)) => removing.push(gone),
                Ok(None) => {}
                Err(e) => {
                    say(PROG, "fatal", &e);
                    code = code.max(e.exit_code());
                }
            }
        }
    } // the lock is released here: waiting needs no lock
    for (e, exit) in finish(removing, deadline, args.limit, &svdir) {
        say(PROG, "fatal", &e);
        code = code.max(exit);
    }
    code
}

/// Adds the service name to a message that does not name a path.
fn named(name: &str, e: Error) -> Error {
    match e {
        Error::Invalid(m) => Error::Invalid(format!("unable to deactivate {name}: {m}")),
        other => other,
    }
}

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let (mut limit, mut names) = (DEFAULT_TIMEOUT, Vec::new());
    let mut p = lexopt::Parser::from_args(args);
    while let Some(arg) = p.next()? {
        match arg {
            Short('t') => {
                let v = p.value()?;
                let v = v.to_str().ok_or("bad timeout: not UTF-8")?;
                limit = parse_timeout(v)?;
            }
            Value(v) => names.push(v),
            _ => return Err(arg.unexpected()),
        }
    }
    if names.is_empty() {
        return Err("missing name".into());
    }
    Ok(Args { limit, names })
}

/// Opens the live dir and takes an exclusive `flock` on it, as svactivate does.
fn lock_scan_dir(svdir: &Path) -> Result<OwnedFd, Error> {
    let shown = show(svdir);
    let fd = rfs::open(
        svdir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("open {shown}"))?;
    svdir::lock_exclusive(fd, &shown)
}

/// Takes `svdir/name` out of the scanner's sight: `svc -d`, then rename to
/// `.name.removing`. Returns that path, or `None` if nothing by that name is active.
///
/// A `.name.removing` left by an earlier run that timed out is finished first
/// (bounded by `deadline`).
fn take_out(
    svdir: &Path,
    scan: &OwnedFd,
    name: &str,
    deadline: Instant,
    limit: Duration,
) -> Result<Option<PathBuf>, Error> {
    let live = svdir.join(name);
    let gone_name = format!(".{name}.removing");
    let gone = svdir.join(&gone_name);
    if gone.symlink_metadata().is_ok() {
        if let Some((e, _)) = finish(vec![gone.clone()], deadline, limit, svdir).pop() {
            return Err(e);
        }
    }
    if live.symlink_metadata().is_err() {
        return Ok(None);
    }
    match control::send(&live, b"d") {
        Ok(()) => {}
        Err(e) if matches!(e.errno(), Some(Errno::NXIO | Errno::NOENT)) => {}
        Err(e) => warn(PROG, format_args!("{e}; removing it all the same")),
    }
    match rfs::renameat_with(scan, name, scan, &gone_name, RenameFlags::NOREPLACE) {
        Err(Errno::INVAL) => rfs::renameat(scan, name, scan, &gone_name),
        r => r,
    }
    .ctx(|| format!("rename {} to {}", show(&live), show(&gone)))?;
    Ok(Some(gone))
}

/// Waits until no supervisor runs on each dir of `gones` (nor on its `log`), then
/// removes it. Returns what went wrong with each dir that could not be removed, with the
/// exit code it earns: 1 for a supervisor still running at `deadline`.
fn finish(
    gones: Vec<PathBuf>,
    deadline: Instant,
    limit: Duration,
    svdir: &Path,
) -> Vec<(Error, u8)> {
    let dirs: Vec<PathBuf> = gones
        .iter()
        .flat_map(|g| [g.clone(), g.join("log")])
        .collect();
    let busy = match wait_unsupervised(dirs, deadline) {
        Ok(b) => b,
        Err(e) => return vec![(e.clone(), e.exit_code())],
    };
    let mut failed = Vec::new();
    for gone in gones {
        if let Some(dir) = busy.iter().find(|d| d.starts_with(&gone)) {
            let e = Error::Busy(format!(
                "unable to remove {}: a supervisor still runs on {} after {}: is tend-scan running on {}? (svdeactivate again finishes the job)",
                show(&gone),
                show(dir),
                humantime::format_duration(limit),
                show(svdir),
            ));
            failed.push((e, 1));
        } else if let Err(e) = remove_tree(&gone) {
            let code = e.exit_code();
            failed.push((e, code));
        }
    }
    failed
}

/// Removes a whole tree without following symlinks (a `supervise` link into /run is
/// removed, its target is not).
fn remove_tree(path: &Path) -> Result<(), Error> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        r => r.ctx(|| format!("remove {}", show(path))),
    }
}

/// Waits until no supervisor holds `DIR/supervise/ok` open for each of `dirs`, or
/// `deadline` passes; returns the dirs still supervised.
///
/// No polling: for each dir still supervised it holds the write end of the `ok` fifo,
/// which poll(2) reports with POLLERR once the last reader, the supervisor, is gone.
fn wait_unsupervised(mut dirs: Vec<PathBuf>, deadline: Instant) -> Result<Vec<PathBuf>, Error> {
    loop {
        let mut held = Vec::new();
        let mut left = Vec::new();
        for dir in dirs {
            match rfs::open(
                dir.join("supervise/ok"),
                OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => {
                    held.push(fd);
                    left.push(dir);
                }
                Err(Errno::NXIO | Errno::NOENT | Errno::NOTDIR) => {}
                Err(errno) => {
                    return Err(Error::Sys {
                        op: format!("open {}", svdir::join_show(&dir, "supervise/ok")),
                        errno,
                    })
                }
            }
        }
        dirs = left;
        if dirs.is_empty() || Instant::now() >= deadline {
            return Ok(dirs);
        }
        let mut fds: Vec<PollFd> = held
            .iter()
            .map(|fd| PollFd::new(fd, PollFlags::empty()))
            .collect();
        poll_until(&mut fds, Some(deadline))?;
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
                limit: DEFAULT_TIMEOUT,
                names: vec!["web".into(), "db".into()]
            }
        );
        assert_eq!(
            parse(&["-t", "2s", "web"]).unwrap().limit,
            Duration::from_secs(2)
        );
        assert_eq!(
            parse(&["-t", "500", "web"]).unwrap().limit,
            Duration::from_millis(500)
        );
        assert_eq!(parse(&[]).unwrap_err(), "missing name");
        assert!(parse(&["-t", "web"]).is_err());
        assert!(parse(&["--all"]).is_err());
    }
}
