//! tend-log's line splitter: `find_newline` (eight bytes at a time) agrees with the plain
//! loop on any bytes, and `cut_point` cuts at most 3 bytes early, never inside a UTF-8
//! character of valid text, and never at 0 for the limits tend-log accepts.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tend_logger::scan::{cut_point, find_newline};

fuzz_target!(|data: &[u8]| {
    let Some((&m, line)) = data.split_first() else {
        return;
    };
    for start in 0..line.len().min(9) {
        let hay = &line[start..];
        assert_eq!(find_newline(hay), hay.iter().position(|&b| b == b'\n'));
    }
    if line.is_empty() {
        return;
    }
    // Any limit below the length, as the engine calls it.
    let max = usize::from(m) % line.len();
    let cut = cut_point(line, max);
    assert!(cut <= max && cut + 3 >= max, "max {max} cut {cut}");
    if max >= 4 {
        assert!(cut > 0, "max {max} cut at 0");
    }
    if let Ok(text) = std::str::from_utf8(line) {
        assert!(
            text.is_char_boundary(cut),
            "max {max} cut {cut} in {text:?}"
        );
        if text.is_char_boundary(max) {
            assert_eq!(cut, max);
        }
    }
});
