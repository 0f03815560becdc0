"""The library against the real kernel: process families with known sharing."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable

import pytest

import kcmpctl
from kcmpctl import _syscall, procs
from kcmpctl.kcmp import Order, Resource, compare, compare_files, null_reference, probe

from .conftest import Family, free_pid, wait_for_state

Spawn = Callable[..., Family]
VM, FILES, FS, SIGHAND, IO, SYSVSEM = (
    Resource.VM,
    Resource.FILES,
    Resource.FS,
    Resource.SIGHAND,
    Resource.IO,
    Resource.SYSVSEM,
)


def shared_types(pid1: int, pid2: int) -> set[Resource]:
    return {r for r in kcmpctl.TASK_TYPES if compare(pid1, pid2, r).shared}


def test_thread_shares_everything_but_the_io_context(family: Spawn) -> None:
    # pthread_create passes CLONE_SYSVSEM, which makes the kernel allocate an undo
    # list for both: threads really do share one.
    fam = family("thread:t")
    assert shared_types(fam.pid, fam["t"]) == {VM, FILES, FS, SIGHAND, SYSVSEM}
    io = compare(fam.pid, fam["t"], IO)
    assert not io.shared
    assert io.order is None
    assert set(io.absent) == {fam.pid, fam["t"]}


def test_fork_child_shares_nothing(family: Spawn) -> None:
    fam = family("fork:c")
    assert shared_types(fam.pid, fam["c"]) == set()
    vm = compare(fam.pid, fam["c"], VM)
    assert vm.order in (Order.LESS, Order.GREATER)
    assert vm.absent == ()


@pytest.mark.parametrize(
    ("ops", "expected"),
    [
        (("clone:c:0",), set()),
        (("clone:c:VM",), {VM}),
        (("clone:c:FILES",), {FILES}),
        (("clone:c:FS",), {FS}),
        (("clone:c:VM|SIGHAND",), {VM, SIGHAND}),
        (("ioprio", "clone:c:IO"), {IO}),
        (("semundo", "clone:c:SYSVSEM"), {SYSVSEM}),
        (("clone:c:FILES|FS",), {FILES, FS}),
    ],
    ids=lambda v: "+".join(v) if isinstance(v, tuple) else None,
)
def test_each_clone_flag_shares_exactly_its_object(
    family: Spawn, ops: tuple[str, ...], expected: set[Resource]
) -> None:
    fam = family(*ops)
    assert shared_types(fam.pid, fam["c"]) == expected


def test_clone_io_without_an_io_context_is_none_not_shared(family: Spawn) -> None:
    # Neither has an io_context: the kernel answers 0 ("equal") for two NULLs.
    fam = family("clone:c:IO")
    assert _syscall.kcmp(fam.pid, fam["c"], int(IO), 0, 0) == 0
    result = compare(fam.pid, fam["c"], IO)
    assert not result.shared
    assert set(result.absent) == {fam.pid, fam["c"]}


def test_unrelated_processes_without_undo_lists_do_not_share_one(family: Spawn) -> None:
    a, b = family("name:a"), family("name:b")
    assert _syscall.kcmp(a.pid, b.pid, int(SYSVSEM), 0, 0) == 0
    result = compare(a.pid, b.pid, SYSVSEM)
    assert not result.shared
    assert set(result.absent) == {a.pid, b.pid}


def test_undo_list_is_not_inherited_by_fork(family: Spawn) -> None:
    fam = family("semundo", "fork:c")
    result = compare(fam.pid, fam["c"], SYSVSEM)
    assert not result.shared
    assert result.absent == (fam["c"],)
    assert compare(fam.pid, fam.pid, SYSVSEM).shared


def test_io_context_is_copied_not_shared_by_fork(family: Spawn) -> None:
    fam = family("ioprio", "fork:c")
    result = compare(fam.pid, fam["c"], IO)
    assert not result.shared
    assert result.absent == ()
    assert result.order in (Order.LESS, Order.GREATER)


def test_zombie_has_no_objects_but_its_signal_handlers(family: Spawn) -> None:
    fam = family("zombie:z")
    for resource in (VM, FILES, FS):
        result = compare(fam["z"], fam.pid, resource)
        assert result.absent == (fam["z"],), resource
        assert not result.shared
    assert compare(fam["z"], fam["z"], VM).absent == (fam["z"],)
    sighand = compare(fam["z"], fam.pid, SIGHAND)
    assert sighand.absent == ()
    assert not sighand.shared


def test_kernel_threads_have_no_address_space() -> None:
    kthreads = [
        pid for pid in procs.all_pids() if (st := procs.read_stat(pid)) is not None and st.kthread
    ][:2]
    if len(kthreads) < 2:
        pytest.skip("fewer than two kernel threads visible in this PID namespace")
    a, b = kthreads
    try:
        result = compare(a, b, VM)
    except kcmpctl.AccessDenied:
        pytest.skip("kernel threads not accessible here")
    assert not result.shared
    assert set(result.absent) == {a, b}


def test_exited_leader_is_compared_through_a_live_thread(family: Spawn) -> None:
    fam = family("thread:t", "leaderexit")
    wait_for_state(fam.pid, "Z")
    assert procs.live_task(fam.pid) == fam["t"]
    assert shared_types(fam.pid, fam["t"]) == {VM, FILES, FS, SIGHAND, SYSVSEM}


def test_swapping_the_processes_swaps_the_order(family: Spawn) -> None:
    fam = family("fork:c")
    for resource in (VM, FILES, FS, SIGHAND):
        forward = compare(fam.pid, fam["c"], resource).order
        backward = compare(fam["c"], fam.pid, resource).order
        assert forward is not None
        assert backward is forward.reversed()


def test_files_dup_and_fork_share_a_description_two_opens_do_not(family: Spawn) -> None:
    fam = family("open:a:/etc/hostname", "open:b:/etc/hostname", "dup:d:3", "fork:c")
    a, b, d = fam["a"], fam["b"], fam["d"]
    assert compare_files(fam.pid, a, fam.pid, d).shared
    assert compare_files(fam.pid, a, fam["c"], a).shared
    assert compare_files(fam.pid, d, fam["c"], a).shared
    two_opens = compare_files(fam.pid, a, fam.pid, b)
    assert not two_opens.shared
    assert two_opens.order in (Order.LESS, Order.GREATER)


def test_closed_fd_names_the_process_and_fd(family: Spawn) -> None:
    fam = family("pipe:p")
    with pytest.raises(kcmpctl.BadFileDescriptor) as info:
        compare_files(fam.pid, fam["p_r"], fam.pid, 999)
    assert str(info.value) == f"fd 999 is not open in process {fam.pid}"
    assert info.value.errno == errno.EBADF


def test_zombie_has_no_fd_table(family: Spawn) -> None:
    fam = family("zombie:z")
    with pytest.raises(kcmpctl.BadFileDescriptor, match="no fd table"):
        compare_files(fam["z"], 0, fam.pid, 0)


def test_fd_beyond_32_bits_is_refused_not_truncated(family: Spawn) -> None:
    fam = family("pipe:p")
    with pytest.raises(kcmpctl.BadFileDescriptor, match="out of range"):
        compare_files(fam.pid, 2**32 + fam["p_r"], fam.pid, fam["p_r"])


def test_pid_1_is_permission_denied_and_named() -> None:
    with pytest.raises(kcmpctl.AccessDenied) as info:
        compare(1, os.getpid(), VM)
    assert isinstance(info.value, PermissionError)
    assert str(info.value).startswith("process 1: permission denied")
    assert "CAP_SYS_PTRACE" in str(info.value)


def test_missing_process_is_named() -> None:
    pid = free_pid()
    with pytest.raises(kcmpctl.NoSuchProcess) as info:
        compare(os.getpid(), pid, FS)
    assert isinstance(info.value, ProcessLookupError)
    assert str(info.value) == f"process {pid}: no such process"
    assert info.value.pids == (os.getpid(), pid)


def test_enosys_at_the_seam_is_kcmp_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_kcmp(*args: int) -> int:
        raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS))

    monkeypatch.setattr(_syscall, "kcmp", no_kcmp)
    with pytest.raises(kcmpctl.KcmpUnavailable, match="CONFIG_KCMP"):
        probe()
    with pytest.raises(kcmpctl.KcmpUnavailable):
        compare(os.getpid(), os.getpid(), VM)


def test_unknown_architecture_is_an_error_not_a_guess() -> None:
    with pytest.raises(_syscall.UnsupportedArchitecture, match="sparc64"):
        _syscall.syscall_number("sparc64")
    assert _syscall.syscall_number("x86_64") == 312
    assert _syscall.syscall_number("aarch64") == 272


def test_unknown_architecture_makes_probe_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_syscall, "_number", None)
    real = os.uname()
    fake = os.uname_result((*real[:4], "sparc64"))
    monkeypatch.setattr(_syscall.os, "uname", lambda: fake)
    with pytest.raises(kcmpctl.KcmpUnavailable, match="sparc64"):
        probe()


def test_epoll_slot_is_three_u32() -> None:
    assert _syscall.ctypes.sizeof(_syscall.EpollSlot) == 12


def test_reference_zombie_is_replaced_when_reaped() -> None:
    ref = null_reference()
    assert ref.alive()
    os.waitpid(ref.pid, 0)
    assert not ref.alive()
    fresh = null_reference()
    assert fresh is not ref
    assert fresh.alive()
