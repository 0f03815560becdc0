"""--freeze against real processes: one snapshot, and every thread running again after.

The families change in a loop (an fd flipped between two descriptions, a SysV undo list
that comes and goes); frozen, each answer must be one of the states the family really
had.  After every run every thread of every family must run again: not in a tracing
stop (state ``t``), traced by nobody.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable

import pytest

from kcmpctl import _syscall, procs
from kcmpctl.freeze import Freezer
from kcmpctl.matrix import ZOMBIE

from .conftest import Family, wait_for_state

Spawn = Callable[..., Family]
Run = Callable[..., tuple[int, str, str]]


def thread_states(pid: int) -> dict[int, tuple[str, int]]:
    """Each thread of *pid*: its state letter and its TracerPid."""
    found = {}
    for tid in procs.thread_ids(pid):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                fields = dict(line.split(":", 1) for line in f)
        except (FileNotFoundError, ProcessLookupError):  # exited meanwhile
            continue
        found[tid] = (fields["State"].split()[0], int(fields["TracerPid"]))
    return found


def held(pids: Iterable[int]) -> dict[int, tuple[str, int]]:
    """The threads of *pids* that are stopped by a tracer or still traced."""
    return {
        tid: st
        for pid in pids
        for tid, st in thread_states(pid).items()
        if st[0] == "t" or st[1] != 0
    }


def assert_running(*pids: int) -> None:
    """Every thread of *pids* runs again, traced by nobody (detaching wakes at once;
    a moment's grace for a thread that is being scheduled)."""
    deadline = time.monotonic() + 2
    while held(pids) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert held(pids) == {}
    assert all(thread_states(pid) for pid in pids), "a family process is gone"


def wait_traced_by(pid: int, tracer: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 10
    while procs.tracer_pid(pid) != tracer:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{pid} never traced by {tracer}"
        time.sleep(0.001)


def sibling_may_attach() -> None:
    """Skip where a process may ptrace only its descendants (Yama) and we are not root."""
    scope = procs.ptrace_scope()
    if scope and os.geteuid() != 0:
        pytest.skip(f"Yama ptrace_scope is {scope}: kcmpctl may not stop a non-descendant")


# ----------------------------------------------------------------- one snapshot


def test_fds_frozen_sees_the_flipping_fd_in_exactly_one_description(
    family: Spawn, kcmpctl: Run, tmp_path: os.PathLike[str]
) -> None:
    # P holds D1 at 5; C holds D1 at 20, D2 at 21 and flips its fd 5 between them;
    # X holds D2 alone at 7.  Unfrozen, a scan could merge D1 and D2 (P:5 with X:7)
    # or lose C:5.  Frozen, C:5 is with exactly one of them, every time.
    path = os.path.join(tmp_path, "file")
    with open(path, "w") as f:
        f.write("x")
    fam = family(f"fdflip:f:{path}")
    p, c, x = fam.pid, fam["f_c"], fam["f_x"]
    d1, d2 = {(p, 5), (c, 20)}, {(c, 21), (x, 7)}
    for _ in range(40):
        status, out, err = kcmpctl("fds", "-p", f"{p},{c},{x}", "--freeze", "-J")
        assert (status, err) == (0, "")
        doc = json.loads(out)
        assert doc["skipped"] == []
        ours = [
            {(h["pid"], h["fd"]) for h in d["holders"]}
            for d in doc["descriptions"]
            if d["target"] == path
        ]
        assert sorted(ours, key=sorted) in (
            sorted([d1 | {(c, 5)}, d2], key=sorted),
            sorted([d1, d2 | {(c, 5)}], key=sorted),
        )
        assert_running(p, c, x)


def test_pair_frozen_never_calls_a_coming_and_going_undo_list_shared(
    family: Spawn, kcmpctl: Run
) -> None:
    # Unfrozen, 'compare, then check absence' said "shared" against a process with no
    # undo list in ~16 % of runs: the loop's list was gone by the second call.
    fam = family("semflip:s")
    for _ in range(60):
        status, out, err = kcmpctl(
            "pair", str(fam["s"]), str(fam.pid), "-t", "sysvsem", "--freeze", "-J"
        )
        assert (status, err) == (1, "")
        (row,) = json.loads(out)["pairs"]
        assert row["shared"] is False
        assert row["relation"] in ("none", f"only {fam['s']} has one")
        assert fam.pid in row["absent"]
    assert_running(fam.pid, fam["s"])


def test_matrix_frozen_never_groups_two_coming_and_going_undo_lists(
    family: Spawn, kcmpctl: Run
) -> None:
    fam = family("semflip:a", "semflip:b", "thread:t")
    pids = [fam.pid, fam["a"], fam["b"]]
    for _ in range(40):
        status, out, err = kcmpctl(
            "matrix", "-p", ",".join(map(str, pids)), "-t", "sysvsem,files", "--freeze", "-J"
        )
        assert (status, err) == (1, "")
        by_type = {r["type"]: r for r in json.loads(out)["resources"]}
        assert by_type["sysvsem"]["groups"] == []
        assert by_type["sysvsem"]["skipped"] == []
        # pthread_create() shares, and so makes, an undo list (CLONE_SYSVSEM).
        assert fam.pid in by_type["sysvsem"]["order"]
        assert sorted(by_type["files"]["order"]) == sorted(pids)
    assert_running(*pids)


def test_epoll_frozen_lists_the_moved_registration(family: Spawn, kcmpctl: Run) -> None:
    fam = family("pipe:p", "epoll:ep", "eadd:5:3", "dup2:3:9", "close:3", "fork:c")
    # fds: pipe 3/4 -> the read end registered as 3, moved to 9; the epoll at 5.
    ep = fam["ep"]
    status, out, err = kcmpctl("epoll", str(fam.pid), str(ep), "--freeze", "-J")
    assert (status, err) == (1, "")
    (target,) = json.loads(out)["targets"]
    assert target["status"] == "moved"
    assert_running(fam.pid, fam["c"])


def test_tree_frozen_says_what_each_child_shares_with_its_parent(
    family: Spawn, kcmpctl: Run
) -> None:
    fam = family("clone:c:FILES", "semflip:s")
    for _ in range(10):
        status, out, err = kcmpctl("tree", str(fam.pid), "--freeze", "-J")
        assert (status, err) == (0, "")
        (root,) = json.loads(out)["tree"]
        children = {child["pid"]: child for child in root["children"]}
        assert children[fam["c"]]["shares"]["files"] is True
        assert children[fam["s"]]["shares"]["sysvsem"] is not True
        assert children[fam["s"]]["unknown"] is None
    assert_running(fam.pid, fam["c"], fam["s"])


# ----------------------------------------------------------- resumed, whatever happens


def test_frozen_threads_are_stopped_during_the_comparison_and_resumed_after_ctrl_c(
    family: Spawn, kcmpctl: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    fam = family("thread:t", "fork:c")
    seen: list[dict[int, tuple[str, int]]] = []
    real = _syscall.kcmp

    def interrupted(*args: int) -> int:
        # Ctrl-C in the middle of the comparisons, once the answer has begun.
        seen.append(held([fam.pid, fam["c"]]))
        if len(seen) == 3:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(_syscall, "kcmp", interrupted)
    status, out, _ = kcmpctl("pair", str(fam.pid), str(fam["c"]), "--freeze")
    assert (status, out) == (130, "")
    me = os.getpid()
    stopped = {fam.pid: ("t", me), fam["t"]: ("t", me), fam["c"]: ("t", me)}
    assert seen[-1] == stopped
    assert_running(fam.pid, fam["c"])


def test_a_process_that_does_not_stop_is_refused_and_all_run_again(
    family: Spawn, run_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    sibling_may_attach()
    fam = family("vfork:v", "thread:t")
    start = time.monotonic()
    proc = run_cli("matrix", "-p", f"{fam.pid},{fam['v']}", "--freeze", "-t", "files")
    assert time.monotonic() - start < 10
    assert proc.returncode == 2
    assert proc.stderr == (
        f"kcmpctl: process {fam['v']}: cannot be frozen: a thread did not stop within 2 s"
        " (uninterruptible sleep, or a vfork parent waiting for its child)\n"
    )
    assert_running(fam.pid, fam["v"])


@pytest.mark.parametrize(
    ("signum", "returncode"),
    [
        (signal.SIGINT, 130),
        (signal.SIGTERM, -signal.SIGTERM),
        (signal.SIGKILL, -signal.SIGKILL),
    ],
)
def test_a_signal_while_frozen_leaves_every_thread_running(
    family: Spawn, signum: int, returncode: int
) -> None:
    # The vfork parent holds kcmpctl in its freeze for 2 s, with the helper and its
    # thread already stopped: the window to signal kcmpctl in.  SIGKILL gives it no
    # chance to detach; the kernel does it as the tracer dies.
    sibling_may_attach()
    fam = family("thread:t", "vfork:v")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kcmpctl", "matrix", "-p", f"{fam.pid},{fam['v']}", "--freeze"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_traced_by(fam["t"], proc.pid, proc)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == returncode, err
    assert out == ""
    assert "Traceback" not in err
    assert_running(fam.pid, fam["v"])


def test_threads_created_while_freezing_are_stopped_too(family: Spawn) -> None:
    # A thread that creates threads all the time: the list is read again until no
    # new thread appears, so none is left running.
    fam = family("spawner")
    for _ in range(20):
        with Freezer() as freezer:
            assert freezer.freeze([fam.pid]) == {}
            states = thread_states(fam.pid)
            assert len(states) >= 2
            assert {st for st, _ in states.values()} == {"t"}, states
            assert freezer.threads == len(states)
            time.sleep(0.002)  # frozen: no thread comes or goes
            assert thread_states(fam.pid) == states
        assert_running(fam.pid)


def test_matrix_threads_frozen_has_a_row_for_every_thread_of_the_snapshot(
    family: Spawn, kcmpctl: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Threads made between the selection and the freeze are selected once frozen.
    fam = family("spawner")
    real_thaw = Freezer.thaw
    snapshot: list[set[int]] = []

    def thaw(self: Freezer) -> None:
        if self.frozen:
            snapshot.append(set(procs.thread_ids(fam.pid)))
        real_thaw(self)

    monkeypatch.setattr(Freezer, "thaw", thaw)
    for _ in range(10):
        snapshot.clear()
        status, out, err = kcmpctl(
            "matrix", "-p", str(fam.pid), "--threads", "--freeze", "-J", "-t", "vm"
        )
        assert (status, err) in ((0, ""), (1, ""))  # 1: a thread exited before the freeze
        doc = json.loads(out)
        (vm,) = doc["resources"]
        exited = {s["tid"] for s in vm["skipped"]}
        # A thread that exits while traced stays a zombie until its tracer (the
        # freeze) lets go: selected in that state, it is skipped as one.
        assert {s["reason"] for s in vm["skipped"]} <= {"exited", ZOMBIE}
        rows = {p["tid"] for p in doc["processes"]}
        assert snapshot[0] <= rows  # a row for every thread of the snapshot (a zombie's too)
        assert rows - exited <= snapshot[0]  # each compared one was in it
    assert_running(fam.pid)


def test_a_signal_that_arrives_while_frozen_is_delivered_after(family: Spawn) -> None:
    fam = family("pipe:p", "sigclose:3")
    with Freezer() as freezer:
        assert freezer.freeze([fam.pid]) == {}
        os.kill(fam.pid, signal.SIGUSR1)  # its handler closes fd 3 ...
        time.sleep(0.05)
        assert procs.fd_is_open(fam.pid, 3)  # ... not while it is stopped
    deadline = time.monotonic() + 5
    while procs.fd_is_open(fam.pid, 3):
        assert time.monotonic() < deadline, "SIGUSR1 was lost"
        time.sleep(0.005)
    assert_running(fam.pid)


def test_a_stopped_process_stays_stopped(family: Spawn) -> None:
    fam = family("fork:c")
    os.kill(fam["c"], signal.SIGSTOP)
    try:
        wait_for_state(fam["c"], "T")
        with Freezer() as freezer:
            assert freezer.freeze([fam["c"]]) == {}
        time.sleep(0.05)
        assert thread_states(fam["c"]) == {fam["c"]: ("T", 0)}
    finally:
        os.kill(fam["c"], signal.SIGCONT)


# ------------------------------------------------------------- said, not guessed


def pid1_is_denied() -> None:
    try:
        _syscall.kcmp(1, os.getpid(), 0, 0, 0)
    except OSError as err:
        if err.errno == errno.EPERM:
            return
    pytest.skip("pid 1 is accessible here: no real refusal to test")


def test_pid_1_cannot_be_frozen_one_line(family: Spawn, kcmpctl: Run) -> None:
    pid1_is_denied()
    fam = family("fork:c")
    status, out, err = kcmpctl("pair", "1", str(fam.pid), "--freeze")
    assert (status, out) == (2, "")
    assert err == (
        "kcmpctl: process 1: cannot be frozen: permission denied (run as the owner of the"
        " process, or as root / with CAP_SYS_PTRACE)\n"
    )
    # Named, it is trouble; the others are still compared, frozen.
    status, out, err = kcmpctl("matrix", "-p", f"1,{fam.pid},{fam['c']}", "--freeze", "-J")
    assert status == 2
    assert err.splitlines() == [
        "kcmpctl: process 1: cannot be frozen: permission denied (run as the owner of the"
        " process, or as root / with CAP_SYS_PTRACE)"
    ]
    vm = json.loads(out)["resources"][0]
    assert vm["skipped"] == [{"pid": 1, "tid": None, "reason": vm["skipped"][0]["reason"]}]
    assert vm["skipped"][0]["reason"].startswith("cannot be frozen: permission denied")
    assert sorted(vm["order"]) == sorted([fam.pid, fam["c"]])
    assert_running(fam.pid, fam["c"])


def test_a_kernel_thread_cannot_be_frozen(kcmpctl: Run) -> None:
    kthreadd = procs.read_stat(2)
    if kthreadd is None or not kthreadd.kthread:
        pytest.skip("pid 2 is not kthreadd in this PID namespace")
    status, out, err = kcmpctl("matrix", "-p", f"2,{os.getpid()}", "--freeze", "-t", "vm", "-J")
    assert status == 2
    (vm,) = json.loads(out)["resources"]
    assert vm["skipped"] == [
        {"pid": 2, "tid": None, "reason": "cannot be frozen: a kernel thread cannot be traced"}
    ]
    assert err == "kcmpctl: process 2: cannot be frozen: a kernel thread cannot be traced\n"


def test_a_process_under_a_debugger_is_named_with_its_tracer(family: Spawn, kcmpctl: Run) -> None:
    fam = family("fork:c", "fork:d")
    debugger = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\nfrom kcmpctl import _syscall\n"
            f"_syscall.ptrace(_syscall.PTRACE_SEIZE, {fam['c']})\n"
            "print('ready', flush=True)\nsys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert debugger.stdout is not None
        if debugger.stdout.readline() != "ready\n":
            pytest.skip("this process may not trace a sibling here (Yama)")
        # Named: trouble, one line naming the tracer.
        status, _, err = kcmpctl("pair", str(fam["c"]), str(fam["d"]), "--freeze")
        assert status == 2
        assert err == (
            f"kcmpctl: process {fam['c']}: cannot be frozen: already traced by process"
            f" {debugger.pid} ({procs.comm(debugger.pid)})\n"
        )
        # Found by a selector: skipped with the reason, no trouble.
        status, out, err = kcmpctl("fds", "--tree", str(fam.pid), "--freeze", "-J")
        assert (status, err) == (0, "")
        skipped = json.loads(out)["skipped"]
        assert [s["pid"] for s in skipped] == [fam["c"]]
        assert skipped[0]["reason"].startswith("cannot be frozen: already traced by process")
    finally:
        assert debugger.stdin is not None
        debugger.stdin.close()
        debugger.wait()
        assert debugger.stdout is not None
        debugger.stdout.close()
    assert_running(fam.pid, fam["c"], fam["d"])


def test_without_freeze_nothing_is_traced_and_no_ctypes_for_it() -> None:
    code = (
        "import os, sys; from kcmpctl.__main__ import main; "
        "s = main(['pair', str(os.getpid()), str(os.getppid()), '-q', '-t', 'vm']); "
        "assert 'kcmpctl.freeze' not in sys.modules, sorted(sys.modules); "
        "sys.exit(s)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert (proc.returncode, proc.stderr) == (1, "")
