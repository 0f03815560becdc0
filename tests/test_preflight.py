"""Every command that reads /proc and calls kcmp refuses, up front and with one line,
to run where its answers could not be true: kcmp blocked or faked by a real seccomp
filter, or a /proc that belongs to another PID namespace."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from kcmpctl.errors import UNAVAILABLE_REASON

from .conftest import HELPERS, Family

Spawn = Callable[..., Family]


@pytest.fixture(scope="session")
def nokcmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler (cc) to build the seccomp helper")
    out = tmp_path_factory.mktemp("nokcmp") / "nokcmp"
    built = subprocess.run(
        [cc, "-O", "-Wall", "-o", str(out), str(HELPERS / "nokcmp.c")],
        capture_output=True,
        text=True,
        check=False,
    )
    if built.returncode != 0:
        pytest.skip(f"the seccomp helper does not build here: {built.stderr.strip()}")
    return out


def run(*prefix: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("NO_COLOR", None)
    return subprocess.run(
        [*prefix, sys.executable, "-m", "kcmpctl", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def commands(fam: Family) -> list[list[str]]:
    p, c = str(fam.pid), str(fam["c"])
    return [
        ["pair", p, c],
        ["pair", p, c, "-J"],
        ["pair", f"{p}:{fam['ep']}", f"{c}:{fam['ep']}"],
        ["epoll", p, str(fam["ep"])],
        ["epoll", p, str(fam["ep"]), "--check", str(fam["a_r"]), f"{p}:{fam['a_r']}"],
        ["matrix", "-p", f"{p},{c}"],
        ["matrix", "-p", f"{p},{c}", "-J"],
        ["fds", "-p", f"{p},{c}"],
        ["fds", "-J"],
        ["tree", p, "-J"],
    ]


@pytest.mark.parametrize("mode", ["zero", "eperm", "enosys"])
def test_kcmp_blocked_or_faked_is_not_available(nokcmp: Path, family: Spawn, mode: str) -> None:
    # zero: the filter answers 0 ("equal") without running kcmp, an answer no kernel
    # gives to the probe; eperm: Docker's default profile; enosys: no kcmp.
    fam = family("epoll:ep", "pipe:a", "eadd:3:4", "fork:c")
    for args in commands(fam):
        proc = run(str(nokcmp), mode, args=args)
        assert (proc.returncode, proc.stdout, proc.stderr) == (
            2,
            "",
            f"kcmpctl: kcmp: {UNAVAILABLE_REASON}\n",
        ), args


def test_the_seccomp_helper_really_fakes_kcmp(nokcmp: Path) -> None:
    # Without the probe's refusal a faked kcmp says "equal" to anything: the test
    # above would prove nothing if the filter did not work.
    code = (
        "import os; from kcmpctl import _syscall; print(_syscall.kcmp(os.getpid(), -1, -1, 0, 0))"
    )
    proc = subprocess.run(
        [str(nokcmp), "zero", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (proc.returncode, proc.stdout) == (0, "0\n")


def test_types_needs_no_kcmp(nokcmp: Path) -> None:
    proc = run(str(nokcmp), "eperm", args=["types", "-r", "-n", "-o", "NAME"])
    assert proc.returncode == 0
    assert {"file", "vm", "sysvsem", "epoll_tfd"} <= set(proc.stdout.split())


def test_namespace_types_need_no_kcmp(nokcmp: Path, family: Spawn) -> None:
    # Read from /proc alone: a blocked kcmp does not stand in the way.
    fam = family("fork:c")
    pids = f"{fam.pid},{fam['c']}"
    proc = run(str(nokcmp), "eperm", args=["matrix", "-p", pids, "-t", "net", "-J"])
    assert (proc.returncode, proc.stderr) == (0, "")
    proc = run(str(nokcmp), "eperm", args=["pair", str(fam.pid), str(fam["c"]), "-t", "net"])
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr
    proc = run(str(nokcmp), "eperm", args=["matrix", "-p", pids, "-t", "net,vm"])
    assert (proc.returncode, proc.stderr) == (2, f"kcmpctl: kcmp: {UNAVAILABLE_REASON}\n")


def _unshare(*flags: str) -> list[str]:
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("no unshare(1) here")
    probe = subprocess.run([unshare, *flags, "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"unshare {' '.join(flags)} is not permitted here (needs root)")
    return [unshare, *flags]


def test_a_proc_of_another_pid_namespace_is_refused() -> None:
    # unshare -fp: a new PID namespace, still the outer /proc.  In it kcmpctl is
    # pid 1 for kcmp, and /proc's pid 1 is the machine's init.
    prefix = _unshare("--fork", "--pid")
    for args in (["pair", "1", "1"], ["matrix", "-J"], ["fds"], ["epoll", "1", "3"], ["tree"]):
        proc = run(*prefix, args=args)
        assert proc.returncode == 2, args
        assert proc.stdout == ""
        (line,) = proc.stderr.splitlines()
        assert line.startswith("kcmpctl: /proc belongs to another PID namespace (it calls")
        assert line.endswith("'unshare --pid --fork --mount-proc'")


def test_a_matching_proc_is_accepted() -> None:
    prefix = _unshare("--fork", "--pid", "--mount-proc")
    proc = run(*prefix, args=["pair", "1", "1", "-t", "sighand", "-J"])
    assert (proc.returncode, proc.stderr) == (0, "")
