"""Open file descriptions held through fds of more than one fd table (``kcmpctl fds``).

Two fds share an open file description (the kernel's ``struct file``: offset, status
flags) after fork inheritance, SCM_RIGHTS, pidfd_getfd or dup; two open() calls of one
path never do.  /proc shows only inodes; KCMP_FILE tells descriptions apart.

The scan, cheapest step first, so that kcmp runs only where sharing is possible:

1. group the processes into fd tables (KCMP_FILES): the members of a CLONE_FILES
   family hold the very same fds, so each table is listed once, through its lowest pid;
2. stat() every fd once for its (device, inode): only fds of one inode can share a
   description, so fds are put in buckets by inode and never compared across them;
3. sort each bucket that could hold a reportable description with KCMP_FILE as the
   comparator: runs of equal neighbours are descriptions;
4. read the link and fdinfo (offset, flags) only of the descriptions reported;
5. drop every process that exited (or whose PID now names another) meanwhile, as its
   pidfd tells, so that nothing is attributed to a process that is not there.
"""

from __future__ import annotations

import collections
import operator
import os
import stat
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

from . import procs
from .errors import DENIED
from .grouping import (
    CHANGED,
    FdRef,
    ItemFailed,
    Settled,
    file_comparator,
    sort_apart,
    sort_groups,
    sort_settled,
    task_comparator,
)
from .kcmp import Resource
from .procs import Task

T = TypeVar("T", int, FdRef)

#: The reason recorded for a process that exited during the scan.
EXITED = "exited"

_FILE_TYPES = {
    stat.S_IFREG: "REG",
    stat.S_IFDIR: "DIR",
    stat.S_IFCHR: "CHR",
    stat.S_IFBLK: "BLK",
    stat.S_IFIFO: "FIFO",
    stat.S_IFSOCK: "SOCK",
    stat.S_IFLNK: "LNK",
}


def file_type(mode: int) -> str:
    """lsfd's TYPE names; anonymous inodes (eventfd, epoll, pidfd…) have no type: UNKN."""
    return _FILE_TYPES.get(stat.S_IFMT(mode), "UNKN")


class FdInfo(NamedTuple):
    """The fields of /proc/PID/fdinfo/FD that describe the open file description.

    This record, Holder and Description are NamedTuples, not frozen dataclasses: one
    bucket can report 19,000 descriptions, and a frozen dataclass costs several times
    as much to make (one object.__setattr__ per field, measured).
    """

    pos: int | None
    #: status and access-mode flags, without O_CLOEXEC (see :func:`parse_fdinfo`)
    flags: int | None


def parse_fdinfo(text: str) -> FdInfo:
    """``pos`` and ``flags`` from fdinfo text; ``None`` for a missing field.

    The kernel ORs O_CLOEXEC into ``flags`` when the fd it is read through has
    close-on-exec set: that bit belongs to one fd, not to the shared description.
    """
    head = text.split("\n", 2)
    if len(head) > 1 and head[0].startswith("pos:") and head[1].startswith("flags:"):
        # How the kernel starts every fdinfo: no walk over an epoll's thousand lines.
        pos: str | None = head[0][4:].strip()
        flags: str | None = head[1][6:].strip()
    else:
        fields: dict[str, str] = {}
        for line in text.splitlines():
            key, colon, value = line.partition(":")
            if colon and key in ("pos", "flags"):
                # Only the first: later lines (epoll's "tfd: … pos:0 ino:6e05") describe
                # other files.
                fields.setdefault(key, value.strip())
        pos, flags = fields.get("pos"), fields.get("flags")
    try:
        return FdInfo(
            int(pos) if pos is not None else None,
            int(flags, 8) & ~os.O_CLOEXEC if flags is not None else None,
        )
    except ValueError:
        return FdInfo(None, None)


class Holder(NamedTuple):
    """One fd through which a process holds a description."""

    pid: int
    fd: int
    command: str


class Description(NamedTuple):
    """An open file description held through two or more fds."""

    target: str
    dev: int
    ino: int
    mode: int
    pos: int | None
    flags: int | None
    #: every (pid, fd), ascending; members of one fd table each hold the table's fds
    holders: tuple[Holder, ...]
    #: the holders' pids grouped by fd table, each ascending, ordered by first pid
    tables: tuple[tuple[int, ...], ...]

    @property
    def type(self) -> str:
        return file_type(self.mode)


