"""kcmpctl epoll: real epolls in real processes, every answer proven by the kernel.

famhelper gives fds in the order it opens them (0-2 are taken, so the first epoll is
fd 3); each test asserts the numbers it relies on before using them.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kcmpctl import Resource, _syscall, procs
from kcmpctl.epoll import (
    Holder,
    Listing,
    Registration,
    Skipped,
    Status,
    Target,
    decode_events,
    parse_fdinfo,
)
from kcmpctl.errors import KcmpError
from kcmpctl.render import epoll as view
from kcmpctl.render.epoll import COLUMNS
from kcmpctl.render.text import json_text

from .conftest import Family, free_pid, wait_for_state

Run = Callable[..., tuple[int, str, str]]
Start = Callable[..., Family]

NOBODY = 65534
IN_ERR_HUP = ["EPOLLIN", "EPOLLERR", "EPOLLHUP"]  # famhelper's eadd asks for EPOLLIN


def ino(pid: int, fd: int) -> int:
    return os.stat(f"/proc/{pid}/fd/{fd}").st_ino


def sdev(pid: int, fd: int) -> str:
    dev = os.stat(f"/proc/{pid}/fd/{fd}").st_dev
    return f"{os.major(dev)}:{os.minor(dev)}"


def target(
    pid: int, tfd: int, status: str, holders: list[tuple[int, int]], *, toff: int = 0
) -> dict[str, Any]:
    """The JSON record expected for a pipe registered by famhelper's eadd."""
    hpid, hfd = holders[0]
    return {
        "tfd": tfd,
        "toff": toff,
        "events": IN_ERR_HUP,
        "data": tfd,
        "ino": ino(hpid, hfd),
        "status": status,
        "holders": [{"pid": p, "fd": f} for p, f in holders],
        "sdev": sdev(hpid, hfd),
        "target": f"pipe:[{ino(hpid, hfd)}]",
    }


def listing(run: Run, pid: int, *args: str, epfd: int = 3) -> tuple[int, dict[str, Any]]:
    status, out, err = run("epoll", str(pid), str(epfd), "-J", *args)
    assert err == ""
    return status, json.loads(out)


# ---------------------------------------------------------------- parsing, no processes


def test_fdinfo_lines_parse_in_tfd_order_with_toff_in_the_kernels() -> None:
    text = (
        "pos:\t0\nflags:\t02\nmnt_id:\t17\nino:\t26\n"
        "tfd:        4 events:       19 data:                4  pos:0 ino:2c139 sdev:f\n"
        "tfd:        6 events: 80002019 data:     7f3d00000005  pos:0 ino:1a sdev:fe00000\n"
        "tfd:        4 events:       19 data:                4  pos:0 ino:2c137 sdev:f\n"
    )
    assert parse_fdinfo(text) == [
        Registration(tfd=4, toff=0, events=0x19, data=4, ino=0x2C139, sdev=0xF),
        Registration(tfd=4, toff=1, events=0x19, data=4, ino=0x2C137, sdev=0xF),
        Registration(
            tfd=6, toff=0, events=0x80002019, data=0x7F3D00000005, ino=0x1A, sdev=0xFE00000
        ),
    ]
    assert [r.place for r in parse_fdinfo(text)] == [0, 2, 1]  # fdinfo's order, by file
    assert parse_fdinfo("pos:\t0\nflags:\t02\n") == []


def test_fdinfo_lines_in_another_layout_parse_by_field_name() -> None:
    text = (
        "tfd: 4 events: 19 data: 4 pos: 0 ino: 2c139 sdev: f\n"
        "tfd:        4 events:       19 data:                4  pos:0 ino:2c137 sdev:f\n"
    )
    assert [(r.tfd, r.toff, r.ino, r.place) for r in parse_fdinfo(text)] == [
        (4, 0, 0x2C139, 0),
        (4, 1, 0x2C137, 1),
    ]


def test_events_decode_to_names_and_unknown_bits_to_hex() -> None:
    assert decode_events(0x80002019) == [*IN_ERR_HUP, "EPOLLRDHUP", "EPOLLET"]
    assert decode_events(0x7000_0004) == [
        "EPOLLOUT",
        "EPOLLEXCLUSIVE",
        "EPOLLWAKEUP",
        "EPOLLONESHOT",
    ]
    assert decode_events(0x6C2) == [
        "EPOLLPRI",
        "EPOLLRDNORM",
        "EPOLLRDBAND",
        "EPOLLWRBAND",
        "EPOLLMSG",
    ]
    assert decode_events((1 << 27) | 0x1000 | 0x100) == ["EPOLLWRNORM", "0x1000", "0x8000000"]
    assert decode_events(0) == []


_names = st.text(st.characters(codec="utf-8") | st.sampled_from('\\"\n\x1b\udcff\u202e'))


