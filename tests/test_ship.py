"""What ships around the commands: the man page and the shell completions."""

from __future__ import annotations

import json
import os
import re
import runpy
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import click
import pytest

from kcmpctl.cli import cli
from kcmpctl.status import ExitStatus

from .conftest import Family, read_terminal

ROOT = Path(__file__).resolve().parent.parent
MAN = ROOT / "man" / "kcmpctl.1"


def man_text() -> str:
    """The page with groff escapes for '-' undone, as a reader would search it."""
    return MAN.read_text().replace("\\-", "-").replace("\\(aq", "'")


def commands() -> dict[str, click.Command]:
    ctx = click.Context(cli)
    return {name: cmd for name in cli.list_commands(ctx) if (cmd := cli.get_command(ctx, name))}


def test_groff_is_silent() -> None:
    if shutil.which("groff") is None:
        pytest.skip("groff is not installed")
    proc = subprocess.run(
        ["groff", "-man", "-ww", "-z", str(MAN)], capture_output=True, text=True, check=False
    )
    assert (proc.returncode, proc.stderr) == (0, "")


def test_every_command_and_option_is_documented() -> None:
    text = man_text()
    for name, command in commands().items():
        assert re.search(rf"^\.B[A-Z]*\s+{name}\b", text, re.M), f"command {name}"
        for param in command.params:
            for opt in [*param.opts, *param.secondary_opts]:
                if opt.startswith("-"):
                    assert opt in text, f"{name} {opt}"


def output_section(command: str) -> str:
    """The page's OUTPUT subsection for *command*."""
    output = man_text().split(".SH OUTPUT", 1)[1].split("\n.SH ", 1)[0]
    return output.split(f".SS {command}\n", 1)[1].split("\n.SS ", 1)[0]


def test_every_column_and_json_key_is_documented(
    kcmpctl: Callable[..., tuple[int, str, str]],
) -> None:
    for name in commands():
        status, out, _ = kcmpctl(name, "-H", "-J")
        if status != 0:
            continue  # a command without columns
        section = output_section(name)
        words = set(re.findall(r"[a-z_0-9]+", section))
        for column in json.loads(out)["columns"]:
            assert column["key"] in words, f"{name}: {column['key']} is not in OUTPUT"


def test_exit_statuses_match_the_code() -> None:
    section = man_text().split(".SH EXIT STATUS", 1)[1].split(".SH ", 1)[0]
    documented = {int(n) for n in re.findall(r"^\.B (\d+)$", section, re.M)}
    assert documented == {int(s) for s in ExitStatus}


def test_committed_completions_equal_what_click_generates() -> None:
    generate = runpy.run_path(str(ROOT / "completions" / "generate.py"))
    for name, text in generate["render"]().items():
        assert (ROOT / "completions" / name).read_text() == text, (
            f"completions/{name} is stale: run python completions/generate.py"
        )


def complete(words: str) -> list[str]:
    """What bash completion offers for the last word of *words*."""
    parts = words.split(" ")
    env = {
        **os.environ,
        "_KCMPCTL_COMPLETE": "bash_complete",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(parts) - 1),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "kcmpctl"], env=env, capture_output=True, text=True, check=False
    )
    return [line.split(",", 1)[1] for line in proc.stdout.splitlines() if line]


def test_types_complete_after_the_last_comma() -> None:
    assert complete("kcmpctl pair 1 2 -t vm,f") == ["vm,files", "vm,fs"]
    assert complete("kcmpctl pair 1 2 -t ") == [
        *("task", "ns", "all"),
        *("vm", "files", "fs", "sighand", "io", "sysvsem"),
        *("mnt", "net", "pid", "uts", "ipc", "user", "cgroup", "time"),
    ]
    assert complete("kcmpctl matrix -t net,n") == ["net,ns", "net,net"]


def test_commands_complete() -> None:
    offered = complete("kcmpctl ")
    assert {"pair", "types"} <= set(offered)


def test_pids_complete_after_the_last_comma(family: Callable[..., Family]) -> None:
    fam = family("fork:c")
    with_pids = [n for n, cmd in commands().items() if any("--pids" in p.opts for p in cmd.params)]
    if not with_pids:
        pytest.skip("no command takes --pids yet")
    prefix = str(fam["c"])[:-1]
    offered = complete(f"kcmpctl {with_pids[0]} -p 1,{prefix}")
    assert f"1,{fam['c']}" in offered
    assert all(o.startswith(f"1,{prefix}") for o in offered)


def test_the_readmes_first_command_shows_sharing_on_any_machine() -> None:
    """The README's first command, as written after the install, in a shell whose
    standard streams are a terminal (as a newcomer's are): one description, the
    terminal, held by the shell and by sleep; status 0.  Run by root and, in CI, by
    an ordinary user."""
    import pty
    import signal

    readme = (ROOT / "README.md").read_text()
    line = next(ln.strip() for ln in readme.splitlines() if "{ sleep 600 & }" in ln)
    setup, _, command = line.rpartition("{ sleep 600 & }")
    assert "pip install ." in setup
    kcmpctl = f"{sys.executable} -m kcmpctl"
    command = "{ sleep 600 & }" + command.replace(".venv/bin/kcmpctl", kcmpctl)
    script = f'{command}; status=$?; kill $!; wait $!; echo "status=$status shell=$$ sleep=$!"'
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        ["bash", "--norc", "--noprofile", "-c", script],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "COLUMNS": "300", "TERM": "xterm"},
        cwd=ROOT,
        start_new_session=True,
    )
    os.close(slave)
    try:
        screen = read_terminal(master).decode()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        os.close(master)
    ids = dict(re.findall(r"(status|shell|sleep)=(\d+)", screen))
    assert ids["status"] == "0", screen
    rows = [ln.split() for ln in screen.splitlines() if ln.startswith("CHR ")]
    holders = {h.rstrip(",") for row in rows for h in row[6:]}
    # (a shell without job control gives a background job /dev/null as stdin)
    assert {f"{ids['shell']}:1", f"{ids['sleep']}:1", f"{ids['sleep']}:2"} <= holders, screen
