"""Namespace types beside kcmp's: real namespaces made by the family helper, checked
against what /proc's links say (readlink's ``net:[INODE]``) and against stat(), the
identity lsns and setns(2) use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable

import pytest

from kcmpctl import procs
from kcmpctl.matrix import group_namespace
from kcmpctl.namespaces import reader
from kcmpctl.resources import NS_TYPES, TYPE_GROUPS, Namespace, parse_type

from .conftest import Family, wait_for_state

Spawn = Callable[..., Family]
Run = Callable[..., tuple[int, str, str]]

NS_NAMES = [ns.cli_name for ns in NS_TYPES]
#: every namespace a clone(2) flag can give a child of its own (time: only unshare)
CLONED = "NEWUSER|NEWNS|NEWNET|NEWUTS|NEWIPC|NEWPID|NEWCGROUP"
#: the skip reason of a zombie's links other than pid and user
ZOMBIE_NS = "exited: a zombie keeps only its pid and user namespaces"


def inode(pid: int, name: str) -> int:
    """The namespace's inode as readlink shows it: ``net:[4026531833]``."""
    link = os.readlink(f"/proc/{pid}/ns/{name}")
    return int(link[link.index("[") + 1 : -1])


def start_or_skip(family: Spawn, *ops: str) -> Family:
    try:
        return family(*ops)
    except RuntimeError as err:
        pytest.skip(
            f"this machine does not let a process make namespaces ({' '.join(ops)}): {err}"
        )


def test_pair_tells_each_namespace_apart(family: Spawn, kcmpctl: Run) -> None:
    fam = start_or_skip(family, f"clone:c:{CLONED}")
    parent, child = fam.pid, fam["c"]
    status, out, err = kcmpctl("pair", str(parent), str(child), "-t", "ns", "-J")
    assert (status, err) == (1, "")
    pairs = {p["type"]: p for p in json.loads(out)["pairs"]}
    assert list(pairs) == NS_NAMES
    for name, p in pairs.items():
        assert p["kind"] == "namespace"
        a, b = inode(parent, name), inode(child, name)
        assert p["shared"] is (a == b)
        assert p["order"] == ("eq" if a == b else "lt" if a < b else "gt")
        assert (p["absent"], p["error"]) == ([], None)
    assert {n for n, p in pairs.items() if not p["shared"]} == set(NS_NAMES) - {"time"}


def test_pair_same_process_shares_every_namespace(kcmpctl: Run) -> None:
    me = str(os.getpid())
    assert kcmpctl("pair", me, me, "-t", "ns", "-q") == (0, "", "")


def test_time_namespace_by_unshare(family: Spawn, kcmpctl: Run) -> None:
    fam = start_or_skip(family, "unshare:NEWTIME", "fork:t")
    assert inode(fam.pid, "time") != inode(fam["t"], "time")
    status, out, _ = kcmpctl("pair", str(fam.pid), str(fam["t"]), "-t", "ns", "-J")
    assert status == 1
    shared = {p["type"]: p["shared"] for p in json.loads(out)["pairs"]}
    assert shared == {name: name != "time" for name in NS_NAMES}


def test_matrix_groups_namespaces_beside_kcmp_types(family: Spawn, kcmpctl: Run) -> None:
    fam = start_or_skip(family, f"clone:c:{CLONED}", "fork:f")
    ids = [fam.pid, fam["c"], fam["f"]]
    status, out, err = kcmpctl("matrix", "-p", ",".join(map(str, ids)), "-t", "all", "-J")
    assert (status, err) == (1, "")
    rows = {r["type"]: r for r in json.loads(out)["resources"]}
    assert list(rows) == [*(r.cli_name for r in TYPE_GROUPS["task"]), *NS_NAMES]
    assert {r["kind"] for n, r in rows.items() if n in NS_NAMES} == {"namespace"}
    assert {r["kind"] for n, r in rows.items() if n not in NS_NAMES} == {"kcmp"}
    assert all(r["namespaces"] is None for r in rows.values() if r["kind"] == "kcmp")
    for name in NS_NAMES:
        row = rows[name]
        expected: dict[int, list[int]] = {}
        for pid in sorted(ids):
            expected.setdefault(inode(pid, name), []).append(pid)
        assert [ns["ns"] for ns in row["namespaces"]] == sorted(expected)  # by inode
        assert [ns["pids"] for ns in row["namespaces"]] == [expected[i] for i in sorted(expected)]
        assert row["order"] == [p for i in sorted(expected) for p in expected[i]]
        assert row["groups"] == [g for g in (expected[i] for i in sorted(expected)) if len(g) > 1]
        assert (row["absent"], row["skipped"]) == ([], [])
    assert rows["net"]["groups"] == [sorted([fam.pid, fam["f"]])]
    assert rows["time"]["groups"] == [sorted(ids)]


