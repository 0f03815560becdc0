"""`kcmpctl fds --across KEY`: a real leak across a namespace or uid boundary is found,
a lookalike (the same file opened on each side) is not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import HELPERS, Family

Spawn = Callable[..., Family]
Run = Callable[..., tuple[int, str, str]]


def inode(pid: int, name: str) -> int:
    link = os.readlink(f"/proc/{pid}/ns/{name}")
    return int(link[link.index("[") + 1 : -1])


def start_or_skip(family: Spawn, *ops: str) -> Family:
    try:
        return family(*ops)
    except RuntimeError as err:
        pytest.skip(
            f"this machine does not let a process make namespaces ({' '.join(ops)}): {err}"
        )


@pytest.fixture
def boundary(family: Spawn, tmp_path: Path) -> tuple[Family, Family, Path]:
    """A leak and a lookalike around one file.

    Host side: the helper opens the file, forks a sibling (same namespaces) and clones
    a child into new user, mount and PID namespaces: all three hold one description.
    Lookalike: a helper that entered new user and mount namespaces, then opened the
    same file itself, and forked (its child shares that description, inside).
    """
    path = tmp_path / "secret"
    path.write_text("host data\n")
    leak = start_or_skip(family, f"open:f:{path}", "fork:h", "clone:c:NEWUSER|NEWNS|NEWPID")
    lookalike = start_or_skip(family, "unshare:NEWUSER|NEWNS", f"open:g:{path}", "fork:k")
    return leak, lookalike, path


def on(path: Path, out: str) -> list[dict[str, object]]:
    """The descriptions of *path* in a -J document.  (The clone child also holds the
    helper's stdio pipes, inherited from the host side: real leaks as well.)"""
    return [d for d in json.loads(out)["descriptions"] if d["target"] == str(path)]


def pids_of(leak: Family, lookalike: Family) -> str:
    return ",".join(map(str, [leak.pid, leak["h"], leak["c"], lookalike.pid, lookalike["k"]]))


def test_a_description_leaked_into_namespaces_is_found(
    boundary: tuple[Family, Family, Path], kcmpctl: Run
) -> None:
    leak, lookalike, path = boundary
    status, out, err = kcmpctl("fds", "-p", pids_of(leak, lookalike), "--across", "mnt", "-J")
    assert (status, err) == (1, "")
    doc = json.loads(out)
    (desc,) = on(path, out)  # the lookalike's own description is not there
    holders = {h["pid"]: h for h in desc["holders"]}
    # The lookalike's own description of the file (its fork child is inside with it)
    # does not cross.  (Its stderr does: pytest's, inherited from the host side.)
    inside = {lookalike.pid, lookalike["k"]}
    assert not [
        h
        for d in doc["descriptions"]
        for h in d["holders"]
        if h["pid"] in inside and h["fd"] == lookalike["g"]
    ]
    assert sorted(holders) == sorted([leak.pid, leak["h"], leak["c"]])
    for pid, holder in holders.items():
        assert holder["fd"] == leak["f"]
        assert holder["mntns"] == inode(pid, "mnt")
    assert holders[leak["c"]]["mntns"] != holders[leak.pid]["mntns"]
    assert holders[leak["h"]]["mntns"] == holders[leak.pid]["mntns"]


def test_each_key_and_the_check(boundary: tuple[Family, Family, Path], kcmpctl: Run) -> None:
    leak, lookalike, path = boundary
    pids = pids_of(leak, lookalike)
    # The clone child is in new user, mount and PID namespaces, nothing else.
    for key, crosses in [("pid", 1), ("userns", 1), ("net", 0), ("uts", 0), ("user", 0)]:
        assert kcmpctl("fds", "-p", pids, "--across", key, "-q") == (crosses, "", ""), key
    # Repeatable and comma lists: any key that differs is enough.
    assert kcmpctl("fds", "-p", pids, "--across", "user,net", "--across", "ipc", "-q")[0] == 0
    assert kcmpctl("fds", "-p", pids, "--across", "user", "--across", "mnt", "-q")[0] == 1
    status, out, _ = kcmpctl("fds", "-p", pids, "--across", "user,pid", "-J")
    assert status == 1
    (desc,) = on(path, out)
    for holder in desc["holders"]:
        assert set(holder) == {"pid", "fd", "command", "uid", "pidns"}
        assert holder["pidns"] == inode(holder["pid"], "pid")


def test_the_table_shows_each_holders_value(
    boundary: tuple[Family, Family, Path], kcmpctl: Run
) -> None:
    leak, lookalike, path = boundary
    status, out, _ = kcmpctl(
        "fds",
        "-p",
        pids_of(leak, lookalike),
        "--across",
        "mnt",
        "-r",
        "-o",
        "TARGET,HOLDERS,MNTNS",
    )
    assert status == 1
    header, *rows = out.splitlines()
    assert header == "TARGET HOLDERS MNTNS"
    (row,) = (r.split(" ", 1)[1] for r in rows if r.startswith(f"{path} "))
    holders, mntns = (cell.split(",") for cell in row.split(" "))
    assert [int(h.split(":")[0]) for h in holders] == sorted([leak.pid, leak["h"], leak["c"]])
    assert [int(v) for v in mntns] == [inode(int(h.split(":")[0]), "mnt") for h in holders]
    # The default columns gain one per key.
    _, out, _ = kcmpctl("fds", "-p", pids_of(leak, lookalike), "--across", "mnt,user")
    assert out.splitlines()[0].split()[-2:] == ["MNTNS", "UID"]  # as --across names them


def test_no_crossing_exits_0(family: Spawn, tmp_path: Path, kcmpctl: Run) -> None:
    path = tmp_path / "f"
    path.write_text("x")
    fam = family(f"open:f:{path}", "fork:k")
    pids = f"{fam.pid},{fam['k']}"
    status, out, _ = kcmpctl("fds", "-p", pids, "--across", "user,mnt,net,pid,ipc,uts", "-J")
    assert status == 0
    assert json.loads(out)["descriptions"] == []
    # Without --across the same description is shared, and that is no difference.
    status, out, _ = kcmpctl("fds", "-p", pids, "-J")
    assert status == 0
    assert len(on(path, out)) == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a process's uid needs root")
def test_a_description_held_by_two_uids(family: Spawn, tmp_path: Path, kcmpctl: Run) -> None:
    path = tmp_path / "f"
    path.write_text("x")
    # A child that inherited the fd drops to another uid: the helper stays root, so
    # it can still end the child.
    fam = family(f"open:f:{path}", "nest:u:1", "setuid:65534")
    status, out, err = kcmpctl("fds", "-p", f"{fam.pid},{fam['u']}", "--across", "user", "-J")
    assert (status, err) == (1, "")
    (desc,) = on(path, out)
    assert {h["pid"]: h["uid"] for h in desc["holders"]} == {fam.pid: 0, fam["u"]: 65534}


def test_sent_by_scm_rights_into_namespaces(tmp_path: Path, kcmpctl: Run) -> None:
    """A receiver in its own user and mount namespaces gets the host's fd over a socket."""
    unshare = "/usr/bin/unshare"
    if not os.access(unshare, os.X_OK):
        pytest.skip("no unshare(1) to start a receiver in namespaces of its own")
    path, sock = tmp_path / "f", str(tmp_path / "sock")
    path.write_text("x")
    fdpass = str(HELPERS / "fdpass.py")
    started: list[subprocess.Popen[str]] = []
    try:
        recv = subprocess.Popen(
            [unshare, "--user", "--mount", "--", sys.executable, fdpass, "recv", sock],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(recv)
        assert recv.stdout is not None
        if recv.stdout.readline().strip() != "ready":
            recv.kill()
            assert recv.stderr is not None
            pytest.skip(f"unshare --user --mount refused here: {recv.stderr.read().strip()}")
        send = subprocess.Popen(
            [sys.executable, fdpass, "send", sock, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(send)
        assert send.stdout is not None
        got = int(recv.stdout.readline().split()[1])
        sent = int(send.stdout.readline().split()[1])
        pids = f"{recv.pid},{send.pid}"
        status, out, _ = kcmpctl("fds", "-p", pids, "--across", "mnt,userns", "-J")
        assert status == 1
        (desc,) = on(path, out)
        assert {(h["pid"], h["fd"]) for h in desc["holders"]} == {
            (recv.pid, got),
            (send.pid, sent),
        }
        assert {h["pid"]: h["mntns"] for h in desc["holders"]} == {
            p: inode(p, "mnt") for p in (recv.pid, send.pid)
        }
        assert kcmpctl("fds", "-p", pids, "--across", "net", "-q")[0] == 0
    finally:
        for proc in started:
            proc.kill()
            proc.communicate()
