"""`kcmpctl epoll` on big epolls, side by side with a baseline, answers checked.

    python bench/bench_epoll_scale.py children [--pipes 100] [--children 1000] [--runs 7]
    python bench/bench_epoll_scale.py fresh [--registrations 9000] [--runs 7]
    python bench/bench_epoll_scale.py stale [--registrations 10000] [--runs 7]

Builds bench/spawn_epoll.c (and bench/epoll_floor.c) with cc into a temporary directory,
starts the shape, then times `kcmpctl epoll PID EPFD -J` (whole process, start-up
included) alternating with its baseline, so that both see the same machine:

- children: P pipes registered in one epoll, inherited by C fork children (the default
  search includes children); baseline `lsfd -J`, which lists every fd on the machine.
  Every registration must have C + 1 holders.
- fresh: N registrations (pipes' read ends and eventfds), none stale; baseline
  epoll_floor, one KCMP_EPOLL_TFD call per registration from C at the fd that holds it.
- stale: the same with every other file moved by dup + close (half the numbers stale).

Prints the medians of wall time and of CPU time (user + system), their ratios, the load
average and the exact commands.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def build(workdir: Path, name: str) -> str:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        sys.exit("bench_epoll_scale: no C compiler (cc)")
    out = workdir / name
    subprocess.run([cc, "-O2", "-Wall", "-o", str(out), str(HERE / f"{name}.c")], check=True)
    return str(out)


def timed(command: list[str], ok: tuple[int, ...] = (0,)) -> tuple[float, float, str]:
    """Wall time, CPU time (user + system, of the command and what it waited for) and
    standard output of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in ok:
        sys.exit(f"bench_epoll_scale: {' '.join(command)} exited {proc.returncode}: {proc.stderr}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return elapsed, cpu, proc.stdout


def check(shape: str, doc: dict[str, object], pid: int, args: argparse.Namespace) -> None:
    targets = doc["targets"]
    assert isinstance(targets, list)
    wanted = args.pipes if shape == "children" else args.registrations
    if len(targets) != wanted:
        sys.exit(f"bench_epoll_scale: {len(targets)} registrations listed, not {wanted}")
    for target in targets:
        holders = [(h["pid"], h["fd"]) for h in target["holders"]]
        if shape == "children":
            good = len(holders) == args.children + 1 and target["status"] == "ok"
        elif shape == "fresh":
            good = holders == [(pid, target["tfd"])] and target["status"] == "ok"
        else:
            good = (pid, target["data"]) in holders
        if not good:
            sys.exit(f"bench_epoll_scale: wrong answer for {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shape", choices=("children", "fresh", "stale"))
    parser.add_argument("--pipes", type=int, default=100)
    parser.add_argument("--children", type=int, default=1000)
    parser.add_argument("--registrations", type=int, default=0)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    if not args.registrations:
        args.registrations = 9000 if args.shape == "fresh" else 10000

    with tempfile.TemporaryDirectory() as tmp:
        spawn = build(Path(tmp), "spawn_epoll")
        floor = build(Path(tmp), "epoll_floor")
        size = [str(args.pipes), str(args.children)]
        if args.shape != "children":
            size = [str(args.registrations)]
        spawner = subprocess.Popen(
            [spawn, args.shape, *size], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert spawner.stdin is not None
        assert spawner.stdout is not None
        try:
            ready, pid, epfd = spawner.stdout.readline().split()
            if ready != "ready":
                sys.exit("bench_epoll_scale: the spawner failed")
            kcmpctl = [sys.executable, "-m", "kcmpctl", "epoll", pid, epfd, "-J"]
            if args.shape == "children":
                baseline, name = [shutil.which("lsfd") or "lsfd", "-J"], "lsfd -J"
            else:
                baseline, name = [floor, pid, epfd], "epoll_floor (C)"
            # The listing is ok (0) only when no number is stale.
            ok = (1,) if args.shape == "stale" else (0,)
            times: dict[str, list[float]] = {name: [], "kcmpctl": []}
            cpus: dict[str, list[float]] = {name: [], "kcmpctl": []}
            timed(baseline)
            for _ in range(args.runs):
                elapsed, cpu, _ = timed(baseline)
                times[name].append(elapsed)
                cpus[name].append(cpu)
                elapsed, cpu, out = timed(kcmpctl, ok)
                times["kcmpctl"].append(elapsed)
                cpus["kcmpctl"].append(cpu)
                check(args.shape, json.loads(out), int(pid), args)
        finally:
            spawner.stdin.close()
            spawner.wait()
            spawner.stdout.close()

    medians = {key: statistics.median(values) for key, values in times.items()}
    cpu = {key: statistics.median(values) for key, values in cpus.items()}
    processes = sum(entry.isdigit() for entry in os.listdir("/proc"))
    load = os.getloadavg()
    print(
        f"shape: {args.shape} {' '.join(size)}; {processes} processes in /proc after;"
        f" load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    for key, command in ((name, baseline), ("kcmpctl", kcmpctl)):
        runs = " ".join(f"{t:.3f}" for t in times[key])
        print(f"{key:16} median {medians[key]:.3f} s  runs: {runs}")
        print(f"{'':16} CPU (user+sys) median {cpu[key]:.3f} s")
        print(f"{'':16} ({' '.join(command)})")
    print(f"kcmpctl / {name} = {medians['kcmpctl'] / medians[name]:.2f} wall,")
    print(f"{'':{len(name) + 13}}{cpu['kcmpctl'] / cpu[name]:.2f} CPU time")


if __name__ == "__main__":
    main()
