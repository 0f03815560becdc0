"""Sort with kcmp as the comparator, then merge equal neighbours into groups.

Within one type and one boot kcmp is a strict total order on kernel objects, so
n items need about n·log2(n) calls instead of the n·(n-1)/2 of all pairs.  The engine
is pure: it takes any comparator, so it is tested with fake total orders, and it
survives items that fail (exited, denied) or change (exited to a zombie mid-sort).
"""

from __future__ import annotations

import errno
import functools
import itertools
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar, cast

from . import _syscall
from .errors import CHANGED as CHANGED
from .kcmp import Resource, Side, culprit, skip_reason

T = TypeVar("T", bound=Hashable)

#: kcmp's 0/1/2/3 as a sort comparator's 0/-1/1; 3 ("unordered", never returned by
#: current kernels) sorts as "after" so that it is at least never "equal".
_SIGN = (0, -1, 1, 1)


class OrderUnstable(RuntimeError):
    """The order kept changing: every round found something exited or out of place.

    ``last`` is where the last round got to (classes by its neighbour pass, out of
    place where a sign is positive), when it got that far; ``None`` otherwise.
    """

    def __init__(self, message: str, last: Grouping[Any] | None = None) -> None:
        super().__init__(message)
        self.last = last


class ItemFailed(Exception):
    """A comparator could not compare *item*: it is dropped with *reason*."""

    def __init__(self, item: Hashable, reason: str, err: int = 0) -> None:
        super().__init__(item, reason)
        self.item = item
        self.reason = reason
        self.errno = err


class Comparator(Generic[T]):
    """A kcmp comparator, and the same comparison made to sort with.

    Calling it compares two items or raises :class:`ItemFailed`.  ``sorting(failed)``
    gives the form a sort uses: it records a failure in *failed* and sorts the failed
    item after the other itself, saving the Python call of a wrapper on each of the
    ~n·log2 n comparisons (~6 % of a sort's time here).
    """

    __slots__ = ("compare", "sorting")

    def __init__(
        self,
        compare: Callable[[T, T], int],
        sorting: Callable[[dict[T, str]], Callable[[T, T], int]],
    ) -> None:
        self.compare = compare
        self.sorting = sorting

    def __call__(self, a: T, b: T) -> int:
        return self.compare(a, b)


class Grouping(Generic[T]):
    """Equivalence classes in ascending order, and the items that could not be placed.

    A plain class, not a dataclass: ``pair`` imports this module, and the dataclasses
    module costs its start-up a few milliseconds.
    """

    __slots__ = ("classes", "failed", "referenced")

    def __init__(
        self, classes: list[list[T]] | None = None, failed: dict[T, str] | None = None
    ) -> None:
        self.classes: list[list[T]] = [] if classes is None else classes
        self.failed: dict[T, str] = {} if failed is None else failed
        #: the items compared directly with the reference after the sort that placed
        #: them (the reference's class, and the first item past it on either side)
        self.referenced: set[T] = set()

    def __repr__(self) -> str:
        return f"Grouping({self.classes!r}, {self.failed!r})"

    @property
    def order(self) -> list[T]:
        return [item for cls in self.classes for item in cls]


