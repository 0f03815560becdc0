"""`kcmpctl matrix` results as JSON, group rows, grids, and a progress bar.

Imported when the command is registered, for its columns: everything heavier than
the column list is imported inside the function that needs it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import details as detail
from .columns import Cell, Column
from .text import TIMES, Encoded, device, escape_human

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from ..matrix import Matrix, Row, TypeResult
    from ..procs import Details
    from .terminal import Terminal

COLUMNS: tuple[Column, ...] = (
    Column(
        "TYPE",
        "type: kcmp's (vm, files, fs, sighand, io, sysvsem) or a namespace (mnt, net,"
        " pid, uts, ipc, user, cgroup, time)",
    ),
    Column("GROUP", "the group's rank within its type, 1 for the largest", "number", right=True),
    Column("SIZE", "how many processes share the object", "number", right=True),
    Column("PIDS", "the processes that share it, ascending (thread IDs with --threads)", "array"),
    Column("COMMANDS", "their names (comm), in the order of PIDS", "array"),
    Column("USERS", "their owners, in the order of PIDS", "array"),
    Column("KIND", "kcmp, or namespace (grouped by the namespace's identity)"),
    *detail.columns("their", "in the order of PIDS; loaded only when asked for"),
)
DEFAULTS = ("TYPE", "SIZE", "PIDS", "COMMANDS")

#: the grid's raw form (--grid -r): one line per process and type
GRID_COLUMNS: tuple[Column, ...] = (
    Column("TYPE", "type (kcmp's or a namespace)"),
    Column("PID", "the row's process (thread ID with --threads)", "number", right=True),
    Column("COMMAND", "its name (comm)"),
    Column("CELLS", "one character per column, columns in the order of the rows"),
)

SAME, LESS, GREATER, NONE, UNKNOWN = "=", "<", ">", ".", "?"


def legend(namespaces: bool) -> str:
    """The grid's legend; how namespaces are ordered only where a namespace is shown."""
    by_inode = " (a namespace's: by inode)" if namespaces else ""
    return (
        f"{SAME} one object   {LESS} {GREATER} kcmp's order of the row's object against the"
        f" column's{by_inode}   {NONE} no object   {UNKNOWN} not compared"
    )


# "<" and ">" dimmed: the blocks of "=" (the groups) stand out
_CELL_STYLES = {NONE: "dim", UNKNOWN: "warn", SAME: "good", LESS: "dim", GREATER: "dim"}
#: how many PIDs a "not compared" line names before it counts the rest
NAMED_SKIPS = 10


# -------------------------------------------------------------------------- JSON


def document(
    matrix: Matrix, details: Mapping[int, Details] | None = None, *, stream: bool = False
) -> dict[str, Any]:
    """The ``-J`` document: keys may be added, never renamed.

    With *details* (when ``-o`` asks for ARGS, PPID or STARTED), each process gains
    ``args``, ``ppid`` and ``started``.  With *stream* (for
    :meth:`~kcmpctl.render.terminal.Terminal.json`), ``processes`` is an iterator,
    of each record's JSON text already when it has only the default keys.
    """
    rows = matrix.by_id()

    def skip(id_: int, reason: str) -> dict[str, Any]:
        row = rows.get(id_)
        pid, tid = (row.pid, row.tid) if row else (id_, None)
        return {"pid": pid, "tid": tid, "reason": reason}

    processes: Iterable[dict[str, Any] | Encoded]
    if stream and details is None:
        processes = map(_encoder(), matrix.rows)
    else:
        processes = (process_record(row, details) for row in matrix.rows)
    return {
        "processes": processes if stream else list(processes),
        "resources": [
            {
                "type": result.resource.cli_name,
                "kind": result.resource.kind,
                "order": list(result.order),
                "groups": [list(g) for g in result.groups],
                "absent": list(result.absent),
                "skipped": [skip(s.id, s.reason) for s in result.skipped],
                "namespaces": _namespaces(result) if result.resource.kind == "namespace" else None,
            }
            for result in matrix.results
        ],
        "missing": [{"pid": s.id, "reason": s.reason} for s in matrix.missing],
    }


def process_record(row: Row, details: Mapping[int, Details] | None = None) -> dict[str, Any]:
    """One process of the ``-J`` document."""
    return {
        "pid": row.pid,
        "tid": row.tid,
        "comm": row.comm,
        "user": row.user,
        "uid": row.uid,
        "kthread": row.kthread,
        **({} if details is None else detail.values(details.get(row.pid))),
    }