@settings(max_examples=200)
@given(
    targets=st.lists(
        st.tuples(
            st.integers(0, 2**31),
            st.integers(0, 2**32 - 1),
            st.integers(0, 2**32 - 1),
            st.integers(0, 2**64 - 1),
            st.sampled_from(list(Status)),
            st.lists(st.tuples(st.integers(1, 2**22), st.integers(0, 2**31)), max_size=3),
            st.none() | _names,
        ),
        max_size=5,
    ),
    reasons=st.lists(st.tuples(st.integers(1, 2**22), _names, st.none() | st.integers(0, 9))),
    ascii_only=st.booleans(),
)
def test_json_document_written_as_text_is_what_json_dumps_writes(
    targets: list[tuple[int, int, int, int, Status, list[tuple[int, int]], str | None]],
    reasons: list[tuple[int, str, int | None]],
    ascii_only: bool,
) -> None:
    listing = Listing(
        7,
        3,
        tuple(
            Target(
                Registration(tfd, i, events, data, data >> 3, data >> 40),
                status,
                tuple(Holder(*h) for h in holders),
                name,
            )
            for i, (tfd, events, _, data, status, holders, name) in enumerate(targets)
        ),
        tuple(Skipped(pid, KcmpError(0, "", why), fd) for pid, why, fd in reasons),
    )
    records = {
        "pid": 7,
        "epfd": 3,
        "targets": [view.record(t) for t in listing.targets],
        "skipped": [{"pid": pid, "reason": why, "fd": fd} for pid, why, fd in reasons],
    }
    text = view.document(listing)
    assert text == json.dumps(records, ensure_ascii=False)
    assert json_text(text, ascii_only=ascii_only) == json_text(records, ascii_only=ascii_only)
    assert json_text(text, indent=True) == json_text(records, indent=True)


def test_sdev_is_the_kernels_dev_t() -> None:
    # Measured here: a FIFO on ext4 at 254:0 shows sdev:fe00000 in the epoll's fdinfo.
    reg = Registration(tfd=3, toff=0, events=0, data=0, ino=1, sdev=0xFE00000)
    assert reg.device == "254:0"


# ------------------------------------------------------------------------- statuses


def test_target_still_at_its_number_is_ok(family: Start, kcmpctl: Run) -> None:
    fam = family("epoll:ep", "pipe:a", "eadd:3:4")
    assert (fam["ep"], fam["a_r"]) == (3, 4)
    status, doc = listing(kcmpctl, fam.pid)
    assert status == 0
    assert doc == {
        "pid": fam.pid,
        "epfd": 3,
        "targets": [target(fam.pid, 4, "ok", [(fam.pid, 4)])],
        "skipped": [],
    }


def test_human_output_is_plain_aligned_columns_when_not_a_terminal(
    family: Start, kcmpctl: Run
) -> None:
    fam = family("epoll:ep", "pipe:a", "eadd:3:4")
    node = ino(fam.pid, 4)
    status, out, err = kcmpctl("epoll", str(fam.pid), "3")
    assert (status, err) == (0, "")
    events = ",".join(IN_ERR_HUP)
    holders = f"{fam.pid}:4"
    w_ino, w_holders = max(3, len(str(node))), max(7, len(holders))
    assert out.splitlines() == [
        f"{fam.pid} (famhelper) epoll fd 3: 1 registration",
        f"TFD TOFF {'EVENTS':<{len(events)}} DATA {'INO':>{w_ino}} STATUS"
        f" {'HOLDERS':<{w_holders}} TARGET",
        f"  4    0 {events}  0x4 {node:>{w_ino}} ok     {holders:<{w_holders}} pipe:[{node}]",
    ]


def test_moved_by_dup_and_close_keeps_the_stale_number(family: Start, kcmpctl: Run) -> None:
    fam = family("epoll:ep", "pipe:a", "eadd:3:4", "dup:d:4", "close:4")
    assert fam["d"] == 6
    status, doc = listing(kcmpctl, fam.pid)
    assert status == 1
    assert doc["targets"] == [target(fam.pid, 4, "moved", [(fam.pid, 6)])]

    node = ino(fam.pid, 6)
    status, out, err = kcmpctl("epoll", str(fam.pid), "3", "-r")
    assert (status, err) == (1, "")
    assert out == (
        "TFD TOFF EVENTS DATA INO STATUS HOLDERS TARGET\n"
        f"4 0 EPOLLIN,EPOLLERR,EPOLLHUP 0x4 {node} moved {fam.pid}:6 pipe:[{node}]\n"
    )
    status, out, err = kcmpctl("epoll", str(fam.pid), "3", "-r", "-n", "-o", "TFD,HOLDERS")
    assert (status, out, err) == (1, f"4 {fam.pid}:6\n", "")
    assert kcmpctl("epoll", str(fam.pid), "3", "-q") == (1, "", "")


