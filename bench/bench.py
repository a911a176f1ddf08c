#!/usr/bin/env python3
"""tend against daemontools, runit and s6, side by side in one run.

usage: bench/bench.py [--trials N] [--only METRIC,...] [--suites tend,daemontools,...]

Measures (DESIGN/issue 6): memory per logged service, respawn after SIGKILL (with the
spawn floor), `svc -t` to the new start (and the control command's own wall time),
starts in a 10 s crash loop, bring-up of 1000 services and of 300 logged pairs, idle
context switches and CPU ticks over 10 s. Each trial runs every suite in turn
(interleaved), so machine noise hits all alike; the table gives medians with min/max.
The "reaper" suite (bench/reaper.c, built with cc if there is one) is a yardstick for
respawn only: a C loop of waitpid, vfork and exec, the least any supervisor can do.

Installs nothing: the anchors are used when Debian's daemontools, runit and s6 are
installed (apt-get install -y daemontools runit s6). tend comes from target/release
(cargo build --release first), or TEND_BIN=DIR. Every process it starts is a
descendant of a scanner it started; cleanup kills exactly those pids.
"""
import argparse
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEND = os.environ.get("TEND_BIN", os.path.join(ROOT, "target", "release"))

SUITES = {
    # name: (scanner argv prefix, control argv for TERM, logger run line, logger comm,
    #        "is it supervised?" argv prefix)
    "tend": ([f"{TEND}/tend-scan"], [f"{TEND}/svc", "-t"], f"exec {TEND}/tend-log ./main", "tend-log",
             [f"{TEND}/svok"]),
    # Flat mode: tend-scan -F supervises every service and logger itself.
    "tend-flat": ([f"{TEND}/tend-scan", "-F"], [f"{TEND}/svc", "-t"], f"exec {TEND}/tend-log ./main",
                  "tend-log", [f"{TEND}/svok"]),
    "daemontools": (["/usr/bin/svscan"], ["/usr/bin/svc", "-t"], "exec multilog t ./main", "multilog",
                    ["/usr/bin/svok"]),
    "runit": (["/usr/bin/runsvdir"], ["/usr/bin/sv", "term"], "mkdir -p main; exec svlogd -tt main", "svlogd",
              ["/usr/bin/sv", "status"]),
    "s6": (["/usr/bin/s6-svscan", "-c", "4000"], ["/usr/bin/s6-svc", "-t"], "exec s6-log t ./main", "s6-log",
           ["/usr/bin/s6-svok"]),
    # bench/reaper.c, built by main() when cc is installed: respawn only.
    "reaper": ([None], None, None, None, None),
}
# TEND_BIN_BEFORE=DIR: an older build of tend, measured in the same run as "tend-before"
# (the programs by name in DIR: nine executables, or links to one).
BEFORE = os.environ.get("TEND_BIN_BEFORE")
if BEFORE:
    SUITES["tend-before"] = ([f"{BEFORE}/tend-scan"], [f"{BEFORE}/svc", "-t"],
                             f"exec {BEFORE}/tend-log ./main", "tend-log", [f"{BEFORE}/svok"])
LOGGER_COMMS = {s[3] for s in SUITES.values() if s[3]}
# Yardsticks, not anchors: the reaper runs only the respawn metric; tend-before and
# tend-flat all of them.
YARDSTICKS = {"reaper": {"respawn"}, "tend-before": None, "tend-flat": None}


PROGRAMS = ("tend-scan", "tend-supervise", "tend-log", "svc", "svok", "svstat", "svwait",
            "svactivate", "svdeactivate")


def make_links(bindir):
    """The programs' links to the one executable `tend` in bindir, as install.sh makes them
    (a build makes only `tend`)."""
    if not os.path.exists(os.path.join(bindir, "tend")):
        return
    for prog in PROGRAMS:
        link = os.path.join(bindir, prog)
        if os.path.islink(link) and os.readlink(link) == "tend":
            continue
        tmp = f"{link}.{os.getpid()}"
        os.symlink("tend", tmp)
        os.replace(tmp, link)


def available(name):
    progs = [SUITES[name][0][0]] + ([SUITES[name][1][0]] if SUITES[name][1] else [])
    return all(p and os.access(p, os.X_OK) for p in progs)


