//! svlogd's patterns (svlogd(8), "PATTERN MATCHING") and the selection they make: not
//! regular expressions but a small glob language, matched against the whole line.
//!
//! A byte other than `*` and `+` matches itself. `+c` matches one or more `c`. `*c` skips
//! to the first `c` in the line (it matches a string without `c`); a `*` at the end matches
//! the rest. There is no backtracking: `*pid*` fails on `tcpsvd: info: pid 1977`, since the
//! first `*` stops at the `p` of `tcpsvd`. Two quirks of svlogd's matcher are kept, so that
//! a config file selects the same lines under both: a `+` that consumes the last byte of
//! the line matches whatever follows it in the pattern, and a `+` that ends the pattern
//! never matches.

/// What a rule does to a line that matches its pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// `+pattern`: the line is written to the logdir.
    Select,
    /// `-pattern`: the line is not written to the logdir.
    Deselect,
    /// `epattern`: the line is copied to standard error.
    Alert,
    /// `Epattern`: the line is not copied to standard error.
    NoAlert,
}

impl Action {
    /// The action of svlogd's rule letter (`+`, `-`, `e`, `E`).
    pub fn from_byte(b: u8) -> Option<Action> {
        match b {
            b'+' => Some(Action::Select),
            b'-' => Some(Action::Deselect),
            b'e' => Some(Action::Alert),
            b'E' => Some(Action::NoAlert),
            _ => None,
        }
    }

    /// The rule letter, as written in a config file.
    pub fn letter(self) -> char {
        match self {
            Action::Select => '+',
            Action::Deselect => '-',
            Action::Alert => 'e',
            Action::NoAlert => 'E',
        }
    }
}

/// One rule: an action and its pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// What a match does.
    pub action: Action,
    /// The pattern, as written (without the rule letter).
    pub pattern: Vec<u8>,
}

impl Rule {
    /// Parses `+pat`, `-pat`, `epat` or `Epat`.
    pub fn parse(text: &[u8]) -> Option<Rule> {
        let (&letter, pattern) = text.split_first()?;
        Some(Rule {
            action: Action::from_byte(letter)?,
            pattern: pattern.to_vec(),
        })
    }
}

/// What the rules decide for one line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Write it to the logdir.
    pub selected: bool,
    /// Copy it to standard error.
    pub alert: bool,
}

/// Applies `rules` in order to `line`: every line starts selected and not alerted; each
/// rule whose pattern matches sets its side (svlogd's order: the last match wins).
pub fn decide(rules: &[Rule], line: &[u8]) -> Verdict {
    let mut v = Verdict {
        selected: true,
        alert: false,
    };
    for r in rules {
        // A rule that would change nothing need not be matched.
        let changes = match r.action {
            Action::Select => !v.selected,
            Action::Deselect => v.selected,
            Action::Alert => !v.alert,
            Action::NoAlert => v.alert,
        };
        if changes && matches(&r.pattern, line) {
            match r.action {
                Action::Select | Action::Deselect => v.selected = r.action == Action::Select,
                Action::Alert | Action::NoAlert => v.alert = r.action == Action::Alert,
            }
        }
    }
    v
}

/// Whether `pattern` matches all of `line` (svlogd's `pmatch`).
pub fn matches(pattern: &[u8], line: &[u8]) -> bool {
    let (mut p, mut s) = (0, 0);
    loop {
        let Some(&c) = pattern.get(p) else {
            return s == line.len();
        };
        p += 1;
        match c {
            b'*' => {
                let Some(&next) = pattern.get(p) else {
                    return true;
                };
                let rest = line.get(s..).unwrap_or_default();
                match rest.iter().position(|&b| b == next) {
                    Some(i) => s += i,
                    None => return false,
                }
            }
            b'+' => {
                let Some(&next) = pattern.get(p) else {
                    return false;
                };
                p += 1;
                if line.get(s) != Some(&next) {
                    return false;
                }
                while line.get(s) == Some(&next) {
                    s += 1;
                }
                if s == line.len() {
                    return true; // svlogd's quirk: the rest of the pattern is not looked at
                }
            }
            _ => {
                if line.get(s) != Some(&c) {
                    return false;
                }
                s += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        matches(p.as_bytes(), s.as_bytes())
    }

    #[test]
    fn literal_patterns_match_the_whole_line() {
        assert!(m("abc", "abc"));
        assert!(!m("abc", "abcd"));
        assert!(!m("abc", "ab"));
        assert!(m("", ""));
        assert!(!m("", "x"));
    }

    #[test]
    fn a_star_stops_at_the_first_next_byte() {
        assert!(m("*", ""));
        assert!(m("*", "anything at all"));
        assert!(m("a*", "abc"));
        assert!(m("*c", "abc"));
        assert!(!m("*c", "abcd"));
        assert!(m("*c*", "abcd"));
        // svlogd(8)'s example: the first star stops at the p of tcpsvd.
        let line = "tcpsvd: info: pid 1977 from 10.4.1.14";
        assert!(!m("*pid*", line));
        assert!(m("*: *: pid *", line));
        assert!(!m("*x", "abc"));
        assert!(m("**", "a*b"));
        assert!(!m("**", "ab"));
    }

    #[test]
    fn a_plus_matches_one_or_more() {
        assert!(m("a+b", "ab"));
        assert!(m("a+bc", "abbbc"));
        assert!(!m("a+bc", "ac"));
        assert!(!m("a+bc", "abbd"));
        // svlogd's quirks: a plus that reaches the end of the line matches; a trailing
        // plus matches nothing.
        assert!(m("a+bxyz", "abb"));
        assert!(!m("a+", "a"));
        assert!(!m("+", ""));
    }

    #[test]
    fn the_last_matching_rule_decides() {
        let rules: Vec<Rule> = ["-*", "+warning: *", "e*fatal*", "-*fatal: boring*"]
            .iter()
            .map(|r| Rule::parse(r.as_bytes()).unwrap())
            .collect();
        let d = |s: &str| decide(&rules, s.as_bytes());
        assert_eq!(
            d("info: x"),
            Verdict {
                selected: false,
                alert: false
            }
        );
        assert_eq!(
            d("warning: disk"),
            Verdict {
                selected: true,
                alert: false
            }
        );
        assert_eq!(
            d("x fatal y"),
            Verdict {
                selected: false,
                alert: true
            }
        );
        assert_eq!(
            decide(&[], b"anything"),
            Verdict {
                selected: true,
                alert: false
            }
        );
        assert_eq!(Rule::parse(b"x*"), None);
        assert_eq!(Rule::parse(b""), None);
    }
}
