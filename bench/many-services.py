#!/usr/bin/env python3
"""Bring-up of many unlogged services, and the cost of a status change, per file system.

usage: bench/many-services.py [-n N] [--trials T] [--fs ext4,tmpfs] [--suites tend,tend-flat,tend-before,daemontools,runit]
                              [--changes K]

bring-up: N service dirs (default 1000) in a scan dir on the file system under test, each
`run` = `echo $$ >> SHARED; exec sleep 100000`; the time from starting the scanner until
N lines are in SHARED. The scan dir is written and synced (sync(2)) before the scanner
starts, so no suite pays for the set-up's writeback.
  ext4:  a temp dir under /tmp (or --ext4-dir DIR; `df -T` must say ext4)
  tmpfs: a tmpfs mounted on a temp dir for the run, unmounted after (needs root)
  ext4-journal: a 2 GiB image under --ext4-dir made with mkfs.ext4's defaults (a
         journal) and loop-mounted for the run (needs root). This machine's / is ext4
         without a journal, where each new inode costs a look-up of every inode freed in
         the last 1-6 minutes in its group (recently_deleted() in fs/ext4/ialloc.c)

change: one service; K rounds of (SIGKILL its process, wait for the restart, then 1.1 s
so that no restart throttle applies); per round, the time from the kill until the status
file shows the new pid, median over the rounds. The run script reports its pid after
the supervisor wrote the status, or before: this times the whole restart, status
included, as a reader of the status file sees it.

Suites: tend (target/release, or TEND_BIN=DIR), tend-flat (the same tend-scan with -F),
tend-before (TEND_BEFORE=DIR, e.g. an older build, for before/after in one interleaved
run), daemontools (/usr/bin/svscan),
runit (/usr/bin/runsvdir), and floor: no supervisor, one Python process that
posix_spawns every run script (bring-up only; what the run scripts alone cost). Each trial runs every suite in turn on every file system, so
noise hits them alike; the tables give medians with min-max, and each suite's median
over daemontools' svscan. Every process started is a descendant of a scanner started
here; cleanup stops and kills exactly those pids, then removes the temp dirs.
"""
import argparse
import ctypes
import os
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (its process table)
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEND = os.environ.get("TEND_BIN", os.path.join(ROOT, "target", "release"))
BEFORE = os.environ.get("TEND_BEFORE")

SUITES = {
    "tend": [f"{TEND}/tend-scan"],
    "tend-flat": [f"{TEND}/tend-scan", "-F"],
    "tend-before": [f"{BEFORE}/tend-scan"] if BEFORE else [None],
    "daemontools": ["/usr/bin/svscan"],
    "runit": ["/usr/bin/runsvdir", "-P"],
    # The floor, not a supervisor: one process posix_spawns every run script and waits.
    "floor": [sys.executable, "-c", "import os, sys, time\n"
              "for n in sorted(os.listdir(sys.argv[1])):\n"
              "    os.posix_spawn(os.path.join(sys.argv[1], n, 'run'), ['run'], os.environ)\n"
              "time.sleep(100000)\n"],
}


def available(name):
    p = SUITES[name][0]
    return bool(p) and os.access(p, os.X_OK)


def tree(root):
    """root and its descendants' pids (bench.py's process table)."""
    return bench.tree(root)[0]


def kill_tree(root):
    """SIGSTOPs root and its descendants (so none restarts another), then SIGKILLs them."""
    pids = tree(root)
    for p in pids:
        try:
            os.kill(p, signal.SIGSTOP)
        except ProcessLookupError:
            pass
    for p in set(pids) | set(tree(root)):
        try:
            os.kill(p, signal.SIGKILL)
            os.kill(p, signal.SIGCONT)
        except ProcessLookupError:
            pass
    # Until each is dead (gone, or a zombie: it holds no file any more), so that the file
    # system under test can be unmounted; at most 10 s.
    end = time.monotonic() + 10
    while time.monotonic() < end and any(holds_files(p) for p in pids):
        time.sleep(0.01)


