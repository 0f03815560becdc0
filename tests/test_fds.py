"""kcmpctl fds against real processes whose sharing is known, checked through -J."""

from __future__ import annotations

import errno
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kcmpctl import procs

from .conftest import HELPERS, Family, denied_pid, free_pid

Run = Callable[..., tuple[int, str, str]]
Start = Callable[..., Family]

READ_END, WRITE_END = "0o0", "0o1"  # a pipe's two descriptions: O_RDONLY, O_WRONLY


def scan(kcmpctl: Run, *args: str) -> tuple[int, dict[str, Any], str]:
    status, out, err = kcmpctl("fds", "-J", *args)
    return status, json.loads(out), err


def comm(pid: int) -> str:
    name = procs.comm(pid)
    assert name is not None
    return name


def expected(
    holders: list[tuple[int, int]], tables: list[list[int]], *, flags: str, kind: str
) -> dict[str, Any]:
    """The record kcmpctl must print for the description behind *holders*."""
    pid, fd = holders[0]
    st = os.stat(f"/proc/{pid}/fd/{fd}")
    ordered = sorted(holders)
    return {
        "target": os.readlink(f"/proc/{pid}/fd/{fd}"),
        "type": kind,
        "dev": f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}",
        "ino": st.st_ino,
        "pos": 0,
        "flags": flags,
        "count": len(holders),
        "holders": [{"pid": p, "fd": f, "command": comm(p)} for p, f in ordered],
        "tables": sorted(sorted(t) for t in tables),
        "commands": list(dict.fromkeys(comm(p) for p, _ in ordered)),
    }


def holding(doc: dict[str, Any], pid: int, fd: int) -> dict[str, Any] | None:
    """The description that (pid, fd) holds, if it is reported."""
    descriptions: list[dict[str, Any]] = doc["descriptions"]
    for desc in descriptions:
        if (pid, fd) in [(h["pid"], h["fd"]) for h in desc["holders"]]:
            return desc
    return None


def holder_sets(doc: dict[str, Any]) -> set[frozenset[tuple[int, int]]]:
    return {frozenset((h["pid"], h["fd"]) for h in d["holders"]) for d in doc["descriptions"]}


def pids_in(doc: dict[str, Any]) -> set[int]:
    """Every pid that holds a reported description."""
    return {h["pid"] for d in doc["descriptions"] for h in d["holders"]}


def inherited(pids: list[int], fds: list[int]) -> set[frozenset[tuple[int, int]]]:
    """Each fd in *fds* held by every process in *pids* (fork inheritance)."""
    return {frozenset((p, fd) for p in pids) for fd in fds}


def parent(pid: int) -> int:
    st = procs.read_stat(pid)
    assert st is not None
    return st.ppid


def regular_flags(pid: int, fd: int) -> str:
    """What fdinfo says of a regular file's flags, less O_CLOEXEC (O_LARGEFILE varies by
    architecture: the kernel forces it on 64-bit, with a value of each architecture's)."""
    with open(f"/proc/{pid}/fdinfo/{fd}") as f:
        for line in f:
            if line.startswith("flags:"):
                return f"0o{int(line.split()[1], 8) & ~os.O_CLOEXEC:o}"
    raise AssertionError("no flags in fdinfo")


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def zombie(pid: int) -> bool:
    st = procs.read_stat(pid)
    return st is None or st.zombie


def kill_and_wait(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: zombie(pid))


# ------------------------------------------------------------------------ sharing


def test_fork_inherited_fds_are_one_description(kcmpctl: Run, family: Start) -> None:
    fam = family("pipe:p", "fork:c1", "fork:c2")
    pids = [fam.pid, fam["c1"], fam["c2"]]
    r, w = fam["p_r"], fam["p_w"]

    status, doc, err = scan(kcmpctl, "-p", ",".join(map(str, pids)))

    assert (status, err) == (0, "")
    assert holding(doc, fam.pid, r) == expected(
        [(p, r) for p in pids], [[p] for p in pids], flags=READ_END, kind="FIFO"
    )
    assert holding(doc, fam.pid, w) == expected(
        [(p, w) for p in pids], [[p] for p in pids], flags=WRITE_END, kind="FIFO"
    )
    # stdin, stdout and stderr are inherited too; the pipe's two ends stay apart.
    assert holder_sets(doc) == inherited(pids, [0, 1, 2, r, w])
    assert doc["skipped"] == []


