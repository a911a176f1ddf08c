//! TAI64N labels as daemontools and runit write them: 2^62 + 10 + Unix seconds, then nanoseconds.
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The TAI64 label of the Unix epoch, with daemontools' fixed 10-second offset (no leap table).
pub const EPOCH_LABEL: u64 = (1 << 62) + 10;

/// A TAI64N instant: TAI64 seconds label and nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tai64n {
    /// TAI64 seconds label (2^62 + 10 + Unix seconds).
    pub secs: u64,
    /// Nanoseconds, below 1e9.
    pub nanos: u32,
}

impl Tai64n {
    /// The label of a wall-clock time; times before 1970 clamp to the epoch.
    pub fn from_system(t: SystemTime) -> Tai64n {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        Tai64n {
            secs: EPOCH_LABEL.saturating_add(d.as_secs()),
            nanos: d.subsec_nanos(),
        }
    }

    /// The label of now, from the realtime clock.
    pub fn now() -> Tai64n {
        Tai64n::from_system(SystemTime::now())
    }

    /// The wall-clock time this label stands for (saturating at the epoch, and at the
    /// largest time the system can represent).
    pub fn to_system(self) -> SystemTime {
        let secs = self.secs.saturating_sub(EPOCH_LABEL);
        let max = Duration::from_secs(i64::MAX.unsigned_abs());
        let d = Duration::new(secs, self.nanos.min(999_999_999)).min(max);
        UNIX_EPOCH.checked_add(d).unwrap_or(UNIX_EPOCH)
    }

    /// The 12 big-endian bytes of the packed label.
    pub fn pack(self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[..8].copy_from_slice(&self.secs.to_be_bytes());
        b[8..].copy_from_slice(&self.nanos.to_be_bytes());
        b
    }

    /// Reads 12 packed bytes.
    pub fn unpack(b: &[u8; 12]) -> Tai64n {
        let mut s = [0u8; 8];
        let mut n = [0u8; 4];
        s.copy_from_slice(&b[..8]);
        n.copy_from_slice(&b[8..]);
        Tai64n {
            secs: u64::from_be_bytes(s),
            nanos: u32::from_be_bytes(n),
        }
    }

    /// Writes the 25-byte text label `@` + 24 lower-case hex digits into `out`.
    pub fn write_hex(self, out: &mut [u8; 25]) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        out[0] = b'@';
        for (i, byte) in self.pack().iter().enumerate() {
            out[1 + 2 * i] = HEX[usize::from(byte >> 4)];
            out[2 + 2 * i] = HEX[usize::from(byte & 15)];
        }
    }

    /// The text label, e.g. `@400000006b072c342fc4997c`.
    pub fn to_hex(self) -> String {
        let mut b = [0u8; 25];
        self.write_hex(&mut b);
        String::from_utf8_lossy(&b).into_owned()
    }

    /// Parses a text label `@` + 24 hex digits.
    pub fn parse_hex(s: &str) -> Option<Tai64n> {
        let hex = s.strip_prefix('@')?;
        if hex.len() != 24 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let secs = u64::from_str_radix(hex.get(..16)?, 16).ok()?;
        let nanos = u32::from_str_radix(hex.get(16..)?, 16).ok()?;
        Some(Tai64n { secs, nanos })
    }

    /// Whole seconds from this label until `later` (0 if `later` is earlier).
    pub fn secs_until(self, later: Tai64n) -> u64 {
        later.secs.saturating_sub(self.secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_matches_daemontools() {
        // 2026-11-25 18:39:41 UTC = 1795631981; daemontools writes 0x400000006b072ba7 for it.
        let t = UNIX_EPOCH + Duration::new(0x6b07_2ba7 - 10, 0x3459_8aec);
        let l = Tai64n::from_system(t);
        assert_eq!(
            l.pack(),
            [0x40, 0, 0, 0, 0x6b, 0x07, 0x2b, 0xa7, 0x34, 0x59, 0x8a, 0xec]
        );
        assert_eq!(l.to_hex(), "@400000006b072ba734598aec");
        assert_eq!(Tai64n::parse_hex(&l.to_hex()), Some(l));
        assert_eq!(Tai64n::unpack(&l.pack()), l);
        assert_eq!(l.to_system(), t);
    }

    #[test]
    fn labels_far_away_saturate() {
        let far = Tai64n {
            secs: u64::MAX,
            nanos: u32::MAX,
        };
        assert!(far.to_system() > UNIX_EPOCH);
        assert_eq!(Tai64n::default().to_system(), UNIX_EPOCH);
    }

    #[test]
    fn bad_hex_is_refused() {
        assert_eq!(Tai64n::parse_hex("400000006b072ba734598aec"), None);
        assert_eq!(Tai64n::parse_hex("@400000006b072ba734598ae"), None);
        assert_eq!(Tai64n::parse_hex("@400000006b072ba734598aeg"), None);
        assert_eq!(Tai64n::parse_hex("@4000000é6b072ba734598ae"), None);
    }
}