def test_two_registrations_under_one_reused_number(family: Start, kcmpctl: Run) -> None:
    # Register pipe a's read end as fd 4, keep it alive at fd 8, put pipe b's read end
    # at fd 4 and register that too: two registrations carry tfd 4.
    fam = family("epoll:ep", "pipe:a", "pipe:b", "eadd:3:4", "dup:keep:4", "dup2:6:4", "eadd:3:4")
    assert (fam["a_r"], fam["b_r"], fam["keep"]) == (4, 6, 8)
    pid = fam.pid
    status, doc = listing(kcmpctl, pid)
    assert status == 1
    # The kernel orders them by file address, so which is toff 0 is its choice.
    by_ino = {t["ino"]: t for t in doc["targets"]}
    first, second = by_ino[ino(pid, 8)], by_ino[ino(pid, 6)]
    assert {first["toff"], second["toff"]} == {0, 1}
    assert first == target(pid, 4, "moved", [(pid, 8)], toff=first["toff"])
    assert second == target(pid, 4, "ok", [(pid, 4), (pid, 6)], toff=second["toff"])

    def check(holder_fd: int, toff: int) -> tuple[int, str, str]:
        return kcmpctl(
            "epoll", str(pid), "3", "--check", "4", f"{pid}:{holder_fd}", "--toff", str(toff)
        )

    a_toff = first["toff"]
    status, out, err = check(8, a_toff)
    assert (status, err) == (0, "")
    assert out == (
        f"process {pid} fd 8 is the file registered as tfd 4 (toff {a_toff})"
        f" in epoll fd 3 of process {pid}\n"
    )
    status, out, err = check(4, a_toff)
    assert (status, err) == (1, "")
    assert out == (
        f"process {pid} fd 4 is not the file registered as tfd 4 (toff {a_toff})"
        f" in epoll fd 3 of process {pid}\n"
    )
    assert check(4, 1 - a_toff)[0] == 0
    assert check(8, 1 - a_toff)[0] == 1
    assert check(8, 2) == (
        2,
        "",
        f"kcmpctl: process {pid} epoll fd 3: no registration with fd number 4 at offset 2\n",
    )


def test_check_defaults_to_toff_0_and_answers_in_json_or_quietly(
    family: Start, kcmpctl: Run
) -> None:
    fam = family("epoll:ep", "pipe:a", "eadd:3:4")
    pid = fam.pid
    base = ("epoll", str(pid), "3", "--check", "4")
    status, out, err = kcmpctl(*base, f"{pid}:4", "-J")
    assert (status, err) == (0, "")
    assert json.loads(out) == {
        "pid": pid,
        "epfd": 3,
        "tfd": 4,
        "toff": 0,
        "holder": {"pid": pid, "fd": 4},
        "registered": True,
    }
    assert kcmpctl(*base, f"{pid}:5", "-q") == (1, "", "")  # the write end: another file
    assert kcmpctl(*base, f"{pid}:9") == (2, "", f"kcmpctl: fd 9 is not open in process {pid}\n")


def test_held_only_by_a_forked_child_after_the_parent_closed_it(
    family: Start, kcmpctl: Run
) -> None:
    fam = family("epoll:ep", "pipe:a", "eadd:3:4", "fork:c", "close:4")
    expected = target(fam.pid, 4, "elsewhere", [(fam["c"], 4)])
    status, doc = listing(kcmpctl, fam.pid)
    assert (status, doc["targets"]) == (1, [expected])
    # --all finds it too; processes it may not search (pid 1 here) are no trouble.
    status, doc = listing(kcmpctl, fam.pid, "--all")
    assert (status, doc["targets"]) == (1, [expected])
    # -p replaces the default search: nobody else is asked, so nobody is found.
    status, doc = listing(kcmpctl, fam.pid, "-p", str(fam.pid))
    assert status == 1
    assert doc["targets"][0]["status"] == "unknown"
    assert doc["targets"][0]["holders"] == []
    assert doc["targets"][0]["target"] is None
    status, doc = listing(kcmpctl, fam.pid, "--pid", f"{fam.pid} {fam['c']}")
    assert (status, doc["targets"]) == (1, [expected])


def test_number_reused_for_an_unrelated_file(family: Start, kcmpctl: Run) -> None:
    fam = family("epoll:ep", "pipe:a", "eadd:3:4", "dup:d:4", "open:n:/dev/null", "dup2:7:4")
    assert (fam["d"], fam["n"]) == (6, 7)
    assert os.readlink(f"/proc/{fam.pid}/fd/4") == "/dev/null"
    status, doc = listing(kcmpctl, fam.pid)
    assert status == 1
    assert doc["targets"] == [target(fam.pid, 4, "moved", [(fam.pid, 6)])]


