"""Share CPU-bound jobs between this process and forked children.

A Python process computes on one core at a time, and a kcmp sort is CPU-bound: a
2,000-task scan of six types is ~100k kcmp calls, ~0.2 s on one core here.  fork()
gives each core a copy of the process as it stands (tasks, pidfds, comparators)
without re-importing anything.  Jobs are numbered; every process, the parent
included, takes the next number from a shared pipe as it becomes free, so a type
that is cheap (most tasks have none) does not leave a core idle.  Children send
compact results back over a second pipe and leave with ``os._exit``: no atexit
handler (the reference zombie's) and no inherited stdio buffer runs twice.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import select
import signal
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, TypeVar

R = TypeVar("R")

_HEADER = 4  # bytes of little-endian frame length
#: seconds between two calls of ``wait`` while the parent waits for children
WAIT_TICK = 0.1


class WorkerError(RuntimeError):
    """A worker failed or died; the message says how."""


def run(
    count: int,
    job: Callable[[int, int], R],
    *,
    workers: int,
    encode: Callable[[R], Any],
    decode: Callable[[Any], R],
    wait: Callable[[], None] | None = None,
) -> list[R]:
    """``[job(i, slot) for i in range(count)]``, computed by *workers* processes.

    *slot* is 0 in this process and 1.. in the children.  *encode* turns a child's
    result into what :mod:`marshal` can carry (tuples, ints, strings), *decode* back.
    *wait*, if given, is called every :data:`WAIT_TICK` seconds while this process
    has no job left and waits for the children.
    """
    if not 0 < count < 256:
        raise ValueError("between 1 and 255 jobs")
    queue_r, queue_w = os.pipe()
    # The whole queue fits the pipe; once drained, every reader sees end-of-file.
    os.write(queue_w, bytes(range(count)))
    os.close(queue_w)
    results_r, results_w = os.pipe()
    children: list[int] = []
    try:
        for slot in range(1, workers):
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the child, which never returns
                os.close(results_r)
                _child(slot, queue_r, results_w, job, encode)
            children.append(pid)
        os.close(results_w)
        results_w = -1
        done: dict[int, R] = {}
        for index in _take(queue_r):
            done[index] = job(index, 0)
        errors: list[str] = []
        for kind, index, payload in _frames(_read_all(results_r, wait)):
            if kind == "error":
                errors.append(str(payload))
            else:
                done[index] = decode(payload)
        for pid in list(children):
            _, status = os.waitpid(pid, 0)
            children.remove(pid)
            code = os.waitstatus_to_exitcode(status)
            if code == -signal.SIGINT or code == 130:
                raise KeyboardInterrupt
            if code != 0 and not errors:
                errors.append(f"worker {pid} ended with status {code}")
        if errors:
            raise WorkerError(errors[0])
        if len(done) != count:
            raise WorkerError("a worker ended before finishing its jobs")
        return [done[i] for i in range(count)]
    finally:
        for fd in (queue_r, results_r, results_w):
            if fd >= 0:
                os.close(fd)
        for pid in children:  # only on failure: end and reap what we started
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _take(queue: int) -> Iterator[int]:
    """Job numbers from the shared queue: one byte each, read atomically."""
    while True:
        byte = os.read(queue, 1)
        if not byte:
            return
        yield byte[0]


def _child(
    slot: int,
    queue: int,
    results: int,
    job: Callable[[int, int], R],
    encode: Callable[[R], Any],
) -> NoReturn:  # pragma: no cover - measured by the parent's tests, not by coverage
    status = 1
    try:
        for index in _take(queue):
            _send(results, ("ok", index, encode(job(index, slot))))
        status = 0
    except KeyboardInterrupt:
        status = 130
    except BaseException as err:
        with contextlib.suppress(OSError):
            _send(results, ("error", -1, str(err) or type(err).__name__))
    finally:
        os._exit(status)


def _send(fd: int, frame: tuple[str, int, Any]) -> None:
    data = marshal.dumps(frame)
    view = memoryview(len(data).to_bytes(_HEADER, "little") + data)
    while view:
        view = view[os.write(fd, view) :]


def _read_all(fd: int, wait: Callable[[], None] | None) -> bytes:
    # poll(), not select(): with a pidfd per selected task the pipe's fd is well
    # past select()'s limit of 1024.
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    chunks: list[bytes] = []
    while True:
        if wait is not None and not poller.poll(WAIT_TICK * 1000):
            wait()
            continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _frames(data: bytes) -> Iterator[tuple[str, int, Any]]:
    pos = 0
    while pos < len(data):
        size = int.from_bytes(data[pos : pos + _HEADER], "little")
        pos += _HEADER
        kind, index, payload = marshal.loads(data[pos : pos + size])
        pos += size
        yield kind, index, payload
