"""A process whose main thread exited while another thread runs: errors name the
process and the fd the user typed, and what is read about it comes from a live thread."""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import pytest

from kcmpctl import BadFileDescriptor, procs
from kcmpctl.kcmp import compare_files

from .conftest import Family, wait_for_state

Spawn = Callable[..., Family]
Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def leaderless(family: Spawn) -> Family:
    """P (main thread exited, thread t running) with a pipe at fds p_r and p_w."""
    fam = family("pipe:p", "thread:t", "leaderexit")
    wait_for_state(fam.pid, "Z")
    return fam


def test_a_closed_fd_of_the_other_process_is_blamed(
    leaderless: Family, family: Spawn, kcmpctl: Run
) -> None:
    other = family("fork:c")
    p = leaderless.pid
    with pytest.raises(BadFileDescriptor) as info:
        compare_files(p, leaderless["p_r"], other.pid, 999)
    assert str(info.value) == f"fd 999 is not open in process {other.pid}"
    assert info.value.pids == (other.pid,)
    status, _, err = kcmpctl("pair", f"{p}:{leaderless['p_r']}", f"{other.pid}:999")
    assert status == 2
    assert err == f"kcmpctl: fd 999 is not open in process {other.pid}\n"


def test_a_closed_fd_of_the_same_process_is_blamed(leaderless: Family, kcmpctl: Run) -> None:
    p = leaderless.pid
    status, _, err = kcmpctl("pair", f"{p}:{leaderless['p_r']}", f"{p}:999")
    assert status == 2
    assert err == f"kcmpctl: fd 999 is not open in process {p}\n"
    status, _, err = kcmpctl("pair", f"{p}:999", f"{p}:{leaderless['p_r']}")
    assert err == f"kcmpctl: fd 999 is not open in process {p}\n"


def test_targets_are_read_through_the_live_thread(leaderless: Family, kcmpctl: Run) -> None:
    p, fd = leaderless.pid, leaderless["p_r"]
    status, out, err = kcmpctl("pair", f"{p}:{fd}", f"{p}:{fd}", "-J")
    assert (status, err) == (0, "")
    (record,) = json.loads(out)["pairs"]
    link = os.readlink(f"/proc/{p}/task/{leaderless['t']}/fd/{fd}")
    assert link.startswith("pipe:")
    assert (record["target1"], record["target2"]) == (link, link)
    assert record["shared"] is True


def test_epoll_errors_name_the_process_not_its_thread(family: Spawn, kcmpctl: Run) -> None:
    fam = family("epoll:ep", "pipe:a", "eadd:3:4", "thread:t", "leaderexit")
    wait_for_state(fam.pid, "Z")
    assert procs.live_task(fam.pid) == fam["t"]
    status, _, err = kcmpctl("epoll", str(fam.pid), "999")
    assert status == 2
    assert err == f"kcmpctl: fd 999 is not open in process {fam.pid}\n"
    status, _, err = kcmpctl("epoll", str(fam.pid), str(fam["a_r"]))
    assert status == 2
    assert err == f"kcmpctl: process {fam.pid} fd {fam['a_r']}: not an epoll instance\n"
    status, _, err = kcmpctl("epoll", str(fam.pid), "3", "--check", "4", f"{fam.pid}:999")
    assert status == 2
    assert err == f"kcmpctl: fd 999 is not open in process {fam.pid}\n"


def test_the_live_thread_is_pinned_when_the_process_is_selected(leaderless: Family) -> None:
    # The thread kcmp is called through is held by a pidfd from the moment it is
    # chosen: a TID reused later cannot be followed instead.
    selection = procs.select_tasks(pids=[leaderless.pid])
    try:
        (task,) = selection.tasks
        assert task.tid == leaderless["t"]
        if task.thread_pidfd is None:
            pytest.skip("no PIDFD_THREAD here (Linux < 6.9)")
        with open(f"/proc/self/fdinfo/{task.thread_pidfd}") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        assert int(fields["Pid"]) == leaderless["t"]
    finally:
        selection.close()
    assert task.thread_pidfd is None
