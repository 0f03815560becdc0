"""Tables on a real terminal at 40, 80 and 200 columns: wrapped, never cut.

rich folds a cell that does not fit at any character: a PID list folded inside a
number shows PIDs that do not exist.  Every list must wrap between items only,
with nothing dropped, and COLUMNS=0 or 1 must not shrink the table to nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

import pytest

from .conftest import Family, run_on_a_terminal

Spawn = Callable[..., Family]


def many_holders(family: Spawn) -> tuple[Family, list[int]]:
    fam = family("pipe:p", *(f"fork:c{i}" for i in range(12)))
    return fam, [fam.pid, *(fam[f"c{i}"] for i in range(12))]


@pytest.mark.parametrize("columns", ["40", "80", "200"])
def test_fds_holders_wrap_between_items(family: Spawn, columns: str) -> None:
    fam, pids = many_holders(family)
    r = fam["p_r"]
    status, screen = run_on_a_terminal(
        "fds",
        "-p",
        ",".join(map(str, pids)),
        "-o",
        "TYPE,HOLDERS",
        "--color=never",
        columns=columns,
    )
    assert status == 0
    tokens = re.findall(r"[\d:]+", screen)
    # Each PID:FD whole, each once per description; no fragment of one.
    expected = {f"{pid}:{r}" for pid in pids}
    assert expected <= set(tokens)
    assert all(re.fullmatch(r"\d+:\d+", t) for t in tokens), tokens
    assert all(len(line) <= int(columns) for line in screen.splitlines())


@pytest.mark.parametrize("columns", ["40", "80", "200"])
def test_matrix_group_pids_wrap_between_items(family: Spawn, columns: str) -> None:
    fam = family(*(f"clone:c{i}:FILES" for i in range(16)))
    pids = sorted([fam.pid, *(fam[f"c{i}"] for i in range(16))])
    status, screen = run_on_a_terminal(
        "matrix",
        "-p",
        ",".join(map(str, pids)),
        "-t",
        "files",
        "--groups",
        "-o",
        "TYPE,PIDS",
        "--color=never",
        columns=columns,
    )
    assert status == 0
    table, closing = screen.split("\r\n\r\n", 1)  # the groups, then the closing counts
    assert [int(t) for t in re.findall(r"\d+", table)] == pids
    assert all(len(line) <= int(columns) for line in screen.splitlines())
    if columns == "40":  # too narrow for the table of counts: the same in words
        assert " ".join(closing.split()) == "files: 1 group (17 processes)"
    else:
        head = ["TYPE", "GROUPS", "SHARING", "ALONE", "WITHOUT", "SKIPPED"]
        assert closing.split() == [*head, "files", "1", "17", "0", "0", "0"]


@pytest.mark.parametrize("columns", ["0", "1", "x"])
def test_absurd_columns_fall_back_to_a_sane_width(family: Spawn, columns: str) -> None:
    fam = family("clone:c:FILES")
    status, screen = run_on_a_terminal(
        "pair", str(fam.pid), str(fam["c"]), "-t", "files", "--color=never", columns=columns
    )
    assert status == 0
    lines = screen.splitlines()
    assert lines[1].split() == ["TYPE", "RELATION", "ORDER"]
    assert lines[2].split() == ["files", "shared", "="]
    status, screen = run_on_a_terminal(
        "matrix", "-p", f"{fam.pid},{fam['c']}", "-t", "files", "--groups", columns=columns
    )
    assert status == 0
    low, high = sorted([fam.pid, fam["c"]])
    assert screen.splitlines()[1].split()[:4] == ["files", "2", f"{low},", str(high)]


def test_grid_titles_and_legend_fit_40_columns(family: Spawn) -> None:
    fam = family("clone:c:FILES")
    status, screen = run_on_a_terminal(
        "matrix", "-p", f"{fam.pid},{fam['c']}", "-t", "files", "--color=never", columns="40"
    )
    assert status == 0
    lines = screen.splitlines()
    assert all(len(line) <= 40 for line in lines), lines
    text = " ".join(screen.split())
    assert "kcmp's order of the row's object against the column's" in text  # all of it


@pytest.mark.parametrize("columns", ["80", "200"])
def test_the_legend_breaks_between_its_items(family: Spawn, columns: str) -> None:
    """A line of the legend ends where one item does ("no object" is not split over
    two lines) whenever the items fit a line each."""
    from kcmpctl.render import matrix as view
    from kcmpctl.render.terminal import ITEM_GAP

    fam = family("clone:c:FILES")
    status, screen = run_on_a_terminal(
        "matrix", "-p", f"{fam.pid},{fam['c']}", "-t", "files", "--color=never", columns=columns
    )
    assert status == 0
    items = view.legend(False).split(ITEM_GAP)
    lines = [line.strip() for line in screen.splitlines()]
    legend = lines[lines.index(next(line for line in lines if line.startswith(items[0]))) :]
    shown = [item for line in legend if line for item in line.split(ITEM_GAP)]
    assert shown == items, legend


@pytest.mark.parametrize("columns", ["40", "80"])
def test_a_target_is_never_folded_inside_its_number(family: Spawn, columns: str) -> None:
    fam = family("epoll:e", "pipe:p", "eadd:3:4", "fork:c")
    ino = os.stat(f"/proc/{fam.pid}/fd/4").st_ino
    status, screen = run_on_a_terminal(
        "epoll", str(fam.pid), "3", "--color=never", columns=columns
    )
    assert status == 0
    assert f"pipe:[{ino}]" in screen  # not "pipe:[52" above "2019]"
    status, screen = run_on_a_terminal(
        "fds", "-p", f"{fam.pid},{fam['c']}", "--color=never", columns=columns
    )
    assert status == 0
    assert f"pipe:[{ino}]" in screen
    assert "anon_inode:[eventpoll]" in screen
