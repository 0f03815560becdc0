"""Never an answer that was not true at one moment: prove it a second time.

Nothing stops the processes while kcmp runs (unless they are stopped, as ``--freeze``
does).  A process whose SysV undo list comes and goes, or that calls ioprio_set() or
exec() mid-scan, gives answers from different moments: NULL against NULL is "equal"
once, an absence check a moment later finds an object, and two processes that never
shared anything would be reported as sharing it.

So every answer is proven again before it is reported.  An answer is ordered classes
of items, as :func:`~kcmpctl.grouping.sort_groups` makes them; the reference zombie's
class holds the items without an object.  :func:`verify` compares again every pair
of neighbours and every item with the one after its neighbour (so that one item that
changes between two calls cannot link, or part, the two around it), and every item
with the reference (whose objects are NULL for good), and expects exactly what the
answer says: 0 within a class, "before" across a class boundary, each item on its
own side of the reference.

Where an answer is wrong, the items concerned and their neighbours are asked about
the reference a few times more (:data:`PROBES`, doubled each round): an item that
answers two ways has an object that comes and goes, and is dropped with the reason
:data:`CHANGED`.  An item that answers one way was placed wrongly (it changed once,
or was placed through one that changed): :func:`settle` sorts again and proves
again, up to :data:`ROUNDS` times; what is still wrong after that is reported as
changed too.

Cost on a machine where nothing changes: about 2n comparisons per type (next-but-one,
reference) against the sort's n·log2 n; the neighbours were compared again by the
sort's own neighbour pass, after the sort, and are not asked a third time.  The items
without an object (most of them for io and sysvsem) cost one call each: the neighbour
pass compares them with the reference instead of with each other
(:func:`kcmpctl.grouping.sort_groups`), which both finds the reference's class and
proves each of its members, so no pair inside it is asked about (measured with
``strace -f -c -e trace=kcmp``, ``matrix -J -p`` over 2,000 processes in families,
six types: 118k kcmp calls -> 110k; io and sysvsem 8.0k -> 4.0k calls each).
With *runs* (:func:`settle`), tasks next to each other by ID are compared first and
one of each run of equal ones is sorted; each link is a direct comparison, taken by
the proof as that neighbour pair's, and an item found equal to the reference before
the sort is not asked again (the same 2,000: 110k -> 78k calls; io and sysvsem 2.0k
calls each, files and fs 25k -> 12.5k).

Pure, like the grouping engine: tested with fake orders that change, and against
real processes that change (tests/test_changing.py).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Collection, Hashable, Sequence
from typing import Generic, TypeVar, cast

from .errors import CHANGED
from .grouping import Comparator, Grouping, ItemFailed, OrderUnstable, sort_groups

T = TypeVar("T", bound=Hashable)


def verify(
    classes: Sequence[Sequence[T]],
    cmp: Callable[[T, T], int],
    reference: T | None = None,
    probes: int = 6,
    neighbours_proven: bool = False,
    referenced: Collection[T] = (),
    proven: Collection[tuple[T, T]] = (),
) -> tuple[list[list[T]], dict[T, str], set[T]]:
    """*classes* (ascending, each a set of equal items) proven again with *cmp*.

    Returns the classes without the items dropped, the items dropped with their reason
    (:data:`CHANGED`, or the comparator's own for an item that failed: exited, denied),
    and the items the answer is wrong about although they are steady now (they
    changed once, or were placed through one that changed): sorting again places
    them.  *reference*, if one of the items, never changes; every other item is
    compared with it too.

    Each item the answer is wrong about, and its neighbours (through which it may
    have been placed), is asked again and again about the reference
    (:func:`_unsteady`, *probes* times): one whose object comes and goes does not
    answer the same way twice, and is dropped as changed.

    *neighbours_proven*: every neighbour pair was compared again after the sort that
    placed it (the sort's own neighbour pass) and found as *classes* say; they are
    not asked a third time.  *referenced*: items compared with the reference after
    that sort (:attr:`~kcmpctl.grouping.Grouping.referenced`), found as *classes*
    say; they are not asked about it again.  *proven*: pairs ``(a, b)`` compared
    directly after the answer's items were last changed, and found as *classes* say
    (the links of the runs :func:`_runs` found); not asked again.

    What is derived rather than asked: two items of the reference's class (no
    object) are never compared with each other, next-but-one or across a gap.  Each
    is compared with the reference itself, once, after the sort: that proves "no
    object" at that moment for each, and no other relation is claimed between them.
    The next-but-one pairs that straddle the class's edge are compared as usual.
    """
    compare = cmp.compare if isinstance(cmp, Comparator) else cmp
    current = [list(c) for c in classes if c]
    dropped: dict[T, str] = {}
    suspects: set[T] = set()
    #: pairs compared (in a round before this one) and found as the classes say
    held: set[tuple[T, T]] = set(proven)
    first = True
    while True:
        order = [item for cls in current for item in cls]
        #: the class index of each position of *order*
        at_class = [k for k, cls in enumerate(current) for _ in cls]
        home = -1
        if reference is not None:
            for k, cls in enumerate(current):
                if reference in cls:
                    home = k
                    break
        n = len(order)
        wrong: set[T] = set()
        bad: set[tuple[T, T]] = set()
        failed = False
        #: items compared with the reference after the sort, as the classes say
        checked = set(referenced) if first else set()

        # Each item against the next and the one after: an item whose object changes
        # between two calls could link two neighbours that differ ("a < F" once,
        # "F < b" later, although b < a), or part two that are one object; compared
        # directly across it, they show it.  Inlined (no helper per call): this is
        # ~2n of the scan's calls per type.
        for gap in (1, 2):
            if gap == 1 and first and neighbours_proven:
                if home >= 0:
                    i = order.index(cast("T", reference))
                    checked.update(order[max(0, i - 1) : i + 2])
                continue
            for i in range(n - gap):
                k, m = at_class[i], at_class[i + gap]
                if k == home and m == home:
                    continue  # both without an object: each is compared with the reference
                a, b = order[i], order[i + gap]
                if (a, b) in held:
                    continue
                try:
                    sign = compare(a, b)
                except ItemFailed as failure:
                    dropped.setdefault(cast("T", failure.item), failure.reason)
                    failed = True
                    bad.add((a, b))
                    continue
                if sign == (0 if k == m else -1):
                    if a == reference or b == reference:
                        checked.update((a, b))
                else:
                    wrong.update((a, b))
                    bad.add((a, b))
        if first and home >= 0:
            # Against the reference: absent exactly when in its class, and on the side
            # of it the order says.
            for i in range(n):
                item = order[i]
                if item in checked or item == reference or item in dropped:
                    continue
                k = at_class[i]
                expected = 0 if k == home else (-1 if k < home else 1)
                try:
                    sign = compare(item, cast("T", reference))
                except ItemFailed as failure:
                    dropped.setdefault(cast("T", failure.item), failure.reason)
                    failed = True
                    continue
                if sign != expected:
                    wrong.add(item)
        first = False

        wrong.discard(cast("T", reference))
        changed: set[T] = set()
        if wrong and home >= 0:
            at = {item: i for i, item in enumerate(order)}
            near = {
                order[j]
                for i in map(at.__getitem__, wrong)
                for j in range(max(0, i - 1), min(n, i + 2))
            }
            for item in near:
                if (
                    item != reference
                    and item not in dropped
                    and _unsteady(item, compare, cast("T", reference), probes)
                ):
                    changed.add(item)
        if reference is not None and reference in dropped:
            return current, dropped, suspects  # the caller cannot go on without it
        for item in changed:
            dropped.setdefault(item, CHANGED)
        suspects.update(i for i in wrong if i not in dropped)
        if not changed and not failed:
            return current, dropped, suspects
        # Another round: what held in this one is not asked again.
        held.update(p for p in itertools.pairwise(order) if p not in bad)
        held.update(p for p in zip(order, order[2:], strict=False) if p not in bad)
        # Take them out; the neighbours they leave are compared across the gap.
        current = [kept for cls in current if (kept := [i for i in cls if i not in dropped])]


def _unsteady(item: T, cmp: Callable[[T, T], int], reference: T, probes: int) -> bool:
    """Whether *item* answers two ways in *probes* comparisons with the reference,
    the one item that cannot change (a failure counts as a change too).

    Only the reference is asked: asked about a neighbour whose object comes and goes,
    a steady item would answer two ways too.  Without a reference (sighand, which
    every process has and keeps but across exec) nothing is called unsteady, and
    whatever is misplaced is sorted again.
    """
    return _steady_answer(item, cmp, reference, probes) is None


def _steady_answer(item: T, cmp: Callable[[T, T], int], reference: T, probes: int) -> int | None:
    """The one answer *item* gave about the reference, asked *probes* times; ``None``
    once it answers two ways or fails.  Past the first few questions the CPU is
    yielded between two: on a busy machine a process that changes all the time may
    just not be running for a while."""
    first: int | None = None
    for n in range(probes):
        if n >= 6:
            os.sched_yield()
        try:
            sign = cmp(item, reference)
        except ItemFailed:
            return None
        if first is None:
            first = sign
        elif sign != first:
            return None
    return first


def _confirm(
    classes: Sequence[Sequence[T]], cmp: Callable[[T, T], int], reference: T, probes: int
) -> tuple[set[T], set[T]]:
    """The shared classes of an answer whose objects come and go, asked again.

    Each member of a class of two or more (other than the reference's) is asked about
    the reference *probes* times, expecting each time the side of it the answer puts
    its class on (so: an object): one that answers two ways is returned as changed,
    one that steadily answers otherwise (it has none now) as a suspect.  Then the
    class is compared along, each member with the next, and each member asked about
    the reference once more: equal to each other between two spells of having an
    object, they are one object.  A class that no longer holds is returned as
    suspects, to be sorted again.  Cost: only the classes called shared, which for
    these types (CLONE_IO, CLONE_SYSVSEM) are few.
    """
    compare = cmp.compare if isinstance(cmp, Comparator) else cmp
    changed: set[T] = set()
    suspects: set[T] = set()
    home = next((k for k, cls in enumerate(classes) if reference in cls), None)
    if home is None:
        return changed, suspects

    def asked(item: T, expected: int, times: int) -> bool:
        """Whether *item* answered *expected* about the reference *times* times."""
        answer = _steady_answer(item, compare, reference, times)
        if answer is None:
            changed.add(item)
        return answer == expected

    for k, cls in enumerate(classes):
        if len(cls) < 2 or k == home:
            continue
        expected = -1 if k < home else 1
        # Every member asked (no short cut at the first that fails): each one caught
        # answering two ways is named.
        answered = [asked(item, expected, probes) for item in cls]
        held = all(answered)
        if held:
            for a, b in itertools.pairwise(cls):
                try:
                    held = compare(a, b) == 0
                except ItemFailed:
                    held = False
                if not held:
                    break
        if held:
            answered = [asked(item, expected, 1) for item in cls]
            held = all(answered)
        if not held:
            suspects.update(item for item in cls if item not in changed)
    return changed, suspects


#: Hints tried in one window of :func:`_runs`, and the hits that window needs for
#: the next to be tried at once: below one in eight, a hint costs more than it saves.
HINT_WINDOW = 64
HINT_HITS = 8
#: Items passed over without a hint after a window that missed; doubled after each
#: further window that misses, so that a type without runs costs a few windows in
#: all, and one with runs further on (PIDs wrap around) still finds them.
HINT_REST = 128


class _Runs(Generic[T]):
    """Items found equal to the one before them in a hint order: runs of one object."""

    __slots__ = ("absent", "failed", "links", "runs")

    def __init__(self) -> None:
        #: each run's items in the hint order; the first is the one that is sorted
        self.runs: list[list[T]] = []
        #: the neighbour pairs of each run, each compared directly and found equal
        self.links: set[tuple[T, T]] = set()
        #: items found equal to the reference: without an object
        self.absent: list[T] = []
        self.failed: dict[T, str] = {}


class _Window:
    """Whether a kind of hint still pays.  :meth:`take` is asked once for each item,
    :meth:`count` after each try.  A window of :data:`HINT_WINDOW` tries with fewer
    than *needed* hits rests it for the next :data:`HINT_REST` items (twice as many
    after each further window that misses)."""

    __slots__ = ("gap", "hits", "needed", "rest", "tries")

    def __init__(self, needed: int) -> None:
        self.needed = needed
        self.tries = self.hits = self.rest = 0
        self.gap = HINT_REST

    def take(self) -> bool:
        if self.rest:
            self.rest -= 1
            return False
        return True

    def count(self, hit: bool) -> None:
        self.tries += 1
        self.hits += hit
        if self.tries == HINT_WINDOW:
            if self.hits < self.needed:
                self.rest, self.gap = self.gap, 2 * self.gap
            else:
                self.gap = HINT_REST
            self.tries = self.hits = 0

    def stop(self) -> None:
        self.rest = -1  # counts down from there: never 0 again


def _runs(order: Sequence[T], compare: Callable[[T, T], int], reference: T | None) -> _Runs[T]:
    """Compare each item of *order* with the one before it; runs of equal ones.

    Tasks that share an object are often next to each other by ID: the threads of a
    process, a family of processes cloned one after the other.  One item of each run
    is sorted instead of all (matrix over 2,000 processes in families of 1 to 5: a
    third as many sorted for files and fs).  Where the hints miss (address spaces and
    signal handlers are private to nearly every process) they rest (:class:`_Window`):
    a type without runs costs a few windows of calls (256 over 2,000 tasks), and
    runs that begin further on are still found.

    With a *reference*, each item is compared with it first, as long as about half of
    them have no object (I/O contexts and undo lists, on most machines): one call
    proves an item absent, as the proof's own call against the reference would (it
    is not asked again), and it is neither sorted nor linked.

    Every link is an answer of the kernel about the two items, given at one moment;
    the proof (:func:`verify`) takes each as the comparison of those neighbours and
    compares the rest of the order as usual, next-but-one included.  An item that
    fails is left out (in ``failed``); a run split by it keeps its two parts apart,
    for the sort to join if they are one object.
    """
    found: _Runs[T] = _Runs()
    runs, links, absent, failed = found.runs, found.links, found.absent, found.failed
    hints = _Window(HINT_HITS)
    nulls = _Window(HINT_WINDOW // 2) if reference is not None else None
    run: list[T] = []
    for item in order:
        if nulls is not None and nulls.take():
            try:
                sign = compare(item, cast("T", reference))
            except ItemFailed as failure:
                failed.setdefault(cast("T", failure.item), failure.reason)
                if failure.item != item:
                    nulls.stop()  # the reference itself: the sort reports it
                continue
            nulls.count(sign == 0)
            if sign == 0:
                absent.append(item)
                continue
        if run and hints.take():
            prev = run[-1]
            try:
                sign = compare(prev, item)
            except ItemFailed as failure:
                failed.setdefault(cast("T", failure.item), failure.reason)
                if failure.item != prev:
                    continue
                run.pop()
            else:
                hints.count(sign == 0)
                if sign == 0:
                    run.append(item)
                    links.add((prev, item))
                    continue
        run = [item]
        runs.append(run)
    found.runs = [r for r in runs if r]
    return found


#: Questions to an item about the reference in the first proof (doubled each round).
PROBES = 6

#: Sorts of one answer at most: each sorts again what the last one's proof found
#: misplaced; what is still misplaced after the last is reported as changed.
ROUNDS = 6


def settle(
    items: Sequence[T],
    cmp: Callable[[T, T], int],
    *,
    reference: T | None = None,
    prune: Callable[[Sequence[T]], dict[T, str]] | None = None,
    recheck: bool = True,
    comes_and_goes: bool = False,
    runs: bool = False,
) -> Grouping[T]:
    """Group *items* (and *reference*, if given) by *cmp*, then prove the answer again.

    The one place where a scan's comparisons run: :func:`kcmpctl.kcmp.compare` (two
    processes) and :func:`kcmpctl.matrix.group_type` (many) both come here.  What the
    proof finds misplaced is sorted again (from the order found: timsort needs about
    n calls for it) and proven again.  With *recheck* false (every process stopped,
    as ``--freeze`` does) nothing can change and the answer of the sort stands.

    *comes_and_goes*: the items' objects can appear and vanish (an undo list, an I/O
    context).  Two items that were both without one when compared with each other are
    "equal" there, and each may have one by the time it is compared with the
    reference: every check passes, and two objects that were never one would be
    reported shared.  No sequence of separate calls rules that out, so every member of
    a class the answer calls shared is asked about the reference again
    (:func:`_confirm`) until it has answered the same way several times, and only then
    is the class compared along again: a member that answers two ways is dropped as
    changed, a class that no longer holds together is sorted again.

    *runs*: neighbours in the order of *items* often share an object (tasks by ID):
    each is compared with the one before it first, and only one item of each run of
    equal ones is sorted (:func:`_runs`).  A run whose sorted item fails is placed by
    another sort.
    """
    current = [*items, reference] if reference is not None else list(items)
    failed: dict[T, str] = {}
    found: _Runs[T] | None = None
    if runs and len(items) > 2:
        found = _runs(
            [i for i in items if i != reference],
            cmp.compare if isinstance(cmp, Comparator) else cmp,
            reference,
        )
        failed.update(found.failed)
        current = [run[0] for run in found.runs]
        if reference is not None:
            current.append(reference)
    for round_ in range(ROUNDS):
        # The sort's neighbour pass compares each neighbour pair once more after the
        # sort: that is the first half of the proof (about n calls a type saved).
        passed = False
        try:
            grouping = sort_groups(current, cmp, prune=prune, reference=reference)
            passed = True
        except OrderUnstable as err:
            # The order kept changing under the sort: something changes all the
            # time.  The proof finds what, from the last order the sort reached.
            if not recheck or err.last is None:
                raise
            grouping = err.last
        for item, reason in grouping.failed.items():
            failed.setdefault(item, reason)
        classes = grouping.classes
        referenced = grouping.referenced
        proven: set[tuple[T, T]] = set()
        if found is not None:
            members = {run[0]: run for run in found.runs}
            if reference is not None:
                members[reference] = [reference, *found.absent]
            referenced = grouping.referenced | set(found.absent)
            classes = [
                [i for first in cls for i in members.get(first, [first])] for cls in classes
            ]
            # The neighbours the sort compared, and the links of each run.
            if passed:
                proven.update(itertools.pairwise(grouping.order))
            proven |= found.links
            passed = False
            left = [i for first in grouping.failed if first in members for i in members[first][1:]]
            found = None
            if left:
                current = [*(i for cls in classes for i in cls), *left]
                continue
        if not recheck:
            return Grouping(classes, failed)
        # More questions, spread wider, each round that finds something misplaced.
        probes = PROBES << round_
        classes, dropped, suspects = verify(
            classes, cmp, reference, probes, passed, referenced, proven
        )
        for item, reason in dropped.items():
            failed.setdefault(item, reason)
        if reference is not None and reference in failed:
            return Grouping(classes, failed)
        if not suspects and comes_and_goes and reference is not None:
            changed, suspects = _confirm(classes, cmp, reference, probes)
            for item in changed:
                failed.setdefault(item, CHANGED)
            classes = [kept for cls in classes if (kept := [i for i in cls if i not in changed])]
        if not suspects:
            return Grouping(classes, failed)
        current = [item for cls in classes for item in cls]
    for item in suspects:
        failed.setdefault(item, CHANGED)
    return Grouping(
        [kept for cls in classes if (kept := [i for i in cls if i not in suspects])], failed
    )
