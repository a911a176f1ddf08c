//! tend-log's loop: poll the input and the signals, hand input to the loggers (one per
//! logdir, each given every byte), wait out retries, and end on EOF or SIGTERM. A byte
//! leaves a peeked pipe once every logger is done with its line.
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;
use tend_core::timer::poll_until;
use tend_core::Error;

use crate::clock::Clock;
use crate::engine::{Logger, Lost, Note};
use crate::input::Input;
use crate::signals::Signals;

/// How long SIGTERM waits for the rest of a line whose start was read (or, from a pipe,
/// written open to `current`) already.
pub const TERM_LINE_WAIT: Duration = Duration::from_secs(1);

/// How a run ended well.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// End of input: everything written, `current` finished.
    Eof,
    /// SIGTERM: every complete line read was written, `current` finished; the rest of the
    /// input is left.
    Term,
}

/// How a run ended badly.
#[derive(Debug)]
pub enum Failure {
    /// Read data could not be written before exiting.
    Lost(Lost),
    /// Reading the input or waiting failed; everything read was written.
    Input(Error),
}

/// Input bytes each logger is done with, and how many of them left the input: a byte is
/// consumed once every logger is done with it.
#[derive(Debug)]
struct Release {
    done: Vec<u64>,
    consumed: u64,
}

impl Release {
    fn new(n: usize) -> Release {
        Release {
            done: vec![0; n],
            consumed: 0,
        }
    }

    /// Consumes what every logger is done with.
    ///
    /// Errors: from the input; the bytes are consumed at the next call.
    fn release<C: Clock>(
        &mut self,
        logs: &mut [Logger<C>],
        input: &mut Input<'_>,
    ) -> Result<(), Errno> {
        for (done, log) in self.done.iter_mut().zip(logs.iter_mut()) {
            *done += log.take_done() as u64;
        }
        let all = self.done.iter().copied().min().unwrap_or(0);
        if all > self.consumed {
            let n = usize::try_from(all - self.consumed).unwrap_or(usize::MAX);
            input.consume(n)?;
            self.consumed += n as u64;
        }
        Ok(())
    }

    fn release_or_fail<C: Clock>(
        &mut self,
        logs: &mut [Logger<C>],
        input: &mut Input<'_>,
    ) -> Result<(), Failure> {
        self.release(logs, input).map_err(|errno| {
            Failure::Input(Error::Sys {
                op: "take written lines off standard input".into(),
                errno,
            })
        })
    }
}

/// Runs the loggers (one per logdir) on `input` until EOF or SIGTERM; `notes` receives
/// every message. With none, returns at once.
pub fn run<C: Clock>(
    logs: &mut [Logger<C>],
    input: &mut Input<'_>,
    sigs: &Signals,
    notes: &mut dyn FnMut(Note),
) -> Result<Outcome, Failure> {
    let mut eof = false;
    let mut input_err = None;
    let mut act_now = false; // input arrived or a signal asked for something
    let mut rel = Release::new(logs.len());
    loop {
        if sigs.take_hup() {
            logs.iter_mut().for_each(|l| l.ask_reopen());
            act_now = true; // even in a pause: a reopen may be what ends it
        }
        if sigs.take_alrm() {
            logs.iter_mut().for_each(|l| l.ask_rotate());
            act_now = true;
        }
        if sigs.take_chld() {
            act_now = true; // a processor ended
        }
        if sigs.term() {
            finish_line(logs, &mut rel, input, sigs, eof);
            // Read input is written, a partial line included; from a pipe, a partial line
            // not yet written stays there.
            let at_end = eof || !input.peeking();
            return end(logs, &mut rel, input, at_end, notes).map(|()| Outcome::Term);
        }
        let now = Instant::now();
        for log in logs.iter_mut() {
            if act_now || log.deadline().is_none_or(|t| t <= now) {
                log.process(eof);
            }
        }
        rel.release_or_fail(logs, input)?;
        act_now = false;
        for log in logs.iter_mut() {
            log.take_notes().into_iter().for_each(&mut *notes);
        }
        if eof && logs.iter().all(|l| l.drained() && !l.processing()) {
            end(logs, &mut rel, input, true, notes)?;
            return match input_err {
                Some(e) => Err(Failure::Input(e)),
                None => Ok(Outcome::Eof),
            };
        }
        let read = !eof && logs.iter().all(|l| l.wants_input());
        let deadline = logs.iter().filter_map(|l| l.deadline()).min();
        match wait(sigs, input.fd(), read, deadline) {
            Ok(true) => match read_input(logs, input, usize::MAX) {
                Ok(0) => eof = true,
                Ok(_) => act_now = true,
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => {
                    logs.iter_mut().for_each(|l| l.input_idle());
                    act_now = true;
                }
                Err(errno) => {
                    eof = true;
                    input_err = Some(Error::Sys {
                        op: "read standard input".into(),
                        errno,
                    });
                }
            },
            Ok(false) => logs.iter_mut().for_each(|l| l.input_idle()),
            Err(e) => return Err(Failure::Input(e)),
        }
    }
}

