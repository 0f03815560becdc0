"""kcmpctl tree: the process tree, annotated with what each process shares with its parent."""

from __future__ import annotations

import re
from collections.abc import Sequence

import click

from ..render import tree as view
from ..resources import TYPE_GROUPS, AnyResource
from ..status import ExitStatus, Report
from .options import (
    Output,
    ScanCommand,
    any_kcmp_type,
    flatten,
    freeze_option,
    output_options,
    pids_option,
    type_option,
    uncollected,
)
from .params import PidType, RegexType, UserType
from .scan import compared, report_unsearched

EPILOG = """\b
Examples:
  kcmpctl tree                        every process, from each root
  kcmpctl tree $$ -t files,fs         my shell's family: fd tables, cwd
  kcmpctl tree 1234 --threads         threads that unshared something
  kcmpctl tree -r | grep 'files=yes'  processes sharing the parent's fd table
"""


@click.command(
    cls=ScanCommand,
    kcmp_needed=any_kcmp_type,
    epilog=EPILOG,
    short_help="The process tree: what each process shares with its parent.",
)
@click.argument("root", required=False, type=PidType(), metavar="[PID]")
@type_option(default="all")
@click.option("--threads", is_flag=True, help="Show threads under their process.")
@pids_option("Show only these PIDs (commas or spaces, repeatable).")
@click.option(
    "-u",
    "--user",
    "users",
    multiple=True,
    type=UserType(),
    help="Show only processes owned by this user name or uid (repeatable).",
)
@click.option(
    "-c",
    "--command",
    type=RegexType(),
    metavar="REGEX",
    help="Show only processes whose name (comm) matches this regular expression.",
)
@click.option("--no-fold", is_flag=True, help="Show every one of identical siblings.")
@freeze_option()
@output_options(view.COLUMNS, view.DEFAULTS)
@uncollected
def tree(
    root: int | None,
    types: Sequence[list[AnyResource]],
    threads: bool,
    pids: Sequence[list[int]],
    users: Sequence[int],
    command: re.Pattern[str] | None,
    no_fold: bool,
    freeze: bool,
    out: Output,
) -> ExitStatus:
    """Draw the process tree under PID (default: every process, from each root),
    each process with what it shares with its parent.

    \b
    shares T...     one object with the parent (CLONE_FILES, CLONE_FS, threads)
    new T...        its own object, where the parent has another: a boundary
    T... with PID   not its parent's, but shared with PID, the nearest holder
    Types it has no object of (io, sysvsem mostly) are not listed. Selectors pick
    the processes shown; each is still compared with its parent.

    Exit status: 0; 1 nothing selected; 2 trouble (a named process missing or not
    compared).
    """
    if out.columns_spec and out.mode != "raw":
        raise click.UsageError("-o chooses the fields of -r")
    from .. import procs
    from ..errors import explain
    from ..tree import Grouping, annotate

    resources = flatten(types) or list(TYPE_GROUPS["all"])
    named = flatten(pids)
    # A tree shows no owners: they are read only where -u selects by them, or where
    # the scan guesses by them which processes kcmp refuses (without CAP_SYS_PTRACE).
    owners = not procs.ptrace_capable()
    shown = procs.select_tasks(
        pids=named or None,
        users=list(users) or None,
        command=command,
        tree=root,
        threads=threads,
        owners=owners,
    )
    # Each process is compared with its parent, shown or not.
    selected = {t.pid for t in shown.tasks}
    parents = sorted({t.ppid for t in shown.tasks if t.ppid and t.ppid not in selected})
    hidden = (
        procs.select_tasks(pids=parents, threads=threads, owners=owners)
        if parents
        else procs.Selection(tasks=[], missing=[])
    )
    selection = procs.Selection(tasks=shown.tasks + hidden.tasks, missing=shown.missing)
    with compared(out, selection, resources, threads=threads, freeze=freeze) as (result, _):
        pass
    groupings = [
        Grouping(
            r.resource.cli_name,
            r.classes,
            r.absent,
            {s.id: s.reason for s in r.skipped},
        )
        for r in result.results
    ]
    forest = annotate(result.rows, groupings, selected, threads=threads)

    report = Report()
    for skip in result.missing:
        out.warn(f"process {skip.id}: {explain(skip.reason)}")
        report.fail()
    wanted = [*named, *([root] if root is not None else [])]
    for pid, reason in result.uncompared(wanted).items():
        out.warn(f"process {pid}: {explain(reason)}")
        report.fail()
    # A hidden parent not compared is said on its children's lines, not here.
    report_unsearched(out, result, wanted, selected)
    # Nothing selected, as matrix and fds: no message, status 1 (grep finding nothing).
    report.differ(not forest.processes and not result.missing)

    if out.mode == "json":
        out.json(view.document(forest, ((s.id, s.reason) for s in result.missing)))
    elif out.mode == "raw" and forest.processes:  # nothing selected: not even the header
        columns = out.columns(view.COLUMNS, view.DEFAULTS)
        if not threads and not out.columns_spec:
            columns = [c for c in columns if c.name != "TID"]
        view.print_raw(out, forest.nodes(), columns)
    elif out.mode == "human":
        view.print_tree(out, forest.nodes(), fold=not no_fold)
    return report.status
