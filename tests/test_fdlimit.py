"""Fewer file descriptors than processes: complete, correct answers under a hard limit.

Services and containers often run with a hard RLIMIT_NOFILE of 1024 or less; a pidfd
per selected process does not fit there.  Each test runs kcmpctl as a separate
process under a hard limit of 128 (as ``prlimit --nofile=128:128`` would) over a
family of 600 processes or 1,500 threads whose sharing is known.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from kcmpctl import procs

from .conftest import Family

LIMIT = 128


def limited(*args: str) -> tuple[int, dict[str, Any], str]:
    """``kcmpctl ARGS`` under a hard fd limit of :data:`LIMIT`: status, JSON, stderr."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, LIMIT))

    proc = subprocess.run(
        [sys.executable, "-m", "kcmpctl", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=limit,
    )
    doc = json.loads(proc.stdout) if proc.stdout else {}
    return proc.returncode, doc, proc.stderr


@pytest.fixture
def six_hundred(family: Callable[..., Family]) -> tuple[Family, set[int], set[int]]:
    """The helper, 300 children sharing one fd table and fs_struct (not the helper's:
    it unshares after making them), and 300 children sharing nothing."""
    fam = family("clones:a:300:FILES|FS", "unshare:FILES|FS", "clones:b:300:0")
    a = {fam[f"a_{i}"] for i in range(300)}
    b = {fam[f"b_{i}"] for i in range(300)}
    return fam, a, b


def by_type(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["type"]: r for r in doc["resources"]}


def check_six_hundred(doc: dict[str, Any], fam: Family, a: set[int], b: set[int]) -> None:
    """Every one of ours compared, none skipped, the groups exactly the family's."""
    ours = a | b | {fam.pid}
    for kind, result in by_type(doc).items():
        compared = set(result["order"]) | set(result["absent"])
        assert ours <= compared, kind
        assert not {s["pid"] for s in result["skipped"]} & ours, kind
        groups = [set(g) & ours for g in result["groups"] if set(g) & ours]
        if kind in ("files", "fs"):
            assert groups == [a], kind
        elif kind in ("io", "sysvsem"):
            assert ours <= set(result["absent"]), kind
        else:
            assert groups == [], kind


def test_matrix_tree_over_more_processes_than_fds(
    six_hundred: tuple[Family, set[int], set[int]],
) -> None:
    fam, a, b = six_hundred
    status, doc, err = limited("matrix", "-J", "--tree", str(fam.pid))
    assert (status, err) == (1, "")
    assert len(doc["processes"]) == 601
    check_six_hundred(doc, fam, a, b)


def test_matrix_pids_over_more_processes_than_fds(
    six_hundred: tuple[Family, set[int], set[int]],
) -> None:
    fam, a, b = six_hundred
    pids = ",".join(map(str, sorted(a | b | {fam.pid})))
    status, doc, err = limited("matrix", "-J", "-p", pids)
    assert (status, err) == (1, "")
    check_six_hundred(doc, fam, a, b)


def test_matrix_whole_machine_over_more_processes_than_fds(
    six_hundred: tuple[Family, set[int], set[int]],
) -> None:
    fam, a, b = six_hundred
    status, doc, err = limited("matrix", "-J")
    assert status in (0, 1), err
    assert "Too many open files" not in err
    check_six_hundred(doc, fam, a, b)


def test_fds_over_more_processes_than_fds(
    six_hundred: tuple[Family, set[int], set[int]],
) -> None:
    """The helper's stdout (a pipe) is held by all 601: the 300 sharing one table
    (listed through its first), the helper and the 300 that copied its fds."""
    fam, a, b = six_hundred
    status, doc, err = limited("fds", "-J", "--tree", str(fam.pid))
    assert (status, err) == (0, "")
    assert doc["skipped"] == []
    stdout = os.fstat(fam.proc.stdout.fileno()) if fam.proc.stdout else None
    assert stdout is not None
    (pipe,) = [d for d in doc["descriptions"] if d["ino"] == stdout.st_ino]
    held = {h["pid"] for h in pipe["holders"] if h["fd"] == 1}
    assert held == a | b | {fam.pid}
    assert len(pipe["tables"]) == 302


def test_matrix_threads_over_more_threads_than_fds(family: Callable[..., Family]) -> None:
    fam = family("threads:1500")
    tids = set(procs.thread_ids(fam.pid))
    assert len(tids) == 1501
    status, doc, err = limited("matrix", "-J", "--threads", "-p", str(fam.pid))
    assert (status, err) == (1, "")  # 1: io and sysvsem are absent
    for kind, result in by_type(doc).items():
        assert not result["skipped"], kind
        if kind == "io":  # no io_context; CLONE_SYSVSEM does allocate an undo list
            assert set(result["absent"]) == tids, kind
        else:
            assert [set(g) for g in result["groups"]] == [tids], kind


def test_a_task_without_a_pidfd_is_known_by_its_start_time(
    family: Callable[..., Family], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No fd left for pidfds: a process that started before selection's clock tick is
    selected (its start time tells a PID reuse), one that started in that very tick is
    refused, by name.  Processes start until both cases were seen."""
    monkeypatch.setattr(procs, "pidfd_budget", lambda wanted=None: 0)
    seen = {"old": 0, "young": 0}
    for attempt in range(40):
        fam = family("name:young")
        if attempt % 2:
            time.sleep(0.02)  # two clock ticks of 10 ms
        selection = procs.select_tasks(pids=[fam.pid])
        try:
            st = procs.read_stat(fam.pid)
            assert st is not None
            if selection.tasks:
                (task,) = selection.tasks
                assert task.pidfd is None
                assert not task.gone()
                seen["old"] += 1
            else:
                assert selection.missing == [(fam.pid, procs.TOO_YOUNG)]
                seen["young"] += 1
        finally:
            selection.close()
            fam.end()
        if all(seen.values()):
            break
    assert all(seen.values()), seen


def test_the_budget_for_a_few_never_promises_more_than_is_free() -> None:
    """Asked for a few pidfds, the budget may come from the size of the fd table (a
    bound on the fds open); it is never more than the fds really free, and where the
    bound cannot promise that many, the fds open are counted."""
    fds = [os.open(os.devnull, os.O_RDONLY) for _ in range(300)]
    try:
        exact = procs.pidfd_budget()
        assert 0 < procs.pidfd_budget(1) <= exact
        assert procs.pidfd_budget(exact + 1) == exact
    finally:
        for fd in fds:
            os.close(fd)
