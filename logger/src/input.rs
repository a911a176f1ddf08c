//! tend-log's input. A pipe is read without consuming it: tee(2) copies what it holds into
//! a private pipe, the copy is read, and the logger consumes (splices into /dev/null) only
//! the bytes whose lines it has written. A kill at any moment leaves every unwritten byte
//! in the pipe for the next tend-log. Other input (a file, a socket, a terminal) is read.
//!
//! The bytes at the pipe's head that the logger has already been given are "held"; each
//! tee copies them again, and they are skipped. The logger never sleeps while it holds
//! bytes in the pipe (it writes the start of a line in hand when the input goes idle), so
//! the pipe is empty whenever the loop polls it: poll(2) neither spins on held bytes nor
//! misses a writer (which wakes readers when it writes into an empty pipe).
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;
use rustix::pipe::{PipeFlags, SpliceFlags};

/// The capacity tend-log asks for an input pipe (when it is smaller): the writer goes on
/// filling it while a batch is stamped and written, since nothing leaves the pipe before
/// that. With Linux's default of 64 KiB the two took turns (475 MB/s against 706 for the
/// old read path, bench/RESULTS.md); 256 KiB gave as much as 1 MiB. The kernel allocates a
/// pipe's pages only as data fills them.
pub const PIPE_SIZE: usize = 256 << 10;

/// What tend-log reads from.
#[derive(Debug)]
pub struct Input<'a> {
    fd: BorrowedFd<'a>,
    peek: Option<Peek>,
}

/// The tee(2) machinery for a pipe.
#[derive(Debug)]
struct Peek {
    copy_rd: OwnedFd,
    copy_wr: OwnedFd,
    /// /dev/null, where consumed and skipped bytes go; None: read them into a scratch buffer.
    null: Option<OwnedFd>,
    /// The input pipe's capacity.
    cap: usize,
    /// Bytes at the head of the input pipe that the logger has been given already.
    held: usize,
}

impl<'a> Input<'a> {
    /// Wraps `fd`: a pipe on which tee(2) works is peeked, anything else is read.
    pub fn new(fd: BorrowedFd<'a>) -> Input<'a> {
        let peek = match rustix::fs::fstat(fd) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Fifo => Peek::new(fd).ok(),
            _ => None,
        };
        Input { fd, peek }
    }

    /// Whether bytes leave the input only when [`Input::consume`] says so.
    pub fn peeking(&self) -> bool {
        self.peek.is_some()
    }

    /// The input descriptor, to poll.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd
    }

    /// Puts the next new bytes of input into `buf`; returns their count, 0 at end of input.
    ///
    /// Errors: `AGAIN` when nothing new is there; others from read(2) or tee(2).
    pub fn fill(&mut self, buf: &mut [u8]) -> Result<usize, Errno> {
        match &mut self.peek {
            Some(p) => p.fill(self.fd, buf),
            None => rustix::io::read(self.fd, buf),
        }
    }

    /// Takes `n` held bytes off the pipe: their lines are written (no-op when reading).
    ///
    /// Errors: from splice(2) or read(2); the bytes are then still held.
    pub fn consume(&mut self, n: usize) -> Result<(), Errno> {
        let Some(p) = &mut self.peek else {
            return Ok(());
        };
        let n = n.min(p.held);
        discard(self.fd, p.null.as_ref(), n)?;
        p.held -= n;
        Ok(())
    }
}

impl Peek {
    fn new(fd: BorrowedFd<'_>) -> Result<Peek, Errno> {
        let mut cap = rustix::pipe::fcntl_getpipe_size(fd)?;
        if cap < PIPE_SIZE {
            // Best effort: an ordinary user may be refused (pipe-max-size, per-user limits).
            cap = rustix::pipe::fcntl_setpipe_size(fd, PIPE_SIZE).unwrap_or(cap);
        }
        let (copy_rd, copy_wr) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?;
        if rustix::pipe::fcntl_setpipe_size(&copy_wr, cap)? < cap {
            return Err(Errno::NOMEM);
        }
        let null =
            rustix::fs::open("/dev/null", OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty()).ok();
        let peek = Peek {
            copy_rd,
            copy_wr,
            null,
            cap,
            held: 0,
        };
        // One tee proves that the kernel does it on this pipe; what it copied is dropped.
        match rustix::pipe::tee(fd, &peek.copy_wr, cap, SpliceFlags::NONBLOCK) {
            Ok(n) => discard(peek.copy_rd.as_fd(), peek.null.as_ref(), n)?,
            Err(Errno::AGAIN) => {}
            Err(errno) => return Err(errno),
        }
        Ok(peek)
    }

