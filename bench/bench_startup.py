"""Start-up cost of kcmpctl, side by side with the bare interpreter and click.

    python bench/bench_startup.py [--runs 21]

Each round runs every command once, in an order that rotates from round to round,
so that machine noise falls on every row alike; a row is the median over the rounds
of the whole-process wall time, and of the CPU time (user + system, from wait4) that
the process and the children it reaped used, which moves less with the machine's
load.  Ratios are against `python -c 'import click'`, the floor for a click program.
The answer is checked once before timing (`pair $$ $$ -J` must say vm, files, fs and
sighand are shared, and `-q` must exit with the same status).

The package is byte-compiled first, as `pip install` does: an editable install run
with PYTHONDONTWRITEBYTECODE would otherwise recompile every module at every start.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

BASELINE = "python -c 'import click'"


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system), exit status of one run."""
    actions = [
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
    ]
    start = time.perf_counter()
    pid = os.posix_spawn(cmd[0], cmd, env, file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    return wall, usage.ru_utime + usage.ru_stime, os.waitstatus_to_exitcode(status)


def check_answer(entry: list[str], me: str, env: dict[str, str]) -> int:
    """The status `pair $$ $$` answers with, after checking what it says."""
    proc = subprocess.run(
        [*entry, "pair", me, me, "-J"], capture_output=True, text=True, env=env, check=False
    )
    shared = {p["type"]: p["shared"] for p in json.loads(proc.stdout)["pairs"]}
    for name in ("vm", "files", "fs", "sighand"):
        if not shared.get(name):
            sys.exit(f"wrong answer: {name} of a process with itself is not shared: {shared}")
    return proc.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()

    import compileall

    import kcmpctl

    compileall.compile_dir(os.path.dirname(kcmpctl.__file__), quiet=1)
    me = str(os.getpid())
    found = shutil.which("kcmpctl")
    entry = [found] if found else [sys.executable, "-m", "kcmpctl"]
    env = dict(os.environ)
    status = check_answer(entry, me, env)

    def complete(words: str) -> dict[str, str]:
        return {
            **env,
            "_KCMPCTL_COMPLETE": "bash_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split(" ")) - 1),
        }

    cases: list[tuple[str, list[str], dict[str, str], int | None]] = [
        ("python -c pass", [sys.executable, "-c", "pass"], env, 0),
        (BASELINE, [sys.executable, "-c", "import click"], env, 0),
        ("kcmpctl pair $$ $$ -q", [*entry, "pair", me, me, "-q"], env, status),
        ("kcmpctl pair $$ $$ -J", [*entry, "pair", me, me, "-J"], env, status),
        ("kcmpctl --help", [*entry, "--help"], env, 0),
        ("completion: kcmpctl pair -t <TAB>", entry, complete("kcmpctl pair -t "), 0),
        ("completion: kcmpctl pair -o <TAB>", entry, complete("kcmpctl pair -o "), 0),
    ]
    walls: dict[str, list[float]] = {name: [] for name, *_ in cases}
    cpus: dict[str, list[float]] = {name: [] for name, *_ in cases}
    for round_ in range(args.runs):
        shift = round_ % len(cases)
        for name, cmd, case_env, expected in cases[shift:] + cases[:shift]:
            wall, cpu, code = run(cmd, case_env)
            if expected is not None and code != expected:
                sys.exit(f"{name}: exit status {code}, expected {expected}")
            walls[name].append(wall)
            cpus[name].append(cpu)

    base_wall = statistics.median(walls[BASELINE])
    base_cpu = statistics.median(cpus[BASELINE])
    print(f"{'command':<38} {'wall ms':>8} {'vs click':>9} {'cpu ms':>8} {'vs click':>9}")
    for name in walls:
        wall = statistics.median(walls[name])
        cpu = statistics.median(cpus[name])
        print(
            f"{name:<38} {wall * 1000:>8.1f} {wall / base_wall:>8.2f}x"
            f" {cpu * 1000:>8.1f} {cpu / base_cpu:>8.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
