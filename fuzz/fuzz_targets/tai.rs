//! TAI64N: `parse_hex` accepts exactly `@` + 24 hex digits and reads back what `to_hex`
//! writes; `pack`/`unpack` round-trip any 12 bytes; the conversions to and from
//! wall-clock time never panic, whatever the label.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tend_core::tai::Tai64n;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let want = text.len() == 25
            && text.starts_with('@')
            && text.bytes().skip(1).all(|b| b.is_ascii_hexdigit());
        let got = Tai64n::parse_hex(text);
        assert_eq!(got.is_some(), want, "{text:?}");
        if let Some(t) = got {
            assert_eq!(t.to_hex(), text.to_ascii_lowercase());
        }
    }
    if let Some(b) = data.first_chunk::<12>() {
        let t = Tai64n::unpack(b);
        assert_eq!(&t.pack(), b);
        assert_eq!(Tai64n::parse_hex(&t.to_hex()), Some(t));
        // Labels before the epoch and far in the future saturate instead of panicking.
        let wall = t.to_system();
        let back = Tai64n::from_system(wall);
        assert!(back.secs <= t.secs.max(tend_core::tai::EPOCH_LABEL));
        let _ = t.secs_until(Tai64n::now());
    }
});
