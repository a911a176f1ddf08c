//! svstat's line for decoded garbage: the first 20 bytes are the status record, the next
//! 12 the clock, one byte the `down` flag, the rest the `info` file. The line is always one
//! line, starts with the state, and never panics on time arithmetic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tend_core::info::Info;
use tend_core::report::{is_ready, signal_name, status_line};
use tend_core::status::{RunState, Status};
use tend_core::tai::Tai64n;

fuzz_target!(|data: &[u8]| {
    let Some((rec, rest)) = data.split_first_chunk::<20>() else {
        return;
    };
    let Some(st) = Status::decode(rec) else {
        panic!("20 bytes always decode");
    };
    let Some((now, rest)) = rest.split_first_chunk::<12>() else {
        return;
    };
    let now = Tai64n::unpack(now);
    let (down, rest) = rest
        .split_first()
        .map_or((false, rest), |(b, r)| (b & 1 == 1, r));
    let info = Info::decode(&String::from_utf8_lossy(rest));
    for i in [None, Some(&info)] {
        let line = status_line(&st, i, down, now);
        assert!(!line.contains('\n'), "{line:?}");
        let head = match st.state {
            RunState::Run => "up (pid ",
            RunState::Finish => "finish ",
            RunState::Down => "down ",
        };
        assert!(line.starts_with(head), "{line:?}");
        assert!(line.contains(" seconds"), "{line:?}");
    }
    if is_ready(&st, &info) {
        assert_eq!(st.state, RunState::Run);
    }
    if let Some(tend_core::info::Exit::Signal(n)) = info.exit {
        let name = signal_name(n);
        assert!(name.starts_with("SIG") || name == format!("signal {n}"));
    }
});
