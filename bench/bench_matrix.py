"""Benchmark `kcmpctl matrix` against lsns, a C floor and naive all-pairs grouping.

    python bench/bench_matrix.py [-n 2000] [--family 5] [--runs 7] [--naive-runs 1]
    python bench/bench_matrix.py --churn 200 [--churn-ms 50] [-n 2000] [--runs 7]

Spawns N processes in families that share one fd table and one fs_struct (clone with
CLONE_FILES|CLONE_FS; family sizes 1, 2, ..., --family, 1, 2, ...), then times whole
processes, interleaved run by run so that load from elsewhere hits all alike:

- ``kcmpctl matrix -J -p <the N pids>`` and ``kcmpctl matrix -J`` (the whole machine),
  checking each time that the groups it reports are the families it made;
- ``lsns`` over the same machine;
- ``kcmp_floor sort``: the same grouping in C, sorting with kcmp as the comparator,
  over the same pids and over the whole machine;
- ``kcmp_floor pairs``: the same grouping done naively over all pairs (in C: in
  Python it would take ~10x longer again).

With ``--churn K`` it measures instead what processes exiting mid-scan cost: beside the
families, K more processes run, either for good (quiet) or each for a random 1..
``--churn-ms`` milliseconds, reaped and replaced at once (churn: PIDs vanish and appear
throughout the scan).  Quiet and churn runs alternate; each is a whole-machine
``matrix`` scan in this process, with the comparisons of its sorts counted across its
workers, and its groups checked against the families.

Prints the median wall time, the median CPU time (user + system of the command and
the workers it waited for) and the peak RSS (ru_maxrss of the process and the
children it waited for, from wait4, through the small runstat launcher) of each,
and the ratios.  kcmpctl runs as installed from a wheel: its bytecode compiled once
(PYTHONDONTWRITEBYTECODE is dropped for it).  The C helpers are compiled at run time
with cc; every process spawned is ended and reaped.  Needs root (or CAP_SYS_PTRACE)
for the whole-machine variants to mean anything.
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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MiB = 1024  # ru_maxrss is in KiB


def compile_helpers(workdir: Path) -> dict[str, Path]:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        sys.exit("bench: no C compiler (cc)")
    built = {}
    for name in ("spawn_families", "kcmp_floor", "runstat", "churn"):
        out = workdir / name
        subprocess.run([cc, "-O2", "-Wall", "-o", str(out), str(HERE / f"{name}.c")], check=True)
        built[name] = out
    return built


@contextmanager
def families(spawner: Path, n: int, size: int) -> Iterator[list[list[int]]]:
    """N processes in families; ended and reaped on the way out."""
    proc = subprocess.Popen(
        [str(spawner), str(n), str(size)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        made: list[list[int]] = []
        for raw in proc.stdout:
            line = raw.decode().split()
            if line == ["ready"]:
                break
            made.append([int(p) for p in line[1:]])
        else:
            raise RuntimeError(f"spawn_families exited with {proc.wait()}")
        yield made
    finally:
        proc.stdin.close()  # EOF: the spawner kills and reaps its children, then exits
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


@dataclass
class Timed:
    label: str
    argv: list[str]
    shown: str
    walls: list[float] = field(default_factory=list)
    peaks: list[int] = field(default_factory=list)  # KiB
    #: user + system seconds of the command and the workers it waited for
    cpus: list[float] = field(default_factory=list)
    status: int | None = None

    def run(self, runstat: Path, env: dict[str, str]) -> bytes:
        """One run through runstat: wall time, CPU time and ru_maxrss of the command."""
        before = cpu_of_children()
        with tempfile.NamedTemporaryFile("r") as stats:
            proc = subprocess.run(
                [str(runstat), stats.name, *self.argv],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
                check=True,
            )
            wall, peak, status = stats.read().split()
        self.walls.append(float(wall))
        self.cpus.append(cpu_of_children() - before)
        self.peaks.append(int(peak))
        self.status = int(status)
        return proc.stdout

    @property
    def median(self) -> float:
        return statistics.median(self.walls)

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpus)


def cpu_of_children() -> float:
    """User + system seconds of the children this process waited for, so far: runstat
    waits for its command, kcmpctl for its workers.  What a loaded machine disturbs
    least (the second core a worker needs is not there to be had)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def check_groups(doc: dict[str, Any], made: list[list[int]], whole_machine: bool) -> None:
    """The groups kcmpctl reports are exactly the families spawned."""
    ours = {p for fam in made for p in fam}
    families = {frozenset(f) for f in made if len(f) > 1}
    for r in doc["resources"]:
        # On the whole machine a group may hold other processes too: none of ours.
        got = {frozenset(g) & ours for g in r["groups"]} - {frozenset()}
        want = families if r["type"] in ("files", "fs") else set()
        if got != want:
            raise SystemExit(f"bench: {r['type']}: {len(got)} groups, {len(want)} families")
        absent = set(r["absent"]) & ours
        want_absent = ours if r["type"] in ("io", "sysvsem") else set()
        if absent != want_absent:
            raise SystemExit(f"bench: {r['type']}: {len(absent)} of ours absent")
        skipped = {s["pid"] for s in r["skipped"]} & ours
        if skipped:
            raise SystemExit(f"bench: {r['type']}: {len(skipped)} of ours skipped")
        if not whole_machine and set(r["order"]) | absent != ours:
            raise SystemExit(f"bench: {r['type']}: order does not hold every process")


