//! Links the programs with their written static variables first in each data section, so
//! that the few pages a process dirties at start-up hold them all (see
//! bins/written-statics.txt and bench/written-statics.py, which makes it).
fn main() {
    bin_dir();
    // The ordering file is an lld option (rustc's default linker here); a build with
    // another linker can do without it.
    println!("cargo:rerun-if-env-changed=TEND_NO_SYMBOL_ORDER");
    if std::env::var_os("TEND_NO_SYMBOL_ORDER").is_some() {
        return;
    }
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let list = format!("{dir}/written-statics.txt");
    println!("cargo:rerun-if-changed=written-statics.txt");
    println!("cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={list}");
    println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
}

/// Tells the tests where the programs are: the directory cargo puts `tend` in (three levels
/// above OUT_DIR), as TEND_BIN_DIR; tests/common makes the programs' links there.
fn bin_dir() {
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    if let Some(dir) = out.ancestors().nth(3) {
        println!("cargo:rustc-env=TEND_BIN_DIR={}", dir.display());
    }
}