/// Reads at most `limit` new bytes of input into every logger (as much as the fullest
/// one has room for); returns the count, 0 at EOF.
fn read_input<C: Clock>(
    logs: &mut [Logger<C>],
    input: &mut Input<'_>,
    limit: usize,
) -> Result<usize, Errno> {
    let Some((first, others)) = logs.split_first_mut() else {
        return Ok(0);
    };
    if others.is_empty() {
        return first.read_input(input, limit); // one logdir: no copy
    }
    let room = others.iter_mut().map(|l| l.room()).fold(limit, usize::min);
    if room == 0 {
        return Err(Errno::AGAIN);
    }
    let n = first.read_input(input, room)?;
    let (bytes, time) = first.last_read();
    for log in others.iter_mut() {
        log.push_input(bytes, input.peeking(), time, n == room)?;
    }
    Ok(n)
}

/// Waits for a signal, input (if `read`), or the deadline; true if input is readable.
fn wait(
    sigs: &Signals,
    input: BorrowedFd<'_>,
    read: bool,
    deadline: Option<Instant>,
) -> Result<bool, Error> {
    let mut fds = [
        PollFd::from_borrowed_fd(sigs.fd(), PollFlags::IN),
        PollFd::from_borrowed_fd(input, PollFlags::IN),
    ];
    let n = if read { 2 } else { 1 };
    poll_until(&mut fds[..n], deadline)?;
    if !fds[0].revents().is_empty() {
        sigs.drain();
    }
    Ok(read && !fds[1].revents().is_empty())
}

/// After SIGTERM: if a line is begun (read in part; from a pipe, written open to
/// `current`), waits for its end, for at most [`TERM_LINE_WAIT`], so that it is not split.
/// Input that is not a pipe is read one byte at a time meanwhile, so that nothing beyond
/// that newline is taken; from a pipe, complete lines that come with it are written too,
/// and the rest stays there.
fn finish_line<C: Clock>(
    logs: &mut [Logger<C>],
    rel: &mut Release,
    input: &mut Input<'_>,
    sigs: &Signals,
    eof: bool,
) {
    let peek = input.peeking();
    let limit = if peek { usize::MAX } else { 1 };
    if eof || logs.iter().any(|l| l.stalled()) {
        return;
    }
    let end = Instant::now() + TERM_LINE_WAIT;
    logs.iter_mut().for_each(|l| l.process(false)); // take every complete line first
    loop {
        let begun = logs.iter().any(|l| {
            if peek {
                l.line_open()
            } else {
                l.partial_len() > 0 && !l.partial_complete()
            }
        });
        if !begun || logs.iter().any(|l| l.stalled()) || Instant::now() >= end {
            return;
        }
        match wait(sigs, input.fd(), true, Some(end)) {
            Ok(true) => match read_input(logs, input, limit) {
                Ok(0) => return,
                Ok(_) | Err(Errno::INTR) => {}
                // Nothing new: from a pipe, what came of the line is appended (the pipe
                // then holds nothing, so the next wait sleeps).
                Err(Errno::AGAIN) => logs.iter_mut().for_each(|l| l.input_idle()),
                Err(_) => return,
            },
            Ok(false) => {}
            Err(_) => return,
        }
        if peek {
            logs.iter_mut().for_each(|l| l.process(false));
            if rel.release(logs, input).is_err() {
                return;
            }
        }
    }
}

/// Writes what is left (with `at_end`, a last partial line too) and finishes every
/// `current`; the first failure is returned, after every logger had its turn.
fn end<C: Clock>(
    logs: &mut [Logger<C>],
    rel: &mut Release,
    input: &mut Input<'_>,
    at_end: bool,
    notes: &mut dyn FnMut(Note),
) -> Result<(), Failure> {
    let peeking = input.peeking();
    let mut first_err = None;
    for log in logs.iter_mut() {
        let done = log.finish_writing(peeking, at_end);
        log.take_notes().into_iter().for_each(&mut *notes);
        if let Err(lost) = done {
            first_err.get_or_insert(Failure::Lost(lost));
        }
    }
    let released = rel.release_or_fail(logs, input);
    match first_err {
        Some(e) => Err(e),
        None => released,
    }
}
