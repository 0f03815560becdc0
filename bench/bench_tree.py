"""Benchmark `kcmpctl tree` against `kcmpctl matrix` on the same processes.

    python bench/bench_tree.py [-n 2000] [--family 5] [--runs 7]

Spawns N processes in families sharing one fd table and fs_struct (bench_matrix's
spawn_families), then times, interleaved run by run so that load from elsewhere hits
all alike, whole processes through the runstat launcher:

- ``kcmpctl matrix -J --tree SPAWNER`` and ``kcmpctl tree -J SPAWNER -t task``: the
  six kcmp types over the N processes;
- ``kcmpctl matrix -J -t all --tree SPAWNER`` and ``kcmpctl tree -J SPAWNER``: the six
  and the eight namespace types (tree's default);
- ``kcmpctl matrix -J`` and ``kcmpctl tree -J -t task``: the whole machine.

Each tree run is checked: every family member shares its fd table and fs_struct with
its parent (the spawner) or else names a holder from its own family.  Prints median
wall and CPU times (user + system, of the command and the workers it waited for:
what a loaded machine disturbs least), peak RSS and the ratios tree/matrix per pair:
of the medians, and the median of the ratios run by run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_matrix import MiB, Timed, compile_helpers, families


def walk(nodes: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for node in nodes:
        yield node
        yield from walk(node["children"])


def check_tree(doc: dict[str, Any], made: list[list[int]], spawner: int) -> None:
    """What tree says of each family member holds for the families spawned."""
    family_of = {p: set(fam) for fam in made for p in fam}
    seen = 0
    for node in walk(doc["tree"]):
        members = family_of.get(node["pid"])
        if members is None:
            continue
        seen += 1
        if node["ppid"] != spawner:
            raise SystemExit(f"bench: {node['pid']} hangs under {node['ppid']}")
        for t in ("files", "fs"):
            holder = node["shares_with"][t]
            if node["shares"][t] is True:
                continue
            if node["shares"][t] is not False or (len(members) > 1 and holder not in members):
                raise SystemExit(f"bench: {node['pid']} {t}: {node['shares'][t]} {holder}")
        for t in ("vm", "sighand"):
            if node["shares"][t] is not False:
                raise SystemExit(f"bench: {node['pid']} {t}: {node['shares'][t]}")
        for t in ("io", "sysvsem"):
            if node["shares"][t] is not None:
                raise SystemExit(f"bench: {node['pid']} {t}: {node['shares'][t]}")
    if seen != len(family_of):
        raise SystemExit(f"bench: tree shows {seen} of {len(family_of)} processes")


def cpu_of_children() -> float:
    """User + system seconds of the children this process waited for, so far: runstat
    waits for kcmpctl, kcmpctl for its workers."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=2000, help="processes to spawn")
    parser.add_argument("--family", type=int, default=5, help="largest family size")
    parser.add_argument("--runs", type=int, default=7, help="runs of each command")
    args = parser.parse_args(argv)

    script = Path(sys.executable).with_name("kcmpctl")
    kcmpctl = [str(script)] if script.exists() else [sys.executable, "-m", "kcmpctl"]
    with tempfile.TemporaryDirectory() as tmp:
        helpers = compile_helpers(Path(tmp))
        with families(helpers["spawn_families"], args.n, args.family) as made:
            spawner = int(
                Path(f"/proc/{made[0][0]}/stat").read_text().rsplit(")", 1)[1].split()[1]
            )
            total = len([name for name in os.listdir("/proc") if name.isdigit()])
            print(
                f"{sum(map(len, made))} processes in {len(made)} families under {spawner},"
                f" {total} on the machine; {os.cpu_count()} CPUs; {args.runs} runs each"
            )
            root = str(spawner)
            pairs = [
                (
                    Timed("m task", [*kcmpctl, "matrix", "-J", "--tree", root], "matrix --tree P"),
                    Timed(
                        "t task",
                        [*kcmpctl, "tree", "-J", root, "-t", "task"],
                        "tree P -t task",
                    ),
                ),
                (
                    Timed(
                        "m all",
                        [*kcmpctl, "matrix", "-J", "-t", "all", "--tree", root],
                        "matrix --tree P -t all",
                    ),
                    Timed("t all", [*kcmpctl, "tree", "-J", root], "tree P"),
                ),
                (
                    Timed("m machine", [*kcmpctl, "matrix", "-J"], "matrix (machine)"),
                    Timed(
                        "t machine",
                        [*kcmpctl, "tree", "-J", "-t", "task"],
                        "tree -t task (machine)",
                    ),
                ),
            ]
            cases = [c for pair in pairs for c in pair]
            env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
            subprocess.run([*kcmpctl, "types"], stdout=subprocess.DEVNULL, env=env, check=True)
            cpus: dict[str, list[float]] = {case.label: [] for case in cases}
            for run in range(args.runs):
                for case in cases[run % len(cases) :] + cases[: run % len(cases)]:
                    before = cpu_of_children()
                    out = case.run(helpers["runstat"], env)
                    cpus[case.label].append(cpu_of_children() - before)
                    if case.label.startswith("t "):
                        if case.status != 0:
                            raise SystemExit(f"bench: {case.shown} exited {case.status}")
                        check_tree(json.loads(out), made, spawner)

    print(f"tree's answers checked against the families in all {3 * args.runs} tree runs\n")
    print(
        f"{'command':<26} {'median s':>9} {'min s':>7} {'CPU s':>7} {'peak MiB':>9}"
        f" {'tree/matrix':>12} {'CPU':>5} {'pairs':>6} {'CPU pairs':>9}"
    )
    for matrix, tree in pairs:
        cpu = {case.label: statistics.median(cpus[case.label]) for case in (matrix, tree)}
        for case in (matrix, tree):
            ratio = cpu_ratio = paired = cpu_paired = ""
            if case is tree:
                ratio = f"{tree.median / matrix.median:.2f}"
                cpu_ratio = f"{cpu[tree.label] / cpu[matrix.label]:.2f}"
                paired = f"{by_run(tree.walls, matrix.walls):.3f}"
                cpu_paired = f"{by_run(cpus[tree.label], cpus[matrix.label]):.3f}"
            print(
                f"{case.shown:<26} {case.median:>9.3f} {min(case.walls):>7.3f}"
                f" {cpu[case.label]:>7.3f} {max(case.peaks) / MiB:>9.1f} {ratio:>12}"
                f" {cpu_ratio:>5} {paired:>6} {cpu_paired:>9}"
            )
    print(
        "\ntree/matrix, CPU: the ratios of the medians; pairs, CPU pairs: the medians of"
        " the ratios run by run (each run times both commands of a pair, back to back)."
    )


def by_run(tree: Sequence[float], matrix: Sequence[float]) -> float:
    """The median of tree's time over matrix's, run by run."""
    return statistics.median(t / m for t, m in zip(tree, matrix, strict=True))


if __name__ == "__main__":
    main()
