//! The logger proper: input bytes in, stamped lines out to `current`, rotation, retention,
//! and the disk-full policies. It performs no waiting of its own: the run loop calls it
//! when input arrived or a retry is due, and prints the notes it leaves.
//!
//! Buffers are allocated once: the input buffer (128 KiB, or twice LINEMAX if larger) and
//! the output buffer (128 KiB, or LINEMAX plus 64 bytes if larger). Lines are copied from
//! one to the other behind a cached stamp; the output buffer is written with one write(2)
//! when full or when the input has run dry. The engine counts the input bytes whose lines
//! are written ([`Logger::release`] consumes them from a peeked pipe, [`crate::input`]):
//! from a pipe, a SIGKILL loses nothing, and doubles at most one batch (one input buffer);
//! from other input, it loses what both buffers hold (tend-log(8), "Crashes").
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use rustix::io::Errno;
use tend_core::Error;

use crate::clock::Clock;
use crate::config::{Config, Policy};
use crate::configfile::{ConfigFile, MAX_CONFIG};
use crate::input::Input;
use crate::logdir::{Found, Logdir};
use crate::pagebuf::PageBuf;
use crate::pattern::decide;
use crate::scan::{cut_point, find_newline};
use crate::stamp::{Stamper, SEP_CONTINUED};

/// Size of the input buffer (unless LINEMAX asks for more). Both buffers are mapped
/// straight from the kernel ([`PageBuf`]): their pages cost nothing until input reaches
/// them. (At 64 KiB from calloc, an idle tend-log held 132-140 KiB private instead of 76.)
pub const IN_BUF: usize = 128 << 10;
/// Size of the output buffer (unless LINEMAX asks for more).
pub const OUT_BUF: usize = 128 << 10;
/// Time between two attempts after a failed write or rotation step.
pub const RETRY: Duration = Duration::from_secs(1);
/// Least time between two warnings about the same persisting failure.
pub const WARN_EVERY: Duration = Duration::from_secs(60);

/// A message for the admin, left by the logger for its caller to print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    /// Something failed or was lost; text completes `tend-log: warning: `.
    Warning(String),
    /// Something worth knowing; text completes `tend-log: info: `.
    Info(String),
    /// A line an `e` rule selected, stamped, with its newline: for standard error as it is.
    Alert(Vec<u8>),
}

/// One step of a rotation or reopen; each is retried where it failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Write the output buffer.
    Flush,
    /// fsync `current`.
    Sync,
    /// Mark `current` finished (0744).
    Finalize,
    /// Rename `current` to `@<TAI64N>.s`.
    Rename,
    /// Open a new `current`.
    Open,
    /// fsync the logdir.
    SyncDir,
    /// Start the processor on the new archive (with `-p`).
    Process,
    /// Delete archives beyond the retention limits.
    Trim,
    /// Close and reopen `current` (and the logdir, if it was replaced).
    Reopen,
}

/// A multi-step job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Job {
    /// Turn `current` into an archive and start a new one.
    Rotate,
    /// Close and reopen the logdir (SIGHUP).
    Reopen,
}

/// The step after `step` in `job`, or None when the job is done.
pub fn next_step(job: Job, step: Step) -> Option<Step> {
    match (job, step) {
        (_, Step::Flush) => Some(Step::Sync),
        (_, Step::Sync) => Some(Step::Finalize),
        (Job::Rotate, Step::Finalize) => Some(Step::Rename),
        (Job::Rotate, Step::Rename) => Some(Step::Open),
        (Job::Rotate, Step::Open) => Some(Step::SyncDir),
        (Job::Rotate, Step::SyncDir) => Some(Step::Process),
        (Job::Rotate, Step::Process) => Some(Step::Trim),
        (Job::Rotate, Step::Trim) => None,
        (Job::Reopen, Step::Finalize) => Some(Step::Reopen),
        (Job::Reopen, Step::Reopen) => None,
        // Steps that belong to the other job: finish.
        (Job::Rotate, Step::Reopen) => None,
        (Job::Reopen, Step::Rename | Step::Open | Step::SyncDir | Step::Process | Step::Trim) => {
            None
        }
    }
}

/// Where a reopen (SIGHUP) takes over from a pending job at `step`: data still to write
/// and `current` still to finish are done first; the rest of a rotation is dropped.
pub fn reopen_from(step: Step) -> Step {
    match step {
        Step::Flush | Step::Sync | Step::Finalize => step,
        Step::Rename | Step::Open | Step::SyncDir | Step::Process | Step::Trim | Step::Reopen => {
            Step::Reopen
        }
    }
}

/// A persisting failure under the `block` (or exhausted `free`) policy: input is paused.
#[derive(Debug)]
struct Stall {
    since: Instant,
    retry_at: Instant,
    warned_at: Instant,
}

/// Lines dropped under the `drop` policy and not yet reported by a marker line.
#[derive(Debug, Default)]
struct Dropped {
    lines: u64,
    bytes: u64,
    /// Whether the failure was a full disk (ENOSPC, EDQUOT).
    full: bool,
    /// Drop without trying to write until then.
    until: Option<Instant>,
    warned_at: Option<Instant>,
}

/// Bytes of a line kept in the status file (`-w`), stamp included.
pub const STATUS_LINE: usize = 1000;
/// Size of the status file: the line, padded with newlines.
pub const STATUS_SIZE: usize = STATUS_LINE + 1;

/// A non-blocking UDP socket to send from.
fn open_udp() -> std::io::Result<std::net::UdpSocket> {
    let sock = std::net::UdpSocket::bind((std::net::Ipv4Addr::UNSPECIFIED, 0))?;
    sock.set_nonblocking(true)?;
    Ok(sock)
}

/// Opens (creating, mode 0644) the status file for writing in place.
fn open_status(path: &Path) -> Result<std::fs::File, Error> {
    use std::os::unix::fs::OpenOptionsExt;
    use tend_core::Ctx;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(path)
        .ctx(|| format!("open {}", path.display()))
}

/// Time between two runs of a processor that failed.
pub const PROCESSOR_RETRY: Duration = Duration::from_secs(5);

/// A processor working on the archive `<stem>.u`, writing `<stem>.t`.
#[derive(Debug)]
struct Processing {
    stem: String,
    /// The running processor and the descriptor of its output.
    child: Option<(Child, OwnedFd)>,
    /// When to start it (again) if it is not running.
    start_at: Instant,
}

/// A piece of input to write: `inbuf[start..end]`, then the next piece starts at `next`.
#[derive(Clone, Copy, Debug)]
struct Piece {
    start: usize,
    end: usize,
    next: usize,
    /// The next piece continues this line (split at LINEMAX).
    cont_next: bool,
    /// The line is not complete: write it without a newline, leaving it open.
    open: bool,
}

