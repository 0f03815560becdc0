"""The grouping engine with fake comparators: random total orders with ties."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kcmpctl.grouping import (
    ItemFailed,
    OrderUnstable,
    _prove,
    sort_apart,
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
    rng = random.Random(0)

    def cmp(a: int, b: int) -> int:
        return rng.choice((-1, 1))

    with pytest.raises(OrderUnstable):
        sort_groups(list(range(100)), cmp)


def test_task_comparator_refuses_file_types() -> None:
    with pytest.raises(ValueError, match="fds"):
        task_comparator(Resource.FILE)


def _changing(
    keys: list[int], changer: int, values: list[int], rng: random.Random
) -> Callable[[int, int], int]:
    """Item *changer* takes one of *values* at each call as *rng* decides; the others
    never change."""

    def key(item: int) -> int:
        return rng.choice(values) if item == changer else keys[item]

    def cmp(a: int, b: int) -> int:
        ka, kb = key(a), key(b)
        return (ka > kb) - (ka < kb)

    return cmp


@settings(max_examples=120)
@given(
    keys=keys_st,
    changer=st.integers(0, 59),
    values=st.lists(st.integers(0, 12), min_size=2, max_size=3),
    rng=st.randoms(use_true_random=False),
)
def test_settle_never_relates_what_was_not_equal_whatever_the_timing(
    keys: list[int], changer: int, values: list[int], rng: random.Random
) -> None:
    """Against an adversary that picks the changing item's value for every call (which
    hypothesis does, replaying what fails), settle can be made to give up on a
    contradiction and leave stable items apart: it must still never put two stable
    items of different keys together, nor the changer with one it never equalled."""
    assume(changer < len(keys))
    items = list(range(len(keys)))
    settled = sort_settled(items, _changing(keys, changer, values, rng))
    for cls in settled.classes:
        stable = [i for i in cls if i != changer]
        assert len({keys[i] for i in stable}) <= 1
        if changer in cls and stable:
            assert keys[stable[0]] in values
    assert settled.changed in ([], [changer])
    placed = [cls for cls in settled.classes if changer in cls]
    assert len(placed) + len(settled.changed) <= 1
    members = sorted(i for cls in settled.classes for i in cls)
    assert members == sorted(set(items) - set(settled.changed))


@settings(max_examples=120)
@given(
    keys=keys_st,
    changer=st.integers(0, 59),
    values=st.lists(st.integers(0, 12), min_size=2, max_size=3),
    seed=st.integers(0, 2**32 - 1),
)
def test_settle_groups_stable_items_exactly_around_one_changing_item(
    keys: list[int], changer: int, values: list[int], seed: int
) -> None:
    """A changing process runs on its own, not in step with kcmpctl's calls (a dup2
    loop): its value at each call is independent of the calls.  Then every stable item
    is grouped exactly, and the changer joins a class only through an equality that
    held when it was compared."""
    assume(changer < len(keys))
    items = list(range(len(keys)))
    settled = sort_settled(items, _changing(keys, changer, values, random.Random(seed)))
    stable = [[i for i in cls if i != changer] for cls in settled.classes]
    check_classes([cls for cls in stable if cls], keys, set(items) - {changer})
    assert settled.changed in ([], [changer])
    placed = [cls for cls in settled.classes if changer in cls]
    assert len(placed) + len(settled.changed) <= 1
    if placed and len(placed[0]) > 1:
        assert keys[next(i for i in placed[0] if i != changer)] in values


@given(keys=st.lists(st.integers(0, 12), min_size=1, max_size=60), data=st.data())
@settings(max_examples=200)
def test_items_that_turn_null_then_vanish(keys: list[int], data: st.DataObject) -> None:
    """Processes exiting as the kernel shows it: from call exit[i] on, item i compares
    as the reference (a zombie's NULLs), and *prune* names it (its pidfd is readable);
    from call reap[i] on, it fails (ESRCH).  Item 0 is the reference: key -1, never
    exits.  No survivor may be grouped with another that it does not equal, nor with
    the reference."""
    keys = [-1, *keys]
    items = list(range(len(keys)))
    n = len(items) - 1
    moments = st.none() | st.tuples(st.integers(0, 400), st.integers(0, 400))
    life = [None, *data.draw(st.lists(moments, min_size=n, max_size=n))]
    calls = [0]

    def exited(item: int) -> bool:
        when = life[item]
        return when is not None and calls[0] > when[0]

    def reaped(item: int) -> bool:
        when = life[item]
        return when is not None and calls[0] > when[0] + when[1]

    def cmp(a: int, b: int) -> int:
        calls[0] += 1
        for item in (a, b):
            if reaped(item):
                raise ItemFailed(item, "exited")
        ka, kb = (-1 if exited(i) else keys[i] for i in (a, b))
        return (ka > kb) - (ka < kb)

    def prune(current: Sequence[int]) -> dict[int, str]:
        return {i: "exited" for i in current if exited(i)}

    result = sort_groups(items, cmp, prune=prune, max_rounds=64)
    assert 0 not in result.failed
    assert all(life[i] is not None for i in result.failed)
    check_classes(result.classes, keys, set(items) - set(result.failed))


def counted(cmp: Callable[[int, int], int]) -> tuple[Callable[[int, int], int], list[int]]:
    calls = [0]

    def counting(a: int, b: int) -> int:
        calls[0] += 1
        return cmp(a, b)

    return counting, calls


@pytest.mark.parametrize("seed", range(5))
def test_failures_mid_sort_cost_no_new_sort(seed: int) -> None:
    """One item in a hundred fails at a random moment of the sort: they cost at most a
    tenth more comparisons than a quiet run, not a sort (or a round) each."""
    rng = random.Random(seed)
    keys = [rng.randrange(300) for _ in range(1000)]
    items = list(range(len(keys)))
    quiet, quiet_calls = counted(by_key(keys))
    sort_groups(items, quiet)
    calls = [0]
    start = {i: rng.randrange(quiet_calls[0] * 9 // 10) for i in rng.sample(items, 10)}

    def failing(item: int) -> bool:
        return item in start and calls[0] > start[item]

    busy, busy_calls = counted(by_key(keys, failing))
    calls = busy_calls
    result = sort_groups(items, busy)
    assert set(result.failed) == set(start)
    check_classes(result.classes, keys, set(items) - set(start))
    assert busy_calls[0] <= 1.1 * quiet_calls[0]


@given(keys=keys_st, data=st.data())
@settings(max_examples=300)
def test_the_neighbour_pass_merges_runs_out_of_order(keys: list[int], data: st.DataObject) -> None:
    """An order left out of place (timsort merged past an item that failed after it was
    placed), with items failing during the pass: the pass gives back an order each of
    whose neighbour signs is right, or says that it proves nothing."""
    items = data.draw(st.permutations(list(range(len(keys)))))
    dies = data.draw(st.dictionaries(st.sampled_from(items), st.integers(0, 80), max_size=3))
    calls = [0]

    def failing(item: int) -> bool:
        return item in dies and calls[0] > dies[item]

    cmp, calls = counted(by_key(keys, failing))
    failed: dict[int, str] = {}
    order, signs, proven = _prove(list(items), cmp, failed, None)
    if proven:
        assert set(order) | set(failed) == set(items)
        assert not set(order) & set(failed)
        truth = [(keys[a] > keys[b]) - (keys[a] < keys[b]) for a, b in itertools.pairwise(order)]
        assert signs == truth
        assert all(sign <= 0 for sign in signs)


def test_an_item_failing_in_the_neighbour_pass_is_bridged_not_resorted() -> None:
    """The neighbour pass drops an item that fails and compares its neighbours across
    the gap: one more call, not another round."""
    keys = [0, 0, 1, 1, 2, 2, 3, 3]
    items = list(range(len(keys)))
    quiet, quiet_calls = counted(by_key(keys))
    sort_groups(items, quiet)
    calls = [0]
    sort_calls = quiet_calls[0] - (len(items) - 1)

    def failing(item: int) -> bool:
        return item == 4 and calls[0] > sort_calls  # fails once the sort is done

    busy, calls = counted(by_key(keys, failing))
    result = sort_groups(items, busy)
    assert result.failed == {4: "gone"}
    assert result.classes == [[0, 1], [2, 3], [5], [6, 7]]
    assert calls[0] <= quiet_calls[0] + 2


# ------------------------------------------------------------------------ sort_apart


@given(keys=keys_st, parts=st.integers(1, 5))
def test_sort_apart_groups_exactly_and_never_compares_across_parts(
    keys: list[int], parts: int
) -> None:
    """A key that proves difference (a function of the item's value, as eventfd-id is
    of the file): the classes are the ties, and no call crosses two parts."""
    items = list(range(len(keys)))
    inner = by_key(keys)
    calls: list[tuple[int, int]] = []

    def cmp(a: int, b: int) -> int:
        calls.append((a, b))
        return inner(a, b)

    settled = sort_apart(items, cmp, lambda i: keys[i] % parts)
    assert sorted(sorted(cls) for cls in settled.classes) == sorted(
        sorted(i for i in items if keys[i] == k) for k in set(keys)
    )
    assert all(keys[a] % parts == keys[b] % parts for a, b in calls)
    assert (settled.changed, settled.failed) == ([], {})


def test_sort_apart_a_part_of_one_costs_no_call() -> None:
    def cmp(a: int, b: int) -> int:
        raise AssertionError(f"compared {a} and {b}")

    settled = sort_apart(range(5), cmp, lambda i: i)
    assert settled.classes == [[0], [1], [2], [3], [4]]


def test_sort_apart_keeps_failures_of_each_part() -> None:
    keys = [0, 0, 1, 1, 1]
    settled = sort_apart(range(5), by_key(keys, lambda i: i in (1, 4)), lambda i: keys[i])
    assert settled.failed == {1: "gone", 4: "gone"}
    assert sorted(settled.classes) == [[0], [2, 3]]


@settings(max_examples=120)
@given(
    keys=keys_st,
    changer=st.integers(0, 59),
    values=st.lists(st.integers(0, 12), min_size=2, max_size=3),
    parts=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_sort_apart_around_one_changing_item(
    keys: list[int], changer: int, values: list[int], parts: int, seed: int
) -> None:
    """The changer's key is read at another moment than its comparisons (any of its
    values): stable items are still grouped exactly, never with another value, and
    the changer joins a class only through an equality that held at one moment."""
    assume(changer < len(keys))
    rng = random.Random(seed)
    items = list(range(len(keys)))

    def part(item: int) -> int:
        return (rng.choice(values) if item == changer else keys[item]) % parts

    settled = sort_apart(items, _changing(keys, changer, values, rng), part)
    stable = [[i for i in cls if i != changer] for cls in settled.classes]
    assert sorted(sorted(cls) for cls in stable if cls) == sorted(
        sorted(i for i in items if keys[i] == k and i != changer)
        for k in {keys[i] for i in items if i != changer}
    )
    assert settled.changed in ([], [changer])
    placed = [cls for cls in settled.classes if changer in cls]
    assert len(placed) + len(settled.changed) <= 1
    if placed and len(placed[0]) > 1:
        assert keys[next(i for i in placed[0] if i != changer)] in values