def test_matrix_ns_only_needs_no_kcmp(
    family: Spawn, kcmpctl: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    fam = start_or_skip(family, f"clone:c:{CLONED}")
    from kcmpctl import _syscall

    def no_kcmp(*args: int) -> int:
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(_syscall, "kcmp", no_kcmp)
    status, out, err = kcmpctl("matrix", "-p", f"{fam.pid},{fam['c']}", "-t", "net", "-J")
    assert (status, err) == (1, "")
    assert json.loads(out)["resources"][0]["order"] == sorted(
        [fam.pid, fam["c"]], key=lambda p: inode(p, "net")
    )


def test_grid_and_groups_views_name_namespaces(family: Spawn, kcmpctl: Run) -> None:
    fam = start_or_skip(family, f"clone:c:{CLONED}", "fork:f")
    pids = f"{fam.pid},{fam['c']},{fam['f']}"
    status, out, _ = kcmpctl("matrix", "-p", pids, "-t", "net,uts", "--grid")
    assert status == 1
    assert "net: network namespace; 1 group (2 processes); 1 sharing with nobody" in out
    assert "uts: UTS namespace;" in out
    status, out, _ = kcmpctl("matrix", "-p", pids, "-t", "net", "-r", "-o", "type,kind,pids")
    assert (
        out.splitlines()[1] == f"net namespace {min(fam.pid, fam['f'])},{max(fam.pid, fam['f'])}"
    )


def test_zombie_keeps_only_pid_and_user(family: Spawn, kcmpctl: Run) -> None:
    fam = family("zombie:z")
    wait_for_state(fam["z"], "Z")
    status, out, err = kcmpctl("pair", str(fam.pid), str(fam["z"]), "-t", "pid,user,mnt", "-J")
    assert status == 2
    rows = {p["type"]: p for p in json.loads(out)["pairs"]}
    assert rows["pid"]["shared"] is True
    assert rows["user"]["shared"] is True
    assert rows["mnt"]["error"] == (
        f"process {fam['z']}: mnt namespace: exited: a zombie keeps only its pid and user"
        " namespaces"
    )
    assert err == f"kcmpctl: {rows['mnt']['error']}\n"
    # matrix reads a zombie's namespaces as pair does; kcmp's types skip it unread
    status, out, _ = kcmpctl("matrix", "-p", f"{fam.pid},{fam['z']}", "-t", "mnt,vm", "-J")
    mnt, vm = (row["skipped"] for row in json.loads(out)["resources"])
    assert [(s["pid"], s["reason"]) for s in mnt] == [(fam["z"], ZOMBIE_NS)]
    assert [(s["pid"], s["reason"]) for s in vm] == [(fam["z"], "zombie: exited, not yet reaped")]


def test_identity_is_what_stat_reads_for_every_link_on_the_machine(family: Spawn) -> None:
    """kcmpctl reads a namespace's inode from the link's text and nsfs's device once:
    the (st_dev, st_ino) stat() reads, for every process here and every type, and the
    same error where stat fails (a zombie's links, a denied process)."""
    fam = family("zombie:z")
    wait_for_state(fam["z"], "Z")
    compared = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        for name in [*NS_NAMES, "pid_for_children", "time_for_children"]:
            path = f"/proc/{entry}/ns/{name}"
            try:
                st = os.stat(path)
                want: object = (st.st_dev, st.st_ino)
            except OSError as err:
                want = err.errno
            try:
                got: object = procs.ns_identity(int(entry), name)
            except OSError as err:
                got = err.errno
            if got != want and not os.path.exists(f"/proc/{entry}"):
                continue  # exited between the two reads
            assert got == want, path
            compared += isinstance(want, tuple)
    assert compared >= len(NS_NAMES)  # the family's own links at least (as anyone)


def test_reader_skips_a_zombie_never_guesses(family: Spawn) -> None:
    fam = family("zombie:z")
    wait_for_state(fam["z"], "Z")
    result = group_namespace([fam.pid, fam["z"]], Namespace.NET, reader(Namespace.NET))
    assert result.classes == ((fam.pid,),)
    assert [(s.id, s.reason) for s in result.skipped] == [
        (fam["z"], "exited: a zombie keeps only its pid and user namespaces")
    ]
    pid_result = group_namespace([fam.pid, fam["z"]], Namespace.PID, reader(Namespace.PID))
    assert pid_result.classes == (tuple(sorted([fam.pid, fam["z"]])),)


def _ns_denied(pid: int) -> bool:
    try:
        os.stat(f"/proc/{pid}/ns/net")
    except PermissionError:
        return True
    except OSError:
        return False
    return False


@pytest.mark.skipif(not _ns_denied(1), reason="/proc/1/ns is readable here: no denied case")
def test_a_denied_namespace_is_a_skip_and_trouble_when_named(kcmpctl: Run) -> None:
    me = os.getpid()
    status, out, err = kcmpctl("matrix", "-p", f"1,{me}", "-t", "ns", "-J")
    assert status == 2
    assert "process 1: permission denied" in err
    for row in json.loads(out)["resources"]:
        assert [(s["pid"], s["reason"]) for s in row["skipped"]] == [(1, "permission denied")]
        assert row["order"] == [me]
    status, _, err = kcmpctl("pair", "1", str(me), "-t", "ns", "-q")
    assert status == 2
    assert err.count("\n") == 1  # one line, not one per namespace type
    assert err.startswith("kcmpctl: process 1: permission denied")


def test_type_groups_and_names(kcmpctl: Run) -> None:
    me = str(os.getpid())
    assert parse_type("ns", TYPE_GROUPS["all"]) == NS_TYPES
    assert parse_type("NET", TYPE_GROUPS["all"]) == (Namespace.NET,)
    status, out, _ = kcmpctl("pair", me, me, "-t", "task", "-t", "net,ns", "-J")
    types = [p["type"] for p in json.loads(out)["pairs"]]
    assert types == [
        *(r.cli_name for r in TYPE_GROUPS["task"]),
        "net",
        *NS_NAMES[:1],
        *NS_NAMES[2:],
    ]
    status, out, err = kcmpctl("pair", me, me, "-t", "nosuch")
    assert status == 2
    assert "unknown type 'nosuch' (choose from task, ns, all, vm," in err


def test_types_lists_namespaces_with_clone_flags(kcmpctl: Run) -> None:
    status, out, _ = kcmpctl("types", "-J")
    rows = {r["name"]: r for r in json.loads(out)["types"]}
    assert status == 0
    assert rows["net"] | {"description": None} == {
        "name": "net",
        "kind": "namespace",
        "kcmp": None,
        "value": 0x40000000,
        "object": "network namespace",
        "clone_flag": "CLONE_NEWNET",
        "description": None,
    }
    assert rows["mnt"]["clone_flag"] == "CLONE_NEWNS"
    assert rows["vm"]["kind"] == "kcmp"
    assert [n for n, r in rows.items() if r["kind"] == "namespace"] == NS_NAMES


def test_pin_tells_a_reaped_process_from_a_zombie() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        pin = procs.pin(child.pid)
        assert pin is not None
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
        assert pin.same()  # exited, not reaped: its ID still names it
    finally:
        child.wait()
    assert not pin.same()
    pin.close()


def _lsns() -> dict[tuple[str, int], tuple[int, int]]:
    """lsns -J: (type, inode) -> (nprocs, lowest pid)."""
    proc = subprocess.run(
        ["lsns", "-J", "-o", "NS,TYPE,NPROCS,PID"], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        # lsns gives up on the whole machine for one process it cannot parse (a name
        # with a newline, as tests of hostile names make): nothing to check against.
        pytest.skip(f"lsns exited {proc.returncode}: {proc.stderr.strip() or 'no message'}")
    return {
        (n["type"], int(n["ns"])): (int(n["nprocs"]), int(n["pid"]))
        for n in json.loads(proc.stdout)["namespaces"]
    }


@pytest.mark.skipif(
    not os.access("/usr/bin/lsns", os.X_OK) and not os.access("/bin/lsns", os.X_OK),
    reason="no lsns (util-linux) to check against",
)
def test_whole_machine_groups_as_lsns_does(family: Spawn) -> None:
    """For every namespace type, matrix -t ns over the whole machine groups exactly the
    processes lsns lists under each namespace: its count and its lowest PID.

    Processes start and exit meanwhile (other tests, lsns and kcmpctl themselves): a
    namespace is checked exactly when lsns saw it alike before and after kcmpctl ran,
    and when no process of ours in it was born or gone in between; the namespace of
    this test's own process (where lsns and kcmpctl run) is checked by its lowest PID.
    The helper makes namespaces of three processes that nothing else enters.
    """
    fam = start_or_skip(family, "unshare:NEWUSER|NEWNS|NEWNET|NEWUTS|NEWIPC", "fork:a", "fork:b")
    before = _lsns()
    proc = subprocess.run(
        [sys.executable, "-m", "kcmpctl", "matrix", "-t", "ns", "-J"],
        capture_output=True,
        text=True,
        check=False,
    )
    after = _lsns()
    assert proc.returncode in (0, 1), proc.stderr
    ours: dict[tuple[str, int], list[int]] = {}
    for row in json.loads(proc.stdout)["resources"]:
        for ns in row["namespaces"]:
            ours[(row["type"], ns["ns"])] = ns["pids"]
    me = os.getpid()
    checked = 0
    for key, seen in before.items():
        if after.get(key) != seen:
            continue  # changed while kcmpctl ran
        assert key in ours, f"lsns lists {key} {seen}, kcmpctl does not"
        nprocs, lowest = seen
        pids = ours[key]
        assert min(pids) == lowest, key
        if inode(me, key[0]) != key[1]:
            assert len(pids) == nprocs, (key, pids, seen)
            checked += 1
    family_ns = {(n, inode(fam.pid, n)) for n in ("mnt", "net", "uts", "ipc", "user")}
    for key in family_ns:
        assert sorted(ours[key]) == sorted([fam.pid, fam["a"], fam["b"]])
        assert before[key] == (3, min(fam.pid, fam["a"], fam["b"]))
    assert checked >= len(family_ns)


@pytest.mark.skipif(
    not os.access("/usr/bin/lsns", os.X_OK) and not os.access("/bin/lsns", os.X_OK),
    reason="no lsns (util-linux) to check against",
)
def test_a_zombie_is_counted_in_its_pid_and_user_namespaces_as_lsns_does(
    family: Spawn, kcmpctl: Run
) -> None:
    """A zombie keeps its pid and user namespaces: lsns counts it there, and so must
    matrix; its other links are gone, a skip with that reason, never a guess."""
    fam = start_or_skip(family, "unshare:NEWUSER|NEWNS|NEWUTS", "fork:a", "zombie:z")
    wait_for_state(fam["z"], "Z")
    family_pids = sorted([fam.pid, fam["a"], fam["z"]])
    pids = ",".join(map(str, family_pids))
    status, out, err = kcmpctl("matrix", "-p", pids, "-t", "ns", "-J")
    rows = {row["type"]: row for row in json.loads(out)["resources"]}
    lsns = _lsns()
    for name in ("user", "mnt", "uts"):
        key = (name, inode(fam.pid, name))
        pids_in = next(ns["pids"] for ns in rows[name]["namespaces"] if ns["ns"] == key[1])
        assert (len(pids_in), min(pids_in)) == lsns[key], (name, pids_in, lsns[key])
    assert rows["user"]["groups"] == [family_pids]
    assert [s["pid"] for s in rows["user"]["skipped"]] == []
    assert fam["z"] in next(c for c in rows["pid"]["groups"] if fam.pid in c)
    for name in ("mnt", "net", "uts", "ipc", "cgroup", "time"):
        assert [(s["pid"], s["reason"]) for s in rows[name]["skipped"]] == [
            (fam["z"], ZOMBIE_NS)
        ], name
    # Named with -p, a process with a link that cannot be read is trouble, as before.
    assert status == 2, err
