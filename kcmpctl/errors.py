"""One exception per kernel answer, each carrying the pids, fds and type involved.

Every class subclasses :class:`KcmpError` (an :class:`OSError` with ``errno`` set) and,
where Python has one, the matching built-in, so ``except ProcessLookupError`` and
``except kcmpctl.NoSuchProcess`` both work.  ``str(err)`` is the one line a user sees:
``<subject>: <reason>``.
"""

from __future__ import annotations

import errno as _errno
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .resources import AnyResource

PTRACE_HINT = "run as the owner of the process, or as root / with CAP_SYS_PTRACE"
#: the reason a process is skipped when ptrace read access is refused
DENIED = "permission denied"
#: the reason a process is skipped when its object changed while it was compared
#: (see kcmpctl.verify): what was seen of it was not true at any one moment
CHANGED = "changed during the scan"


def explain(reason: str) -> str:
    """A skip reason for a user: permission denied also says the way out."""
    return f"{reason} ({PTRACE_HINT})" if reason == DENIED else reason


class KcmpError(OSError):
    """A kcmp(2) call failed; ``subject`` names what, ``reason`` says why."""

    def __init__(
        self,
        err: int,
        subject: str,
        reason: str,
        *,
        pids: tuple[int, ...] = (),
        fds: tuple[int, ...] = (),
        resource: AnyResource | None = None,
    ) -> None:
        super().__init__(err, reason)
        self.subject = subject
        self.reason = reason
        self.pids = pids
        self.fds = fds
        self.resource = resource

    def __str__(self) -> str:
        return f"{self.subject}: {self.reason}" if self.subject else self.reason

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), self.errno, self.subject, self.reason, self.pids, self.fds))


def _rebuild(
    cls: type[KcmpError],
    err: int,
    subject: str,
    reason: str,
    pids: tuple[int, ...],
    fds: tuple[int, ...],
) -> KcmpError:
    exc = cls.__new__(cls)
    KcmpError.__init__(exc, err, subject, reason, pids=pids, fds=fds)
    return exc


class NoSuchProcess(KcmpError, ProcessLookupError):
    """ESRCH: the pid does not exist in the caller's PID namespace."""


class AccessDenied(KcmpError, PermissionError):
    """EPERM: ptrace read access to the process was refused."""


class BadFileDescriptor(KcmpError):
    """EBADF: the fd is not open in that process (or it has no fd table)."""


class InvalidArgument(KcmpError):
    """EINVAL: unknown type, or (KCMP_EPOLL_TFD) the fd is not an epoll."""


class NoSuchRegistration(KcmpError, FileNotFoundError):
    """ENOENT: the epoll has no registration with that fd number and offset."""


class BadAddress(KcmpError):
    """EFAULT: the kernel could not read the epoll slot."""


class NotSupported(KcmpError):
    """EOPNOTSUPP: the kernel was built without SYSVIPC or EPOLL."""


class KcmpUnavailable(KcmpError):
    """ENOSYS: no kcmp here (kernel without CONFIG_KCMP, seccomp, unknown architecture)."""


class Changed(KcmpError):
    """EAGAIN: a process's object changed while it was compared; no answer is true."""


class Interrupted(KcmpError, InterruptedError):
    """EINTR: a fatal signal arrived while the kernel waited for the exec lock."""


BY_ERRNO: dict[int, type[KcmpError]] = {
    _errno.ESRCH: NoSuchProcess,
    _errno.EPERM: AccessDenied,
    _errno.EBADF: BadFileDescriptor,
    _errno.EINVAL: InvalidArgument,
    _errno.ENOENT: NoSuchRegistration,
    _errno.EFAULT: BadAddress,
    _errno.EOPNOTSUPP: NotSupported,
    _errno.ENOSYS: KcmpUnavailable,
    _errno.EINTR: Interrupted,
}

UNAVAILABLE_REASON = (
    "kcmp(2) is not available: the kernel lacks CONFIG_KCMP, or a seccomp filter blocks"
    " or fakes it (containers need CAP_SYS_PTRACE)"
)


def from_errno(
    err: int,
    subject: str,
    reason: str | None = None,
    *,
    pids: tuple[int, ...] = (),
    fds: tuple[int, ...] = (),
    resource: AnyResource | None = None,
) -> KcmpError:
    """Build the exception class that matches *err*, with a readable default reason."""
    cls = BY_ERRNO.get(err, KcmpError)
    if reason is None:
        reason = _DEFAULT_REASONS.get(err) or os.strerror(err).lower()
    return cls(err, subject, reason, pids=pids, fds=fds, resource=resource)


_DEFAULT_REASONS: dict[int, str] = {
    _errno.ESRCH: "no such process",
    _errno.EPERM: explain(DENIED),
    _errno.EBADF: "bad file descriptor",
    _errno.EINVAL: "invalid argument",
    _errno.ENOENT: "no such registration",
    _errno.EFAULT: "bad address",
    _errno.EOPNOTSUPP: "not supported by this kernel",
    _errno.ENOSYS: UNAVAILABLE_REASON,
    _errno.EINTR: "interrupted by a fatal signal",
}