/// Why the logger stopped with data unwritten.
#[derive(Debug)]
pub struct Lost {
    /// Bytes that were read but could not be written.
    pub bytes: u64,
    /// Those bytes are still in the input pipe, for the next tend-log.
    pub kept: bool,
    /// The failure.
    pub err: Error,
}

/// The log engine for one logdir.
#[derive(Debug)]
pub struct Logger<C: Clock> {
    /// The settings from the command line.
    base: Config,
    /// The settings in use: `base` with the logdir's config file applied.
    cfg: Config,
    clock: C,
    stamper: Stamper,
    dir: Logdir,
    inbuf: PageBuf,
    in_start: usize,
    in_end: usize,
    /// `inbuf[in_start..scanned]` is known to hold no newline.
    scanned: usize,
    /// Where the latest read's bytes start, and when it returned.
    batch_start: usize,
    batch_time: SystemTime,
    /// Stamp time of bytes before `batch_start` (carried from earlier reads).
    carry_time: SystemTime,
    /// The piece at `in_start` continues a line split at LINEMAX.
    continued: bool,
    /// The last read filled the buffer: more input is probably waiting.
    more_waiting: bool,
    out: PageBuf,
    out_start: usize,
    out_end: usize,
    /// Input bytes whose lines are in the output buffer, not yet written.
    out_in: usize,
    /// Input bytes whose lines are written (or dropped): to consume from a peeked pipe.
    done_in: usize,
    /// `current` ends inside a line: its start is written (no newline yet), the rest is to
    /// follow without a stamp.
    open_line: bool,
    /// Bytes of that line written so far (counted against LINEMAX).
    line_len: usize,
    /// Whether `current` was inside a line when the output buffer was last empty.
    open_before_out: bool,
    /// The rules deselected the line in hand: its rest is skipped too.
    skipping: bool,
    /// The piece starting here was judged (and selected) already: not judged again.
    judged: Option<usize>,
    /// When the first line went into an empty `current` (for rotation by age).
    filled_at: Option<Instant>,
    /// The status file (`-w`), and what is written to it.
    status: Option<(std::fs::File, Vec<u8>)>,
    /// The last complete line in the output buffer (stamp included, newline not).
    last_line: Option<(usize, usize)>,
    /// Writing the status file fails (warned about once until it works again).
    status_failing: bool,
    /// The socket selected lines are sent from (`u`, `U`), made when first needed.
    udp: Option<std::net::UdpSocket>,
    /// Lines not sent since the last warning, and when that was.
    udp_lost: u64,
    udp_warned_at: Option<Instant>,
    /// A datagram being put together.
    datagram: Vec<u8>,
    /// The input has nothing new right now (see [`Logger::input_idle`]).
    idle: bool,
    /// The input is a peeked pipe: a partial line is written when the input is idle, so
    /// that no held byte waits in the pipe while the loop sleeps.
    peeking: bool,
    work: Option<(Job, Step)>,
    /// The stem (`@<label>`) of the archive the last rotation made.
    archived: Option<String>,
    processing: Option<Processing>,
    /// A rotation waits for the processor: input is paused.
    waiting: bool,
    rotate_asked: bool,
    reopen_asked: bool,
    stall: Option<Stall>,
    last_err: Option<Error>,
    dropped: Dropped,
    notes: Vec<Note>,
}

impl<C: Clock> Logger<C> {
    /// Opens (creating, locking) the logdir and sets up the buffers.
    ///
    /// Errors: as [`Logdir::open`]; an unfinished `current` archived as `.u` is a note.
    pub fn new(cfg: Config, mut clock: C) -> Result<Logger<C>, Error> {
        let now = clock.now();
        let (dir, found) = Logdir::open(&cfg.dir, now)?;
        let mut notes = Vec::new();
        let base = cfg;
        let cfg = load_config(&base, &dir, &mut notes).unwrap_or_else(|| base.clone());
        if let Found::Recovered(name) = found {
            notes.push(Note::Warning(format!(
                "{}/current was not finished (crash?): archived it as {name}",
                cfg.dir.display()
            )));
        }
        if cfg.processor.is_some() {
            if let Err(e) = dir.remove_temporaries() {
                notes.push(Note::Warning(e.to_string()));
            }
        }
        let in_size = IN_BUF.max(cfg.linemax.saturating_mul(2));
        let out_size = OUT_BUF.max(cfg.linemax.saturating_add(64));
        let filled_at = (dir.size() > 0).then(Instant::now);
        let status = match &cfg.status {
            Some(path) => Some((open_status(path)?, Vec::with_capacity(STATUS_SIZE))),
            None => None,
        };
        Ok(Logger {
            stamper: Stamper::new(cfg.format),
            base,
            cfg,
            clock,
            dir,
            inbuf: PageBuf::new(in_size)?,
            in_start: 0,
            in_end: 0,
            scanned: 0,
            batch_start: 0,
            batch_time: now,
            carry_time: now,
            continued: false,
            more_waiting: false,
            out: PageBuf::new(out_size)?,
            out_start: 0,
            out_end: 0,
            out_in: 0,
            done_in: 0,
            open_line: false,
            line_len: 0,
            open_before_out: false,
            skipping: false,
            judged: None,
            filled_at,
            status,
            last_line: None,
            status_failing: false,
            udp: None,
            udp_lost: 0,
            udp_warned_at: None,
            datagram: Vec::new(),
            idle: false,
            peeking: false,
            work: None,
            archived: None,
            processing: None,
            waiting: false,
            rotate_asked: false,
            reopen_asked: false,
            stall: None,
            last_err: None,
            dropped: Dropped::default(),
            notes,
        })
    }

    /// The logdir.
    pub fn logdir(&self) -> &Logdir {
        &self.dir
    }

    /// The notes left since the last call.
    pub fn take_notes(&mut self) -> Vec<Note> {
        std::mem::take(&mut self.notes)
    }

    /// Asks for a rotation (SIGALRM): done before the next line if `current` is not empty.
    pub fn ask_rotate(&mut self) {
        self.rotate_asked = true;
    }

    /// Asks for the logdir to be closed and reopened (SIGHUP).
    pub fn ask_reopen(&mut self) {
        self.reopen_asked = true;
    }

    /// Whether input may be read now: not while a failure pauses it, nor with a full buffer.
    pub fn wants_input(&self) -> bool {
        self.stall.is_none() && !self.waiting && self.in_end - self.in_start < self.inbuf.len()
    }

    /// Whether a processor is running or due to run again.
    pub fn processing(&self) -> bool {
        self.processing.is_some()
    }

