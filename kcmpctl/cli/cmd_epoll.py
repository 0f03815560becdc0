"""kcmpctl epoll: every registration of an epoll, and who holds each file now."""

from __future__ import annotations

import dataclasses
import errno
from collections.abc import Sequence

import click

from ..render import epoll as view
from ..status import ExitStatus, Report
from .options import (
    Output,
    ScanCommand,
    flatten,
    freeze_option,
    freezer,
    output_options,
    pids_option,
    uncollected,
)
from .params import FdType, NumberType, PidFdType, PidType

TOFF_MAX = 0xFFFFFFFF  # struct kcmp_epoll_slot's toff is a u32

EPILOG = """\b
Examples:
  kcmpctl epoll 1234 7            each file in epoll fd 7, and who holds it
  kcmpctl epoll 1234 7 --all -J   search every process for holders; JSON
  kcmpctl epoll 1234 7 --check 3 1234:100
                                  is fd 100 the file registered as 3? (0 yes)
"""


@click.command(
    "epoll",
    cls=ScanCommand,
    epilog=EPILOG,
    short_help="Every registration of an epoll, proven.",
)
@click.argument("pid", type=PidType())
@click.argument("epfd", type=FdType())
@pids_option(help="Search these PIDs (commas or spaces; repeatable) instead of PID's family.")
@click.option("--all", "all_", is_flag=True, help="Search every visible process for holders.")
@click.option(
    "--check",
    "question",
    type=(FdType(), PidFdType()),
    metavar="TFD HOLDER_PID:FD",
    help="Only answer: is fd FD of HOLDER_PID the file registered as TFD?",
)
@click.option(
    "--toff",
    type=NumberType(TOFF_MAX),
    metavar="N",
    help="With --check: the N-th registration made under TFD (default 0).",
)
@freeze_option()
@output_options(view.COLUMNS, view.DEFAULTS)
def epoll_command(
    pid: int,
    epfd: int,
    pids: Sequence[list[int]],
    all_: bool,
    question: tuple[int, tuple[int, int]] | None,
    toff: int | None,
    freeze: bool,
    out: Output,
) -> ExitStatus:
    """List each file registered in the epoll at fd EPFD of process PID, and prove
    with kcmp which fds of which processes are that file now.

    An epoll remembers a file by the fd number (TFD) it was added under; the number
    goes stale once that fd is closed or reused. STATUS says where the file is: ok (fd
    TFD of PID is it), moved (PID holds it at another fd), elsewhere (only other
    processes hold it), unknown (no holder among the processes searched).

    Holders are searched in PID, then in PID's fd-table sharers, parent and children;
    or in -p PIDS; or in every process with --all.

    Exit status: 0 every registration ok, 1 some not, 2 trouble. With --check: 0 yes,
    1 no, 2 trouble.
    """
    if question is not None:
        if pids or all_ or out.mode == "raw" or out.columns_spec:
            raise click.UsageError("-p, --all, -r and -o apply to the listing, not to --check")
        tfd, holder = question
        frozen = freezer(freeze)
        try:
            refused = frozen.freeze(dict.fromkeys((pid, holder[0])))
            for who, why in refused.items():
                out.warn(f"process {who}: {why}")
            if refused:
                return ExitStatus.TROUBLE
            return _check(out, pid, epfd, tfd, toff or 0, holder)
        finally:
            frozen.thaw()
    if toff is not None:
        raise click.UsageError("--toff applies to --check")
    if pids and all_:
        raise click.UsageError("-p/--pids and --all exclude each other")
    return _listing(out, pid, epfd, flatten(pids), all_, freeze)


# No garbage collection meanwhile: a big epoll's records (a few per registration)
# live until the listing is written and make no cycles, and each collection would
# walk them again (measured, 9,000 registrations: 0.11 s in 227 collections).
@uncollected
def _listing(
    out: Output, pid: int, epfd: int, named: list[int], all_: bool, freeze: bool
) -> ExitStatus:
    # Loaded here, not at the top: completing this command's options needs no ctypes.
    from .. import procs
    from ..epoll import (
        Skipped,
        Status,
        find_holders,
        read_registrations,
        related_processes,
        visible_processes,
    )
    from ..errors import KcmpError, from_errno

    report = Report()
    registrations = read_registrations(pid, epfd)
    if all_:
        candidates = visible_processes(pid)
    elif named:
        candidates = []
        for other in named:
            if procs.exists(other):
                candidates.append(other)
            else:
                out.warn(str(from_errno(errno.ESRCH, f"process {other}")))
                report.fail()
    else:
        candidates = related_processes(pid)
    frozen = freezer(freeze)
    try:
        refused = frozen.freeze(dict.fromkeys((pid, *candidates)))
        if pid in refused:
            # The epoll's own process: without it stopped there is no snapshot to give.
            out.warn(f"process {pid}: {refused[pid]}")
            return ExitStatus.TROUBLE
        if freeze:  # read again, now that nothing can register, close or dup
            registrations = read_registrations(pid, epfd)
        listing = find_holders(
            pid, epfd, registrations, [c for c in candidates if c not in refused]
        )
    finally:
        frozen.thaw()
    if refused:  # skipped as any unreadable process is: trouble only if named
        unfrozen = (Skipped(c, KcmpError(0, f"process {c}", why)) for c, why in refused.items())
        listing = dataclasses.replace(
            listing, skipped=tuple(sorted((*listing.skipped, *unfrozen), key=lambda s: s.pid))
        )
    unsearched = []
    for skipped in listing.skipped:
        # Asked for by name, so a gap in the answer; found by --all or by kinship, not
        # (counted on one line). An fd that changed during the scan is said in any case.
        if named or skipped.fd is not None:
            out.warn(str(skipped.error))
        else:
            unsearched.append((skipped.pid, procs.comm(skipped.pid), skipped.error.reason))
        if named:
            report.fail()
    out.unsearched(unsearched)
    for target in listing.targets:
        report.differ(target.status is not Status.OK)

    if out.mode == "json":
        out.json(view.document(listing))
    else:
        title = view.title(listing, procs.comm(pid)) if out.mode == "human" else None
        rows = (view.table_row(view.record(t)) for t in listing.targets)
        out.table(out.columns(view.COLUMNS, view.DEFAULTS), rows, title=title)
    return report.status


def _check(
    out: Output, pid: int, epfd: int, tfd: int, toff: int, holder: tuple[int, int]
) -> ExitStatus:
    from ..epoll import check

    same = check(pid, epfd, tfd, toff, *holder)
    rec = view.check_record(pid, epfd, tfd, toff, holder, same)
    if out.mode == "json":
        out.json(rec)
    else:
        out.line(view.check_line(rec))
    return ExitStatus.SAME if same else ExitStatus.DIFFERENT
