//! `Status::decode` of any bytes: only 18 and 20 bytes decode, a canonical 20-byte record
//! round-trips byte for byte, every decoded record round-trips through `encode`, and
//! runit's `stat` text is one line.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tend_core::status::{Status, DAEMONTOOLS_SIZE, SIZE};

fuzz_target!(|data: &[u8]| {
    let decoded = Status::decode(data);
    assert_eq!(
        decoded.is_some(),
        data.len() == SIZE || data.len() == DAEMONTOOLS_SIZE,
        "only 18 and 20 bytes decode"
    );
    let Some(st) = decoded else { return };
    // Whatever was decoded encodes to a record that decodes to the same thing.
    assert_eq!(Status::decode(&st.encode()), Some(st));
    // A 20-byte record whose flag, want and state bytes are canonical is reproduced exactly.
    if let [.., paused, want, term, state] = data {
        let canonical = data.len() == SIZE
            && *paused <= 1
            && matches!(want, b'u' | b'd' | 0)
            && *term <= 1
            && *state <= 2;
        if canonical {
            assert_eq!(&st.encode()[..], data);
        }
    }
    if data.len() == DAEMONTOOLS_SIZE {
        assert!(!st.got_term);
        assert_eq!(st.pid != 0, st.state == tend_core::status::RunState::Run);
    }
    let text = st.stat_text();
    assert!(
        text.ends_with('\n') && text.matches('\n').count() == 1,
        "{text:?}"
    );
});
