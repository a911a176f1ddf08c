//! `control::read_status` of a `supervise/status` file holding any bytes: the same answer
//! as `Status::decode` for 18 and 20 bytes, otherwise a one-line `Invalid` error (exit 100
//! in core terms; svstat and svwait report it with 111 as their man pages say).
#![no_main]
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tend_core::control::read_status;
use tend_core::status::Status;
use tend_core::Error;

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("tend-fuzz-status-{}", std::process::id()));
        std::fs::create_dir_all(d.join("supervise")).expect("create the temp dir");
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let d = dir();
    std::fs::write(d.join("supervise/status"), data).expect("write the status file");
    match read_status(d) {
        Ok(st) => assert_eq!(Some(st), Status::decode(data)),
        Err(Error::Invalid(msg)) => {
            assert!(Status::decode(data).is_none(), "refused a good record");
            assert!(!msg.contains('\n'), "{msg:?}");
            assert!(msg.contains("supervise/status: bad format"), "{msg}");
        }
        Err(e) => panic!("unexpected error for {} bytes: {e}", data.len()),
    }
});