def sort_groups(
    items: Sequence[T],
    cmp: Callable[[T, T], int],
    *,
    prune: Callable[[Sequence[T]], dict[T, str]] | None = None,
    max_rounds: int = 8,
    reference: T | None = None,
) -> Grouping[T]:
    """Group *items* by *cmp* (negative, zero, positive), ascending.

    *cmp* may raise :class:`ItemFailed`: the item is dropped with its reason.  A
    failure does not end the sort: from then on the failed item sorts after every
    other, so on a busy machine a process exiting mid-scan costs the calls that name
    it, not a sort.  After the sort every neighbour pair is compared once more: that
    both finds the groups and proves the order, which a process that exited mid-sort
    (its objects turned NULL, or it failed after it had been placed) could have
    broken.  *prune* names items that became invalid (exited, PID reused); they are
    dropped too.  The gap an item dropped in the neighbour pass leaves is proven by
    comparing across it; runs found out of order are merged where they overlap.  Only
    an order far out of place costs another round, which sorts the previous order.

    With a *reference* among *items* (an item that has no object: see
    :func:`kcmpctl.verify.settle`), its class is found by comparing each item around
    it with the reference itself rather than with its neighbour (:func:`_walk`): the
    same number of calls, and each of them proves, after the sort, that the item has
    no object (or, for the first one past the class, that it has one).  Those items
    are given back in ``referenced``.
    """
    result: Grouping[T] = Grouping()
    failed = result.failed
    key = functools.cmp_to_key(_failures_last(cmp, failed))
    if isinstance(cmp, Comparator):
        cmp = cmp.compare
    current = list(items)
    signs: list[int] = []
    for _ in range(max_rounds):
        ordered = sorted(current, key=key)
        if failed:
            ordered = [i for i in ordered if i not in failed]
        referenced: set[T] = set()
        current, signs, proven = _prove(ordered, cmp, failed, prune, reference, referenced)
        if proven:
            result.classes = _classes(current, signs)
            result.referenced = referenced
            break
    else:
        last = None
        if len(signs) == len(current) - 1:
            last = Grouping(_classes(current, signs), dict(failed))
        raise OrderUnstable("the kernel's order kept changing while sorting; try again", last)
    return result


def _failures_last(cmp: Callable[[T, T], int], failed: dict[T, str]) -> Callable[[T, T], int]:
    """*cmp* that records failures in *failed* and sorts the failed item after the other.

    A failed item fails again in each later call (it exited, its fd was closed), so it
    keeps sorting last; where it had been placed before it failed, items around it may
    end up out of place, which the neighbour pass finds.
    """
    if isinstance(cmp, Comparator):
        return cast("Callable[[T, T], int]", cmp.sorting(failed))

    def compare(a: T, b: T) -> int:
        try:
            return cmp(a, b)
        except ItemFailed as failure:
            failed.setdefault(cast("T", failure.item), failure.reason)
            return 1 if failure.item == a else -1

    return compare


#: Runs out of order merged by the neighbour pass itself, at most: past that, a sort of
#: the order found is cheaper.
_MAX_RUNS = 16


def _prove(
    order: list[T],
    cmp: Callable[[T, T], int],
    failed: dict[T, str],
    prune: Callable[[Sequence[T]], dict[T, str]] | None,
    reference: T | None = None,
    referenced: set[T] | None = None,
) -> tuple[list[T], list[int], bool]:
    """The neighbour pass: *order* without the items that failed or were pruned, the
    sign of each neighbour pair, each compared directly, and whether that proves the
    order.  When it does not, the list given back is the order to sort again.

    An item that failed after the sort had placed it may have left a stretch of the
    order out of place (timsort merged past it): the pass then holds a few runs, each
    in order, which it merges, comparing only where they overlap.  Pruning follows
    the comparisons, so that an item that exited meanwhile (its NULLs equal to other
    NULLs) links nothing: its neighbours are compared across it.

    With a *reference*, the pairs around it are signed by :func:`_walk` first, and
    the items it compared are added to *referenced* (emptied again if the order has
    to be merged: the classes are then not those the walk saw).
    """
    items = order
    #: known[i]: the sign of (items[i], items[i + 1]), None until compared
    known: list[int | None] = [None] * max(0, len(items) - 1)
    if reference is not None and referenced is not None:
        _walk(items, reference, cmp, failed, known, referenced)
    while True:
        items, signs = _compare_gaps(items, known, cmp, failed)
        if any(sign > 0 for sign in signs):
            if referenced:
                referenced.clear()
            merged = _merge_runs(items, signs, cmp, failed)
            if merged is None:
                return [i for i in items if i not in failed], signs, False
            items, signs = merged
        dropped = {i: failed[i] for i in items if i in failed}
        if prune is not None:
            dropped.update(prune(items))
        if not dropped:
            return items, signs, True
        failed.update(dropped)
        kept: list[T] = []
        known = []
        gap = False
        for i, item in enumerate(items):
            if item in dropped:
                gap = True
                continue
            if kept:
                known.append(None if gap else signs[i - 1])
            kept.append(item)
            gap = False
        items = kept


