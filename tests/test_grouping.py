"""The grouping engine with fake comparators: random total orders with ties."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kcmpctl.grouping import (
    ItemFailed,
    OrderUnstable,
    sort_groups,
    sort_settled,
    task_comparator,
)
from kcmpctl.kcmp import Resource


def by_key(
    keys: Sequence[int], failing: Callable[[int], bool] = lambda _: False
) -> Callable[[int, int], int]:
    """A comparator on item indexes ordering by *keys*; *failing(item)* makes it raise."""

    def cmp(a: int, b: int) -> int:
        for item in (a, b):
            if failing(item):
                raise ItemFailed(item, "gone")
        return (keys[a] > keys[b]) - (keys[a] < keys[b])

    return cmp


def check_classes(classes: list[list[int]], keys: Sequence[int], expected: set[int]) -> None:
    """Classes partition *expected*, one key per class, keys strictly ascending."""
    members = [i for cls in classes for i in cls]
    assert sorted(members) == sorted(expected)
    class_keys = []
    for cls in classes:
        assert len({keys[i] for i in cls}) == 1
        class_keys.append(keys[cls[0]])
    assert class_keys == sorted(set(class_keys))


keys_st = st.lists(st.integers(0, 12), min_size=1, max_size=60)


@given(keys=keys_st)
def test_groups_are_the_ties_in_ascending_order(keys: list[int]) -> None:
    result = sort_groups(list(range(len(keys))), by_key(keys))
    check_classes(result.classes, keys, set(range(len(keys))))
    assert result.failed == {}


@given(keys=keys_st, data=st.data())
def test_items_that_fail_are_dropped_and_named(keys: list[int], data: st.DataObject) -> None:
    items = list(range(len(keys)))
    failing = data.draw(st.sets(st.sampled_from(items)))
    # As with the reference zombie, one item never fails; alone, an item is never
    # compared, so nothing could tell that it fails.
    assume(len(failing) < len(items))
    result = sort_groups(items, by_key(keys, failing.__contains__))
    assert set(result.failed) == failing
    assert set(result.failed.values()) <= {"gone"}
    check_classes(result.classes, keys, set(items) - failing)


@given(keys=keys_st, data=st.data())
@settings(max_examples=120)
def test_items_that_start_failing_mid_sort(keys: list[int], data: st.DataObject) -> None:
    """Processes exiting during the scan: item i fails from call start[i] on (None: never).

    Item 0 never fails, as the reference zombie never does.
    """
    items = list(range(len(keys)))
    n = len(items) - 1
    rest = st.lists(st.none() | st.integers(0, 300), min_size=n, max_size=n)
    start = [None, *data.draw(rest)]
    calls = [0]

    def failing(item: int) -> bool:
        return start[item] is not None and calls[0] > start[item]

    inner = by_key(keys, failing)

    def cmp(a: int, b: int) -> int:
        calls[0] += 1
        return inner(a, b)

    result = sort_groups(items, cmp)
    assert {i for i in result.failed if start[i] is None} == set()
    check_classes(result.classes, keys, set(items) - set(result.failed))


@given(keys=keys_st, data=st.data())
def test_pruned_items_are_dropped(keys: list[int], data: st.DataObject) -> None:
    items = list(range(len(keys)))
    pruned = data.draw(st.sets(st.sampled_from(items)))
    rounds = []

    def prune(current: Sequence[int]) -> dict[int, str]:
        rounds.append(list(current))
        return {i: "exited" for i in current if i in pruned}

    result = sort_groups(items, by_key(keys), prune=prune)
    assert result.failed == dict.fromkeys(pruned, "exited")
    check_classes(result.classes, keys, set(items) - pruned)
    assert not set(rounds[-1]) & pruned


def test_a_key_that_changes_mid_sort_is_caught_by_the_neighbour_pass() -> None:
    """A process that execs mid-scan gets a new object: the order must fit the new one."""
    keys = [5, 3, 8, 1, 9, 2, 7, 4, 6, 0]
    calls = [0]
    base = by_key(keys)

    def cmp(a: int, b: int) -> int:
        calls[0] += 1
        if calls[0] == 12:
            keys[4] = -1  # item 4 moves from the top to the bottom
        return base(a, b)

    result = sort_groups(list(range(len(keys))), cmp)
    assert result.order[0] == 4
    check_classes(result.classes, keys, set(range(len(keys))))


def test_an_order_that_never_settles_gives_up() -> None:
    flip = [0]

    def cmp(a: int, b: int) -> int:
        flip[0] += 1
        return 1 if flip[0] % 2 else -1

    with pytest.raises(OrderUnstable):
        sort_groups([1, 2, 3], cmp)


def test_task_comparator_refuses_file_types() -> None:
    with pytest.raises(ValueError, match="fds"):
        task_comparator(Resource.FILE)


@settings(max_examples=120)
@given(
    keys=keys_st,
    changer=st.integers(0, 59),
    values=st.lists(st.integers(0, 12), min_size=2, max_size=3),
    rng=st.randoms(use_true_random=False),
)
def test_settle_groups_stable_items_exactly_around_one_changing_item(
    keys: list[int], changer: int, values: list[int], rng: random.Random
) -> None:
    """One item takes one of *values* at each call, at random (a dup2 loop, which runs
    on its own, not in step with the calls); the others never change."""
    assume(changer < len(keys))

    def key(item: int) -> int:
        return rng.choice(values) if item == changer else keys[item]

    def cmp(a: int, b: int) -> int:
        ka, kb = key(a), key(b)
        return (ka > kb) - (ka < kb)

    items = list(range(len(keys)))
    settled = sort_settled(items, cmp)
    stable = [[i for i in cls if i != changer] for cls in settled.classes]
    check_classes([cls for cls in stable if cls], keys, set(items) - {changer})
    assert settled.changed in ([], [changer])
    placed = [cls for cls in settled.classes if changer in cls]
    assert len(placed) + len(settled.changed) <= 1
    if placed and len(placed[0]) > 1:
        # It joined a class through an equality that held when it was compared.
        assert keys[next(i for i in placed[0] if i != changer)] in values
