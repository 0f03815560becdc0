"""The reference zombie: an exited, unreaped child whose kernel objects are all NULL.

kcmp compares pointers, and two NULLs compare equal: ``kcmp(X, zombie, T) == 0`` holds
exactly when X has no object of type T (see :mod:`kcmpctl.kcmp`).  This module loads
no ctypes, so that a command can start the child before the rest of kcmpctl loads
(:func:`start`) and the child's exit overlaps those imports; :func:`null_reference`
waits for it on first use.
"""

from __future__ import annotations

import atexit
import contextlib
import os

_TRUE = ("/bin/true", "/usr/bin/true")


class NullReference:
    """An exited, unreaped child: kcmp against it is 0 exactly for NULL objects.

    Built with *wait* false, the child may still run: :meth:`wait` (which
    :func:`null_reference` calls) returns once it is a zombie.
    """

    def __init__(self, *, wait: bool = True) -> None:
        self.pid = self._spawn()
        self._exited = False
        atexit.register(self.close)
        if wait:
            self.wait()

    @staticmethod
    def _spawn() -> int:
        for true in _TRUE:
            try:
                return os.posix_spawn(true, [true], {})
            except OSError:
                continue
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child leaves at once
            os._exit(0)
        return pid

    def wait(self) -> None:
        """Until the child has exited, leaving it unreaped (WNOWAIT).

        :class:`ChildProcessError` if it was reaped (by someone else) meanwhile.
        """
        if not self._exited:
            os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)
            self._exited = True

    def alive(self) -> bool:
        """Still our unreaped zombie (nobody else reaped it and reused its PID)."""
        try:
            return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is not None
        except ChildProcessError:
            return False

    def close(self) -> None:
        if self.pid:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self.pid = 0


_reference: NullReference | None = None


def start() -> None:
    """Spawn the reference now, without waiting for it to exit: a command that will
    compare a type a process may lack calls this before its modules load."""
    global _reference
    if _reference is None:
        _reference = NullReference(wait=False)


def null_reference() -> NullReference:
    """The process-wide reference zombie, made on first use and replaced if reaped."""
    global _reference
    if _reference is not None:
        with contextlib.suppress(ChildProcessError):
            _reference.wait()
    if _reference is None or not _reference.alive():
        _reference = NullReference()
    return _reference
