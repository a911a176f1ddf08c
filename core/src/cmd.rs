//! The control letters: one byte per command, as `svc` writes them to `supervise/control`.
use rustix::process::Signal;

/// A command a supervisor obeys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmd {
    /// `u`: want up; start if down.
    Up,
    /// `d`: want down; send the down signal, then CONT.
    Down,
    /// `o`: run once: start if down, do not restart.
    Once,
    /// `x`: exit once the service is down.
    Exit,
    /// `p` `c` `h` `a` `i` `t` `k` `q` `1` `2`: send a signal to the service.
    Signal(Sig),
}

/// The signals a control letter can send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sig {
    /// `p`: STOP, and mark paused.
    Stop,
    /// `c`: CONT, and clear paused.
    Cont,
    /// `h`: HUP.
    Hup,
    /// `a`: ALRM.
    Alrm,
    /// `i`: INT.
    Int,
    /// `t`: TERM.
    Term,
    /// `k`: KILL.
    Kill,
    /// `q`: QUIT.
    Quit,
    /// `1`: USR1.
    Usr1,
    /// `2`: USR2.
    Usr2,
}

impl Sig {
    /// The letter of a `control/` script (runsv's custom control) that may stand in for
    /// this signal: `p c h a i t k`; None for `q 1 2`, which runsv does not customise.
    pub fn letter(self) -> Option<char> {
        match self {
            Sig::Stop => Some('p'),
            Sig::Cont => Some('c'),
            Sig::Hup => Some('h'),
            Sig::Alrm => Some('a'),
            Sig::Int => Some('i'),
            Sig::Term => Some('t'),
            Sig::Kill => Some('k'),
            Sig::Quit | Sig::Usr1 | Sig::Usr2 => None,
        }
    }

    /// The signal to send.
    pub fn signal(self) -> Signal {
        match self {
            Sig::Stop => Signal::STOP,
            Sig::Cont => Signal::CONT,
            Sig::Hup => Signal::HUP,
            Sig::Alrm => Signal::ALARM,
            Sig::Int => Signal::INT,
            Sig::Term => Signal::TERM,
            Sig::Kill => Signal::KILL,
            Sig::Quit => Signal::QUIT,
            Sig::Usr1 => Signal::USR1,
            Sig::Usr2 => Signal::USR2,
        }
    }
}

impl Cmd {
    /// The command for a control byte; `None` for bytes that mean nothing (ignored).
    pub fn from_byte(b: u8) -> Option<Cmd> {
        Some(match b {
            b'u' => Cmd::Up,
            b'd' => Cmd::Down,
            b'o' => Cmd::Once,
            b'x' => Cmd::Exit,
            b'p' => Cmd::Signal(Sig::Stop),
            b'c' => Cmd::Signal(Sig::Cont),
            b'h' => Cmd::Signal(Sig::Hup),
            b'a' => Cmd::Signal(Sig::Alrm),
            b'i' => Cmd::Signal(Sig::Int),
            b't' => Cmd::Signal(Sig::Term),
            b'k' => Cmd::Signal(Sig::Kill),
            b'q' => Cmd::Signal(Sig::Quit),
            b'1' => Cmd::Signal(Sig::Usr1),
            b'2' => Cmd::Signal(Sig::Usr2),
            _ => return None,
        })
    }

    /// The control byte of this command.
    pub fn byte(self) -> u8 {
        match self {
            Cmd::Up => b'u',
            Cmd::Down => b'd',
            Cmd::Once => b'o',
            Cmd::Exit => b'x',
            Cmd::Signal(s) => match s {
                Sig::Stop => b'p',
                Sig::Cont => b'c',
                Sig::Hup => b'h',
                Sig::Alrm => b'a',
                Sig::Int => b'i',
                Sig::Term => b't',
                Sig::Kill => b'k',
                Sig::Quit => b'q',
                Sig::Usr1 => b'1',
                Sig::Usr2 => b'2',
            },
        }
    }
}

/// Parses a signal name (`TERM`, `SIGTERM`, `term`) or number (`15`).
pub fn parse_signal(text: &str) -> Option<Signal> {
    let t = text.trim();
    if let Ok(n) = t.parse::<i32>() {
        return Signal::from_named_raw(n);
    }
    let upper = t.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    Some(match name {
        "HUP" => Signal::HUP,
        "INT" => Signal::INT,
        "QUIT" => Signal::QUIT,
        "ILL" => Signal::ILL,
        "TRAP" => Signal::TRAP,
        "ABRT" => Signal::ABORT,
        "BUS" => Signal::BUS,
        "FPE" => Signal::FPE,
        "KILL" => Signal::KILL,
        "USR1" => Signal::USR1,
        "SEGV" => Signal::SEGV,
        "USR2" => Signal::USR2,
        "PIPE" => Signal::PIPE,
        "ALRM" => Signal::ALARM,
        "TERM" => Signal::TERM,
        "STKFLT" => Signal::STKFLT,
        "CHLD" => Signal::CHILD,
        "CONT" => Signal::CONT,
        "STOP" => Signal::STOP,
        "TSTP" => Signal::TSTP,
        "TTIN" => Signal::TTIN,
        "TTOU" => Signal::TTOU,
        "URG" => Signal::URG,
        "XCPU" => Signal::XCPU,
        "XFSZ" => Signal::XFSZ,
        "VTALRM" => Signal::VTALARM,
        "PROF" => Signal::PROF,
        "WINCH" => Signal::WINCH,
        "IO" | "POLL" => Signal::IO,
        "PWR" => Signal::POWER,
        "SYS" => Signal::SYS,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_letter_round_trips() {
        for &b in b"udoxpchaitkq12" {
            let c = Cmd::from_byte(b).unwrap();
            assert_eq!(c.byte(), b);
        }
        for b in [0u8, b'\n', b'U', b'r', b'z', 0xff] {
            assert_eq!(Cmd::from_byte(b), None, "byte {b}");
        }
    }

    #[test]
    fn signal_names() {
        assert_eq!(parse_signal("TERM"), Some(Signal::TERM));
        assert_eq!(parse_signal("sigusr1\n"), Some(Signal::USR1));
        assert_eq!(parse_signal("9"), Some(Signal::KILL));
        assert_eq!(parse_signal("HUP"), Some(Signal::HUP));
        // Every name svstat shows reads back (STKFLT was missing).
        for n in 1..=31 {
            let name = crate::report::signal_name(n);
            assert_eq!(parse_signal(&name), Signal::from_named_raw(n), "{name}");
        }
        assert_eq!(parse_signal("0"), None);
        assert_eq!(parse_signal("999"), None);
        assert_eq!(parse_signal("NOPE"), None);
        assert_eq!(parse_signal(""), None);
    }
}
