"""Completion with a real TAB, in bash, zsh and fish, through the committed scripts.

Each shell runs interactively in a tmux pane, loads completions/ the way it loads
installed ones (bash: source; zsh: fpath and compinit; fish: fish_complete_path),
and runs the kcmpctl console script of this environment.  Keys go in with
``tmux send-keys``; what the shell shows comes back with ``capture-pane``.  The files
in completions/ are what the wheel installs, and test_ship checks they are what
click generates now.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kcmpctl.cli import cli
from kcmpctl.cli.cmd_types import COLUMNS as TYPES_COLUMNS
from kcmpctl.render.pair import COLUMNS as PAIR_COLUMNS

COMPLETIONS = Path(__file__).resolve().parent.parent / "completions"
BIN = Path(sys.executable).parent
SHELLS = ("bash", "zsh", "fish")
TIMEOUT = 20.0  # seconds; a loaded machine starts kcmpctl slowly


class Pane:
    """One interactive shell in a private tmux server."""

    def __init__(self, shell: str, home: Path) -> None:
        self.shell = shell
        self.retab = False
        self.socket = f"kcmpctl-test-{os.getpid()}-{shell}"
        env = {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local/share"),
            "PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin",
            "TERM": "xterm-256color",
            "INPUTRC": "/dev/null",
            "LANG": "C.UTF-8",
        }
        argv = {
            "bash": ["bash", "--norc", "--noprofile"],
            "zsh": ["zsh", "-f"],
            "fish": ["fish", "--no-config"],
        }[shell]
        command = "env -i " + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        self.tmux("new-session", "-d", "-x", "230", "-y", "50", f"{command} {shlex.join(argv)}")
        setup = {
            "bash": [
                f"source {shlex.quote(str(COMPLETIONS / 'kcmpctl.bash'))}",
                "PS1='$ '",
                "bind 'set show-all-if-ambiguous on'",  # list choices at the first TAB
            ],
            "zsh": [
                f"fpath=({shlex.quote(str(COMPLETIONS))} $fpath)",
                "autoload -Uz compinit && compinit -u -D",
                "PROMPT='$ '",
            ],
            "fish": [
                f"set -g fish_complete_path {shlex.quote(str(COMPLETIONS))} $fish_complete_path",
                "set -g fish_autosuggestion_enabled 0",
                "function fish_prompt; echo -n '$ '; end",
            ],
        }[shell]
        for line in setup:
            self.type(line, "Enter")
        self.clear()

    def tmux(self, *args: str) -> str:
        proc = subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            check=True,
        )
        return proc.stdout

    def type(self, text: str, *keys: str) -> None:
        self.tmux("send-keys", "-t", "0", "-l", text)
        for key in keys:
            self.tmux("send-keys", "-t", "0", key)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "0")

    def wait_for(self, pattern: str) -> str:
        start = time.monotonic()
        while True:
            screen = self.screen()
            if re.search(pattern, screen, re.M):
                self.retab = False
                return screen
            if self.retab and time.monotonic() > start + 3:
                # zsh lists a second set of described choices only at a second TAB
                # (a first one right after another list shows nothing), as a user
                # sees who presses TAB again.
                self.retab = False
                self.tmux("send-keys", "-t", "0", "Tab")
            if time.monotonic() > start + TIMEOUT:
                raise AssertionError(f"{self.shell}: no {pattern!r} on the screen:\n{screen}")
            time.sleep(0.05)

    def clear(self) -> None:
        """An empty screen and line.  Call only once the shell is idle (a TAB's
        kcmpctl run has answered), or the keys land in the middle of it."""
        self.tmux("send-keys", "-t", "0", "C-u")
        self.type("clear", "Enter")
        self.wait_for(r"\A\$ *\n\s*\Z")

    def tab(self, line: str) -> None:
        """Type *line* on a clean line and press TAB; callers wait for the answer."""
        self.clear()
        self.type(line, "Tab")
        self.retab = self.shell == "zsh"

    def line_after_tab(self, line: str, expected: str) -> None:
        """Type *line*, TAB once: the command line must read *expected*."""
        self.clear()
        self.type(line, "Tab")
        self.wait_for(rf"^\$ {re.escape(expected)} ?$")

    def close(self) -> None:
        subprocess.run(
            ["tmux", "-L", self.socket, "kill-server"], capture_output=True, check=False
        )


@pytest.fixture(scope="module", params=SHELLS)
def pane(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pane]:
    shell = request.param
    for tool in ("tmux", shell):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    if not (BIN / "kcmpctl").exists():
        pytest.skip(f"no kcmpctl console script in {BIN} (install the package)")
    started = Pane.__new__(Pane)  # so that close() runs even if the shell never came up
    started.socket = f"kcmpctl-test-{os.getpid()}-{shell}"
    try:
        started.__init__(shell, tmp_path_factory.mktemp(f"home-{shell}"))  # type: ignore[misc]
        yield started
    finally:
        started.close()


OPEN_57_AND_SLEEP = """
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.dup2(fd, 57)
os.close(fd)
os.execvp("sleep", ["sleep", "600"])
"""


@pytest.fixture(scope="module")
def sleeper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """A process with fds 0, 1, 2 and 57; 57 reads a file with a telling name."""
    target = tmp_path_factory.mktemp("fds") / "kcmpctl-fd-target"
    target.write_text("x")
    proc = subprocess.Popen(
        [sys.executable, "-c", OPEN_57_AND_SLEEP, str(target)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(f"/proc/{proc.pid}/fd/57"):
            assert time.monotonic() < deadline, "sleep never opened fd 57"
            time.sleep(0.01)
        yield proc.pid, target
    finally:
        proc.kill()
        proc.wait()


def test_types_complete_after_a_comma(pane: Pane) -> None:
    ctx = cli.make_context("kcmpctl", ["pair", "1", "2"], resilient_parsing=True)
    command = cli.get_command(ctx, "pair")
    assert command is not None
    (types,) = (p for p in command.params if p.name == "types")
    wanted = [r.cli_name for r in types.type.allowed if r.cli_name.startswith("f")]  # type: ignore[attr-defined]
    assert len(wanted) >= 2
    pane.tab("kcmpctl pair -t vm,f")
    for name in wanted:
        pane.wait_for(rf"(^|\s)vm,{name}(\s|$)")


def test_columns_are_the_commands_own(pane: Pane) -> None:
    pane.tab("kcmpctl types -o ")
    for column in TYPES_COLUMNS:
        pane.wait_for(rf"(^|\s){column.name}(\s|$)")
    pane.tab("kcmpctl pair -o ")
    screen = pane.wait_for(r"(^|\s)RELATION(\s|$)")
    assert "CLONE_FLAG" not in screen


def test_columns_complete_after_plus_and_comma(pane: Pane) -> None:
    targets = [c.name for c in PAIR_COLUMNS if c.name.startswith("TARGET")]
    pane.tab("kcmpctl pair -o +TARG")
    for name in targets:
        pane.wait_for(rf"\+{name}(\s|$)" if pane.shell != "bash" else rf"(^|\s)\+{name}(\s|$)")
    pane.line_after_tab("kcmpctl types -o NAME,CLONE", "kcmpctl types -o NAME,CLONE_FLAG")


def test_pids_complete_with_their_names(pane: Pane, sleeper: tuple[int, Path]) -> None:
    pid, _ = sleeper
    pane.tab(f"kcmpctl pair {str(pid)[:-1]}")
    pane.wait_for(rf"(^|\s|:){pid}(\s|$)")
    if pane.shell != "bash":  # bash shows no descriptions
        screen = pane.screen()
        if not re.search(rf"^\$ kcmpctl pair {pid} ?$", screen, re.M):  # not completed alone
            pane.wait_for(rf"{pid}\W+sleep")


def test_fds_complete_after_pid_colon(pane: Pane, sleeper: tuple[int, Path]) -> None:
    pid, target = sleeper
    # The one fd starting with 5: the word is completed in place, colon and all.
    pane.line_after_tab(f"kcmpctl pair {pid}:5", f"kcmpctl pair {pid}:57")
    pane.tab(f"kcmpctl pair {pid}:")
    pane.wait_for(r"(^|\s|:)57(\s|$)")
    if pane.shell != "bash":  # the description: what fd 57 refers to
        pane.wait_for(re.escape(target.name))
