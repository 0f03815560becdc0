"""The pure parts of kcmpctl fds: fdinfo parsing, failure-tolerant sorting, rendering."""

from __future__ import annotations

import io
import json
import os
import stat
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kcmpctl.fds import Description, FdInfo, Holder, file_type, parse_fdinfo
from kcmpctl.grouping import ItemFailed, sort_groups
from kcmpctl.render import fds as view
from kcmpctl.render.terminal import Terminal
from kcmpctl.render.text import json_pieces, json_text

# ------------------------------------------------------------------------ fdinfo


def test_parse_fdinfo_of_a_regular_file() -> None:
    text = "pos:\t82\nflags:\t0100001\nmnt_id:\t27\nino:\t2146885\n"
    assert parse_fdinfo(text) == FdInfo(pos=82, flags=0o100001)


def test_parse_fdinfo_leaves_out_the_per_fd_close_on_exec_bit() -> None:
    text = f"pos:\t0\nflags:\t{os.O_CLOEXEC | os.O_RDWR:o}\nmnt_id:\t17\nino:\t26\n"
    assert parse_fdinfo(text).flags == os.O_RDWR


def test_parse_fdinfo_ignores_the_fields_of_epoll_registrations() -> None:
    text = (
        "flags:\t02\nmnt_id:\t17\nino:\t26\n"
        "tfd:        5 events:       19 data:                5  pos:9 ino:6e05 sdev:f\n"
    )
    assert parse_fdinfo(text) == FdInfo(pos=None, flags=0o2)  # not the registration's pos:9


@pytest.mark.parametrize("text", ["", "mnt_id:\t3\n", "pos:\tx\nflags:\t9\n"])
def test_parse_fdinfo_without_usable_fields(text: str) -> None:
    assert parse_fdinfo(text) == FdInfo(None, None)


@pytest.mark.parametrize(
    ("mode", "name"),
    [
        (stat.S_IFREG | 0o644, "REG"),
        (stat.S_IFIFO | 0o600, "FIFO"),
        (stat.S_IFSOCK | 0o777, "SOCK"),
        (stat.S_IFCHR | 0o666, "CHR"),
        (0o600, "UNKN"),  # anon_inode: eventfd, epoll, timerfd…
    ],
)
def test_file_type(mode: int, name: str) -> None:
    assert file_type(mode) == name


# ------------------------------------------------------------- tolerant sorting


