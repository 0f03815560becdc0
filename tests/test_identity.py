"""Who a process is: its effective uid (also when it is not dumpable), and a thread ID
given as a process stands for its process, listed once."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable

import pytest

from kcmpctl import procs

from .conftest import Family, wait_for_state

Spawn = Callable[..., Family]
Run = Callable[..., tuple[int, str, str]]

NOBODY = 65534


def matrix_json(kcmpctl: Run, *args: str) -> tuple[int, dict[str, object]]:
    status, out, _ = kcmpctl("matrix", "-J", "-t", "vm", *args)
    return status, json.loads(out)


@pytest.mark.skipif(os.geteuid() != 0, reason="making a process of another uid needs root")
def test_a_process_that_is_not_dumpable_is_shown_with_its_own_uid(
    family: Spawn, kcmpctl: Run
) -> None:
    # Its /proc entries belong to root (the kernel's rule for non-dumpable processes):
    # the owner of /proc/PID would name the wrong user.
    fam = family(f"setuid:{NOBODY}", "undump")
    assert os.stat(f"/proc/{fam.pid}/stat").st_uid == 0
    _, doc = matrix_json(kcmpctl, "-p", str(fam.pid))
    (row,) = doc["processes"]  # type: ignore[misc]
    assert row["uid"] == NOBODY
    # -u selects by it too.
    _, doc = matrix_json(kcmpctl, "-u", str(NOBODY), "--tree", str(fam.pid))
    assert [p["pid"] for p in doc["processes"]] == [fam.pid]  # type: ignore[attr-defined]
    # A filter reads the stats first and asks the owners of those kept after.
    _, doc = matrix_json(kcmpctl, "--tree", str(fam.pid))
    (row,) = doc["processes"]  # type: ignore[misc]
    assert row["uid"] == NOBODY


@pytest.mark.skipif(os.geteuid() != 0, reason="making a process of another uid needs root")
def test_the_pidfd_tells_the_effective_uid_that_status_does(family: Spawn) -> None:
    fam = family(f"setuid:{NOBODY}", "undump")
    pidfd = os.pidfd_open(fam.pid)
    try:
        told = procs.pidfd_euid(pidfd)
        if told is None:
            pytest.skip("the kernel does not tell (PIDFD_GET_INFO: Linux 6.13 and later)")
        assert told == procs.effective_uid(fam.pid) == NOBODY
        assert procs.effective_uid(fam.pid, pidfd) == NOBODY
    finally:
        os.close(pidfd)


def test_a_thread_id_stands_for_its_process(family: Spawn, kcmpctl: Run) -> None:
    fam = family("thread:t", "fork:c")
    p, t = fam.pid, fam["t"]
    assert procs.thread_group(t) == p
    _, doc = matrix_json(kcmpctl, "-p", f"{t},{p},{fam['c']}")
    assert [row["pid"] for row in doc["processes"]] == [p, fam["c"]]  # type: ignore[attr-defined]
    _, doc = matrix_json(kcmpctl, "-p", str(t))
    assert [(row["pid"], row["tid"]) for row in doc["processes"]] == [(p, None)]  # type: ignore[attr-defined]
    # --threads: every thread of the process once, however it was named.
    _, doc = matrix_json(kcmpctl, "--threads", "-p", f"{p},{t}")
    tids = [row["tid"] for row in doc["processes"]]  # type: ignore[attr-defined]
    assert sorted(tids) == sorted(set(tids)) == sorted([p, t])
    status, _, err = kcmpctl("fds", "-p", f"{t},{p}", "-J")
    assert (status, err) == (0, "")


@pytest.mark.parametrize(
    ("few", "pidfds"),
    [(0, True), (0, False), (procs.FEW_NAMED, True)],
    ids=["pidfds first", "listing /proc", "status each"],
)
def test_thread_ids_told_apart_both_ways(
    family: Spawn, monkeypatch: pytest.MonkeyPatch, few: int, pidfds: bool
) -> None:
    """Many named IDs: those that get no pidfd (or that /proc does not list, where
    the stats are read first) are looked up; a few: each one."""
    monkeypatch.setattr(procs, "FEW_NAMED", few)
    fam = family("thread:t", "fork:c")
    p, t, c = fam.pid, fam["t"], fam["c"]
    nobody = procs.pid_max() + 1
    # A selector that filters has the stats read first, the pidfds opened after.
    users = None if pidfds else [os.getuid()]
    if pidfds:  # pidfd_open() tells a thread apart: /proc is not listed

        def unlisted(path: object = ".") -> list[str]:
            raise AssertionError(f"listed {path}")

        monkeypatch.setattr(os, "listdir", unlisted)
    selection = procs.select_tasks(pids=[t, c, p, nobody], users=users)
    try:
        assert [task.pid for task in selection.tasks] == [p, c]
        assert selection.aliases == {t: p}
        assert selection.missing == [(nobody, "no such process")]
    finally:
        selection.close()


def test_a_thread_id_of_a_process_whose_leader_exited(family: Spawn, kcmpctl: Run) -> None:
    fam = family("thread:t", "leaderexit")
    wait_for_state(fam.pid, "Z")
    p, t = fam.pid, fam["t"]
    _, doc = matrix_json(kcmpctl, "-p", f"{p},{t}")
    assert [row["pid"] for row in doc["processes"]] == [p]  # type: ignore[attr-defined]
    (vm,) = doc["resources"]  # type: ignore[misc]
    assert vm["order"] == [p]


@pytest.mark.parametrize("many", [False, True], ids=["few", "split"])
def test_owners_are_read_only_when_asked(
    family: Spawn, monkeypatch: pytest.MonkeyPatch, many: bool
) -> None:
    """tree shows no owner: its selection asks the kernel no uid, unless -u selects
    by it.  (*many*: the stats read by two processes, as from 256 on.)"""
    if many:
        monkeypatch.setattr(procs, "SPLIT_MIN", 1)
    fam = family("fork:c")
    p, c = fam.pid, fam["c"]
    unasked = procs.select_tasks(pids=[p, c], owners=False)
    try:
        assert [(t.pid, t.uid) for t in unasked.tasks] == [(p, None), (c, None)]
    finally:
        unasked.close()
    asked = procs.select_tasks(pids=[p, c], users=[os.geteuid()], owners=False)
    try:
        assert [(t.pid, t.uid) for t in asked.tasks] == [(p, os.geteuid()), (c, os.geteuid())]
    finally:
        asked.close()
    other = procs.select_tasks(pids=[p, c], users=[os.geteuid() + 1], owners=False)
    try:
        assert other.tasks == []
    finally:
        other.close()


def test_tree_selects_by_owner(family: Spawn, kcmpctl: Run) -> None:
    fam = family("fork:c")
    p, c = fam.pid, fam["c"]
    status, out, _ = kcmpctl("tree", "-J", "-t", "files", str(p), "-u", str(os.geteuid()))
    assert status == 0
    (root,) = json.loads(out)["tree"]
    assert (root["pid"], [child["pid"] for child in root["children"]]) == (p, [c])
    status, out, _ = kcmpctl("tree", "-J", "-t", "files", str(p), "-u", str(os.geteuid() + 1))
    assert status == 1
    assert json.loads(out)["tree"] == []


@pytest.mark.parametrize("pidfds", [True, False], ids=["pidfds", "start-times"])
def test_a_filter_asks_the_owners_of_the_processes_kept(
    family: Spawn, monkeypatch: pytest.MonkeyPatch, pidfds: bool
) -> None:
    """Selected by a filter, processes get their pidfds after their stats are read,
    and their owners after that: through the pidfd, or without one (no fd left)
    through /proc, checked against the start time read first."""
    fam = family("fork:c", "zombie:z")
    p, c, z = fam.pid, fam["c"], fam["z"]
    wait_for_state(z, "Z")
    asked: list[int] = []
    status_field = procs._status_field

    def counted(tid: int, key: bytes, *args: int) -> int:
        if key == b"Uid:":
            asked.append(tid)
        return status_field(tid, key, *args)

    monkeypatch.setattr(procs, "_status_field", counted)
    if not pidfds:
        monkeypatch.setattr(procs, "pidfd_budget", lambda wanted=None: 0)
        time.sleep(0.05)  # a clock tick after the family started: told by start time
    selection = procs.select_tasks(tree=p)
    try:
        # A zombie, not reaped, still has its owner.
        me = os.geteuid()
        assert [(t.pid, t.uid) for t in selection.tasks] == [(p, me), (c, me), (z, me)]
        assert all((t.pidfd is not None) == pidfds for t in selection.tasks)
        # Status only for the kept, where neither the pidfd nor /proc's owner tells.
        assert set(asked) <= {p, c, z}
    finally:
        selection.close()
