"""kcmp(2) in kernel terms: which object, in what order, and whether it exists at all.

kcmp compares obfuscated kernel pointers.  Two NULL pointers compare equal, so a raw
0 can mean "both lack the object" rather than "they share it".  kcmpctl tells these
apart with a reference zombie: a child of this process that has exited and not been
reaped has NULL mm, files, fs, io_context and SysV undo list, so
``kcmp(X, zombie, T) == 0`` holds exactly when X has no object of type T.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from typing import NamedTuple

from . import _syscall, procs
from ._reference import NullReference, null_reference
from .errors import (
    CHANGED,
    DENIED,
    UNAVAILABLE_REASON,
    Changed,
    KcmpError,
    KcmpUnavailable,
    from_errno,
)
from .resources import TASK_TYPES, AnyResource, Order, Resource

__all__ = [
    "TASK_TYPES",
    "Comparison",
    "NullReference",
    "Order",
    "Resource",
    "compare",
    "compare_files",
    "epoll_order",
    "epoll_target",
    "null_reference",
    "probe",
    "raw_kcmp",
]


class Comparison(NamedTuple):
    """The answer for one type between two processes (or two fds).

    A NamedTuple, not a frozen dataclass: as immutable, and ~4x cheaper to define
    on every start of ``kcmpctl pair``.
    """

    pid1: int
    pid2: int
    #: a kcmp type, or a namespace type (compared by its identity, ordered by inode)
    resource: AnyResource
    #: kcmp's order, or ``None`` when either side has no object of this type
    order: Order | None
    #: the pids (of the two) that have no such object
    absent: tuple[int, ...] = ()
    fd1: int | None = None
    fd2: int | None = None

    @property
    def shared(self) -> bool:
        """One kernel object, present in both: never true for two absent objects."""
        return self.order is Order.EQUAL and not self.absent


# ---------------------------------------------------------------------------- calls


def raw_kcmp(pid1: int, pid2: int, resource: Resource, idx1: int = 0, idx2: int = 0) -> Order:
    """One kcmp call; errors come back as :class:`OSError` with the errno."""
    return Order(_syscall.kcmp(pid1, pid2, int(resource), idx1, idx2))


def probe() -> None:
    """Raise :class:`KcmpUnavailable` unless kcmp can be trusted here.

    A real kernel has one answer to ``kcmp(self, -1, ...)``: ESRCH, since pid -1
    names no process and the pids are looked up before anything else.  Any other
    answer means kcmp is not really there: ENOSYS (no CONFIG_KCMP, a seccomp
    profile, gVisor), EPERM (Docker's default seccomp profile), or a success, which
    only a seccomp filter that answers without running the call gives
    (``SECCOMP_RET_ERRNO`` with 0): every later answer would be made up.
    """
    try:
        _syscall.kcmp(os.getpid(), -1, -1, 0, 0)
    except _syscall.UnsupportedArchitecture as err:
        raise KcmpUnavailable(errno.ENOSYS, "kcmp", str(err.strerror)) from err
    except OSError as err:
        if err.errno == errno.ESRCH:
            return
        raise KcmpUnavailable(errno.ENOSYS, "kcmp", UNAVAILABLE_REASON) from err
    raise KcmpUnavailable(errno.ENOSYS, "kcmp", UNAVAILABLE_REASON)


# ------------------------------------------------------------------- who failed


class Side:
    """One side of a kcmp call: the process as the user named it, the ID kcmp is
    called with (a live thread of it when its main thread has exited), and the fd
    (KCMP_FILE; for KCMP_EPOLL_TFD the epoll side's fd is the epoll's)."""

    __slots__ = ("fd", "pid", "task")

    def __init__(self, pid: int, task: int | None = None, fd: int | None = None) -> None:
        self.pid = pid
        self.task = pid if task is None else task
        self.fd = fd

    def __repr__(self) -> str:
        return f"Side({self.pid}, {self.task}, {self.fd})"


def side(pid: int, fd: int | None = None) -> Side:
    """*pid* as kcmp reaches it, resolved to a live thread once, here."""
    return Side(pid, procs.live_task(pid), fd)


def alone(s: Side, resource: Resource) -> int:
    """The errno kcmp gives for *s* compared with itself; 0 if it does not fail.

    The kernel checks existence (ESRCH) and ptrace access (EPERM) before the type;
    an fd is checked with KCMP_FILE (EBADF: not open, or no fd table at all).
    """
    if s.fd is None:
        type_ = resource if resource.is_task_type else Resource.SIGHAND
        idx = 0
    else:
        type_, idx = Resource.FILE, s.fd
    try:
        _syscall.kcmp(s.task, s.task, int(type_), idx, idx)
    except OSError as err:
        return err.errno or errno.EIO
    return 0


def culprit(sides: Sequence[Side], resource: Resource) -> tuple[Side, int] | None:
    """Which side made a kcmp call fail, and its own errno: the first side that fails
    compared with itself.  ``None`` when each still passes on its own (the trouble
    was between the two, or has passed)."""
    for s in sides:
        code = alone(s, resource)
        if code:
            return s, code
    return None


def blame(code: int, sides: Sequence[Side], resource: Resource) -> KcmpError:
    """The error for a kcmp call over *sides* that failed with *code*, naming the
    process (and fd) at fault as the user named it.  The one translation point."""
    pids = tuple(dict.fromkeys(s.pid for s in sides))
    if code == errno.ENOSYS:
        return KcmpUnavailable(code, "kcmp", UNAVAILABLE_REASON, pids=pids, resource=resource)
    found = culprit(sides, resource)
    if found is None:
        subject = "processes " + " and ".join(map(str, pids)) if len(pids) > 1 else ""
        subject = subject or f"process {pids[0]}"
        return from_errno(code, subject, pids=pids, resource=resource)
    s, own = found
    fds = (s.fd,) if s.fd is not None else ()
    if own == errno.EBADF and s.fd is not None:
        st = procs.read_stat(s.pid, s.task)
        reason = (
            f"process {s.pid} has no fd table (it has exited)"
            if st is None or st.zombie
            else f"fd {s.fd} is not open in process {s.pid}"
        )
        return from_errno(own, "", reason, pids=(s.pid,), fds=fds, resource=resource)
    return from_errno(own, f"process {s.pid}", pids=pids, fds=fds, resource=resource)


def skip_reason(code: int, fd: bool = False) -> str:
    """The reason a sort drops an item that failed with *code* on its own."""
    if code == errno.ESRCH:
        return "exited"
    if code == errno.EPERM:
        return DENIED
    if code == errno.EBADF and fd:
        return "closed"
    return os.strerror(code).lower()


# ---------------------------------------------------------------------------- compare


def _sign(t1: int, t2: int, resource: Resource) -> int:
    return (0, -1, 1, 1)[_syscall.kcmp(t1, t2, int(resource), 0, 0)]


def compare(
    pid1: int | Side, pid2: int | Side, resource: Resource, *, recheck: bool = True
) -> Comparison:
    """Compare one task resource of two processes (or threads).

    The result's ``shared`` is true only when both have the object and it is the same
    one; ``absent`` lists whichever of the two has none.  A process whose leader thread
    has exited is compared through one of its live threads (a :class:`Side` is a
    process already resolved to it).

    The two (and, for a type a process may lack, the reference zombie) are sorted
    and the answer proven a second time, as ``matrix`` does (:mod:`kcmpctl.verify`):
    a process whose object changed meanwhile raises :class:`~kcmpctl.errors.Changed`
    instead of an answer that was never true.  *recheck* false skips the proof (for
    processes that are stopped).
    """
    if not resource.is_task_type:
        raise ValueError(f"{resource.cli_name} compares fds: use compare_files/epoll_target")
    from .grouping import Grouping, OrderUnstable
    from .verify import settle

    s1 = pid1 if isinstance(pid1, Side) else side(pid1)
    s2 = pid2 if isinstance(pid2, Side) else side(pid2)
    # Made before the first call: spawning it takes a millisecond, in which a
    # process could change between two answers about it.
    ref = null_reference().pid if resource.nullable else None
    try:
        grouping = settle(
            list(dict.fromkeys((s1.task, s2.task))),
            lambda a, b: _sign(a, b, resource),
            reference=ref,
            recheck=recheck,
            comes_and_goes=resource.comes_and_goes,
        )
    except OSError as err:
        raise blame(err.errno or 0, (s1, s2), resource) from err
    except OrderUnstable:
        grouping = Grouping([], {s1.task: CHANGED, s2.task: CHANGED})
    if grouping.failed:
        changed = [s.pid for s in (s1, s2) if s.task in grouping.failed]
        pids = tuple(dict.fromkeys(changed or (s1.pid, s2.pid)))
        subject = " and ".join(map(str, pids))
        raise Changed(
            errno.EAGAIN,
            f"process{'es' if len(pids) > 1 else ''} {subject}",
            f"{resource.cli_name} {CHANGED}",
            pids=pids,
            resource=resource,
        )
    where = {item: k for k, cls in enumerate(grouping.classes) for item in cls}
    k1, k2 = where[s1.task], where[s2.task]
    if ref is not None and where[ref] in (k1, k2):
        home = where[ref]
        absent = tuple(dict.fromkeys(s.pid for s, k in ((s1, k1), (s2, k2)) if k == home))
        return Comparison(s1.pid, s2.pid, resource, None, absent)
    order = Order.EQUAL if k1 == k2 else Order.LESS if k1 < k2 else Order.GREATER
    return Comparison(s1.pid, s2.pid, resource, order, ())


def compare_files(pid1: int | Side, fd1: int, pid2: int | Side, fd2: int) -> Comparison:
    """Compare the open file descriptions behind fd1 of pid1 and fd2 of pid2."""
    for fd in (fd1, fd2):
        if not 0 <= fd <= 0x7FFFFFFF:
            # The kernel truncates fds to 32 bits: 2**32 + 3 would silently mean fd 3.
            raise from_errno(errno.EBADF, f"fd {fd}", "out of range", fds=(fd1, fd2))
    s1 = Side(pid1.pid, pid1.task, fd1) if isinstance(pid1, Side) else side(pid1, fd1)
    s2 = Side(pid2.pid, pid2.task, fd2) if isinstance(pid2, Side) else side(pid2, fd2)
    try:
        order = raw_kcmp(s1.task, s2.task, Resource.FILE, fd1, fd2)
    except OSError as err:
        raise blame(err.errno or 0, (s1, s2), Resource.FILE) from err
    return Comparison(s1.pid, s2.pid, Resource.FILE, order, (), fd1, fd2)


def epoll_target(
    holder_pid: int | Side,
    holder_fd: int,
    epoll_pid: int | Side,
    epfd: int,
    tfd: int,
    toff: int = 0,
) -> bool:
    """Whether fd *holder_fd* of *holder_pid* is the file registered in an epoll.

    The registration is the *toff*-th one made with fd number *tfd* in the epoll at fd
    *epfd* of *epoll_pid* (the order /proc/PID/fdinfo/EPFD lists them in).
    """
    return epoll_order(holder_pid, holder_fd, epoll_pid, epfd, tfd, toff) is Order.EQUAL


def epoll_order(
    holder_pid: int | Side,
    holder_fd: int,
    epoll_pid: int | Side,
    epfd: int,
    tfd: int,
    toff: int = 0,
) -> Order:
    """kcmp's order of fd *holder_fd* of *holder_pid* against an epoll registration.

    KCMP_EPOLL_TFD orders files exactly as KCMP_FILE does, so a list of fds sorted with
    KCMP_FILE can be binary-searched for a registration.  Arguments and errors are those
    of :func:`epoll_target`; a :class:`Side` is a process already resolved to the ID
    kcmp is called with.
    """
    for value in (holder_fd, epfd, tfd, toff):
        if not 0 <= value <= 0xFFFFFFFF:
            raise from_errno(errno.EBADF, f"fd {value}", "out of range")
    holder = (
        Side(holder_pid.pid, holder_pid.task, holder_fd)
        if isinstance(holder_pid, Side)
        else side(holder_pid, holder_fd)
    )
    epoll = (
        Side(epoll_pid.pid, epoll_pid.task, epfd)
        if isinstance(epoll_pid, Side)
        else side(epoll_pid, epfd)
    )
    slot = _syscall.EpollSlot(epfd, tfd, toff)
    try:
        order = raw_kcmp(
            holder.task,
            epoll.task,
            Resource.EPOLL_TFD,
            holder_fd,
            _syscall.epoll_slot_address(slot),
        )
    except OSError as err:
        code = err.errno or 0
        if code == errno.EINVAL:
            raise from_errno(
                code,
                f"process {epoll.pid} fd {epfd}",
                "not an epoll instance",
                pids=(epoll.pid,),
                fds=(epfd,),
                resource=Resource.EPOLL_TFD,
            ) from err
        if code == errno.ENOENT:
            raise from_errno(
                code,
                f"process {epoll.pid} epoll fd {epfd}",
                f"no registration with fd number {tfd} at offset {toff}",
                pids=(epoll.pid,),
                fds=(epfd, tfd),
                resource=Resource.EPOLL_TFD,
            ) from err
        raise blame(code, (holder, epoll), Resource.EPOLL_TFD) from err
    return order
