//! The small text parsers: `parse_signal`, `parse_ms` (service-dir files) and tend-log's
//! `parse_size`, checked against plain re-statements of what they accept.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rustix::process::Signal;
use tend_core::cmd::parse_signal;
use tend_core::report::signal_name;
use tend_core::svdir::parse_ms;
use tend_logger::config::parse_size;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let t = text.trim();

    // parse_signal: a number is taken as such, and only a known one is accepted; a
    // name gives the same signal as its number.
    let sig = parse_signal(text);
    if let Ok(n) = t.parse::<i32>() {
        assert_eq!(sig, Signal::from_named_raw(n), "{t:?}");
    }
    if let Some(s) = sig {
        let n = s.as_raw();
        assert!((1..=64).contains(&n), "{t:?} gave {n}");
        // svstat's name for it reads back as the same signal (numbers past 31 it shows
        // as "signal N").
        if n <= 31 {
            assert_eq!(
                parse_signal(&signal_name(n)),
                Some(s),
                "{t:?}: {}",
                signal_name(n)
            );
        }
    }

    // parse_ms: what u64 accepts, up to 2^31.
    match parse_ms(text) {
        Some(ms) => {
            assert!(ms <= 1 << 31);
            assert_eq!(t.parse::<u64>().ok(), Some(ms));
        }
        None => assert!(t.parse::<u64>().map_or(true, |v| v > 1 << 31), "{t:?}"),
    }

    // parse_size: digits, then at most one of k, M, G (either case), no overflow.
    let expect = (|| {
        let (digits, unit) = match text.as_bytes().last()? {
            b'k' | b'K' => (&text[..text.len() - 1], 1u64 << 10),
            b'm' | b'M' => (&text[..text.len() - 1], 1 << 20),
            b'g' | b'G' => (&text[..text.len() - 1], 1 << 30),
            _ => (text, 1),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse::<u64>().ok()?.checked_mul(unit)
    })();
    assert_eq!(parse_size(text), expect, "{text:?}");
});
