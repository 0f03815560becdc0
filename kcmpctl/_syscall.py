"""The one place that talks to the kernel through ctypes.

Everything here is deliberately small: the syscall number for this machine, the
``struct kcmp_epoll_slot`` layout, and :func:`kcmp`, which returns the kernel's raw
answer or raises :class:`OSError` with the errno.  Tests replace :data:`kcmp` (the
seam) to produce answers this machine cannot, such as ENOSYS.  :func:`ptrace` serves
``--freeze`` (Python has ``os.waitpid`` but no ptrace), :func:`pidfd_getfd` the
eventfds of a big epoll.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
from collections.abc import Callable

# From each architecture's syscall table; see KCMP(2) "VERSIONS".  An architecture
# missing here is reported, never guessed: a wrong number would call another syscall.
SYSCALL_NUMBERS: dict[str, int] = {
    "x86_64": 312,
    "amd64": 312,
    "i386": 349,
    "i486": 349,
    "i586": 349,
    "i686": 349,
    "aarch64": 272,
    "arm64": 272,
    "riscv64": 272,
    "loongarch64": 272,
    "armv6l": 378,
    "armv7l": 378,
    "armv8l": 378,
    "arm": 378,
    "ppc64le": 354,
    "ppc64": 354,
    "ppc": 354,
    "s390x": 343,
    "mips": 4347,
    "mipsel": 4347,
    "mips64": 5306,
    "mips64el": 5306,
}


class UnsupportedArchitecture(OSError):
    """kcmp's syscall number is not known for this machine."""

    def __init__(self, machine: str) -> None:
        super().__init__(errno.ENOSYS, f"kcmp syscall number unknown for architecture {machine!r}")
        self.machine = machine


class EpollSlot(ctypes.Structure):
    """``struct kcmp_epoll_slot``: three u32, 12 bytes (the man page's u64 toff is wrong)."""

    _fields_ = (
        ("efd", ctypes.c_uint32),
        ("tfd", ctypes.c_uint32),
        ("toff", ctypes.c_uint32),
    )


def syscall_number(machine: str | None = None) -> int:
    """The kcmp syscall number for *machine* (default: this one)."""
    name = os.uname().machine if machine is None else machine
    try:
        return SYSCALL_NUMBERS[name]
    except KeyError:
        raise UnsupportedArchitecture(name) from None


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_syscall.argtypes = (
    ctypes.c_long,
    ctypes.c_long,
    ctypes.c_long,
    ctypes.c_long,
    ctypes.c_ulong,
    ctypes.c_ulong,
)
_number: int | None = None


def number() -> int:
    """The syscall number, raising :class:`UnsupportedArchitecture` where unknown."""
    global _number
    if _number is None:
        _number = syscall_number()
    return _number


def _kcmp(pid1: int, pid2: int, type_: int, idx1: int, idx2: int) -> int:
    ret: int = _syscall(number(), pid1, pid2, type_, idx1, idx2)
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


def bare() -> tuple[Callable[..., int], int]:
    """libc's ``syscall`` and kcmp's number, for loops of ~10^5 calls.

    Call as ``f(nr, pid1, pid2, type, idx1, idx2)``; a negative answer means failure,
    with the errno in :func:`ctypes.get_errno`.  It skips the seam: call
    :func:`kcmpctl.kcmp.probe` (which goes through it) first.
    """
    return _syscall, number()


#: libc's ``syscall`` without declared argument types: ctypes then passes Python ints as
#: C ints and skips a per-argument conversion that costs ~0.7 µs of a ~2 µs call
#: (measured here).  For task types only, where every argument is a small int: the
#: kernel reads pid_t and int from the low 32 bits, and ignores idx1/idx2.
_untyped = _libc["syscall"]  # a second function object; _syscall keeps its argtypes
_untyped.restype = ctypes.c_long

#: The same, through a handle that keeps the GIL and leaves errno alone (ctypes.PyDLL
#: without use_errno): no lock released and taken back, no errno swapped in and out
#: around each call.  A sort makes ~10^5 calls from one thread, each a microsecond in
#: the kernel; a failure (rare) is asked again through :func:`task_errno`.
#: Measured with callgrind, user-space instructions per comparison of a sort: ~5,400
#: with six arguments through :data:`_untyped`, ~4,700 with four, ~4,000 this way.
_quick = ctypes.PyDLL(None)["syscall"]
_quick.restype = ctypes.c_long


