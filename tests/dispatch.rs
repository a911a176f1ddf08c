//! The one executable: `tend` runs the program it is run as (by a link's name, with or
//! without a path), or the one `tend PROGRAM` names; `tend` alone lists them; an unknown
//! name is a one-line usage error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use common::{run, texts, TempDir, PROGRAMS};

const TEND: &str = env!("CARGO_BIN_EXE_tend");

/// Exit code and stderr of `cmd`, which must print nothing on stdout.
fn refused(cmd: &mut Command) -> (Option<i32>, String) {
    let out = run(cmd);
    let (o, e) = texts(&out);
    assert_eq!(o, "", "{e}");
    (out.status.code(), e)
}

#[test]
fn every_name_runs_its_program_as_a_link_and_as_tend_name() {
    for prog in PROGRAMS {
        let link = Path::new(env!("TEND_BIN_DIR")).join(prog);
        assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("tend"));
        // An option no program has: each answers with its own usage error, exit 100.
        let by_link = refused(Command::new(&link).arg("--no-such-option"));
        let by_arg = refused(Command::new(TEND).args([prog, "--no-such-option"]));
        assert_eq!(by_link.0, Some(100), "{prog}: {}", by_link.1);
        assert!(
            by_link.1.starts_with(&format!("{prog}: fatal: "))
                && by_link.1.contains(&format!("\n{prog}: usage: ")),
            "{prog}: {}",
            by_link.1
        );
        assert_eq!(by_arg, by_link, "{prog}");
    }
}

#[test]
fn arguments_reach_the_program() {
    let t = TempDir::new("dispatch-args");
    let missing = t.join("no-such-service");
    // svok names the dir it could not open: the argument after the program's name.
    let (code, e) = refused(Command::new(TEND).arg("svok").arg(&missing));
    assert_eq!(code, Some(100));
    assert_eq!(
        e,
        format!(
            "svok: fatal: unable to open {}: file does not exist\n",
            missing.display()
        )
    );
    let (code, e2) = refused(Command::new(TEND).arg0("svok").arg(&missing));
    assert_eq!((code, e2), (Some(100), e));
}

#[test]
fn tend_alone_lists_the_programs() {
    let out = run(&mut Command::new(TEND));
    let (o, e) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{e}");
    assert_eq!(e, "");
    assert_eq!(
        o,
        format!(
            "usage: tend PROGRAM [ARGS...]\nprograms: {}\n",
            PROGRAMS.join(" ")
        )
    );
    let help = run(Command::new(TEND).arg("--help"));
    assert_eq!(texts(&help).0, o);
}

#[test]
fn an_unknown_program_is_a_one_line_usage_error() {
    for name in ["nosuch", "tend", "scan", "", "svc/"] {
        let (code, e) = refused(Command::new(TEND).args([name, "-u", "x"]));
        assert_eq!(code, Some(100), "{name:?}: {e}");
        assert_eq!(e.lines().count(), 1, "{name:?}: {e}");
        assert!(
            e.starts_with(&format!(
                "tend: usage: no program named {name}: tend runs tend-scan, "
            )),
            "{name:?}: {e}"
        );
    }
}

#[test]
fn a_link_anywhere_by_any_path_and_the_tend_names_of_the_sv_tools() {
    let t = TempDir::new("dispatch-link");
    let dir = t.join("bin");
    std::fs::create_dir(&dir).unwrap();
    for name in ["svstat", "tend-svstat", "tend-0.1"] {
        std::os::unix::fs::symlink(TEND, dir.join(name)).unwrap();
    }
    let missing = t.join("gone");
    let svstat = Path::new(env!("TEND_BIN_DIR")).join("svstat");
    let want = run(Command::new(svstat).arg(&missing));
    let want = (want.status.code(), texts(&want));
    assert!(want.1 .1.starts_with("svstat: warning: "), "{want:?}");
    // By absolute path, by a relative one, and by the name daemontools does not own.
    for (cwd, path) in [
        (t.path(), dir.join("svstat")),
        (dir.as_path(), Path::new("./svstat").to_path_buf()),
        (t.path(), dir.join("tend-svstat")),
    ] {
        let out = run(Command::new(&path).current_dir(cwd).arg(&missing));
        assert_eq!((out.status.code(), texts(&out)), want, "{path:?}");
    }
    // Under a name that is no program, it is `tend`.
    let out = run(&mut Command::new(dir.join("tend-0.1")));
    assert!(
        texts(&out).0.starts_with("usage: tend PROGRAM"),
        "{:?}",
        texts(&out)
    );
}

#[test]
fn tend_scan_without_links_runs_its_own_executable_as_the_supervisor() {
    // `tend tend-scan DIR` from a build tree: no `tend-supervise` beside it, none in PATH.
    let t = TempDir::new("dispatch-alone");
    let bin = t.join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::copy(TEND, bin.join("tend")).unwrap();
    let marker = t.join("web.started");
    common::write_exec(
        &t.join("sv/web/run"),
        &format!("#!/bin/sh\necho >'{}'\nexec sleep 1000\n", marker.display()),
    );
    let mut cmd = Command::new(bin.join("tend"));
    cmd.arg("tend-scan")
        .arg(t.join("sv"))
        .env("PATH", "/usr/bin:/bin")
        .stdin(std::process::Stdio::null())
        .stderr(std::fs::File::create(t.join("stderr")).unwrap());
    let mut scan = common::Daemon::spawn(&mut cmd);
    common::wait_until(common::LIMIT, "web to start", || marker.exists());
    let sup = common::supervisors(scan.pid(), "web");
    assert_eq!(sup.len(), 1, "{}", common::read(&t.join("stderr")));
    scan.signal(15);
    assert!(scan.wait_exit(common::LIMIT).success());
    assert_eq!(
        common::read(&t.join("stderr")),
        "tend-scan: info: stopping 1 service\n"
    );
}