@dataclass(frozen=True, slots=True)
class Skipped:
    """A selected process whose fds are not (not all, or no longer) in the result."""

    pid: int
    command: str
    reason: str
    #: the one fd left out, when the rest of the process is in the result
    fd: int | None = None


@dataclass(frozen=True, slots=True)
class Scan:
    descriptions: tuple[Description, ...]
    skipped: tuple[Skipped, ...]


#: Rounds of sort_groups.  A round ends in another when an item fails in its neighbour
#: pass: on a machine where processes exit at 100/s a 10 ms round has about one chance
#: in three to be clean, and 8 rounds would fail a scan in a few percent of runs.
ROUNDS = 32


def _fd_tables(tasks: Sequence[Task], skipped: dict[int, str]) -> list[tuple[Task, ...]]:
    """*tasks* grouped by fd table, each group ascending by pid.

    A process that exits mid-sort without being reaped yet compares as a NULL table
    (equal only to other such): it is left in, and dropped by the final pidfd check.
    """
    by_id = {t.id: t for t in tasks}
    grouping = sort_groups(list(by_id), task_comparator(Resource.FILES), max_rounds=ROUNDS)
    for tid, reason in grouping.failed.items():
        skipped.setdefault(by_id[tid].pid, reason)
    return [
        tuple(sorted((by_id[i] for i in cls), key=lambda t: t.pid)) for cls in grouping.classes
    ]


#: (st_dev, st_ino): the fds of one bucket refer to one inode
Inode = tuple[int, int]


#: (item, partner): an fd proven by one call to hold the description its partner, an
#: fd listed and stat()ed, holds
Pair = tuple[FdRef, FdRef]


def _buckets(
    tables: Sequence[tuple[Task, ...]],
    skipped: dict[int, str],
    cmp: Callable[[FdRef, FdRef], int],
) -> tuple[dict[Inode, list[FdRef]], dict[Inode, int], dict[Inode, list[Pair]]]:
    """Every fd of each table, listed through its first member, by inode; modes; and
    the fds matched at listing, by inode.

    Fork inheritance keeps fd numbers: a table is listed after its parent's (the
    table of a member's parent process), and each of its fds is first compared with
    the parent's fd of that number, one call; an fd that matches is not stat()ed (a
    description has one inode) and joins its bucket as a pair with the fd it matched
    (the one the parent's fd itself matched, up the tree), which :func:`_group`
    proves with the rest.
    """
    buckets: dict[Inode, list[FdRef]] = {}
    modes: dict[Inode, int] = {}
    pairs: dict[Inode, list[Pair]] = {}
    parents = _parent_tables(tables)
    with_children = {p for p in parents if p is not None}
    #: for a table listed with children to come: fd -> (its stat, the fd it matched)
    listed: dict[int, dict[int, tuple[procs.FdStat, FdRef]]] = {}
    for i in _parents_first(parents):
        table = tables[i]
        first = table[0]
        tid = first.tid
        parent = parents[i]
        reference = listed.get(parent) if parent is not None else None
        matched: dict[int, FdRef] = {}
        try:
            if reference is None:
                listing = procs.fd_stats(first.pid, tid)
            else:
                listing = procs.fd_stats(first.pid, tid, _matcher(tid, reference, cmp, matched))
        except PermissionError:
            skipped.update(dict.fromkeys((t.pid for t in table), DENIED))
            continue
        if listing is None:
            continue  # exited: the final check drops the table
        if listing.unreadable:
            # Its other fds are still compared: the process is reported as partly read.
            fd, why = listing.unreadable[0]
            more = len(listing.unreadable) - 1
            reason = f"fd {fd} unreadable: {why}" + (f" (and {more} more)" if more else "")
            skipped.update(dict.fromkeys((t.pid for t in table), reason))
        mine: dict[int, tuple[procs.FdStat, FdRef]] | None = None
        if i in with_children:
            mine = listed[i] = {}
        for entry in listing.stats:
            fd, dev, ino, mode = entry
            key = (dev, ino)
            ref = (tid, fd)
            root = matched.get(fd)
            if root is not None:
                pairs.setdefault(key, []).append((ref, root))
            else:
                root = ref
                bucket = buckets.get(key)
                if bucket is None:
                    buckets[key] = [ref]
                    modes[key] = mode
                else:
                    bucket.append(ref)
            if mine is not None:
                mine[fd] = (entry, root)
    return buckets, modes, pairs


