"""``--freeze``: every thread of the compared processes stopped while kcmp runs.

As CRIU stops a process tree: ``PTRACE_SEIZE`` each thread (no signal is sent, so
the process's parent sees nothing), ``PTRACE_INTERRUPT`` it, wait for the stop with
``waitpid(__WALL)``, then list ``/proc/PID/task`` again until no thread appears that
was created between a listing and the stops.  A stopped thread cannot dup, close,
exec, unshare, set an I/O priority or exit (SIGKILL aside), so every answer kcmp
gives afterwards belongs to one moment.  No ``PTRACE_O_TRACECLONE``: once every
listed thread is stopped, none is left to clone, and the last listing sees them all.

:meth:`Freezer.thaw` detaches every thread (``PTRACE_DETACH``), which resumes it,
and hands back a signal that arrived while it was held.  It runs on success, on
errors, on Ctrl-C, and on SIGTERM and SIGHUP: from the first :meth:`Freezer.freeze`
to the thaw, their handlers raise :class:`~kcmpctl.status.Terminated`, and
``main()`` dies of the signal once all run again.  When kcmpctl dies anyway
(SIGKILL), the kernel detaches its tracees as the tracer exits (``exit_ptrace``)
and they run on.

What cannot be frozen is said per process, never guessed: ptrace attach is refused
(not the owner, no CAP_SYS_PTRACE, Yama, a non-dumpable process), another tracer
holds it (a debugger), it is a kernel thread, or a thread did not stop in time
(uninterruptible sleep, a vfork parent waiting for its child).  kcmpctl itself is
never stopped: it changes none of the objects it compares while it scans.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from types import FrameType, TracebackType

from . import _syscall, procs
from .errors import PTRACE_HINT
from .status import Terminated

#: seconds a seized thread may take to stop; past it, its process is not frozen
STOP_TIMEOUT = 2.0
#: seconds the thaw waits for a seized thread that had not stopped in time
LINGER = 0.1
#: seconds to wait for another kcmpctl to thaw what it froze
LOCK_TIMEOUT = 30.0
#: An abstract socket name: bound by one freezing kcmpctl at a time, released by the
#: kernel when it exits.  Two that froze each other would both stop for good.
LOCK_NAME = b"\0kcmpctl-freeze"
#: signals that end kcmpctl; while frozen, each becomes :class:`Terminated` first
ENDING_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

CANNOT = "cannot be frozen"
KERNEL_THREAD = f"{CANNOT}: a kernel thread cannot be traced"
SLOW = "a thread did not stop within"
SLOW_WHY = " (uninterruptible sleep, or a vfork parent waiting for its child)"
OUR_TRACER = f"{CANNOT}: it traces kcmpctl (stopping it would stop kcmpctl)"


@contextlib.contextmanager
def _ending_signals_blocked() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait while threads are seized or detached, so that no
    tracee is ever attached without being recorded (the signal arrives just after)."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, ENDING_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def denied(pid: int) -> str:
    """Why ptrace attach to *pid* was refused (EPERM), in the user's terms."""
    tracer = procs.tracer_pid(pid)
    if tracer:
        name = procs.comm(tracer)
        by = f"process {tracer} ({name})" if name is not None else f"process {tracer}"
        return f"{CANNOT}: already traced by {by}"
    why = f"{CANNOT}: permission denied ({PTRACE_HINT})"
    scope = procs.ptrace_scope()
    if scope:
        why += f"; Yama ptrace_scope is {scope}"
    return why


def _signal_to_deliver(status: int) -> int:
    """The signal a stopped tracee was about to receive, to hand back at detach.

    A stop by PTRACE_INTERRUPT or a group-stop (a SIGSTOP the process had already
    received) carries PTRACE_EVENT_STOP: nothing to deliver, and a group-stopped
    process stays stopped after the detach, as it was.  A signal-delivery-stop
    holds a signal that would be lost unless it is passed on.
    """
    if status >> 16 == _syscall.PTRACE_EVENT_STOP:
        return 0
    return os.WSTOPSIG(status)


