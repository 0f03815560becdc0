"""`kcmpctl fds -J` against `lsfd -J` on one big bucket, answers checked.

    python bench/bench_fds_bucket.py [--eventfds 19000] [--runs 7] [--only]

Builds bench/spawn_eventfds.c with cc into a temporary directory and starts it: a
process P with N eventfds (one anonymous inode: one bucket), a fork child C that
inherits them all, and an unrelated process U with one eventfd of its own.  Then times
the two commands in alternation (whole-process wall time, and CPU time: user + system
of the command and its workers, from wait4; after one untimed run of each), checks
that every eventfd of P is listed as one description held by P and C at the same fd
and nothing else, and prints the medians, the ratios and the commands.  With --only,
both commands list P, C and U alone (``-p``): the machine's other processes, which
lsfd lists too, are left out, as on a machine that runs little else.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def build(workdir: Path) -> str:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        sys.exit("bench_fds_bucket: no C compiler (cc)")
    out = workdir / "spawn_eventfds"
    src = HERE / "spawn_eventfds.c"
    subprocess.run([cc, "-O2", "-Wall", "-o", str(out), str(src)], check=True)
    return str(out)


def timed(command: list[str]) -> tuple[float, float, str]:
    """Whole-process wall time, CPU time (user + system, workers included), stdout."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.PIPE)
        assert proc.stderr is not None
        err = proc.stderr.read().decode(errors="replace")
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.stderr.close()
        code = os.waitstatus_to_exitcode(status)
        proc.returncode = code
        if code != 0:
            sys.exit(f"bench_fds_bucket: {' '.join(command)} exited {code}: {err}")
        out.seek(0)
        return elapsed, usage.ru_utime + usage.ru_stime, out.read().decode()


def check(out: str, p: int, c: int, u: int) -> None:
    eventfds = {
        int(fd)
        for fd in os.listdir(f"/proc/{p}/fd")
        if "eventfd" in os.readlink(f"/proc/{p}/fd/{fd}")
    }
    listed = set()
    for desc in json.loads(out)["descriptions"]:
        holders = {(h["pid"], h["fd"]) for h in desc["holders"]}
        if desc["target"] != "anon_inode:[eventfd]":
            continue
        if u in {pid for pid, _ in holders}:
            sys.exit(f"bench_fds_bucket: U's eventfd listed as shared: {holders}")
        if any(pid == p for pid, _ in holders):
            (fd,) = {fd for _, fd in holders}
            if holders != {(p, fd), (c, fd)}:
                sys.exit(f"bench_fds_bucket: wrong holders {holders}")
            listed.add(fd)
    if listed != eventfds:
        sys.exit(f"bench_fds_bucket: {len(eventfds - listed)} of P's eventfds not listed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eventfds", type=int, default=19000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--only", action="store_true", help="list P, C and U alone (-p)")
    args = parser.parse_args()
    lsfd = [shutil.which("lsfd") or "lsfd", "-J"]
    kcmpctl = [sys.executable, "-m", "kcmpctl", "fds", "-J"]
    with tempfile.TemporaryDirectory() as tmp:
        spawner = subprocess.Popen(
            [build(Path(tmp)), str(args.eventfds)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert spawner.stdin is not None
        assert spawner.stdout is not None
        try:
            ready, *pids = spawner.stdout.readline().split()
            if ready != "ready":
                sys.exit("bench_fds_bucket: the spawner failed")
            p, c, u = map(int, pids)
            if args.only:
                lsfd += ["-p", f"{p},{c},{u}"]
                kcmpctl += ["-p", f"{p},{c},{u}"]
            times: dict[str, list[float]] = {"lsfd": [], "kcmpctl": []}
            cpu: dict[str, list[float]] = {"lsfd": [], "kcmpctl": []}
            timed(lsfd)
            check(timed(kcmpctl)[2], p, c, u)
            for _ in range(args.runs):
                for name, command in (("lsfd", lsfd), ("kcmpctl", kcmpctl)):
                    elapsed, used, out = timed(command)
                    times[name].append(elapsed)
                    cpu[name].append(used)
                    if name == "kcmpctl":
                        check(out, p, c, u)
        finally:
            spawner.stdin.close()
            spawner.wait()
            spawner.stdout.close()
    medians = {name: statistics.median(values) for name, values in times.items()}
    cpus = {name: statistics.median(values) for name, values in cpu.items()}
    processes = sum(entry.isdigit() for entry in os.listdir("/proc"))
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"{args.eventfds} eventfds in P, inherited by C; {processes} processes in /proc;"
        f" load average {load}"
    )
    for name, command in (("lsfd", lsfd), ("kcmpctl", kcmpctl)):
        runs = " ".join(f"{t:.3f}" for t in times[name])
        print(
            f"{name:8} median {medians[name]:.3f} s  CPU {cpus[name]:.3f} s  runs: {runs}"
            f"  ({' '.join(command)})"
        )
    print(
        f"kcmpctl fds / lsfd = {medians['kcmpctl'] / medians['lsfd']:.2f}"
        f" (CPU time {cpus['kcmpctl'] / cpus['lsfd']:.2f})"
    )


if __name__ == "__main__":
    main()