def _parent_tables(tables: Sequence[tuple[Task, ...]]) -> list[int | None]:
    """For each table, the index of another table holding a member's parent, or None."""
    table_of = {t.pid: i for i, table in enumerate(tables) for t in table}
    parents: list[int | None] = []
    for i, table in enumerate(tables):
        found = None
        for task in table:
            j = table_of.get(task.ppid)
            if j is not None and j != i:
                found = j
                break
        parents.append(found)
    return parents


def _parents_first(parents: Sequence[int | None]) -> list[int]:
    """Every index of *parents*, each after its parent's (in a cycle, which reparenting
    could make, one of them is first without its parent)."""
    order: list[int] = []
    placed = [False] * len(parents)
    for start in range(len(parents)):
        chain: list[int] = []
        at: int | None = start
        while at is not None and not placed[at]:
            placed[at] = True
            chain.append(at)
            at = parents[at]
        order.extend(reversed(chain))
    return order


def _matcher(
    tid: int,
    reference: dict[int, tuple[procs.FdStat, FdRef]],
    cmp: Callable[[FdRef, FdRef], int],
    matched: dict[int, FdRef],
) -> Callable[[int], procs.FdStat | None]:
    """For :func:`procs.fd_stats`: the stat of fd *fd* of *tid* when it holds the
    description that the reference's fd of that number held, by one call; the fd it
    matched is put in *matched*.  Where most tries miss (children that opened their
    files themselves), it stops trying."""
    tried = 0

    def known(fd: int) -> procs.FdStat | None:
        nonlocal tried
        found = reference.get(fd)
        if found is None or (tried >= _TRIES and 2 * len(matched) < tried):
            return None
        tried += 1
        entry, root = found
        try:
            if cmp((tid, fd), root) != 0:
                return None
        except ItemFailed:
            return None  # its stat() says what became of it
        matched[fd] = root
        return entry

    return known


_by_fd = operator.itemgetter(1, 0)


