//! Reading /proc/PID/stat: enough to recognise a process again after a supervisor restart.

/// A process's session id and start time (clock ticks after boot).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcStat {
    /// Field 6: session id.
    pub session: u32,
    /// Field 22: start time.
    pub start: u64,
    /// Field 3 is `Z`: a zombie.
    pub zombie: bool,
}

/// Parses the text of /proc/PID/stat; the command name (field 2) may hold any bytes,
/// so fields are counted from the last `)`.
pub fn parse(text: &str) -> Option<ProcStat> {
    let rest = text.get(text.rfind(')')? + 1..)?;
    let mut f = rest.split_ascii_whitespace();
    // rest starts at field 3 (state).
    let state = f.next()?;
    let session = f.nth(2)?.parse().ok()?; // fields 4, 5, 6
    let start = f.nth(15)?.parse().ok()?; // fields 7..=22
    Some(ProcStat {
        session,
        start,
        zombie: state == "Z",
    })
}

/// Reads /proc/PID/stat; `None` if there is no such process or it cannot be parsed.
pub fn read(pid: u32) -> Option<ProcStat> {
    parse(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_odd_names() {
        let t = "4242 (a) b (c) S 1 4242 4242 0 -1 4194560 104 0 0 0 0 0 0 0 20 0 1 0 987654 2330624 201 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
        assert_eq!(
            parse(t),
            Some(ProcStat {
                session: 4242,
                start: 987654,
                zombie: false
            })
        );
        assert_eq!(parse("1 (x) Z 1"), None);
        assert_eq!(parse("garbage"), None);
        let own = read(std::process::id()).unwrap();
        assert!(!own.zombie && own.start > 0);
    }
}
