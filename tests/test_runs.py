"""Runs of equal neighbours (tasks by ID) sorted once: the same answer, fewer calls."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from hypothesis import given
from hypothesis import strategies as st

from kcmpctl.grouping import Grouping, ItemFailed
from kcmpctl.verify import HINT_WINDOW, settle

REFERENCE = 10_000

#: (key, length) of each run of neighbours; key 0 is the reference's: no object
runs_st = st.lists(st.tuples(st.integers(0, 9), st.integers(1, 5)), min_size=1, max_size=50)


def laid_out(runs: Sequence[tuple[int, int]]) -> dict[int, int]:
    """Item -> key, the items of each run next to each other, the reference's key 0."""
    keys: dict[int, int] = {}
    for key, length in runs:
        for _ in range(length):
            keys[len(keys)] = key
    keys[REFERENCE] = 0
    return keys


def counting(keys: dict[int, int]) -> tuple[Callable[[int, int], int], list[int]]:
    calls = [0]

    def cmp(a: int, b: int) -> int:
        calls[0] += 1
        return (keys[a] > keys[b]) - (keys[a] < keys[b])

    return cmp, calls


Answer = tuple[Grouping[int], int]


def both_ways(keys: dict[int, int]) -> tuple[Answer, Answer]:
    """The answer and the calls of a plain settle of *keys*' items, and of one with
    runs."""
    items = [i for i in keys if i != REFERENCE]
    answers = []
    for runs in (False, True):
        cmp, calls = counting(keys)
        answers.append((settle(items, cmp, reference=REFERENCE, runs=runs), calls[0]))
    return answers[0], answers[1]


def by_key(classes: list[list[int]], keys: dict[int, int]) -> list[tuple[int, list[int]]]:
    """Each class's key and items; checks that the classes ascend, one key each."""
    found = []
    for cls in classes:
        (key,) = {keys[i] for i in cls}
        found.append((key, sorted(cls)))
    assert [k for k, _ in found] == sorted({k for k, _ in found})
    return found


@given(runs=runs_st)
def test_runs_give_the_answer_of_the_plain_sort(runs: list[tuple[int, int]]) -> None:
    keys = laid_out(runs)
    (plain, plain_calls), (hinted, calls) = both_ways(keys)
    assert hinted.failed == plain.failed == {}
    assert by_key(hinted.classes, keys) == by_key(plain.classes, keys)
    # Where they miss, the hints and the questions to the reference rest after a
    # window (at most 50 runs of 5 here: 250 items, one window of each).
    assert calls <= plain_calls + 2 * HINT_WINDOW


def test_runs_sort_one_item_of_each() -> None:
    # 2,000 items in runs of 1 to 5 sharing a key, every key its own: the sort sees
    # 667 items, not 2,000.  The keys in no order (a sorted input costs timsort n calls).
    keys = laid_out([((k * 7919) % 10_007 + 1, k % 5 + 1) for k in range(667)])
    (_, plain), (hinted, calls) = both_ways(
        {i: k for i, k in keys.items() if i < 2000 or i == REFERENCE}
    )
    assert len(hinted.classes) == 668
    assert calls < 0.6 * plain


def test_runs_ask_each_absent_item_once() -> None:
    # Nobody has an object (io, sysvsem on most machines): one call each against the
    # reference, which proves it, and nothing else.
    keys = laid_out([(0, 1000)])
    cmp, calls = counting(keys)
    grouping = settle(list(range(1000)), cmp, reference=REFERENCE, runs=True)
    assert [sorted(cls) for cls in grouping.classes] == [[*range(1000), REFERENCE]]
    assert calls[0] == 1000


def test_hints_that_miss_rest() -> None:
    # Every item its own object: the hints rest after a window that misses, the
    # questions to the reference too, each for longer after each further miss.
    (_, plain), (_, calls) = both_ways(
        laid_out([((k * 7919) % 10_007 + 1, 1) for k in range(2000)])
    )
    assert calls <= plain + 8 * HINT_WINDOW


def test_runs_further_on_are_found() -> None:
    # 300 items each its own object first (PIDs that wrapped around), then runs of
    # three: the hints rest over the first, not for good.
    alone = [((k * 7919) % 10_007 + 20_000, 1) for k in range(300)]
    (_, plain), (hinted, calls) = both_ways(
        laid_out(alone + [((k * 7919) % 10_007 + 1, 3) for k in range(600)])
    )
    assert len(hinted.classes) == 901
    assert calls < 0.7 * plain


@given(runs=runs_st, data=st.data())
def test_runs_survive_items_that_exit(runs: list[tuple[int, int]], data: st.DataObject) -> None:
    # Items exit (their objects NULL, as the reference's) and are reaped (the calls
    # naming them fail) at random moments, the first of a run too: no class ever
    # holds two steady items of different keys, none of an exited item is kept, and
    # every steady item is placed.
    keys = laid_out(runs)
    items = [i for i in keys if i != REFERENCE]
    moments = st.none() | st.tuples(st.integers(0, 300), st.integers(0, 300))
    drawn = data.draw(st.lists(moments, min_size=len(items), max_size=len(items)))
    life = dict(zip(items, drawn, strict=True))
    calls = [0]

    def exited(item: int) -> bool:
        when = life.get(item)
        return when is not None and calls[0] > when[0]

    def cmp(a: int, b: int) -> int:
        calls[0] += 1
        for item in (a, b):
            when = life.get(item)
            if when is not None and calls[0] > when[0] + when[1]:
                raise ItemFailed(item, "exited")
        ka, kb = (0 if exited(i) else keys[i] for i in (a, b))
        return (ka > kb) - (ka < kb)

    def prune(current: Sequence[int]) -> dict[int, str]:
        return {i: "exited" for i in current if exited(i)}

    grouping = settle(items, cmp, reference=REFERENCE, prune=prune, runs=True)
    assert REFERENCE not in grouping.failed
    assert all(life[i] is not None for i in grouping.failed)
    placed = {i for cls in grouping.classes for i in cls}
    steady = {i for i in items if life[i] is None}
    assert steady <= placed
    for cls in grouping.classes:
        kept = [i for i in cls if i in steady]
        assert len({keys[i] for i in kept}) <= 1
        if REFERENCE in cls:
            assert all(keys[i] == 0 for i in kept)
        else:
            assert all(keys[i] != 0 for i in kept)
