#!/usr/bin/env python3
"""Writes bins/written-statics.txt, the symbol ordering file the daemons are linked with.

A static binary's data pages are shared with the file until a process writes to them; each
page written costs the process 4 KiB for its life. glibc and std write a few KiB of static
variables at start-up (malloc's arena, the TLS bookkeeping, tunables...), scattered over
seven or eight pages among variables nobody touches. This script finds which ones a tend
daemon writes, and orders them so that the linker packs them together:

  .data.rel.ro and .data: the untouched variables first, the written ones last, next to
  the .got (relro) and to the start of .bss (data);
  .bss: the written variables first.

It runs the three daemons from an unstripped release build (their symbols are needed),
lets each do its usual work (a supervisor restarts its service; a logger logs and rotates;
a scanner starts a logged service), and compares each static variable's bytes in
/proc/PID/mem with the file's image (zeroes for .bss). A variable written with the value
it already had is missed; that only costs a page, never correctness.

usage (as root or as the owner of the processes):
  CARGO_PROFILE_RELEASE_STRIP=false cargo build --release --target-dir /tmp/tend-sym
  bench/written-statics.py /tmp/tend-sym/release > bins/written-statics.txt

Every process it starts it stops, by pid.
"""
import os
import signal
import subprocess
import sys
import tempfile
import time

DAEMONS = ("tend-supervise", "tend-log", "tend-scan")

# glibc variables written with the value they had (lock and unlock, flags set again), which
# a comparison of bytes cannot see: found by the dirty pages they left (/proc/PID/pagemap)
# and placed after the written .data. Measured: an idle tend-log 56.2 -> 52.5 KiB. (Their
# .bss counterparts, the fork handlers, cost the supervisor a page where they were put.)
SAME_VALUE_DATA = ("_IO_list_all", "_IO_2_1_stderr_", "_IO_2_1_stdout_", "_IO_2_1_stdin_",
                   "stderr", "stdout", "stdin", "__libc_single_threaded", "__nptl_nthreads",
                   "__exit_funcs")

# Written, but seen zero again afterwards: the flags the signal handlers set and take()
# clears (tend_core::signals::PENDING). Matched by the start of the mangled name.
WRITTEN_AND_CLEARED = ("_ZN9tend_core7signals7PENDING",)

def sections(binary):
    """{section index: (name, is_nobits, addr, file offset, size)} of the writable ones."""
    out = subprocess.run(["readelf", "-SW", binary], capture_output=True, text=True, check=True).stdout
    secs = {}
    for line in out.splitlines():
        line = line.strip()
        if not line.startswith("[") or "]" not in line:
            continue
        idx, rest = line[1:].split("]", 1)
        f = rest.split()
        if not idx.strip().isdigit() or len(f) < 7 or f[0] == "Name":
            continue
        if "W" in f[6]:
            secs[int(idx)] = (f[0], f[1] == "NOBITS", int(f[2], 16), int(f[3], 16), int(f[4], 16))
    return secs


def objects(binary, secs):
    """[(name, section name, addr, size)] of the sized symbols in writable sections."""
    out = subprocess.run(["readelf", "-sW", binary], capture_output=True, text=True, check=True).stdout
    syms = []
    for line in out.splitlines():
        f = line.split()
        if len(f) < 8 or not f[6].isdigit() or int(f[6]) not in secs:
            continue
        size = int(f[2], 0) if not f[2].startswith("0x") else int(f[2], 16)
        if size > 0:
            syms.append((f[7], secs[int(f[6])][0], int(f[1], 16), size))
    return syms


def written(binary, pid, secs, syms):
    """The names of the symbols whose bytes differ from the file's image."""
    img = open(binary, "rb").read()
    by_name = {s[0]: s for s in secs.values()}
    names = set()
    with open(f"/proc/{pid}/mem", "rb") as mem:
        for name, sec, addr, size in syms:
            _, nobits, saddr, off, _ = by_name[sec]
            init = b"\0" * size if nobits else img[off + addr - saddr: off + addr - saddr + size]
            try:
                mem.seek(addr)
                now = mem.read(size)
            except OSError:
                continue
            if now != init:
                names.add(name)
    return names