def _walk(
    items: list[T],
    reference: T,
    cmp: Callable[[T, T], int],
    failed: dict[T, str],
    known: list[int | None],
    referenced: set[T],
) -> None:
    """Sign the neighbour pairs of the reference's class in *known* by comparing each
    item from the reference outwards with the reference itself, up to the first item
    on either side that differs from it.

    A neighbour pass would compare the same pairs, one call each, but "x equals its
    neighbour" proves x has no object only by a chain back to the reference, which
    an item whose object comes and goes could break; "x equals the reference" proves
    it directly, at that moment.  Two neighbours that each equal the reference are
    signed 0 (both have no object), and the first item past the class is signed as
    it compares with the reference (every item of the class is absent, like it).
    An item that fails ends the walk on its side: the neighbour pass compares the
    pairs left unsigned as usual, bridging the failed item.
    """
    try:
        at = items.index(reference)
    except ValueError:
        return
    for step in (-1, 1):
        j = at + step
        while 0 <= j < len(items):
            item = items[j]
            try:
                sign = cmp(item, reference)
            except ItemFailed as failure:
                failed.setdefault(cast("T", failure.item), failure.reason)
                if failure.item == reference:
                    return
                break
            referenced.add(item)
            # known[k] signs (items[k], items[k + 1]); the side toward the reference
            # stands for the reference
            if step < 0:
                known[j] = sign
            else:
                known[j - 1] = -sign
            if sign:
                break
            j += step


def _compare_gaps(
    items: list[T], known: list[int | None], cmp: Callable[[T, T], int], failed: dict[T, str]
) -> tuple[list[T], list[int]]:
    """Compare each neighbour pair whose sign is not *known*; drop items that fail and
    compare across the gap each leaves.  Signs > 0 mark where a run out of order
    begins."""
    # First without the bookkeeping a failure needs (n calls a type, most of them
    # failing nowhere); at a failure, from the start with what was compared known,
    # so only the call that failed is made again.
    signs: list[int] = []
    append = signs.append
    try:
        for i in range(len(items) - 1):
            sign = known[i]
            append(cmp(items[i], items[i + 1]) if sign is None else sign)
    except ItemFailed:
        known = [*signs, *known[len(signs) :]]
    else:
        return items, signs
    kept: list[T] = []
    at: list[int] = []  # index in *items* of each kept item
    signs = []
    for j, item in enumerate(items):
        while kept:
            sign = known[j - 1] if at[-1] == j - 1 else None
            if sign is None:
                try:
                    sign = cmp(kept[-1], item)
                except ItemFailed as failure:
                    failed.setdefault(cast("T", failure.item), failure.reason)
                    if failure.item == item:
                        break
                    kept.pop()
                    at.pop()
                    if signs:
                        signs.pop()
                    continue
            signs.append(sign)
            kept.append(item)
            at.append(j)
            break
        else:
            kept.append(item)
            at.append(j)
    return kept, signs


def _merge_runs(
    items: list[T], signs: list[int], cmp: Callable[[T, T], int], failed: dict[T, str]
) -> tuple[list[T], list[int]] | None:
    """Merge the runs of *items* (split where a sign is > 0) into one, each neighbour
    pair's sign from a direct comparison; None if there are too many runs, or an item
    failed."""
    starts = [0, *(k + 1 for k, sign in enumerate(signs) if sign > 0), len(items)]
    if len(starts) - 1 > _MAX_RUNS:
        return None
    merged, merged_signs = items[: starts[1]], signs[: starts[1] - 1]
    try:
        for lo, hi in itertools.pairwise(starts[1:]):
            merged, merged_signs = _merge(
                merged, merged_signs, items[lo:hi], signs[lo : hi - 1], cmp
            )
    except ItemFailed as failure:
        failed.setdefault(cast("T", failure.item), failure.reason)
        return None
    return merged, merged_signs