def build_reaper(tmp):
    """Builds bench/reaper.c into tmp with cc; its path, or None without a compiler."""
    cc = shutil.which("cc")
    if not cc:
        return None
    out = os.path.join(tmp, "reaper")
    r = subprocess.run([cc, "-O2", "-o", out, os.path.join(ROOT, "bench", "reaper.c")])
    return out if r.returncode == 0 else None


def proc_table():
    """pid -> (ppid, comm, utime+stime ticks) for every process."""
    t = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        comm = s[s.index("(") + 1 : s.rindex(")")]
        rest = s[s.rindex(")") + 2 :].split()
        t[int(d)] = (int(rest[1]), comm, int(rest[11]) + int(rest[12]))
    return t


def tree(root):
    """The pids of root and all its descendants."""
    t = proc_table()
    kids = {}
    for pid, (ppid, _, _) in t.items():
        kids.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        if p in t:
            out.append(p)
            todo.extend(kids.get(p, []))
    return out, t


def smaps(pid):
    priv = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                k, v = line.split()[:2]
                if k in ("Private_Clean:", "Private_Dirty:"):
                    priv += int(v)
                elif k == "Pss:":
                    pss += int(v)
    except OSError:
        pass
    return priv, pss


def switches(pid):
    n = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if "ctxt_switches" in line:
                    n += int(line.split()[1])
    except OSError:
        pass
    return n


class Bench:
    """One scan dir, one scanner, one fifo every run script reports its pid to."""

    def __init__(self, suite):
        self.suite = suite
        self.dir = tempfile.mkdtemp(prefix=f"tend-bench-{suite}-")
        self.scan = os.path.join(self.dir, "scan")
        os.mkdir(self.scan)
        self.fifo = os.path.join(self.dir, "fifo")
        os.mkfifo(self.fifo)
        self.rd = os.open(self.fifo, os.O_RDWR | os.O_NONBLOCK)
        self.buf = b""
        self.scanner = None
        self.seen = set()

    def service(self, name, body, logged=False):
        d = os.path.join(self.scan, name)
        os.makedirs(d)
        self._script(os.path.join(d, "run"), f"echo $$ > {self.fifo}\n{body}\n")
        if logged:
            os.mkdir(os.path.join(d, "log"))
            self._script(os.path.join(d, "log", "run"), SUITES[self.suite][2] + "\n")
        return d

    @staticmethod
    def _script(path, body):
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body)
        os.chmod(path, 0o755)

    def start(self):
        argv = SUITES[self.suite][0] + [self.scan]
        self.scanner = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
        return time.monotonic()

    def next_pid(self, timeout=30.0):
        """Blocks until a run script reports; returns (pid, monotonic time)."""
        end = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.suite}: no start within {timeout} s")
            r, _, _ = select.select([self.rd], [], [], left)
            if r:
                try:
                    self.buf += os.read(self.rd, 65536)
                except BlockingIOError:
                    pass
        t = time.monotonic()
        line, self.buf = self.buf.split(b"\n", 1)
        return int(line), t

    def wait_starts(self, n, timeout=120.0):
        last = None
        for _ in range(n):
            _, last = self.next_pid(timeout)
        return last

    def wait_loggers(self, n, timeout=60.0):
        end = time.monotonic() + timeout
        while True:
            pids, t = tree(self.scanner.pid)
            if sum(1 for p in pids if t[p][1] in LOGGER_COMMS) >= n:
                return
            if time.monotonic() > end:
                raise TimeoutError(f"{self.suite}: loggers did not start")
            time.sleep(0.05)

    def stop(self):
        """Kills the scanner and every process below it, by pid."""
        if self.scanner:
            pids, _ = tree(self.scanner.pid)
            for p in pids:
                try:
                    os.kill(p, signal.SIGSTOP)
                except ProcessLookupError:
                    pass
            more, _ = tree(self.scanner.pid)
            for p in set(pids) | set(more):
                try:
                    os.kill(p, signal.SIGKILL)
                    os.kill(p, signal.SIGCONT)
                except ProcessLookupError:
                    pass
            self.scanner.wait()
        os.close(self.rd)
        shutil.rmtree(self.dir, ignore_errors=True)


