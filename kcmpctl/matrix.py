"""Many tasks, every task type: who shares which kernel object, in kcmp's own order.

For each type the tasks are sorted with kcmp as the comparator (~n·log2 n calls, never
the n·(n-1)/2 of all pairs) together with the reference zombie, whose objects are
NULL: whatever lands in the zombie's class has no object of that type, at the cost of
~log2 n calls instead of one per task.

Two layers.  :func:`group_type` and :func:`scan` are pure: they take task IDs and a
comparator factory, so they are tested with fake total orders.  :func:`build` is the
kernel-facing part: it turns a :class:`~kcmpctl.procs.Selection` into a
:class:`Matrix`, skipping what cannot be compared and dropping every task whose pidfd
says it exited (or its PID was reused) before the end, so that no result is ever
attributed to a process that is not the one selected.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from . import procs
from ._gc import paused
from .grouping import ItemFailed, OrderUnstable, task_comparator
from .kcmp import Resource
from .namespaces import Identity, sort_key
from .namespaces import reader as namespace_reader
from .resources import AnyResource, Namespace
from .verify import settle

Comparator = Callable[[int, int], int]
ComparatorFactory = Callable[[Resource], Comparator]
#: names the IDs among those given that became invalid (exited, PID reused), with why
Prune = Callable[[Sequence[int]], dict[int, str]]

EXITED = "exited"
ZOMBIE = "zombie: exited, not yet reaped"
#: the thread a process was compared through (its leader, unless that had exited)
#: exited, the process did not: what kcmp said since came from a zombie's NULLs
THREAD_EXITED = "its compared thread exited during the scan"

#: Below this many tasks a worker process costs more than it saves: fork() and the
#: child's copy-on-write faults take ~2 ms here, a 64-task scan of six types ~4 ms.
PARALLEL_MIN = 64


class ScanError(Exception):
    """The scan could not finish (the kernel's order kept changing, a worker died)."""


class Skip(NamedTuple):
    """A task that was not compared, and why."""

    id: int
    reason: str


class TypeResult(NamedTuple):
    """One type's answer: the tasks' objects in kcmp's order (a namespace type's by
    inode), and who has none."""

    resource: AnyResource
    #: one tuple per object, ascending in kcmp's order; each tuple's IDs ascending
    classes: tuple[tuple[int, ...], ...]
    #: compared tasks that have no object of this type (a NULL pointer)
    absent: tuple[int, ...] = ()
    skipped: tuple[Skip, ...] = ()
    #: a namespace type's identity of each class, ``(st_dev, st_ino)``, in the order
    #: of ``classes``; empty for kcmp's types (kcmp never shows the object itself)
    identities: tuple[Identity, ...] = ()

    @property
    def order(self) -> tuple[int, ...]:
        """Every compared task that has the object, ascending in kcmp's order."""
        return tuple(i for cls in self.classes for i in cls)

    @property
    def groups(self) -> tuple[tuple[int, ...], ...]:
        """The objects shared by two tasks or more, in kcmp's order."""
        return tuple(cls for cls in self.classes if len(cls) > 1)

    @property
    def alone(self) -> tuple[int, ...]:
        """Tasks whose object nobody else shares."""
        return tuple(cls[0] for cls in self.classes if len(cls) == 1)

    @property
    def one_object(self) -> bool:
        """Every task was compared, has the object, and it is one object."""
        return len(self.classes) == 1 and not self.absent and not self.skipped

    def without(self, gone: dict[int, str]) -> TypeResult:
        """This result with the tasks in *gone* moved to ``skipped``, with their reason."""
        members = {i for cls in self.classes for i in cls}.union(self.absent)
        moved = [Skip(i, reason) for i, reason in gone.items() if i in members]
        if not moved:
            return self
        kept = [tuple(i for i in cls if i not in gone) for cls in self.classes]
        return TypeResult(
            self.resource,
            tuple(cls for cls in kept if cls),
            tuple(i for i in self.absent if i not in gone),
            _merge_skips(self.skipped, moved),
            tuple(ident for ident, cls in zip(self.identities, kept, strict=True) if cls)
            if self.identities
            else (),
        )


def _merge_skips(*parts: Sequence[Skip]) -> tuple[Skip, ...]:
    """Skips by ID, ascending; an ID skipped twice keeps its first reason."""
    seen: dict[int, Skip] = {}
    for part in parts:
        for skip in part:
            seen.setdefault(skip.id, skip)
    return tuple(sorted(seen.values(), key=lambda s: s.id))


# ------------------------------------------------------------------------ pure logic


def group_type(
    ids: Sequence[int],
    resource: Resource,
    cmp: Comparator,
    reference: int,
    prune: Prune | None = None,
    recheck: bool = True,
) -> TypeResult:
    """Sort *ids* and the *reference* (an ID with no object of any nullable type).

    Tasks in the reference's class are absent; tasks the comparator failed on (or
    *prune* named) are skipped.  The reference must not fail: without it, "equal"
    could mean "both have none".  Every task has a signal handler table (a zombie
    too, until reaped), so for sighand the reference is left out.  The answer is
    proven a second time (:func:`kcmpctl.verify.settle`): tasks whose object changed
    meanwhile are skipped as "changed during the scan"; *recheck* false skips that
    (for stopped processes).
    """
    ref = reference if resource.nullable else None
    try:
        grouping = settle(
            sorted(ids),
            cmp,
            reference=ref,
            prune=prune,
            recheck=recheck,
            comes_and_goes=resource.comes_and_goes,
            runs=True,
        )
    except OrderUnstable as err:
        raise ScanError(f"{resource.cli_name}: {err}") from err
    if reference in grouping.failed:
        raise ScanError(f"the reference process {reference} failed: {grouping.failed[reference]}")
    classes: list[tuple[int, ...]] = []
    absent: tuple[int, ...] = ()
    for cls in grouping.classes:
        if reference in cls:
            absent = tuple(sorted(i for i in cls if i != reference))
        else:
            classes.append(tuple(sorted(cls)))
    skipped = tuple(sorted((Skip(i, r) for i, r in grouping.failed.items()), key=lambda s: s.id))
    return TypeResult(resource, tuple(classes), absent, skipped)


def group_namespace(
    ids: Sequence[int],
    namespace: Namespace,
    read: Callable[[int], Identity],
) -> TypeResult:
    """Group *ids* by the identity of their namespace of this type, ordered by inode.

    *read* raises :class:`~kcmpctl.grouping.ItemFailed` for a link it cannot read
    (a zombie's, a permission): that task is skipped, never guessed.  Every task
    that can be read has a namespace of each type, so none is absent.
    """
    by_identity: dict[Identity, list[int]] = {}
    skipped: list[Skip] = []
    for i in ids:
        try:
            by_identity.setdefault(read(i), []).append(i)
        except ItemFailed as failure:
            skipped.append(Skip(i, failure.reason))
    identities = tuple(sorted(by_identity, key=sort_key))
    classes = tuple(tuple(sorted(by_identity[key])) for key in identities)
    skips = tuple(sorted(skipped, key=lambda s: s.id))
    return TypeResult(namespace, classes, (), skips, identities)


def refused(ids: Sequence[int], cmp: Comparator) -> list[Skip]:
    """Those of *ids* that kcmp refuses, with the reason.

    The kernel checks existence (ESRCH) and ptrace access (EPERM) before the type, so
    one call of each task against itself answers for every type: a refused task is
    found with one call instead of failing in every sort.
    """
    found: list[Skip] = []
    for i in ids:
        try:
            cmp(i, i)
        except ItemFailed as failure:
            found.append(Skip(i, failure.reason))
    return found


def _refusable(ids: Sequence[int], tasks: Mapping[int, procs.Task]) -> Sequence[int]:
    """Of *ids*, those worth asking about (:func:`refused`) before the sorts.

    A refused task fails in each sort, which finds it by itself at a few calls a
    comparison: asking first pays for the tasks likely refused.  Without
    CAP_SYS_PTRACE those are the tasks of other users (ptrace's read access wants the
    caller's real uid in every uid of theirs).  The others are seldom refused (pid 1
    is, here, even to root): asking each of 2,000 would cost 2,000 calls before the
    scan starts, where each sort finds one in ~10.  Below :data:`PARALLEL_MIN` tasks
    all are asked: a sort of one task (sighand has no reference) compares nothing.
    """
    if len(ids) < PARALLEL_MIN:
        return ids
    if procs.ptrace_capable():
        return ()
    me = os.getuid()
    return [i for i in ids if tasks[i].uid != me]


def estimate(tasks: int, types: int) -> int:
    """Comparisons a scan is expected to make: a sort and a neighbour pass per type."""
    n = tasks + 1
    return types * (math.ceil(n * math.log2(n)) + n) if n > 1 else types


def scan(
    ids: Sequence[int],
    resources: Sequence[Resource],
    *,
    reference: int,
    comparator: ComparatorFactory = task_comparator,
    prune: Prune | None = None,
    workers: int = 1,
    meter: Meter | None = None,
    recheck: bool = True,
) -> list[TypeResult]:
    """:func:`group_type` for each of *resources*, in that order.

    With *workers* > 1 the types are shared out between this process and forked
    children, each taking the next type as it becomes free (the types cost from ~2n
    calls, where most tasks have none, to ~n·log2 n); children send their results
    back over a pipe.  Only the parent holds state that outlives the scan.
    """
    workers = max(1, min(workers, len(resources)))
    if workers == 1:
        return [
            group_type(ids, r, _counted(comparator(r), meter, 0), reference, prune, recheck)
            for r in resources
        ]
    from . import _workers

    # The dearest types first, so that the cheap ones fill in at the end: in the
    # order given (vm, files, fs, sighand, io, sysvsem) the last big sort can start
    # when the other worker has only io and sysvsem left.
    jobs = sorted(range(len(resources)), key=lambda i: _COST_RANK.get(resources[i], 0))

    def job(index: int, slot: int) -> TypeResult:
        r = resources[jobs[index]]
        return group_type(ids, r, _counted(comparator(r), meter, slot), reference, prune, recheck)

    try:
        done = _workers.run(
            len(resources),
            job,
            workers=workers,
            encode=_encode,
            decode=_decode,
            wait=meter.tick if meter is not None else None,
        )
    except _workers.WorkerError as err:
        raise ScanError(str(err)) from err
    results: list[TypeResult] = [done[0]] * len(resources)
    for index, result in zip(jobs, done, strict=True):
        results[index] = result
    return results


#: The rank of each type by its usual cost, dearest first.  Address spaces and signal
#: handlers are each process's own (a full sort); fd tables and fs_structs are shared
#: within families more often (runs: fewer to sort); most tasks have no I/O context
#: or undo list (one call each).
_COST_RANK = {
    Resource.VM: 0,
    Resource.SIGHAND: 1,
    Resource.FILES: 2,
    Resource.FS: 3,
    Resource.IO: 4,
    Resource.SYSVSEM: 5,
}


def _counted(cmp: Comparator, meter: Meter | None, slot: int) -> Comparator:
    return cmp if meter is None else meter.wrap(cmp, slot)


def _encode(result: TypeResult) -> Any:
    # Workers sort kcmp types only; namespace types are read by the parent.
    assert isinstance(result.resource, Resource)
    return (
        int(result.resource),
        result.classes,
        result.absent,
        tuple((s.id, s.reason) for s in result.skipped),
    )


def _decode(data: Any) -> TypeResult:
    resource, classes, absent, skipped = data
    return TypeResult(
        Resource(resource),
        classes,
        absent,
        tuple(Skip(i, reason) for i, reason in skipped),
    )


class Meter:
    """Comparisons made so far by every worker, for a progress bar.

    Each worker counts into its own slot of shared memory (an anonymous mapping is
    shared across fork()); the parent sums the slots whenever it reports.  Only used
    when a progress bar may be shown: the count costs a Python call per comparison.
    """

    EVERY = 1024  # comparisons between two reports (~2 ms)

    def __init__(self, workers: int, report: Callable[[int], None]) -> None:
        import mmap

        self._memory = mmap.mmap(-1, 8 * max(1, workers))
        self._counts = memoryview(self._memory).cast("q")
        self._report = report

    def wrap(self, cmp: Comparator, slot: int) -> Comparator:
        counts = self._counts
        every = self.EVERY - 1
        tick = self.tick if slot == 0 else None

        def counted(a: int, b: int) -> int:
            n = counts[slot] + 1
            counts[slot] = n
            if tick is not None and not n & every:
                tick()
            return cmp(a, b)

        return counted

    @property
    def done(self) -> int:
        return sum(self._counts)

    def tick(self) -> None:
        self._report(self.done)

    def close(self) -> None:
        self._counts.release()
        self._memory.close()


def default_workers(tasks: int, types: int) -> int:
    """One worker per CPU this process may run on, for scans big enough to gain."""
    if tasks < PARALLEL_MIN:
        return 1
    return max(1, min(types, len(os.sched_getaffinity(0))))


# ------------------------------------------------------------------- kernel-facing


class Row(NamedTuple):
    """A selected task as results name it."""

    #: the ID in results: the PID, or the TID with ``--threads``
    id: int
    pid: int
    #: the thread ID with ``--threads``, else None
    tid: int | None
    comm: str
    uid: int | None
    user: str | None
    kthread: bool
    #: its parent process (a thread's: its process's), as selection read it
    ppid: int = 0


class Matrix(NamedTuple):
    """Every selected task, and one :class:`TypeResult` per type asked for."""

    rows: tuple[Row, ...]
    results: tuple[TypeResult, ...]
    #: PIDs named on the command line (-p, --tree) that could not be selected
    missing: tuple[Skip, ...] = ()

    @property
    def one_object_each(self) -> bool:
        """Every task shares one object of each type with all the others."""
        return bool(self.rows) and all(r.one_object for r in self.results)

    def by_id(self) -> dict[int, Row]:
        """The rows by the ID results name them with."""
        return {row.id: row for row in self.rows}

    def skipped(self) -> dict[int, str]:
        """Every task skipped in any type, with its first reason."""
        found: dict[int, str] = {}
        for result in self.results:
            for skip in result.skipped:
                found.setdefault(skip.id, skip.reason)
        return found

    def uncompared(self, pids: Iterable[int]) -> dict[int, str]:
        """Of the processes *pids*, those not one task of which was compared, and why.

        With ``--threads`` a process whose leader thread exited was still compared
        through its other threads.
        """
        wanted = set(pids)
        skipped = self.skipped()
        compared: set[int] = set()
        first: dict[int, str] = {}
        for row in self.rows:
            if row.pid not in wanted:
                continue
            if row.id in skipped:
                first.setdefault(row.pid, skipped[row.id])
            else:
                compared.add(row.pid)
        return {pid: why for pid, why in first.items() if pid not in compared}


def build(
    selection: procs.Selection,
    resources: Sequence[AnyResource],
    *,
    reference: int,
    threads: bool,
    workers: int = 1,
    comparator: ComparatorFactory = task_comparator,
    meter: Meter | None = None,
    skip: Mapping[int, str] | None = None,
    recheck: bool = True,
) -> Matrix:
    """Compare every selected task for each of *resources* (kcmp and namespace types).

    *reference* is the reference zombie's PID (left out if the selection holds it;
    unused when *resources* holds namespace types only: then kcmp is not called).
    Zombies and tasks gone since selection are skipped without a kcmp call; tasks
    kcmp refuses are skipped after one call each; tasks that exited during the scan
    are taken out of every type's result at the end.  The processes in *skip* (PID
    to reason: those ``--freeze`` could not stop) are skipped without a call.  Each
    type's answer is proven a second time (:mod:`kcmpctl.verify`) unless *recheck*
    is false (the tasks are stopped: nothing can change).
    """
    tasks = [t for t in selection.tasks if t.pid != reference]
    by_kcmp_id = {t.tid: t for t in tasks}
    # Results name a process by its PID, even when its leader exited and kcmp is
    # called through a live thread; with --threads, by the thread ID.
    name = {t.tid: (t.tid if threads else t.pid) for t in tasks}

    # In process mode t.zombie is the leader's state: the process lives on if
    # selection found a live thread to compare through.
    pre = {t.tid: ZOMBIE for t in tasks if t.zombie and (threads or t.tid == t.pid)}
    if skip:
        pre.update((t.tid, skip[t.pid]) for t in tasks if t.pid in skip)
    live = [t for t in tasks if t.tid not in pre]
    # A task's pidfd follows its process, or with --threads a non-leader thread: the
    # live thread a process is compared through (its leader had exited) needs its own.
    watch = procs.Watch(live, [t for t in live if not threads and t.tid != t.pid])

    def reasons(ids: Iterable[int]) -> dict[int, str]:
        return {i: EXITED if threads or by_kcmp_id[i].gone() else THREAD_EXITED for i in ids}

    def prune(items: Sequence[int]) -> dict[int, str]:
        gone = watch.gone()
        return reasons(gone.intersection(items)) if gone else {}

    kcmp_types = [r for r in resources if isinstance(r, Resource)]
    try:
        pre.update(reasons(watch.gone()))
        ids = [t.tid for t in live if t.tid not in pre]
        if kcmp_types:
            asked = _refusable(ids, by_kcmp_id)
            pre.update(refused(asked, comparator(Resource.SIGHAND)))
            ids = [i for i in ids if i not in pre]
        with paused():
            found = scan(
                ids,
                kcmp_types,
                reference=reference,
                comparator=comparator,
                prune=prune,
                workers=workers,
                meter=meter,
                recheck=recheck,
            )
        by_type: dict[AnyResource, TypeResult] = {r.resource: r for r in found}
        # A zombie keeps its pid and user namespaces (lsns counts it there): its links
        # are read too, the others fail with their reason; pinned by its pidfd or start
        # time, it must not have been reaped (its PID free for another) by the end.
        zombies = [] if threads else [t for t in tasks if pre.get(t.tid) == ZOMBIE]
        for r in resources:
            if isinstance(r, Namespace):
                read = namespace_reader(r)
                by_type[r] = group_namespace([*ids, *(t.tid for t in zombies)], r, read)
        results = [by_type[r] for r in resources]
        # The last word on identity: a task whose pidfd turned readable at any time
        # during the scan yields nothing, whatever the sorts and reads saw.  A leader
        # thread that exited while its process lives on wakes no pidfd, though, and
        # kcmp through its ID has been reaching a zombie's NULLs since.  Only an exited
        # task has no fd table (kernel threads share init's), and a leader cannot
        # come back: one call each against the reference settles it.  (A namespace
        # read through an exited leader fails by itself: its links are gone.)
        dead: set[int] = set()
        if kcmp_types:
            # Those skipped in every type (refused, found by the sorts) hold nothing
            # to take back.
            skipped = [{s.id for s in by_type[r].skipped} for r in kcmp_types]
            everywhere = set.intersection(*skipped)
            leaders = (i for i in ids if by_kcmp_id[i].pid == i and i not in everywhere)
            dead = _without_fd_table(leaders, comparator(Resource.FILES), reference)
        gone = reasons(watch.gone().intersection(ids) | dead)
        gone.update((t.tid, EXITED) for t in zombies if not _still_there(t))
    finally:
        watch.close()

    before = [Skip(i, r) for i, r in pre.items()]
    read_zombies = {t.tid for t in zombies}
    before_ns = [s for s in before if s.id not in read_zombies]

    def skips(r: TypeResult) -> tuple[Skip, ...]:
        return _merge_skips(before_ns if isinstance(r.resource, Namespace) else before, r.skipped)

    final = tuple(
        _rename(
            TypeResult(
                r.resource,
                r.classes,
                r.absent,
                skips(r),
                r.identities,
            ),
            name,
        ).without({name[i]: reason for i, reason in gone.items()})
        for r in results
    )
    # Fields in Row's order; sorted as tuples, by the ID first (no two alike).
    make, user = Row._make, procs.user_name
    rows = tuple(
        sorted(
            make(
                (
                    name[t.tid],
                    t.pid,
                    t.tid if threads else None,
                    t.comm,
                    t.uid,
                    user(t.uid),
                    t.kthread,
                    t.ppid,
                )
            )
            for t in tasks
        )
    )
    missing = tuple(Skip(pid, why) for pid, why in selection.missing)
    return Matrix(rows, final, missing)


def _still_there(task: procs.Task) -> bool:
    """Not reaped since selection: what was read through its PID was its own."""
    return procs.Pin(task.pid, task.pidfd, task.starttime).same()


def _without_fd_table(ids: Iterable[int], files: Comparator, reference: int) -> set[int]:
    """The IDs whose fd table is NULL (equal to the reference's) or that are gone."""
    found = set()
    for i in ids:
        try:
            if files(i, reference) == 0:
                found.add(i)
        except ItemFailed:
            found.add(i)
    return found


def _rename(result: TypeResult, name: dict[int, int]) -> TypeResult:
    """From the IDs kcmp was called with to the IDs results name tasks by."""
    if all(k == v for k, v in name.items()):
        return result
    return TypeResult(
        result.resource,
        tuple(tuple(sorted(name[i] for i in cls)) for cls in result.classes),
        tuple(sorted(name[i] for i in result.absent)),
        tuple(sorted((Skip(name[s.id], s.reason) for s in result.skipped), key=lambda s: s.id)),
        result.identities,
    )
