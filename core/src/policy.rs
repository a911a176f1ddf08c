//! The distro's side of activation: where things live (install dir, live dir, log root)
//! and the logging policy that writes a new service's `log/run`.
//!
//! The policy is one file of `key = value` lines, `/etc/tend/logging.conf` by default
//! (`$TEND_LOG_CONF` names another; empty means none), overridden key by key by
//! environment variables, so that tests and unusual layouts need no file at all.
//! Everything here is pure except [`Policy::load`], which reads the file and the
//! environment.
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::{Ctx, Error};

/// The logging policy file when `$TEND_LOG_CONF` is unset.
pub const DEFAULT_CONF: &str = "/etc/tend/logging.conf";
/// The install dir when `$TEND_INSTALL_DIR` is unset or empty.
pub const DEFAULT_INSTALL_DIR: &str = "/etc/rc";
/// The log root when neither the file nor `$TEND_LOG_ROOT` sets one.
pub const DEFAULT_LOG_ROOT: &str = "/var/log";

/// The keys of the policy file, each with the environment variable that overrides it.
pub const KEYS: [(&str, &str); 6] = [
    ("logger", "TEND_LOGGER"),
    ("options", "TEND_LOG_OPTIONS"),
    ("root", "TEND_LOG_ROOT"),
    ("user", "TEND_LOG_USER"),
    ("size", "TEND_LOG_SIZE"),
    ("count", "TEND_LOG_COUNT"),
];

/// The install dir: `$TEND_INSTALL_DIR`, or /etc/rc when unset or empty.
pub fn install_dir() -> PathBuf {
    match std::env::var_os("TEND_INSTALL_DIR") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(DEFAULT_INSTALL_DIR),
    }
}

/// Checks a NAME argument of svactivate and svdeactivate: a service dir's name in the
/// install dir and the live dir, so no slash, no leading dot, not empty, valid UTF-8.
pub fn check_name(name: &std::ffi::OsStr) -> Result<&str, Error> {
    let shown = name.to_string_lossy();
    let bad =
        |why: &str| Error::Invalid(format!("unable to use {shown:?} as a service name: {why}"));
    let name = name.to_str().ok_or_else(|| bad("not UTF-8"))?;
    if name.is_empty() {
        Err(bad("empty"))
    } else if name.contains('/') {
        Err(bad("it has a slash"))
    } else if name.starts_with('.') {
        Err(bad("it starts with a dot"))
    } else if name.chars().any(|c| c.is_control()) {
        Err(bad("it has control characters"))
    } else {
        Ok(name)
    }
}

/// How a new service's logger is run: `exec LOGGER OPTIONS [-u USER] [-s SIZE]
/// [-n COUNT] ROOT/NAME`; an empty user, size or count leaves its option out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// The logger program, a name looked up in `$PATH` or a path. Default `tend-log`.
    pub logger: String,
    /// Further options, shell words put in the script as written. Default none.
    pub options: String,
    /// The log root, absolute: service NAME logs to ROOT/NAME. Default /var/log.
    pub root: PathBuf,
    /// The user the logger switches to after opening its logdir (`-u`). Default none:
    /// the logger stays root.
    pub user: String,
    /// Rotation size (`-s`), as tend-log takes it: a number with k, M or G. Default 1M.
    pub size: String,
    /// Archives kept (`-n`). Default 10.
    pub count: String,
    /// Where the settings came from, for the comment in the generated script, e.g.
    /// "/etc/tend/logging.conf and TEND_LOG_ROOT".
    pub source: String,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            logger: "tend-log".into(),
            options: String::new(),
            root: PathBuf::from(DEFAULT_LOG_ROOT),
            user: String::new(),
            size: "1M".into(),
            count: "10".into(),
            source: "built-in defaults".into(),
        }
    }
}

