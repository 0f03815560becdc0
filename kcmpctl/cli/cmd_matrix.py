"""kcmpctl matrix: which of many processes share which kernel objects."""

from __future__ import annotations

import re
from collections.abc import Sequence

import click

from ..render import details as detail_view
from ..render import matrix as view
from ..render.terminal import terminal_width
from ..resources import TASK_TYPES, AnyResource
from ..status import ExitStatus, Report
from .options import (
    Output,
    ScanCommand,
    any_kcmp_type,
    flatten,
    freeze_option,
    output_options,
    selection_options,
    type_option,
)
from .scan import compared, report_unsearched

EPILOG = """\b
Examples:
  kcmpctl matrix                         every process, all six task types
  kcmpctl matrix -t ns                   every process, by namespace (as lsns)
  kcmpctl matrix -p "$(pidof nginx)"     do the workers share fd tables?
  kcmpctl matrix --tree 1234 --threads   threads that unshared show up
  kcmpctl matrix -J | jq '.resources[] | select(.type == "files").groups'
"""


@click.command(
    cls=ScanCommand,
    kcmp_needed=any_kcmp_type,
    epilog=EPILOG,
    short_help="Which of many processes share which objects.",
)
@selection_options(threads=True)
@type_option()
@click.option("--grid", is_flag=True, help="Show a grid per type, whatever the number of rows.")
@click.option("--groups", is_flag=True, help="Show the groups per type, however few rows.")
@click.option("--dot", is_flag=True, help="Print a Graphviz graph (for dot -Tsvg) instead.")
@freeze_option()
@output_options(view.COLUMNS, view.DEFAULTS)
def matrix(
    pids: Sequence[list[int]],
    users: Sequence[int],
    command: re.Pattern[str] | None,
    tree: int | None,
    threads: bool,
    types: Sequence[list[AnyResource]],
    grid: bool,
    groups: bool,
    dot: bool,
    freeze: bool,
    out: Output,
) -> ExitStatus:
    """Group many processes by the kernel objects they share, type by type.

    kcmp sorts them (n log2 n calls, not all pairs): a grid per type when it fits,
    else the groups, largest first. Processes with no object, or not compared, are
    reported apart. Selectors intersect; none: every process.

    Exit status: 0 all share one object of each type; 1 not, or nothing selected;
    2 trouble.
    """
    if grid and groups:
        raise click.UsageError("--grid and --groups exclude each other")
    if dot and (grid or groups or out.columns_spec or out.mode in ("json", "raw")):
        raise click.UsageError("--dot prints a graph: not with --grid, --groups, -o, -J or -r")
    if grid and out.columns_spec:
        raise click.UsageError("-o chooses the columns of the groups view, not of --grid")
    from .. import procs
    from ..errors import explain

    resources = flatten(types) or list(TASK_TYPES)
    named = flatten(pids)
    selection = procs.select_tasks(
        pids=named or None,
        users=list(users) or None,
        command=command,
        tree=tree,
        threads=threads,
    )
    with compared(out, selection, resources, threads=threads, freeze=freeze) as (
        result,
        selection,
    ):
        details = None
        if detail_view.wanted(out.columns(view.COLUMNS, view.DEFAULTS)):
            # psutil for the rows shown only, while the pidfds prove whose they are.
            shown = (
                {row.pid for row in result.rows} if out.mode == "json" else view.shown_pids(result)
            )
            details = procs.details([t for t in selection.tasks if t.pid in shown])

    report = Report()
    for skip in result.missing:
        out.warn(f"process {skip.id}: {explain(skip.reason)}")
        report.fail()
    for pid, reason in result.uncompared(map(selection.process, named)).items():
        out.warn(f"process {pid}: {explain(reason)}")
        report.fail()
    report_unsearched(out, result, named)
    # Nothing selected: nothing to show and nothing that holds, as grep(1) finding
    # nothing (status 1, no output); -J still prints its document, arrays empty.
    empty = not result.rows and not result.missing
    report.differ(empty or not result.one_object_each)

    if dot:
        from ..render.dot import matrix_graph

        out.write(matrix_graph(result))
    elif out.mode == "json":
        out.json(view.document(result, details, stream=True))
    elif out.mode != "quiet" and result.rows:  # none: an empty grid would say nothing
        automatic = out.mode == "human" and not groups and not out.columns_spec
        width, room = view.grid_width(result), terminal_width()
        if grid or (automatic and width <= room):
            view.print_grid(out, result)
        else:
            heading = (
                f"the grid ({width} columns) does not fit the terminal ({room} columns):"
                " the groups instead (--grid shows the grid)"
                if automatic
                else None
            )
            view.print_groups(
                out, result, out.columns(view.COLUMNS, view.DEFAULTS), heading, details
            )
    return report.status
