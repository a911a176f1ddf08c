//! Copies the argv-parsing programs of bins/src/prog into OUT_DIR in a form that
//! fuzz_targets/argv.rs can `include!` inside a module, so that it reaches each one's
//! private `parse_args` without moving code out of the programs. Removed, each replaced by
//! an empty line so that line numbers still match the source: the `//!` module docs and
//! any top-level inner attribute, which `include!` does not accept.
use std::path::PathBuf;

const PROGS: [&str; 4] = ["svc", "svok", "svstat", "svwait"];

fn main() -> Result<(), String> {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
    for prog in PROGS {
        let src = format!("../bins/src/prog/{prog}.rs");
        println!("cargo:rerun-if-changed={src}");
        let text = std::fs::read_to_string(&src).map_err(|e| format!("read {src}: {e}"))?;
        let body = includable(&text);
        if !body.contains("fn parse_args(") {
            return Err(format!("{src} has no parse_args for fuzz_targets/argv.rs"));
        }
        let dst = out.join(format!("{prog}.rs"));
        std::fs::write(&dst, body).map_err(|e| format!("write {}: {e}", dst.display()))?;
    }
    Ok(())
}

/// The program's source with the lines `include!` refuses blanked.
fn includable(text: &str) -> String {
    let mut body = String::with_capacity(text.len());
    for line in text.lines() {
        if !dropped(line) {
            body.push_str(line);
        }
        body.push('\n');
    }
    body
}

/// Whether `line` is module-level text that cannot be included.
fn dropped(line: &str) -> bool {
    line.starts_with("//!") || line.starts_with("#![")
}
