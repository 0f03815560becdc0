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
from dataclasses import dataclass, field
from typing import Generic, TypeVar, cast

from . import _syscall
from .kcmp import Resource, Side, culprit, skip_reason

T = TypeVar("T", bound=Hashable)

#: kcmp's 0/1/2/3 as a sort comparator's 0/-1/1; 3 ("unordered", never returned by
#: current kernels) sorts as "after" so that it is at least never "equal".
_SIGN = (0, -1, 1, 1)


class OrderUnstable(RuntimeError):
    """The order kept changing: every round found something exited or out of place."""


class ItemFailed(Exception):
    """A comparator could not compare *item*: it is dropped with *reason*."""

    def __init__(self, item: Hashable, reason: str, err: int = 0) -> None:
        super().__init__(item, reason)
        self.item = item
        self.reason = reason
        self.errno = err


@dataclass
class Grouping(Generic[T]):
    """Equivalence classes in ascending order, and the items that could not be placed."""

    classes: list[list[T]] = field(default_factory=list)
    failed: dict[T, str] = field(default_factory=dict)

    @property
    def order(self) -> list[T]:
        return [item for cls in self.classes for item in cls]


def sort_groups(
    items: Sequence[T],
    cmp: Callable[[T, T], int],
    *,
    prune: Callable[[Sequence[T]], dict[T, str]] | None = None,
    max_rounds: int = 8,
) -> Grouping[T]:
    """Group *items* by *cmp* (negative, zero, positive), ascending.

    *cmp* may raise :class:`ItemFailed`: the item is dropped.  The first failure ends
    that sort; from then on failed items sort last and are dropped after the sort, so
    that on a busy machine each process exiting mid-scan does not cost a whole sort
    (nor a round).  After each sort every neighbour pair is compared once more: that
    both finds the groups and proves the order, which a process that exited mid-sort
    (its objects turned NULL) could have broken.  *prune*, called after each sort,
    names items that became invalid (exited, PID reused); they are dropped too.  The
    next round sorts the previous order, which timsort finishes in about n calls.
    """
    result: Grouping[T] = Grouping()
    failed = result.failed
    compare = cmp
    current = list(items)
    for _ in range(max_rounds):
        try:
            ordered = sorted(current, key=functools.cmp_to_key(compare))
            if failed:
                ordered = [i for i in ordered if i not in failed]
            known = len(failed)
            signs = [compare(a, b) for a, b in itertools.pairwise(ordered)]
        except ItemFailed as failure:  # only the bare comparator raises
            failed[cast("T", failure.item)] = failure.reason
            current = [i for i in current if i not in failed]
            # The bare comparator stays in the hot loop until something fails: the
            # wrapper costs a Python call per comparison.
            compare = _failures_last(cmp, failed)
            continue
        current = ordered
        if len(failed) > known:
            continue  # an item failed in the neighbour pass: its signs prove nothing
        dropped = prune(current) if prune is not None else {}
        if dropped:
            failed.update(dropped)
            current = [i for i in current if i not in dropped]
            continue
        if all(sign <= 0 for sign in signs):
            result.classes = _classes(current, signs)
            break
    else:
        raise OrderUnstable("the kernel's order kept changing while sorting; try again")
    return result


def _failures_last(cmp: Callable[[T, T], int], failed: dict[T, str]) -> Callable[[T, T], int]:
    """*cmp* that records failures and sorts the failed item after the other."""

    def compare(a: T, b: T) -> int:
        try:
            return cmp(a, b)
        except ItemFailed as failure:
            failed.setdefault(cast("T", failure.item), failure.reason)
            return 1 if failure.item == a else -1

    return compare


def _classes(order: list[T], signs: list[int]) -> list[list[T]]:
    classes: list[list[T]] = []
    for i, item in enumerate(order):
        if i and signs[i - 1] == 0:
            classes[-1].append(item)
        else:
            classes.append([item])
    return classes


def task_comparator(resource: Resource) -> Callable[[int, int], int]:
    """A comparator on task IDs for one task type: one bare kcmp call per comparison.

    Failures raise :class:`ItemFailed` naming the ID that failed (the one that no
    longer exists, or is not accessible).
    """
    if not resource.is_task_type:
        raise ValueError(f"{resource.cli_name} compares fds, not tasks")
    syscall, number = _syscall.bare_task()
    type_ = int(resource)
    sign = _SIGN
    from ctypes import get_errno

    def cmp(a: int, b: int) -> int:
        r: int = syscall(number, a, b, type_, 0, 0)
        if r >= 0:
            return sign[r]
        raise _failed((Side(a), Side(b)), resource, get_errno())

    return cmp


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


def file_comparator() -> Callable[[FdRef, FdRef], int]:
    """A comparator on ``(task ID, fd)`` items for KCMP_FILE: one bare kcmp call each.

    Failures raise :class:`ItemFailed` naming the item that failed: EBADF means its fd
    was closed since it was listed (or its process exited: a zombie has no fd table).
    """
    syscall, number = _syscall.bare()
    type_ = int(Resource.FILE)
    sign = _SIGN
    from ctypes import get_errno

    def cmp(a: FdRef, b: FdRef) -> int:
        r = syscall(number, a[0], b[0], type_, a[1], b[1])
        if r >= 0:
            return sign[r]
        raise _failed((Side(a[0], a[0], a[1]), Side(b[0], b[0], b[1])), Resource.FILE, get_errno())

    return cmp


#: The reason recorded for an item whose kernel object changed while it was compared.
CHANGED = "changed during the scan"


@dataclass
class Settled(Generic[T]):
    """Classes proven on one order, the items seen changing, and the items that failed."""

    classes: list[list[T]] = field(default_factory=list)
    changed: list[T] = field(default_factory=list)
    failed: dict[T, str] = field(default_factory=dict)


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
            return result
        result.changed.extend(i for i in current if i in blamed)
        current = [i for i in current if i not in blamed and i not in result.failed]


def sort_settled(items: Sequence[T], cmp: Callable[[T, T], int]) -> Settled[T]:
    """*items* sorted with *cmp* and proven by :func:`settle`: the classes ascending."""
    failed: dict[T, str] = {}
    ordered = sorted(items, key=functools.cmp_to_key(_failures_last(cmp, failed)))
    settled = settle([i for i in ordered if i not in failed], cmp)
    settled.failed.update(failed)
    return settled


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
