//! svlogd's patterns: the matcher never panics, and agrees with a second, recursive
//! transcription of svlogd's rules written here; a rule list decides like the rules
//! applied one by one.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tend_logger::pattern::{decide, matches, Rule};

/// svlogd's pmatch, by recursion on slices.
fn reference(p: &[u8], s: &[u8]) -> bool {
    match p {
        [] => s.is_empty(),
        [b'*'] => true,
        [b'*', next, ..] => match s.iter().position(|b| b == next) {
            Some(i) => reference(&p[1..], &s[i..]),
            None => false,
        },
        [b'+'] => false,
        [b'+', c, rest @ ..] => {
            let run = s.iter().take_while(|b| *b == c).count();
            run > 0 && (run == s.len() || reference(rest, &s[run..]))
        }
        [c, rest @ ..] => s.first() == Some(c) && reference(rest, &s[1..]),
    }
}

fuzz_target!(|data: &[u8]| {
    // pattern NUL line NUL rules (one per line)
    let mut parts = data.splitn(3, |&b| b == 0);
    let (Some(p), Some(s)) = (parts.next(), parts.next()) else {
        return;
    };
    assert_eq!(matches(p, s), reference(p, s), "pattern {p:?} line {s:?}");
    let rules: Vec<Rule> = parts
        .next()
        .unwrap_or_default()
        .split(|&b| b == b'\n')
        .filter_map(Rule::parse)
        .collect();
    let v = decide(&rules, s);
    let (mut sel, mut alert) = (true, false);
    for r in &rules {
        if matches(&r.pattern, s) {
            match r.action.letter() {
                '+' => sel = true,
                '-' => sel = false,
                'e' => alert = true,
                _ => alert = false,
            }
        }
    }
    assert_eq!((v.selected, v.alert), (sel, alert));
});
