//! `Info::decode` of any text: never fails, and what it decodes survives an
//! encode/decode round trip; the encoding is always the 8 known lines.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tend_core::info::Info;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let info = Info::decode(&text);
    let enc = info.encode();
    assert_eq!(Info::decode(&enc), info, "round trip of {enc:?}");
    assert_eq!(enc.lines().count(), 8, "{enc:?}");
    assert!(enc.ends_with('\n'));
});