def m_memory(suite, n=100):
    """Private and Pss memory of the scanner's tree, daemons left out, per logged service."""
    b = Bench(suite)
    try:
        for i in range(n):
            b.service(f"s{i}", "exec sleep 100000", logged=True)
        b.start()
        b.wait_starts(n)
        b.wait_loggers(n)
        time.sleep(1.0)  # let start-up garbage settle before reading smaps
        pids, t = tree(b.scanner.pid)
        priv = pss = 0
        for p in pids:
            if t[p][1] == "sleep":
                continue
            a, c = smaps(p)
            priv, pss = priv + a, pss + c
        at = "" if n == 100 else f", {n} services"
        return {f"private KiB per logged service{at}": priv / n, f"Pss KiB per logged service{at}": pss / n}
    finally:
        b.stop()


def m_respawn(suite, rounds=5):
    b = Bench(suite)
    try:
        d = b.service("r", "exec sleep 100000")
        b.start()
        pid, _ = b.next_pid()
        kill_ms, svc_ms, cmd_ms, floor_ms = [], [], [], []
        for _ in range(rounds):
            time.sleep(1.6)  # up for over 1.5 s, so no anchor's restart throttle applies
            t0 = time.monotonic()
            os.kill(pid, signal.SIGKILL)
            pid, t1 = b.next_pid()
            kill_ms.append((t1 - t0) * 1000)
            if SUITES[suite][1]:
                time.sleep(1.6)
                t0 = time.monotonic()
                subprocess.run(SUITES[suite][1] + [d], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                tc = time.monotonic()
                pid, t1 = b.next_pid()
                svc_ms.append((t1 - t0) * 1000)
                cmd_ms.append((tc - t0) * 1000)
            t0 = time.monotonic()
            p = subprocess.Popen(["./run"], cwd=d, stdin=subprocess.DEVNULL)
            fpid, t1 = b.next_pid()
            floor_ms.append((t1 - t0) * 1000)
            p.kill()
            p.wait()
        out = {
            "respawn after SIGKILL, ms": statistics.median(kill_ms),
            "spawn floor, ms": statistics.median(floor_ms),
        }
        if svc_ms:
            out["svc -t to new start, ms"] = statistics.median(svc_ms)
            out["control command wall time, ms"] = statistics.median(cmd_ms)
        return out
    finally:
        b.stop()


def m_crashloop(suite, secs=10.0):
    b = Bench(suite)
    try:
        b.service("c", "exit 1")
        b.start()
        _, t0 = b.next_pid()
        n = 1
        while True:
            try:
                _, t = b.next_pid(timeout=max(0.01, t0 + secs - time.monotonic()))
            except TimeoutError:
                break
            if t - t0 > secs:
                break
            n += 1
        return {"crash loop starts in 10 s": n}
    finally:
        b.stop()


def m_bringup(suite, n, logged):
    b = Bench(suite)
    try:
        for i in range(n):
            b.service(f"b{i}", "exec sleep 100000", logged=logged)
        t0 = b.start()
        t1 = b.wait_starts(n, timeout=300)
        if logged:
            b.wait_loggers(n, timeout=300)
            t1 = time.monotonic()
        key = f"bring-up of {n} {'logged pairs' if logged else 'services'}, s"
        return {key: t1 - t0}
    finally:
        b.stop()


def m_idle(suite, n=100, secs=10.0):
    b = Bench(suite)
    try:
        for i in range(n):
            b.service(f"i{i}", "exec sleep 100000", logged=True)
        b.start()
        b.wait_starts(n)
        b.wait_loggers(n)
        time.sleep(2.0)  # past any start-up throttle
        pids, t = tree(b.scanner.pid)
        pids = [p for p in pids if t[p][1] != "sleep"]
        sw0 = {p: switches(p) for p in pids}
        cpu0 = t
        time.sleep(secs)  # the measurement window
        _, t2 = tree(b.scanner.pid)
        sw = sum(switches(p) - sw0[p] for p in pids)
        ticks = sum(t2[p][2] - cpu0[p][2] for p in pids if p in t2)
        return {"idle context switches / 10 s": sw, "idle CPU ticks / 10 s": ticks}
    finally:
        b.stop()


def m_tool(suite, runs=300):
    """Wall time of the suite's "is it supervised?" tool (tend's svok, daemontools' svok,
    s6-svok, runit's sv status) on a running service, run from this script: start-up
    cost, mostly."""
    b = Bench(suite)
    try:
        d = b.service("t", "exec sleep 100000")
        b.start()
        b.next_pid()
        time.sleep(0.5)
        ms = []
        for _ in range(runs):
            t0 = time.monotonic()
            subprocess.run(SUITES[suite][4] + [d], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            ms.append((time.monotonic() - t0) * 1000)
        return {"status tool run, ms": statistics.median(ms)}
    finally:
        b.stop()


METRICS = {
    "tool": m_tool,
    "memory": m_memory,
    # Not run by default: 1000 logged services (svscan takes at most 1000 dirs in all).
    "memory1000": lambda s: m_memory(s, 1000),
    "respawn": m_respawn,
    "crashloop": m_crashloop,
    "bringup": lambda s: {**m_bringup(s, 1000, False), **m_bringup(s, 300, True)},
    "idle": m_idle,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--only", default=",".join(m for m in METRICS if m != "memory1000"))
    ap.add_argument("--suites", default=",".join(SUITES))
    a = ap.parse_args()
    suites = [s for s in a.suites.split(",") if s]
    for s in suites:
        if s not in SUITES:
            sys.exit(f"bench: fatal: unknown suite {s}")
    make_links(TEND)
    tmp = tempfile.mkdtemp(prefix="tend-bench-")
    try:
        if "reaper" in suites:
            SUITES["reaper"] = ([build_reaper(tmp)], None, None, None, None)
        run(a, suites)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(a, suites):
    missing = [s for s in suites if not available(s)]
    for s in missing:
        why = "cc could not build bench/reaper.c" if s == "reaper" else f"{s} is not installed"
        print(f"bench: warning: {why}; skipped", file=sys.stderr)
    suites = [s for s in suites if s not in missing]
    results = {}  # (metric key, suite) -> [values]
    for trial in range(a.trials):
        for m in a.only.split(","):
            for s in suites:
                if s in YARDSTICKS and YARDSTICKS[s] is not None and m not in YARDSTICKS[s]:
                    continue
                print(f"bench: trial {trial + 1}/{a.trials} {m} {s}", file=sys.stderr)
                try:
                    out = METRICS[m](s)
                except TimeoutError as e:
                    print(f"bench: warning: {e}", file=sys.stderr)
                    continue
                for k, v in out.items():
                    results.setdefault((k, s), []).append(v)
    keys = list(dict.fromkeys(k for k, _ in results))
    sticks = [s for s in suites if s in YARDSTICKS]
    # Each yardstick gets a ratio column: tend over it, but tend-flat over tend (flat mode's
    # goals are set against pair mode).
    pair = {s: ("tend-flat", "tend") if s == "tend-flat" else ("tend", s) for s in sticks}
    print(f"| metric | {' | '.join(suites)} | tend / best anchor |"
          + "".join(f" {pair[s][0]} / {pair[s][1]} |" for s in sticks))
    print("|---|" + "---|" * (len(suites) + 1 + len(sticks)))
    for k in keys:
        cells, meds = [], {}
        for s in suites:
            v = results.get((k, s))
            if not v:
                cells.append("-")
                continue
            meds[s] = statistics.median(v)
            cells.append(f"{meds[s]:.1f} ({min(v):.1f}-{max(v):.1f})" if len(v) > 1 else f"{meds[s]:.1f}")
        anchors = [meds[s] for s in meds if s != "tend" and s not in YARDSTICKS]
        ratio = f"{meds['tend'] / min(anchors):.2f}" if "tend" in meds and anchors and min(anchors) > 0 else "-"
        vs = "".join(f" {meds[pair[s][0]] / meds[pair[s][1]]:.2f} |"
                     if meds.get(pair[s][0]) is not None and meds.get(pair[s][1]) else " - |"
                     for s in sticks)
        print(f"| {k} | {' | '.join(cells)} | {ratio} |{vs}")


if __name__ == "__main__":
    main()
