"""Every command against hostile input: garbage arguments, hostile names and paths.

Process names are chosen by whoever runs the process (PR_SET_NAME), paths by whoever
names the file: they must show literally, escaped, in every output mode, and never
restyle the terminal or crash the renderer.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from .conftest import Family, run_on_a_terminal

Spawn = Callable[..., Family]
Run = Callable[..., tuple[int, str, str]]

COMMANDS_WITH_PIDS = ["matrix", "fds"]
GARBAGE = [
    ["-p", ",,"],
    ["-p", "1,,x"],
    ["-p", "1,,2"],
    ["-p", ""],
    ["-p", "abc"],
    ["-p", str(2**31)],
    ["-p", "-5"],
    ["--tree", "-5"],
    ["--tree", "x"],
    ["-u", "no-such-user-here"],
    ["-c", "("],
    ["-c", "a{99999999999}"],
    ["-c", "(" * 2000 + ")" * 2000],
    ["-u", "\u00b2"],  # superscript two: int() fails
    ["-u", "\u0663"],  # Arabic-Indic three: int() reads 3
    ["-u", "\uff10"],  # fullwidth zero: int() reads 0
    ["-u", str(2**32)],
    ["-u", "a\x00b"],
    # An option's value that looks like -H is that option's value, not -H.
    ["-p", "-H"],
    ["-u", "-H"],
    ["-c", "-H", "-o", "-H"],
    ["-o", "NOSUCH"],
    ["--color", "sometimes"],
]


@pytest.mark.parametrize("command", COMMANDS_WITH_PIDS)
@pytest.mark.parametrize("args", GARBAGE, ids=lambda a: " ".join(a) or "empty")
def test_garbage_selectors(kcmpctl: Run, command: str, args: list[str]) -> None:
    status, out, err = kcmpctl(command, *args)
    assert status == 2
    assert out == ""
    assert err.startswith("kcmpctl: ")
    assert err.count("\n") == 1
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "args",
    [
        ["matrix", "-t", "nosuch"],
        ["matrix", "-t", "file"],
        ["matrix", "-t", "vm,,fs"],
        ["pair", "1", "-t", "nosuch"],
        ["pair", f"1:{2**40}", "1:0"],
        ["pair", str(2**31), "1"],
        ["epoll", "1", str(2**40)],
        ["epoll", str(2**31), "3"],
        ["epoll", "abc", "3"],
        ["epoll", "1", "3", "-p", ",,"],
        ["epoll", "1", "3", "--check", "3", "1:x"],
        ["epoll", "1", "3", "--check", "3", f"1:{2**40}"],
        ["epoll", "1", "3", "--check", "3", "1:4", "--toff", "-1"],
        ["types", "extra"],
        ["pair", "1", "2", "-t", "-H"],
        ["pair", "1", "2", "-o", "-H"],
        ["epoll", "1", "3", "-o", "-H"],
        ["types", "-o", "-H"],
    ],
    ids=" ".join,
)
def test_garbage_arguments(kcmpctl: Run, args: list[str]) -> None:
    status, out, err = kcmpctl(*args)
    assert status == 2
    assert out == ""
    assert err.startswith("kcmpctl: ")
    assert err.count("\n") == 1


NAMES = ["[red]x[/]", "a[/]b", "\x1b[31mred", "two\nlines", "tab\there"]


def shown(name: str) -> str:
    return name.replace("\x1b", "\\x1b").replace("\n", "\\x0a").replace("\t", "\\x09")


@pytest.mark.parametrize("name", NAMES)
def test_matrix_shows_hostile_names_literally(family: Spawn, kcmpctl: Run, name: str) -> None:
    fam = family(f"name:{name}", "clone:c:FILES")
    pids = f"{fam.pid},{fam['c']}"

    status, out, _ = kcmpctl("matrix", "-p", pids, "-t", "files", "--grid")
    assert status == 0
    assert shown(name) in out
    assert "\x1b" not in out

    _, out, _ = kcmpctl("matrix", "-p", pids, "-t", "files", "--groups", "-r", "-n")
    raw = shown(name).replace(" ", "\\x20")
    assert f"files 2 {min(fam.pid, fam['c'])},{max(fam.pid, fam['c'])} {raw},{raw}\n" == out

    _, out, _ = kcmpctl("matrix", "-p", pids, "-t", "files", "-J")
    assert {p["comm"] for p in json.loads(out)["processes"]} == {name}

    status, screen = run_on_a_terminal("matrix", "-p", pids, "-t", "files", "--color=always")
    assert status == 0
    assert shown(name) in screen
    assert "\x1b[31mred" not in screen


@pytest.mark.parametrize("name", NAMES)
def test_fds_shows_hostile_names_literally(family: Spawn, kcmpctl: Run, name: str) -> None:
    fam = family(f"name:{name}", "pipe:p", "fork:c")
    pids = f"{fam.pid},{fam['c']}"

    _, out, _ = kcmpctl("fds", "-p", pids, "-o", "TARGET,COMMANDS")
    assert shown(name) in out
    assert "\x1b" not in out

    _, out, _ = kcmpctl("fds", "-p", pids, "-J")
    commands = {h["command"] for d in json.loads(out)["descriptions"] for h in d["holders"]}
    assert commands == {name}

    status, screen = run_on_a_terminal("fds", "-p", pids, "-o", "TARGET,COMMANDS")
    assert status == 0
    assert shown(name) in screen


@pytest.mark.parametrize("name", NAMES)
def test_epoll_title_shows_hostile_names_literally(family: Spawn, kcmpctl: Run, name: str) -> None:
    fam = family(f"name:{name}", "epoll:e", "pipe:p", "eadd:3:4")
    _, out, _ = kcmpctl("epoll", str(fam.pid), str(fam["e"]))
    assert shown(name) in out
    assert "\x1b" not in out
    status, screen = run_on_a_terminal("epoll", str(fam.pid), str(fam["e"]))
    assert status == 0
    assert shown(name) in screen


def test_undecodable_name_in_json(family: Spawn, kcmpctl: Run) -> None:
    fam = family(b"name:bad\xffname", "fork:c")
    _, out, _ = kcmpctl("matrix", "-p", f"{fam.pid},{fam['c']}", "-t", "vm", "-J")
    assert {p["comm"] for p in json.loads(out)["processes"]} == {"bad\\xffname"}


@pytest.mark.parametrize("command", ["pair", "epoll", "matrix", "fds", "types"])
def test_list_columns_needs_no_operands(kcmpctl: Run, command: str) -> None:
    status, out, err = kcmpctl(command, "-H")
    assert (status, err) == (0, "")
    assert out.splitlines()[0].split() == ["NAME", "DEFAULT", "DESCRIPTION"]
    status, out, err = kcmpctl(command, "-H", "-J")
    assert (status, err) == (0, "")
    assert json.loads(out)["columns"]


def test_own_pid_list_from_pidof_style_whitespace(family: Spawn, kcmpctl: Run) -> None:
    fam = family("clone:c:FILES")
    status, out, _ = kcmpctl("matrix", "--pids", f" {fam.pid}  {fam['c']}\n", "-t", "files", "-J")
    assert status == 0
    assert sorted(p["pid"] for p in json.loads(out)["processes"]) == sorted([fam.pid, fam["c"]])


def test_noheadings_means_no_titles_either(family: Spawn, kcmpctl: Run) -> None:
    fam = family("clone:c:FILES", "epoll:e", "pipe:p", "eadd:3:4", "eadd:3:5")
    pair = [str(fam.pid), str(fam["c"])]

    status, out, _ = kcmpctl("pair", *pair, "-n")
    assert status == 1
    assert [line.split()[0] for line in out.splitlines()] == [
        "vm",
        "files",
        "fs",
        "sighand",
        "io",
        "sysvsem",
    ]

    _, out, _ = kcmpctl("epoll", str(fam.pid), str(fam["e"]), "-n")
    assert [line.split()[:2] for line in out.splitlines()] == [["4", "0"], ["5", "0"]]

    _, out, _ = kcmpctl("matrix", "-p", ",".join(pair), "-t", "files,vm", "--groups", "-n")
    low, high = sorted([fam.pid, fam["c"]])
    assert [line.split()[:3] for line in out.splitlines()] == [["files", "2", f"{low},{high}"]]

    # The grid: no title and no legend, a block of rows per type in the order of -t.
    _, out, _ = kcmpctl("matrix", "-p", ",".join(pair), "-t", "files,vm", "--grid", "-n")
    files, vm = out.split("\n\n")
    assert [line.split()[:2] for line in files.splitlines()] == [["1", str(low)], ["2", str(high)]]
    assert [line.split()[2:] for line in files.splitlines()] == [["famhelper", "=", "="]] * 2
    assert sorted(line.split()[1] for line in vm.splitlines()) == [str(low), str(high)]
    assert all(line.split()[3] in "=<>" for line in vm.splitlines())


def test_arguments_in_messages_are_escaped_once(kcmpctl: Run) -> None:
    # Quoted as typed, then escaped by the one rule: not repr()'s escapes, escaped again.
    status, _, err = kcmpctl("pair", "a\\b\x1b", "1")
    assert status == 2
    assert err.startswith("kcmpctl: invalid PID 'a\\x5cb\\x1b': not a positive")
    status, _, err = kcmpctl("matrix", "-u", "x\x1b")
    assert status == 2
    assert "unknown user 'x\\x1b'" in err


@pytest.mark.parametrize(
    ("args", "quoted"),
    [
        (["pair", "1", "2", "--color", "x\x1b"], "invalid choice 'x\\x1b'"),
        (["epoll", "1", "3", "--check", "3", "1:4", "--toff", "x\x1b"], "number 'x\\x1b'"),
        (["matrix", "-o", "x\x1b"], "unknown column 'x\\x1b'"),
        (["tree", "-o", "+Pid,x\\y"], "unknown column 'x\\x5cy'"),
        (["fds", "--across", "-H"], "unknown key '-H'"),
        (["nosuch\x1b"], "No such command 'nosuch\\x1b'."),
        (["matrix", "--grups\x1b"], "No such option '--grups\\x1b'."),
        (["matrix", "--grups"], "No such option '--grups'. (did you mean '--groups',"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else "",
)
def test_every_message_quotes_arguments_as_typed(
    kcmpctl: Run, args: list[str], quoted: str
) -> None:
    # click's own messages quote with repr(): ESC would show as \x5cx1b, a value's case
    # would change. What the user typed, escaped once.
    status, out, err = kcmpctl(*args)
    assert (status, out) == (2, "")
    assert quoted in err
    assert "\\x5cx" not in err
    assert err.count("\n") == 1
