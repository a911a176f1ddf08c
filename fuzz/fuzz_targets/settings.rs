//! The service-dir settings files with any contents: `Settings::read` and
//! `read_control_group` never fail, keep values in range, and complain in one line that
//! names the file.
//!
//! The input is split at 0xff bytes into the contents of notification-fd, timeout-kill,
//! timeout-finish, down-signal and control-group; a missing part means no such file.
#![no_main]
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tend_core::svdir::{read_control_group, Settings};

const FILES: [&str; 5] = [
    "notification-fd",
    "timeout-kill",
    "timeout-finish",
    "down-signal",
    "control-group",
];

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("tend-fuzz-settings-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("create the temp dir");
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let d = dir();
    let mut parts = data.split(|&b| b == 0xff);
    for name in FILES {
        let path = d.join(name);
        match parts.next() {
            Some(p) => std::fs::write(&path, p).expect("write a settings file"),
            None => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    let (s, bad) = Settings::read(d);
    if let Some(fd) = s.notification_fd {
        assert!((3..=1023).contains(&fd), "{fd}");
    }
    let max = Duration::from_millis(1 << 31);
    assert!(s
        .timeout_kill
        .is_none_or(|t| t > Duration::ZERO && t <= max));
    assert!(s
        .timeout_finish
        .is_none_or(|t| t > Duration::ZERO && t <= max));
    assert!(bad.len() <= 4, "{bad:?}");
    for b in &bad {
        assert!(
            !b.contains('\n') && !b.contains('\r'),
            "not one line: {b:?}"
        );
        assert!(
            FILES
                .iter()
                .any(|f| b.starts_with(&format!("ignoring {f}: "))),
            "{b}"
        );
    }
    match read_control_group(d) {
        Ok(_) => {}
        Err(b) => {
            assert!(
                !b.contains('\n') && !b.contains('\r'),
                "not one line: {b:?}"
            );
            assert!(b.starts_with("ignoring control-group: "), "{b}");
        }
    }
});
