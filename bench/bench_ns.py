"""Namespace types over the whole machine: `kcmpctl matrix -t ns -J` beside `lsns -J`.

    python bench/bench_ns.py [-n 2000] [--runs 21]

-n N first starts N extra processes (bench/spawn_families.c, built with cc; ended and
reaped at the end), so that the machine has the size the comparison is about.

Each round runs both commands once, in an order that alternates from round to round,
so that machine noise falls on both alike; a row is the median over the rounds of the
whole-process wall time, and of the CPU time (user + system) from wait4.  Before timing,
the answer is checked: for each type, kcmpctl finds every namespace lsns lists, with
the same lowest PID.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).parent


@contextlib.contextmanager
def extra_processes(n: int) -> Iterator[None]:
    """N more processes on the machine while the block runs."""
    if n <= 0:
        yield
        return
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise SystemExit("bench: no C compiler (cc)")
    with tempfile.TemporaryDirectory() as tmp:
        exe = str(Path(tmp) / "spawn_families")
        subprocess.run([cc, "-O2", "-o", exe, str(HERE / "spawn_families.c")], check=True)
        proc = subprocess.Popen(
            [exe, str(n), "5"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.strip() == "ready":
                    break
            yield
        finally:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


def run(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one run, output discarded."""
    actions = [
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
    ]
    start = time.perf_counter()
    pid = os.posix_spawn(cmd[0], cmd, dict(os.environ), file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"{cmd}: exit status {os.waitstatus_to_exitcode(status)}")
    return wall, usage.ru_utime + usage.ru_stime


def check(lsns: list[str], kcmpctl: list[str]) -> int:
    """Compare the answers once; return the number of processes kcmpctl saw."""
    theirs = json.loads(subprocess.run(lsns, capture_output=True, check=True).stdout)
    ours = json.loads(subprocess.run(kcmpctl, capture_output=True, check=False).stdout)
    found = {
        (row["type"], ns["ns"]): min(ns["pids"])
        for row in ours["resources"]
        for ns in row["namespaces"]
    }
    for ns in theirs["namespaces"]:
        key = (ns["type"], int(ns["ns"]))
        if key in found and found[key] != int(ns["pid"]):
            print(f"warning: {key}: lsns's lowest pid {ns['pid']}, kcmpctl's {found[key]}")
    missing = {(n["type"], int(n["ns"])) for n in theirs["namespaces"]} - set(found)
    if missing:
        print(f"note: {len(missing)} namespaces lsns listed are gone or new: {sorted(missing)}")
    return len(ours["processes"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("-n", type=int, default=0, help="extra processes to start first")
    args = parser.parse_args()
    with extra_processes(args.n):
        measure(args.runs)


def measure(runs: int) -> None:
    lsns_path = shutil.which("lsns")
    if lsns_path is None:
        raise SystemExit("no lsns on PATH")
    lsns = [lsns_path, "-J"]
    kcmpctl = [sys.executable, "-m", "kcmpctl", "matrix", "-t", "ns", "-J"]
    processes = check(lsns, kcmpctl)
    rows = {"lsns -J": lsns, "kcmpctl matrix -t ns -J": kcmpctl}
    walls: dict[str, list[float]] = {name: [] for name in rows}
    cpus: dict[str, list[float]] = {name: [] for name in rows}
    names = list(rows)
    for i in range(runs):
        for name in names if i % 2 == 0 else reversed(names):
            wall, cpu = run(rows[name])
            walls[name].append(wall)
            cpus[name].append(cpu)
    base = statistics.median(walls["lsns -J"])
    print(f"{processes} processes, {runs} rounds")
    print("| command | median wall | median CPU | vs lsns (wall) |")
    print("|---|---:|---:|---:|")
    for name in names:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        print(f"| `{name}` | {wall:.3f} s | {cpu:.3f} s | {wall / base:.2f} |")


if __name__ == "__main__":
    main()
