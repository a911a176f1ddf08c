//! svlogd's `LOGDIR/config` file (svlogd(8), "CONFIG"): its parsing, and what it sets
//! over the command line. Pure: the caller reads the file and reports the problems.
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use crate::config::parse_size;
use crate::pattern::Rule;

/// The largest config file read; the rest is ignored, with a problem reported.
pub const MAX_CONFIG: usize = 1 << 20;
/// svlogd's default UDP port (syslog).
pub const SYSLOG_PORT: u16 = 514;

/// Where selected lines are sent as UDP datagrams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Udp {
    /// The receiver.
    pub to: SocketAddrV4,
    /// `U`: send only, write nothing to the logdir.
    pub only: bool,
}

/// What one config file sets; None (or empty) where it sets nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigFile {
    /// `sSIZE`: rotation size (0: never by size).
    pub size: Option<u64>,
    /// `nNUM`: archives kept (0: no limit).
    pub count: Option<usize>,
    /// `NMIN`: archives a full disk never deletes below (with `-f free`).
    pub min: Option<usize>,
    /// `tTIMEOUT`: rotate `current` once it is this old and not empty (zero: never).
    pub age: Option<Duration>,
    /// `!PROCESSOR`.
    pub processor: Option<String>,
    /// `uHOST[:PORT]` or `UHOST[:PORT]`.
    pub udp: Option<Udp>,
    /// `pPREFIX`: put after the stamp of each line.
    pub prefix: Option<Vec<u8>>,
    /// `+pat`, `-pat`, `epat`, `Epat`, in order.
    pub rules: Vec<Rule>,
}

/// A line of a config file that was not understood, and skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Its number, from 1.
    pub line: usize,
    /// What is wrong with it.
    pub why: String,
}

impl ConfigFile {
    /// Parses a config file's bytes. Each line is on its own: an empty line or one that
    /// starts with `#` is skipped; a line not understood is a [`Problem`] and skipped; a
    /// setting given twice takes its last value; rules add up in order.
    pub fn parse(text: &[u8]) -> (ConfigFile, Vec<Problem>) {
        let mut cfg = ConfigFile::default();
        let mut problems = Vec::new();
        let text = match text.get(..MAX_CONFIG) {
            Some(head) if text.len() > MAX_CONFIG => {
                problems.push(Problem {
                    line: head.iter().filter(|&&b| b == b'\n').count() + 1,
                    why: format!("the file is larger than {MAX_CONFIG} bytes: the rest is ignored"),
                });
                // Only whole lines of the head.
                let end = head.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
                head.get(..end).unwrap_or_default()
            }
            _ => text,
        };
        for (i, line) in text.split(|&b| b == b'\n').enumerate() {
            if let Err(why) = cfg.apply(line) {
                problems.push(Problem { line: i + 1, why });
            }
        }
        (cfg, problems)
    }

    /// Applies one line.
    fn apply(&mut self, line: &[u8]) -> Result<(), String> {
        let Some((&kind, value)) = line.split_first() else {
            return Ok(());
        };
        if value.contains(&0) {
            return Err("it holds a NUL byte".into());
        }
        match kind {
            b'#' => {}
            b'+' | b'-' | b'e' | b'E' => {
                self.rules.extend(Rule::parse(line));
            }
            b's' => {
                let v = text(value)
                    .and_then(parse_size)
                    .ok_or_else(|| bad("size", value, "digits, then k, M or G"))?;
                self.size = Some(v);
            }
            b'n' => self.count = Some(number(value).ok_or_else(|| bad("count", value, "digits"))?),
            b'N' => self.min = Some(number(value).ok_or_else(|| bad("minimum", value, "digits"))?),
            b't' => {
                let v = text(value)
                    .and_then(parse_age)
                    .ok_or_else(|| bad("age", value, "seconds, or digits then m or h"))?;
                self.age = Some(v);
            }
            b'!' => {
                let v = text(value).filter(|v| !v.is_empty());
                let v = v.ok_or("an empty or non-UTF-8 processor")?;
                self.processor = Some(v.to_string());
            }
            b'u' | b'U' => {
                let to = text(value)
                    .and_then(parse_udp)
                    .ok_or_else(|| bad("UDP address", value, "a.b.c.d or a.b.c.d:port"))?;
                let only = kind == b'U';
                self.udp = Some(Udp { to, only });
            }
            b'p' if value.is_empty() => return Err("an empty prefix".into()),
            b'p' => self.prefix = Some(value.to_vec()),
            _ => {
                let shown = String::from_utf8_lossy(&line[..line.len().min(40)]).into_owned();
                return Err(format!("unknown setting {shown:?}"));
            }
        }
        Ok(())
    }
}

fn text(value: &[u8]) -> Option<&str> {
    std::str::from_utf8(value).ok()
}

