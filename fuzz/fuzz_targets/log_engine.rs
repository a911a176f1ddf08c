//! tend-log's engine end to end, on a real logdir: any input bytes, from a pipe peeked as
//! tend-log does (logger/src/input.rs), in chunks of varying size, the input going idle
//! between chunks (so line starts are written open and continued), with a small line
//! limit and size-based rotation. Afterwards the archives
//! and `current`, stripped of their stamps and with split lines joined again, are exactly
//! the input's lines: nothing lost, nothing added, nothing reordered. Every piece fits the
//! limit, a piece is cut at most 3 bytes early (or ends a file), every file fits the
//! rotation size, and the pipe is empty at the end: every byte was consumed.
//!
//! Input: byte 0 sets LINEMAX (16 to 79), byte 1 the rotation size (0: none), byte 2
//! seeds the chunk sizes; the rest is what tend-log reads.
#![no_main]
use std::io::Write;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use rustix::io::Errno;
use tend_core::tai::Tai64n;
use tend_logger::engine::Note;
use tend_logger::input::Input;
use tend_logger::{Config, Format, Logger};

fn dir() -> PathBuf {
    let shm = std::path::Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    base.join(format!("tend-fuzz-log-{}", std::process::id()))
}

fuzz_target!(|data: &[u8]| {
    let [lm, sz, seed, input @ ..] = data else {
        return;
    };
    let linemax = 16 + usize::from(*lm) % 64;
    let size = if *sz == 0 {
        0
    } else {
        128 + u64::from(*sz) * 8
    };
    let d = dir();
    let _ = std::fs::remove_dir_all(&d);
    let mut cfg = Config::new(d.clone());
    cfg.format = Format::Tai64n;
    cfg.linemax = linemax;
    cfg.size = size;
    cfg.count = 0;
    cfg.total = 0;
    let t0 = UNIX_EPOCH + Duration::from_secs(1_795_632_171);
    let mut log = Logger::new(cfg, move || t0).expect("open the logdir");
    let (rd, wr) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).expect("pipe");
    let mut wr = std::fs::File::from(wr);
    let mut input_pipe = Input::new(rd.as_fd());
    assert!(input_pipe.peeking(), "tee(2) on a pipe");
    let mut rest = input;
    let mut n = usize::from(*seed);
    loop {
        if !rest.is_empty() {
            n = n.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let take = (1 + n % 97).min(rest.len());
            wr.write_all(&rest[..take]).expect("write input");
            rest = &rest[take..];
        } else {
            drop(wr);
            break;
        }
        // Everything the chunk brought, then the input goes idle.
        loop {
            match log.read_input(&mut input_pipe, usize::MAX) {
                Ok(0) => panic!("end of input with a writer left"),
                Ok(_) => log.process(false),
                Err(Errno::AGAIN) => {
                    log.input_idle();
                    log.process(false);
                    log.release(&mut input_pipe).expect("consume");
                    break;
                }
                Err(e) => panic!("read: {e}"),
            }
            log.release(&mut input_pipe).expect("consume");
        }
    }
    loop {
        match log.read_input(&mut input_pipe, usize::MAX) {
            Ok(0) => break,
            Ok(_) => log.process(false),
            Err(Errno::AGAIN) => {
                log.input_idle();
                log.process(false);
            }
            Err(e) => panic!("read at the end: {e}"),
        }
        log.release(&mut input_pipe).expect("consume");
    }
    log.process(true);
    log.finish(&mut input_pipe, true).expect("finish");
    let mut left = [0u8; 1];
    assert_eq!(rustix::io::read(&rd, &mut left), Ok(0), "bytes left in the pipe");
    for note in log.take_notes() {
        assert!(!matches!(note, Note::Warning(_)), "{note:?}");
    }
    drop(log);

    // Archives by name (names grow with time), then current.
    let mut names: Vec<String> = std::fs::read_dir(&d)
        .expect("list the logdir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with('@'))
        .collect();
    names.sort();
    assert!(names.iter().all(|n| n.ends_with(".s")), "{names:?}");
    if size == 0 {
        assert!(names.is_empty(), "{names:?}");
    }
    names.push("current".into());
    let stamp = format!("{} ", Tai64n::from_system(t0).to_hex());
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut prev = 0;
    let mut file_ended = false; // the last piece seen was the last of its file
    for name in &names {
        let text = std::fs::read(d.join(name)).expect("read a log file");
        if size > 0 {
            assert!(text.len() as u64 <= size, "{name}: {} > {size}", text.len());
        }
        if name != "current" {
            assert!(!text.is_empty(), "empty archive {name}");
        }
        assert!(
            text.is_empty() || text.ends_with(b"\n"),
            "{name} ends mid-line"
        );
        let mut pieces = text.split(|&b| b == b'\n').peekable();
        while let Some(out) = pieces.next() {
            if pieces.peek().is_none() {
                assert!(out.is_empty());
                break;
            }
            assert!(out.len() >= 26, "short line {out:?}");
            let (head, piece) = out.split_at(26);
            assert_eq!(&head[..25], &stamp.as_bytes()[..25]);
            assert!(
                piece.len() <= linemax,
                "piece of {} > {linemax}",
                piece.len()
            );
            match head[25] {
                b' ' => lines.push(piece.to_vec()),
                b'+' => {
                    let last = lines.last_mut().expect("a continuation follows a line");
                    assert!(
                        prev + 3 >= linemax || file_ended,
                        "cut at {prev}, limit {linemax}"
                    );
                    last.extend_from_slice(piece);
                }
                other => panic!("separator {other:#x}"),
            }
            prev = piece.len();
            file_ended = false;
        }
        file_ended = true;
    }
    let mut want: Vec<Vec<u8>> = input.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    if input.is_empty() || input.ends_with(b"\n") {
        want.pop();
    }
    assert_eq!(lines, want);
    let _ = std::fs::remove_dir_all(&d);
});
