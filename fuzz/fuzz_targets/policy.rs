//! svactivate's logging policy file and names: `Policy::parse` of any text refuses in one
//! line or gives a policy whose generated `log/run` is a 3-line script; `quote` is undone
//! by sh's quoting rules; `check_name` accepts exactly what its man page says.
//!
//! Input: up to the first 0xff byte, a service name; the rest, the policy file.
#![no_main]
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use tend_core::policy::{check_name, quote, Policy};
use tend_core::Error;

/// Undoes sh quoting of one word made of plain characters, '...' and \' (what `quote`
/// produces); None if the text is not such a word.
fn unquote(s: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => loop {
                match chars.next()? {
                    '\'' => break,
                    c => out.push(c),
                }
            },
            '\\' => out.push(chars.next()?),
            c if c.is_whitespace() || "\"$`;&|<>(){}*?[]#~!".contains(c) => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

fuzz_target!(|data: &[u8]| {
    let (name, text) = match data.iter().position(|&b| b == 0xff) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let name = OsStr::from_bytes(name);
    let ok = name.to_str().filter(|n| {
        !n.is_empty() && !n.contains('/') && !n.starts_with('.') && !n.chars().any(char::is_control)
    });
    match check_name(name) {
        Ok(n) => assert_eq!(Some(n), ok),
        Err(Error::Invalid(msg)) => {
            assert!(ok.is_none(), "refused {name:?}");
            assert!(!msg.chars().any(char::is_control), "{msg:?}");
        }
        Err(e) => panic!("{e}"),
    }

    let text = String::from_utf8_lossy(text);
    assert_eq!(
        unquote(&quote(&text)).as_deref(),
        Some(&*text),
        "quote of {text:?}"
    );
    match Policy::parse(&text, Path::new("/etc/tend/logging.conf")) {
        Ok(p) => {
            let name = ok.unwrap_or("web");
            let script = p.log_run(name);
            assert_eq!(script.lines().count(), 3, "{script:?}");
            assert!(script.starts_with("#!/bin/sh\n") && script.ends_with('\n'));
            let exec = script.lines().nth(2).unwrap_or_default();
            assert!(exec.starts_with("exec "), "{script:?}");
            // The logdir is the last word and reads back as ROOT/NAME.
            let last = exec.rsplit(' ').next().unwrap_or_default();
            let dir = p.logdir(name).to_string_lossy().into_owned();
            if !dir.contains(char::is_whitespace) {
                assert_eq!(unquote(last).as_deref(), Some(&*dir), "{script:?}");
            }
        }
        Err(Error::Invalid(msg)) => {
            assert!(!msg.contains('\n'), "{msg:?}");
            assert!(
                msg.starts_with("unable to read /etc/tend/logging.conf: line "),
                "{msg}"
            );
        }
        Err(e) => panic!("{e}"),
    }
});