def fake_order(fails: Callable[[int], bool]) -> Callable[[int, int], int]:
    """A comparator on ints by value // 10 (so 10..19 are one class), failing on items
    that *fails* names at the moment of the call."""

    def cmp(a: int, b: int) -> int:
        for item in (a, b):
            if fails(item):
                raise ItemFailed(item, "exited")
        return (a // 10 > b // 10) - (a // 10 < b // 10)

    return cmp


def tolerant_groups(
    items: list[int], cmp: Callable[[int, int], int]
) -> tuple[list[list[int]], dict[int, str]]:
    grouping = sort_groups(items, cmp)
    return grouping.classes, grouping.failed


def test_many_failures_are_dropped_in_one_round() -> None:
    # sort_groups has 8 rounds; 30 failing items would exhaust them one by one.
    dead = set(range(100, 130))
    items = [*range(10, 14), *dead, *range(20, 23)]

    classes, failed = tolerant_groups(items, fake_order(dead.__contains__))

    assert classes == [[10, 11, 12, 13], [20, 21, 22]]
    assert failed == dict.fromkeys(dead, "exited")


def test_an_item_failing_mid_sort_is_dropped_and_the_rest_proven() -> None:
    calls = 0

    def fails(item: int) -> bool:
        return item == 21 and calls > 5  # 21 "exits" during the sort

    cmp = fake_order(fails)

    def counting(a: int, b: int) -> int:
        nonlocal calls
        calls += 1
        return cmp(a, b)

    classes, failed = tolerant_groups([23, 11, 21, 10, 22, 12], counting)

    assert [sorted(c) for c in classes] == [[10, 11, 12], [22, 23]]
    assert failed == {21: "exited"}


# -------------------------------------------------------------------- rendering


def description() -> Description:
    return Description(
        target="/tmp/a b\n[x]",
        dev=os.makedev(254, 1),
        ino=42,
        mode=stat.S_IFREG | 0o644,
        pos=7,
        flags=0o100002,
        holders=(
            Holder(10, 3, "init"),
            Holder(11, 3, "worker"),
            Holder(11, 5, "worker"),
            Holder(12, 3, "init"),
            Holder(12, 5, "init"),
        ),
        tables=((10,), (11, 12)),
    )


def test_json_record() -> None:
    assert view.record(description()) == {
        "target": "/tmp/a b\n[x]",
        "type": "REG",
        "dev": "254:1",
        "ino": 42,
        "pos": 7,
        "flags": "0o100002",
        "count": 5,
        "holders": [
            {"pid": 10, "fd": 3, "command": "init"},
            {"pid": 11, "fd": 3, "command": "worker"},
            {"pid": 11, "fd": 5, "command": "worker"},
            {"pid": 12, "fd": 3, "command": "init"},
            {"pid": 12, "fd": 5, "command": "init"},
        ],
        "tables": [[10], [11, 12]],
        "commands": ["init", "worker"],
    }


def test_unknown_offset_and_flags_are_null() -> None:
    desc = description()
    rec = view.record(
        Description(
            desc.target, desc.dev, desc.ino, desc.mode, None, None, desc.holders, desc.tables
        )
    )
    assert (rec["pos"], rec["flags"]) == (None, None)


@pytest.mark.parametrize(
    ("flags", "names"),
    [
        (0o0, "O_RDONLY"),
        (0o2001, "O_WRONLY|O_APPEND"),
        (os.O_RDWR | os.O_SYNC, "O_RDWR|O_SYNC"),  # O_SYNC includes O_DSYNC's bit
        (os.O_RDWR | os.O_DSYNC, "O_RDWR|O_DSYNC"),
        (os.O_RDONLY | os.O_TMPFILE, "O_RDONLY|O_TMPFILE"),
        (os.O_RDONLY | os.O_DIRECTORY, "O_RDONLY|O_DIRECTORY"),
        (os.O_RDONLY | os.O_CLOEXEC, "O_RDONLY"),  # per fd, not the description's
        (0o3, "0o3"),
        (0o1 | 0o100000000000, "O_WRONLY|0o100000000000"),
    ],
)
def test_flag_names(flags: int, names: str) -> None:
    assert view.flag_names(flags) == names


def render(mode: str, names: tuple[str, ...] = view.DEFAULTS) -> str:
    out = io.StringIO()
    term = Terminal(mode, stdout=out, stderr=io.StringIO())
    columns = [c for c in view.COLUMNS if c.name in names]
    term.table(columns, [view.table_row(view.record(description()))])
    return out.getvalue()


def test_plain_table() -> None:
    assert render("human") == (
        "TYPE INO POS FLAGS  COUNT TARGET          HOLDERS\n"
        "REG   42   7 O_RDWR     5 /tmp/a b\\x0a[x] 10:3,11+12:3,11+12:5\n"
    )


def test_raw_rows_escape_whitespace() -> None:
    assert render("raw", ("TARGET", "TABLES", "COMMANDS")) == (
        "TARGET TABLES COMMANDS\n/tmp/a\\x20b\\x0a[x] 10,11+12 init,worker\n"
    )


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200)
@given(
    head=st.dictionaries(st.text(), _json_values, max_size=3),
    items=st.lists(_json_values, max_size=9),
    batch=st.integers(1, 4),
    ascii_only=st.booleans(),
)
def test_json_in_pieces_is_the_same_text(
    head: dict[str, Any],
    items: list[Any],
    batch: int,
    ascii_only: bool,
) -> None:
    # Text with backslashes, controls and undecodable bytes (surrogates) included.
    whole = {**head, "descriptions": items, "skipped": items[:1]}
    pieces = {**head, "descriptions": iter(items), "skipped": items[:1]}
    got = "".join(json_pieces(pieces, ascii_only=ascii_only, batch=batch))
    assert got == json_text(whole, ascii_only=ascii_only)


_names = st.text(st.characters(codec="utf-8") | st.sampled_from('\\"\n\x1b\udcff\u202e'))


@settings(max_examples=200)
@given(
    target=_names,
    commands=st.lists(_names, min_size=1, max_size=3),
    pos=st.none() | st.integers(0, 2**63),
    flags=st.none() | st.integers(0, 0o77777777),
    ascii_only=st.booleans(),
)
def test_json_records_written_as_text_are_what_json_dumps_writes(
    target: str, commands: list[str], pos: int | None, flags: int | None, ascii_only: bool
) -> None:
    desc = description()
    holders = tuple(
        Holder(h.pid, h.fd, commands[i % len(commands)]) for i, h in enumerate(desc.holders)
    )
    desc = Description(target, desc.dev, desc.ino, stat.S_IFIFO, pos, flags, holders, desc.tables)
    (encoded,) = view.json_records([desc])
    assert encoded == json.dumps(view.record(desc), ensure_ascii=False)
    text = "".join(json_pieces({"descriptions": iter([encoded, encoded])}, ascii_only=ascii_only))
    assert text == json_text({"descriptions": [view.record(desc)] * 2}, ascii_only=ascii_only)
    (plain,) = view.json_records([desc], {}, (), None)
    assert plain == view.record(desc, {})


def test_json_records_on_a_terminal_indented_as_objects() -> None:
    out = io.StringIO()
    out.isatty = lambda: True  # type: ignore[method-assign]
    term = Terminal("json", stdout=out, stderr=io.StringIO())
    term.json({"descriptions": view.json_records([description()]), "skipped": []})
    assert out.getvalue() == json_text(
        {"descriptions": [view.record(description())], "skipped": []}, indent=True
    )