def test_processes_sharing_the_fd_table_hold_it_at_the_same_number(
    family: Start, kcmpctl: Run
) -> None:
    fam = family("epoll:ep", "pipe:a", "eadd:3:4", "clone:c:FILES")
    status, doc = listing(kcmpctl, fam.pid)
    assert status == 0
    assert doc["targets"] == [target(fam.pid, 4, "ok", [(fam.pid, 4), (fam["c"], 4)])]


def test_epoll_of_a_process_whose_leader_exited(family: Start, kcmpctl: Run) -> None:
    fam = family("epoll:ep", "pipe:a", "eadd:3:4", "leaderexit")
    wait_for_state(fam.pid, "Z")
    status, doc = listing(kcmpctl, fam.pid)
    assert status == 0
    record = doc["targets"][0]
    assert (record["status"], record["holders"]) == ("ok", [{"pid": fam.pid, "fd": 4}])


def test_empty_epoll_lists_nothing_and_is_all_ok(family: Start, kcmpctl: Run) -> None:
    fam = family("epoll:ep")
    assert listing(kcmpctl, fam.pid) == (
        0,
        {"pid": fam.pid, "epfd": 3, "targets": [], "skipped": []},
    )
    status, out, err = kcmpctl("epoll", str(fam.pid), "3", "-r")
    assert (status, out, err) == (0, "TFD TOFF EVENTS DATA INO STATUS HOLDERS TARGET\n", "")


def test_events_data_and_other_file_kinds(tmp_path: Path, python_epoll: PythonEpoll) -> None:
    # eventfds (all one anonymous inode), a socket and a FIFO on a disk filesystem
    # (whose sdev is not in st_dev's encoding) resolve; events come back as registered.
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    proc = python_epoll(
        f"""
        import socket
        sock, _peer = socket.socketpair()
        fds = [os.open({str(fifo)!r}, os.O_RDWR), os.eventfd(0), os.eventfd(0), sock.fileno()]
        masks = [
            select.EPOLLIN | select.EPOLLET,
            select.EPOLLOUT | select.EPOLLONESHOT,
            select.EPOLLIN | select.EPOLLEXCLUSIVE,
            select.EPOLLIN | select.EPOLLPRI | select.EPOLLRDHUP,
        ]
        for fd, mask in zip(fds, masks):
            ep.register(fd, mask)
        """
    )
    status, doc = listing(proc.run, proc.pid, epfd=proc.epfd)
    assert status == 0
    by_fd = {t["tfd"]: t for t in doc["targets"]}
    assert sorted(by_fd) == sorted(proc.fds)
    fifo_fd, efd1, efd2, sock = proc.fds
    assert by_fd[fifo_fd]["events"] == [*IN_ERR_HUP, "EPOLLET"]
    assert by_fd[fifo_fd]["target"] == str(fifo)
    assert by_fd[fifo_fd]["sdev"] == sdev(proc.pid, fifo_fd)
    assert by_fd[efd1]["events"] == ["EPOLLOUT", "EPOLLERR", "EPOLLHUP", "EPOLLONESHOT"]
    assert by_fd[efd2]["events"] == [*IN_ERR_HUP, "EPOLLEXCLUSIVE"]
    assert by_fd[efd1]["target"] == by_fd[efd2]["target"] == "anon_inode:[eventfd]"
    assert by_fd[sock]["events"] == ["EPOLLIN", "EPOLLPRI", "EPOLLERR", "EPOLLHUP", "EPOLLRDHUP"]
    for fd, record in by_fd.items():
        assert record["holders"] == [{"pid": proc.pid, "fd": fd}]
        assert record["status"] == "ok"
        assert record["data"] & 0xFFFFFFFF == fd  # Python fills the union's fd half


def test_untrusted_paths_are_escaped(tmp_path: Path, python_epoll: PythonEpoll) -> None:
    fifo = tmp_path / "[bold]x\x1b[31m\ny [red]"
    os.mkfifo(fifo)
    proc = python_epoll(
        f"""
        fd = os.open({str(fifo)!r}, os.O_RDWR)
        fds = [fd]
        ep.register(fd, select.EPOLLIN)
        """
    )
    shown = str(fifo).replace("\x1b", "\\x1b").replace("\n", "\\x0a")
    status, out, err = proc.run("epoll", str(proc.pid), str(proc.epfd), "-o", "TARGET")
    assert (status, err) == (0, "")
    assert out.splitlines()[-1] == shown
    status, out, err = proc.run("epoll", str(proc.pid), str(proc.epfd), "-r", "-n", "-o", "TARGET")
    assert out == shown.replace(" ", "\\x20") + "\n"
    status, out, err = proc.run("epoll", str(proc.pid), str(proc.epfd), "-J")
    assert json.loads(out)["targets"][0]["target"] == str(fifo)


