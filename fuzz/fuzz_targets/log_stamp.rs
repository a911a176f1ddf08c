//! tend-log's stamps for a sequence of arbitrary times (before 1970, past year 9999, the
//! same second again): the cached stamper gives what a fresh one gives, ISO stamps are
//! the civil date computed independently here, TAI64N stamps are core's labels.
#![no_main]
use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use tend_core::tai::Tai64n;
use tend_logger::stamp::{Format, Stamper};

/// The last second of year 9999.
const MAX_SECS: u64 = 253_402_300_799;

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's algorithm.
fn civil(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

fn iso(secs: u64, nanos: u32) -> String {
    let (y, mo, d) = civil(secs / 86_400);
    let s = secs % 86_400;
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z ",
        s / 3600,
        s / 60 % 60,
        s % 60,
        nanos / 1000
    )
}

fuzz_target!(|data: &[u8]| {
    let Some((&f, rest)) = data.split_first() else {
        return;
    };
    let format = match f % 4 {
        0 => Format::Iso,
        1 => Format::Tai64n,
        2 => Format::Local,
        _ => Format::None,
    };
    let mut cached = Stamper::new(format);
    for chunk in rest.chunks_exact(13) {
        let mut s = [0u8; 8];
        s.copy_from_slice(&chunk[..8]);
        let mut secs = u64::from_le_bytes(s);
        // Mostly near today, so that seconds repeat and the cache is exercised.
        if chunk[12] & 1 == 0 {
            secs = 1_795_632_171 + secs % 4;
        }
        let nanos = u32::from_le_bytes([chunk[8], chunk[9], chunk[10], chunk[11]]) % 1_000_000_000;
        let before = chunk[12] & 2 != 0;
        let d = Duration::new(secs, nanos);
        let t = if before {
            UNIX_EPOCH.checked_sub(d)
        } else {
            UNIX_EPOCH.checked_add(d)
        };
        let Some(t) = t else { continue };
        let got = cached.stamp(t).to_vec();
        assert_eq!(got.len(), format.len());
        assert_eq!(got, Stamper::new(format).stamp(t), "cache differs at {t:?}");
        let (cs, cn) = match t.duration_since(UNIX_EPOCH) {
            Ok(d) if d.as_secs() > MAX_SECS => (MAX_SECS, 999_999_999),
            Ok(d) => (d.as_secs(), d.subsec_nanos()),
            Err(_) => (0, 0),
        };
        match format {
            Format::Iso => assert_eq!(String::from_utf8_lossy(&got), iso(cs, cn)),
            Format::Tai64n => {
                let label = Tai64n::from_system(UNIX_EPOCH + Duration::new(cs, cn));
                assert_eq!(
                    String::from_utf8_lossy(&got),
                    format!("{} ", label.to_hex())
                );
            }
            Format::Local => {
                assert!(got[26] == b'+' || got[26] == b'-');
                assert_eq!(
                    (got[10], got[19], got[29], got[32]),
                    (b'T', b'.', b':', b' ')
                );
            }
            Format::None => {}
        }
    }
});
