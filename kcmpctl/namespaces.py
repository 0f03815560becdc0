"""Namespaces beside kcmp's types: the other half of "what do these processes share?".

kcmp(2) has no namespace type.  A namespace's identity is the device and inode of
``/proc/PID/ns/TYPE`` (``stat()``, following the link), the identity ``lsns`` and
``setns(2)`` use.  Two processes share a namespace exactly when the identities are
equal; the identities' order (by inode, then device) stands in for kcmp's order, so
namespace types group and render as kcmp's do.

The names (:class:`~kcmpctl.resources.Namespace`, ``AnyResource``, ``-t`` groups)
live in :mod:`kcmpctl.resources`, which the command line loads on every start; this
module reads and compares, and is loaded only by a command that does.
"""

from __future__ import annotations

import errno
from collections.abc import Callable

from . import procs
from .errors import DENIED, AccessDenied, KcmpError, NoSuchProcess, explain, from_errno
from .kcmp import Comparison, Side, side
from .resources import Namespace, Order

# ------------------------------------------------------------------------ identities

#: (st_dev, st_ino) of /proc/PID/ns/TYPE
Identity = tuple[int, int]


def sort_key(identity: Identity) -> tuple[int, int]:
    """The order namespaces are listed in: by inode (as lsns lists them), then device."""
    return identity[1], identity[0]


def order(a: Identity, b: Identity) -> Order:
    if a == b:
        return Order.EQUAL
    return Order.LESS if sort_key(a) < sort_key(b) else Order.GREATER


#: what a zombie's namespace links answer (only pid and user remain)
ZOMBIE_REASON = "exited: a zombie keeps only its pid and user namespaces"


def reason(err: OSError, tid: int) -> str:
    """Why the namespace link of task *tid* could not be read, in a skip's words."""
    if err.errno in (errno.EACCES, errno.EPERM):
        return DENIED
    if err.errno in (errno.ENOENT, errno.ESRCH):
        st = procs.read_stat(tid)
        return ZOMBIE_REASON if st is not None and st.zombie else "exited"
    return (err.strerror or str(err)).lower()


def _error(err: OSError, pid: int, namespace: Namespace) -> KcmpError:
    subject = f"process {pid}: {namespace.cli_name} namespace"
    why = reason(err, pid)
    if why == DENIED:
        # Worded as kcmp's EPERM: one line for all the types a process refuses.
        return AccessDenied(
            errno.EACCES, f"process {pid}", explain(DENIED), pids=(pid,), resource=namespace
        )
    if why == "exited":
        return NoSuchProcess(errno.ESRCH, f"process {pid}", "no such process", pids=(pid,))
    return from_errno(err.errno or 0, subject, why, pids=(pid,), resource=namespace)


def identity(pid: int, namespace: Namespace, task: int | None = None) -> Identity:
    """The identity of *pid*'s namespace of this type, read once (no guard), through
    its thread *task* if given.

    :class:`~kcmpctl.errors.KcmpError` naming the pid when the link is unreadable.
    """
    try:
        return procs.ns_identity(pid if task is None else task, namespace.cli_name)
    except OSError as err:
        raise _error(err, pid, namespace) from err


def compare(pid1: int | Side, pid2: int | Side, namespace: Namespace) -> Comparison:
    """Whether two processes are in one namespace of this type.

    A process whose leader thread has exited is read through one of its live threads
    (a zombie leader's links are gone).  Each is pinned (a pidfd) before its link is
    read and checked after: an answer read through an ID that the process released
    (and that may name another now) is an error, never a result.
    """
    sides = [p if isinstance(p, Side) else side(p) for p in (pid1, pid2)]
    pins = [procs.pin(s.task) for s in sides]
    try:
        for s, pin in zip(sides, pins, strict=True):
            if pin is None:
                raise NoSuchProcess(
                    errno.ESRCH, f"process {s.pid}", "no such process", pids=(s.pid,)
                )
        ids = [identity(s.pid, namespace, s.task) for s in sides]
        for s, pin in zip(sides, pins, strict=True):
            if pin is not None and not pin.same():
                raise NoSuchProcess(
                    errno.ESRCH, f"process {s.pid}", "exited during the comparison", pids=(s.pid,)
                )
    finally:
        for pin in pins:
            if pin is not None:
                pin.close()
    return Comparison(sides[0].pid, sides[1].pid, namespace, order(ids[0], ids[1]))


#: :func:`compare` under the name the package exports it by
compare_namespace = compare


def reader(namespace: Namespace) -> Callable[[int], Identity]:
    """Identity of one task's namespace; :class:`~kcmpctl.grouping.ItemFailed` with a
    skip reason when it cannot be read."""
    from .grouping import ItemFailed

    name = namespace.cli_name

    def read(tid: int) -> Identity:
        try:
            return procs.ns_identity(tid, name)
        except OSError as err:
            raise ItemFailed(tid, reason(err, tid), err.errno or 0) from err

    return read