@contextmanager
def churning(churn: Path, k: int, maxms: int, exits: list[int]) -> Iterator[int]:
    """K more processes, each living 1..MAXMS ms (0: for good); ended and reaped after.
    How many exited on their own is appended to *exits*."""
    proc = subprocess.Popen(
        [str(churn), str(k), str(maxms)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        if proc.stdout.readline() != b"ready\n":
            raise RuntimeError(f"churn exited with {proc.wait()}")
        yield proc.pid
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        tail = proc.stdout.read().split()
        proc.stdout.close()
        if tail[:1] == [b"exits"]:
            exits.append(int(tail[1]))


def counted_scan(made: list[list[int]], churn: int) -> tuple[int, int, float]:
    """One matrix scan in this process of the families and the churn tree: comparisons
    made by its sorts (every worker's), tasks skipped, and wall time; its groups
    checked.  Not the whole machine: a process elsewhere whose objects come and go
    (a test of such races running beside) would make the check fail for its sake."""
    import time

    from kcmpctl import procs
    from kcmpctl.kcmp import TASK_TYPES, null_reference, probe
    from kcmpctl.matrix import Meter, build, default_workers
    from kcmpctl.render.matrix import document

    probe()
    reference = null_reference()
    start = time.perf_counter()
    ours = procs.select_tasks(pids=[p for fam in made for p in fam])
    churners = procs.select_tasks(tree=churn)
    selection = procs.Selection(ours.tasks + churners.tasks, [])
    try:
        workers = default_workers(len(selection.tasks), len(TASK_TYPES))
        meter = Meter(workers, lambda _: None)
        try:
            result = build(
                selection,
                TASK_TYPES,
                reference=reference.pid,
                threads=False,
                workers=workers,
                meter=meter,
            )
            calls = meter.done
        finally:
            meter.close()
    finally:
        selection.close()
    wall = time.perf_counter() - start
    check_groups(json.loads(json.dumps(document(result))), made, whole_machine=True)
    if ours.missing:
        raise SystemExit(f"bench: {len(ours.missing)} of ours not selected")
    return calls, len(result.skipped()), wall


def churn_bench(helpers: dict[str, Path], args: argparse.Namespace) -> None:
    with families(helpers["spawn_families"], args.n, args.family) as made:
        quiet: list[tuple[int, int, float]] = []
        busy: list[tuple[int, int, float]] = []
        exits: list[int] = []
        for run in range(2 * args.runs):
            churn = run % 2 == 1
            maxms = args.churn_ms if churn else 0
            with churning(helpers["churn"], args.churn, maxms, exits) as pid:
                (busy if churn else quiet).append(counted_scan(made, pid))
        total = len([name for name in os.listdir("/proc") if name.isdigit()])
    print(
        f"{args.n} processes in {len(made)} families + {args.churn} churning"
        f" (each lives 1..{args.churn_ms} ms) or quiet, all scanned; {total} on the machine;"
        f" {args.runs} runs each, alternating; groups checked in every run\n"
    )
    rate = sum(exits) / sum(b[2] for b in busy)
    print(f"about {rate:.0f} exits/s during the churn runs\n")
    print(f"{'':8} {'comparisons':>12} {'skipped':>8} {'wall s':>7}   (medians)")
    for label, runs in (("quiet", quiet), ("churn", busy)):
        calls, skipped, wall = (statistics.median(r[i] for r in runs) for i in range(3))
        print(f"{label:8} {calls:>12.0f} {skipped:>8.0f} {wall:>7.3f}")
    ratio = statistics.median(b[0] for b in busy) / statistics.median(q[0] for q in quiet)
    worst = max(b[0] for b in busy) / statistics.median(q[0] for q in quiet)
    print(f"\nchurn/quiet comparisons: median {ratio:.3f}, worst run {worst:.3f}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=2000, help="processes to spawn")
    parser.add_argument("--family", type=int, default=5, help="largest family size")
    parser.add_argument("--runs", type=int, default=7, help="runs of each fast command")
    parser.add_argument("--naive-runs", type=int, default=1, help="runs of all pairs (slow)")
    parser.add_argument("--churn", type=int, default=0, help="churning processes (0: time)")
    parser.add_argument("--churn-ms", type=int, default=50, help="longest life of a churner")
    args = parser.parse_args(argv)
    if args.churn:
        with tempfile.TemporaryDirectory() as tmp:
            churn_bench(compile_helpers(Path(tmp)), args)
        return

    script = Path(sys.executable).with_name("kcmpctl")
    kcmpctl = [str(script)] if script.exists() else [sys.executable, "-m", "kcmpctl"]
    lsns = shutil.which("lsns")
    with tempfile.TemporaryDirectory() as tmp:
        helpers = compile_helpers(Path(tmp))
        floor = str(helpers["kcmp_floor"])
        with families(helpers["spawn_families"], args.n, args.family) as made:
            pids = [p for fam in made for p in fam]
            pid_list = ",".join(map(str, pids))
            total = len([name for name in os.listdir("/proc") if name.isdigit()])
            print(
                f"{len(pids)} processes in {len(made)} families (sizes 1..{args.family}),"
                f" {total} on the machine; {os.cpu_count()} CPUs; {args.runs} runs each;"
                f" load average {os.getloadavg()[0]:.1f}"
            )
            cases = [
                Timed(
                    "kcmpctl -p",
                    [*kcmpctl, "matrix", "-J", "-p", pid_list],
                    "kcmpctl matrix -J -p <N pids>",
                ),
                Timed("kcmpctl", [*kcmpctl, "matrix", "-J"], "kcmpctl matrix -J"),
                Timed("floor -p", [floor, "sort", *map(str, pids)], "kcmp_floor sort <N pids>"),
                Timed("floor", [floor, "sort"], "kcmp_floor sort"),
            ]
            if lsns:
                cases.append(Timed("lsns", [lsns], "lsns"))
            # As installed from a wheel: bytecode compiled once, then reused.
            env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
            subprocess.run([*kcmpctl, "types"], stdout=subprocess.DEVNULL, env=env, check=True)
            runstat = helpers["runstat"]
            for run in range(args.runs):
                for case in cases[run % len(cases) :] + cases[: run % len(cases)]:
                    out = case.run(runstat, env)
                    if case.label.startswith("kcmpctl"):
                        if case.status != 1:
                            raise SystemExit(f"bench: {case.shown} exited {case.status}")
                        check_groups(json.loads(out), made, case.label == "kcmpctl")
            naive = Timed(
                "pairs -p", [floor, "pairs", *map(str, pids)], "kcmp_floor pairs <N pids>"
            )
            for _ in range(args.naive_runs):
                naive.run(runstat, env)
            if naive.walls:
                cases.append(naive)

    by = {c.label: c for c in cases}
    print(f"groups checked against the families in all {2 * args.runs} kcmpctl runs\n")
    print(
        f"{'command':<32} {'median s':>9} {'min s':>7} {'CPU s':>6} {'peak MiB':>9}"
        f" {'vs lsns':>8} {'vs C':>6} {'pairs':>6} {'CPU vs C':>9}"
    )
    for case in cases:
        vs_lsns = f"{case.median / by['lsns'].median:.2f}" if "lsns" in by else "-"
        floor_case = by["floor" if case.label in ("kcmpctl", "floor", "lsns") else "floor -p"]
        vs_c = f"{case.median / floor_case.median:.2f}"
        # Each run times every case once, one after the other: the median of the
        # run-by-run ratios cancels load that lasts a run.
        paired = statistics.median(
            ours / theirs for ours, theirs in zip(case.walls, floor_case.walls, strict=False)
        )
        print(
            f"{case.shown:<32} {case.median:>9.3f} {min(case.walls):>7.3f} {case.cpu:>6.3f}"
            f" {max(case.peaks) / MiB:>9.1f} {vs_lsns:>8} {vs_c:>6} {paired:>6.2f}"
            f" {case.cpu / floor_case.cpu:>9.2f}"
        )
    print(
        "\nvs C: against kcmp_floor sort over the same processes (the whole machine or the"
        " N): the ratio of the medians; pairs: the median of the ratios run by run;"
        " CPU s: median user + system time of the command and its workers; CPU vs C: the"
        f" ratio of those medians.  Load average at the end: {os.getloadavg()[0]:.1f}."
    )


if __name__ == "__main__":
    main()
