"""Start-up cost of kcmpctl, side by side with the bare interpreter and click.

    python bench/bench_startup.py [--runs 30]

Each row is the median whole-process wall time over the runs, taken in turns so
that machine noise falls on every row alike; the ratio is against `import click`.
The package is byte-compiled first, as `pip install` does: an editable install run
with PYTHONDONTWRITEBYTECODE would otherwise recompile every module at every start.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time


def wall(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()

    import compileall

    import kcmpctl

    compileall.compile_dir(os.path.dirname(kcmpctl.__file__), quiet=1)
    me = str(os.getpid())
    kcmpctl = shutil.which("kcmpctl")
    entry = [kcmpctl] if kcmpctl else [sys.executable, "-m", "kcmpctl"]
    env = dict(os.environ)
    complete_env = {
        **env,
        "_KCMPCTL_COMPLETE": "bash_complete",
        "COMP_WORDS": "kcmpctl pair -t ",
        "COMP_CWORD": "3",
    }
    cases: list[tuple[str, list[str], dict[str, str]]] = [
        ("python -c pass", [sys.executable, "-c", "pass"], env),
        ("python -c 'import click'", [sys.executable, "-c", "import click"], env),
        ("kcmpctl pair $$ $$ -q", [*entry, "pair", me, me, "-q"], env),
        ("kcmpctl pair $$ $$ -J", [*entry, "pair", me, me, "-J"], env),
        ("kcmpctl --help", [*entry, "--help"], env),
        ("completion: kcmpctl pair -t <TAB>", entry, complete_env),
    ]
    times: dict[str, list[float]] = {name: [] for name, _, _ in cases}
    for _ in range(args.runs):
        for name, cmd, case_env in cases:
            times[name].append(wall(cmd, case_env))

    base = statistics.median(times["python -c 'import click'"])
    print(f"{'command':<38} {'median ms':>10} {'vs click':>9}")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"{name:<38} {median * 1000:>10.1f} {median / base:>8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
