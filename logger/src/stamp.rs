//! Line stamps: ISO 8601 UTC or local time with microseconds, TAI64N, or none. The text is
//! formatted once per second and only the sub-second digits are patched for each line.
use std::time::{SystemTime, UNIX_EPOCH};

use tend_core::tai::Tai64n;
use time::{OffsetDateTime, UtcOffset};

/// The stamp put before each line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `2026-11-25T18:42:51.710683Z `: UTC, microseconds.
    Iso,
    /// `2026-11-25T19:42:51.710683+01:00 `: local time with its UTC offset.
    Local,
    /// `@400000006b072c342fc4997c `: multilog's TAI64N label.
    Tai64n,
    /// No stamp at all.
    None,
}

impl Format {
    /// Parses the name used on the command line: `iso`, `local`, `tai64n` or `none`.
    pub fn parse(name: &str) -> Option<Format> {
        match name {
            "iso" => Some(Format::Iso),
            "local" => Some(Format::Local),
            "tai64n" => Some(Format::Tai64n),
            "none" => Some(Format::None),
            _ => None,
        }
    }

    /// Bytes of the stamp, separator included (0 for `none`).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(self) -> usize {
        match self {
            Format::Iso => 28,
            Format::Local => 33,
            Format::Tai64n => 26,
            Format::None => 0,
        }
    }
}

/// Separator after the stamp of a line's first piece.
pub const SEP_FIRST: u8 = b' ';
/// Separator after the stamp of a piece that continues a line split at the length limit.
pub const SEP_CONTINUED: u8 = b'+';

/// Formats stamps, caching the text of the current second.
#[derive(Debug)]
pub struct Stamper {
    format: Format,
    /// The Unix second the cached text stands for (None: nothing cached).
    second: Option<u64>,
    /// The exact time the sub-second digits were last patched for.
    last: Option<SystemTime>,
    text: [u8; 40],
}

impl Stamper {
    /// A stamper for `format`.
    pub fn new(format: Format) -> Stamper {
        Stamper {
            format,
            second: None,
            last: None,
            text: [b' '; 40],
        }
    }

    /// The format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The stamp for time `t`, separator included (a space; the caller may patch it).
    /// Times before 1970 stamp as 1970; times past year 9999 as the last second of 9999.
    pub fn stamp(&mut self, t: SystemTime) -> &[u8] {
        let len = self.format.len();
        if self.last != Some(t) {
            self.last = Some(t);
            let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
            let (secs, nanos) = clamp(d.as_secs(), d.subsec_nanos());
            if self.second != Some(secs) {
                self.second = Some(secs);
                self.format_second(secs);
            }
            match self.format {
                Format::Iso | Format::Local => put_digits(&mut self.text[20..26], nanos / 1000),
                Format::Tai64n => put_hex(&mut self.text[17..25], u64::from(nanos)),
                Format::None => {}
            }
        }
        self.text.get(..len).unwrap_or_default()
    }

    fn format_second(&mut self, secs: u64) {
        match self.format {
            Format::Iso => {
                let dt = utc(secs);
                write_date_time(&mut self.text, dt);
                self.text[26] = b'Z';
                self.text[27] = SEP_FIRST;
            }
            Format::Local => {
                let utc_dt = utc(secs);
                let offset = UtcOffset::local_offset_at(utc_dt).unwrap_or(UtcOffset::UTC);
                let (local, offset) = match utc_dt.checked_to_offset(offset) {
                    Some(local) => (local, offset),
                    None => (utc_dt, UtcOffset::UTC),
                };
                write_date_time(&mut self.text, local);
                let whole = offset.whole_minutes();
                self.text[26] = if whole < 0 { b'-' } else { b'+' };
                let abs = u32::from(whole.unsigned_abs());
                put_digits(&mut self.text[27..29], abs / 60);
                self.text[29] = b':';
                put_digits(&mut self.text[30..32], abs % 60);
                self.text[32] = SEP_FIRST;
            }
            Format::Tai64n => {
                let label = Tai64n::from_system(UNIX_EPOCH + std::time::Duration::from_secs(secs));
                self.text[0] = b'@';
                put_hex(&mut self.text[1..17], label.secs);
                self.text[25] = SEP_FIRST;
            }
            Format::None => {}
        }
    }
}