def _encoder() -> Callable[[Row], Encoded]:
    """:func:`process_record` without details as JSON text: 2,000 processes cost
    json.dumps ~5 ms as dicts, a third of that this way (measured here)."""
    from json.encoder import encode_basestring as string

    def null(value: object) -> object:
        return "null" if value is None else value

    def encoded(row: Row) -> Encoded:
        user = "null" if row.user is None else string(row.user)
        return Encoded(
            f'{{"pid": {row.pid}, "tid": {null(row.tid)}, "comm": {string(row.comm)},'
            f' "user": {user}, "uid": {null(row.uid)},'
            f' "kthread": {"true" if row.kthread else "false"}}}'
        )

    return encoded


def _namespaces(result: TypeResult) -> list[dict[str, Any]]:
    """Each namespace found, as lsns names it (inode), with its members, by inode."""
    return [
        {"ns": ino, "dev": device(dev), "pids": list(cls)}
        for (dev, ino), cls in zip(result.identities, result.classes, strict=True)
    ]


# ------------------------------------------------------------------- groups view


def group_records(
    matrix: Matrix, details: Mapping[int, Details] | None = None
) -> list[dict[str, Cell]]:
    """One record per group (two processes or more), per type, largest first; with
    *details*, the ARGS, PPID and STARTED cells too."""
    rows = matrix.by_id()
    records: list[dict[str, Cell]] = []
    for result in matrix.results:
        # kcmp's order changes with every boot: groups of one size by their first PID
        ranked = sorted(result.groups, key=lambda group: (-len(group), group[0]))
        for rank, group in enumerate(ranked, 1):
            records.append(
                {
                    "type": result.resource.cli_name,
                    "kind": result.resource.kind,
                    "group": rank,
                    "size": len(group),
                    "pids": list(group),
                    "commands": [rows[i].comm for i in group],
                    "users": [rows[i].user for i in group],
                    **(_detail_cells([rows[i].pid for i in group], details) if details else {}),
                }
            )
    return records


def _detail_cells(pids: Sequence[int], details: Mapping[int, Details]) -> dict[str, Cell]:
    found = [detail.values(details.get(pid)) for pid in pids]
    return {
        "args": [detail.args_cell(v["args"]) for v in found],
        "ppid": [v["ppid"] for v in found],
        "started": [v["started"] for v in found],
    }


def shown_pids(matrix: Matrix) -> set[int]:
    """The processes the groups view shows: those in a group of any type."""
    rows = matrix.by_id()
    return {rows[i].pid for result in matrix.results for group in result.groups for i in group}


def counts(result: TypeResult) -> dict[str, Cell]:
    """One type in numbers: a row of the groups view's closing table."""
    return {
        "type": result.resource.cli_name,
        "groups": len(result.groups),
        "sharing": sum(map(len, result.groups)),
        "alone": len(result.alone),
        "without": len(result.absent),
        "skipped": len(result.skipped),
    }


def summary(result: TypeResult, members: str = "processes") -> str:
    """The same numbers in words, zeros left out, for a grid's heading."""
    n = counts(result)
    parts = [
        f"{_count(n['groups'], 'group')} ({n['sharing']} {members})"
        if n["groups"]
        else "no groups"
    ]
    for key, words in (
        ("alone", "sharing with nobody"),
        ("without", "without one"),
        ("skipped", "not compared"),
    ):
        if n[key]:
            parts.append(f"{n[key]} {words}")
    return "; ".join(parts)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def skipped_lines(matrix: Matrix) -> list[str]:
    """One line per reason naming the processes not compared (the first few)."""
    rows = matrix.by_id()
    by_reason: dict[str, list[int]] = {}
    for id_, reason in sorted(matrix.skipped().items()):
        by_reason.setdefault(reason, []).append(id_)
    lines = []
    for reason, ids in by_reason.items():
        named = ", ".join(f"{i} {rows[i].comm}" for i in ids[:NAMED_SKIPS])
        more = f" and {len(ids) - NAMED_SKIPS} more" if len(ids) > NAMED_SKIPS else ""
        lines.append(f"not compared ({reason}): {named}{more}")
    return lines


#: the groups view's closing table, in human output only: what the groups leave out
SUMMARY_COLUMNS: tuple[Column, ...] = (
    Column("TYPE", "type (kcmp's or a namespace)"),
    Column("GROUPS", "objects shared by two processes or more", "number", right=True),
    Column("SHARING", "processes in those groups", "number", right=True),
    Column("ALONE", "processes whose object nobody else shares", "number", right=True),
    Column("WITHOUT", "processes with no such object", "number", right=True),
    Column("SKIPPED", "processes not compared", "number", right=True),
)