impl Policy {
    /// Reads the policy file (if any) and the environment.
    ///
    /// `$TEND_LOG_CONF` names the file; empty means no file. Without it,
    /// /etc/tend/logging.conf is read if it exists. A file named by `$TEND_LOG_CONF` must
    /// exist. Errors: the file cannot be read (Sys), or a line or value is bad (Invalid).
    pub fn load() -> Result<Policy, Error> {
        let (path, must_exist) = match std::env::var_os("TEND_LOG_CONF") {
            Some(p) if p.is_empty() => (None, false),
            Some(p) => (Some(PathBuf::from(p)), true),
            None => (Some(PathBuf::from(DEFAULT_CONF)), false),
        };
        let mut policy = Policy::default();
        if let Some(path) = path {
            match std::fs::read(&path) {
                Ok(bytes) => {
                    let text = String::from_utf8_lossy(&bytes);
                    policy = Policy::parse(&text, &path)?;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => {}
                Err(e) => return Err(e).ctx(|| format!("read {}", path.to_string_lossy())),
            }
        }
        policy.apply_env(|var| std::env::var_os(var))?;
        Ok(policy)
    }

    /// Parses the text of a policy file read from `path`, starting from the defaults.
    ///
    /// Lines are `key = value`; blank lines and lines starting with `#` are skipped;
    /// spaces around key and value are dropped; a later line for the same key wins.
    /// Unknown keys and bad values are errors naming the file and line.
    pub fn parse(text: &str, path: &Path) -> Result<Policy, Error> {
        let shown = path.to_string_lossy();
        let mut p = Policy {
            source: shown.to_string(),
            ..Policy::default()
        };
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |why: String| {
                Error::Invalid(format!("unable to read {shown}: line {}: {why}", n + 1))
            };
            let Some((key, value)) = line.split_once('=') else {
                return Err(bad(format!("not key = value: {line}")));
            };
            p.set(key.trim(), value.trim()).map_err(bad)?;
        }
        Ok(p)
    }

    /// Applies the environment variables of [`KEYS`] that are set (even to the empty
    /// string) on top of the file's settings; `get` reads one variable.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<OsString>) -> Result<(), Error> {
        let mut used = Vec::new();
        for (key, var) in KEYS {
            if let Some(v) = get(var) {
                let v = v
                    .into_string()
                    .map_err(|_| Error::Invalid(format!("unable to use {var}: not UTF-8")))?;
                self.set(key, v.trim())
                    .map_err(|why| Error::Invalid(format!("unable to use {var}: {why}")))?;
                used.push(var);
            }
        }
        if !used.is_empty() {
            self.source = format!("{} and {}", self.source, used.join(", "));
        }
        Ok(())
    }

    /// Sets one key after checking its value; the error says why the value is refused.
    fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "logger" if value.is_empty() => return Err("logger: empty".into()),
            "logger" => self.logger = one_line(key, value)?,
            "options" => self.options = one_line(key, value)?,
            "root" if !value.starts_with('/') => {
                return Err(format!("root: not an absolute path: {value}"))
            }
            "root" => self.root = PathBuf::from(one_line(key, value)?),
            "user"
                if !value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b)) =>
            {
                return Err(format!("user: not a user name or uid:gid: {value}"))
            }
            "user" => self.user = value.into(),
            "size" if !value.is_empty() && !is_size(value) => {
                return Err(format!("size: not a size such as 1M or 500k: {value}"))
            }
            "size" => self.size = value.into(),
            "count" if !value.bytes().all(|b| b.is_ascii_digit()) => {
                return Err(format!("count: not a number: {value}"))
            }
            "count" => self.count = value.into(),
            _ => return Err(format!("unknown key: {key}")),
        }
        Ok(())
    }

    /// The logdir of service `name`: ROOT/NAME.
    pub fn logdir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The text of `log/run` for service `name`: a readable shell script an admin may edit.
    pub fn log_run(&self, name: &str) -> String {
        let mut cmd = vec![quote(&self.logger)];
        if !self.options.is_empty() {
            cmd.push(self.options.clone());
        }
        for (opt, value) in [("-u", &self.user), ("-s", &self.size), ("-n", &self.count)] {
            if !value.is_empty() {
                cmd.push(format!("{opt} {}", quote(value)));
            }
        }
        cmd.push(quote(&self.logdir(name).to_string_lossy()));
        format!(
            "#!/bin/sh\n# Generated by svactivate from {}; edit freely.\nexec {}\n",
            self.source,
            cmd.join(" ")
        )
    }
}

/// Refuses values that would break the one-line script.
fn one_line(key: &str, value: &str) -> Result<String, String> {
    if value.chars().any(|c| c.is_control()) {
        return Err(format!("{key}: control characters are not allowed"));
    }
    Ok(value.into())
}

