"""What --freeze costs: the time to stop and resume N processes, or one with N threads.

    python bench/bench_freeze.py [--processes 100 1000] [--threads 1000] [--runs 7]

Starts the processes (``sleep``) and a tests/helpers/famhelper.c process with the
threads, then times :class:`kcmpctl.freeze.Freezer` (``freeze`` and ``thaw`` apart) and
``kcmpctl matrix -p PIDS -J`` without and with ``--freeze`` side by side, each as a
whole run.  Prints medians; the machine is shared, so read the ratios.  Every process
it starts is ended and reaped.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

HELPER = Path(__file__).resolve().parent.parent / "tests" / "helpers" / "famhelper.c"


def build_helper(directory: str) -> str:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        sys.exit("bench_freeze: no C compiler (cc) to build the helper")
    out = os.path.join(directory, "famhelper")
    subprocess.run([cc, "-O", "-Wall", "-pthread", "-o", out, str(HELPER)], check=True)
    return out


def median_ms(runs: int, job: Callable[[], None]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        job()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def measure(label: str, pids: Sequence[int], runs: int) -> None:
    from kcmpctl.freeze import Freezer

    freezing: list[float] = []
    thawing: list[float] = []
    threads = 0
    for _ in range(runs):
        freezer = Freezer()
        start = time.perf_counter()
        refused = freezer.freeze(pids)
        middle = time.perf_counter()
        threads = freezer.threads
        freezer.thaw()
        end = time.perf_counter()
        assert not refused, refused
        freezing.append(middle - start)
        thawing.append(end - middle)
    command = [sys.executable, "-m", "kcmpctl", "matrix", "-p", ",".join(map(str, pids)), "-J"]

    def run(*extra: str) -> Callable[[], None]:
        def job() -> None:
            done = subprocess.run([*command, *extra], stdout=subprocess.DEVNULL, check=False)
            assert done.returncode in (0, 1), done  # 1: not all share, as expected

        return job

    plain = median_ms(runs, run())
    frozen = median_ms(runs, run("--freeze"))
    print(
        f"{label}: {threads} threads; freeze {statistics.median(freezing) * 1000:.1f} ms,"
        f" thaw {statistics.median(thawing) * 1000:.1f} ms;"
        f" matrix -J {plain:.0f} ms, with --freeze {frozen:.0f} ms ({frozen / plain:.2f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, nargs="*", default=[100, 1000])
    parser.add_argument("--threads", type=int, nargs="*", default=[1000])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    for count in args.processes:
        procs = [subprocess.Popen(["sleep", "600"]) for _ in range(count)]
        try:
            measure(f"{count} processes", [p.pid for p in procs], args.runs)
        finally:
            for p in procs:
                p.kill()
            for p in procs:
                p.wait()
    with tempfile.TemporaryDirectory() as tmp:
        helper = build_helper(tmp)
        for count in args.threads:
            ops = [f"thread:t{i}" for i in range(count)]
            proc = subprocess.Popen(
                [helper, *ops], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
            try:
                assert proc.stdout is not None
                for line in proc.stdout:
                    if line == "ready\n":
                        break
                measure(f"1 process, {count} threads", [proc.pid], args.runs)
            finally:
                assert proc.stdin is not None
                proc.stdin.close()
                proc.wait()
                proc.stdout.close()


if __name__ == "__main__":
    main()