    /// When the logger next wants [`Logger::process`] called even without input.
    pub fn deadline(&self) -> Option<Instant> {
        let restart = self
            .processing
            .as_ref()
            .filter(|p| p.child.is_none())
            .map(|p| p.start_at);
        let own = match (&self.stall, self.dropped.until) {
            (Some(s), _) => Some(s.retry_at),
            (None, Some(until)) => Some(until),
            // Output held back for a fuller write: look again at once, and write it if no
            // more input is there.
            (None, None) if self.more_waiting && self.out_end > self.out_start => {
                Some(Instant::now())
            }
            (None, None) => None,
        };
        [own, restart, self.age_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// When `current` is due for rotation by age: only when it has a line, and no
    /// rotation is asked for already (one waiting for the processor wakes no one).
    fn age_deadline(&self) -> Option<Instant> {
        if self.rotate_asked {
            return None;
        }
        self.filled_at?.checked_add(self.cfg.age?)
    }

    /// Tells the logger that no input is waiting right now: what it holds goes out, and
    /// from a peeked pipe the start of a line in hand too (its rest follows unstamped).
    pub fn input_idle(&mut self) {
        self.more_waiting = false;
        self.idle = true;
    }

    /// Whether a failure is pausing input.
    pub fn stalled(&self) -> bool {
        self.stall.is_some()
    }

    /// Consumes from a peeked pipe the input bytes whose lines are written or dropped.
    ///
    /// Errors: from the input; the bytes stay held and are consumed at the next call.
    pub fn release(&mut self, input: &mut Input<'_>) -> Result<(), Errno> {
        if self.done_in > 0 {
            input.consume(self.done_in)?;
            self.done_in = 0;
        }
        Ok(())
    }

    /// Takes the count of input bytes whose lines are written (or dropped, or deselected)
    /// since the last call: bytes to consume once every logger on the input is done.
    pub fn take_done(&mut self) -> usize {
        std::mem::take(&mut self.done_in)
    }

    /// Room for new input, once the line in hand is moved to the buffer's start.
    pub fn room(&mut self) -> usize {
        self.compact();
        self.inbuf.len() - self.in_end
    }

    /// The bytes the last [`Logger::read_input`] took, and when it returned: for the
    /// other loggers on the same input ([`Logger::push_input`]).
    pub fn last_read(&self) -> (&[u8], SystemTime) {
        let bytes = self
            .inbuf
            .get(self.batch_start..self.in_end)
            .unwrap_or_default();
        (bytes, self.batch_time)
    }

    /// Takes `bytes`, read from the input at `time` by another logger, as
    /// [`Logger::read_input`] would have; `more`: the read filled the room it had.
    ///
    /// Errors: `AGAIN` if there is no room for them all ([`Logger::room`] tells).
    pub fn push_input(
        &mut self,
        bytes: &[u8],
        peeking: bool,
        time: SystemTime,
        more: bool,
    ) -> Result<(), Errno> {
        self.compact();
        let to = self.in_end;
        let buf = self
            .inbuf
            .get_mut(to..to + bytes.len())
            .ok_or(Errno::AGAIN)?;
        buf.copy_from_slice(bytes);
        self.peeking = peeking;
        if !bytes.is_empty() {
            self.idle = false;
            self.batch_start = to;
            self.batch_time = time;
            self.in_end += bytes.len();
            self.more_waiting = more;
        }
        Ok(())
    }

    /// Bytes read but not yet written.
    pub fn unwritten(&self) -> u64 {
        ((self.in_end - self.in_start) + (self.out_end - self.out_start)) as u64
    }

    /// Whether everything read has been written and no job is pending.
    pub fn drained(&self) -> bool {
        self.in_start == self.in_end
            && self.out_start == self.out_end
            && self.work.is_none()
            && self.stall.is_none()
    }

    /// Whether `current` ends inside a line whose rest has not come yet.
    pub fn line_open(&self) -> bool {
        self.open_line || self.skipping
    }

    /// Length of the line in hand (read, without its newline yet).
    pub fn partial_len(&self) -> usize {
        self.in_end - self.in_start
    }

    /// Whether the line in hand is complete: it ends in a newline or reached LINEMAX.
    pub fn partial_complete(&self) -> bool {
        let partial = self
            .inbuf
            .get(self.in_start..self.in_end)
            .unwrap_or_default();
        partial.last() == Some(&b'\n') || partial.len() > self.cfg.linemax
    }

    /// Takes at most `limit` new bytes of input (one [`Input::fill`]); returns the count,
    /// 0 at EOF. Call only when [`Logger::process`] has taken every complete line.
    ///
    /// Errors: `AGAIN` when nothing new is there (then call [`Logger::input_idle`]); others
    /// from the input.
    pub fn read_input(&mut self, input: &mut Input<'_>, limit: usize) -> Result<usize, Errno> {
        self.compact();
        let room = self.inbuf.len() - self.in_end;
        let want = room.min(limit);
        if want == 0 {
            return Err(Errno::AGAIN); // full: process() must take lines first
        }
        let Some(buf) = self.inbuf.get_mut(self.in_end..self.in_end + want) else {
            return Ok(0);
        };
        self.peeking = input.peeking();
        let n = input.fill(buf)?;
        if n > 0 {
            self.idle = false;
            self.batch_start = self.in_end;
            self.batch_time = self.clock.now();
            self.in_end += n;
            self.more_waiting = n == room;
        }
        Ok(n)
    }

    /// Moves the line in hand to the front of the input buffer.
    fn compact(&mut self) {
        if self.in_start < self.in_end {
            // The line in hand keeps the time of its first byte.
            self.carry_time = self.time_at(self.in_start);
        }
        if self.in_start > 0 {
            self.inbuf.copy_within(self.in_start..self.in_end, 0);
        }
        self.in_end -= self.in_start;
        self.scanned = self.scanned.saturating_sub(self.in_start);
        self.judged = self.judged.and_then(|at| at.checked_sub(self.in_start));
        self.in_start = 0;
        self.batch_start = self.in_end;
    }

    /// The stamp time of the byte at `at`: when the read that delivered it returned.
    fn time_at(&self, at: usize) -> SystemTime {
        if at >= self.batch_start {
            self.batch_time
        } else {
            self.carry_time
        }
    }

    /// Bytes `current` will hold once the output buffer is written.
    fn logical_size(&self) -> u64 {
        self.dir.size() + (self.out_end - self.out_start) as u64
    }

    /// Takes every complete line of input through stamping, rotation and writing, as far
    /// as failures allow. With `at_end` (EOF or exit), a last line without a newline is
    /// taken too, and gets one.
    pub fn process(&mut self, at_end: bool) {
        let dropping_now = self
            .dropped
            .until
            .is_some_and(|until| Instant::now() < until);
        if dropping_now {
            self.drop_input(at_end);
            return;
        }
        if let Err(e) = self.write_pending(at_end) {
            self.failed(e);
            if self.cfg.policy == Policy::Drop {
                self.drop_input(at_end);
            }
            return;
        }
        self.recovered();
    }

    /// The loop of [`Logger::process`]; stops at the first failure.
    fn write_pending(&mut self, at_end: bool) -> Result<(), Error> {
        self.waiting = false;
        self.check_processor();
        if self.age_deadline().is_some_and(|t| t <= Instant::now()) {
            self.rotate_asked = true; // done below, or once the processor is done
        }
        if self.dropped.until.is_some() {
            self.finish_work()?;
            self.write_marker()?;
        }
        loop {
            if self.reopen_asked || self.rotate_asked {
                // The line in progress ends here; its rest gets a continuation stamp.
                self.close_open_line()?;
            }
            if self.reopen_asked {
                // A reopen also rescues a rotation stuck on a logdir that went away.
                self.reopen_asked = false;
                let step = self.work.map_or(Step::Flush, |(_, step)| reopen_from(step));
                self.work = Some((Job::Reopen, step));
            }
            self.finish_work()?;
            if self.rotate_asked && self.logical_size() > 0 && self.processing.is_some() {
                self.waiting = true; // rotate once the processor is done
                break;
            }
            if self.rotate_asked {
                self.rotate_asked = false;
                if self.logical_size() > 0 {
                    self.work = Some((Job::Rotate, Step::Flush));
                }
                continue;
            }
            let Some(piece) = self.next_piece(at_end) else {
                break;
            };
            let (start, end) = (piece.start, piece.end);
            let new_line = !self.open_line && !self.continued;
            let judging = !self.cfg.rules.is_empty() || self.cfg.udp.is_some();
            let skip = self.skipping || (new_line && judging && !self.judge(&piece));
            if skip {
                // Its input is consumed with the written lines before it.
                self.skipping = piece.open || piece.cont_next;
                self.out_in += piece.next - start;
                self.in_start = piece.next;
                continue;
            }
            let head = if self.open_line {
                0
            } else {
                self.stamper.format().len() + self.cfg.prefix.len()
            };
            let need = (head + (end - start) + 1) as u64;
            let size = self.logical_size();
            if self.cfg.size > 0 && size > 0 && size + need > self.cfg.size {
                if self.processing.is_some() {
                    self.waiting = true; // the next rotation waits for the processor
                    break;
                }
                // A line begun in `current` ends there (its newline was counted when its
                // start was put); the rest is a continuation in the next file.
                self.close_open_line()?;
                self.work = Some((Job::Rotate, Step::Flush));
                continue;
            }
            if self.out.len() - self.out_end < need as usize {
                self.flush()?;
            }
            self.put(&piece);
            self.out_in += piece.next - start;
            self.in_start = piece.next;
            self.continued = piece.cont_next;
        }
        if at_end || !self.more_waiting {
            self.flush()?;
        }
        Ok(())
    }

    /// Whether the piece (the start of a line) is to be written to the logdir: the rules
    /// select it, and UDP is not all (`U`). Alerts it and sends it as the settings say.
    fn judge(&mut self, piece: &Piece) -> bool {
        if self.judged == Some(piece.start) {
            return true;
        }
        let line = self.inbuf.get(piece.start..piece.end).unwrap_or_default();
        let v = decide(&self.cfg.rules, line);
        if v.alert {
            let mut text = self.stamper.stamp(self.time_at(piece.start)).to_vec();
            text.extend_from_slice(&self.cfg.prefix);
            text.extend_from_slice(line);
            if piece.cont_next {
                text.extend_from_slice(b"...");
            }
            text.push(b'\n');
            self.notes.push(Note::Alert(text));
        }
        let Some(udp) = self.cfg.udp.filter(|_| v.selected) else {
            if v.selected {
                self.judged = Some(piece.start);
            }
            return v.selected;
        };
        self.send(piece, udp.to);
        if udp.only {
            return false;
        }
        self.judged = Some(piece.start);
        true
    }

    /// Sends stamp, prefix, the piece (then `...` if the line goes on) and a newline as
    /// one datagram to `to`, never waiting: a datagram that cannot go is counted, and
    /// reported at most once a minute.
    fn send(&mut self, piece: &Piece, to: std::net::SocketAddrV4) {
        let mut d = std::mem::take(&mut self.datagram);
        d.clear();
        d.extend_from_slice(self.stamper.stamp(self.time_at(piece.start)));
        d.extend_from_slice(&self.cfg.prefix);
        d.extend_from_slice(self.inbuf.get(piece.start..piece.end).unwrap_or_default());
        if piece.cont_next {
            d.extend_from_slice(b"...");
        }
        d.push(b'\n');
        let sent = match &self.udp {
            Some(sock) => sock.send_to(&d, to),
            None => open_udp().and_then(|sock| {
                let sent = sock.send_to(&d, to);
                self.udp = Some(sock);
                sent
            }),
        };
        self.datagram = d;
        let Err(e) = sent else {
            return;
        };
        self.udp_lost += 1;
        let now = Instant::now();
        if self
            .udp_warned_at
            .is_none_or(|t| now.duration_since(t) >= WARN_EVERY)
        {
            self.udp_warned_at = Some(now);
            let why = match Errno::from_io_error(&e) {
                Some(errno) => tend_core::error::describe(errno).to_string(),
                None => e.to_string(),
            };
            self.notes.push(Note::Warning(format!(
                "unable to send lines to {to} by UDP: {why} ({} lines not sent; reported at \
                 most once a minute)",
                std::mem::take(&mut self.udp_lost)
            )));
        }
    }

    /// The next piece of input to write, or None if only an incomplete line is left (and
    /// it is not to be written open yet).
    fn next_piece(&mut self, at_end: bool) -> Option<Piece> {
        let (start, end) = (self.in_start, self.in_end);
        // What LINEMAX leaves of a line whose start is written already.
        let max = self.cfg.linemax.saturating_sub(self.line_len);
        if start == end {
            return None;
        }
        let from = self.scanned.max(start);
        let avail = self.inbuf.get(start..end)?;
        let newline = self
            .inbuf
            .get(from..end)
            .and_then(find_newline)
            .map(|i| from - start + i);
        let whole = |len: usize, next: usize| Piece {
            start,
            end: start + len,
            next,
            cont_next: false,
            open: false,
        };
        match newline {
            Some(nl) if nl <= max => Some(whole(nl, start + nl + 1)),
            Some(_) => Some(self.split(start, max)),
            None => {
                self.scanned = end;
                if avail.len() > max {
                    Some(self.split(start, max))
                } else if at_end {
                    Some(whole(avail.len(), end))
                } else if self.idle && self.peeking {
                    Some(Piece {
                        open: true,
                        ..whole(avail.len(), end)
                    })
                } else {
                    None
                }
            }
        }
    }

    fn split(&self, start: usize, max: usize) -> Piece {
        let line = self.inbuf.get(start..self.in_end).unwrap_or_default();
        let cut = start + cut_point(line, max);
        Piece {
            start,
            end: cut,
            next: cut,
            cont_next: true,
            open: false,
        }
    }

    /// Copies stamp (unless the line is open in `current`), piece and newline (unless the
    /// piece leaves the line open) into the output buffer (room was checked).
    fn put(&mut self, piece: &Piece) {
        if self.out_end == 0 {
            self.open_before_out = self.open_line;
        }
        let mut at = self.out_end;
        let line_start = at;
        self.judged = None;
        if self.filled_at.is_none() {
            self.filled_at = Some(Instant::now());
        }
        if !self.open_line {
            let stamp = self.stamper.stamp(self.time_at(piece.start));
            let slen = stamp.len();
            self.out[at..at + slen].copy_from_slice(stamp);
            if self.continued && slen > 0 {
                self.out[at + slen - 1] = SEP_CONTINUED;
            }
            at += slen;
            let plen = self.cfg.prefix.len();
            self.out[at..at + plen].copy_from_slice(&self.cfg.prefix);
            at += plen;
        }
        let len = piece.end - piece.start;
        self.out[at..at + len].copy_from_slice(&self.inbuf[piece.start..piece.end]);
        at += len;
        if piece.open {
            self.open_line = true;
            self.line_len += len;
        } else {
            if self.status.is_some() {
                self.last_line = Some((line_start, at));
            }
            self.out[at] = b'\n';
            at += 1;
            self.open_line = false;
            self.line_len = 0;
        }
        self.out_end = at;
    }

    /// Ends the line left open in `current` with a newline; what follows of it gets a
    /// continuation stamp.
    fn close_open_line(&mut self) -> Result<(), Error> {
        if !self.open_line {
            return Ok(());
        }
        if self.out_end == self.out.len() {
            self.flush()?;
        }
        if self.out_end == 0 {
            self.open_before_out = true;
        }
        self.out[self.out_end] = b'\n';
        self.out_end += 1;
        self.open_line = false;
        self.line_len = 0;
        self.continued = true;
        Ok(())
    }

    /// Writes the output buffer to `current`, applying the policy to failures.
    fn flush(&mut self) -> Result<(), Error> {
        while self.out_start < self.out_end {
            match self.dir.write(&self.out[self.out_start..self.out_end]) {
                Ok(0) => self.write_failed(Errno::NOSPC)?,
                Ok(n) => self.out_start += n,
                Err(Errno::INTR) => {}
                Err(errno) => self.write_failed(errno)?,
            }
        }
        if let Some((a, b)) = self.last_line.take() {
            self.write_status(a, b);
        }
        self.out_start = 0;
        self.out_end = 0;
        self.done_in += std::mem::take(&mut self.out_in);
        Ok(())
    }

    /// Rewrites the status file in place with `out[a..b]`: its first [`STATUS_LINE`]
    /// bytes, padded with newlines to [`STATUS_SIZE`] (multilog's `=file`).
    fn write_status(&mut self, a: usize, b: usize) {
        let Some((file, buf)) = self.status.as_mut() else {
            return;
        };
        let line = self.out.get(a..b).unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(&line[..line.len().min(STATUS_LINE)]);
        buf.resize(STATUS_SIZE, b'\n');
        let done = std::os::unix::fs::FileExt::write_all_at(file, buf, 0);
        match (done, self.status_failing) {
            (Ok(()), _) => self.status_failing = false,
            (Err(_), true) => {}
            (Err(e), false) => {
                self.status_failing = true;
                let path = self.cfg.status.as_deref().unwrap_or(Path::new("?"));
                self.notes.push(Note::Warning(format!(
                    "unable to write {}: {e}",
                    path.display()
                )));
            }
        }
    }

    /// Applies the policy to a failed write: Ok to try again, Err to give up for now.
    fn write_failed(&mut self, errno: Errno) -> Result<(), Error> {
        let err = Error::Sys {
            op: format!("write {}", self.dir.current_path()),
            errno,
        };
        let full = errno == Errno::NOSPC || errno == Errno::DQUOT;
        match self.cfg.policy {
            Policy::Block => Err(err),
            Policy::Free if full => match self
                .dir
                .remove_oldest(self.busy_archive().as_deref(), self.cfg.min)
            {
                Ok(Some(name)) => {
                    self.notes.push(Note::Warning(format!(
                        "deleted {}/{name} to make room: {}",
                        self.dir.path().display(),
                        tend_core::error::describe(errno)
                    )));
                    Ok(())
                }
                Ok(None) => Err(err),
                Err(e) => {
                    self.notes.push(Note::Warning(e.to_string()));
                    Err(err)
                }
            },
            Policy::Free => Err(err),
            Policy::Drop => {
                self.drop_output(full);
                Err(err)
            }
        }
    }

    /// Under `drop`: discards the unwritten output (cutting a half-written line off
    /// `current`) and counts it.
    fn drop_output(&mut self, full: bool) {
        let written = &self.out[..self.out_start];
        let tail = match written.iter().rposition(|&b| b == b'\n') {
            Some(p) => written.len() - p - 1,
            None => written.len(),
        };
        if tail > 0 {
            let keep = self.dir.size().saturating_sub(tail as u64);
            if let Err(e) = self.dir.truncate(keep) {
                self.notes.push(Note::Warning(e.to_string()));
            }
        }
        // Whether `current` now ends inside a line: the written part's last newline is
        // kept; without one, `current` is as it was before this buffer.
        let newline_kept = tail < written.len();
        self.open_line = if newline_kept {
            false
        } else {
            self.open_before_out
        };
        self.line_len = 0;
        let lost = &self.out[self.out_start - tail..self.out_end];
        let lines = lost.iter().filter(|&&b| b == b'\n').count() as u64;
        let stamps = lines * self.stamper.format().len() as u64;
        self.dropped.lines += lines;
        self.dropped.bytes += (lost.len() as u64).saturating_sub(stamps);
        self.dropped.full |= full;
        self.out_start = 0;
        self.out_end = 0;
        self.last_line = None;
        self.done_in += std::mem::take(&mut self.out_in);
    }

    /// Under `drop`, while writing is known to fail: counts and discards input lines.
    fn drop_input(&mut self, at_end: bool) {
        while let Some(p) = self.next_piece(at_end) {
            self.dropped.lines += 1;
            self.dropped.bytes += (p.end - p.start + 1) as u64;
            self.done_in += p.next - p.start;
            self.in_start = p.next;
            self.continued = p.cont_next;
        }
    }

    /// Writes `tend-log: dropped N lines (M bytes) while LOGDIR was full`, if lines were
    /// dropped, and ends the dropping.
    fn write_marker(&mut self) -> Result<(), Error> {
        if self.dropped.lines > 0 {
            // A line left open in `current` ends before the marker.
            let mut line = if self.open_line {
                b"\n".to_vec()
            } else {
                Vec::new()
            };
            line.extend_from_slice(self.stamper.stamp(self.clock.now()));
            let why = if self.dropped.full {
                "full"
            } else {
                "unwritable"
            };
            line.extend_from_slice(
                format!(
                    "tend-log: dropped {} lines ({} bytes) while {} was {why}\n",
                    self.dropped.lines,
                    self.dropped.bytes,
                    self.dir.path().display()
                )
                .as_bytes(),
            );
            let before = self.dir.size();
            let mut done = 0;
            while done < line.len() {
                match self.dir.write(&line[done..]) {
                    Ok(0) => return self.marker_failed(before, done, Errno::NOSPC),
                    Ok(n) => done += n,
                    Err(Errno::INTR) => {}
                    Err(errno) => return self.marker_failed(before, done, errno),
                }
            }
            self.open_line = false;
            self.line_len = 0;
            self.notes.push(Note::Info(format!(
                "dropped {} lines ({} bytes) while {} was {why}",
                self.dropped.lines,
                self.dropped.bytes,
                self.dir.path().display()
            )));
        }
        self.dropped = Dropped::default();
        Ok(())
    }

    fn marker_failed(&mut self, before: u64, done: usize, errno: Errno) -> Result<(), Error> {
        if done > 0 {
            if let Err(e) = self.dir.truncate(before) {
                self.notes.push(Note::Warning(e.to_string()));
            }
        }
        self.dropped.full |= errno == Errno::NOSPC || errno == Errno::DQUOT;
        Err(Error::Sys {
            op: format!("write {}", self.dir.current_path()),
            errno,
        })
    }

    /// Runs the pending job's steps until it is done or one fails.
    fn finish_work(&mut self) -> Result<(), Error> {
        while let Some((job, step)) = self.work {
            self.do_step(step)?;
            self.work = next_step(job, step).map(|s| (job, s));
        }
        Ok(())
    }

    fn do_step(&mut self, step: Step) -> Result<(), Error> {
        match step {
            Step::Flush => self.flush(),
            Step::Sync if self.dir.has_current() => self.dir.sync_current(),
            Step::Finalize if self.dir.has_current() => self.dir.mark_current(true),
            Step::Sync | Step::Finalize => Ok(()),
            Step::Rename => {
                let suffix = if self.cfg.processor.is_some() {
                    'u'
                } else {
                    's'
                };
                let name = self.dir.archive_current(self.clock.now(), suffix)?;
                self.filled_at = None;
                self.archived = name
                    .strip_suffix(".s")
                    .or(name.strip_suffix(".u"))
                    .map(String::from);
                Ok(())
            }
            Step::Process => {
                if let (Some(_), Some(stem)) = (&self.cfg.processor, self.archived.take()) {
                    self.processing = Some(Processing {
                        stem,
                        child: None,
                        start_at: Instant::now(),
                    });
                    self.check_processor();
                }
                Ok(())
            }
            Step::Open => self.dir.open_current(),
            Step::SyncDir => {
                if let Err(e) = self.dir.sync_dir() {
                    self.notes.push(Note::Warning(e.to_string()));
                }
                Ok(())
            }
            Step::Trim => {
                self.trim();
                Ok(())
            }
            Step::Reopen => {
                self.reopen()?;
                if let Some(cfg) = load_config(&self.base, &self.dir, &mut self.notes) {
                    self.cfg = cfg;
                }
                Ok(())
            }
        }
    }

    /// Deletes archives beyond the limits, sparing the one being processed.
    fn trim(&mut self) {
        let busy = self.busy_archive();
        if let Err(e) = self
            .dir
            .trim(self.cfg.count, self.cfg.total, busy.as_deref())
        {
            self.notes.push(Note::Warning(e.to_string()));
        }
    }

    /// The archive a processor works on, if any.
    fn busy_archive(&self) -> Option<String> {
        self.processing.as_ref().map(|p| format!("{}.u", p.stem))
    }

    /// Reaps a processor that ended (installing its output, or scheduling a retry) and
    /// starts one that is due.
    fn check_processor(&mut self) {
        let Some(p) = self.processing.as_mut() else {
            return;
        };
        if let Some((child, out)) = p.child.as_mut() {
            let status = match child.try_wait() {
                Ok(None) => return,
                Ok(Some(status)) => status,
                Err(e) => {
                    let why = format!("unable to wait for the processor: {e}");
                    self.notes.push(Note::Warning(why));
                    return;
                }
            };
            let installed = status
                .success()
                .then(|| self.dir.install_output(out, &p.stem));
            match installed {
                Some(Ok(())) => {
                    self.processing = None;
                    self.trim();
                    return;
                }
                Some(Err(e)) => self.notes.push(Note::Warning(format!(
                    "{e}; running the processor again in 5 seconds"
                ))),
                None => self.notes.push(Note::Warning(format!(
                    "processor failed on {}/{}.u ({status}); running it again in 5 seconds",
                    self.cfg.dir.display(),
                    p.stem
                ))),
            }
            let _ = self.dir.remove(&format!("{}.t", p.stem)); // made again by the retry
            p.child = None;
            p.start_at = Instant::now() + PROCESSOR_RETRY;
            return;
        }
        if Instant::now() >= p.start_at {
            match start_processor(&self.dir, &self.cfg, &p.stem) {
                Ok(child) => p.child = Some(child),
                Err(e) => {
                    p.start_at = Instant::now() + PROCESSOR_RETRY;
                    self.notes
                        .push(Note::Warning(format!("{e}; trying again in 5 seconds")));
                }
            }
        }
    }

    /// Stops a running processor (at exit): its input stays as an `.u` archive.
    fn abandon_processor(&mut self) {
        let Some(mut p) = self.processing.take() else {
            return;
        };
        if let Some((mut child, _)) = p.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = self.dir.remove(&format!("{}.t", p.stem));
        self.notes.push(Note::Warning(format!(
            "processor stopped before it finished: {}/{}.u stays unprocessed",
            self.cfg.dir.display(),
            p.stem
        )));
    }

    /// Closes and reopens `current`; if the logdir's path now names another directory,
    /// opens and locks that one instead.
    fn reopen(&mut self) -> Result<(), Error> {
        if self.dir.is_at(&self.cfg.dir) {
            self.dir.close_current();
            return self.dir.open_current();
        }
        let (dir, found) = Logdir::open(&self.cfg.dir, self.clock.now())?;
        if let Found::Recovered(name) = found {
            self.notes.push(Note::Warning(format!(
                "{}/current was not finished: archived it as {name}",
                self.cfg.dir.display()
            )));
        }
        self.dir = dir;
        self.filled_at = (self.dir.size() > 0).then(Instant::now);
        Ok(())
    }

    /// Records a failure: under `drop`, opens a dropping window; otherwise pauses input.
    fn failed(&mut self, err: Error) {
        let now = Instant::now();
        if self.cfg.policy == Policy::Drop {
            self.dropped.until = Some(now + RETRY);
            self.dropped.full |= matches!(err.errno(), Some(Errno::NOSPC | Errno::DQUOT));
            let due = self
                .dropped
                .warned_at
                .is_none_or(|t| now.duration_since(t) >= WARN_EVERY);
            if due {
                self.dropped.warned_at = Some(now);
                self.notes.push(Note::Warning(format!(
                    "{err}; dropping lines until it works again"
                )));
            }
            self.last_err = Some(err);
            return;
        }
        match &mut self.stall {
            Some(s) => {
                s.retry_at = now + RETRY;
                if now.duration_since(s.warned_at) >= WARN_EVERY {
                    s.warned_at = now;
                    self.notes.push(Note::Warning(format!(
                        "{err}; input still paused, retrying every second"
                    )));
                }
            }
            None => {
                self.notes.push(Note::Warning(format!(
                    "{err}; pausing input, retrying every second"
                )));
                self.stall = Some(Stall {
                    since: now,
                    retry_at: now + RETRY,
                    warned_at: now,
                });
            }
        }
        self.last_err = Some(err);
    }

    /// Records that everything went through: ends a pause.
    fn recovered(&mut self) {
        if let Some(s) = self.stall.take() {
            self.notes.push(Note::Info(format!(
                "writing {} again after {} seconds",
                self.dir.current_path(),
                s.since.elapsed().as_secs()
            )));
        }
        self.last_err = None;
    }

    /// Makes the next [`Logger::process`] try to write at once, whatever the retry timers
    /// say (for the last attempt before exiting).
    pub fn retry_now(&mut self) {
        let now = Instant::now();
        if let Some(s) = &mut self.stall {
            s.retry_at = now;
        }
        if self.dropped.until.is_some() {
            self.dropped.until = Some(now);
        }
    }

    /// Ends the run: writes every line (with `at_end`, the last one without a newline too,
    /// adding one), consumes their input, fsyncs `current` and marks it finished (0744).
    /// Makes one attempt only. Without `at_end`, a partial line stays in a peeked pipe.
    ///
    /// Errors: what could not be written, with the failure; from a peeked pipe it is not
    /// lost ([`Lost::kept`]): the part of it already in `current` is cut off again, so that
    /// the next tend-log writes it once.
    pub fn finish(&mut self, input: &mut Input<'_>, at_end: bool) -> Result<(), Lost> {
        let done = self.finish_writing(input.peeking(), at_end);
        self.release(input).map_err(|errno| Lost {
            bytes: 0,
            kept: true,
            err: Error::Sys {
                op: "take written lines off standard input".into(),
                errno,
            },
        })?;
        done
    }

    /// [`Logger::finish`] without consuming the input: the caller consumes what every
    /// logger is done with ([`Logger::take_done`]). `peeking`: the input is a peeked pipe.
    pub fn finish_writing(&mut self, peeking: bool, at_end: bool) -> Result<(), Lost> {
        self.retry_now();
        // A rotation may be waiting for the processor: stop it first, and again after
        // the last rotation (which may have started another).
        self.abandon_processor();
        self.process(at_end);
        self.abandon_processor();
        if self.open_line && self.stall.is_none() {
            // The rest of that line, if it ever comes, is the next tend-log's first line.
            let closed = self.close_open_line().and_then(|()| self.flush());
            if let Err(e) = closed {
                self.failed(e);
            }
        }
        let kept = peeking && !at_end; // at the end, the pipe goes with us
        let rest_written = self.out_start == self.out_end && self.work.is_none();
        if kept && rest_written && self.stall.is_none() {
            // process() took every complete line: a partial one is left, in the pipe for
            // the next tend-log.
            self.in_start = self.in_end;
        }
        if self.cfg.policy == Policy::Drop && self.dropped.lines > 0 {
            return Err(Lost {
                bytes: 0, // the message counts them
                kept: false,
                err: Error::Invalid(format!(
                    "dropped {} lines ({} bytes) while {} was {}, and could not log that",
                    self.dropped.lines,
                    self.dropped.bytes,
                    self.dir.path().display(),
                    if self.dropped.full {
                        "full"
                    } else {
                        "unwritable"
                    }
                )),
            });
        }
        if !self.drained() {
            let err = self.last_err.clone().unwrap_or_else(|| Error::Sys {
                op: format!("write {}", self.dir.current_path()),
                errno: Errno::IO,
            });
            if kept {
                self.unwrite();
            }
            return Err(Lost {
                bytes: self.unwritten(),
                kept,
                err,
            });
        }
        let done = self
            .dir
            .sync_current()
            .and_then(|()| self.dir.mark_current(true));
        done.map_err(|err| Lost {
            bytes: 0,
            kept,
            err,
        })
    }

    /// Cuts off `current` the part of the output buffer that was written: its input is
    /// still in the pipe. If that fails, the next tend-log writes those lines again.
    fn unwrite(&mut self) {
        let written = self.out_start as u64;
        let size = self.dir.size();
        if written > 0 && size >= written && self.dir.truncate(size - written).is_ok() {
            self.out_start = 0;
        }
    }
}

/// The settings `base` with the logdir's config file applied (warning about the lines it
/// skips), or None if the file could not be read (warned about too).
fn load_config(base: &Config, dir: &Logdir, notes: &mut Vec<Note>) -> Option<Config> {
    match dir.read_config(MAX_CONFIG) {
        Ok(None) => Some(base.clone()),
        Ok(Some(text)) => {
            let (file, problems) = ConfigFile::parse(&text);
            for p in problems {
                notes.push(Note::Warning(format!(
                    "{}/config line {}: {}: line skipped",
                    base.dir.display(),
                    p.line,
                    p.why
                )));
            }
            Some(base.with_file(&file))
        }
        Err(e) => {
            notes.push(Note::Warning(format!("{e}: settings unchanged")));
            None
        }
    }
}

/// Starts `/bin/sh -c PROCESSOR` in the logdir with stdin `<stem>.u` and stdout
/// `<stem>.t`; returns the child and the output's descriptor.
fn start_processor(dir: &Logdir, cfg: &Config, stem: &str) -> Result<(Child, OwnedFd), Error> {
    use tend_core::Ctx;
    let input = dir.open_archive(&format!("{stem}.u"))?;
    let out = dir.create_output(&format!("{stem}.t"))?;
    let out_for_child = out.try_clone().ctx(|| "duplicate a descriptor".into())?;
    let child = Command::new("/bin/sh")
        .arg("-c")
        .arg(cfg.processor.as_deref().unwrap_or("cat"))
        .current_dir(&cfg.dir)
        .stdin(Stdio::from(input))
        .stdout(Stdio::from(out_for_child))
        .spawn()
        .ctx(|| "start the processor /bin/sh".into())?;
    Ok((child, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stamp::Format;
    use std::cell::Cell;
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;
    use std::rc::Rc;
    use std::time::UNIX_EPOCH;

    #[test]
    fn a_line_is_stamped_when_its_first_byte_was_read() {
        let dir = std::env::temp_dir().join(format!("tend-logger-stamp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let t1 = UNIX_EPOCH + Duration::from_secs(1_795_632_171);
        let clock = Rc::new(Cell::new(t1 - Duration::from_secs(100)));
        let c = Rc::clone(&clock);
        let mut log = Logger::new(Config::new(dir.clone()), move || c.get()).unwrap();
        let (mut wr, rd) = UnixStream::pair().unwrap();
        let mut input = Input::new(rd.as_fd());
        for (when, text) in [(0, "ab"), (1, "c"), (2, "d\nxyz\n"), (3, "last")] {
            clock.set(t1 + Duration::from_secs(when));
            wr.write_all(text.as_bytes()).unwrap();
            assert!(log.read_input(&mut input, usize::MAX).unwrap() > 0);
            log.process(false);
        }
        clock.set(t1 + Duration::from_secs(9));
        log.finish(&mut input, true).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("current")).unwrap(),
            "2026-11-25T18:42:51.000000Z abcd\n\
             2026-11-25T18:42:53.000000Z xyz\n\
             2026-11-25T18:42:54.000000Z last\n"
        );
        drop(log);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn archives_keep_their_order_when_the_clock_steps_back() {
        let dir = std::env::temp_dir().join(format!("tend-logger-clock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut cfg = Config::new(dir.clone());
        cfg.format = Format::None;
        cfg.count = 2;
        let t0 = UNIX_EPOCH + Duration::from_secs(1_900_000_000);
        let clock = Rc::new(Cell::new(t0));
        let c = Rc::clone(&clock);
        let mut log = Logger::new(cfg, move || c.get()).unwrap();
        let (mut wr, rd) = UnixStream::pair().unwrap();
        let mut input = Input::new(rd.as_fd());
        let mut names = Vec::new();
        for (i, back) in [0u64, 86_400, 2 * 86_400].iter().enumerate() {
            clock.set(t0 - Duration::from_secs(*back));
            wr.write_all(format!("line {i}\n").as_bytes()).unwrap();
            assert!(log.read_input(&mut input, usize::MAX).unwrap() > 0);
            log.process(false);
            log.ask_rotate();
            log.process(false);
            assert!(log.drained(), "{:?}", log.take_notes());
            let mut now: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| n.starts_with('@'))
                .collect();
            now.sort();
            names.push(now.last().unwrap().clone());
        }
        // Each new archive sorts after the one before, though the clock went back.
        assert!(names[0] < names[1] && names[1] < names[2], "{names:?}");
        assert_eq!(
            names[0],
            format!("{}.s", tend_core::tai::Tai64n::from_system(t0).to_hex())
        );
        // Retention (count 2) deleted the oldest data, not the newest.
        assert!(!dir.join(&names[0]).exists());
        assert_eq!(std::fs::read(dir.join(&names[1])).unwrap(), b"line 1\n");
        assert_eq!(std::fs::read(dir.join(&names[2])).unwrap(), b"line 2\n");
        drop(log);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_line_split_at_linemax_is_judged_on_its_first_piece_and_its_rest_follows() {
        let dir = std::env::temp_dir().join(format!("tend-logger-judge-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut cfg = Config::new(dir.clone());
        cfg.format = Format::None;
        cfg.linemax = 16;
        cfg.prefix = b"p ".to_vec();
        cfg.rules = ["-*debug*", "e*fatal*"]
            .iter()
            .map(|r| crate::pattern::Rule::parse(r.as_bytes()).unwrap())
            .collect();
        let mut log = Logger::new(cfg, SystemTime::now).unwrap();
        let (mut wr, rd) = UnixStream::pair().unwrap();
        let mut input = Input::new(rd.as_fd());
        let text = format!(
            "debug {}\nkeep\nfatal {}\n{}debug\n",
            "d".repeat(40),
            "f".repeat(20),
            "k".repeat(16)
        );
        wr.write_all(text.as_bytes()).unwrap();
        assert!(log.read_input(&mut input, usize::MAX).unwrap() > 0);
        log.process(false);
        log.finish(&mut input, true).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("current")).unwrap(),
            format!(
                "p keep\np fatal {}\np {}\np {}\np debug\n",
                "f".repeat(10),
                "f".repeat(10),
                "k".repeat(16)
            )
        );
        let alerts: Vec<Note> = log
            .take_notes()
            .into_iter()
            .filter(|n| matches!(n, Note::Alert(_)))
            .collect();
        let want = format!("p fatal {}...\n", "f".repeat(10));
        assert_eq!(alerts, [Note::Alert(want.into_bytes())]);
        drop(log);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn rotation_and_reopen_step_tables() {
        use Step::*;
        let walk = |job, first| {
            let mut steps = vec![first];
            while let Some(s) = next_step(job, *steps.last().unwrap()) {
                steps.push(s);
            }
            steps
        };
        assert_eq!(
            walk(Job::Rotate, Flush),
            [Flush, Sync, Finalize, Rename, Open, SyncDir, Process, Trim]
        );
        assert_eq!(walk(Job::Reopen, Flush), [Flush, Sync, Finalize, Reopen]);
        // A rotation interrupted at Open resumes there.
        assert_eq!(walk(Job::Rotate, Open), [Open, SyncDir, Process, Trim]);
        // A reopen takes over a stuck rotation.
        for (from, to) in [
            (Flush, Flush),
            (Sync, Sync),
            (Finalize, Finalize),
            (Rename, Reopen),
            (Open, Reopen),
            (SyncDir, Reopen),
            (Process, Reopen),
            (Trim, Reopen),
            (Reopen, Reopen),
        ] {
            assert_eq!(reopen_from(from), to);
        }
    }
}
