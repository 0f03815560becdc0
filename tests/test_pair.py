"""`kcmpctl pair` as a user runs it: output modes, exit statuses, errors."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from collections.abc import Callable

import pytest

from kcmpctl import _syscall

from .conftest import Family, denied_pid, free_pid

Spawn = Callable[..., Family]
Run = Callable[..., tuple[int, str, str]]
PAIR_KEYS = {"pid1", "pid2", "fd1", "fd2", "type", "shared", "order", "absent", "error"}


def test_json_shape_and_values_for_a_thread(family: Spawn, kcmpctl: Run) -> None:
    fam = family("thread:t")
    status, out, err = kcmpctl("pair", str(fam.pid), str(fam["t"]), "-J")
    assert (status, err) == (1, "")  # io: neither has one, so not every type is shared
    pairs = json.loads(out)["pairs"]
    assert [p["type"] for p in pairs] == ["vm", "files", "fs", "sighand", "io", "sysvsem"]
    for p in pairs:
        assert p.keys() >= PAIR_KEYS
        assert (p["pid1"], p["pid2"], p["fd1"], p["fd2"], p["error"]) == (
            fam.pid,
            fam["t"],
            None,
            None,
            None,
        )
    by_type = {p["type"]: p for p in pairs}
    assert by_type["vm"]["shared"] is True
    assert by_type["vm"]["order"] == "eq"
    assert by_type["vm"]["absent"] == []
    assert by_type["io"]["shared"] is False
    assert by_type["io"]["order"] is None
    assert sorted(by_type["io"]["absent"]) == sorted([fam.pid, fam["t"]])


def test_all_shared_exits_0_some_not_exits_1(family: Spawn, kcmpctl: Run) -> None:
    fam = family("thread:t", "fork:c")
    assert kcmpctl("pair", str(fam.pid), str(fam["t"]), "-t", "vm,files", "-t", "fs", "-q") == (
        0,
        "",
        "",
    )
    assert kcmpctl("pair", str(fam.pid), str(fam["c"]), "-t", "vm", "-q") == (1, "", "")


def test_human_table_says_none_and_only(family: Spawn, kcmpctl: Run) -> None:
    fam = family("semundo", "fork:c")
    status, out, _ = kcmpctl("pair", str(fam.pid), str(fam["c"]))
    assert status == 1
    lines = out.splitlines()
    assert lines[0] == f"{fam.pid} (famhelper) and {fam['c']} (famhelper)"
    assert lines[1].split() == ["TYPE", "RELATION", "ORDER"]
    rows = {line.split()[0]: line.split(maxsplit=1)[1] for line in lines[2:]}
    assert rows["io"].split() == ["none", "-"]
    assert rows["sysvsem"].split() == ["only", str(fam.pid), "has", "one", "-"]
    assert rows["vm"].split()[:2] == ["not", "shared"]
    assert rows["vm"].split()[2] in ("<", ">")


def test_raw_output_escapes_spaces_and_has_header(family: Spawn, kcmpctl: Run) -> None:
    fam = family("fork:c")
    status, out, _ = kcmpctl("pair", str(fam.pid), str(fam["c"]), "-r", "-t", "vm")
    assert status == 1
    header, row = out.splitlines()
    assert header == "TYPE RELATION ORDER"
    fields = row.split(" ")
    assert fields[:2] == ["vm", "not\\x20shared"]
    assert fields[2] in ("<", ">")
    _, out, _ = kcmpctl("pair", str(fam.pid), str(fam["c"]), "-rn", "-t", "vm")
    assert len(out.splitlines()) == 1


def test_columns_can_be_chosen(family: Spawn, kcmpctl: Run) -> None:
    fam = family("fork:c")
    args = ("pair", str(fam.pid), str(fam["c"]), "-r", "-t", "vm")
    _, out, _ = kcmpctl(*args, "-o", "type,shared,pid1")
    assert out.splitlines() == ["TYPE SHARED PID1", f"vm no {fam.pid}"]
    _, out, _ = kcmpctl(*args, "-o", "+PID2")
    assert out.splitlines()[0] == "TYPE RELATION ORDER PID2"
    status, out, err = kcmpctl(*args, "-o", "NOPE")
    assert status == 2
    assert out == ""
    assert "unknown column 'NOPE'" in err


def test_list_columns(kcmpctl: Run) -> None:
    status, out, _ = kcmpctl("pair", "-H", "-J")
    assert status == 0
    names = [c["name"] for c in json.loads(out)["columns"]]
    assert {"TYPE", "RELATION", "ORDER", "SHARED", "FD1", "TARGET2"} <= set(names)


def test_file_descriptions(family: Spawn, kcmpctl: Run) -> None:
    fam = family("open:a:/etc/hostname", "dup:d:3", "open:b:/etc/hostname")
    status, out, _ = kcmpctl("pair", f"{fam.pid}:{fam['a']}", f"{fam.pid}:{fam['d']}", "-J")
    assert status == 0
    (row,) = json.loads(out)["pairs"]
    assert (row["type"], row["fd1"], row["fd2"], row["shared"], row["order"]) == (
        "file",
        fam["a"],
        fam["d"],
        True,
        "eq",
    )
    assert row["target1"] == row["target2"] == "/etc/hostname"
    status, out, _ = kcmpctl("pair", f"{fam.pid}:{fam['a']}", f"{fam.pid}:{fam['b']}")
    assert status == 1
    assert "not shared" in out
    assert "/etc/hostname" in out


@pytest.mark.parametrize(
    ("operands", "message"),
    [
        (["abc", "1"], "invalid PID 'abc'"),
        (["0", "1"], "invalid PID '0': out of range"),
        (["1:x", "1:2"], "invalid fd 'x'"),
        (["1:-2", "1:2"], "invalid fd '-2'"),
        (["99999999", "1"], "invalid PID '99999999': out of range"),
        (["1:2", "1"], "mix PID and PID:FD"),
        (["1"], "expected two operands"),
        (["1", "2", "3"], "expected two operands"),
        ([f"1:{2**40}", "1:0"], "out of range"),
    ],
)
def test_bad_operands_are_one_line_and_status_2(
    kcmpctl: Run, operands: list[str], message: str
) -> None:
    status, out, err = kcmpctl("pair", *operands)
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("kcmpctl: ")
    assert message in err


def test_negative_pid_is_a_usage_error(
    run_cli: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    proc = run_cli("pair", "-1", "5")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr


def test_permission_denied_names_the_pid(kcmpctl: Run) -> None:
    pid = denied_pid()
    status, out, err = kcmpctl("pair", str(pid), str(os.getpid()))
    assert status == 2
    assert out == ""
    assert err.splitlines() == [
        f"kcmpctl: process {pid}: permission denied (run as the owner of the process, or as"
        " root / with CAP_SYS_PTRACE)"
    ]


def test_permission_denied_in_json_rows(kcmpctl: Run) -> None:
    pid = denied_pid()
    status, out, err = kcmpctl("pair", str(pid), str(os.getpid()), "-J", "-t", "vm,fs")
    assert status == 2
    rows = json.loads(out)["pairs"]
    assert all(r["error"].startswith(f"process {pid}: permission denied") for r in rows)
    assert all(r["order"] is None and r["shared"] is False for r in rows)
    assert len(err.splitlines()) == 1


def test_missing_process(kcmpctl: Run) -> None:
    pid = free_pid()
    status, out, err = kcmpctl("pair", str(os.getpid()), str(pid))
    assert (status, out) == (2, "")
    assert err == f"kcmpctl: process {pid}: no such process\n"


def test_fd_not_open(family: Spawn, kcmpctl: Run) -> None:
    fam = family("pipe:p")
    status, _, err = kcmpctl("pair", f"{fam.pid}:99", f"{fam.pid}:{fam['p_r']}")
    assert status == 2
    assert err == f"kcmpctl: fd 99 is not open in process {fam.pid}\n"


def test_type_option_rejects_fd_operands_and_unknown_types(kcmpctl: Run) -> None:
    me = str(os.getpid())
    status, _, err = kcmpctl("pair", f"{me}:0", f"{me}:1", "-t", "vm")
    assert status == 2
    assert "-t applies to PID operands" in err
    status, _, err = kcmpctl("pair", me, me, "-t", "nosuch")
    assert status == 2
    assert "unknown type 'nosuch'" in err
    status, _, err = kcmpctl("pair", me, me, "-t", "file")
    assert status == 2


def test_enosys_is_one_line_status_2(kcmpctl: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_kcmp(*args: int) -> int:
        raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS))

    monkeypatch.setattr(_syscall, "kcmp", no_kcmp)
    me = str(os.getpid())
    status, out, err = kcmpctl("pair", me, me)
    assert (status, out) == (2, "")
    assert err.startswith("kcmpctl: kcmp: kcmp(2) is not available")
    assert err.count("\n") == 1


def test_quiet_pair_does_not_import_rich() -> None:
    code = (
        "import os, sys; from kcmpctl.__main__ import main; "
        "s = main(['pair', str(os.getpid()), str(os.getpid()), '-q', '-t', 'vm']); "
        "assert 'rich' not in sys.modules and 'psutil' not in sys.modules, sorted(sys.modules); "
        "sys.exit(s)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert (proc.returncode, proc.stderr) == (0, "")


def as_nobody(*args: str) -> subprocess.CompletedProcess[str]:
    setpriv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    return subprocess.run(
        [*setpriv, sys.executable, *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_unprivileged_user() -> None:
    probe_run = as_nobody("-c", "import kcmpctl.__main__")
    if probe_run.returncode != 0:
        pytest.skip(f"nobody cannot run this interpreter/package here: {probe_run.stderr[-200:]}")
    # nobody may compare processes it owns (its reference zombie included) ...
    script = (
        "import os, subprocess, sys\n"
        "from kcmpctl.__main__ import main\n"
        "child = subprocess.Popen(['sleep', '30'])\n"
        "try:\n"
        "    sys.exit(main(['pair', str(os.getpid()), str(child.pid), '-J']))\n"
        "finally:\n"
        "    child.kill(); child.wait()\n"
    )
    own = as_nobody("-c", script)
    assert (own.returncode, own.stderr) == (1, "")
    rows = {r["type"]: r for r in json.loads(own.stdout)["pairs"]}
    assert rows["io"]["relation"] == "none"
    assert rows["vm"]["relation"] == "not shared"
    # ... but not root's.
    other = as_nobody("-m", "kcmpctl", "pair", str(os.getpid()), str(os.getpid()))
    assert other.returncode == 2
    assert other.stderr == (
        f"kcmpctl: process {os.getpid()}: permission denied (run as the owner of the process,"
        " or as root / with CAP_SYS_PTRACE)\n"
    )
