"""The matrix logic: fake total orders first, then real process families."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kcmpctl import procs
from kcmpctl.grouping import ItemFailed, task_comparator
from kcmpctl.kcmp import TASK_TYPES, Order, Resource, null_reference, raw_kcmp
from kcmpctl.matrix import (
    EXITED,
    PARALLEL_MIN,
    THREAD_EXITED,
    ZOMBIE,
    Matrix,
    Meter,
    ScanError,
    Skip,
    TypeResult,
    build,
    group_type,
    scan,
)

from .conftest import Family

Comparator = Callable[[int, int], int]

# ------------------------------------------------------------------- fake orders


Keys = dict[Resource, dict[int, int]]


def fake(keys: Keys, denied: frozenset[int] = frozenset()) -> Callable[[Resource], Comparator]:
    """A comparator factory ordering IDs by *keys*; *denied* IDs fail as EPERM would."""

    def factory(resource: Resource) -> Comparator:
        k = keys[resource]

        def cmp(a: int, b: int) -> int:
            for item in (a, b):
                if item in denied:
                    raise ItemFailed(item, "permission denied", errno.EPERM)
            return (k[a] > k[b]) - (k[a] < k[b])

        return cmp

    return factory


REF = 10_000  # the fake reference zombie: its key is "NULL"


@st.composite
def orders(draw: st.DrawFn) -> tuple[list[int], Keys]:
    """IDs and, per type, random keys with ties; REF gets a random key too."""
    n = draw(st.integers(1, 40))
    ids = list(range(1, n + 1))
    keys = {
        r: dict(
            zip(
                [*ids, REF],
                draw(st.lists(st.integers(0, 8), min_size=n + 1, max_size=n + 1)),
                strict=True,
            )
        )
        for r in TASK_TYPES
    }
    return ids, keys


def expected(
    ids: list[int], k: dict[int, int], resource: Resource
) -> tuple[list[tuple[int, ...]], tuple[int, ...]]:
    """Classes by ascending key, IDs ascending in each; and the IDs with REF's key.

    For sighand (every task has one) the reference takes no part.
    """
    null = k[REF] if resource.nullable else None
    present = sorted({k[i] for i in ids if k[i] != null})
    classes = [tuple(i for i in ids if k[i] == key) for key in present]
    return classes, tuple(i for i in ids if k[i] == null)


@given(orders())
def test_group_type_finds_classes_and_absent(case: tuple[list[int], Keys]) -> None:
    ids, keys = case
    for r in (Resource.FILES, Resource.SIGHAND):
        check_group_type(ids, keys, r)


def check_group_type(ids: list[int], keys: Keys, r: Resource) -> None:
    result = group_type(ids, r, fake(keys)(r), REF)
    classes, absent = expected(ids, keys[r], r)
    assert list(result.classes) == classes
    assert result.absent == absent
    assert result.order == tuple(i for c in classes for i in c)
    assert result.groups == tuple(c for c in classes if len(c) > 1)
    assert sorted(result.alone) == sorted(c[0] for c in classes if len(c) == 1)
    assert result.skipped == ()


@given(orders(), st.data())
# Each example forks a worker: on a loaded machine one can outlast the 200 ms deadline.
@settings(max_examples=50, deadline=None)
def test_scan_in_two_processes_equals_one(
    case: tuple[list[int], Keys], data: st.DataObject
) -> None:
    ids, keys = case
    denied = frozenset(data.draw(st.sets(st.sampled_from(ids))))
    factory = fake(keys, denied)
    one = scan(ids, TASK_TYPES, reference=REF, comparator=factory, workers=1)
    two = scan(ids, TASK_TYPES, reference=REF, comparator=factory, workers=2)
    assert one == two
    for result in one:
        if not result.resource.nullable and denied == set(ids):
            # Without the reference (sighand), the last item standing is never
            # compared, so nothing tells it fails: build() checks access first.
            continue
        assert {s.id for s in result.skipped} == denied
        live = [i for i in ids if i not in denied]
        classes, absent = expected(live, keys[result.resource], result.resource)
        assert list(result.classes) == classes
        assert result.absent == absent


def test_a_failing_reference_is_an_error_in_any_worker() -> None:
    ids = [1, 2, 3]
    keys = {r: {1: 1, 2: 2, 3: 3, REF: 0} for r in TASK_TYPES}
    factory = fake(keys, frozenset({REF}))
    for workers in (1, 2):
        with pytest.raises(ScanError, match="reference"):
            scan(ids, TASK_TYPES, reference=REF, comparator=factory, workers=workers)


def test_meter_counts_the_comparisons_of_every_worker() -> None:
    ids = list(range(1, 300))
    keys = {r: {i: (i * 7919 * (int(r) + 1)) % 1009 for i in [*ids, REF]} for r in TASK_TYPES}
    made = [0]
    base = fake(keys)

    def counting(resource: Resource) -> Comparator:
        cmp = base(resource)

        def counted(a: int, b: int) -> int:
            made[0] += 1
            return cmp(a, b)

        return counted

    scan(ids, TASK_TYPES, reference=REF, comparator=counting, workers=1)
    reports: list[int] = []
    meter = Meter(2, reports.append)
    try:
        scan(ids, TASK_TYPES, reference=REF, comparator=base, workers=2, meter=meter)
        assert meter.done == made[0]
        assert reports == sorted(reports)
    finally:
        meter.close()


def test_a_worker_reports_past_1024_fds() -> None:
    """A pidfd per task puts the workers' pipes past select()'s fd limit."""
    ids = list(range(1, 50))
    keys = {r: {i: i % 7 for i in [*ids, REF]} for r in TASK_TYPES}
    null = os.open(os.devnull, os.O_RDONLY)
    held = [os.dup(null) for _ in range(1100)]
    meter = Meter(2, lambda done: None)
    try:
        two = scan(ids, TASK_TYPES, reference=REF, comparator=fake(keys), workers=2, meter=meter)
    finally:
        meter.close()
        for fd in [null, *held]:
            os.close(fd)
    assert two == scan(ids, TASK_TYPES, reference=REF, comparator=fake(keys), workers=1)


def test_without_moves_tasks_to_skipped() -> None:
    result = TypeResult(Resource.VM, ((1, 2), (3,)), (4,), (Skip(5, "permission denied"),))
    after = result.without({2: EXITED, 3: EXITED, 4: EXITED, 9: EXITED})
    assert after.classes == ((1,),)
    assert after.absent == ()
    assert after.skipped == (
        Skip(2, EXITED),
        Skip(3, EXITED),
        Skip(4, EXITED),
        Skip(5, "permission denied"),
    )
    assert not after.one_object
    assert TypeResult(Resource.VM, ((1, 2),)).one_object


# ---------------------------------------------------------------- real processes


@pytest.fixture
def reference() -> int:
    return null_reference().pid


def matrix_of(
    reference: int,
    threads: bool = False,
    comparator: Callable[[Resource], Comparator] = task_comparator,
    workers: int = 1,
    **selectors: object,
) -> Matrix:
    selection = procs.select_tasks(threads=threads, **selectors)  # type: ignore[arg-type]
    try:
        return build(
            selection,
            TASK_TYPES,
            reference=reference,
            threads=threads,
            workers=workers,
            comparator=comparator,
        )
    finally:
        selection.close()


def by_type(m: Matrix) -> dict[str, TypeResult]:
    return {r.resource.cli_name: r for r in m.results}


def assert_kernel_agrees(result: TypeResult) -> None:
    """Every pair in ``order``: kcmp says equal within a group, "less" otherwise."""
    group_of = {i: n for n, cls in enumerate(result.classes) for i in cls}
    order = result.order
    for x, a in enumerate(order):
        for b in order[x + 1 :]:
            want = Order.EQUAL if group_of[a] == group_of[b] else Order.LESS
            assert raw_kcmp(a, b, result.resource) is want, (result.resource, a, b)


def test_a_family_with_known_sharing(family: Callable[..., Family], reference: int) -> None:
    fam = family(
        "clone:files:FILES",
        "clone:filesfs:FILES|FS",
        "clone:vm:VM|SIGHAND",
        "clone:io:IO",
        "fork:f",
        "zombie:z",
        "thread:t",
        "ioprio",
        "semundo",
    )
    m = matrix_of(reference, tree=fam.pid)
    helper, files, filesfs, vm, io, f, z = (
        fam.pid,
        fam["files"],
        fam["filesfs"],
        fam["vm"],
        fam["io"],
        fam["f"],
        fam["z"],
    )
    assert [row.pid for row in m.rows] == sorted([helper, files, filesfs, vm, io, f, z])
    assert fam["t"] not in {row.id for row in m.rows}  # a thread is no row without --threads
    r = by_type(m)
    live = {helper, files, filesfs, vm, io, f}
    assert r["vm"].groups == ((helper, vm),)
    assert r["sighand"].groups == ((helper, vm),)
    assert r["files"].groups == ((helper, files, filesfs),)
    assert r["fs"].groups == ((helper, filesfs),)
    # The io_context was made by ioprio after the clones: only the helper has one.
    # CLONE_IO shares a context only if it exists at clone time.
    assert r["io"].order == (helper,)
    assert set(r["io"].absent) == live - {helper}
    assert r["sysvsem"].order == (helper,)
    assert set(r["sysvsem"].absent) == live - {helper}
    for result in m.results:
        assert result.skipped == (Skip(z, ZOMBIE),)
        assert set(result.order) | set(result.absent) == live
        assert_kernel_agrees(result)


def test_clone_io_after_ioprio_shares_the_io_context(
    family: Callable[..., Family], reference: int
) -> None:
    fam = family("ioprio", "clone:io:IO", "clone:own:0", "fork:f")
    r = by_type(matrix_of(reference, tree=fam.pid))
    # A fork child of a process with an io_context gets its own copy, not the parent's.
    assert r["io"].groups == ((fam.pid, fam["io"]),)
    assert set(r["io"].order) == {fam.pid, fam["io"], fam["own"], fam["f"]}
    assert r["io"].absent == ()
    assert_kernel_agrees(r["io"])


def test_threads_that_unshared_show_up(family: Callable[..., Family], reference: int) -> None:
    fam = family("thread:t1", "unshare:FILES", "thread:t2", "cthread:c")
    m = matrix_of(reference, threads=True, pids=[fam.pid])
    main, t1, t2, c = fam.pid, fam["t1"], fam["t2"], fam["c"]
    ids = {row.id for row in m.rows}
    assert {main, t1, t2, c} <= ids
    assert all(row.pid == main and row.tid == row.id for row in m.rows)
    r = by_type(m)
    everyone = tuple(sorted(ids))
    assert r["vm"].groups == (everyone,)
    assert r["sighand"].groups == (everyone,)
    assert r["fs"].groups == (everyone,)
    # t1 kept the fd table from before unshare(CLONE_FILES); t2 and c share the new one.
    files = {frozenset(g) for g in r["files"].groups}
    assert frozenset({main, t2, c}) <= next(g for g in files if main in g)
    assert t1 not in next(g for g in files if main in g)
    assert_kernel_agrees(r["files"])


def leader_exited(family: Callable[..., Family]) -> Family:
    """A process whose main thread called pthread_exit; a thread keeps it alive."""
    fam = family("thread:t", "leaderexit")
    for _ in range(1000):
        st = procs.read_stat(fam.pid)
        if st is not None and st.zombie:
            return fam
        time.sleep(0.01)
    raise AssertionError("the leader did not exit")


def test_a_process_whose_leader_exited_is_compared_through_a_live_thread(
    family: Callable[..., Family], reference: int
) -> None:
    # Through the zombie leader's own PID every nullable object would look absent.
    fam = leader_exited(family)
    m = matrix_of(reference, pids=[fam.pid])
    assert [row.id for row in m.rows] == [fam.pid]
    for name in ("vm", "files", "fs", "sighand"):
        result = by_type(m)[name]
        assert (result.order, result.absent, result.skipped) == ((fam.pid,), (), ())


@pytest.mark.parametrize("threads", [False, True])
def test_a_leader_that_exits_after_selection_yields_nothing(
    family: Callable[..., Family], reference: int, threads: bool
) -> None:
    """Selected while its leader lived, compared after: never "absent", always skipped."""
    fam = leader_exited(family)
    st = procs.read_stat(fam.pid)
    assert st is not None
    # The selection as select_tasks() made it a moment before the leader exited.
    task = procs.Task(
        pid=fam.pid,
        tid=fam.pid,
        comm=st.comm,
        ppid=st.ppid,
        uid=os.getuid(),
        starttime=st.starttime,
        kthread=False,
        zombie=False,
        pidfd=os.pidfd_open(fam.pid),
    )
    selection = procs.Selection([task], [])
    try:
        m = build(selection, TASK_TYPES, reference=reference, threads=threads)
    finally:
        selection.close()
    for result in m.results:
        assert (result.classes, result.absent) == ((), ())
        assert result.skipped == (Skip(fam.pid, EXITED if threads else THREAD_EXITED),)


@pytest.fixture
def pid_1_denied() -> None:
    """Skips the test where kcmp does not refuse pid 1 (it does here, even to root)."""
    try:
        raw_kcmp(1, 1, Resource.SIGHAND)
    except PermissionError:
        return
    pytest.skip("pid 1 is accessible here")


@pytest.mark.usefixtures("pid_1_denied")
def test_pid_1_is_skipped_as_denied(reference: int) -> None:
    m = matrix_of(reference, pids=[1, os.getpid()])
    for result in m.results:
        assert result.skipped == (Skip(1, "permission denied"),)
        assert os.getpid() in result.order + result.absent


@pytest.mark.usefixtures("pid_1_denied")
@pytest.mark.parametrize(("others", "workers"), [(1, 1), (PARALLEL_MIN, 1), (PARALLEL_MIN, 2)])
def test_pid_1_among_many_is_skipped_as_denied_by_every_sort(
    sleeper: Callable[[], subprocess.Popen[bytes]], reference: int, others: int, workers: int
) -> None:
    """From PARALLEL_MIN tasks on, root does not ask each task first whether kcmp
    refuses it: each type's sort finds pid 1 by itself."""
    started = [sleeper().pid for _ in range(others)]
    m = matrix_of(reference, workers=workers, pids=[1, *started])
    for result in m.results:
        assert result.skipped == (Skip(1, "permission denied"),)
        assert sorted(result.order + result.absent) == sorted(started)
    assert m.uncompared([1, *started]) == {1: "permission denied"}


