"""What a start costs: the modules each path loads (every TAB press runs kcmpctl)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from kcmpctl.cli import COMMANDS

HEAVY = ("ctypes", "rich", "psutil", "difflib", "dataclasses", "locale")

# Runs kcmpctl's entry point and, at exit (completion leaves through sys.exit), writes
# which of HEAVY it loaded to stderr's last line.
PROBE = f"""
import atexit, sys
heavy = {HEAVY!r}
atexit.register(lambda: sys.stderr.write("\\nloaded: " + " ".join(
    m for m in heavy if m in sys.modules) + "\\n"))
from kcmpctl.__main__ import main
sys.exit(main())
"""


def loaded(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, set[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    last = proc.stderr.rstrip("\n").rsplit("\n", 1)[-1]
    assert last.startswith("loaded:"), proc.stderr
    return proc.returncode, proc.stdout, set(last.split()[1:])


def completion_loads(words: str) -> tuple[str, set[str]]:
    env = {
        "_KCMPCTL_COMPLETE": "bash_complete",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split(" ")) - 1),
    }
    status, out, modules = loaded(env=env)
    assert status == 0
    return out, modules


@pytest.mark.parametrize("command", list(COMMANDS))
def test_completing_options_loads_no_ctypes(command: str) -> None:
    # Option names, then a typed option value where the command has one.
    out, modules = completion_loads(f"kcmpctl {command} -")
    assert "--json" in out
    assert not modules & {"ctypes", "rich", "psutil"}, modules


def test_completing_types_and_columns_loads_nothing_heavy() -> None:
    # (locale: click's parser words "option requires an argument" through gettext
    # while it completes an option's value; nothing of kcmpctl's asks for it.)
    out, modules = completion_loads("kcmpctl pair -t ")
    assert "plain,files" in out.splitlines()
    assert modules <= {"locale"}, modules
    out, modules = completion_loads("kcmpctl pair -o +")
    assert "plain,+TARGET1" in out.splitlines()
    assert modules <= {"locale"}, modules


@pytest.mark.parametrize("mode", ["-q", "-J"])
def test_pair_quiet_and_json_load_neither_rich_nor_psutil(mode: str) -> None:
    me = str(os.getpid())
    status, _, modules = loaded("pair", me, me, mode)
    assert status == 1  # io and sysvsem: neither has one, so not "shared"
    # ctypes to call kcmp; no difflib for the short option, no dataclass on the way,
    # no locale (click's help and version options would ask gettext for their texts).
    assert modules == {"ctypes"}


def test_every_library_name_resolves_and_type_names_load_no_ctypes() -> None:
    code = (
        "import sys, kcmpctl\n"
        "kcmpctl.Resource, kcmpctl.Namespace, kcmpctl.TYPE_INFO\n"
        "assert 'ctypes' not in sys.modules\n"
        "for name in kcmpctl.__all__: getattr(kcmpctl, name)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (proc.returncode, proc.stderr) == (0, "")