# ----------------------------------------------------------------------- trouble


def test_fd_that_is_not_an_epoll(family: Start, kcmpctl: Run) -> None:
    fam = family("epoll:ep", "pipe:a")
    assert kcmpctl("epoll", str(fam.pid), "4") == (
        2,
        "",
        f"kcmpctl: process {fam.pid} fd 4: not an epoll instance\n",
    )
    assert kcmpctl("epoll", str(fam.pid), "4", "--check", "4", f"{fam.pid}:4") == (
        2,
        "",
        f"kcmpctl: process {fam.pid} fd 4: not an epoll instance\n",
    )


def test_epfd_not_open_and_no_such_process(family: Start, kcmpctl: Run) -> None:
    fam = family("epoll:ep")
    assert kcmpctl("epoll", str(fam.pid), "9") == (
        2,
        "",
        f"kcmpctl: fd 9 is not open in process {fam.pid}\n",
    )
    gone = free_pid()
    assert kcmpctl("epoll", str(gone), "3") == (
        2,
        "",
        f"kcmpctl: process {gone}: no such process\n",
    )


def test_missing_p_process_is_trouble_but_the_listing_is_printed(
    family: Start, kcmpctl: Run
) -> None:
    fam = family("epoll:ep", "pipe:a", "eadd:3:4")
    gone = free_pid()
    status, out, err = kcmpctl("epoll", str(fam.pid), "3", "-J", "-p", f"{gone},{fam.pid}")
    assert status == 2
    assert err == f"kcmpctl: process {gone}: no such process\n"
    assert json.loads(out)["targets"] == [target(fam.pid, 4, "ok", [(fam.pid, 4)])]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["abc", "3"],
            "Invalid value for 'PID': invalid PID 'abc': not a positive decimal number",
        ),
        (
            ["1", "x"],
            "Invalid value for 'EPFD': invalid fd 'x': not a non-negative decimal number",
        ),
        (
            ["1", str(2**40)],
            "Invalid value for 'EPFD': invalid fd '1099511627776': out of range (0..2147483647)",
        ),
        (
            ["1", "3", "--check", "4", "1:4", "--toff", "-1"],
            "Invalid value for '--toff': invalid number '-1': not a non-negative decimal number",
        ),
        (
            ["1", "3", "-p", ",,"],
            "Invalid value for '-p' / '--pids' / '--pid': invalid PID list ',,': empty entry",
        ),
        (
            ["1", "3", "--check", "4", "1"],
            "Invalid value for '--check': invalid operand '1': expected PID:FD",
        ),
        (
            ["1", "3", "--check", "4", "1:4", "-p", "1"],
            "-p, --all, -r and -o apply to the listing, not to --check",
        ),
        (["1", "3", "--toff", "1"], "--toff applies to --check"),
        (["1", "3", "--all", "-p", "1"], "-p/--pids and --all exclude each other"),
        (
            ["1", "3", "-o", "NOPE"],
            "Invalid value for '-o' / '--output': unknown column 'NOPE' (-H lists them)",
        ),
    ],
)
def test_bad_input_is_one_line_and_status_2(kcmpctl: Run, args: list[str], message: str) -> None:
    assert kcmpctl("epoll", *args) == (2, "", f"kcmpctl: {message} (try 'kcmpctl epoll --help')\n")


def test_bad_input_from_the_installed_command(run_cli: Callable[..., Any]) -> None:
    done = run_cli("epoll", "abc", "3")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


# -------------------------------------------------------------- permission denied


def as_user(uid: int, *args: str) -> tuple[int, str, str]:
    """main(args) in a forked child that dropped to *uid*: (status, stdout, stderr)."""
    from kcmpctl.__main__ import main

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            os.close(read_end)
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            sys.stdout, sys.stderr = io.StringIO(), io.StringIO()
            status = main(list(args))
            result = [int(status), sys.stdout.getvalue(), sys.stderr.getvalue()]
            os.write(write_end, json.dumps(result).encode())
        finally:
            with contextlib.suppress(ChildProcessError):
                while True:  # whatever kcmpctl spawned, reaped here
                    os.waitpid(-1, 0)
            os._exit(0)
    os.close(write_end)
    try:
        with os.fdopen(read_end, "rb") as f:
            data = f.read()
    finally:
        os.waitpid(pid, 0)
    status, out, err = json.loads(data)
    return status, out, err


needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root: the test drops to another uid (setresuid)"
)


