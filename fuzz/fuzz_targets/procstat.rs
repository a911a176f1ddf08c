//! /proc/PID/stat: `parse` never panics on any text, and for a well-formed line whose
//! command name holds any characters (parentheses, spaces, newlines) it finds the session
//! and start time that were put in.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tend_core::procstat::{parse, ProcStat};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse(&text);
    if data.len() < 13 {
        return;
    }
    let (nums, name) = data.split_at(13);
    let session = u32::from_le_bytes([nums[0], nums[1], nums[2], nums[3]]);
    let mut start = [0u8; 8];
    start.copy_from_slice(&nums[4..12]);
    let start = u64::from_le_bytes(start);
    let zombie = nums[12] & 1 == 1;
    let state = if zombie { 'Z' } else { 'S' };
    let name = String::from_utf8_lossy(name);
    let line = format!(
        "4242 ({name}) {state} 1 4242 {session} 0 -1 4194560 104 0 0 0 0 0 0 0 20 0 1 0 {start} 2330624 201 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
    );
    assert_eq!(
        parse(&line),
        Some(ProcStat {
            session,
            start,
            zombie
        }),
        "{line:?}"
    );
});