/// Whether `s` is a size as tend-log takes it: digits, then at most one of k, M, G.
fn is_size(s: &str) -> bool {
    let digits = s.trim_end_matches(['k', 'K', 'm', 'M', 'g', 'G']);
    !digits.is_empty() && s.len() - digits.len() <= 1 && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Quotes a word for sh(1) only when it needs it, so the common script stays plain.
pub fn quote(word: &str) -> String {
    let plain = |b: u8| b.is_ascii_alphanumeric() || b"_./:@%+=,-".contains(&b);
    if !word.is_empty() && word.bytes().all(plain) {
        word.into()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |var| {
            pairs
                .iter()
                .find(|(k, _)| *k == var)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn defaults_make_a_plain_script() {
        assert_eq!(
            Policy::default().log_run("web"),
            "#!/bin/sh\n# Generated by svactivate from built-in defaults; edit freely.\n\
             exec tend-log -s 1M -n 10 /var/log/web\n"
        );
    }

    #[test]
    fn the_file_sets_every_key() {
        let text =
            "# tend's logging policy\n\n logger = /usr/sbin/tend-log \noptions=-t tai64n -l 4k\n\
                    root = /srv/logs\nuser = _tend-log\nsize = 500k\ncount = 3\n";
        let p = Policy::parse(text, Path::new("/etc/tend/logging.conf")).unwrap();
        assert_eq!(
            p.log_run("db"),
            "#!/bin/sh\n# Generated by svactivate from /etc/tend/logging.conf; edit freely.\n\
             exec /usr/sbin/tend-log -t tai64n -l 4k -u _tend-log -s 500k -n 3 /srv/logs/db\n"
        );
        assert_eq!(p.logdir("db"), PathBuf::from("/srv/logs/db"));
    }

    #[test]
    fn empty_values_leave_options_out() {
        let text = "logger = multilog\noptions = t s1000000\nsize =\ncount=\n";
        let mut p = Policy::parse(text, Path::new("c")).unwrap();
        p.apply_env(env(&[])).unwrap();
        assert_eq!(
            p.log_run("x").lines().last(),
            Some("exec multilog t s1000000 /var/log/x")
        );
    }

    #[test]
    fn environment_overrides_the_file() {
        let mut p = Policy::parse("root = /var/log\nsize = 2M\n", Path::new("/c")).unwrap();
        p.apply_env(env(&[
            ("TEND_LOG_ROOT", "/tmp/logs"),
            ("TEND_LOG_USER", "nobody"),
            ("TEND_LOG_COUNT", ""),
        ]))
        .unwrap();
        assert_eq!(
            p.log_run("web"),
            "#!/bin/sh\n# Generated by svactivate from /c and TEND_LOG_ROOT, TEND_LOG_USER, \
             TEND_LOG_COUNT; edit freely.\nexec tend-log -u nobody -s 2M /tmp/logs/web\n"
        );
    }

    #[test]
    fn odd_names_are_quoted() {
        let p = Policy {
            root: PathBuf::from("/var/my logs"),
            ..Policy::default()
        };
        assert_eq!(
            p.log_run("it's").lines().last(),
            Some(r"exec tend-log -s 1M -n 10 '/var/my logs/it'\''s'")
        );
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a-b_c.d/e:1@2"), "a-b_c.d/e:1@2");
        assert_eq!(quote("$HOME"), "'$HOME'");
    }

    #[test]
    fn bad_lines_are_refused_with_file_and_line() {
        let path = Path::new("/etc/tend/logging.conf");
        let cases = [
            ("sise = 1M", "line 1: unknown key: sise"),
            ("\n\nsize 1M", "line 3: not key = value: size 1M"),
            (
                "size = 1X",
                "line 1: size: not a size such as 1M or 500k: 1X",
            ),
            ("size = M", "line 1: size: not a size such as 1M or 500k: M"),
            (
                "size = 1kk",
                "line 1: size: not a size such as 1M or 500k: 1kk",
            ),
            ("count = ten", "line 1: count: not a number: ten"),
            (
                "root = var/log",
                "line 1: root: not an absolute path: var/log",
            ),
            (
                "user = a b",
                "line 1: user: not a user name or uid:gid: a b",
            ),
            ("logger =", "line 1: logger: empty"),
        ];
        for (text, why) in cases {
            let err = Policy::parse(text, path).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("unable to read /etc/tend/logging.conf: {why}"),
                "{text:?}"
            );
            assert_eq!(err.exit_code(), 100);
        }
        let mut p = Policy::default();
        let err = p.apply_env(env(&[("TEND_LOG_ROOT", "logs")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unable to use TEND_LOG_ROOT: root: not an absolute path: logs"
        );
    }

    #[test]
    fn service_names() {
        use std::ffi::OsStr;
        assert_eq!(check_name(OsStr::new("web")).unwrap(), "web");
        assert_eq!(check_name(OsStr::new("a b-c.d")).unwrap(), "a b-c.d");
        for (arg, why) in [
            ("", "empty"),
            ("a/b", "it has a slash"),
            (".web", "it starts with a dot"),
            ("..", "it starts with a dot"),
            ("a\nb", "it has control characters"),
        ] {
            let err = check_name(OsStr::new(arg)).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("unable to use {arg:?} as a service name: {why}")
            );
            assert_eq!(err.exit_code(), 100);
        }
    }

    #[test]
    fn sizes() {
        for s in ["0", "4096", "1M", "500k", "2G", "16K", "1m"] {
            assert!(is_size(s), "{s}");
        }
        for s in ["", "k", "1.5M", "-1", "1MB", " 1"] {
            assert!(!is_size(s), "{s}");
        }
    }
}
