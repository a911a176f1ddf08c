//! Every man page in man/ renders with groff without a single warning and has the
//! sections an admin looks for.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The man pages: man/*.1 to man/*.8.
fn pages() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../man");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e.as_bytes(), [b'1'..=b'8']))
        })
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no man pages in {}", dir.display());
    v
}

fn section(page: &Path) -> u8 {
    page.extension().unwrap().as_encoded_bytes()[0] - b'0'
}

/// Whether groff can be run; CI installs groff-base, and TEND_REQUIRE_INTEROP=1 (set by
/// CI) turns its absence into a failure.
fn have_groff() -> bool {
    let ok = Command::new("groff").arg("-v").output().is_ok();
    if !ok {
        assert!(
            std::env::var_os("TEND_REQUIRE_INTEROP").is_none(),
            "groff is missing (apt-get install groff-base)"
        );
        eprintln!("skipped: groff is not installed");
    }
    ok
}

#[test]
fn every_page_renders_without_a_warning() {
    if !have_groff() {
        return;
    }
    let mut bad = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        // The default device (PostScript) as in `groff -man -ww -z`, and the terminal, as
        // man(1) renders it.
        for device in ["-Tps", "-Tutf8"] {
            let mut cmd = Command::new("groff");
            // -t runs tbl(1) for pages with tables; -ww enables every warning; -z
            // discards the output.
            cmd.args(["-man", "-ww", "-z", device]);
            if text.contains("\n.TS") {
                cmd.arg("-t");
            }
            let out = cmd.arg(&page).output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            if !out.status.success() || !err.is_empty() {
                bad.push(format!(
                    "{} ({device}): {:?}\n{err}",
                    page.display(),
                    out.status
                ));
            }
        }
    }
    assert!(bad.is_empty(), "groff complained:\n{}", bad.join("\n"));
}

#[test]
fn every_page_has_the_sections_admins_look_for() {
    let mut bad = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let heads: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix(".SH "))
            .map(|h| h.trim().trim_matches('"').to_string())
            .collect();
        let name = page.file_name().unwrap().to_string_lossy().into_owned();
        let mut want = vec!["NAME", "DESCRIPTION", "SEE ALSO"];
        // Programs (sections 1 and 8) also say how to call them and what they return;
        // file formats (5) and overviews (7) have no exit status.
        if matches!(section(&page), 1 | 8) {
            want.extend(["SYNOPSIS", "EXIT STATUS"]);
        }
        for w in want {
            if !heads.iter().any(|h| h == w) {
                bad.push(format!("{name}: no .SH {w}"));
            }
        }
        if heads.first().map(String::as_str) != Some("NAME") {
            bad.push(format!("{name}: the first section is not NAME"));
        }
        let stem = name.rsplit_once('.').unwrap().0;
        let th = text.lines().find(|l| l.starts_with(".TH ")).unwrap_or("");
        let th_words: Vec<&str> = th.split_whitespace().collect();
        let title = stem.to_uppercase();
        if th_words.get(1).map(|t| t.replace("\\-", "-")) != Some(title.clone())
            || th_words.get(2) != Some(&&*section(&page).to_string())
        {
            bad.push(format!(
                "{name}: .TH should start {title} {}: {th}",
                section(&page)
            ));
        }
        let name_line = text
            .split(".SH NAME\n")
            .nth(1)
            .and_then(|rest| rest.lines().next())
            .unwrap_or("");
        if !name_line.contains(" \\- ") {
            bad.push(format!(
                "{name}: NAME line is not \"name \\- what\": {name_line}"
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
