"""`kcmpctl fds` against `lsfd`, side by side, on a machine with 2,000 extra processes.

    python bench/bench_fds.py [--procs 2000] [--runs 9] [--json]

Compiles bench/spawn_fds.c with cc into a temporary directory (no binary is kept), starts
it, and once its processes exist times the two commands in alternation, so that both see
the same machine: whole-process wall time, stdout to /dev/null, after one untimed warm-up
run of each.  kcmpctl's answer is checked once against what the spawner made (``fds -J``:
the log file every process inherits is one description across every fd table, and each
family's eventfd one description across its head and fork children).  Prints the
medians, the peak memory (ru_maxrss), the ratio and the exact commands, then ends the
spawner, which kills and reaps every process it made.
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


def build(workdir: Path) -> Path:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        sys.exit("bench_fds: no C compiler (cc) to build spawn_fds.c")
    binary = workdir / "spawn_fds"
    subprocess.run([cc, "-O2", "-Wall", "-o", str(binary), str(HERE / "spawn_fds.c")], check=True)
    return binary


def timed(command: list[str]) -> tuple[float, int]:
    """Whole-process wall time, and the peak RSS in KiB (ru_maxrss from wait4)."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stderr.close()
    if proc.returncode != 0:
        sys.exit(f"bench_fds: {' '.join(command)} exited {proc.returncode}: {err}")
    return elapsed, usage.ru_maxrss


#: what spawn_fds.c makes: a head, its fork children and its CLONE_FILES children
FORKS, CLONES = 6, 3


def check(kcmpctl: list[str], spawned: int) -> None:
    """``kcmpctl fds -J`` finds the descriptions spawn_fds made, in every fd table."""
    out = subprocess.run([*kcmpctl[:4], "-J"], capture_output=True, text=True, check=False)
    if out.returncode not in (0, 1):
        sys.exit(f"bench_fds: kcmpctl fds -J exited {out.returncode}: {out.stderr.strip()}")
    families = spawned // (1 + FORKS + CLONES)
    logs = [
        d
        for d in json.loads(out.stdout)["descriptions"]
        if d["target"].startswith("/tmp/spawn_fds.")
    ]
    # The spawner's own table, each head's (shared with its clones), each fork child's.
    tables = 1 + families * (1 + FORKS)
    if len(logs) != 1 or len(logs[0]["tables"]) != tables:
        found = [len(d["tables"]) for d in logs]
        sys.exit(f"bench_fds: the spawner's log: descriptions over {found} tables, not {tables}")
    if sum(len(t) for t in logs[0]["tables"]) != 1 + spawned:
        sys.exit("bench_fds: the spawner's log: not every process is among its holders")
    eventfds = [
        d
        for d in json.loads(out.stdout)["descriptions"]
        if d["target"] == "anon_inode:[eventfd]" and len(d["tables"]) == 1 + FORKS
    ]
    if len(eventfds) < families:
        sys.exit(f"bench_fds: {len(eventfds)} family eventfds found of {families}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--procs", type=int, default=2000, help="extra processes to make")
    parser.add_argument("--runs", type=int, default=9, help="timed runs of each command")
    parser.add_argument("--json", action="store_true", help="time -J output of both")
    args = parser.parse_args()

    lsfd = [shutil.which("lsfd") or "lsfd"]
    kcmpctl = [sys.executable, "-m", "kcmpctl", "fds"]
    if args.json:
        lsfd.append("-J")
        kcmpctl.append("-J")

    with tempfile.TemporaryDirectory() as tmp:
        spawner = subprocess.Popen(
            [str(build(Path(tmp))), str(args.procs)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert spawner.stdin is not None
        assert spawner.stdout is not None
        try:
            made = spawner.stdout.readline().split()
            if made[:1] != ["ready"]:
                sys.exit("bench_fds: the spawner failed")
            visible = sum(1 for name in os.listdir("/proc") if name.isdigit())
            print(f"{made[1]} extra processes; {visible} processes in /proc")
            check(kcmpctl, int(made[1]))
            times: dict[str, list[float]] = {"lsfd": [], "kcmpctl": []}
            peaks: dict[str, list[int]] = {"lsfd": [], "kcmpctl": []}
            timed(lsfd)
            timed(kcmpctl)
            for _ in range(args.runs):
                for name, command in (("lsfd", lsfd), ("kcmpctl", kcmpctl)):
                    elapsed, peak = timed(command)
                    times[name].append(elapsed)
                    peaks[name].append(peak)
        finally:
            spawner.stdin.close()
            try:
                spawner.wait(timeout=60)
            except subprocess.TimeoutExpired:
                spawner.kill()  # its processes die with it (PR_SET_PDEATHSIG)
                spawner.wait()
            spawner.stdout.close()

    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, command in (("lsfd", lsfd), ("kcmpctl", kcmpctl)):
        runs = " ".join(f"{t:.3f}" for t in times[name])
        peak = max(peaks[name]) / 1024
        print(
            f"{name:8} median {medians[name]:.3f} s  peak {peak:.1f} MiB  runs: {runs}"
            f"  ({' '.join(command)})"
        )
    print(f"kcmpctl fds / lsfd = {medians['kcmpctl'] / medians['lsfd']:.2f}")


if __name__ == "__main__":
    main()