@pytest.mark.parametrize("workers", [1, 2])
def test_a_process_killed_mid_scan_yields_nothing(
    family: Callable[..., Family], reference: int, workers: int
) -> None:
    fam = family("clone:a:FILES|FS", "clone:b:FILES|FS", "clone:victim:FILES|FS", "fork:f")
    victim = fam["victim"]
    pidfd = os.pidfd_open(victim)
    calls = [0]

    def killing(resource: Resource) -> Comparator:
        cmp = task_comparator(resource)
        if resource is not Resource.SYSVSEM:  # the last type: earlier ones must drop it too
            return cmp

        def hooked(a: int, b: int) -> int:
            calls[0] += 1
            if calls[0] == 3:
                os.kill(victim, signal.SIGKILL)
                wait_readable(pidfd)  # a zombie now: its objects are NULL
            return cmp(a, b)

        return hooked

    try:
        m = matrix_of(reference, comparator=killing, workers=workers, tree=fam.pid)
    finally:
        os.close(pidfd)
    helper, a, b, f = fam.pid, fam["a"], fam["b"], fam["f"]
    for result in m.results:
        assert Skip(victim, EXITED) in result.skipped
        assert victim not in result.order
        assert victim not in result.absent
    r = by_type(m)
    assert r["files"].groups == ((helper, a, b),)
    assert r["fs"].groups == ((helper, a, b),)
    assert set(r["vm"].order) == {helper, a, b, f}


