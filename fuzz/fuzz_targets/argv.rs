//! The argv parsers of svc, svok, svstat and svwait, compiled in from bins/src/prog (see
//! build.rs). The input is split at NUL bytes into arguments, which may hold any other
//! bytes, UTF-8 or not. A refusal prints as one line (`prog: fatal: WHY`, through
//! `tend::say`); an acceptance keeps the invariants the programs rely on.
#![no_main]
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use libfuzzer_sys::fuzz_target;

mod svc {
    #![allow(dead_code, unused_imports)]
    include!(concat!(env!("OUT_DIR"), "/svc.rs"));
    pub fn parse(args: Vec<OsString>) -> Result<(Vec<u8>, Vec<OsString>), String> {
        parse_args(args).map_err(|e| e.to_string())
    }
}

mod svok {
    #![allow(dead_code, unused_imports)]
    include!(concat!(env!("OUT_DIR"), "/svok.rs"));
    pub fn parse(args: Vec<OsString>) -> Result<OsString, String> {
        parse_args(args).map_err(|e| e.to_string())
    }
}

mod svstat {
    #![allow(dead_code, unused_imports)]
    include!(concat!(env!("OUT_DIR"), "/svstat.rs"));
    pub fn parse(args: Vec<OsString>) -> Result<Vec<OsString>, String> {
        parse_args(args).map_err(|e| e.to_string())
    }
}

mod svwait {
    #![allow(dead_code, unused_imports)]
    include!(concat!(env!("OUT_DIR"), "/svwait.rs"));
    pub fn parse(
        args: Vec<OsString>,
    ) -> Result<(Option<std::time::Duration>, Vec<OsString>), String> {
        parse_args(args)
            .map(|a| (a.timeout, a.dirs))
            .map_err(|e| e.to_string())
    }
}

/// What `tend::say` prints of a reason: one line, whatever the arguments held (lexopt
/// quotes an unknown option as given, newline included).
fn one_line(prog: &str, why: &str) {
    assert!(!why.is_empty(), "{prog}: empty reason");
    let shown = tend_core::svdir::one_line(why);
    assert!(
        !shown.chars().any(char::is_control),
        "{prog}: reason is not one line: {shown:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let args: Vec<OsString> = if data.is_empty() {
        Vec::new()
    } else {
        data.split(|&b| b == 0)
            .map(|a| OsString::from_vec(a.to_vec()))
            .collect()
    };
    match svc::parse(args.clone()) {
        Ok((letters, dirs)) => {
            assert!(!letters.is_empty() && letters.len() <= 512);
            assert!(letters.iter().all(|l| b"udopchaitkxq12".contains(l)));
            assert!(!dirs.is_empty() && dirs.iter().all(|d| !d.is_empty()));
        }
        Err(why) => one_line("svc", &why),
    }
    match svok::parse(args.clone()) {
        Ok(dir) => assert!(!dir.is_empty()),
        Err(why) => one_line("svok", &why),
    }
    match svstat::parse(args.clone()) {
        Ok(dirs) => assert!(!dirs.is_empty() && dirs.iter().all(|d| !d.is_empty())),
        Err(why) => one_line("svstat", &why),
    }
    match svwait::parse(args) {
        Ok((_, dirs)) => assert!(!dirs.is_empty() && dirs.iter().all(|d| !d.is_empty())),
        Err(why) => one_line("svwait", &why),
    }
});
