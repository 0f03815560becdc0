"""One scan of many processes, for ``matrix`` and ``tree``: freeze, compare, thaw."""

from __future__ import annotations

import contextlib
from collections.abc import Container, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import click

from ..resources import AnyResource, Resource
from .options import Output, freezer, with_new_threads

if TYPE_CHECKING:
    from ..matrix import Matrix
    from ..procs import Selection


@contextlib.contextmanager
def compared(
    out: Output,
    selection: Selection,
    resources: Sequence[AnyResource],
    *,
    threads: bool,
    freeze: bool,
) -> Iterator[tuple[Matrix, Selection]]:
    """Compare every task of *selection* for each of *resources*: the matrix, and the
    selection it was made from (with ``--threads --freeze``, grown by the threads
    born before the freeze).

    Inside the ``with`` the processes are still frozen (with *freeze*) and their
    pidfds open, so what is read there is proven theirs; on leaving, whatever happens,
    they are thawed and the pidfds closed.  A scan that cannot finish is trouble.
    """
    from ..kcmp import null_reference
    from ..matrix import Meter, ScanError, build, default_workers, estimate
    from ..render.matrix import ScanProgress

    # Made before the first kcmp call; namespace types are read from /proc alone.
    reference = null_reference() if any(isinstance(r, Resource) for r in resources) else None
    frozen = freezer(freeze)
    try:
        refused = frozen.freeze(t.pid for t in selection.tasks)
        if freeze and threads:
            selection = with_new_threads(
                selection, (t.pid for t in selection.tasks if t.pid not in refused)
            )
        workers = default_workers(len(selection.tasks), len(resources))
        bar = meter = None
        # Frozen, the terminal (or whoever reads stderr) may be among the stopped.
        if out.mode != "quiet" and out.stderr.isatty() and not freeze:
            bar = ScanProgress(out, estimate(len(selection.tasks), len(resources)))
            meter = Meter(workers, bar)
        try:
            result = build(
                selection,
                resources,
                reference=reference.pid if reference is not None else 0,
                threads=threads,
                workers=workers,
                meter=meter,
                skip=refused,
                # Stopped processes cannot change: no second proof needed.
                recheck=not freeze,
            )
        finally:
            if bar is not None:
                bar.close()
            if meter is not None:
                meter.close()
        yield result, selection
    except ScanError as err:
        raise click.ClickException(str(err)) from err
    finally:
        frozen.thaw()
        selection.close()


def report_unsearched(
    out: Output, result: Matrix, named: Iterable[int], shown: Container[int] | None = None
) -> None:
    """Processes a selector found and the scan could not compare: one line on stderr,
    as every command says it (the *named* ones are trouble, reported apart; with
    *shown*, those compared only beside the shown ones are not reported: a tree's
    hidden parents).  Those that exited are a machine's ordinary life: shown in the
    views and -J only."""
    from ..matrix import EXITED, THREAD_EXITED, ZOMBIE

    by_id, wanted = result.by_id(), set(named)
    out.unsearched(
        [
            (by_id[i].pid, by_id[i].comm, why)
            for i, why in result.skipped().items()
            if by_id[i].pid not in wanted
            and why not in (EXITED, ZOMBIE, THREAD_EXITED)
            and (shown is None or by_id[i].pid in shown)
        ]
    )
