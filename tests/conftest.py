"""Real process families with known sharing, built by a small C helper.

``family("clone:c:FILES", "zombie:z")`` starts tests/helpers/famhelper.c, which runs
the operations and prints the PIDs and fds it made; the returned :class:`Family`
maps names to them.  Every helper is ended and reaped when the test ends, whatever
its outcome; the helper kills and reaps its own children, and they die with it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

HELPERS = Path(__file__).parent / "helpers"


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("KCMPCTL_DEBUG", raising=False)


@pytest.fixture(scope="session")
def famhelper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler (cc) to build the process-family helper")
    out = tmp_path_factory.mktemp("famhelper") / "famhelper"
    subprocess.run(
        [cc, "-O", "-Wall", "-pthread", "-o", str(out), str(HELPERS / "famhelper.c")],
        check=True,
    )
    return out


class Family:
    """A running helper: ``fam.pid`` is the helper, ``fam["name"]`` what it printed."""

    def __init__(self, proc: subprocess.Popen[bytes], values: dict[str, int]) -> None:
        self.proc = proc
        self.values = values
        self.pid = values["pid"]

    def __getitem__(self, name: str) -> int:
        return self.values[name]

    def end(self) -> None:
        assert self.proc.stdin is not None
        # Closed even when the helper already died (a test may kill it), or the pipe
        # leaks and pytest's filterwarnings=error fails on the ResourceWarning.
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (subprocess.TimeoutExpired, BrokenPipeError):
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def family(famhelper: Path) -> Iterator[Callable[..., Family]]:
    started: list[Family] = []

    def start(*ops: str | bytes) -> Family:
        proc = subprocess.Popen(
            [str(famhelper), *ops], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        values: dict[str, int] = {}
        fam = Family(proc, {"pid": proc.pid})
        started.append(fam)
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode().strip()
            if line == "ready":
                break
            key, value = line.split()
            values[key] = int(value)
        else:
            raise RuntimeError(f"famhelper {ops} exited with {proc.wait()}")
        fam.values.update(values)
        return fam

    try:
        yield start
    finally:
        for fam in started:
            fam.end()


@pytest.fixture
def run_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the installed entry point as a user would: a separate process."""

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        full_env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
        full_env.update({"COLUMNS": "200", **(env or {})})
        return subprocess.run(
            [sys.executable, "-m", "kcmpctl", *args],
            capture_output=True,
            text=True,
            env=full_env,
            timeout=60,
            check=False,
        )

    return run


@pytest.fixture
def kcmpctl(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run ``main()`` in this process: (exit status, stdout, stderr)."""
    from kcmpctl.__main__ import main

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        status = main(list(args))
        out, err = capsys.readouterr()
        return int(status), out, err

    return run


def free_pid() -> int:
    """A PID that names no process just now (the highest free one: least likely reused)."""
    from kcmpctl import procs

    for pid in range(procs.pid_max() - 1, 300, -1):
        if not procs.exists(pid):
            return pid
    raise AssertionError("no free pid")


def denied_pid() -> int:
    """A process kcmp refuses to the caller (root: a non-dumpable or init process, if any).

    Tests that need a real "permission denied" skip where nothing is refused.
    """
    from kcmpctl import Resource, compare, procs

    for pid in procs.all_pids():
        try:
            compare(pid, pid, Resource.FILES)
        except PermissionError:
            return pid
        except OSError:
            continue
    pytest.skip("no process here that kcmp refuses to this user")


def wait_for_state(pid: int, state: str) -> None:
    """Wait until /proc/PID/stat shows *state* (``Z`` for a zombie)."""
    import time

    from kcmpctl import procs

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        st = procs.read_stat(pid)
        if st is not None and st.state == state:
            return
        time.sleep(0.005)
    raise AssertionError(f"process {pid} never reached state {state}")


def read_terminal(master: int) -> bytes:
    """All a pseudo-terminal's programs write, until the last one closes it."""
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the terminal closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def run_on_a_terminal(*args: str, columns: str = "120") -> tuple[int, str]:
    """Run kcmpctl with stdout on a pseudo-terminal (rich's table path), COLUMNS set."""
    import pty

    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": columns, "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kcmpctl", *args],
            stdout=slave,
            stderr=subprocess.PIPE,
            env=env,
        )
        os.close(slave)
        chunks = read_terminal(master)
        proc.wait(timeout=60)
        assert proc.stderr is not None
        assert proc.stderr.read() == b""
        proc.stderr.close()
    finally:
        os.close(master)
    return proc.returncode, chunks.decode()