@needs_root
def test_permission_denied_for_the_epolls_process(family: Start) -> None:
    fam = family("epoll:ep", "pipe:a", "eadd:3:4")
    assert as_user(NOBODY, "epoll", str(fam.pid), "3") == (
        2,
        "",
        f"kcmpctl: process {fam.pid}: permission denied (run as the owner of the process,"
        " or as root / with CAP_SYS_PTRACE)\n",
    )


@needs_root
def test_denied_candidates_are_trouble_only_when_named(family: Start) -> None:
    root_fam = family("epoll:ep")
    fam = family("epoll:ep", "pipe:a", "eadd:3:4", f"setuid:{NOBODY}")
    record = target(fam.pid, 4, "ok", [(fam.pid, 4)])
    denied = (
        "permission denied (run as the owner of the process, or as root / with CAP_SYS_PTRACE)"
    )
    # Its parent (this test, root) cannot be searched: reported, not trouble.
    status, out, err = as_user(NOBODY, "epoll", str(fam.pid), "3", "-J")
    assert (status, err) == (0, "")
    assert json.loads(out) == {
        "pid": fam.pid,
        "epfd": 3,
        "targets": [record],
        "skipped": [{"pid": os.getpid(), "reason": denied, "fd": None}],
    }
    # Named with -p, the same gap is trouble; what could be found is still printed.
    status, out, err = as_user(NOBODY, "epoll", str(fam.pid), "3", "-J", "-p", str(root_fam.pid))
    assert status == 2
    assert err == f"kcmpctl: process {root_fam.pid}: {denied}\n"
    assert json.loads(out)["targets"] == [record]
    # --all: every process it may not search is listed, but for those with no fds to
    # search (kernel threads); none of it is trouble.
    status, out, err = as_user(NOBODY, "epoll", str(fam.pid), "3", "-J", "--all")
    assert (status, err) == (0, "")
    doc = json.loads(out)
    assert doc["targets"] == [record]
    skipped = {s["pid"] for s in doc["skipped"]}
    assert {os.getpid(), root_fam.pid} <= skipped
    stats = [procs.read_stat(p) for p in skipped]
    assert not any(st.kthread for st in stats if st is not None)


# --------------------------------------------------------------- exits mid-scan


def kill_at_first_call(
    monkeypatch: pytest.MonkeyPatch,
    victim: int,
    resource: Resource | None = None,
    *,
    skip: int = 0,
) -> None:
    """Kill *victim* just before the first kcmp call (of *resource*) that names it.

    A real exit at a chosen moment: the call then meets what the kernel left (a zombie
    without an fd table, since famhelper reaps its children only at the end).  *skip*
    lets that many such calls through first.
    """
    real = _syscall.kcmp
    seen = 0

    def call(pid1: int, pid2: int, type_: int, idx1: int, idx2: int) -> int:
        nonlocal seen
        if victim in (pid1, pid2) and resource in (None, type_):
            seen += 1
            if seen == skip + 1:
                os.kill(victim, 9)
                wait_for_state(victim, "Z")
        return real(pid1, pid2, type_, idx1, idx2)

    monkeypatch.setattr(_syscall, "kcmp", call)


@pytest.mark.parametrize(
    ("searched", "status", "holders"),
    [
        # c1's fd alone has the inode: it dies at the KCMP_EPOLL_TFD call.
        (["c1"], "unknown", []),
        # c1's fd is sorted with c2's first: it dies at a KCMP_FILE call.
        (["c1", "c2"], "elsewhere", ["c2"]),
    ],
)
def test_a_holder_that_exits_mid_scan_is_passed_over(
    family: Start,
    kcmpctl: Run,
    monkeypatch: pytest.MonkeyPatch,
    searched: list[str],
    status: str,
    holders: list[str],
) -> None:
    # Two children hold the read end, the parent nothing of the pipe: the registration
    # outlives either child.
    fam = family("epoll:ep", "pipe:a", "eadd:3:4", "close:5", "fork:c1", "fork:c2", "close:4")
    node = ino(fam["c2"], 4)
    kill_at_first_call(monkeypatch, fam["c1"])
    pids = ",".join(str(fam[name]) for name in searched)
    assert listing(kcmpctl, fam.pid, "-p", pids) == (
        1,
        {
            "pid": fam.pid,
            "epfd": 3,
            "targets": [
                {
                    "tfd": 4,
                    "toff": 0,
                    "events": IN_ERR_HUP,
                    "data": 4,
                    "ino": node,
                    "status": status,
                    "holders": [{"pid": fam[name], "fd": 4} for name in holders],
                    "sdev": sdev(fam["c2"], 4),
                    "target": f"pipe:[{node}]" if holders else None,
                }
            ],
            "skipped": [],
        },
    )


