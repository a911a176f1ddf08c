//! tend-supervise: runs DIR/run, restarts it, obeys control letters, keeps DIR/supervise/.
//! The supervising is a [`tend::unit::Unit`] (tend-scan -F runs the same, many at once);
//! this file is its loop: signals, the unit's fds, its deadlines.
use std::ffi::OsString;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use libc::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};
use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;
use rustix::process::{wait, WaitOptions};
use tend::unit::{Stdio, Unit};
use tend::{fatal, usage, warn};
use tend_core::signals::Signals;
use tend_core::supervise::new_spare;
use tend_core::supervisor::Event;
use tend_core::timer::poll_until;
use tend_core::Error;

const PROG: &str = "tend-supervise";
const SYNOPSIS: &str = "tend-supervise servicedir";

pub fn start(args: tend::Args) -> u8 {
    let dir = match parse_args(args) {
        Ok(d) => d,
        Err(e) => return usage(PROG, SYNOPSIS, e),
    };
    let shown = dir.to_string_lossy().trim_end_matches('/').to_string();
    let shown = if shown.is_empty() {
        "/".to_string()
    } else {
        shown
    };
    let prog = format!("{PROG} {shown}");
    if let Err(errno) = rustix::process::chdir(&dir) {
        return fatal(
            &prog,
            &Error::Sys {
                op: format!("chdir to {shown}"),
                errno,
            },
        );
    }
    match serve(&prog, &shown) {
        Ok(()) => 0,
        Err(e) => fatal(&prog, &e),
    }
}

fn parse_args(args: tend::Args) -> Result<PathBuf, lexopt::Error> {
    use lexopt::prelude::*;
    let (mut dir, mut p) = (None::<OsString>, lexopt::Parser::from_args(args));
    while let Some(arg) = p.next()? {
        match arg {
            Value(v) if dir.is_none() => dir = Some(v),
            _ => return Err(arg.unexpected()),
        }
    }
    match dir {
        Some(d) if !d.is_empty() => Ok(PathBuf::from(d)),
        Some(_) => Err("servicedir is empty".into()),
        None => Err("missing servicedir".into()),
    }
}

/// Supervises the service dir that is the cwd until the unit exits.
fn serve(prog: &str, shown: &str) -> Result<(), Error> {
    let dir = tend_core::svdir::open_dir(Path::new(".")).map_err(|errno| Error::Sys {
        op: format!("open {shown}"),
        errno,
    })?;
    let sigs = Signals::install(&[SIGCHLD, SIGTERM, SIGHUP, SIGINT])?;
    // Its processes get the stdin and stdout it was given (the scanner's pipe).
    let mut unit = Unit::open(prog.to_string(), dir, shown, Stdio::default(), new_spare())?;
    while !unit.exited() {
        let ready: [bool; 4] = {
            let sig = sigs.fd().as_fd();
            let [control, notify, adopted] = unit.fds();
            let mut fds = [
                PollFd::from_borrowed_fd(sig, PollFlags::IN),
                slot(control, sig),
                slot(notify, sig),
                slot(adopted, sig),
            ];
            poll_until(&mut fds, unit.deadline())?;
            std::array::from_fn(|i| fds.get(i).is_some_and(|f| !f.revents().is_empty()))
        };
        if ready[0] {
            for sig in sigs.take() {
                match sig {
                    SIGCHLD => reap(prog, &mut unit),
                    SIGHUP => unit.event(Event::Hup),
                    _ => unit.event(Event::Term),
                }
            }
        }
        for (i, r) in ready.iter().skip(1).enumerate() {
            if *r {
                unit.ready(i);
            }
        }
        unit.settle();
    }
    Ok(())
}

/// A poll slot for one of the unit's fds; one the unit does not use polls `idle` for
/// nothing.
fn slot<'a>(fd: Option<BorrowedFd<'a>>, idle: BorrowedFd<'a>) -> PollFd<'a> {
    match fd {
        Some(fd) => PollFd::from_borrowed_fd(fd, PollFlags::IN),
        None => PollFd::from_borrowed_fd(idle, PollFlags::empty()),
    }
}

/// Reaps every exited child, passing the unit's own to it.
fn reap(prog: &str, unit: &mut Unit) {
    loop {
        match wait(WaitOptions::NOHANG) {
            Ok(Some((pid, st))) => {
                let pid = pid.as_raw_nonzero().get().unsigned_abs();
                if unit.owns(pid) {
                    unit.reaped(pid, st);
                }
            }
            Ok(None) | Err(Errno::CHILD) => return,
            Err(Errno::INTR) => {}
            Err(errno) => {
                warn(
                    prog,
                    Error::Sys {
                        op: "wait for children".into(),
                        errno,
                    },
                );
                return;
            }
        }
    }
}