class Busy(OSError):
    """Another kcmpctl kept its processes frozen for longer than :data:`LOCK_TIMEOUT`."""

    def __init__(self, timeout: float) -> None:
        super().__init__(
            errno.EBUSY,
            f"cannot freeze: another kcmpctl has kept processes frozen for {timeout:g} s",
        )


def _lock(timeout: float) -> socket.socket | None:
    """Hold the freezing lock; ``None`` where abstract sockets are not to be had."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    deadline = time.monotonic() + timeout
    while True:
        try:
            sock.bind(LOCK_NAME)
            return sock
        except OSError as err:
            if err.errno != errno.EADDRINUSE:
                sock.close()
                return None
        if time.monotonic() > deadline:
            sock.close()
            raise Busy(timeout)
        time.sleep(0.01)


class Freezer:
    """Processes stopped by :meth:`freeze` until :meth:`thaw` (or the ``with`` ends)."""

    def __init__(self, timeout: float = STOP_TIMEOUT) -> None:
        self.timeout = timeout
        self._owner = os.getpid()
        #: process IDs whose every thread is stopped (or that have no live thread)
        self.frozen: set[int] = set()
        #: process IDs that could not be frozen, with the reason
        self.refused: dict[int, str] = {}
        #: stopped thread -> (its process, the signal to hand back at detach)
        self._stopped: dict[int, tuple[int, int]] = {}
        #: seized thread whose stop has not been seen yet -> its process
        self._running: dict[int, int] = {}
        self._handlers: dict[int, signal._HANDLER] = {}
        self._lock: socket.socket | None = None
        #: the process tracing kcmpctl (0: none), read once
        self._tracer: int | None = None
        self._locked = False

    @property
    def threads(self) -> int:
        """How many threads are stopped now."""
        return len(self._stopped)

    def freeze(self, pids: Iterable[int]) -> dict[int, str]:
        """Stop every thread of each of *pids*; return those refused, with the reason.

        A refused process is left running (threads of it already stopped are
        released at once).  A process already gone is not refused: the caller's own
        check for exited processes sees it.
        """
        todo = [p for p in dict.fromkeys(pids) if p not in self.frozen and p not in self.refused]
        if not self._locked:
            self._lock = _lock(LOCK_TIMEOUT)
            self._locked = True
        if not self._handlers and threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGHUP):
                self._handlers[signum] = signal.signal(signum, _raise_terminated)
        with _ending_signals_blocked():
            active: list[int] = []
            for pid in todo:
                why = self._refusal(pid)
                if why is not None:
                    self.refused[pid] = why
                elif pid == self._owner:
                    self.frozen.add(pid)
                else:
                    active.append(pid)
            seen: dict[int, set[int]] = {pid: set() for pid in active}
            while active:
                listed_new = False
                for pid in active:
                    for tid in procs.thread_ids(pid):
                        if tid in seen[pid] or pid in self.refused:
                            continue
                        seen[pid].add(tid)
                        listed_new = True
                        why = self._seize(pid, tid)
                        if why is not None:
                            self._refuse(pid, why)
                self._wait()
                active = [p for p in active if p not in self.refused]
                if not listed_new:
                    break
            self.frozen.update(active)
        return {p: self.refused[p] for p in todo if p in self.refused}

    def _refusal(self, pid: int) -> str | None:
        if self._tracer is None:
            self._tracer = procs.tracer_pid(self._owner) or 0
        if pid != self._owner and pid == self._tracer:
            return OUR_TRACER
        return None

    def _seize(self, pid: int, tid: int) -> str | None:
        """Seize and interrupt one thread; the reason its process cannot be frozen."""
        try:
            _syscall.ptrace(_syscall.PTRACE_SEIZE, tid)
        except OSError as err:
            if err.errno == errno.ESRCH:
                return None  # exited since the listing
            st = procs.read_stat(pid, tid)
            if st is None or st.zombie:
                return None  # an exited thread (a leader that called pthread_exit)
            if st.kthread:
                return KERNEL_THREAD
            if err.errno == errno.EPERM:
                return denied(pid)
            return f"{CANNOT}: {os.strerror(err.errno or 0).lower()}"
        self._running[tid] = pid
        # ESRCH: killed since the seize; the wait below collects its exit.
        with contextlib.suppress(ProcessLookupError):
            _syscall.ptrace(_syscall.PTRACE_INTERRUPT, tid)
        return None

    def _wait(self) -> None:
        """Collect the stops of the seized threads; refuse the processes too slow."""
        deadline = time.monotonic() + self.timeout
        delay = 0.0
        while self._waiting():
            for tid in list(self._running):
                self._collect(tid)
            if not self._waiting() or time.monotonic() > deadline:
                break
            if not signal.sigpending().isdisjoint(ENDING_SIGNALS):
                return  # Ctrl-C while waiting: it arrives as the mask is restored
            time.sleep(delay)
            delay = min(max(delay * 2, 1e-4), 0.01)
        for pid in {p for p in self._running.values() if p not in self.refused}:
            self._refuse(pid, f"{CANNOT}: {SLOW} {self.timeout:g} s{SLOW_WHY}")

    def _waiting(self) -> bool:
        """Whether a thread of a process still to be frozen has not stopped yet."""
        return any(p not in self.refused for p in self._running.values())

    def _collect(self, tid: int) -> bool:
        """Whether the seized *tid* stopped (now stopped) or exited (forgotten)."""
        try:
            got, status = os.waitpid(tid, _syscall.WALL | os.WNOHANG)
        except ChildProcessError:  # gone, and its exit already collected
            del self._running[tid]
            return True
        if got == 0:
            return False
        pid = self._running.pop(tid)
        if os.WIFSTOPPED(status):
            if pid in self.refused:  # its process is left running: let this one go too
                self._detach(tid, _signal_to_deliver(status))
            else:
                self._stopped[tid] = (pid, _signal_to_deliver(status))
        return True

    def _refuse(self, pid: int, why: str) -> None:
        self.refused.setdefault(pid, why)
        for tid in [t for t, (p, _) in self._stopped.items() if p == pid]:
            self._detach(tid, self._stopped.pop(tid)[1])

    def thaw(self) -> None:
        """Resume every thread stopped.  Safe to call twice, and in a forked child."""
        if os.getpid() != self._owner:
            return
        try:
            self._thaw()
        finally:
            if self._lock is not None:
                self._lock.close()
            self._lock = None
            self._locked = False
            for signum, handler in self._handlers.items():
                signal.signal(signum, handler)
            self._handlers.clear()

    def _thaw(self) -> None:
        with _ending_signals_blocked():
            # A thread seized that had not stopped when its process was refused
            # (a vfork parent) cannot be detached until it stops: a last look, then
            # it stays attached, and stops, until kcmpctl exits and the kernel lets go.
            if self._running:
                deadline = time.monotonic() + LINGER
                while self._running and time.monotonic() < deadline:
                    for tid in list(self._running):
                        self._collect(tid)
                    time.sleep(0.001)
            for tid, (_, sig) in self._stopped.items():
                self._detach(tid, sig)
            self._stopped.clear()
            self.frozen.clear()

    @staticmethod
    def _detach(tid: int, sig: int) -> None:
        try:
            _syscall.ptrace(_syscall.PTRACE_DETACH, tid, 0, sig)
        except ProcessLookupError:
            # Killed while stopped: it is a zombie of ours to collect, not to resume.
            with contextlib.suppress(ChildProcessError):
                os.waitpid(tid, _syscall.WALL | os.WNOHANG)

    def __enter__(self) -> Freezer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.thaw()


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signum)