def wait_readable(pidfd: int) -> None:
    import select

    select.select([pidfd], [], [], 10)


@pytest.fixture
def sleeper() -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(["sleep", "60"])
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            proc.kill()
            proc.wait()


def test_a_process_reaped_before_the_scan_is_skipped(
    sleeper: Callable[[], subprocess.Popen[bytes]], reference: int
) -> None:
    gone, stays = sleeper(), sleeper()
    selection = procs.select_tasks(pids=[gone.pid, stays.pid])
    gone.kill()
    gone.wait()
    try:
        m = build(selection, TASK_TYPES, reference=reference, threads=False)
    finally:
        selection.close()
    for result in m.results:
        assert result.skipped == (Skip(gone.pid, EXITED),)
        assert stays.pid in result.order or stays.pid in result.absent


def test_a_reused_pid_never_gets_the_old_process_results(
    sleeper: Callable[[], subprocess.Popen[bytes]], reference: int
) -> None:
    """Select a process, let it die, hand its PID to a new one: nothing is reported for it."""
    old = sleeper()
    selection = procs.select_tasks(pids=[old.pid])
    old.kill()
    old.wait()
    new = None
    for _ in range(20):
        try:
            with open("/proc/sys/kernel/ns_last_pid", "w") as f:
                f.write(str(old.pid - 1))
        except OSError:
            selection.close()
            pytest.skip("cannot set ns_last_pid here")
        proc = sleeper()
        if proc.pid == old.pid:
            new = proc
            break
    if new is None:
        selection.close()
        pytest.skip("another process took the PID each time")
    try:
        m = build(selection, TASK_TYPES, reference=reference, threads=False)
    finally:
        selection.close()
    for result in m.results:
        assert result.classes == ()
        assert result.absent == ()
        assert result.skipped == (Skip(old.pid, EXITED),)