fn number(value: &[u8]) -> Option<usize> {
    let v = text(value)?;
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

fn bad(what: &str, value: &[u8], want: &str) -> String {
    let shown = String::from_utf8_lossy(&value[..value.len().min(40)]).into_owned();
    format!("bad {what} {shown:?} (want {want})")
}

/// Parses svlogd's `t` value: seconds, or minutes (`m`) or hours (`h`).
pub fn parse_age(v: &str) -> Option<Duration> {
    let (digits, unit) = match v.as_bytes().last()? {
        b'm' => (&v[..v.len() - 1], 60),
        b'h' => (&v[..v.len() - 1], 3600),
        b's' => (&v[..v.len() - 1], 1),
        _ => (v, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs = digits.parse::<u64>().ok()?.checked_mul(unit)?;
    // Beyond a century an Instant could overflow; no log wants that anyway.
    (secs <= 100 * 365 * 86_400).then(|| Duration::from_secs(secs))
}

/// Parses `a.b.c.d` or `a.b.c.d:port` (port 1 to 65535; default 514).
pub fn parse_udp(v: &str) -> Option<SocketAddrV4> {
    let (host, port) = match v.split_once(':') {
        Some((h, p)) => {
            let ok = !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
            (
                h,
                ok.then(|| p.parse::<u16>().ok())
                    .flatten()
                    .filter(|&p| p > 0)?,
            )
        }
        None => (v, SYSLOG_PORT),
    };
    Some(SocketAddrV4::new(host.parse::<Ipv4Addr>().ok()?, port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::Action;

    #[test]
    fn every_line_kind() {
        let text = b"# every kind\n\ns4096\nn5\nN2\nt60\n!gzip\nu127.0.0.1:5140\npweb: \n\
                     -*\n+warning: *\ne*fatal*\nE*boring*\n";
        let (c, problems) = ConfigFile::parse(text);
        assert_eq!(problems, []);
        assert_eq!(c.size, Some(4096));
        assert_eq!(c.count, Some(5));
        assert_eq!(c.min, Some(2));
        assert_eq!(c.age, Some(Duration::from_secs(60)));
        assert_eq!(c.processor.as_deref(), Some("gzip"));
        assert_eq!(
            c.udp,
            Some(Udp {
                to: "127.0.0.1:5140".parse().unwrap(),
                only: false
            })
        );
        assert_eq!(c.prefix.as_deref(), Some(&b"web: "[..]));
        let actions: Vec<Action> = c.rules.iter().map(|r| r.action).collect();
        use Action::*;
        assert_eq!(actions, [Deselect, Select, Alert, NoAlert]);
        assert_eq!(c.rules[1].pattern, b"warning: *");
    }

    #[test]
    fn svlogd_man_page_example() {
        // svlogd(8)'s example config.
        let (c, problems) = ConfigFile::parse(b"s100000\nn20\n-*\n+*: *: pid *\n");
        assert_eq!(problems, []);
        assert_eq!(
            (c.size, c.count, c.rules.len()),
            (Some(100_000), Some(20), 2)
        );
    }

    #[test]
    fn values_and_defaults() {
        assert_eq!(parse_age("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_age("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_age("0"), Some(Duration::ZERO));
        for bad in ["", "m", "1d", "-1", "99999999999999999999", "9999999999h"] {
            assert_eq!(parse_age(bad), None, "{bad}");
        }
        assert_eq!(parse_udp("10.0.0.1"), Some("10.0.0.1:514".parse().unwrap()));
        for bad in [
            "10.0.0.1:",
            "10.0.0.1:0",
            "10.0.0.1:70000",
            "host:514",
            "",
            ":5",
        ] {
            assert_eq!(parse_udp(bad), None, "{bad}");
        }
        let (c, _) = ConfigFile::parse(b"U10.0.0.1\ns1k\ns2M\n");
        assert_eq!(c.udp.map(|u| (u.only, u.to.port())), Some((true, 514)));
        assert_eq!(c.size, Some(2 << 20)); // the last one wins
    }

    #[test]
    fn bad_lines_are_reported_and_skipped() {
        let text = b"s4096\nx\nsbig\nn-1\nt1d\n!\np\nu1.2.3\n+a\0b\nn3";
        let (c, problems) = ConfigFile::parse(text);
        let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [2, 3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(problems[0].why, "unknown setting \"x\"");
        assert_eq!(
            problems[1].why,
            "bad size \"big\" (want digits, then k, M or G)"
        );
        assert_eq!((c.size, c.count), (Some(4096), Some(3)));
        assert!(c.rules.is_empty());
    }

    #[test]
    fn a_huge_file_is_cut_at_a_line() {
        let mut text = b"n4\n".repeat(MAX_CONFIG / 3 + 10);
        text.extend_from_slice(b"n9\n");
        let (c, problems) = ConfigFile::parse(&text);
        assert_eq!(c.count, Some(4));
        assert_eq!(problems.len(), 1);
    }
}
