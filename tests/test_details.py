"""Process details from psutil (ARGS, PPID, STARTED): right, and loaded only on request."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from .conftest import Family

Spawn = Callable[..., Family]
Run = Callable[..., tuple[int, str, str]]


def cmdline(pid: int) -> list[str]:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().decode().split("\0")[:-1]


def test_matrix_groups_show_details(family: Spawn, kcmpctl: Run) -> None:
    fam = family("clone:a:FILES")
    pids = sorted([fam.pid, fam["a"]])
    status, out, _ = kcmpctl(
        "matrix", "-p", ",".join(map(str, pids)), "-t", "files", "-r", "-o", "PIDS,PPID,ARGS"
    )
    assert status == 0
    header, row = out.splitlines()
    assert header == "PIDS PPID ARGS"
    ppid_cell = row.split(" ")[1]
    assert ppid_cell == ",".join(str(os.getpid() if p == fam.pid else fam.pid) for p in pids)
    # each process's command line as /proc has it, spaces escaped in raw output
    assert row.split(" ")[2] == ",".join("\\x20".join(cmdline(p)) for p in pids)


def test_json_gains_details_only_when_asked(family: Spawn, kcmpctl: Run) -> None:
    fam = family("fork:c")
    pids = f"{fam.pid},{fam['c']}"
    _, out, _ = kcmpctl("matrix", "-p", pids, "-t", "vm", "-J")
    assert all("args" not in p for p in json.loads(out)["processes"])
    _, out, _ = kcmpctl("matrix", "-p", pids, "-t", "vm", "-J", "-o", "+STARTED,ARGS")
    procs = {p["pid"]: p for p in json.loads(out)["processes"]}
    assert procs[fam["c"]]["args"] == cmdline(fam["c"])
    assert procs[fam["c"]]["ppid"] == fam.pid
    started = procs[fam["c"]]["started"]
    assert isinstance(started, str)
    from datetime import datetime

    assert abs(datetime.fromisoformat(started).timestamp() - time.time()) < 120


def test_fds_holders_gain_details(family: Spawn, tmp_path: Path, kcmpctl: Run) -> None:
    path = tmp_path / "f"
    path.write_text("x")
    fam = family(f"open:f:{path}", "fork:c")
    status, out, _ = kcmpctl("fds", "-p", f"{fam.pid},{fam['c']}", "-J", "-o", "+PPID")
    assert status == 0
    (desc,) = [d for d in json.loads(out)["descriptions"] if d["target"] == str(path)]
    holders = {h["pid"]: h for h in desc["holders"]}
    assert holders[fam["c"]]["ppid"] == fam.pid
    assert holders[fam.pid]["args"] == cmdline(fam.pid)
    _, out, _ = kcmpctl("fds", "-p", f"{fam.pid},{fam['c']}", "-J")
    assert all(
        set(h) == {"pid", "fd", "command"}
        for d in json.loads(out)["descriptions"]
        for h in d["holders"]
    )


def test_psutil_is_not_imported_unless_a_column_asks() -> None:
    me = os.getpid()
    code = (
        "import sys; from kcmpctl.__main__ import main;"
        f" main(['matrix', '-p', '{me}', '-t', 'vm', '-J']);"
        " print('psutil' in sys.modules, file=sys.stderr)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert proc.stderr.strip() == "False"
    code = code.replace("'-J']", "'-J', '-o', 'ARGS']")
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert proc.stderr.strip() == "True"
