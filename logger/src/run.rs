//! tend-log's loop: poll the input and the signals, hand input to the logger, wait out
//! retries, and end on EOF or SIGTERM.
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

/// Runs the logger on `input` until EOF or SIGTERM; `notes` receives every message.
pub fn run<C: Clock>(
    log: &mut Logger<C>,
    input: &mut Input<'_>,
    sigs: &Signals,
    notes: &mut dyn FnMut(Note),
) -> Result<Outcome, Failure> {
    let mut eof = false;
    let mut input_err = None;
    let mut act_now = false; // input arrived or a signal asked for something
    loop {
        if sigs.take_hup() {
            log.ask_reopen();
            act_now = true; // even in a pause: a reopen may be what ends it
        }
        if sigs.take_alrm() {
            log.ask_rotate();
            act_now = true;
        }
        if sigs.take_chld() {
            act_now = true; // a processor ended
        }
        if sigs.term() {
            finish_line(log, input, sigs, eof);
            // Read input is written, a partial line included; from a pipe, a partial line
            // not yet written stays there.
            let at_end = eof || !input.peeking();
            return end(log, input, at_end, notes).map(|()| Outcome::Term);
        }
        if act_now || log.deadline().is_none_or(|t| t <= Instant::now()) {
            log.process(eof);
            log.release(input).map_err(|errno| {
                Failure::Input(Error::Sys {
                    op: "take written lines off standard input".into(),
                    errno,
                })
            })?;
        }
        act_now = false;
        log.take_notes().into_iter().for_each(&mut *notes);
        if eof && log.drained() && !log.processing() {
            end(log, input, true, notes)?;
            return match input_err {
                Some(e) => Err(Failure::Input(e)),
                None => Ok(Outcome::Eof),
            };
        }
        let read = !eof && log.wants_input();
        match wait(sigs, input.fd(), read, log.deadline()) {
            Ok(true) => match log.read_input(input, usize::MAX) {
                Ok(0) => eof = true,
                Ok(_) => act_now = true,
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => {
                    log.input_idle();
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
            Ok(false) => log.input_idle(),
            Err(e) => return Err(Failure::Input(e)),
        }
    }
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
fn finish_line<C: Clock>(log: &mut Logger<C>, input: &mut Input<'_>, sigs: &Signals, eof: bool) {
    let peek = input.peeking();
    let limit = if peek { usize::MAX } else { 1 };
    if eof || log.stalled() {
        return;
    }
    let end = Instant::now() + TERM_LINE_WAIT;
    log.process(false); // take every complete line first
    loop {
        let begun = if peek {
            log.line_open()
        } else {
            log.partial_len() > 0 && !log.partial_complete()
        };
        if !begun || log.stalled() || Instant::now() >= end {
            return;
        }
        match wait(sigs, input.fd(), true, Some(end)) {
            Ok(true) => match log.read_input(input, limit) {
                Ok(0) => return,
                Ok(_) | Err(Errno::INTR) => {}
                // Nothing new: from a pipe, what came of the line is appended (the pipe
                // then holds nothing, so the next wait sleeps).
                Err(Errno::AGAIN) => log.input_idle(),
                Err(_) => return,
            },
            Ok(false) => {}
            Err(_) => return,
        }
        if peek {
            log.process(false);
            if log.release(input).is_err() {
                return;
            }
        }
    }
}

/// Writes what is left (with `at_end`, a last partial line too) and finishes `current`.
fn end<C: Clock>(
    log: &mut Logger<C>,
    input: &mut Input<'_>,
    at_end: bool,
    notes: &mut dyn FnMut(Note),
) -> Result<(), Failure> {
    let done = log.finish(input, at_end);
    log.take_notes().into_iter().for_each(&mut *notes);
    done.map_err(Failure::Lost)
}
