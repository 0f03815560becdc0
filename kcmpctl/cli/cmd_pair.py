"""kcmpctl pair: two processes, or two fds, compared type by type."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from ..render import pair as view
from ..resources import TASK_TYPES, AnyResource, Namespace, Resource
from ..status import ExitStatus, Report
from . import complete
from .options import (
    Output,
    ScanCommand,
    any_kcmp_type,
    flatten,
    freeze_option,
    freezer,
    nullable_type,
    output_options,
    type_option,
)
from .params import parse_operand

if TYPE_CHECKING:
    from ..kcmp import Comparison, Side

EPILOG = """\b
Examples:
  kcmpctl pair $$ $PPID            what does my shell share with its parent?
  kcmpctl pair 1234 1240 -t files  one fd table? (exit 0 yes, 1 no)
  kcmpctl pair $$ 1234 -t ns       in the same namespaces?
  kcmpctl pair 1234:3 1240:7       one open file description behind both fds?
"""


@click.command(
    cls=ScanCommand,
    kcmp_needed=any_kcmp_type,
    reference_needed=lambda params: nullable_type(params) and _pids(params["operands"]),
    epilog=EPILOG,
    short_help="Compare two processes, or two fds.",
)
@click.argument(
    "operands",
    nargs=-1,
    metavar="PID1 PID2 | PID1:FD1 PID2:FD2",
    shell_complete=complete.operand,
)
@type_option()
@freeze_option()
@output_options(view.COLUMNS, view.TASK_DEFAULTS)
def pair(
    operands: tuple[str, ...], types: Sequence[list[AnyResource]], freeze: bool, out: Output
) -> ExitStatus:
    """Compare the kernel objects of two processes, or the files behind two fds.

    Task types: vm, files, fs, sighand, io, sysvsem (default: all six); namespace
    types: mnt, net, pid, uts, ipc, user, cgroup, time (-t ns), compared by the
    namespace's identity. A type that neither process has (io, sysvsem, a kernel
    thread's vm) is "none", never "shared".

    Exit status: 0 every type shared, 1 some not shared, 2 trouble.
    """
    if len(operands) != 2:
        raise click.UsageError("expected two operands: PID1 PID2, or PID1:FD1 PID2:FD2")
    try:
        (pid1, fd1), (pid2, fd2) = (parse_operand(o) for o in operands)
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    if (fd1 is None) != (fd2 is None):
        raise click.UsageError("operands mix PID and PID:FD forms; use both of one form")
    # Loaded here, not at the top: completing this command's options needs no ctypes.
    from ..kcmp import side

    report = Report()
    records: list[dict[str, Any]] = []
    frozen = freezer(freeze)
    try:
        # Asked to compare at one moment: a process that cannot be stopped is trouble.
        refused = frozen.freeze(dict.fromkeys((pid1, pid2)))
        for pid, why in refused.items():
            out.warn(f"process {pid}: {why}")
        if refused:
            return ExitStatus.TROUBLE
        if fd1 is not None and fd2 is not None:
            if types:
                raise click.UsageError("-t applies to PID operands, not PID:FD")
            # Each process resolved once to the thread kcmp and /proc are asked through
            # (a live one, when its main thread has exited).
            s1, s2 = side(pid1, fd1), side(pid2, fd2)
            named: list[tuple[str | None, str | None]] = []
            result, error = _attempt(report, lambda: _compare_files(s1, s2, named), out)
            targets = named[-1] if named else _targets(s1, s2)
            records.append(
                view.record(
                    pid1,
                    pid2,
                    Resource.FILE,
                    result,
                    fd1=fd1,
                    fd2=fd2,
                    error=error,
                    targets=targets,
                )
            )
            defaults: tuple[str, ...] = view.FILE_DEFAULTS
        else:
            selected = flatten(types) or list(TASK_TYPES)
            seen_errors: set[str] = set()
            s1, s2 = side(pid1), side(pid2)
            for resource in selected:
                result, error = _attempt(
                    report, lambda r=resource: _compare(s1, s2, r, freeze), out, seen_errors
                )
                records.append(view.record(pid1, pid2, resource, result, error=error))
            defaults = view.TASK_DEFAULTS
    finally:
        frozen.thaw()

    if out.mode == "json":
        out.json({"pairs": records})
    elif not report.trouble or any(r["error"] is None for r in records):
        title = None
        if out.mode == "human":
            title = f"{_name(pid1)} and {_name(pid2)}"
        out.table(out.columns(view.COLUMNS, defaults), map(view.table_row, records), title=title)
    return report.status


def _pids(operands: tuple[str, ...]) -> bool:
    """Whether the operands look like two PIDs (not PID:FD): checked in full later."""
    return len(operands) == 2 and not any(":" in o for o in operands)


def _compare(s1: Side, s2: Side, resource: AnyResource, frozen: bool) -> Comparison:
    if isinstance(resource, Namespace):
        from ..namespaces import compare as compare_namespace

        return compare_namespace(s1, s2, resource)
    from ..kcmp import compare

    # Stopped processes cannot change: no second proof needed.
    return compare(s1, s2, resource, recheck=not frozen)


#: Comparisons of two fds made again when a file named beside the answer may not be
#: the one compared: an fd that moves between files all the time.
_FILE_ATTEMPTS = 8


def _targets(s1: Side, s2: Side) -> tuple[str | None, str | None]:
    from .. import procs

    return (
        procs.fd_target(s1.pid, s1.fd or 0, s1.task),
        procs.fd_target(s2.pid, s2.fd or 0, s2.task),
    )


def _compare_files(s1: Side, s2: Side, named: list[tuple[str | None, str | None]]) -> Comparison:
    """Compare two fds, and append to *named* the files compared.

    The names come from /proc, read before and after the kcmp call: a name that
    changed from one read to the other, or two names for what kcmp calls one file,
    belong to another moment than the answer, which is asked again.  An fd that never
    holds still is reported as changed during the scan.
    """
    import errno

    from ..errors import CHANGED, Changed
    from ..kcmp import compare_files

    moved = s2
    for _ in range(_FILE_ATTEMPTS):
        before = _targets(s1, s2)
        result = compare_files(s1, s1.fd or 0, s2, s2.fd or 0)
        after = _targets(s1, s2)
        if before == after and not (result.shared and after[0] != after[1]):
            named.append(after)
            return result
        moved = s1 if before[0] != after[0] else s2
    raise Changed(
        errno.EAGAIN,
        f"process {moved.pid} fd {moved.fd}",
        CHANGED,
        pids=(moved.pid,),
        fds=(moved.fd,) if moved.fd is not None else (),
        resource=Resource.FILE,
    )


def _name(pid: int) -> str:
    from .. import procs

    comm = procs.comm(pid)
    return f"{pid} ({comm})" if comm is not None else str(pid)


def _attempt(
    report: Report,
    call: Any,
    out: Output,
    seen: set[str] | None = None,
) -> tuple[Comparison | None, str | None]:
    """Run one comparison; a kernel error becomes a row error and one stderr line."""
    from ..errors import KcmpError, KcmpUnavailable

    try:
        result: Comparison = call()
    except KcmpUnavailable:
        raise
    except KcmpError as err:
        report.fail()
        message = str(err)
        if seen is None or message not in seen:
            out.warn(message)
            if seen is not None:
                seen.add(message)
        return None, message
    report.differ(not result.shared)
    return result, None