def fold_names(names: Sequence[str]) -> list[str]:
    """Repeated names once each and counted (``fam24 <TIMES>5``), in order of first sight."""
    counted: dict[str, int] = {}
    for name in names:
        counted[name] = counted.get(name, 0) + 1
    return [f"{name} {TIMES}{n}" if n > 1 else name for name, n in counted.items()]


def print_groups(
    out: Terminal,
    matrix: Matrix,
    columns: Sequence[Column],
    heading: str | None = None,
    details: Mapping[int, Details] | None = None,
) -> None:
    """The groups, largest first; for people, after *heading* (why not the grid) and
    with repeated command names folded."""
    records = group_records(matrix, details)
    if out.mode != "human" or not out.headings:
        # -n: the group rows alone, one per line; a closing table without its header
        # would read as more groups.
        out.table(columns, records)
        return
    if heading:
        out.prose(escape_human(heading), "dim")
    for record in records:
        record["commands"] = fold_names(record["commands"])
    if records:
        out.table(columns, records)
        out.line("")
    from .terminal import terminal_width

    numbers = [counts(r) for r in matrix.results]
    if out.stdout.isatty() and _width(SUMMARY_COLUMNS, numbers) > terminal_width():
        # A terminal too narrow for the closing table: the same numbers in words.
        for result in matrix.results:
            out.prose(f"{result.resource.cli_name}: {summary(result)}")
    else:
        out.table(SUMMARY_COLUMNS, numbers)
    for line in skipped_lines(matrix):
        out.prose(escape_human(line), "warn")


def _width(columns: Sequence[Column], records: Sequence[Mapping[str, Cell]]) -> int:
    """A table's natural width: its widest cells, two spaces between columns."""
    return sum(max([len(c.name), *(len(str(r[c.key])) for r in records)]) + 2 for c in columns) - 2


# --------------------------------------------------------------------------- grid


def grid_order(rows: Mapping[int, Row], result: TypeResult) -> list[Row]:
    """Rows in kcmp's order (groups contiguous), then those without, then skipped."""
    ids = [*result.order, *result.absent, *(s.id for s in result.skipped)]
    return [rows[i] for i in ids]


def cells(result: TypeResult, order: Sequence[Row]) -> list[str]:
    """Each row's cells against every column, as one string per row."""
    position: dict[int, int] = {}
    for index, cls in enumerate(result.classes):
        for id_ in cls:
            position[id_] = index
    kind = dict.fromkeys(result.absent, NONE) | {s.id: UNKNOWN for s in result.skipped}

    def cell(a: int, b: int) -> str:
        if kind.get(a) == UNKNOWN or kind.get(b) == UNKNOWN:
            return UNKNOWN
        if a in kind or b in kind:
            return NONE
        pa, pb = position[a], position[b]
        return SAME if pa == pb else LESS if pa < pb else GREATER

    return ["".join(cell(r.id, c.id) for c in order) for r in order]


def _prefix_widths(matrix: Matrix) -> tuple[int, int, int]:
    n = len(matrix.rows)
    pid = max([len("PID"), *(len(str(r.id)) for r in matrix.rows)])
    comm = max([len("COMMAND"), *(len(escape_human(r.comm)) for r in matrix.rows)])
    return len(str(n)), pid, comm


def grid_width(matrix: Matrix) -> int:
    index, pid, comm = _prefix_widths(matrix)
    return index + 1 + pid + 1 + comm + 2 * len(matrix.rows)


