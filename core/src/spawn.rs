//! Starting ./run and ./finish: posix_spawn in a new session.
//!
//! glibc's posix_spawn starts the child with `clone(CLONE_VM | CLONE_VFORK)`: the child
//! borrows the supervisor's memory until it execs, so no page table is copied and no page
//! of the supervisor is faulted in again afterwards, as a fork would. On the benchmark
//! machine this is part of what brings a restart close to a bare spawn (bench/RESULTS.md).
use std::ffi::{c_char, CStr};
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use rustix::io::Errno;

extern "C" {
    /// The process environment, handed to the child unchanged.
    static environ: *const *mut c_char;
}

/// Starts `path` with arguments `args` (the first is its name) in a new session, with
/// the signal mask empty and every signal at its default action: one the supervisor
/// ignores (SIGPIPE; SIGHUP under nohup; SIGINT and SIGQUIT in a background job) would
/// otherwise stay ignored in the service, and a shell cannot trap it there. With `cwd`,
/// the child starts in that directory (an fd, so a renamed service dir is still found;
/// tend-scan -F starts every service from its one cwd). Each `(from, to)` of `give` makes
/// descriptor `from` available to the child as `to` (without close-on-exec); `from` must
/// not equal `to`.
///
/// Returns the child's pid, or the errno of the failed start: an exec failure (ENOENT,
/// EACCES, ENOEXEC...) is reported here, as the child never ran.
pub fn spawn_session(
    path: &CStr,
    args: &[&CStr],
    cwd: Option<BorrowedFd<'_>>,
    give: &[(RawFd, RawFd)],
) -> Result<u32, Errno> {
    if give.iter().any(|(from, to)| from == to) {
        return Err(Errno::INVAL);
    }
    let mut argv: Vec<*mut c_char> = args.iter().map(|a| a.as_ptr().cast_mut()).collect();
    argv.push(std::ptr::null_mut());
    let mut attr = MaybeUninit::<libc::posix_spawnattr_t>::uninit();
    let mut acts = MaybeUninit::<libc::posix_spawn_file_actions_t>::uninit();
    let (attr, acts) = (attr.as_mut_ptr(), acts.as_mut_ptr());
    let mut pid: libc::pid_t = 0;
    // SAFETY: the two init calls initialise `attr` and `acts` (glibc's cannot fail; if
    // one did, nothing else touches them) and both are destroyed once, after the spawn.
    // The sigset is initialised by sigemptyset before any other use, glibc_signals_too's
    // included. For posix_spawn, `path` and
    // `argv` (null-terminated, its strings borrowed from `args`) outlive the call, and
    // `environ` is the process's own environment, which nothing here modifies.
    unsafe {
        check(libc::posix_spawnattr_init(attr))?;
        if let Err(e) = check(libc::posix_spawn_file_actions_init(acts)) {
            libc::posix_spawnattr_destroy(attr);
            return Err(e);
        }
        let r = (|| {
            let mut set = MaybeUninit::<libc::sigset_t>::uninit();
            libc::sigemptyset(set.as_mut_ptr());
            check(libc::posix_spawnattr_setsigmask(attr, set.as_ptr()))?;
            libc::sigfillset(set.as_mut_ptr());
            glibc_signals_too(set.as_mut_ptr());
            check(libc::posix_spawnattr_setsigdefault(attr, set.as_ptr()))?;
            let flags = libc::POSIX_SPAWN_SETSID
                | (libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF) as libc::c_short;
            check(libc::posix_spawnattr_setflags(attr, flags))?;
            if let Some(dir) = cwd {
                check(libc::posix_spawn_file_actions_addfchdir_np(
                    acts,
                    dir.as_raw_fd(),
                ))?;
            }
            for &(from, to) in give {
                check(libc::posix_spawn_file_actions_adddup2(acts, from, to))?;
            }
            check(libc::posix_spawn(
                &mut pid,
                path.as_ptr(),
                acts,
                attr,
                argv.as_ptr(),
                environ,
            ))
        })();
        libc::posix_spawn_file_actions_destroy(acts);
        libc::posix_spawnattr_destroy(attr);
        r?;
    }
    Ok(pid as u32)
}

/// Adds to `set` the two real-time signals glibc keeps for itself (32 and 33), which
/// sigfillset and sigaddset leave out. Left out of posix_spawn's set of signals to
/// default, glibc sets them to SIG_IGN in the child, and the service would keep that.
///
/// # Safety
/// `set` points to an initialised sigset_t: an array of unsigned longs, signal N being
/// bit N-1 (glibc's layout on Linux).
unsafe fn glibc_signals_too(set: *mut libc::sigset_t) {
    let words = set.cast::<libc::c_ulong>();
    let bits = libc::c_ulong::BITS as usize;
    for sig in [32usize, 33] {
        // SAFETY: a sigset_t holds 1024 bits, so both words are inside it.
        unsafe { *words.add((sig - 1) / bits) |= 1 << ((sig - 1) % bits) };
    }
}

/// posix_spawn's functions return the error number itself.
fn check(r: i32) -> Result<(), Errno> {
    match r {
        0 => Ok(()),
        e => Err(Errno::from_raw_os_error(e)),
    }
}