def holds_files(pid):
    """Whether pid is alive and not yet a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def fs_type(path):
    out = subprocess.run(["df", "-T", path], capture_output=True, text=True).stdout.split("\n")
    return out[1].split()[1] if len(out) > 1 and out[1].split() else "?"


class Place:
    """A temp dir on the file system under test."""

    def __init__(self, fs, ext4_dir):
        self.fs, self.mounted, self.image = fs, False, None
        if fs == "ext4-journal":
            self.dir = tempfile.mkdtemp(prefix="tend-many-ext4j-")
            self.image = self.dir + ".img"
            subprocess.run(["truncate", "-s", "2G", self.image], check=True)
            subprocess.run(["mkfs.ext4", "-q", "-F", self.image], check=True)
            subprocess.run(["mount", "-o", "loop", self.image, self.dir], check=True)
            self.mounted = True
            fs = "ext4"
        elif fs == "tmpfs":
            self.dir = tempfile.mkdtemp(prefix="tend-many-tmpfs-")
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1g", "tmpfs", self.dir], check=True)
            self.mounted = True
        else:
            self.dir = tempfile.mkdtemp(prefix="tend-many-", dir=ext4_dir)
        got = fs_type(self.dir)
        if got != fs:
            self.close()
            sys.exit(f"many-services: fatal: {self.dir} is {got}, not {fs}")

    def close(self):
        if self.mounted:
            subprocess.run(["umount", self.dir])
            self.mounted = False
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.image:
            os.unlink(self.image)


class Run:
    """One scan dir with its services and one scanner."""

    def __init__(self, place, suite):
        self.suite = suite
        self.dir = tempfile.mkdtemp(prefix=f"{suite}-", dir=place.dir)
        self.scan = os.path.join(self.dir, "scan")
        self.shared = os.path.join(self.dir, "shared")
        os.mkdir(self.scan)
        open(self.shared, "w").close()
        self.scanner = None

    def services(self, n):
        for i in range(n):
            d = os.path.join(self.scan, f"s{i}")
            os.mkdir(d)
            with open(os.path.join(d, "run"), "w") as f:
                f.write(f"#!/bin/sh\necho $$ >> {self.shared}\nexec sleep 100000\n")
            os.chmod(os.path.join(d, "run"), 0o755)

    def start(self):
        os.sync()
        t0 = time.monotonic()
        self.scanner = subprocess.Popen(SUITES[self.suite] + [self.scan], cwd=self.scan,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
        return t0

    def lines(self):
        with open(self.shared, "rb") as f:
            return f.read().split(b"\n")[:-1]

    def wait_lines(self, n, timeout):
        """Polls SHARED every 2 ms until it has n lines; the time it first had them."""
        end, size = time.monotonic() + timeout, -1
        while True:
            t = time.monotonic()
            s = os.stat(self.shared).st_size
            if s != size:
                size = s
                if len(self.lines()) >= n:
                    return t
            if t > end:
                raise TimeoutError(f"{self.suite}: {len(self.lines())} of {n} started in {timeout} s")
            time.sleep(0.002)

    def stop(self):
        if self.scanner:
            kill_tree(self.scanner.pid)
            self.scanner.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Inotify:
    """Change events (creations, writes, renames) in one directory, to wait on without polling."""

    MASK = 0x100 | 0x8 | 0x80 | 0x40  # IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM

    def __init__(self, path):
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0 or libc.inotify_add_watch(self.fd, path.encode(), self.MASK) < 0:
            raise OSError(ctypes.get_errno(), f"inotify on {path}")

    def wait(self, timeout):
        """Blocks until an event or the timeout; drains the events."""
        if select.select([self.fd], [], [], timeout)[0]:
            try:
                os.read(self.fd, 65536)
            except BlockingIOError:
                pass

    def close(self):
        os.close(self.fd)


def status_pid(path):
    """The pid in a supervise/status file (daemontools' 18 or runit's 20 bytes), or None."""
    try:
        with open(path, "rb") as f:
            b = f.read()
    except OSError:
        return None
    if len(b) not in (18, 20):
        return None
    return struct.unpack("<I", b[12:16])[0]


def m_bringup(place, suite, n):
    r = Run(place, suite)
    try:
        r.services(n)
        t0 = r.start()
        t1 = r.wait_lines(n, timeout=300)
        out = {f"bring-up of {n} services, s": t1 - t0}
        if suite != "floor":
            out["entries per supervise dir at bring-up"] = len(os.listdir(os.path.join(r.scan, "s0", "supervise")))
        return out
    finally:
        r.stop()


def m_change(place, suite, rounds):
    r = Run(place, suite)
    try:
        r.services(1)
        r.start()
        r.wait_lines(1, timeout=30)
        sdir = os.path.join(r.scan, "s0", "supervise")
        status, ino = os.path.join(sdir, "status"), Inotify(sdir)
        ms = []
        try:
            for i in range(rounds):
                time.sleep(1.1)  # past every suite's 1 s restart spacing
                pid = int(r.lines()[-1])
                end = time.monotonic() + 30
                while status_pid(status) != pid:  # the start is published
                    if time.monotonic() > end:
                        raise TimeoutError(f"{suite}: status never showed pid {pid}")
                    time.sleep(0.01)
                ino.wait(0)
                t0 = time.monotonic()
                os.kill(pid, signal.SIGKILL)
                while status_pid(status) in (pid, 0, None):
                    if time.monotonic() > end:
                        raise TimeoutError(f"{suite}: no restart after SIGKILL")
                    ino.wait(1.0)
                ms.append((time.monotonic() - t0) * 1000)
                r.wait_lines(i + 2, timeout=30)
        finally:
            ino.close()
        return {"SIGKILL to new pid in status, ms": statistics.median(ms),
                "entries per supervise dir after restarts": len(os.listdir(sdir))}
    finally:
        r.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--fs", default="ext4,tmpfs")
    ap.add_argument("--ext4-dir", default="/tmp")
    ap.add_argument("--suites", default="tend,tend-before,daemontools")
    ap.add_argument("--changes", type=int, default=0, help="rounds of the change metric (0: skip it)")
    a = ap.parse_args()
    suites = [s for s in a.suites.split(",") if s]
    for s in suites:
        if s not in SUITES:
            sys.exit(f"many-services: fatal: unknown suite {s}")
        if not available(s):
            print(f"many-services: warning: {s} is not installed (TEND_BEFORE for tend-before); skipped",
                  file=sys.stderr)
    suites = [s for s in suites if available(s)]
    places = {}
    try:
        for fs in a.fs.split(","):
            places[fs] = Place(fs, a.ext4_dir)
        results = {}  # (fs, metric, suite) -> [values]
        for trial in range(a.trials):
            for fs, place in places.items():
                for s in suites:
                    print(f"many-services: trial {trial + 1}/{a.trials} {fs} {s}", file=sys.stderr)
                    try:
                        out = m_bringup(place, s, a.n)
                        if a.changes and s != "floor":
                            out.update(m_change(place, s, a.changes))
                    except TimeoutError as e:
                        print(f"many-services: warning: {e}", file=sys.stderr)
                        continue
                    for k, v in out.items():
                        results.setdefault((fs, k, s), []).append(v)
        report(results, places, suites)
    finally:
        for p in places.values():
            p.close()


def report(results, places, suites):
    print(f"| file system | metric | {' | '.join(suites)} |" + "".join(
        f" {s} / svscan |" for s in suites if s != "daemontools"))
    print("|---|---|" + "---|" * (len(suites) + len([s for s in suites if s != "daemontools"])))
    for fs in places:
        for k in dict.fromkeys(k for f, k, _ in results if f == fs):
            cells, meds = [], {}
            for s in suites:
                v = results.get((fs, k, s))
                if not v:
                    cells.append("-")
                    continue
                meds[s] = statistics.median(v)
                cells.append(f"{meds[s]:.2f} ({min(v):.2f}-{max(v):.2f})" if len(v) > 1 else f"{meds[s]:.2f}")
            base = meds.get("daemontools")
            ratios = "".join(f" {meds[s] / base:.2f} |" if base and s in meds else " - |"
                             for s in suites if s != "daemontools")
            print(f"| {fs} | {k} | {' | '.join(cells)} |{ratios}")


if __name__ == "__main__":
    main()
