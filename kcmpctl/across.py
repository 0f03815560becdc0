"""Descriptions that cross a boundary (``kcmpctl fds --across KEY``).

An open file description held on both sides of a boundary is how fds leak out of a
sandbox or into a container (runc's CVE-2024-21626 leaked a host directory fd into
the container's first process).  A filter on the result of :func:`kcmpctl.fds.scan`:
each holder's key (its effective uid, or the inode of one of its namespaces) is read
once per process, under the selection's pidfds, and a description is kept when its
holders' keys differ.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from . import procs
from .errors import DENIED
from .fds import EXITED, Description, Scan, Skipped
from .procs import Task
from .resources import across_link

#: a holder's value of one key: a uid, or a namespace's inode; None where unread
Values = Mapping[str, int | None]


@dataclass(frozen=True, slots=True)
class Keys:
    """Each holding process's values, and the processes whose values could not be read."""

    values: dict[int, dict[str, int | None]]
    unread: dict[int, str]


def read_keys(tasks: Sequence[Task], keys: Sequence[str]) -> Keys:
    """The values of *keys* for each of *tasks*, by pid.

    Read through each task's live thread, then checked against its pidfd: a process
    that exited meanwhile (its PID maybe reused) has nothing attributed to it.  A
    value that cannot be read is ``None`` and its process listed in ``unread`` with
    the reason, never guessed.
    """
    values: dict[int, dict[str, int | None]] = {}
    unread: dict[int, str] = {}
    for task in tasks:
        mine: dict[str, int | None] = {}
        for key in keys:
            try:
                mine[key] = _read(task, key)
            except OSError as err:
                mine[key] = None
                unread.setdefault(task.pid, f"{_what(key)} unreadable: {_reason(err)}")
        values[task.pid] = mine
    for tid in procs.gone_tasks(tasks):
        pid = next(t.pid for t in tasks if t.id == tid)
        values[pid] = dict.fromkeys(keys)
        unread[pid] = EXITED
    return Keys(values, unread)


def _read(task: Task, key: str) -> int:
    link = across_link(key)
    if link is None:
        return procs.effective_uid(task.tid)
    return procs.ns_identity(task.tid, link)[1]


def _what(key: str) -> str:
    link = across_link(key)
    return "uid" if link is None else f"{link} namespace"


def _reason(err: OSError) -> str:
    if isinstance(err, PermissionError):
        return DENIED
    if isinstance(err, (FileNotFoundError, ProcessLookupError)):
        return EXITED
    return (err.strerror or str(err)).lower()


def crosses(desc: Description, values: Mapping[int, Values], keys: Iterable[str]) -> bool:
    """Whether the holders of *desc* differ in any of *keys* (unread values left out)."""
    for key in keys:
        seen = {values[h.pid][key] for h in desc.holders if h.pid in values}
        seen.discard(None)
        if len(seen) > 1:
            return True
    return False


def across(result: Scan, keys: Sequence[str], found: Keys) -> Scan:
    """*result* with only the descriptions whose holders differ in one of *keys*.

    A holder whose key could not be read is left out of the comparison and its
    process reported as skipped, with the reason.
    """
    kept = tuple(d for d in result.descriptions if crosses(d, found.values, keys))
    holding = {h.pid: h.command for d in result.descriptions for h in d.holders}
    skipped = {s.pid: s for s in result.skipped}
    for pid, why in found.unread.items():
        if pid in holding:
            skipped.setdefault(pid, Skipped(pid, holding[pid], why))
    return Scan(kept, tuple(skipped[pid] for pid in sorted(skipped)))