def _merge(
    xs: list[T], x_signs: list[int], ys: list[T], y_signs: list[int], cmp: Callable[[T, T], int]
) -> tuple[list[T], list[int]]:
    """Two runs in order, with their neighbour signs, merged (ties: *xs* first).

    The items of *xs* up to ys[0] are found by binary search, not one by one: a run
    out of place after a failure overlaps only the end of what precedes it.  Every
    neighbour pair of the result was compared directly: within a run, by the search
    (its bracket), or by the step that chose between the two heads.
    """
    lo, hi, below = 0, len(xs), 0
    while lo < hi:
        mid = (lo + hi) // 2
        sign = cmp(xs[mid], ys[0])
        if sign <= 0:
            lo, below = mid + 1, sign
        else:
            hi = mid
    out, out_signs = xs[:lo], x_signs[: max(0, lo - 1)]
    i, j = lo, 0
    #: the sign between out[-1] and the other run's head, from the last comparison
    link = below
    from_x = True  # out[-1] came from xs
    while i < len(xs) and j < len(ys):
        sign = cmp(xs[i], ys[j])
        if sign <= 0:
            if out:
                out_signs.append(x_signs[i - 1] if from_x else link)
            out.append(xs[i])
            i, link, from_x = i + 1, sign, True
        else:
            if out:
                out_signs.append(link if from_x else y_signs[j - 1])
            out.append(ys[j])
            j, link, from_x = j + 1, -1, False
    for k in range(i, len(xs)):  # ys is used up: out[-1] came from ys
        out_signs.append(link if k == i else x_signs[k - 1])
        out.append(xs[k])
    for k in range(j, len(ys)):  # xs is used up: out[-1] came from xs
        out_signs.append(link if k == j else y_signs[k - 1])
        out.append(ys[k])
    return out, out_signs


def _classes(order: list[T], signs: list[int]) -> list[list[T]]:
    classes: list[list[T]] = []
    for i, item in enumerate(order):
        if i and signs[i - 1] == 0:
            classes[-1].append(item)
        else:
            classes.append([item])
    return classes


def task_comparator(resource: Resource) -> Comparator[int]:
    """A comparator on task IDs for one task type: one bare kcmp call per comparison.

    Failures raise :class:`ItemFailed` naming the ID that failed (the one that no
    longer exists, or is not accessible).
    """
    if not resource.is_task_type:
        raise ValueError(f"{resource.cli_name} compares fds, not tasks")
    syscall, number = _syscall.bare_task()
    type_ = int(resource)
    sign = _SIGN

    def again(a: int, b: int) -> int:
        # The fast call keeps no errno: the failure is asked once more with it.  An
        # answer now is as good as any (the trouble passed: it was not one's own).
        r, err = _syscall.task_errno(a, b, type_)
        if r >= 0:
            return sign[r]
        raise _failed((Side(a), Side(b)), resource, err)

    def cmp(a: int, b: int) -> int:
        r: int = syscall(number, a, b, type_)
        if r >= 0:
            return sign[r]
        return again(a, b)

    def sorting(failed: dict[int, str]) -> Callable[[int, int], int]:
        def sort_cmp(a: int, b: int) -> int:
            r: int = syscall(number, a, b, type_)
            if r >= 0:
                return sign[r]
            try:
                return again(a, b)
            except ItemFailed as failure:
                return _sort_last(failure, a, failed)

        return sort_cmp

    return Comparator(cmp, sorting)


def _sort_last(failure: ItemFailed, a: Hashable, failed: dict[Any, str]) -> int:
    """Record *failure* and sort its item after the other one: 1 if it is *a*."""
    failed.setdefault(failure.item, failure.reason)
    return 1 if failure.item == a else -1


def _failed(sides: tuple[Side, Side], resource: Resource, err: int) -> ItemFailed:
    """The item a failed call is about, found by the one translation (kcmp.culprit).

    When neither side fails on its own any more, the guess is the second for ESRCH
    and the first otherwise, as before: the sort keeps going either way.
    """
    found = culprit(sides, resource)
    if found is None:
        which, code = (sides[1] if err == errno.ESRCH else sides[0]), err
    else:
        which, code = found
    fd = which.fd is not None
    item: Hashable = (which.task, which.fd) if fd else which.task
    return ItemFailed(item, skip_reason(code, fd), code)


#: An fd as KCMP_FILE takes it: ``(task ID, fd)``.
FdRef = tuple[int, int]