    fn fill(&mut self, fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize, Errno> {
        let want = self.held.saturating_add(buf.len()).min(self.cap);
        let copied = rustix::pipe::tee(fd, &self.copy_wr, want, SpliceFlags::NONBLOCK)?;
        if copied == 0 {
            return Ok(0); // empty, and no writer left
        }
        if copied <= self.held {
            discard(self.copy_rd.as_fd(), self.null.as_ref(), copied)?;
            return Err(Errno::AGAIN); // (at the end of input too: the held bytes go first)
        }
        discard(self.copy_rd.as_fd(), self.null.as_ref(), self.held)?;
        let new = copied - self.held;
        let mut got = 0;
        while got < new {
            let to = buf.get_mut(got..new).ok_or(Errno::INVAL)?;
            match rustix::io::read(&self.copy_rd, to) {
                Ok(0) => return Err(Errno::IO), // tee said the bytes were there
                Ok(n) => got += n,
                Err(Errno::INTR) => {}
                Err(errno) => return Err(errno),
            }
        }
        self.held = copied;
        Ok(new)
    }
}

/// Takes `n` bytes off the pipe `from`, into /dev/null (or a scratch buffer without it).
fn discard(from: BorrowedFd<'_>, null: Option<&OwnedFd>, mut n: usize) -> Result<(), Errno> {
    let mut scratch = [0u8; 512];
    while n > 0 {
        let done = match null {
            Some(null) => rustix::pipe::splice(from, None, null, None, n, SpliceFlags::NONBLOCK),
            None => {
                let len = n.min(scratch.len());
                rustix::io::read(from, &mut scratch[..len])
            }
        };
        match done {
            Ok(0) => return Err(Errno::IO), // the bytes were there: the pipe lied
            Ok(k) => n = n.saturating_sub(k),
            Err(Errno::INTR) => {}
            Err(errno) => return Err(errno),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn pipe() -> (OwnedFd, std::fs::File) {
        let (rd, wr) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC).unwrap();
        (rd, std::fs::File::from(wr))
    }

    #[test]
    fn a_pipe_is_peeked_and_bytes_leave_it_only_when_consumed() {
        let (rd, mut wr) = pipe();
        let mut input = Input::new(rd.as_fd());
        assert!(input.peeking());
        let mut buf = [0u8; 64];
        assert_eq!(input.fill(&mut buf), Err(Errno::AGAIN));
        wr.write_all(b"one\ntw").unwrap();
        assert_eq!(input.fill(&mut buf), Ok(6));
        assert_eq!(&buf[..6], b"one\ntw");
        // Nothing new: the held bytes are not given twice.
        assert_eq!(input.fill(&mut buf), Err(Errno::AGAIN));
        wr.write_all(b"o\n").unwrap();
        assert_eq!(input.fill(&mut buf), Ok(2));
        assert_eq!(&buf[..2], b"o\n");
        input.consume(4).unwrap();
        // A second reader (the next tend-log) starts at the first unconsumed byte.
        let mut next = Input::new(rd.as_fd());
        assert_eq!(next.fill(&mut buf), Ok(4));
        assert_eq!(&buf[..4], b"two\n");
        drop(wr);
        next.consume(4).unwrap();
        assert_eq!(next.fill(&mut buf), Ok(0));
    }

    #[test]
    fn held_bytes_then_no_writer_is_the_end_of_input() {
        let (rd, mut wr) = pipe();
        let mut input = Input::new(rd.as_fd());
        let mut buf = [0u8; 64];
        wr.write_all(b"partial").unwrap();
        assert_eq!(input.fill(&mut buf), Ok(7));
        drop(wr);
        // Held bytes come first: the end shows once they are consumed.
        assert_eq!(input.fill(&mut buf), Err(Errno::AGAIN));
        input.consume(7).unwrap();
        assert_eq!(input.fill(&mut buf), Ok(0));
    }

    #[test]
    fn a_small_buffer_is_filled_in_turns() {
        let (rd, mut wr) = pipe();
        let mut input = Input::new(rd.as_fd());
        wr.write_all(b"abcdefgh").unwrap();
        let mut buf = [0u8; 3];
        let mut all = Vec::new();
        while let Ok(n) = input.fill(&mut buf) {
            assert!(n > 0);
            all.extend_from_slice(&buf[..n]);
        }
        assert_eq!(all, b"abcdefgh");
    }

    #[test]
    fn other_input_is_read() {
        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut input = Input::new(a.as_fd());
        assert!(!input.peeking());
        b.write_all(b"x\n").unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(input.fill(&mut buf), Ok(2));
        input.consume(2).unwrap();
    }
}
