"""kcmpctl fds: open file descriptions shared between processes."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from ..render import details as detail_view
from ..render import fds as view
from ..resources import ACROSS_KEYS
from ..status import ExitStatus, Report
from .options import (
    Output,
    ScanCommand,
    flatten,
    freeze_option,
    freezer,
    output_options,
    selection_options,
    uncollected,
)
from .params import KeyListType

if TYPE_CHECKING:
    from ..fds import Scan

EPILOG = """\b
Examples:
  kcmpctl fds                      descriptions held by two fd tables or more
  kcmpctl fds --tree $$            ... among my shell and its descendants
  kcmpctl fds -p "$(pidof nginx)" --dups -o +TABLES
  kcmpctl fds -J | jq '.descriptions[] | select(.type == "SOCK")'
  kcmpctl fds --across user,mnt -q  does any description cross a uid or mount
                                   namespace boundary? (exit 1 yes, 0 no)
"""


@click.command(
    cls=ScanCommand,
    epilog=EPILOG,
    short_help="Open file descriptions shared between processes.",
)
@selection_options(threads=False)
@click.option(
    "--dups",
    is_flag=True,
    help="Also show descriptions held twice within one fd table (dup, F_DUPFD).",
)
@click.option("--dot", is_flag=True, help="Print a Graphviz graph (for dot -Tsvg) instead.")
@freeze_option()
@click.option(
    "--across",
    "across_keys",
    multiple=True,
    type=KeyListType(ACROSS_KEYS),
    metavar="KEY",
    help="Only descriptions held on both sides of a boundary, by commas:"
    f" {', '.join(ACROSS_KEYS)}.",
)
@output_options(view.COLUMNS, view.DEFAULTS)
@uncollected
def fds(
    pids: Sequence[list[int]],
    users: Sequence[int],
    command: re.Pattern[str] | None,
    tree: int | None,
    dups: bool,
    dot: bool,
    freeze: bool,
    across_keys: Sequence[list[str]],
    out: Output,
) -> ExitStatus:
    """Show open file descriptions held through the fds of two or more fd tables.

    Fds that share a description share its offset and flags (fork, SCM_RIGHTS,
    pidfd_getfd, dup; never two opens of a file). A CLONE_FILES family is one table.
    Selectors intersect; none: every process but kcmpctl itself.

    Exit status: 0; 1 nothing selected, or (--across) a description crosses;
    2 trouble (a -p PID missing or unreadable).
    """
    # Loaded here, not at the top: completing this command's options needs no ctypes.
    from .. import procs
    from ..fds import Skipped, scan

    if dot and (out.columns_spec or out.mode in ("json", "raw")):
        raise click.UsageError("--dot prints a graph: not with -o, -J or -r")
    named = flatten(pids)
    across = flatten(across_keys)
    columns = out.columns(view.COLUMNS, _defaults(across))
    # The keys to read: those --across filters on, and any other a column asks for.
    wanted = {c.key for c in columns}
    keys = [k for k in ACROSS_KEYS if k in across or view.across_column(k) in wanted]
    values = None
    details = None
    selection = procs.select_tasks(named or None, list(users) or None, command, tree)
    frozen = freezer(freeze)
    try:
        me = os.getpid()
        # Our own fds (a pidfd per selected process) are an artefact of the scan, and
        # our stdio would show as "shared" with the shell in every run.
        tasks = [t for t in selection.tasks if t.pid != me or me in named]
        refused = frozen.freeze(t.pid for t in tasks)
        result = scan([t for t in tasks if t.pid not in refused], dups=dups)
        if keys:
            from .. import across as boundary

            holding = {h.pid for d in result.descriptions for h in d.holders}
            # Read while the selection's pidfds are open: they prove the reads right.
            found = boundary.read_keys([t for t in selection.tasks if t.pid in holding], keys)
            values = found.values
            if across:
                result = boundary.across(result, across, found)
        if detail_view.wanted(columns):
            holders = {h.pid for d in result.descriptions for h in d.holders}
            details = procs.details([t for t in selection.tasks if t.pid in holders])
    finally:
        frozen.thaw()
        selection.close()
    if refused:  # skipped as any unreadable process is: trouble only if named
        unfrozen = [Skipped(t.pid, t.comm, refused[t.pid]) for t in tasks if t.pid in refused]
        result = dataclasses.replace(
            result, skipped=tuple(sorted((*result.skipped, *unfrozen), key=lambda s: s.pid))
        )

    from ..errors import explain

    report = Report()
    for pid, why in selection.missing:
        report.fail()
        out.warn(f"process {pid}: {explain(why)}")
    _report_skipped(result, set(map(selection.process, named)), report, out)
    if across:
        report.differ(bool(result.descriptions))

    # Nothing selected: as in matrix, no output and status 1 (grep finding nothing).
    empty = not selection.tasks and not selection.missing
    report.differ(empty)
    if dot:
        from ..render.dot import fds_graph

        out.write(fds_graph(result.descriptions))
    elif out.mode == "json":
        out.json(
            {
                # An iterator: written a batch at a time, never all at once.
                "descriptions": view.json_records(result.descriptions, values, keys, details),
                "skipped": [view.skipped_record(pid, None, why) for pid, why in selection.missing]
                + [view.skipped_record(s.pid, s.command, s.reason, s.fd) for s in result.skipped],
            }
        )
    elif not empty and (result.descriptions or not report.trouble):
        records = (view.record(d, values, keys, details) for d in result.descriptions)
        out.table(columns, map(view.table_row, records))
    return report.status


def _defaults(across: Sequence[str]) -> tuple[str, ...]:
    """The default columns, and with --across a column per key."""
    return (*view.DEFAULTS, *(view.across_column(k).upper() for k in across))


def _report_skipped(result: Scan, named: set[int], report: Report, out: Output) -> None:
    """A named process left out is trouble, each on its own line; processes a selector
    found and could not read are counted on one line (JSON lists them); processes that
    exited during the scan are a machine's ordinary life and only listed in JSON."""
    from ..errors import explain
    from ..fds import EXITED

    unread = []
    for item in result.skipped:
        where = f"process {item.pid}" if item.fd is None else f"process {item.pid} fd {item.fd}"
        if item.pid in named:
            report.fail()
            out.warn(f"{where}: {explain(item.reason)}")
        elif item.fd is not None:
            # One fd left out ("changed during the scan"): said even with -J.
            out.warn(f"skipped {where} ({item.command}): {item.reason}")
        elif item.reason != EXITED:
            unread.append(item)
    out.unsearched([(item.pid, item.command, item.reason) for item in unread])
