"""What every command shares: the entry point, statuses, signals, hostile text."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import kcmpctl as lib
from kcmpctl.cli import COMMANDS
from kcmpctl.status import ExitStatus

from .conftest import Family, run_on_a_terminal

Spawn = Callable[..., Family]
Run = Callable[..., tuple[int, str, str]]


def test_version(kcmpctl: Run) -> None:
    assert kcmpctl("--version") == (0, f"kcmpctl, version {lib.__version__}\n", "")


@pytest.mark.parametrize("name", [None, *COMMANDS])
def test_help_fits_one_screen_with_examples(
    kcmpctl: Run, monkeypatch: pytest.MonkeyPatch, name: str | None
) -> None:
    # On an 80-column terminal: 42 lines at most, examples included.
    monkeypatch.setenv("COLUMNS", "80")
    status, out, err = kcmpctl(*([] if name is None else [name]), "--help")
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert len(lines) <= 42, (name, len(lines))
    assert all(len(line) <= 80 for line in lines), name
    examples = out.split("Examples:\n", 1)[1].splitlines()
    command = "kcmpctl " + (name or "")
    assert sum(line.strip().startswith(command) for line in examples) >= 3, name


def test_no_command_is_usage_trouble(kcmpctl: Run) -> None:
    status, out, err = kcmpctl()
    assert status == 2
    assert out == ""
    assert "Usage: kcmpctl" in err


def test_unknown_command_and_option(kcmpctl: Run) -> None:
    status, _, err = kcmpctl("nosuch")
    assert status == 2
    assert err.count("\n") == 1
    status, _, err = kcmpctl("types", "--nosuch")
    assert status == 2
    assert err.startswith("kcmpctl: No such option")
    assert err.count("\n") == 1


def test_json_and_raw_exclude_each_other(kcmpctl: Run) -> None:
    status, _, err = kcmpctl("types", "-J", "-r")
    assert status == 2
    assert "exclude each other" in err


def test_types_json(kcmpctl: Run) -> None:
    import json

    status, out, _ = kcmpctl("types", "-J")
    assert status == 0
    types = json.loads(out)["types"]
    assert [t["name"] for t in types] == [
        "file",
        "vm",
        "files",
        "fs",
        "sighand",
        "io",
        "sysvsem",
        "epoll_tfd",
        "mnt",
        "net",
        "pid",
        "uts",
        "ipc",
        "user",
        "cgroup",
        "time",
    ]
    by_name = {t["name"]: t for t in types}
    assert by_name["files"]["kcmp"] == "KCMP_FILES"
    assert by_name["files"]["clone_flag"] == "CLONE_FILES"
    assert by_name["file"]["clone_flag"] is None
    assert all(t.keys() >= {"name", "kcmp", "object", "clone_flag", "description"} for t in types)


def test_types_table_and_raw(kcmpctl: Run) -> None:
    status, out, _ = kcmpctl("types")
    assert status == 0
    assert out.splitlines()[0].split() == ["NAME", "OBJECT", "CLONE_FLAG", "DESCRIPTION"]
    _, out, _ = kcmpctl("types", "-r", "-o", "NAME,VALUE,KCMP", "-n")
    assert out.splitlines()[1] == "vm 1 KCMP_VM"


def test_broken_pipe_ends_quietly() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "kcmpctl", "types"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    proc.stdout.close()  # the reader is gone before kcmpctl writes anything
    _, err = proc.communicate(timeout=60)
    assert err == b""
    assert proc.returncode in (-signal.SIGPIPE, 0)


@pytest.mark.parametrize(
    "args", [["types"], ["matrix", "-t", "vm", "--threads"], ["tree", "-r"]], ids=" ".join
)
def test_a_reader_that_stops_early_ends_quietly(args: list[str]) -> None:
    # kcmpctl ... | head -1: head exits after a line, kcmpctl's next write meets EPIPE.
    proc = subprocess.Popen(
        [sys.executable, "-m", "kcmpctl", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    head = subprocess.run(["head", "-1"], stdin=proc.stdout, capture_output=True, check=True)
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert head.stdout.count(b"\n") == 1
    # Nothing about the pipe (processes the whole machine has and kcmpctl cannot
    # search are said, as always).
    assert [ln for ln in err.splitlines() if not ln.startswith(b"kcmpctl: skipped ")] == []
    assert proc.returncode in (-signal.SIGPIPE, 0, 1)


def test_interrupt_exits_130() -> None:
    """A real SIGINT from outside, as Ctrl-C sends it to `kcmpctl matrix -J | less`
    while kcmpctl waits for the reader: status 130, no traceback."""
    import fcntl
    import termios

    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)  # full after a page
    proc = subprocess.Popen(
        [sys.executable, "-m", "kcmpctl", "matrix", "-J", "-t", "vm", "--threads"],
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
        # SIGINT at its default, as for a terminal's foreground job (a shell starts
        # background jobs with it ignored)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    os.close(write_end)
    try:
        deadline = time.monotonic() + 60
        pending = bytearray(4)
        while True:  # until the pipe is full: kcmpctl is blocked writing
            fcntl.ioctl(read_end, termios.FIONREAD, pending)
            if int.from_bytes(pending, sys.byteorder) >= 4096:
                break
            assert proc.poll() is None, "kcmpctl ended before filling a pipe page"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        with os.fdopen(read_end, "rb") as reader:
            reader.read()  # what it wrote, to its end
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == ExitStatus.INTERRUPTED == 130, err
    assert "Traceback" not in err
    assert err.strip() == ""


def test_internal_error_is_one_line(kcmpctl: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    from kcmpctl import _syscall

    def broken(*args: int) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(_syscall, "kcmp", broken)
    me = str(os.getpid())
    status, _, err = kcmpctl("pair", me, me, "-t", "vm")
    assert status == 2
    assert err == "kcmpctl: internal error: RuntimeError: boom (KCMPCTL_DEBUG=1 shows where)\n"


HOSTILE_NAMES = [
    "[red]x[/]",
    "a[/]b",
    "\x1b[31mred",
    "two\nlines",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_process_names_in_pair(family: Spawn, kcmpctl: Run, name: str) -> None:
    fam = family(f"name:{name}", "fork:c")
    status, out, err = kcmpctl("pair", str(fam.pid), str(fam["c"]), "-t", "vm")
    assert (status, err) == (1, "")
    shown = name.replace("\x1b", "\\x1b").replace("\n", "\\x0a")
    assert f"{fam.pid} ({shown})" in out
    assert "\x1b" not in out
    assert out.count("\n") == 3


def test_color_only_when_asked_or_on_a_terminal(family: Spawn, kcmpctl: Run) -> None:
    fam = family("fork:c")
    args = ("pair", str(fam.pid), str(fam["c"]), "-t", "vm")
    assert "\x1b[" not in kcmpctl(*args)[1]
    assert "\x1b[" in kcmpctl(*args, "--color=always")[1]
    assert "\x1b[" not in kcmpctl(*args, "--color=always", "-r")[1]
    assert "\x1b[" not in kcmpctl(*args, "--color=always", "-J")[1]


def test_no_color_and_dumb_terminal_turn_auto_colour_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from kcmpctl.render.terminal import color_wanted

    class Tty:
        def isatty(self) -> bool:
            return True

    tty = Tty()
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert color_wanted("auto", tty, "human")  # type: ignore[arg-type]
    assert not color_wanted("auto", tty, "json")  # type: ignore[arg-type]
    monkeypatch.setenv("NO_COLOR", "1")
    assert not color_wanted("auto", tty, "human")  # type: ignore[arg-type]
    assert color_wanted("always", tty, "human")  # type: ignore[arg-type]
    monkeypatch.setenv("NO_COLOR", "")
    monkeypatch.setenv("TERM", "dumb")
    assert not color_wanted("auto", tty, "human")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["[red]x[/]", "a[/]b", "\x1b[31mred"])
def test_rich_table_shows_hostile_names_literally(family: Spawn, name: str) -> None:
    fam = family(f"name:{name}", "fork:c")
    status, screen = run_on_a_terminal("pair", str(fam.pid), str(fam["c"]), "--color=never")
    assert status == 1
    shown = name.replace("\x1b", "\\x1b")
    assert f"{fam.pid} ({shown})" in screen
    assert "\x1b" not in screen


def test_hostile_paths_in_every_output_mode(family: Spawn, kcmpctl: Run, tmp_path: Path) -> None:
    # Two components, so that the whole path holds rich's closing tag "[/]".
    odd = tmp_path / "dir with [red]x[" / "] and\ttab"
    odd.mkdir(parents=True)
    target = odd / "file"
    target.write_text("x")
    fam = family(f"open:a:{target}", "dup:d:3")
    operands = (f"{fam.pid}:{fam['a']}", f"{fam.pid}:{fam['d']}")

    status, out, _ = kcmpctl("pair", *operands, "-o", "TARGET1")
    assert status == 0
    assert out.splitlines()[-1] == str(target).replace("\t", "\\x09")

    _, out, _ = kcmpctl("pair", *operands, "-r", "-n", "-o", "TARGET1,TARGET2")
    escaped = str(target).replace(" ", "\\x20").replace("\t", "\\x09")
    assert out == f"{escaped} {escaped}\n"

    _, out, _ = kcmpctl("pair", *operands, "-J")
    assert json.loads(out)["pairs"][0]["target1"] == str(target)


def test_undecodable_bytes_are_escaped(family: Spawn, kcmpctl: Run) -> None:
    fam = family(b"name:bad\xffname", "fork:c")
    _, out, _ = kcmpctl("pair", str(fam.pid), str(fam["c"]), "-t", "vm")
    assert f"{fam.pid} (bad\\xffname)" in out
