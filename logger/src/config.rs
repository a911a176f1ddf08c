//! tend-log's settings and the parsing of their values.
use std::path::PathBuf;
use std::time::Duration;

use crate::configfile::{ConfigFile, Udp};
use crate::pattern::Rule;
use crate::stamp::Format;

/// What to do when `current` cannot be written (disk full or another write error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Keep the data, stop reading input, retry every second (backpressure).
    Block,
    /// Delete the oldest archives to make room, then retry; block once none is left.
    Free,
    /// Drop lines while writing fails, count them, and log a marker line once it works.
    Drop,
}

impl Policy {
    /// Parses `block`, `free` or `drop`.
    pub fn parse(name: &str) -> Option<Policy> {
        match name {
            "block" => Some(Policy::Block),
            "free" => Some(Policy::Free),
            "drop" => Some(Policy::Drop),
            _ => None,
        }
    }
}

/// Default rotation size: 1 MiB.
pub const DEFAULT_SIZE: u64 = 1 << 20;
/// Default number of archives kept.
pub const DEFAULT_COUNT: usize = 10;
/// Default line length limit (bytes of a line, newline and stamp excluded).
pub const DEFAULT_LINEMAX: usize = 16 << 10;
/// Smallest line length limit accepted.
pub const MIN_LINEMAX: usize = 16;
/// Largest line length limit accepted.
pub const MAX_LINEMAX: usize = 1 << 20;

/// Everything tend-log is told for one logdir: on its command line, then by the logdir's
/// `config` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The logdir.
    pub dir: PathBuf,
    /// The stamp before each line.
    pub format: Format,
    /// Rotate before `current` would grow past this many bytes; 0: never by size.
    pub size: u64,
    /// Keep at most this many archives; 0: no limit by count.
    pub count: usize,
    /// Keep the archives' total size at or below this many bytes; 0: no limit.
    pub total: u64,
    /// Split lines longer than this many bytes.
    pub linemax: usize,
    /// What to do when writing fails.
    pub policy: Policy,
    /// A shell command each finished archive is piped through (stdin the archive, stdout
    /// what is kept), as multilog's `!processor`.
    pub processor: Option<String>,
    /// Selection and alert rules, in order (svlogd's `+`, `-`, `e`, `E`).
    pub rules: Vec<Rule>,
    /// Put after the stamp of each line written, alerted or sent.
    pub prefix: Vec<u8>,
    /// Under `free`, never delete archives when no more than this many are left.
    pub min: usize,
    /// Rotate `current` once its first line is this old; None: never by age.
    pub age: Option<Duration>,
    /// Send selected lines as UDP datagrams there.
    pub udp: Option<Udp>,
    /// Keep the last line written in this file (`-w`), rewritten in place.
    pub status: Option<PathBuf>,
}

impl Config {
    /// The defaults for `dir`.
    pub fn new(dir: PathBuf) -> Config {
        Config {
            dir,
            format: Format::Iso,
            size: DEFAULT_SIZE,
            count: DEFAULT_COUNT,
            total: 0,
            linemax: DEFAULT_LINEMAX,
            policy: Policy::Block,
            processor: None,
            rules: Vec::new(),
            prefix: Vec::new(),
            min: 0,
            age: None,
            udp: None,
            status: None,
        }
    }

    /// These settings with what the logdir's config file sets instead; rules given in
    /// the file replace all the rules given here.
    pub fn with_file(&self, file: &ConfigFile) -> Config {
        let mut c = self.clone();
        c.size = file.size.unwrap_or(c.size);
        c.count = file.count.unwrap_or(c.count);
        c.min = file.min.unwrap_or(c.min);
        if let Some(age) = file.age {
            c.age = (!age.is_zero()).then_some(age);
        }
        if let Some(p) = &file.processor {
            c.processor = Some(p.clone());
        }
        c.udp = file.udp.or(c.udp);
        if let Some(p) = &file.prefix {
            c.prefix = p.clone();
        }
        if !file.rules.is_empty() {
            c.rules = file.rules.clone();
        }
        c
    }
}

/// Parses a byte count: decimal digits, optionally followed by `k`, `M` or `G` (powers of
/// 1024; lower or upper case).
pub fn parse_size(text: &str) -> Option<u64> {
    let (digits, unit) = match text.char_indices().last()? {
        (at, 'k' | 'K') => (&text[..at], 1u64 << 10),
        (at, 'm' | 'M') => (&text[..at], 1 << 20),
        (at, 'g' | 'G') => (&text[..at], 1 << 30),
        _ => (text, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("0"), Some(0));
        assert_eq!(parse_size("99999"), Some(99999));
        assert_eq!(parse_size("4k"), Some(4096));
        assert_eq!(parse_size("4K"), Some(4096));
        assert_eq!(parse_size("1M"), Some(1 << 20));
        assert_eq!(parse_size("2g"), Some(2 << 30));
        for bad in [
            "",
            "k",
            "-1",
            "1.5M",
            "1T",
            "12 ",
            "+3",
            "99999999999999999999G",
        ] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_file_overrides_the_command_line() {
        let mut base = Config::new(PathBuf::from("d"));
        base.rules = vec![Rule::parse(b"-x").unwrap()];
        base.prefix = b"cmd: ".to_vec();
        base.age = Some(Duration::from_secs(9));
        let (file, _) = ConfigFile::parse(b"s4096\nt0\n+a*\n-b*\n");
        let c = base.with_file(&file);
        assert_eq!((c.size, c.count, c.age), (4096, DEFAULT_COUNT, None));
        assert_eq!(c.rules.len(), 2);
        assert_eq!(c.prefix, b"cmd: ");
        assert_eq!(base.with_file(&ConfigFile::default()), base);
    }

    #[test]
    fn policies() {
        assert_eq!(Policy::parse("block"), Some(Policy::Block));
        assert_eq!(Policy::parse("free"), Some(Policy::Free));
        assert_eq!(Policy::parse("drop"), Some(Policy::Drop));
        assert_eq!(Policy::parse("Drop"), None);
    }
}