def test_a_registration_gone_with_its_last_holder_mid_scan_is_left_out(
    family: Start, kcmpctl: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    fam = family("epoll:ep", "pipe:a", "eadd:3:4", "close:5", "fork:c", "close:4")
    kill_at_first_call(monkeypatch, fam["c"])
    assert listing(kcmpctl, fam.pid) == (
        0,
        {"pid": fam.pid, "epfd": 3, "targets": [], "skipped": []},
    )


def test_the_epolls_process_exiting_mid_scan_is_trouble(
    family: Start, kcmpctl: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    fam = family("epoll:ep", "pipe:a", "eadd:3:4", "fork:c")
    # After the probe that opens the scan, at the first question about a holder.
    kill_at_first_call(monkeypatch, fam.pid, Resource.EPOLL_TFD, skip=1)
    status, out, err = kcmpctl("epoll", str(fam.pid), "3", "-J")
    assert (status, out) == (2, "")
    assert err == f"kcmpctl: process {fam.pid} has no fd table (it has exited)\n"


# ------------------------------------------------------------------ columns and -H


def test_json_keys_are_the_column_names(family: Start, kcmpctl: Run) -> None:
    fam = family("epoll:ep", "pipe:a", "eadd:3:4")
    _, doc = listing(kcmpctl, fam.pid)
    assert set(doc["targets"][0]) == {c.key for c in COLUMNS}
    status, out, err = kcmpctl("epoll", str(fam.pid), "3", "-H", "-J")
    assert (status, err) == (0, "")
    columns = json.loads(out)["columns"]
    assert [c["name"] for c in columns] == [c.key.upper() for c in COLUMNS]
    assert [c["name"] for c in columns if c["default"]] == [
        "TFD",
        "TOFF",
        "EVENTS",
        "DATA",
        "INO",
        "STATUS",
        "HOLDERS",
        "TARGET",
    ]
    status, out, err = kcmpctl("epoll", str(fam.pid), "3", "-r", "-o", "+SDEV")
    assert out.splitlines()[0].endswith(" TARGET SDEV")


def test_color_only_when_asked(family: Start, kcmpctl: Run) -> None:
    fam = family("epoll:ep", "pipe:a", "eadd:3:4", "dup:d:4", "close:4")
    _, plain, _ = kcmpctl("epoll", str(fam.pid), "3", "-o", "STATUS")
    assert "\x1b" not in plain
    _, colored, _ = kcmpctl("epoll", str(fam.pid), "3", "-o", "STATUS", "--color=always")
    assert "\x1b[33mmoved\x1b[0m" in colored


# ------------------------------------------------------------- 1,000 registrations


def test_a_thousand_registrations_resolved_in_one_run(
    family: Start, run_cli: Callable[..., Any]
) -> None:
    fam = family("epoll:ep", "emany:3:1000")
    assert (fam["ep"], fam["emany"]) == (3, 1000)
    done = run_cli("epoll", str(fam.pid), "3", "-J")
    assert (done.returncode, done.stderr) == (1, "")
    targets = json.loads(done.stdout)["targets"]
    assert len(targets) == 1000
    # emany leaves each file at the fd its data word names, moved or not.
    for record in targets:
        assert record["holders"] == [{"pid": fam.pid, "fd": record["data"]}], record
        assert record["status"] == ("ok" if record["tfd"] == record["data"] else "moved")
    assert sum(r["status"] == "ok" for r in targets) == 500
    assert max(r["toff"] for r in targets) >= 1  # closed numbers were reused
    assert sum(r["target"] == "anon_inode:[eventfd]" for r in targets) == 500


def count_kcmp_calls(monkeypatch: pytest.MonkeyPatch) -> Counter[Resource]:
    calls: Counter[Resource] = Counter()
    real = _syscall.kcmp

    def counting(pid1: int, pid2: int, type_: int, idx1: int, idx2: int) -> int:
        if type_ >= 0:  # not the probe's kcmp(self, -1, -1, ...)
            calls[Resource(type_)] += 1
        return real(pid1, pid2, type_, idx1, idx2)

    monkeypatch.setattr(_syscall, "kcmp", counting)
    return calls


def test_kcmp_calls_grow_with_registrations_not_with_fds(
    family: Start, kcmpctl: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    fam = family("epoll:ep", "emany:3:1000")
    calls = count_kcmp_calls(monkeypatch)
    status, out, err = kcmpctl("epoll", str(fam.pid), "3", "-q", "-p", str(fam.pid))
    assert (status, out, err) == (1, "", "")
    # The 500 eventfds are one inode: r x m would be 250,000 calls for them alone.  A
    # registration costs one KCMP_EPOLL_TFD call, through a copy of the fd at its number
    # or data word; a pipe one KCMP_FILE call against its other end, and an eventfd one
    # only where fdinfo lists it beside another eventfd's registration under a higher
    # number (measured: 1,002 and 660).
    assert calls[Resource.EPOLL_TFD] < 1_100
    assert calls[Resource.FILE] < 1_000


def test_one_file_registered_twice_in_a_big_epoll(family: Start, kcmpctl: Run) -> None:
    # fdinfo lists one file's registrations side by side: the two copies are compared,
    # and each registration has both fds.  600 others make the epoll big.
    fam = family("epoll:ep", "eventfd:20", "dup2:20:21", "eadd:3:20", "eadd:3:21", "emany:3:600")
    pid = fam.pid
    status, doc = listing(kcmpctl, pid, "-p", str(pid))
    assert status == 1  # emany's moved files
    by_tfd = {(t["tfd"], t["toff"]): t for t in doc["targets"]}
    for tfd in (20, 21):
        twice = by_tfd[tfd, 0]
        assert [(h["pid"], h["fd"]) for h in twice["holders"]] == [(pid, 20), (pid, 21)]
        assert (twice["status"], twice["target"]) == ("ok", "anon_inode:[eventfd]")
    for (tfd, _), record in by_tfd.items():
        if tfd not in (20, 21):
            assert record["holders"] == [{"pid": pid, "fd": record["data"]}], record


def test_a_pipe_in_a_big_epoll_has_every_holder(family: Start, kcmpctl: Run) -> None:
    # A file registered once in a big epoll is proven through a copy of the fd at its
    # number; its other fds (a dup, a fork child's) are the same file, its write end
    # is not.  600 others make the epoll big.
    fam = family("epoll:ep", "pipe:p", "dup2:4:40", "eadd:3:4", "fork:kid", "emany:3:600")
    pid, kid = fam.pid, fam["kid"]
    assert (fam["ep"], fam["p_r"], fam["p_w"]) == (3, 4, 5)
    status, doc = listing(kcmpctl, pid)
    assert status == 1  # emany's moved files
    (pipe,) = [t for t in doc["targets"] if (t["tfd"], t["toff"]) == (4, 0)]
    holders = [(h["pid"], h["fd"]) for h in pipe["holders"]]
    assert holders == [(pid, 4), (pid, 40), (kid, 4), (kid, 40)]
    assert pipe["status"] == "ok"


def test_eventfds_are_sorted_when_pidfd_getfd_is_refused(
    family: Start, kcmpctl: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without ptrace attach access (kcmp needs only read access) no fd can be copied:
    # the eventfds are sorted with KCMP_FILE instead, for the same answer.
    fam = family("epoll:ep", "emany:3:1000")

    def refused(pidfd: int, fd: int) -> int:
        raise OSError(errno.EPERM, os.strerror(errno.EPERM))

    monkeypatch.setattr(_syscall, "pidfd_getfd", refused)
    calls = count_kcmp_calls(monkeypatch)
    status, doc = listing(kcmpctl, fam.pid, "-p", str(fam.pid))
    assert status == 1
    assert len(doc["targets"]) == 1000
    for record in doc["targets"]:
        assert record["holders"] == [{"pid": fam.pid, "fd": record["data"]}], record
    # The sort (~500 x log2(500) KCMP_FILE calls) and a binary search for each number
    # gone stale (measured: 1,002 and 6,821).
    assert calls[Resource.FILE] > 4_000
    assert calls[Resource.EPOLL_TFD] < 4_000


# ---------------------------------------------------------- scenarios built in Python


@dataclass(frozen=True)
class EpollProcess:
    """A started snippet: its pid, its epoll's fd, the fds it listed, and a runner."""

    pid: int
    epfd: int
    fds: list[int]
    run: Run


class PythonEpoll:
    """Starts a Python process that builds an epoll from a snippet, and ends them all."""

    PRELUDE = "import os, select, sys\nep = select.epoll()\n"
    REPORT = "print(ep.fileno(), *fds, flush=True)\nsys.stdin.read()\n"

    def __init__(self, run: Run) -> None:
        self.run = run
        self.procs: list[subprocess.Popen[str]] = []

    def __call__(self, snippet: str) -> EpollProcess:
        code = self.PRELUDE + textwrap.dedent(snippet) + self.REPORT
        proc = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.procs.append(proc)
        assert proc.stdout is not None
        epfd, *fds = (int(v) for v in proc.stdout.readline().split())
        return EpollProcess(proc.pid, epfd, fds, self.run)

    def end(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(BrokenPipeError):
                assert proc.stdin is not None
                proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            assert proc.stdout is not None
            proc.stdout.close()


@pytest.fixture
def python_epoll(kcmpctl: Run) -> Iterator[PythonEpoll]:
    starter = PythonEpoll(kcmpctl)
    try:
        yield starter
    finally:
        starter.end()