/// The last second of year 9999, the largest time the ISO formats can show.
const MAX_SECS: u64 = 253_402_300_799;

fn clamp(secs: u64, nanos: u32) -> (u64, u32) {
    if secs > MAX_SECS {
        (MAX_SECS, 999_999_999)
    } else {
        (secs, nanos)
    }
}

fn utc(secs: u64) -> OffsetDateTime {
    let secs = i64::try_from(secs).unwrap_or(0);
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Writes `YYYY-MM-DDTHH:MM:SS.` into the first 20 bytes.
fn write_date_time(out: &mut [u8; 40], dt: OffsetDateTime) {
    let year = u32::try_from(dt.year()).unwrap_or(0);
    put_digits(&mut out[0..4], year);
    out[4] = b'-';
    put_digits(&mut out[5..7], u32::from(u8::from(dt.month())));
    out[7] = b'-';
    put_digits(&mut out[8..10], u32::from(dt.day()));
    out[10] = b'T';
    put_digits(&mut out[11..13], u32::from(dt.hour()));
    out[13] = b':';
    put_digits(&mut out[14..16], u32::from(dt.minute()));
    out[16] = b':';
    put_digits(&mut out[17..19], u32::from(dt.second()));
    out[19] = b'.';
}

/// Writes `n` as decimal, zero-padded to fill `out` (high digits dropped if it does not fit).
fn put_digits(out: &mut [u8], mut n: u32) {
    for b in out.iter_mut().rev() {
        *b = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// Writes `n` as lower-case hex, zero-padded to fill `out`.
fn put_hex(out: &mut [u8], mut n: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in out.iter_mut().rev() {
        *b = HEX[(n & 15) as usize];
        n >>= 4;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    #[test]
    fn iso_stamps() {
        let mut s = Stamper::new(Format::Iso);
        // 2026-11-25T18:42:51Z = 1795632171
        assert_eq!(
            s.stamp(at(1_795_632_171, 710_683_999)),
            b"2026-11-25T18:42:51.710683Z "
        );
        assert_eq!(
            s.stamp(at(1_795_632_171, 5_000)),
            b"2026-11-25T18:42:51.000005Z "
        );
        assert_eq!(
            s.stamp(at(1_795_632_172, 0)),
            b"2026-11-25T18:42:52.000000Z "
        );
        assert_eq!(s.stamp(at(0, 0)), b"1970-01-01T00:00:00.000000Z ");
        assert_eq!(
            s.stamp(UNIX_EPOCH - Duration::from_secs(5)),
            b"1970-01-01T00:00:00.000000Z "
        );
        assert_eq!(
            s.stamp(at(u64::MAX / 4, 0)),
            b"9999-12-31T23:59:59.999999Z "
        );
        // Leap day.
        assert_eq!(s.stamp(at(951_782_400, 0)), b"2000-02-29T00:00:00.000000Z ");
    }

    #[test]
    fn tai64n_stamps_match_core_labels() {
        let mut s = Stamper::new(Format::Tai64n);
        let t = at(0x6b07_2ba7 - 10, 0x3459_8aec);
        let mut want = [0u8; 25];
        Tai64n::from_system(t).write_hex(&mut want);
        let got = s.stamp(t).to_vec();
        assert_eq!(&got[..25], &want);
        assert_eq!(got[25], b' ');
        assert_eq!(&got[..], b"@400000006b072ba734598aec ");
        let t2 = at(0x6b07_2ba7 - 10, 1);
        assert_eq!(s.stamp(t2), b"@400000006b072ba700000001 ");
    }

    #[test]
    fn local_stamps_have_an_offset() {
        // In a multi-threaded test run the offset may be indeterminate: then UTC, "+00:00".
        let mut s = Stamper::new(Format::Local);
        let got = s.stamp(at(1_795_632_171, 710_683_000)).to_vec();
        assert_eq!(got.len(), 33);
        assert_eq!(&got[19..26], b".710683");
        assert!(got[26] == b'+' || got[26] == b'-');
        assert_eq!(got[29], b':');
        assert_eq!(got[32], b' ');
    }

    #[test]
    fn none_is_empty() {
        let mut s = Stamper::new(Format::None);
        assert_eq!(s.stamp(at(5, 5)), b"");
        assert_eq!(Format::parse("none"), Some(Format::None));
        assert_eq!(Format::parse("utc"), None);
    }
}