def file_comparator() -> Comparator[FdRef]:
    """A comparator on ``(task ID, fd)`` items for KCMP_FILE: one bare kcmp call each.

    Failures raise :class:`ItemFailed` naming the item that failed: EBADF means its fd
    was closed since it was listed (or its process exited: a zombie has no fd table).
    """
    # Every argument fits a C int (the kernel reads the fds as unsigned int): the call
    # that converts none of them, ~2 us less a call here; a failure is asked again
    # through the call that keeps errno.
    quick, nr = _syscall.bare_task()
    syscall, number = _syscall.bare()
    type_ = int(Resource.FILE)
    sign = _SIGN
    from ctypes import get_errno

    def again(a: FdRef, b: FdRef) -> int:
        # The trouble may have passed: an answer now is as good as any.
        r: int = syscall(number, a[0], b[0], type_, a[1], b[1])
        if r >= 0:
            return sign[r]
        sides = Side(a[0], a[0], a[1]), Side(b[0], b[0], b[1])
        raise _failed(sides, Resource.FILE, get_errno())

    def cmp(a: FdRef, b: FdRef) -> int:
        r: int = quick(nr, a[0], b[0], type_, a[1], b[1])
        if r >= 0:
            return sign[r]
        return again(a, b)

    def sorting(failures: dict[FdRef, str]) -> Callable[[FdRef, FdRef], int]:
        def sort_cmp(a: FdRef, b: FdRef) -> int:
            r: int = quick(nr, a[0], b[0], type_, a[1], b[1])
            if r >= 0:
                return sign[r]
            try:
                return again(a, b)
            except ItemFailed as failure:
                return _sort_last(failure, a, failures)

        return sort_cmp

    return Comparator(cmp, sorting)


class Settled(Generic[T]):
    """Classes proven on one order, the items seen changing, and the items that failed."""

    __slots__ = ("changed", "classes", "failed", "unproven")

    def __init__(self) -> None:
        self.classes: list[list[T]] = []
        self.changed: list[T] = []
        self.failed: dict[T, str] = {}
        #: items of a contradiction left in a class of their own, unproven either way
        self.unproven: set[T] = set()


#: Rounds of :func:`settle` before every item of a remaining contradiction is held changed.
SETTLE_ROUNDS = 4
#: Fresh looks at each pair of a contradiction in the first round, to see which item's
#: answers vary (doubled each round).
_LOOKS = 2


def settle(order: Sequence[T], cmp: Callable[[T, T], int]) -> Settled[T]:
    """Prove the classes of a sorted *order* anew, and find the items that changed.

    A neighbour pass links comparisons made at different moments: an fd that moves
    from one description to another between two calls links both ("a = F" then
    "F = b"), although a and b differ.  So each item is compared with the next one
    and with the one after it.  With at most one changing item among any three
    neighbours, a and b are then compared directly across F, and a contradiction
    shows (a = F = b but a ≠ b; a = b but a < F ≤ b); the items that never change are
    grouped exactly, and a changing item joins a class only through an equality that
    held at one moment.  A contradiction is looked at again: an item whose answers
    against two partners vary while theirs against each other do not is the one that
    changed, and is set aside in ``changed``; then the rest is sorted and proven
    again.  After :data:`SETTLE_ROUNDS` rounds every item of a contradiction left is
    set aside.  Items that fail (:class:`ItemFailed`) are dropped into ``failed``.
    """
    result: Settled[T] = Settled()
    compare = _failures_last(cmp, result.failed)
    current = list(order)
    rounds = 0
    while True:
        if rounds:
            current = sorted(current, key=functools.cmp_to_key(compare))
        known = len(result.failed)
        near = [compare(a, b) for a, b in itertools.pairwise(current)]
        far = [compare(a, c) for a, c in zip(current, current[2:], strict=False)]
        if len(result.failed) > known:
            current = [i for i in current if i not in result.failed]
            continue  # an item failed: prove the order without it
        spots = _contradictions(near, far)
        if not spots:
            result.classes = _classes(current, near)
            return result
        rounds += 1
        seen = _answers(current, near, far)
        suspects = {current[j] for i in spots for j in range(i, min(i + 3, len(current)))}
        # Twice as many looks each round: a fast dup2 loop shows in a few.
        blamed = _changed(suspects, seen, compare, _LOOKS << rounds) - result.failed.keys()
        if not blamed and rounds >= SETTLE_ROUNDS:
            # Nothing to pin it on (two items alone, say): each suspect is left in a
            # class of its own, which claims nothing.
            result.classes = _classes_apart(current, near, suspects)
            result.unproven = suspects
            return result
        result.changed.extend(i for i in current if i in blamed)
        current = [i for i in current if i not in blamed and i not in result.failed]