def print_grid(out: Terminal, matrix: Matrix) -> None:
    rows = matrix.by_id()
    if out.mode == "raw":
        records: list[dict[str, Cell]] = []
        for result in matrix.results:
            order = grid_order(rows, result)
            for row, line in zip(order, cells(result, order), strict=True):
                records.append(
                    {
                        "type": result.resource.cli_name,
                        "pid": row.id,
                        "command": row.comm,
                        "cells": line,
                    }
                )
        out.table(GRID_COLUMNS, records)
        return
    from ..typeinfo import object_of

    index_w, pid_w, comm_w = _prefix_widths(matrix)
    n = len(matrix.rows)
    threads = any(r.tid is not None for r in matrix.rows)
    for number, result in enumerate(matrix.results):
        if number:
            out.line("")
        if out.headings:  # -n: no headings, the titles and the legend included
            words = summary(result, "threads" if threads else "processes")
            title = f"{result.resource.cli_name}: {object_of(result.resource)}; {words}"
            out.prose(title, "bold")
        order = grid_order(rows, result)
        reasons = {s.id: s.reason for s in result.skipped}
        if out.stdout.isatty():
            _rich_grid(out, order, cells(result, order), reasons, threads)
            continue
        if out.headings:
            digits = len(str(n))
            labels = [str(i).rjust(digits) for i in range(1, n + 1)]
            blank = " " * (index_w + 1 + pid_w + 1 + comm_w)
            for d in range(digits - 1):
                out.line(blank + " " + " ".join(label[d] for label in labels))
            id_name = "TID" if threads else "PID"
            head = f"{'#':>{index_w}} {id_name:>{pid_w}} {'COMMAND':<{comm_w}}"
            out.line(head + " " + " ".join(label[-1] for label in labels), "bold")
        for i, (row, line) in enumerate(zip(order, cells(result, order), strict=True), 1):
            name = escape_human(row.comm)
            prefix = f"{i:>{index_w}} {row.id:>{pid_w}} {name:<{comm_w}}"
            painted = " ".join(out.paint(c, _CELL_STYLES.get(c)) for c in line)
            reason = f"  {escape_human(reasons[row.id])}" if row.id in reasons else ""
            out.line(f"{prefix} {painted}{reason}")
    if out.headings:
        out.line("")
        shown = (r.resource.kind == "namespace" for r in matrix.results)
        out.prose(legend(any(shown)), "dim")


def _rich_grid(
    out: Terminal,
    order: Sequence[Row],
    lines: Sequence[str],
    reasons: Mapping[int, str],
    threads: bool,
) -> None:
    """One type's grid as a rich table, as every table on a terminal: one character
    per cell column, nothing wrapped inside a cell (a grid forced wider than the
    terminal runs off its edge rather than squeezing its cells)."""
    from rich.table import Table
    from rich.text import Text

    from .terminal import STYLES

    def style(name: str | None) -> str:
        return STYLES[name][0] if name and out.color else ""

    n = len(order)
    digits = len(str(n))
    table = Table(
        box=None,
        show_header=out.headings,
        header_style=style("bold"),
        pad_edge=False,
        padding=(0, 0, 0, 1),
    )
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("TID" if threads else "PID", justify="right", no_wrap=True)
    table.add_column("COMMAND", no_wrap=True)
    for i in range(1, n + 1):
        # a column's number written downwards, as the plain grid writes it
        table.add_column("\n".join(str(i).rjust(digits)), no_wrap=True, vertical="bottom")
    if reasons:
        table.add_column("", no_wrap=True)
    for i, (row, line) in enumerate(zip(order, lines, strict=True), 1):
        reason = f" {escape_human(reasons[row.id])}" if row.id in reasons else ""
        table.add_row(
            str(i),
            str(row.id),
            Text(escape_human(row.comm)),
            *(Text(c, style=style(_CELL_STYLES.get(c))) for c in line),
            *([Text(reason)] if reasons else []),
        )
    console = out.console()
    console.width = max(
        console.width, grid_width_of(order) + 2 + max(map(len, reasons.values()), default=0)
    )
    console.print(table)


def grid_width_of(order: Sequence[Row]) -> int:
    pid = max([3, *(len(str(r.id)) for r in order)])
    comm = max([7, *(len(escape_human(r.comm)) for r in order)])
    return len(str(len(order))) + 1 + pid + 1 + comm + 2 * len(order)


# ----------------------------------------------------------------------- progress


class ScanProgress:
    """A progress bar on stderr, started only once a scan has run for *delay* seconds.

    Call with the comparisons made so far; rich is imported only if the bar starts.
    """

    def __init__(self, out: Terminal, total: int, delay: float = 1.0) -> None:
        self._out = out
        self._total = max(1, total)
        self._start = time.monotonic()
        self._delay = delay
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __call__(self, done: int) -> None:
        if self._bar is None:
            if time.monotonic() - self._start < self._delay:
                return
            self._bar, self._task = self._open()
        assert self._task is not None
        # The total is an estimate: hold the bar short of full until the scan ends.
        self._bar.update(self._task, completed=min(done, self._total * 0.99))

    def _open(self) -> tuple[Progress, TaskID]:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(
            TextColumn("kcmpctl: comparing"),
            BarColumn(),
            TimeElapsedColumn(),
            console=self._out.console(stderr=True),
            transient=True,
        )
        bar.start()
        task = bar.add_task("scan", total=self._total)
        bar.refresh()  # show it now, not at the refresh thread's next tick
        return bar, task

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
