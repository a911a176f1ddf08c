//! install.sh into a temp DESTDIR: every program, man page, the logging policy (which
//! svactivate then reads as it is), the install dir and the systemd unit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const ACTIVATE: &str = concat!(env!("TEND_BIN_DIR"), "/svactivate");

fn top() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The programs: one per file of bins/src/prog.
fn programs() -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(top().join("bins/src/prog"))
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            p.file_stem().unwrap().to_string_lossy().into_owned()
        })
        .collect();
    v.sort();
    v
}

/// Runs install.sh with the test build as TARGET and these variables.
fn install(dest: &Path, vars: &[(&str, &str)]) -> std::process::Output {
    let target = Path::new(ACTIVATE).parent().unwrap();
    let mut cmd = Command::new(top().join("install.sh"));
    cmd.env("DESTDIR", dest).env("TARGET", target);
    for var in [
        "PREFIX",
        "BINDIR",
        "MANDIR",
        "SYSCONFDIR",
        "RCDIR",
        "UNITDIR",
        "LOG_USER",
        "SVPREFIX",
        "GZIP_MAN",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(vars.iter().copied());
    run(&mut cmd)
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn installs_into_destdir_with_the_defaults() {
    let tmp = TempDir::new("install-default");
    let dest = tmp.join("root");
    let out = install(&dest, &[]);
    let (o, e) = texts(&out);
    assert!(out.status.success(), "{o}{e}");
    assert_eq!(e, "");
    let bin = dest.join("usr/local/sbin");
    assert_eq!(mode(&bin.join("tend")), 0o755);
    assert_eq!(programs().len(), PROGRAMS.len());
    for prog in programs() {
        assert_eq!(fs::read_link(bin.join(&prog)).unwrap(), Path::new("tend"));
        // The link runs the program it is named after.
        let out = run(Command::new(bin.join(&prog)).arg("--no-such-option"));
        let (_, e) = texts(&out);
        assert_eq!(out.status.code(), Some(100), "{prog}: {e}");
        assert!(e.starts_with(&format!("{prog}: ")), "{prog}: {e}");
    }
    for entry in fs::read_dir(top().join("man")).unwrap() {
        let page = entry.unwrap().file_name().to_string_lossy().into_owned();
        let sec = page.rsplit('.').next().unwrap();
        let path = dest.join(format!("usr/local/share/man/man{sec}/{page}"));
        assert_eq!(mode(&path), 0o644, "{page}");
        assert_eq!(
            fs::read(&path).unwrap(),
            fs::read(top().join("man").join(&page)).unwrap()
        );
    }
    assert!(dest.join("etc/rc").is_dir());
    let conf = read(&dest.join("etc/tend/logging.conf"));
    assert!(
        conf.contains("\nlogger = /usr/local/sbin/tend-log\n"),
        "{conf}"
    );
    assert!(conf.contains("\nuser =\n"), "{conf}");
    assert!(!conf.contains('@'), "{conf}");
    let unit = read(&dest.join("usr/local/lib/systemd/system/tend.service"));
    assert!(
        unit.contains("\nExecStart=/usr/local/sbin/tend-scan /var/service\n"),
        "{unit}"
    );
    assert!(unit.contains("\nExecStartPost=-/usr/local/sbin/svactivate --all\n"));
    assert!(unit.contains("\nKillMode=mixed\n"));

    // The shipped policy file is read by svactivate as it is.
    let site = TempDir::new("install-site");
    write_exec(&site.join("rc/web/run"), "#!/bin/sh\nexec sleep 1000\n");
    fs::create_dir(site.join("sv")).unwrap();
    let mut cmd = Command::new(ACTIVATE);
    cmd.args(["-n", "web"])
        .env("SVDIR", site.join("sv"))
        .env("TEND_INSTALL_DIR", site.join("rc"))
        .env("TEND_LOG_CONF", dest.join("etc/tend/logging.conf"));
    for var in [
        "TEND_LOGGER",
        "TEND_LOG_OPTIONS",
        "TEND_LOG_ROOT",
        "TEND_LOG_USER",
    ] {
        cmd.env_remove(var);
    }
    cmd.env_remove("TEND_LOG_SIZE").env_remove("TEND_LOG_COUNT");
    let out = run(&mut cmd);
    assert!(out.status.success(), "{:?}", texts(&out));
    assert_eq!(
        read(&site.join("sv/web/log/run")).lines().last(),
        Some("exec /usr/local/sbin/tend-log -s 1M -n 10 /var/log/web")
    );

    // Installing again keeps the admin's policy and puts the new one beside it.
    fs::write(dest.join("etc/tend/logging.conf"), "size = 5M\n").unwrap();
    let out = install(&dest, &[]);
    assert!(out.status.success(), "{:?}", texts(&out));
    assert_eq!(read(&dest.join("etc/tend/logging.conf")), "size = 5M\n");
    assert_eq!(read(&dest.join("etc/tend/logging.conf.new")), conf);
}

/// The variables debian/rules passes (override_dh_auto_install), but DESTDIR.
const DEBIAN_VARS: [(&str, &str); 7] = [
    ("PREFIX", "/usr"),
    ("BINDIR", "/usr/bin"),
    ("SYSCONFDIR", "/etc"),
    ("UNITDIR", "/lib/systemd/system"),
    ("LOG_USER", "_tend-log"),
    ("SVPREFIX", "tend-"),
    ("GZIP_MAN", "1"),
];

#[test]
fn installs_the_debian_layout() {
    let rules = read(&top().join("debian/rules"));
    let words: Vec<&str> = rules.split_whitespace().collect();
    for (var, value) in DEBIAN_VARS {
        let word = format!("{var}={value}");
        assert!(words.contains(&word.as_str()), "debian/rules lacks {word}");
    }
    let tmp = TempDir::new("install-debian");
    let dest = tmp.join("root");
    let out = install(&dest, &DEBIAN_VARS);
    assert!(out.status.success(), "{:?}\n{}", texts(&out), tmp.listing());
    let bin = dest.join("usr/bin");
    // daemontools' names get the prefix (the package's alternatives give them back their
    // plain names), and the link runs the program all the same.
    for prog in programs() {
        let clash = matches!(prog.as_str(), "svc" | "svok" | "svstat");
        let name = if clash {
            format!("tend-{prog}")
        } else {
            prog.clone()
        };
        assert_eq!(fs::read_link(bin.join(&name)).unwrap(), Path::new("tend"));
        assert_eq!(bin.join(&prog).exists(), !clash, "{prog}");
        let out = run(Command::new(bin.join(&name)).arg("--no-such-option"));
        let (_, e) = texts(&out);
        assert!(e.starts_with(&format!("{prog}: ")), "{name}: {e}");
    }
    let man8 = dest.join("usr/share/man/man8");
    assert!(man8.join("svactivate.8.gz").is_file());
    assert!(dest.join("usr/share/man/man7/tend.7.gz").is_file());
    for page in ["svc", "svok", "svstat"] {
        assert!(man8.join(format!("tend-{page}.8.gz")).is_file(), "{page}");
        assert!(!man8.join(format!("{page}.8.gz")).exists(), "{page}");
    }
    let conf = read(&dest.join("etc/tend/logging.conf"));
    assert!(conf.contains("\nlogger = /usr/bin/tend-log\n"), "{conf}");
    assert!(conf.contains("\nuser = _tend-log\n"), "{conf}");
    let unit = read(&dest.join("lib/systemd/system/tend.service"));
    assert!(
        unit.contains("\nExecStart=/usr/bin/tend-scan /var/service\n"),
        "{unit}"
    );
}

#[test]
fn refuses_without_a_build() {
    let tmp = TempDir::new("install-nobuild");
    let mut cmd = Command::new(top().join("install.sh"));
    cmd.env("DESTDIR", tmp.join("root"))
        .env("TARGET", tmp.join("nothing"));
    let out = run(&mut cmd);
    let (_, e) = texts(&out);
    assert_eq!(out.status.code(), Some(111), "{e}");
    assert!(
        e.starts_with("install.sh: fatal: unable to find ")
            && e.ends_with(": run cargo build --release first\n"),
        "{e}"
    );
    assert!(!tmp.join("root").exists());
}
