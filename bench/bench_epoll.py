"""Time `kcmpctl epoll PID EPFD -J` on an epoll with many registrations.

    python bench/bench_epoll.py [--registrations 1000] [--runs 7] [-- EXTRA KCMPCTL ARGS]

In the extra arguments, ``PID`` stands for the epoll's process: ``-- -p PID`` searches
it alone, ``-- --all`` every process.

Builds the epoll with tests/helpers/famhelper.c (``emany``: half pipes, half eventfds,
every other one moved by dup + close), then runs kcmpctl as a whole process (start-up
included) several times, checks each answer and prints the median wall time.
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

HELPER = Path(__file__).resolve().parent.parent / "tests" / "helpers" / "famhelper.c"


def build_helper(directory: str) -> str:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        sys.exit("bench_epoll: no C compiler (cc) to build the helper")
    out = os.path.join(directory, "famhelper")
    subprocess.run([cc, "-O", "-Wall", "-pthread", "-o", out, str(HELPER)], check=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registrations", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("extra", nargs="*", help="more kcmpctl arguments (PID: the epoll's)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        helper = subprocess.Popen(
            [build_helper(tmp), "epoll:ep", f"emany:3:{args.registrations}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert helper.stdout is not None
            values = dict(line.split() for line in iter(helper.stdout.readline, "ready\n"))
            pid = values["pid"]
            fds = len(os.listdir(f"/proc/{pid}/fd"))
            extra = [pid if arg == "PID" else arg for arg in args.extra]
            command = [sys.executable, "-m", "kcmpctl", "epoll", pid, "3", "-J", *extra]
            times = []
            for _ in range(args.runs):
                start = time.perf_counter()
                done = subprocess.run(command, capture_output=True, text=True, check=False)
                times.append(time.perf_counter() - start)
                targets = json.loads(done.stdout)["targets"]
                if done.returncode != 1 or len(targets) != args.registrations:
                    sys.exit(f"bench_epoll: unexpected answer: {done.returncode} {done.stderr}")
        finally:
            assert helper.stdin is not None
            helper.stdin.close()
            helper.wait()

    processes = sum(name.isdigit() for name in os.listdir("/proc"))
    print(f"command:       kcmpctl {' '.join(command[3:])}")
    print(f"registrations: {args.registrations} ({fds} fds open in the epoll's process)")
    print(f"processes:     {processes} visible")
    print(f"runs:          {args.runs}")
    print(f"median:        {statistics.median(times):.3f} s  (min {min(times):.3f} s)")


if __name__ == "__main__":
    main()