def sort_settled(items: Sequence[T], cmp: Callable[[T, T], int]) -> Settled[T]:
    """*items* sorted with *cmp* and proven by :func:`settle`: the classes ascending."""
    failed: dict[T, str] = {}
    try:
        # The bare comparator until something fails: the wrapper costs a Python call
        # per comparison (~15% of a 19,000-fd bucket).
        ordered = sorted(items, key=functools.cmp_to_key(cmp))
    except ItemFailed as failure:
        failed[cast("T", failure.item)] = failure.reason
        rest = [i for i in items if i not in failed]
        ordered = sorted(rest, key=functools.cmp_to_key(_failures_last(cmp, failed)))
    settled = settle([i for i in ordered if i not in failed], cmp)
    settled.failed.update(failed)
    return settled


def sort_apart(
    items: Sequence[T], cmp: Callable[[T, T], int], key: Callable[[T], Hashable]
) -> Settled[T]:
    """:func:`sort_settled` within each part of *items* of one *key*, parts never joined.

    For a *key* that can only prove difference (an immutable property of the kernel
    object, read at any moment: items with different keys are different objects;
    equal keys prove nothing).  Items whose key was read before or after they changed
    can be kept apart from their object's class, never put in another's: the classes
    stay exact for items that do not change.  A part of one item is a class without a
    call; the classes ascend within each part, not across parts.
    """
    parts: dict[Hashable, list[T]] = {}
    for item in items:
        parts.setdefault(key(item), []).append(item)
    result: Settled[T] = Settled()
    for part in parts.values():
        if len(part) == 1:
            result.classes.append(part)
            continue
        settled = sort_settled(part, cmp)
        result.classes += settled.classes
        result.changed += settled.changed
        result.failed.update(settled.failed)
        result.unproven |= settled.unproven
    return result


def _classes_apart(order: list[T], near: list[int], apart: set[T]) -> list[list[T]]:
    """Runs of equal neighbours, each item of *apart* in a class of its own."""
    classes: list[list[T]] = []
    for i, item in enumerate(order):
        if i and near[i - 1] == 0 and item not in apart and order[i - 1] not in apart:
            classes[-1].append(item)
        else:
            classes.append([item])
    return classes


def _contradictions(near: list[int], far: list[int]) -> list[int]:
    """Where three neighbours (i, i+1, i+2), or two at the end, cannot be in one order."""
    spots = [i for i, sign in enumerate(near) if sign > 0]
    for i, sign in enumerate(far):
        equal_links = near[i] == 0 and near[i + 1] == 0
        if sign > 0 or equal_links != (sign == 0):
            spots.append(i)
    return sorted(set(spots))


def _answers(current: list[T], near: list[int], far: list[int]) -> dict[tuple[T, T], set[int]]:
    seen: dict[tuple[T, T], set[int]] = {}
    for (a, b), sign in zip(itertools.pairwise(current), near, strict=True):
        seen[(a, b)] = {sign}
    for a, c, sign in zip(current, current[2:], far, strict=False):
        seen[(a, c)] = {sign}
    return seen


def _changed(
    suspects: set[T],
    seen: dict[tuple[T, T], set[int]],
    compare: Callable[[T, T], int],
    looks: int,
) -> set[T]:
    """The suspects whose answers against two or more partners varied between looks."""
    pairs = [pair for pair in seen if pair[0] in suspects or pair[1] in suspects]
    for _ in range(looks):
        for pair in pairs:
            seen[pair].add(compare(*pair))
    varied: dict[T, int] = {}
    for a, b in pairs:
        if len(seen[(a, b)]) > 1:
            varied[a] = varied.get(a, 0) + 1
            varied[b] = varied.get(b, 0) + 1
    return {item for item, count in varied.items() if count >= 2 and item in suspects}