def test_dup_within_one_process_needs_dups(kcmpctl: Run, family: Start) -> None:
    fam = family("pipe:p", "dup:d:3")
    assert fam["p_r"] == 3

    status, doc, _ = scan(kcmpctl, "-p", str(fam.pid))
    assert status == 0
    assert doc == {"descriptions": [], "skipped": []}

    status, doc, _ = scan(kcmpctl, "-p", str(fam.pid), "--dups")
    assert status == 0
    assert doc == {
        "descriptions": [
            expected([(fam.pid, 3), (fam.pid, fam["d"])], [[fam.pid]], flags=READ_END, kind="FIFO")
        ],
        "skipped": [],
    }


def test_two_opens_of_one_path_are_not_shared(kcmpctl: Run, family: Start, tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_text("x")
    fam = family(f"open:a:{path}", f"open:b:{path}", "fork:c")
    other = family(f"open:a:{path}")
    a, b, c = fam["a"], fam["b"], fam["c"]
    pids = f"{fam.pid},{c},{other.pid}"

    status, doc, _ = scan(kcmpctl, "-p", pids, "--dups")

    assert status == 0
    flags = regular_flags(fam.pid, a)
    assert holding(doc, fam.pid, a) == expected(
        [(fam.pid, a), (c, a)], [[fam.pid], [c]], flags=flags, kind="REG"
    )
    assert holding(doc, fam.pid, b) == expected(
        [(fam.pid, b), (c, b)], [[fam.pid], [c]], flags=flags, kind="REG"
    )
    assert holding(doc, other.pid, other["a"]) is None
    # Both helpers have pytest's stderr (fd 2): one description, inherited.
    assert holder_sets(doc) == inherited([fam.pid, c], [0, 1, a, b]) | inherited(
        [fam.pid, c, other.pid], [2]
    )


def test_description_passed_over_scm_rights(kcmpctl: Run, tmp_path: Path) -> None:
    path, address = tmp_path / "passed", str(tmp_path / "sock")
    path.write_text("x")
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> tuple[subprocess.Popen[str], Iterator[str]]:
        proc = subprocess.Popen(
            [sys.executable, str(HELPERS / "fdpass.py"), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # not pytest's: that would be one more shared description
            text=True,
        )
        started.append(proc)
        assert proc.stdout is not None
        return proc, iter(proc.stdout)

    try:
        receiver, rlines = start("recv", address)
        assert next(rlines).strip() == "ready"
        sender, slines = start("send", address, str(path))
        sfd = int(next(slines).split()[1])
        rfd = int(next(rlines).split()[1])
        # Siblings: neither inherited anything from the other.
        assert parent(sender.pid) == parent(receiver.pid) == os.getpid()

        status, doc, err = scan(kcmpctl, "-p", f"{sender.pid},{receiver.pid}")

        assert (status, err) == (0, "")
        assert doc == {
            "descriptions": [
                expected(
                    [(sender.pid, sfd), (receiver.pid, rfd)],
                    [[sender.pid], [receiver.pid]],
                    flags=regular_flags(sender.pid, sfd),
                    kind="REG",
                )
            ],
            "skipped": [],
        }
    finally:
        for proc in started:
            assert proc.stdin is not None
            assert proc.stdout is not None
            proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()  # a receiver still waiting for an fd that never came
                proc.wait()
            proc.stdout.close()


def test_clone_files_family_is_one_table(kcmpctl: Run, family: Start) -> None:
    fam = family("clone:c:FILES", "pipe:p")

    status, doc, _ = scan(kcmpctl, "-p", f"{fam.pid},{fam['c']}")

    # One fd table: none of its fds is shared with another table.
    assert status == 0
    assert doc == {"descriptions": [], "skipped": []}


def test_clone_files_family_and_a_fork_child(kcmpctl: Run, family: Start) -> None:
    fam = family("clone:c:FILES", "pipe:p", "fork:k")
    c, k, r = fam["c"], fam["k"], fam["p_r"]

    status, doc, _ = scan(kcmpctl, "-p", f"{fam.pid},{c},{k}")

    assert status == 0
    assert holding(doc, k, r) == expected(
        [(fam.pid, r), (c, r), (k, r)], [[fam.pid, c], [k]], flags=READ_END, kind="FIFO"
    )
    assert holder_sets(doc) == inherited([fam.pid, c, k], [0, 1, 2, r, fam["p_w"]])


def pidfd_getfd(tid: int, fd: int) -> int:
    """A copy of fd *fd* of thread *tid* in this process: one more holder of its description."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(tid, procs.PIDFD_THREAD)
    try:
        new = libc.syscall(438, pidfd, fd, 0)  # SYS_pidfd_getfd: one number on every arch
    finally:
        os.close(pidfd)
    if new < 0:
        pytest.skip(f"pidfd_getfd: {os.strerror(ctypes.get_errno())}")
    return int(new)


def test_thread_holds_the_table_after_the_leader_exits(kcmpctl: Run, family: Start) -> None:
    # The helper's children would die with its main thread (PR_SET_PDEATHSIG follows
    # the thread), so this process takes a copy of the fd to share it.
    fam = family("pipe:p", "leaderexit")
    wait_until(lambda: zombie(fam.pid))  # the leader; its other thread holds the fds
    r, me = fam["p_r"], os.getpid()
    thread = procs.live_task(fam.pid)
    assert thread != fam.pid
    mine = pidfd_getfd(thread, r)
    try:
        status, doc, _ = scan(kcmpctl, "-p", f"{fam.pid},{me}")
    finally:
        os.close(mine)

    assert status == 0
    desc = holding(doc, fam.pid, r)
    assert desc is not None
    assert [(h["pid"], h["fd"]) for h in desc["holders"]] == sorted([(fam.pid, r), (me, mine)])
    assert desc["target"] == os.readlink(f"/proc/{fam.pid}/task/{thread}/fd/{r}")


def test_zombies_and_kernel_threads_have_nothing_to_share(kcmpctl: Run, family: Start) -> None:
    fam = family("zombie:z")

    status, doc, err = scan(kcmpctl, "-p", f"{fam['z']},2")

    assert (status, doc, err) == (0, {"descriptions": [], "skipped": []}, "")


# ----------------------------------------------------------------------- mid-scan


def hook(
    monkeypatch: pytest.MonkeyPatch, name: str, action: Callable[[tuple[Any, ...]], None]
) -> list[tuple[Any, ...]]:
    """Run *action* on each call of procs.NAME, after the real call; returns the calls
    (the first two arguments of each: the pid and the tid or fd)."""
    real = getattr(procs, name)
    calls: list[tuple[Any, ...]] = []

    def wrapper(*args: Any) -> Any:
        result = real(*args)
        calls.append(args[:2])
        action(args)
        return result

    monkeypatch.setattr(procs, name, wrapper)
    return calls


def killer(victim: int, after: int | None = None) -> Callable[[tuple[Any, ...]], None]:
    """A hook action: kill *victim* once, at the call for pid *after* (or the first)."""

    def action(args: tuple[Any, ...]) -> None:
        if (after is None or args[0] == after) and not zombie(victim):
            kill_and_wait(victim)

    return action


def test_process_exiting_after_its_fds_were_listed(
    kcmpctl: Run, family: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    fam = family("pipe:p", "fork:c1", "fork:c2")
    c1, c2, r = fam["c1"], fam["c2"], fam["p_r"]
    calls = hook(monkeypatch, "fd_stats", killer(c1, after=c1))

    status, doc, err = scan(kcmpctl, "--tree", str(fam.pid))

    assert (c1, c1) in calls  # its fds were in the buckets when it died
    assert (status, err) == (0, "")
    assert holding(doc, fam.pid, r) == expected(
        [(fam.pid, r), (c2, r)], [[fam.pid], [c2]], flags=READ_END, kind="FIFO"
    )
    assert c1 not in pids_in(doc)
    assert {"pid": c1, "command": "famhelper", "reason": "exited", "fd": None} in doc["skipped"]


def test_process_exiting_after_the_comparisons(
    kcmpctl: Run, family: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    fam = family("pipe:p", "fork:c1", "fork:c2")
    c1, c2, r = fam["c1"], fam["c2"], fam["p_r"]
    calls = hook(monkeypatch, "fd_snapshot", killer(c1))

    status, doc, err = scan(kcmpctl, "--tree", str(fam.pid))

    assert calls
    assert (status, err) == (0, "")
    assert holding(doc, fam.pid, r) == expected(
        [(fam.pid, r), (c2, r)], [[fam.pid], [c2]], flags=READ_END, kind="FIFO"
    )
    assert c1 not in pids_in(doc)


def test_named_process_exiting_mid_scan_is_trouble(
    kcmpctl: Run, family: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    fam = family("pipe:p", "fork:c1", "fork:c2")
    c1 = fam["c1"]
    hook(monkeypatch, "fd_stats", killer(c1, after=c1))

    status, out, err = kcmpctl("fds", "-p", f"{fam.pid},{c1},{fam['c2']}", "-o", "HOLDERS")

    assert status == 2
    assert err == f"kcmpctl: process {c1}: exited\n"
    assert str(c1) not in out


def test_fd_closed_mid_scan(kcmpctl: Run, family: Start, monkeypatch: pytest.MonkeyPatch) -> None:
    fam = family("pipe:p", "sigclose:3", "fork:c1", "fork:c2")
    c1, c2 = fam["c1"], fam["c2"]
    assert fam["p_r"] == 3

    def close_in_c1(args: tuple[Any, ...]) -> None:
        if args[0] == c1:
            os.kill(c1, signal.SIGUSR1)
            wait_until(lambda: not procs.fd_is_open(c1, 3))

    calls = hook(monkeypatch, "fd_stats", close_in_c1)
    status, doc, err = scan(kcmpctl, "--tree", str(fam.pid))

    assert (c1, c1) in calls
    assert (status, err) == (0, "")
    assert holding(doc, fam.pid, 3) == expected(
        [(fam.pid, 3), (c2, 3)], [[fam.pid], [c2]], flags=READ_END, kind="FIFO"
    )
    # c1 is alive and still holds the write end: it was dropped only where it closed.
    assert holding(doc, c1, fam["p_w"]) == expected(
        [(p, fam["p_w"]) for p in (fam.pid, c1, c2)],
        [[fam.pid], [c1], [c2]],
        flags=WRITE_END,
        kind="FIFO",
    )
    assert doc["skipped"] == []


def test_fd_closed_mid_scan_leaving_one_table(
    kcmpctl: Run, family: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    fam = family("pipe:p", "sigclose:3", "fork:c")
    c = fam["c"]

    def close_in_c(args: tuple[Any, ...]) -> None:
        if args[0] == c:
            os.kill(c, signal.SIGUSR1)
            wait_until(lambda: not procs.fd_is_open(c, 3))

    hook(monkeypatch, "fd_stats", close_in_c)
    status, doc, _ = scan(kcmpctl, "-p", f"{fam.pid},{c}")

    assert status == 0
    assert holding(doc, fam.pid, 3) is None
    assert holding(doc, c, fam["p_w"]) is not None


def test_fd_whose_file_cannot_be_stated(
    kcmpctl: Run, family: Start, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A dead FUSE mount answers stat() with ENOTCONN; no test can make one, so stat()
    # is told to, for one fd of one process: one it opened itself (an fd it inherited
    # is matched with its parent's fd of that number, which was stat()ed).
    path = tmp_path / "file"
    path.write_text("x")
    fam = family("pipe:p", "nest:c1:1", f"openfd:40:{path}", "fork:c2")
    c1, c2, r, w = fam["c1"], fam["c2"], fam["p_r"], fam["p_w"]
    real_stat = os.stat

    def stat_(path: Any, *, dir_fd: int | None = None, **kwargs: Any) -> os.stat_result:
        in_c1 = dir_fd is not None and os.readlink(f"/proc/self/fd/{dir_fd}") == f"/proc/{c1}/fd"
        if in_c1 and path == "40":
            raise OSError(errno.ENOTCONN, os.strerror(errno.ENOTCONN))
        return real_stat(path, dir_fd=dir_fd, **kwargs)

    monkeypatch.setattr(os, "stat", stat_)
    status, doc, err = scan(kcmpctl, "--tree", str(fam.pid))
    reason = "fd 40 unreadable: transport endpoint is not connected"

    assert (status, err) == (0, "")
    assert holding(doc, fam.pid, r) == expected(
        [(fam.pid, r), (c1, r), (c2, r)], [[fam.pid], [c1], [c2]], flags=READ_END, kind="FIFO"
    )
    assert holding(doc, c1, w) is not None  # its other fds are still compared
    assert doc["skipped"] == [{"pid": c1, "command": "famhelper", "reason": reason, "fd": None}]

    status, _, err = kcmpctl("fds", "--tree", str(fam.pid))
    assert status == 0
    assert err == f"kcmpctl: skipped process {c1} (famhelper): {reason}\n"

    status, _, err = kcmpctl("fds", "-p", f"{fam.pid},{c1},{c2}")
    assert status == 2
    assert err == f"kcmpctl: process {c1}: {reason}\n"


# ------------------------------------------------------------------------- output


def test_flags_by_name_in_tables_number_in_json(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "log", os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NONBLOCK)
    child = subprocess.Popen(["sleep", "30"], pass_fds=[fd])
    try:
        deadline = time.monotonic() + 10
        while comm(child.pid) != "sleep" and time.monotonic() < deadline:
            time.sleep(0.005)  # until exec: before it, the child holds all our fds
        pids = f"{os.getpid()},{child.pid}"
        cmd = [sys.executable, "-m", "kcmpctl", "fds", "-p", pids]
        table = subprocess.run([*cmd, "-r", "-o", "FLAGS,HOLDERS", "-n"], **CAPTURE)
        (row,) = (line for line in table.stdout.splitlines() if f"{child.pid}:{fd}" in line)
        assert row.split(" ")[0] == "O_WRONLY|O_APPEND|O_NONBLOCK", (table.stdout, table.stderr)
        doc = json.loads(subprocess.run([*cmd, "-J"], **CAPTURE).stdout)
        (flags,) = (
            d["flags"]
            for d in doc["descriptions"]
            if {"pid": child.pid, "fd": fd, "command": "sleep"} in d["holders"]
        )
        # The number as fdinfo has it (O_LARGEFILE included where the kernel sets it).
        assert int(flags, 8) & ~0o100000 & ~0o400000 == os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK
    finally:
        child.kill()
        child.wait()
        os.close(fd)


CAPTURE: Any = {"capture_output": True, "text": True, "timeout": 60, "check": True}


def test_plain_output_groups_a_table_s_pids(kcmpctl: Run, family: Start) -> None:
    fam = family("clone:c:FILES", "pipe:p", "fork:k")
    c, k, r, w = fam["c"], fam["k"], fam["p_r"], fam["p_w"]
    ino = os.stat(f"/proc/{k}/fd/{r}").st_ino

    status, out, err = kcmpctl("fds", "-p", f"{fam.pid},{c},{k}", "-o", "TYPE,FLAGS,HOLDERS")

    assert (status, err) == (0, "")
    rows = [line.split() for line in out.splitlines()]
    assert rows[0] == ["TYPE", "FLAGS", "HOLDERS"]
    assert ["FIFO", "O_RDONLY", f"{fam.pid}+{c}:{r},{k}:{r}"] in rows
    assert ["FIFO", "O_WRONLY", f"{fam.pid}+{c}:{w},{k}:{w}"] in rows
    assert len(rows) == 1 + 5  # stdin, stdout, stderr and the pipe's two ends

    status, out, _ = kcmpctl("fds", "-p", f"{fam.pid},{c},{k}", "-r", "-o", "INO,TABLES,COUNT")
    assert status == 0
    assert f"{ino} {fam.pid}+{c},{k} 3" in out.splitlines()
    assert out.splitlines()[0] == "INO TABLES COUNT"

    status, out, _ = kcmpctl("fds", "-p", f"{fam.pid},{c},{k}", "-rn", "-o", "INO")
    assert str(ino) in out.splitlines()
    assert "INO" not in out


def test_untrusted_text_is_escaped(kcmpctl: Run, family: Start, tmp_path: Path) -> None:
    path = tmp_path / "a b [x]\n\x1b[31mred"
    path.write_text("x")
    fam = family("name:[bold]x\x1b", f"open:f:{path}", "fork:c")
    pids = f"{fam.pid},{fam['c']}"
    shown = str(path).replace("\n", "\\x0a").replace("\x1b", "\\x1b")

    status, out, _ = kcmpctl("fds", "-p", pids, "-o", "COMMANDS,TARGET")
    assert status == 0
    assert f"[bold]x\\x1b {shown}" in out.splitlines()

    status, out, _ = kcmpctl("fds", "-p", pids, "-r", "-o", "TARGET")
    assert shown.replace(" ", "\\x20") in out.splitlines()

    status, doc, _ = scan(kcmpctl, "-p", pids)
    desc = holding(doc, fam.pid, fam["f"])
    assert desc is not None
    assert (desc["target"], desc["commands"]) == (str(path), ["[bold]x\x1b"])


def test_quiet_prints_nothing(kcmpctl: Run, family: Start) -> None:
    fam = family("fork:c")
    assert kcmpctl("fds", "-q", "-p", f"{fam.pid},{fam['c']}") == (0, "", "")


def test_list_columns(kcmpctl: Run) -> None:
    status, out, _ = kcmpctl("fds", "-H")
    assert status == 0
    names = [line.split()[0] for line in out.splitlines()[1:]]
    assert names == [
        "TYPE",
        "DEV",
        "INO",
        "POS",
        "FLAGS",
        "COUNT",
        "TARGET",
        "HOLDERS",
        "TABLES",
        "COMMANDS",
        *("UID", "MNTNS", "NETNS", "PIDNS", "UTSNS", "IPCNS", "CGROUPNS", "TIMENS", "USERNS"),
        *("ARGS", "PPID", "STARTED"),
    ]

    status, out, _ = kcmpctl("fds", "-H", "-J")
    columns = {c["key"]: c for c in json.loads(out)["columns"]}
    assert status == 0
    assert columns["holders"]["type"] == "array"
    assert columns["ino"]["type"] == "number"
    assert [k for k, c in columns.items() if c["default"]] == [
        "type",
        "ino",
        "pos",
        "flags",
        "count",
        "target",
        "holders",
    ]


def test_output_plus_adds_to_the_defaults(kcmpctl: Run, family: Start) -> None:
    fam = family("fork:c")
    status, out, _ = kcmpctl("fds", "-p", f"{fam.pid},{fam['c']}", "-o", "+tables,dev")
    assert status == 0
    assert out.split("\n", 1)[0].split() == [
        "TYPE",
        "INO",
        "POS",
        "FLAGS",
        "COUNT",
        "TARGET",
        "HOLDERS",
        "TABLES",
        "DEV",
    ]


# ---------------------------------------------------------------- exit statuses


def test_missing_pid_is_trouble(kcmpctl: Run, family: Start) -> None:
    fam = family("fork:c")
    pid = free_pid()

    status, doc, err = scan(kcmpctl, "-p", f"{fam.pid},{fam['c']},{pid}")

    assert status == 2
    assert err == f"kcmpctl: process {pid}: no such process\n"
    assert doc["skipped"] == [
        {"pid": pid, "command": None, "reason": "no such process", "fd": None}
    ]
    assert holding(doc, fam.pid, 0) is not None  # the rest is still answered


def test_missing_tree_root_is_trouble(kcmpctl: Run) -> None:
    pid = free_pid()
    # Nothing answered: no table, as pair prints none when every comparison failed.
    assert kcmpctl("fds", "--tree", str(pid)) == (
        2,
        "",
        f"kcmpctl: process {pid}: no such process\n",
    )


def test_named_unreadable_pid_is_trouble(kcmpctl: Run) -> None:
    pid = denied_pid()

    status, _, err = kcmpctl("fds", "-p", str(pid))

    assert status == 2
    assert err.startswith(f"kcmpctl: process {pid}: permission denied (run as the owner")
    assert err.count("\n") == 1
    assert "CAP_SYS_PTRACE" in err


def test_selected_unreadable_process_is_skipped_not_trouble(kcmpctl: Run) -> None:
    pid = denied_pid()
    name = comm(pid)
    pattern = "^" + "".join(f"[{ch}]" if ch not in "\\^]" else f"\\{ch}" for ch in name) + "$"

    status, _, err = kcmpctl("fds", "-c", pattern)
    assert status == 0
    assert err.startswith(f"kcmpctl: skipped process {pid} ({name}): permission denied")

    status, doc, err = scan(kcmpctl, "-c", pattern)
    assert (status, err) == (0, "")
    denied = {"pid": pid, "command": name, "reason": "permission denied", "fd": None}
    assert denied in doc["skipped"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-p", ",,"), "invalid PID list ',,': empty entry"),
        (("-p", "1,,x"), "invalid PID list '1,,x': empty entry"),
        (("-p", "1,x"), "invalid PID 'x': not a positive decimal number"),
        (("--tree", "-5"), "invalid PID '-5': not a positive decimal number"),
        (("-p", "2147483648"), "invalid PID '2147483648': out of range"),
        (("-p", "0"), "invalid PID '0': out of range"),
        (("-u", "no-such-user-here"), "unknown user 'no-such-user-here'"),
        (("-c", "("), "invalid regular expression '('"),
        (("-o", "NOPE"), "unknown column 'NOPE'"),
        (("-J", "-r"), "-J/--json and -r/--raw exclude each other"),
        (("--dupes",), "No such option '--dupes'"),
    ],
)
def test_bad_input_is_one_line_and_status_2(
    kcmpctl: Run, args: tuple[str, ...], message: str
) -> None:
    status, out, err = kcmpctl("fds", *args)
    assert status == 2
    assert out == ""
    assert err.startswith("kcmpctl: ")
    assert message in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_json_never_imports_rich_or_psutil(family: Start) -> None:
    fam = family("fork:c")
    code = (
        "import sys; from kcmpctl.__main__ import main;"
        f" rc = main(['fds', '-J', '-p', '{fam.pid},{fam['c']}']);"
        " assert 'rich' not in sys.modules and 'psutil' not in sys.modules, 'imported';"
        " sys.exit(rc)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["descriptions"]


def test_entry_point_as_a_user_runs_it(run_cli: Callable[..., Any], family: Start) -> None:
    fam = family("pipe:p", "fork:c")
    proc = run_cli("fds", "-p", f"{fam.pid},{fam['c']}", "-o", "TYPE,COUNT,HOLDERS")
    assert proc.returncode == 0
    assert proc.stderr == ""
    assert f"FIFO     2 {fam.pid}:{fam['p_r']},{fam['c']}:{fam['p_r']}" in proc.stdout.splitlines()


def test_default_scans_every_process_but_itself(kcmpctl: Run, family: Start) -> None:
    fam = family("pipe:p", "fork:c")

    status, doc, _ = scan(kcmpctl)

    assert status == 0
    assert holding(doc, fam["c"], fam["p_r"]) is not None
    assert os.getpid() not in pids_in(doc)
    assert all(isinstance(s["reason"], str) for s in doc["skipped"])
    assert stat.S_ISFIFO(os.stat(f"/proc/{fam['c']}/fd/{fam['p_r']}").st_mode)


def test_scan_survives_process_churn(kcmpctl: Run, family: Start) -> None:
    fam = family("pipe:p", "fork:c")
    # A shell starting and reaping short-lived processes as fast as it can.
    churn = subprocess.Popen(["sh", "-c", "while :; do /bin/true; done"])
    try:
        for _ in range(3):
            status, doc, err = scan(kcmpctl)
            assert status == 0
            assert "internal error" not in err
            assert holding(doc, fam["c"], fam["p_r"]) is not None
    finally:
        churn.kill()
        churn.wait()


def test_big_bucket_matched_by_fd_number_first(
    kcmpctl: Run, family: Start, tmp_path: Path
) -> None:
    # 80 opens of one file: one bucket over the match threshold, P's table dominating.
    # P also dups fd 10; the child C inherits everything and puts fd 7 at 300 as well;
    # U, unrelated, opens the file itself.
    path = tmp_path / "file"
    path.write_text("x")
    opens = [f"open:f{i}:{path}" for i in range(80)]
    fam = family(*opens, "dup:d:10", "nest:c:1", "dup2:7:300")
    other = family(f"open:u:{path}")
    p, c, u = fam.pid, fam["c"], other.pid
    fds = [fam[f"f{i}"] for i in range(80)]
    d = fam["d"]

    status, doc, err = scan(kcmpctl, "-p", f"{p},{c},{u}")

    assert (status, err) == (0, "")
    ino = os.stat(path).st_ino
    got = {frozenset((h["pid"], h["fd"]) for h in x["holders"]) for x in doc["descriptions"]}
    got = {s for s in got if all(os.stat(f"/proc/{pid}/fd/{fd}").st_ino == ino for pid, fd in s)}
    want = {frozenset({(p, fd), (c, fd)}) for fd in fds if fd not in (7, 10)}
    want.add(frozenset({(p, 7), (c, 7), (c, 300)}))
    want.add(frozenset({(p, 10), (c, 10), (p, d), (c, d)}))
    assert got == want
    assert doc["skipped"] == []


def test_inherited_fds_matched_with_the_parent_table_not_stated(
    family: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    # c and its child g inherited P's fds: each is matched with P's fd of that number
    # (g's through c's), one call, and never stat()ed.  d replaced fd 9 with an
    # eventfd of its own: that fd misses, is stat()ed, and shares nothing.
    fam = family("pipe:p", "eventfd:9", "nest:c:1", "fork:g", "nest:d:1", "eventfd:9")
    p, c, g, d, r = fam.pid, fam["c"], fam["g"], fam["d"], fam["p_r"]
    listed: dict[int, list[str]] = {c: [], g: [], d: []}
    real_stat = os.stat

    def stat_(path: Any, *, dir_fd: int | None = None, **kwargs: Any) -> os.stat_result:
        if dir_fd is not None:
            where = os.readlink(f"/proc/self/fd/{dir_fd}")
            for pid, names in listed.items():
                if where == f"/proc/{pid}/fd":
                    names.append(path)
        return real_stat(path, dir_fd=dir_fd, **kwargs)

    monkeypatch.setattr(os, "stat", stat_)
    from kcmpctl import fds

    selection = procs.select_tasks([p, c, g, d], None, None, None)
    try:
        result = fds.scan(selection.tasks)
    finally:
        selection.close()

    # (Fds of their own, as the pipe a nest child reports through, are stat()ed.)
    held = {str(fd) for fd in procs.fd_numbers(p)}
    assert held & set(listed[c]) == held & set(listed[g]) == set()
    assert held & set(listed[d]) == {"9"}
    got = {frozenset((h.pid, h.fd) for h in desc.holders) for desc in result.descriptions}
    assert frozenset({(p, r), (c, r), (g, r), (d, r)}) in got
    assert frozenset({(p, 9), (c, 9), (g, 9)}) in got
    assert not any((d, 9) in holders for holders in got)
    assert result.skipped == ()


def test_what_proves_two_descriptions_different(family: Start, tmp_path: Path) -> None:
    # Each eventfd its own eventfd-id, shared by dup and fork; a file's access mode.
    path = tmp_path / "file"
    path.write_text("x")
    fam = family("eventfd:5", "eventfd:6", "dup2:5:7", f"openfd:8:{path}", "pipe:p", "fork:c")
    p, c = fam.pid, fam["c"]

    def key(pid: int, fd: int) -> object:
        snapshot = procs.fd_snapshot(pid, fd)
        assert snapshot is not None
        return procs.apart_key(snapshot)

    if "eventfd-id:" not in procs.fd_snapshot(p, 5).fdinfo:  # type: ignore[union-attr]
        pytest.skip("this kernel's fdinfo has no eventfd-id (Linux 6.0+)")
    assert key(p, 5) == key(p, 7) == key(c, 5) == key(c, 7)
    assert key(p, 5) != key(p, 6)
    assert key(p, 6) == key(c, 6)
    assert key(p, fam["p_r"]) != key(p, fam["p_w"])  # O_RDONLY, O_WRONLY
    assert key(p, 8) == key(c, 8)
    assert procs.is_anonymous(os.stat(f"/proc/{p}/fd/5").st_mode)
    assert not procs.is_anonymous(os.stat(f"/proc/{p}/fd/8").st_mode)


def test_big_eventfd_bucket_told_apart_by_eventfd_id(
    kcmpctl: Run, family: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 700 eventfds (one anonymous inode) inherited by a fork child, P's fd 9 also at
    # 900 (a dup: one part, sorted), C's fd 11 replaced by an eventfd of its own; U,
    # unrelated, has eventfds of its own.  Without --dups, P's 9 and 900 are one
    # description with C's 9 and 900.
    fam = family("eventfds:700", "dup2:9:900", "nest:c:1", "eventfd:11")
    other = family("eventfds:3")
    p, c = fam.pid, fam["c"]
    calls: list[tuple[int, int]] = []
    real = procs.fd_snapshot

    def counted(*args: Any) -> Any:
        calls.append(args[:2])
        return real(*args)

    monkeypatch.setattr(procs, "fd_snapshot", counted)
    from kcmpctl import fds
    from kcmpctl.grouping import Comparator

    compared = 0
    real_cmp = fds.file_comparator()

    def cmp(a: tuple[int, int], b: tuple[int, int]) -> int:
        nonlocal compared
        compared += 1
        return real_cmp.compare(a, b)

    monkeypatch.setattr(fds, "file_comparator", lambda: Comparator(cmp, real_cmp.sorting))

    selection = procs.select_tasks([p, c, other.pid], None, None, None)
    try:
        result = fds.scan(selection.tasks)
    finally:
        selection.close()

    eventfds = {
        fd for fd in procs.fd_numbers(p) if procs.fd_target(p, fd) == "anon_inode:[eventfd]"
    }
    assert len(eventfds) > fds.APART_FROM
    got = {
        frozenset((h.pid, h.fd) for h in d.holders)
        for d in result.descriptions
        if d.target == "anon_inode:[eventfd]"
    }
    want = {frozenset({(p, fd), (c, fd)}) for fd in eventfds if fd not in (9, 11, 900)}
    want.add(frozenset({(p, 9), (c, 9), (p, 900), (c, 900)}))
    assert got == want
    assert result.skipped == ()
    # No sort of P's 700 (about 6,000 calls): C's fds matched by number, one call
    # each, and P's 9 and 900 sorted apart.  Each fd read once at most: for its key,
    # and again for the details reported.
    assert compared < 1.2 * len(eventfds)
    assert len(calls) == len(set(calls))
    assert (p, 12) in calls


def test_big_bucket_read_with_a_forked_worker(
    family: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    # From PARALLEL_READS fds, a bucket's reads are shared with a forked worker: the
    # answer is the one read here alone.
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one CPU: no worker to share with")
    fam = family("eventfds:700", "dup2:9:900", "nest:c:1", "eventfd:11")
    p, c = fam.pid, fam["c"]
    from kcmpctl import _workers, fds

    forked: list[int] = []
    real_run = _workers.run

    def run(*args: Any, **kwargs: Any) -> Any:
        forked.append(kwargs["workers"])
        return real_run(*args, **kwargs)

    monkeypatch.setattr(_workers, "run", run)

    def descriptions() -> tuple[fds.Description, ...]:
        selection = procs.select_tasks([p, c], None, None, None)
        try:
            result = fds.scan(selection.tasks)
        finally:
            selection.close()
        assert result.skipped == ()
        return result.descriptions

    alone = descriptions()
    assert not forked
    monkeypatch.setattr(fds, "PARALLEL_READS", 64)
    assert descriptions() == alone
    assert forked == [2]
    assert len(alone) > fds.APART_FROM