def test_two_workers_agree_with_one(family: Callable[..., Family], reference: int) -> None:
    fam = family("clone:a:FILES", "clone:b:FS", "clone:c:VM|SIGHAND", "fork:f", "ioprio")
    one = matrix_of(reference, tree=fam.pid, workers=1)
    two = matrix_of(reference, tree=fam.pid, workers=2)
    assert one == two


def test_the_reference_zombie_is_never_a_row(reference: int) -> None:
    m = matrix_of(reference)  # the whole machine: the zombie is visible in /proc
    assert reference not in {row.pid for row in m.rows}
    assert os.getpid() in {row.pid for row in m.rows}


def test_kernel_threads_have_no_address_space(reference: int) -> None:
    m = matrix_of(reference, pids=[2])  # kthreadd
    if not m.rows or not m.rows[0].kthread:
        pytest.skip("no kthreadd at pid 2 here")
    r = by_type(m)
    if r["vm"].skipped:
        pytest.skip("kernel threads are not accessible here")
    assert r["vm"].absent == (2,)
    assert r["sighand"].order == (2,)


def test_selection_read_in_two_processes_is_the_one_read_in_one(
    family: Callable[..., Family], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Many processes have their stats read half in a forked process: the same tasks,
    # the same reasons for the PIDs that cannot be selected (a thread's ID names its
    # process, a free PID none), whether that happens or not.
    fam = family("thread:t", "zombie:z", "undump", *(f"fork:f{i}" for i in range(6)))
    gone = procs.pid_max() - 1 if not procs.exists(procs.pid_max() - 1) else None
    named = [fam["pid"], fam["t"], fam["z"], *(fam[f"f{i}"] for i in range(6))]
    named += [gone] if gone is not None else []

    def selected(split_min: int) -> tuple[list[tuple[object, ...]], list[tuple[int, str]]]:
        monkeypatch.setattr(procs, "SPLIT_MIN", split_min)
        selection = procs.select_tasks(pids=named)
        try:
            tasks = [
                (t.pid, t.tid, t.comm, t.ppid, t.uid, t.starttime, t.zombie, t.kthread)
                for t in selection.tasks
            ]
            return tasks, selection.missing
        finally:
            selection.close()

    one, two = selected(10**9), selected(1)
    assert one == two
    assert len(one[0]) == 8  # the process (its thread's ID too), the zombie, six forks