def wait_for(p, what, cond, limit=20.0):
    """Polls cond (an OSError counts as false); on timeout stops p and raises."""
    end = time.monotonic() + limit
    while True:
        try:
            if cond():
                return
        except OSError:
            pass
        if time.monotonic() > end:
            stop(p)
            raise TimeoutError(what)
        time.sleep(0.05)


def script(path, body):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body + "\n")
    os.chmod(path, 0o755)


def stop(p):
    try:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def run_supervise(bindir, tmp):
    """A supervisor that started its service, got `t`, and restarted it."""
    sv = os.path.join(tmp, "sv")
    script(os.path.join(sv, "run"), "exec sleep 100000")
    p = subprocess.Popen([os.path.join(bindir, "tend-supervise"), sv], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    pidfile = os.path.join(sv, "supervise", "pid")
    read = lambda: open(pidfile).read().strip() if os.path.exists(pidfile) else ""
    wait_for(p, "service up", lambda: read() != "")
    first = read()
    with open(os.path.join(sv, "supervise", "control"), "w") as c:
        c.write("t")
    wait_for(p, "restart", lambda: read() not in ("", first))
    return p


def run_log(bindir, tmp):
    """A logger that logged 2000 lines and rotated a few times."""
    rd, wr = os.pipe()
    logdir = os.path.join(tmp, "log")
    p = subprocess.Popen([os.path.join(bindir, "tend-log"), "-s", "8192", logdir], stdin=rd,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    os.close(rd)
    os.write(wr, b"".join(b"line %d\n" % i for i in range(2000)))
    wait_for(p, "rotation", lambda: len(os.listdir(logdir)) > 3)
    p.wr = wr  # keep the input open: the logger stays up
    return p


def run_scan(bindir, tmp):
    """A scanner that started one logged service."""
    scan = os.path.join(tmp, "scan")
    script(os.path.join(scan, "a", "run"), "echo hi\nexec sleep 100000")
    script(os.path.join(scan, "a", "log", "run"), "exec cat > /dev/null")
    p = subprocess.Popen([os.path.join(bindir, "tend-scan"), scan], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    st = os.path.join(scan, "a", "log", "supervise", "pid")
    wait_for(p, "logger up", lambda: os.path.exists(st) and open(st).read().strip() != "")
    time.sleep(0.5)  # let the scanner settle after the start-up: reading below is a snapshot
    return p


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    bindir = sys.argv[1]
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    __import__("bench").make_links(bindir)
    hit, order = set(), {}  # order: section name -> [(addr, name)] over all binaries
    runs = {"tend-supervise": run_supervise, "tend-log": run_log, "tend-scan": run_scan}
    for prog in DAEMONS:
        binary = os.path.join(bindir, prog)
        secs = sections(binary)
        syms = objects(binary, secs)
        for name, sec, addr, _ in syms:
            order.setdefault(sec, {}).setdefault(name, addr)
        with tempfile.TemporaryDirectory(prefix="tend-statics-") as tmp:
            p = runs[prog](bindir, tmp)
            try:
                hit |= written(binary, p.pid, secs, syms)
            finally:
                stop(p)
                if hasattr(p, "wr"):
                    os.close(p.wr)
    hit |= {n for names in order.values() for n in names if n.startswith(WRITTEN_AND_CLEARED)}
    out = ["# Written by bench/written-statics.py: the linker's --symbol-ordering-file for the",
           "# daemons (bins/build.rs): the static variables they write, first in .data and .bss."]
    for sec in (".data", ".bss"):
        out += [n for n, _ in sorted(order.get(sec, {}).items(), key=lambda kv: kv[1]) if n in hit]
        if sec == ".data":
            out += [n for n in SAME_VALUE_DATA if n not in hit]
    print("\n".join(out))


if __name__ == "__main__":
    main()