class _Reads:
    """The link and fdinfo of fds, each read once: in a big anonymous-inode bucket
    before the sort (what tells its descriptions apart), and for each description
    reported after it."""

    def __init__(self, by_id: dict[int, Task]) -> None:
        self.by_id = by_id
        self.done: dict[FdRef, procs.FdSnapshot | None] = {}
        self.dirs = procs.FdDirs()

    def snapshot(self, ref: FdRef, dirs: procs.FdDirs | None = None) -> procs.FdSnapshot | None:
        """The link and fdinfo of *ref*, read now or before; ``None`` if unreadable.

        Through *dirs* when many fds of a process are read in a row (a bucket's keys,
        process by process); through /proc paths otherwise (a description's details
        are one fd here, one in another process there: opening two directories for
        each would cost more than it saves)."""
        if ref in self.done:
            return self.done[ref]
        task = self.by_id[ref[0]]
        found = self.done[ref] = procs.fd_snapshot(task.pid, ref[1], task.tid, dirs)
        return found

    def apart(self, inode: Inode) -> _Apart:
        """A key for :func:`sort_apart` in the bucket of *inode*."""
        return _Apart(self, inode)

    def read(self, refs: Sequence[FdRef]) -> None:
        """Read the fds of *refs* (ascending: process by process) not read yet, through
        open directories; shared with a forked worker when they are many and this
        process may run on a second CPU."""
        todo = [ref for ref in refs if ref not in self.done]
        workers = min(2, len(os.sched_getaffinity(0)))
        if len(todo) < PARALLEL_READS or workers < 2:
            for ref in todo:
                self.snapshot(ref, self.dirs)
            return
        from . import _workers

        size = -(-len(todo) // _CHUNKS)
        chunks = [todo[i : i + size] for i in range(0, len(todo), size)]

        def job(index: int, slot: int) -> list[procs.FdSnapshot | None]:
            dirs = procs.FdDirs()
            try:
                by_id = self.by_id
                return [
                    procs.fd_snapshot(by_id[tid].pid, fd, by_id[tid].tid, dirs)
                    for tid, fd in chunks[index]
                ]
            finally:
                dirs.close()

        try:
            found = _workers.run(
                len(chunks), job, workers=workers, encode=_plain, decode=_snapshots
            )
        except _workers.WorkerError:
            found = [job(i, 0) for i in range(len(chunks))]  # read here, then
        for chunk, snapshots in zip(chunks, found, strict=True):
            self.done.update(zip(chunk, snapshots, strict=True))


#: A big anonymous-inode bucket's reads are shared with a forked worker from this many
#: fds: five system calls an fd are most of such a bucket's time (19,000 eventfds:
#: ~0.45 s of CPU time), and a second CPU halves their wall time; below, the fork and
#: the transfer of the results weigh more.
PARALLEL_READS = 4096
#: Parts the reads are cut in, one for each process: a worker's part comes back as one
#: frame of ~120 bytes an fd, which waits in the pipe until this process has read its
#: own part; with more parts the worker stopped at its first (measured: one in eight).
_CHUNKS = 2


def _plain(snapshots: list[procs.FdSnapshot | None]) -> list[tuple[str, str, int, int] | None]:
    return [None if s is None else tuple(s) for s in snapshots]  # type: ignore[misc]


def _snapshots(plain: list[tuple[str, str, int, int] | None]) -> list[procs.FdSnapshot | None]:
    return [None if s is None else procs.FdSnapshot._make(s) for s in plain]


class _Apart:
    """A key for :func:`sort_apart`: different keys, different descriptions.  An fd
    unreadable, or no longer referring to the bucket's inode, changed: ``None`` puts it
    with the others that did, apart from the fds that kept their key."""

    __slots__ = ("inode", "reads")

    def __init__(self, reads: _Reads, inode: Inode) -> None:
        self.reads = reads
        self.inode = inode

    def __call__(self, ref: FdRef) -> Hashable:
        found = self.reads.snapshot(ref, self.reads.dirs)
        if found is None or (found.dev, found.ino) != self.inode:
            return None
        return procs.apart_key(found)

    def keys(self, refs: Sequence[FdRef]) -> dict[FdRef, Hashable]:
        """The key of each of *refs*, read process by process."""
        ordered = sorted(refs)
        self.reads.read(ordered)
        return {ref: self(ref) for ref in ordered}


def _shared(
    buckets: dict[Inode, list[FdRef]],
    modes: dict[Inode, int],
    pairs: dict[Inode, list[Pair]],
    cmp: Callable[[FdRef, FdRef], int],
    reads: _Reads,
    dups: bool,
    skipped: dict[int, str],
    changed: set[FdRef],
    pid_of: dict[int, int],
) -> list[tuple[Inode, list[FdRef]]]:
    """Descriptions (as runs of equal fds) held by two tables, or by two fds with *dups*.

    Every comparison of the scan but the listing's is made here.  Fds seen moving from
    one description to another meanwhile are added to *changed*, and are in no
    description.
    """
    found: list[tuple[Inode, list[FdRef]]] = []
    for key, items in buckets.items():
        matched = pairs.get(key, ())
        # A pair is two tables: such a bucket is always compared.
        if not matched and (len(items) < 2 or (not dups and len({tid for tid, _ in items}) < 2)):
            continue
        apart = reads.apart(key) if procs.is_anonymous(modes[key]) else None
        settled = _group(items, cmp, apart, matched)
        for cls in settled.classes:
            if len(cls) >= 2 and (dups or len({tid for tid, _ in cls}) >= 2):
                found.append((key, cls))
        changed.update(settled.changed)
        for (tid, _), reason in settled.failed.items():
            # "closed" fds are just gone; exits are found by the final check.
            if reason not in ("closed", EXITED):
                skipped.setdefault(pid_of[tid], reason)
    return found


#: Buckets from this size compare the other tables' fds with the largest table's fds of
#: the same number first.
MATCH_FROM = 64
#: Tries after which matching by number stops if most of them missed.
_TRIES = 32
#: What is left to sort of an anonymous-inode bucket is first split by what proves its
#: descriptions different (:func:`procs.apart_key`) from this size: reading an fd's
#: link and fdinfo costs about as much as 10 kcmp calls (measured), a sort of n fds
#: log2(n) calls for each, and the reads are reused for the descriptions reported.
APART_FROM = 512


def _group(
    items: list[FdRef],
    cmp: Callable[[FdRef, FdRef], int],
    apart: _Apart | None = None,
    pairs: Sequence[Pair] = (),
) -> Settled[FdRef]:
    """The descriptions of one bucket, proven by :func:`settle`.

    *pairs* are fds matched by number with their parent table's at listing (see
    :func:`_buckets`), not in *items*.  Fork inheritance keeps fd numbers: when one fd
    table holds many of a bucket's fds (a process with 19,000 eventfds, one anonymous
    inode, and children its parent table does not hold), each fd of another table is
    compared with that table's fd of the same number first, one call.
    Only what is left is sorted: the big table's fds and the fds that matched nothing,
    in parts that *apart* tells apart when it is given and they are many (19,000
    eventfds: each its own ``eventfd-id``, no sort at all).
    A matched fd then joins the class of its partner, checked against a second member
    of that class when there is one.  A partner alone in its class may have been
    another description when it was matched than when it was sorted: the first fd
    matched with it is looked for among the classes sorted with it (binary search;
    none where the partner's key was its own, as each eventfd's).  A disagreement, or
    a partner seen changing, means that one of them changed, maybe the partner: the
    fd is sorted again with the classes it could join (:func:`_resort`), and only what
    that proof sees changing is set aside as changed.
    """
    # Ordered by fd, the fds of one description lie together and timsort merges them
    # as runs (~20% fewer kcmp calls, measured).
    items.sort(key=_by_fd)
    matched = list(pairs)
    failed: dict[FdRef, str] = {}
    rest = _match_big(items, cmp, matched, failed) if len(items) >= MATCH_FROM else items
    if failed:
        rest = [i for i in rest if i not in failed]
    keys: dict[FdRef, Hashable] | None = None
    if apart is not None and len(rest) >= APART_FROM:
        keys = apart.keys(rest)
        settled = sort_apart(rest, cmp, keys.__getitem__)
    else:
        settled = sort_settled(rest, cmp)
    settled.failed.update(failed)
    if not matched:
        return settled
    where = {ref: cls for cls in settled.classes for ref in cls}
    among = _among(settled.classes, keys)
    #: for a partner alone in its class: whether its matched fds belong there
    alone: dict[FdRef, bool] = {}
    unsure: list[FdRef] = []
    for item, partner in matched:
        cls = where.get(partner)
        try:
            if cls is None or partner in settled.unproven:
                agrees = False  # changed, failed, or left alone unproven since they matched
            elif len(cls) > 1:
                agrees = cmp(item, cls[0] if cls[0] != partner else cls[1]) == 0
            elif partner not in alone:
                # Alone, it may have been another description when it was sorted: the
                # first fd matched with it is looked for among the other classes it
                # could join (those of its own key when there are keys).
                part, at = among(cls)
                alone[partner] = agrees = len(part) == 1 or (
                    (keys is None or apart is None or apart(item) == keys[partner])
                    and _find(item, part, at, cmp) is None
                )
            else:
                agrees = alone[partner]
        except ItemFailed as failure:
            settled.failed[failure.item] = failure.reason  # type: ignore[index]
            if failure.item == item:
                continue
            agrees = False
        if agrees and cls is not None:
            cls.append(item)
        else:
            # One of them changed, maybe the partner: which is for the sort to say.
            unsure.append(item)
    if unsure:
        _resort(settled, [i for i in unsure if i not in settled.failed], cmp, keys, apart)
    return settled


def _match_big(
    items: list[FdRef],
    cmp: Callable[[FdRef, FdRef], int],
    matched: list[Pair],
    failed: dict[FdRef, str],
) -> list[FdRef]:
    """The fds of *items* left to sort once those of other tables that equal the
    biggest table's fd of the same number are put in *matched*; failures in *failed*."""
    big = collections.Counter(tid for tid, _ in items).most_common(1)[0][0]
    numbers = {fd for tid, fd in items if tid == big}
    rest: list[FdRef] = []
    tried = hits = 0
    for item in items:
        tid, fd = item
        # Matching pays only where numbers were inherited: where most tries miss (each
        # fork child opened the file itself), the rest goes straight to the sort.
        if tid == big or fd not in numbers or (tried >= _TRIES and 2 * hits < tried):
            rest.append(item)
            continue
        tried += 1
        try:
            if cmp(item, (big, fd)) == 0:
                matched.append((item, (big, fd)))
                hits += 1
                continue
        except ItemFailed as failure:
            failed[failure.item] = failure.reason  # type: ignore[index]
            if failure.item == item:
                continue
        rest.append(item)
    return rest


def _among(
    classes: list[list[FdRef]], keys: dict[FdRef, Hashable] | None
) -> Callable[[list[FdRef]], tuple[list[list[FdRef]], int]]:
    """For a class of *classes*, the classes sorted with it (in its part, with *keys*),
    ascending, and where it is among them."""
    parts: dict[Hashable, list[list[FdRef]]] = {}
    for c in classes:
        parts.setdefault(None if keys is None else keys[c[0]], []).append(c)
    at = {id(c): i for part in parts.values() for i, c in enumerate(part)}

    def among(cls: list[FdRef]) -> tuple[list[list[FdRef]], int]:
        return parts[None if keys is None else keys[cls[0]]], at[id(cls)]

    return among


def _find(
    item: FdRef, classes: list[list[FdRef]], skip: int, cmp: Callable[[FdRef, FdRef], int]
) -> list[FdRef] | None:
    """The class of ascending *classes*, the one at *skip* left out, that *item* equals,
    by binary search."""
    lo, hi = 0, len(classes) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        cls = classes[mid if mid < skip else mid + 1]
        sign = cmp(item, cls[0])
        if sign == 0:
            return cls
        if sign < 0:
            hi = mid
        else:
            lo = mid + 1
    return None


def _resort(
    settled: Settled[FdRef],
    unsure: list[FdRef],
    cmp: Callable[[FdRef, FdRef], int],
    keys: dict[FdRef, Hashable] | None,
    apart: Callable[[FdRef], Hashable] | None,
) -> None:
    """Place *unsure* fds in *settled* by sorting them with the classes they could join
    and proving them all again (:func:`sort_settled`), in place.

    A matched fd and its partner disagreed, or the partner was seen changing: either
    may be the one that changed, and only a sort proven by :func:`settle` tells which.
    The classes are given in their order, so the sort costs about one call for each
    fd, the proof two.  With *keys*, only the classes of the unsure fds' keys.
    """
    if keys is None or apart is None:
        joined, settled.classes = settled.classes, []
        unsure_by_key: dict[Hashable, list[FdRef]] = {None: unsure}
        classes_by_key: dict[Hashable, list[list[FdRef]]] = {None: joined}
    else:
        unsure_by_key = {}
        for ref in unsure:
            unsure_by_key.setdefault(apart(ref), []).append(ref)
        classes_by_key = {}
        kept: list[list[FdRef]] = []
        for cls in settled.classes:
            key = keys[cls[0]]
            if key in unsure_by_key:
                classes_by_key.setdefault(key, []).append(cls)
            else:
                kept.append(cls)
        settled.classes = kept
    for key, refs in unsure_by_key.items():
        order = [ref for cls in classes_by_key.get(key, ()) for ref in cls]
        again = sort_settled(order + refs, cmp)
        settled.classes += again.classes
        settled.changed += again.changed
        settled.failed.update(again.failed)
        settled.unproven |= again.unproven


def _details(
    found: Sequence[tuple[Inode, Sequence[FdRef]]], reads: _Reads
) -> list[tuple[str, FdInfo] | None]:
    """The link and fdinfo of each description, read through the first of its fds that
    still refers to its inode, in a process that is still the one selected.

    Whether a process is still the one selected is asked once for all, after the
    reads (had a PID been reused before a read, its pidfd says so); a description read
    through a process gone is read again through its other fds.
    """
    details: list[tuple[str, FdInfo] | None] = [None] * len(found)
    through: dict[int, int] = {}  # description -> the task it was read through
    gone: set[int] = set()
    todo = list(range(len(found)))
    while todo:
        for i in todo:
            inode, fds = found[i]
            for ref in fds:
                if ref[0] in gone:
                    continue
                snapshot = reads.snapshot(ref)
                if snapshot is not None and (snapshot.dev, snapshot.ino) == inode:
                    details[i] = snapshot.target, parse_fdinfo(snapshot.fdinfo)
                    through[i] = ref[0]
                    break
                # else: closed, or closed and reused for another file, since compared
        asked = {through[i] for i in todo if i in through} - gone
        now = procs.gone_tasks([reads.by_id[tid] for tid in asked])
        gone |= now
        todo = [i for i in todo if through.get(i) in now]
        for i in todo:
            details[i] = None
            del through[i]
    return details


def _still_sharing(table: tuple[Task, ...]) -> tuple[tuple[Task, ...], dict[int, str]]:
    """The members of *table* that still share its first member's fd table, and why
    each other is left out: one that exec'd or unshared since the grouping has a table
    of its own, which was not listed."""
    first = table[0]
    same = task_comparator(Resource.FILES)
    members, left = [first], {}
    for task in table[1:]:
        try:
            shares = same(first.id, task.id) == 0
        except ItemFailed:
            shares = False
        if shares:
            members.append(task)
        else:
            left[task.pid] = "left its fd table during the scan"
    return tuple(members), left


def _alive(table: tuple[Task, ...], gone: set[int]) -> tuple[tuple[Task, ...], dict[int, str]]:
    """The members of *table* not gone, and why each other live one is left out.

    The table's fds were listed and compared through its first member: if that one is
    gone (its PID maybe reused) nothing about the table can be trusted.
    """
    rest = tuple(t for t in table[1:] if t.id not in gone)
    if table[0].id in gone:
        why = f"its fd table was listed through process {table[0].pid}, which exited"
        return (), {t.pid: why for t in rest}
    return (table[0], *rest), {}


def _describe(
    inode: Inode,
    mode: int,
    fds: Sequence[FdRef],
    detail: tuple[str, FdInfo] | None,
    alive: dict[int, tuple[Task, ...]],
    dups: bool,
) -> Description | None:
    """The description behind *fds*, held through the tables still alive; ``None`` if
    it could not be read or what is left of it is not worth reporting."""
    held: list[tuple[int, tuple[Task, ...]]] = []
    # One tuple per table in *alive*: told apart by identity, no pids compared.
    tables: dict[int, tuple[Task, ...]] = {}
    for tid, fd in fds:
        if members := alive[tid]:
            held.append((fd, members))
            tables[id(members)] = members
    if detail is None or len(held) < 2 or (not dups and len(tables) < 2):
        return None
    # Loops, not generators, and fields by position: 19,000 descriptions of one
    # bucket spent a tenth of the run here.  (pid, fd) is unique: comms never compared.
    rows = [(t.pid, fd, t.comm) for fd, members in held for t in members]
    rows.sort()
    pids = [tuple([t.pid for t in members]) for members in tables.values()]
    pids.sort()
    target, info = detail
    holders = tuple(map(Holder._make, rows))
    return Description(
        target, inode[0], inode[1], mode, info.pos, info.flags, holders, tuple(pids)
    )


def scan(tasks: Sequence[Task], *, dups: bool = False) -> Scan:
    """The open file descriptions that *tasks* hold through fds of two or more fd tables
    (with *dups*, also through two fds of one table), and the tasks skipped."""
    # Kernel threads share one empty table; a zombie has none.
    live = [t for t in tasks if not t.kthread and not (t.zombie and t.tid == t.pid)]
    by_id = {t.id: t for t in live}
    skipped: dict[int, str] = {}
    changed: set[FdRef] = set()

    tables = _fd_tables(live, skipped)
    cmp = file_comparator().compare  # bare: a Comparator adds a Python call per call
    buckets, modes, pairs = _buckets(tables, skipped, cmp)
    reads = _Reads(by_id)
    try:
        pid_of = {t.id: t.pid for t in live}
        found = _shared(buckets, modes, pairs, cmp, reads, dups, skipped, changed, pid_of)
        details = _details(found, reads)
    finally:
        reads.dirs.close()

    sharing = []
    for table in tables:
        members, left = _still_sharing(table)
        sharing.append(members)
        for pid, why in left.items():
            skipped.setdefault(pid, why)

    # Last, after every kcmp call and read: a process that exited before now may have
    # had its PID reused, and what was read through that PID is not its.
    gone = procs.gone_tasks(live)
    for i in gone:
        skipped.setdefault(by_id[i].pid, EXITED)
    alive: dict[int, tuple[Task, ...]] = {}
    for members in sharing:
        alive[members[0].id], left = _alive(members, gone)
        for pid, why in left.items():
            skipped.setdefault(pid, why)

    described = (
        _describe(key, modes[key], fds, detail, alive, dups)
        for (key, fds), detail in zip(found, details, strict=True)
    )
    descriptions = [desc for desc in described if desc is not None]
    descriptions.sort(key=lambda d: (d.holders[0].pid, d.holders[0].fd, d.ino))
    comm = {t.pid: t.comm for t in tasks}
    skips = [Skipped(pid, comm[pid], reason) for pid, reason in skipped.items()]
    skips += (
        Skipped(t.pid, t.comm, CHANGED, fd) for tid, fd in changed for t in alive.get(tid, ())
    )
    skips.sort(key=lambda s: (s.pid, -1 if s.fd is None else s.fd))
    return Scan(tuple(descriptions), tuple(skips))
