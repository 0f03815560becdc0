"""What a start costs: the modules each path loads (every TAB press runs kcmpctl)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from kcmpctl.cli import COMMANDS

HEAVY = ("ctypes", "rich", "psutil", "difflib", "dataclasses", "locale")

# kcmpctl's modules that `pair PID PID` has no use for: other commands', the freezer,
# the renderers of other outputs, the shells' completion scripts.
UNUSED_BY_PAIR = (
    "kcmpctl._workers",
    "kcmpctl.across",
    "kcmpctl.epoll",
    "kcmpctl.fds",
    "kcmpctl.freeze",
    "kcmpctl.matrix",
    "kcmpctl.namespaces",
    "kcmpctl.tree",
    "kcmpctl.typeinfo",
    "kcmpctl.cli.scan",
    "kcmpctl.cli.shells",
    "kcmpctl.render.details",
    "kcmpctl.render.dot",
    "kcmpctl.render.epoll",
    "kcmpctl.render.fds",
    "kcmpctl.render.matrix",
    "kcmpctl.render.tree",
)

# Runs the console script's entry point (run(): it leaves through os._exit after the
# atexit handlers) and, at exit (completion leaves through sys.exit), writes which of
# HEAVY and UNUSED_BY_PAIR it loaded to stderr's last line.
PROBE = f"""
import atexit, sys
watched = {HEAVY + UNUSED_BY_PAIR!r}
atexit.register(lambda: sys.stderr.write("\\nloaded: " + " ".join(
    m for m in watched if m in sys.modules) + "\\n"))
from kcmpctl.__main__ import run
run()
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
    assert modules <= {"locale", "kcmpctl.cli.shells"}, modules
    out, modules = completion_loads("kcmpctl pair -o +")
    assert "plain,+TARGET1" in out.splitlines()
    assert modules <= {"locale", "kcmpctl.cli.shells"}, modules


@pytest.mark.parametrize("mode", ["-q", "-J"])
def test_pair_quiet_and_json_load_neither_rich_nor_psutil(mode: str) -> None:
    me = str(os.getpid())
    status, _, modules = loaded("pair", me, me, mode)
    assert status == 1  # io and sysvsem: neither has one, so not "shared"
    # ctypes to call kcmp; no difflib for the short option, no dataclass on the way,
    # no locale (click's help and version options would ask gettext for their texts),
    # none of the modules of other commands and outputs.
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


# Reports, at exit, when the reference zombie was started (whether ctypes had loaded
# by then), whether it had been reaped, and whether the garbage collector runs again.
REFERENCE_PROBE = """
import atexit, gc, sys
from kcmpctl import _reference
start = _reference.start
seen = []
def spy():
    seen.append("ctypes" in sys.modules)
    start()
_reference.start = spy
def report():
    ref = _reference._reference
    sys.stderr.write(
        f"\\nstarted={seen} reaped={ref is None or ref.pid == 0} gc={gc.isenabled()}\\n"
    )
atexit.register(report)  # registered first, so it runs after kcmpctl's own handlers
from kcmpctl.__main__ import run
run()
"""


def reference_run(*args: str) -> tuple[int, str, str]:
    proc = subprocess.run(
        [sys.executable, "-c", REFERENCE_PROBE, *args], capture_output=True, text=True
    )
    return proc.returncode, proc.stdout, proc.stderr.rstrip("\n").rsplit("\n", 1)[-1]


def test_reference_zombie_starts_before_ctypes_loads_and_is_reaped_at_exit() -> None:
    me = str(os.getpid())
    status, out, report = reference_run("pair", me, me, "-J")
    assert status == 1
    assert '"type": "io"' in out  # stdout flushed before the process left
    # Spawned before kcmp and ctypes load, so that its exit overlaps their import;
    # reaped by the atexit handler; the collector on again once the command line loaded.
    assert report == "started=[False] reaped=True gc=True"


@pytest.mark.parametrize(
    "args",
    [
        ("-t", "sighand"),  # every live process has one: no NULL to tell apart
        ("-t", "ns"),  # read from /proc
    ],
)
def test_no_reference_zombie_where_no_type_can_be_missing(args: tuple[str, ...]) -> None:
    me = str(os.getpid())
    status, _, report = reference_run("pair", me, me, *args, "-q")
    assert status == 0
    assert report == "started=[] reaped=True gc=True"


def test_no_reference_zombie_for_fds() -> None:
    me = str(os.getpid())
    status, _, report = reference_run("pair", f"{me}:0", f"{me}:0", "-q")
    assert status == 0
    assert report == "started=[] reaped=True gc=True"


def test_console_script_keeps_statuses_and_messages() -> None:
    # Trouble: one line, status 2, the atexit handlers run all the same.
    status, _, report = reference_run("pair", "1")
    assert status == 2
    assert report == "started=[] reaped=True gc=True"
    proc = subprocess.run(
        [sys.executable, "-c", REFERENCE_PROBE, "pair", "0", "1"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("kcmpctl: invalid PID '0'"), proc.stderr
