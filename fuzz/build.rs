//! Copies the argv-parsing binaries of bins/src/bin into OUT_DIR without their `//!` inner
//! doc comments, so that fuzz_targets/argv.rs can `include!` each one inside a module and
//! reach its private `parse_args` without moving code out of the binaries.
use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    for prog in ["svc", "svok", "svstat", "svwait"] {
        let src = format!("../bins/src/bin/{prog}.rs");
        println!("cargo:rerun-if-changed={src}");
        let text = std::fs::read_to_string(&src).unwrap_or_default();
        let body: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//!"))
            .map(|l| format!("{l}\n"))
            .collect();
        if let Err(e) = std::fs::write(out.join(format!("{prog}.rs")), body) {
            println!("cargo:warning=unable to write {prog}.rs: {e}");
        }
    }
}
