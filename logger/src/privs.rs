//! Dropping root: `-u USER` or `-u UID:GID`, after the logdir is open.
use rustix::fs::{Gid, Uid};
use rustix::io::Errno;
use tend_core::{Ctx, Error};

use crate::logdir::Logdir;

/// A user to run as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Account {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

/// Resolves `UID:GID` (numbers) or a user name (looked up in `passwd`, the text of
/// /etc/passwd; the group is the user's primary group).
pub fn resolve(spec: &str, passwd: &str) -> Result<Account, Error> {
    if let Some((u, g)) = spec.split_once(':') {
        return match (u.parse(), g.parse()) {
            (Ok(uid), Ok(gid)) => Ok(Account { uid, gid }),
            _ => Err(Error::Invalid(format!(
                "unable to use {spec} as a user: want NAME or UID:GID"
            ))),
        };
    }
    for line in passwd.lines() {
        let mut f = line.split(':');
        if f.next() != Some(spec) {
            continue;
        }
        let (_, uid, gid) = (f.next(), f.next(), f.next());
        if let (Some(Ok(uid)), Some(Ok(gid))) = (uid.map(str::parse), gid.map(str::parse)) {
            return Ok(Account { uid, gid });
        }
    }
    Err(Error::Invalid(format!(
        "unable to find user {spec} in /etc/passwd"
    )))
}

/// Gives each logdir, its lock and `current` to `who`, then becomes `who` (groups, gid,
/// uid). Needs root. The process must still be single-threaded: the ids are set with the
/// raw system calls, which act on the calling thread.
pub fn become_user(who: Account, dirs: &[&Logdir]) -> Result<(), Error> {
    if !rustix::process::geteuid().is_root() {
        return Err(Error::Sys {
            op: format!("switch to uid {} (only root can)", who.uid),
            errno: Errno::PERM,
        });
    }
    let (uid, gid) = (Uid::from_raw(who.uid), Gid::from_raw(who.gid));
    for dir in dirs {
        let show = dir.path().display();
        rustix::fs::fchown(dir.dir_fd(), Some(uid), Some(gid)).ctx(|| format!("chown {show}"))?;
        rustix::fs::fchown(dir.lock_fd(), Some(uid), Some(gid))
            .ctx(|| format!("chown {show}/lock"))?;
        if let Some(cur) = dir.current_fd() {
            rustix::fs::fchown(cur, Some(uid), Some(gid))
                .ctx(|| format!("chown {show}/current"))?;
        }
    }
    rustix::thread::set_thread_groups(&[gid]).ctx(|| "set supplementary groups".into())?;
    rustix::thread::set_thread_res_gid(gid, gid, gid).ctx(|| format!("set gid {}", who.gid))?;
    rustix::thread::set_thread_res_uid(uid, uid, uid).ctx(|| format!("set uid {}", who.uid))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users() {
        let pw = "root:x:0:0:root:/root:/bin/sh\nlog:x:998:997::/nonexistent:/bin/false\n";
        assert_eq!(resolve("log", pw).unwrap(), Account { uid: 998, gid: 997 });
        assert_eq!(resolve("12:34", pw).unwrap(), Account { uid: 12, gid: 34 });
        assert!(resolve("nobody", pw).is_err());
        assert!(resolve("12:x", pw).is_err());
        assert_eq!(
            resolve("nobody", pw).unwrap_err().to_string(),
            "unable to find user nobody in /etc/passwd"
        );
    }
}