def bare_task() -> tuple[Callable[..., int], int]:
    """libc's ``syscall`` and kcmp's number, for sorts of the six task types (and of
    fds: KCMP_FILE's arguments are all C ints, fds included).

    Call as ``f(nr, pid1, pid2, type)`` with the *nr* given: the kernel reads idx1
    and idx2 for KCMP_FILE and KCMP_EPOLL_TFD only, so for a task type the two
    arguments are left out (whatever their registers hold is ignored), which saves
    ctypes two conversions a call.  A negative answer means failure; its errno is
    not kept: ask again with :func:`task_errno`.  Arguments that do not fit a C int
    (an epoll slot's address) need :func:`bare`.

    *nr* is a Python int, passed as a C int: libffi widens an int argument with its
    sign to the register's full width (and the kernel reads a syscall number's low
    32 bits), so libc's ``long`` reads the number whole.  A ``c_long`` would cost
    ctypes an argument object per call: ~0.13 of ~1.4 µs (measured here, a kcmp
    of a process with itself, 200,000 calls).
    """
    return _quick, number()


def task_errno(pid1: int, pid2: int, type_: int) -> tuple[int, int]:
    """One kcmp call of a task type: its answer, and the errno if it is negative."""
    ret: int = _untyped(ctypes.c_long(number()), pid1, pid2, type_, 0, 0)
    return ret, (ctypes.get_errno() if ret < 0 else 0)


def seam_replaced() -> bool:
    """Whether :data:`kcmp` was replaced (by a test): bare loops then go through it."""
    return kcmp is not _kcmp


def epoll_slot_address(slot: EpollSlot) -> int:
    return ctypes.addressof(slot)


def epoll_slot_pointer(slot: EpollSlot) -> object:
    """*slot*'s address as an argument of the calls :func:`bare_task` gives: a pointer,
    passed whole and made once (a Python int would be cut to a C int)."""
    return ctypes.c_void_p(ctypes.addressof(slot))


#: The seam: ``kcmp(pid1, pid2, type, idx1, idx2)`` returns 0, 1, 2 or 3, or raises
#: OSError carrying the errno.  Tests may replace it.
kcmp = _kcmp


# ptrace(2) requests, the same numbers on every Linux architecture (uapi linux/ptrace.h).
PTRACE_DETACH = 17
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
#: the event of a stop caused by PTRACE_INTERRUPT or a group-stop (status >> 16)
PTRACE_EVENT_STOP = 128
#: waitpid() flag: wait for clone()d threads too (tracees that are threads)
WALL = 0x40000000

# libc's ptrace() rather than syscall(SYS_ptrace, ...): no number per architecture.
_ptrace = _libc.ptrace
_ptrace.restype = ctypes.c_long
_ptrace.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)


# pidfd_getfd(2) came after the tables were unified (Linux 5.6): one number everywhere
# but on MIPS, whose ABIs offset every number.  Unknown machines get no call at all.
_PIDFD_GETFD_OFFSETS = {"mips": 4000, "mipsel": 4000, "mips64": 5000, "mips64el": 5000}
_PIDFD_GETFD = 438


@functools.cache
def _pidfd_getfd_number() -> int | None:
    # Once: a big epoll copies thousands of fds, and uname() is a syscall.
    machine = os.uname().machine
    if machine not in SYSCALL_NUMBERS:
        return None
    return _PIDFD_GETFD + _PIDFD_GETFD_OFFSETS.get(machine, 0)


def pidfd_getfd(pidfd: int, fd: int) -> int:
    """A copy, in this process, of fd *fd* of the process behind *pidfd*: the same
    open file description.  Raises :class:`OSError` (EPERM without ptrace attach
    access, EBADF for a closed fd, ENOSYS before Linux 5.6 or on an unknown machine)."""
    nr = _pidfd_getfd_number()
    if nr is None:
        raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS))
    # Through the call that converts no argument (a big epoll copies thousands of
    # fds); a failure is asked again through the one that keeps errno.
    ret: int = _quick(nr, pidfd, fd, 0)
    if ret >= 0:
        return ret
    ret = _syscall(nr, pidfd, fd, 0, 0, 0)
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


def ptrace(request: int, tid: int, addr: int = 0, data: int = 0) -> int:
    """``ptrace(request, tid, addr, data)``, raising :class:`OSError` with the errno."""
    ctypes.set_errno(0)
    ret: int = _ptrace(request, tid, addr or None, data or None)
    if ret == -1:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret
