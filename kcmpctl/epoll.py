"""Every registration of an epoll instance, and who holds each registered file now.

An epoll remembers a target by the fd number it was added under (``tfd``).  That
number goes stale: the fd is closed or reused while the file lives on at another fd or
in another process.  KCMP_EPOLL_TFD proves which (process, fd) pairs are the file.

Cost: the fds of each process searched are stat()ed once and bucketed by inode
number; only fds whose inode matches a registration are compared.  One inode can stand
for many files (every eventfd, timerfd, signalfd and epoll is the one anonymous inode),
so each bucket of m fds is sorted once with KCMP_FILE (m·log2 m calls), whose order
KCMP_EPOLL_TFD shares.  A registration then costs one KCMP_EPOLL_TFD call when its
number is not stale, and a binary search (log2 m calls) when it is: never r·m.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import functools
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from . import _syscall, procs
from .errors import KcmpError, NoSuchRegistration, from_errno
from .grouping import CHANGED, ItemFailed, settle
from .kcmp import (
    Order,
    Resource,
    Side,
    alone,
    blame,
    compare,
    culprit,
    epoll_order,
    epoll_target,
    raw_kcmp,
    side,
)

#: The event bits of <sys/epoll.h>; the kernel adds EPOLLERR and EPOLLHUP to every
#: registration whatever was asked for.
EVENT_BITS: tuple[tuple[int, str], ...] = (
    (0x001, "EPOLLIN"),
    (0x002, "EPOLLPRI"),
    (0x004, "EPOLLOUT"),
    (0x008, "EPOLLERR"),
    (0x010, "EPOLLHUP"),
    (0x020, "EPOLLNVAL"),
    (0x040, "EPOLLRDNORM"),
    (0x080, "EPOLLRDBAND"),
    (0x100, "EPOLLWRNORM"),
    (0x200, "EPOLLWRBAND"),
    (0x400, "EPOLLMSG"),
    (0x2000, "EPOLLRDHUP"),
    (1 << 28, "EPOLLEXCLUSIVE"),
    (1 << 29, "EPOLLWAKEUP"),
    (1 << 30, "EPOLLONESHOT"),
    (1 << 31, "EPOLLET"),
)
_KNOWN_BITS = functools.reduce(lambda acc, pair: acc | pair[0], EVENT_BITS, 0)

# The kernel's own dev_t (include/linux/kdev_t.h), which fdinfo's sdev prints: not the
# encoding stat() uses (measured here: ext4 on 254:0 gives sdev fe00000, st_dev 0xfe00).
_MINORBITS = 20
_MINORMASK = (1 << _MINORBITS) - 1


def decode_events(mask: int) -> list[str]:
    """An event mask to names, lowest bit first; a bit without a name as hex."""
    return list(_event_names(mask))


@functools.lru_cache(maxsize=256)
def _event_names(mask: int) -> tuple[str, ...]:
    # An epoll of thousands of registrations has a handful of masks.
    names = [name for bit, name in EVENT_BITS if mask & bit]
    unknown = mask & ~_KNOWN_BITS
    names += [f"0x{1 << i:x}" for i in range(unknown.bit_length()) if unknown >> i & 1]
    return tuple(names)


@dataclass(frozen=True, slots=True)
class Registration:
    """One line of /proc/PID/fdinfo/EPFD: a file added to the epoll."""

    #: the fd number the file was added under, possibly stale now
    tfd: int
    #: its index among the registrations that carry the same tfd
    toff: int
    events: int
    data: int
    ino: int
    #: the superblock's device in the kernel's own encoding
    sdev: int
    #: its line's index in fdinfo, which lists registrations by file: the lines of one
    #: file are side by side (-1: not known)
    place: int = field(default=-1, compare=False, repr=False)

    @property
    def event_names(self) -> list[str]:
        return decode_events(self.events)

    @property
    def device(self) -> str:
        """``MAJOR:MINOR`` of the filesystem, as /proc/PID/mountinfo writes it."""
        return f"{self.sdev >> _MINORBITS}:{self.sdev & _MINORMASK}"


_FIELD = re.compile(r"(\w+):\s*(\S+)")
#: A ``tfd:`` line as fs/eventpoll.c prints it: a big epoll has 10,000 of them, read with
#: one pattern over the whole text.
_LINE = re.compile(
    r"^tfd: *(\d+) events: *([0-9a-f]+) data: *([0-9a-f]+)  pos:-?\d+"
    r" ino:([0-9a-f]+) sdev:([0-9a-f]+)$",
    re.MULTILINE,
)


def parse_fdinfo(text: str) -> list[Registration]:
    """The ``tfd:`` lines of an epoll's fdinfo, by (tfd, toff).

    ``tfd: %8d events: %8x data: %16llx  pos:%lli ino:%lx sdev:%x`` (fs/eventpoll.c):
    tfd is decimal, the rest hexadecimal.  The kernel resolves (tfd, toff) by walking
    the registrations in the order fdinfo lists them (by file address), so toff is the
    count of earlier lines with the same tfd.
    """
    rows: list[tuple[str, ...]] = _LINE.findall(text)
    if len(rows) != text.count("tfd:"):  # not the layout above: each field by its name
        rows = []
        for line in text.splitlines():
            if line.startswith("tfd:"):
                fields = dict(_FIELD.findall(line))
                rows.append(tuple(fields[k] for k in ("tfd", "events", "data", "ino", "sdev")))
    seen: dict[int, int] = {}
    registrations: list[Registration] = []
    for place, (number, events, data, ino, sdev) in enumerate(rows):
        tfd = int(number)
        toff = seen.get(tfd, 0)
        seen[tfd] = toff + 1
        registrations.append(
            Registration(
                tfd, toff, int(events, 16), int(data, 16), int(ino, 16), int(sdev, 16), place
            )
        )
    registrations.sort(key=lambda r: (r.tfd, r.toff))
    return registrations


class Status(enum.Enum):
    """Where a registered file is now, seen from the process that owns the epoll."""

    OK = "ok"  # fd tfd of PID is the registered file
    MOVED = "moved"  # PID holds it, at another fd
    ELSEWHERE = "elsewhere"  # PID holds it at no fd; other processes do
    UNKNOWN = "unknown"  # no holder among the processes searched


@dataclass(frozen=True, slots=True)
class Holder:
    """An fd proven, with KCMP_EPOLL_TFD, to be a registered file."""

    pid: int
    fd: int


@dataclass(frozen=True, slots=True)
class Target:
    registration: Registration
    status: Status
    #: the epoll's own process first, then by pid; fds ascending
    holders: tuple[Holder, ...]
    #: what the file is (the /proc/PID/fd link of its first holder); None if unheld
    name: str | None


@dataclass(frozen=True, slots=True)
class Skipped:
    """A process that could not be searched (its fds may hold registered files), or one
    fd of it that changed during the scan."""

    pid: int
    error: KcmpError
    fd: int | None = None


@dataclass(frozen=True, slots=True)
class Listing:
    pid: int
    epfd: int
    targets: tuple[Target, ...]
    skipped: tuple[Skipped, ...]


# ------------------------------------------------------------------------- the epoll


def read_registrations(pid: int, epfd: int) -> list[Registration]:
    """The registrations of the epoll at fd *epfd* of *pid*.

    The kernel is asked first: a KCMP_EPOLL_TFD probe fails with the reason when *pid*
    is gone or denied, or *epfd* is not open or not an epoll.  fdinfo alone cannot
    tell an empty epoll from any other file, since neither has ``tfd:`` lines.
    """
    epoll = side(pid)
    _probe(epoll, epfd)
    text = procs.read_fdinfo(epoll.task, epfd)
    if text is None:  # closed since the probe
        raise from_errno(
            errno.EBADF, "", f"fd {epfd} is not open in process {pid}", pids=(pid,), fds=(epfd,)
        )
    return parse_fdinfo(text)


def _probe(epoll: Side, epfd: int) -> None:
    """Raise unless fd *epfd* of *epoll* is an epoll that kcmp may reach."""
    with contextlib.suppress(NoSuchRegistration):
        epoll_order(epoll, epfd, epoll, epfd, 0, 0)


def check(pid: int, epfd: int, tfd: int, toff: int, holder_pid: int, holder_fd: int) -> bool:
    """Whether fd *holder_fd* of *holder_pid* is registration (*tfd*, *toff*) of the epoll."""
    return epoll_target(holder_pid, holder_fd, pid, epfd, tfd, toff)


# ------------------------------------------------------------- where to look for holders


def related_processes(pid: int) -> list[int]:
    """*pid*'s parent, its children and the processes sharing its fd table, ascending.

    Never this process: it inherited its caller's fds, and the caller may be *pid*.
    """
    me = os.getpid()
    task = procs.live_task(pid)
    st = procs.read_stat(pid)
    parent = st.ppid if st is not None else 0
    # One bare call per process (measured: 2,079 processes, compare() on each took
    # 0.2 s); an equal answer, which kcmp also gives for two processes without an fd
    # table, or a failure, is asked again through compare().
    quick, number = (None, None) if _syscall.seam_replaced() else _syscall.bare_task()
    files = int(Resource.FILES)
    found = []
    for other in procs.all_pids():
        if other in (pid, me):
            continue
        kin = procs.kinship(other)
        if kin is None or kin[1]:  # gone, or a kernel thread
            continue
        ppid, _, zombie = kin
        if other == parent or ppid == pid:
            found.append(other)
        elif quick is not None and not zombie and quick(number, task, other, files) > 0:
            continue  # another fd table
        elif _shares_fd_table(pid, task, other, zombie):
            found.append(other)
    return found


def _shares_fd_table(pid: int, task: int, other: int, zombie: bool) -> bool:
    other_task = procs.live_task(other) if zombie else other
    try:
        if raw_kcmp(task, other_task, Resource.FILES) is not Order.EQUAL:
            return False
        return compare(pid, other, Resource.FILES).shared
    except OSError as err:
        if err.errno in (errno.ESRCH, errno.EPERM):
            # Gone, or denied (pid 1 answers EPERM even to root here): not a candidate
            # anyone asked for, so not a gap worth reporting.
            return False
        raise from_errno(err.errno or 0, f"process {other}", pids=(other,)) from err


def visible_processes(pid: int) -> list[int]:
    """Every process in /proc but *pid* and this one, ascending."""
    me = os.getpid()
    return [p for p in procs.all_pids() if p not in (pid, me)]


# -------------------------------------------------------------------- proving holders


class _Fd(NamedTuple):
    """One fd of a process searched (a tuple: some 13,000 are made for a big epoll)."""

    pid: int
    #: the ID kcmp and /proc are given: a live thread when the leader has exited
    task: int
    fd: int

    @property
    def side(self) -> Side:
        return Side(self.pid, self.task, self.fd)


class _Unusable(Exception):
    """*fd* can no longer be compared: its process exited or denies us, or it closed;
    or (EAGAIN) the fds of one call, *fd* first, kept closing and opening again."""

    def __init__(self, fd: _Fd, code: int, *others: _Fd) -> None:
        super().__init__(fd, code)
        self.fd = fd
        self.code = code
        self.fds = (fd, *others)


def find_holders(
    pid: int, epfd: int, registrations: Sequence[Registration], candidates: Iterable[int]
) -> Listing:
    """Prove who holds each registered file: *pid* first, then each of *candidates*.

    A candidate that exits or closes an fd meanwhile is passed over; one that may not
    be inspected is listed in ``skipped``, as is an fd seen moving from one file to
    another during the scan.  Trouble with the epoll itself raises.
    """
    epoll = side(pid)
    search = _Search(epoll, epfd)
    by_ino: dict[int, list[Registration]] = {}
    for reg in registrations:
        by_ino.setdefault(reg.ino, []).append(reg)
    # Inode numbers alone pick candidates: sdev is not comparable with st_dev (btrfs
    # reports a device per subvolume), and a number shared by two filesystems costs one
    # more kcmp, never a wrong answer.
    buckets: dict[int, list[_Fd]] = {}
    #: each candidate fd's /proc link, read with its inode: what its file is
    links: dict[_Fd, str] = {}
    for candidate in dict.fromkeys([pid, *candidates]):
        task = procs.live_task(candidate)
        try:
            listing = procs.fd_links(task)
        except PermissionError as err:
            if candidate == pid:
                raise _denied(pid) from err
            if not _fdless(task):
                search.skipped.setdefault(candidate, _denied(candidate))
            continue
        # The epoll itself cannot be registered in itself (EINVAL): while it stays at
        # epfd it holds none of its files, and an fd that changes may be missed.
        itself = epfd if candidate == pid else -1
        # An fd whose file cannot be stat()ed (a dead FUSE mount) cannot be matched by
        # inode: it is passed over, as a closed one is.
        for fd, ino, link in listing or ():
            if ino in by_ino and fd != itself:
                f = _Fd(candidate, task, fd)
                bucket = buckets.get(ino)
                if bucket is None:
                    buckets[ino] = [f]
                else:
                    bucket.append(f)
                links[f] = link

    # A KCMP_EPOLL_TFD call walks the registrations: in a big epoll, KCMP_FILE calls
    # against a proven fd are much cheaper than a KCMP_EPOLL_TFD call per fd.
    walk_costs = len(registrations) >= _LONG_WALK
    found: dict[tuple[int, int], list[_Fd] | None] = {}
    with contextlib.closing(search):
        _find(search, pid, by_ino, buckets, walk_costs, found)
    targets = []
    for reg in registrations:
        holders = found[reg.tfd, reg.toff]
        if holders is not None:
            targets.append(_target(pid, reg, holders, links))
    # Answers about an epoll whose process exited meanwhile are no answers at all.
    _probe(epoll, epfd)
    skipped = [Skipped(p, e) for p, e in search.skipped.items()]
    skipped += (Skipped(f.pid, _changed(f), f.fd) for f in search.changed)
    skipped.sort(key=lambda s: (s.pid, -1 if s.fd is None else s.fd))
    return Listing(pid, epfd, tuple(targets), tuple(skipped))


def _find(
    search: _Search,
    pid: int,
    by_ino: dict[int, list[Registration]],
    buckets: dict[int, list[_Fd]],
    walk_costs: bool,
    found: dict[tuple[int, int], list[_Fd] | None],
) -> None:
    for ino, regs in by_ino.items():
        fds = buckets.get(ino, [])
        by_hints = search.by_hints(fds, regs, pid) if walk_costs else None
        if by_hints is not None:
            found.update(by_hints)
        elif len(regs) <= _direct_limit(len(fds)):
            for reg in regs:
                found[reg.tfd, reg.toff] = search.prove_each(_Bucket(fds, pid), reg, walk_costs)
        else:
            by_id = search.by_eventfd_id(fds, regs, pid)
            found.update(by_id)
            rest = [reg for reg in regs if (reg.tfd, reg.toff) not in by_id]
            by_copies = search.by_copies(fds, rest, pid) if rest else {}
            if by_copies is not None:
                found.update(by_copies)
            else:
                bucket = _Bucket(search.sort(fds), pid)
                for reg in rest:
                    found[reg.tfd, reg.toff] = search.find(bucket, reg)


#: Registrations from which one KCMP_EPOLL_TFD call costs several KCMP_FILE calls
#: (measured: 10 us a call at 1,000 registrations, 115 us at 10,000; KCMP_FILE 1-4 us).
_LONG_WALK = 512


def _direct_limit(fds: int) -> int:
    """How many registrations of one inode are proven against each of its *fds* directly.

    Proving every fd against every registration takes r·m KCMP_EPOLL_TFD calls and needs
    no order, so nothing that changes meanwhile can mislead it; sorting takes about
    m·log2(m) KCMP_FILE calls and then a search per registration.  A pipe, FIFO or
    socket is most often registered once: it is proven directly.
    """
    return max(1, fds.bit_length())


def _place(reg: Registration) -> int:
    return reg.place


def _compare_limit(fds: int) -> int:
    """How many KCMP_FILE calls one inode's bucket of *fds* may take to match its fds
    one by one with the files proven, before an id or a sort is cheaper."""
    return 4 * fds + 64


def _changed(fd: _Fd) -> KcmpError:
    return KcmpError(0, f"process {fd.pid} fd {fd.fd}", CHANGED, pids=(fd.pid,), fds=(fd.fd,))


def _denied(pid: int) -> KcmpError:
    return from_errno(errno.EPERM, f"process {pid}", pids=(pid,))


def _fdless(task: int) -> bool:
    """A kernel thread or a dead process: nothing to search, so no gap when denied."""
    st = procs.read_stat(task)
    return st is None or st.kthread or st.zombie


def _target(pid: int, reg: Registration, found: list[_Fd], links: dict[_Fd, str]) -> Target:
    if len(found) == 1:  # most often: 9,000 of them in a big epoll
        (f,) = found
        if f.pid != pid:
            status = Status.ELSEWHERE
        else:
            status = Status.OK if f.fd == reg.tfd else Status.MOVED
        name = links.get(f) or procs.fd_target(f.task, f.fd)
        return Target(reg, status, (Holder(f.pid, f.fd),), name)
    if len(found) > 1:
        found = sorted(found, key=lambda f: (f.pid != pid, f.pid, f.fd))
    holders = tuple([Holder(f.pid, f.fd) for f in found])
    own = [f.fd for f in found if f.pid == pid]
    if reg.tfd in own:
        status = Status.OK
    elif own:
        status = Status.MOVED
    else:
        status = Status.ELSEWHERE if holders else Status.UNKNOWN
    name = (links.get(found[0]) or procs.fd_target(found[0].task, found[0].fd)) if found else None
    return Target(reg, status, holders, name)


class _Bucket:
    """The fds behind one inode number, in KCMP_FILE order: one file's fds side by side."""

    def __init__(self, fds: list[_Fd], pid: int) -> None:
        self.fds = fds
        self.pid = pid
        self.own: dict[int, int] = {}
        self.reindex()

    def reindex(self) -> None:
        """Where each fd of the epoll's own process sits, by fd number."""
        self.own = {f.fd: i for i, f in enumerate(self.fds) if f.pid == self.pid}


def _hints(bucket: _Bucket, reg: Registration) -> list[int]:
    """Where in *bucket* the epoll's own process holds fd tfd and fd data, if it does."""
    hints = [bucket.own.get(reg.tfd), bucket.own.get(reg.data)]
    return list(dict.fromkeys(h for h in hints if h is not None))


class _NoCopy(Exception):
    """An fd cannot be copied into this process: no ptrace attach access (which
    pidfd_getfd needs, and kcmp does not), no such call, or the fd limit."""


class _NotIt(enum.Enum):
    NOT_IT = enum.auto()


#: A copied fd that is not the registered file (or an eventfd nobody was seen holding)
_NOT_IT = _NotIt.NOT_IT

_EPOLL_TFD = int(Resource.EPOLL_TFD)
_FILE = int(Resource.FILE)
_ORDERS = tuple(Order)
#: kcmp's 0/1/2/3 as a comparator's 0/-1/1 (3, never returned, is at least not equal)
_SIGNS = (0, -1, 1, 1)
#: Calls made again when an fd was closed at the moment of one and is open again: a
#: process that closes and reuses fd numbers all the time.
_AGAIN = 4


class _Search:
    """kcmp calls against one epoll, passing over fds that become unusable.

    Each KCMP_EPOLL_TFD call walks the epoll's registrations from the first until it
    meets (tfd, toff), in the kernel (ep_find_tfd): measured with 10,000 registrations,
    113 us a call against 4 us for KCMP_FILE.  So KCMP_EPOLL_TFD is asked as seldom as
    it can be, and KCMP_FILE does the rest.
    """

    def __init__(self, epoll: Side, epfd: int) -> None:
        self.epoll = epoll
        self.epfd = epfd
        self.skipped: dict[int, KcmpError] = {}
        self.changed: list[_Fd] = []
        # The hot loops call kcmp bare (find_holders is reached after _probe went
        # through the seam), through the call that converts no argument (each is a C
        # int but the slot's address, a pointer made once); a failure, whose errno that
        # call does not keep, is asked again through epoll_order or raw_kcmp.
        bare, self._nr = _syscall.bare_task()
        self._bare = None if _syscall.seam_replaced() else bare
        self._slot = _syscall.EpollSlot(epfd, 0, 0)
        self._address = _syscall.epoll_slot_pointer(self._slot)
        self._me = os.getpid()
        #: a pidfd per task fds are copied from (None: gone); None once a copy is refused
        self._pidfds: dict[int, int | None] | None = {}

    def close(self) -> None:
        for pidfd in (self._pidfds or {}).values():
            if pidfd is not None:
                os.close(pidfd)
        self._pidfds = None

    def _copy(self, fd: _Fd) -> int | None:
        """A copy of *fd* in this process (pidfd_getfd), or None if it is closed or its
        process gone.  Raises :class:`_NoCopy` when copies cannot be had at all (no
        ptrace attach access, no such call, the fd limit), and from then on."""
        pidfds = self._pidfds
        if pidfds is None:
            raise _NoCopy
        pidfd = pidfds.get(fd.task, -1)
        if pidfd == -1:
            try:
                pidfd = os.pidfd_open(fd.task)
            except ProcessLookupError:
                pidfd = None
            except OSError as err:  # a thread ID (its leader exited) before Linux 6.9
                self.close()
                raise _NoCopy from err
            pidfds[fd.task] = pidfd
        if pidfd is None:
            return None
        try:
            return _syscall.pidfd_getfd(pidfd, fd.fd)
        except OSError as err:
            if err.errno in (errno.EBADF, errno.ESRCH):  # closed since, or exited
                return None
            self.close()
            raise _NoCopy from err

    def sort(self, fds: list[_Fd]) -> list[_Fd]:
        """*fds* in KCMP_FILE order (equal files side by side), proven by
        :func:`~kcmpctl.grouping.settle`: fds seen changing are set aside."""
        while True:
            try:
                ordered = sorted(fds, key=functools.cmp_to_key(self._file_cmp))
                break
            except _Unusable as gone:
                self._drop(fds, gone)
        settled = settle(ordered, self._settle_cmp)
        self.changed += settled.changed
        ordered = [f for cls in settled.classes for f in cls]
        for item, reason in settled.failed.items():
            self._drop(ordered, _Unusable(item, int(reason)))
        return ordered

    def by_hints(
        self, fds: list[_Fd], regs: Sequence[Registration], pid: int
    ) -> dict[tuple[int, int], list[_Fd] | None] | None:
        """The holders of *regs* (one inode's) among *fds*, when each registration is
        proven at an fd of *pid* that its number or data word names; else None, and
        the other ways take the bucket.

        Each such fd is copied into this process and the copy proven: the fd is
        listed as what it was when copied.  Which registrations are one file needs no
        id and no sort: fdinfo lists registrations by file (then by tfd), so two with
        another inode's line between them, or side by side with the later tfd not
        above the earlier, are different files; else their copies are compared (one
        KCMP_FILE call).  Every other fd of the bucket is compared with one copy of
        each file; when there are too many of those, None.
        """
        if len(regs) > 1:
            regs = sorted(regs, key=_place)
        if not regs or regs[0].place < 0:
            return None
        if len(regs) == 1 and self._bare is not None:
            quick = self._one_quick(fds, regs[0], pid)
            if quick is not None:
                return quick
        own = {f.fd: f for f in fds if f.pid == pid}
        hints: list[tuple[_Fd, ...]] = []
        for reg in regs:
            at_tfd, at_data = own.get(reg.tfd), own.get(reg.data)
            if at_tfd is None or at_tfd is at_data:
                if at_data is None:
                    return None
                hints.append((at_data,))
            else:
                hints.append((at_tfd,) if at_data is None else (at_tfd, at_data))
        if len(regs) == 1:
            return self._by_one_hint(fds, regs[0], hints[0])
        named = {f for named in hints for f in named}
        if (len(fds) - len(named)) * len(regs) > _compare_limit(len(fds)):
            return None
        copies: dict[_Fd, _Fd | None] = {}
        try:
            # Each file: the copy that stands for it, its registrations, its fds.
            files: list[tuple[_Fd, list[Registration], list[_Fd]]] = []
            gone: list[Registration] = []
            last: Registration | None = None  # the last proven, and its index
            last_index = 0
            for i, reg in enumerate(regs):
                for hint in hints[i]:
                    mine = copies[hint] if hint in copies else self._copy_fd(hint, copies)
                    if mine is None:  # closed since it was listed
                        continue
                    try:
                        if self._epoll_order(mine, reg) is not Order.EQUAL:
                            continue
                    except NoSuchRegistration:
                        gone.append(reg)
                        break
                    if (
                        last is not None
                        # no other inode's line between, and one file's lines go by tfd
                        and reg.place - last.place == i - last_index
                        and reg.tfd > last.tfd
                        and self._file_cmp(mine, files[-1][0]) == 0
                    ):
                        files[-1][1].append(reg)
                        if hint not in files[-1][2]:
                            files[-1][2].append(hint)
                    else:
                        files.append((mine, [reg], [hint]))
                    last, last_index = reg, i
                    break
                else:
                    return None
            return self._hinted_files(fds, files, gone)
        except _NoCopy:
            return None
        finally:
            for mine in copies.values():
                if mine is not None:
                    os.close(mine.fd)

    def _one_quick(
        self, fds: list[_Fd], reg: Registration, pid: int
    ) -> dict[tuple[int, int], list[_Fd] | None] | None:
        """:meth:`_by_one_hint` for its first hint in one function, its kcmp calls
        bare (a big epoll of pipes takes this path 4,500 times): the same calls,
        holders and order.  None when a call fails or the hint is not the file:
        :meth:`_by_one_hint` then asks again, through the calls that name a failure."""
        hint = at_data = None
        for f in fds:
            if f.pid == pid:
                if f.fd == reg.tfd:
                    hint = f
                    break
                if f.fd == reg.data and at_data is None:
                    at_data = f
        hint = hint or at_data
        if hint is None:
            return None
        try:
            copy = self._copy(hint)
        except _NoCopy:
            return None
        if copy is None:
            return None
        bare, nr, me = self._bare, self._nr, self._me
        assert bare is not None
        try:
            slot = self._slot
            slot.tfd, slot.toff = reg.tfd, reg.toff
            if bare(nr, me, self.epoll.task, _EPOLL_TFD, copy, self._address) != 0:
                return None
            holders = [hint]
            for f in fds:
                if f is not hint:
                    answer = bare(nr, f.task, me, _FILE, f.fd, copy)
                    if answer < 0:
                        return None
                    if answer == 0:
                        holders.append(f)
            return {(reg.tfd, reg.toff): holders}
        finally:
            os.close(copy)

    def _by_one_hint(
        self, fds: list[_Fd], reg: Registration, hints: tuple[_Fd, ...]
    ) -> dict[tuple[int, int], list[_Fd] | None] | None:
        """:meth:`by_hints` for an inode registered once (a pipe, a socket): the file
        proven through a copy of one of *hints*, the other fds compared with it."""
        me = self._me
        for hint in hints:
            try:
                copy = self._copy(hint)
            except _NoCopy:
                return None
            if copy is None:  # closed since it was listed
                continue
            try:
                mine = _Fd(me, me, copy)
                try:
                    if self._epoll_order(mine, reg) is not Order.EQUAL:
                        continue
                except NoSuchRegistration:
                    return {(reg.tfd, reg.toff): None}
                holders = [hint]
                if len(fds) > 1:
                    rest = [f for f in fds if f is not hint]
                    kept = self._match(rest, [(mine, holders)])
                    holders = [f for f in holders if f is hint or f in kept]
                return {(reg.tfd, reg.toff): holders}
            finally:
                os.close(copy)
        return None

    def _match(self, rest: list[_Fd], files: list[tuple[_Fd, list[_Fd]]]) -> set[_Fd]:
        """Each of *rest* compared with each file's copy until one is the same file,
        and added to that file's fds; the fds of *rest* still usable after."""
        kept = set(rest)
        for f in rest[:]:
            if f not in kept:  # its process was dropped meanwhile
                continue
            try:
                for mine, holders in files:
                    if self._file_cmp(f, mine) == 0:
                        holders.append(f)
                        break
            except _Unusable as unusable:
                self._drop(rest, _Unusable(f, unusable.code))  # never a copy
                kept = set(rest)
        return kept

    def _copy_fd(self, fd: _Fd, copies: dict[_Fd, _Fd | None]) -> _Fd | None:
        """:meth:`_copy` of *fd*, as an fd of this process, kept in *copies*."""
        copy = self._copy(fd)
        mine = copies[fd] = None if copy is None else _Fd(self._me, self._me, copy)
        return mine

    def _hinted_files(
        self,
        fds: list[_Fd],
        files: list[tuple[_Fd, list[Registration], list[_Fd]]],
        gone: list[Registration],
    ) -> dict[tuple[int, int], list[_Fd] | None] | None:
        """:meth:`by_hints` once each file is proven: who else of *fds* holds it."""
        held = {f for _, _, named in files for f in named}
        if len(held) < len(fds):
            rest = [f for f in fds if f not in held]
            if len(rest) * len(files) > _compare_limit(len(fds)):
                return None
            kept = self._match(rest, [(mine, holders) for mine, _, holders in files])
            kept |= held
            for _, _, holders in files:
                holders[:] = [f for f in holders if f in kept]
        found: dict[tuple[int, int], list[_Fd] | None] = {(r.tfd, r.toff): None for r in gone}
        for _, file_regs, holders in files:
            for reg in file_regs:
                found[reg.tfd, reg.toff] = holders
        return found

    def by_eventfd_id(
        self, fds: list[_Fd], regs: Sequence[Registration], pid: int
    ) -> dict[tuple[int, int], list[_Fd] | None]:
        """The holders of those of *regs* that are eventfds, found without sorting *fds*.

        Each eventfd has an id of its own (:func:`~kcmpctl.procs.eventfd_id`), which
        splits the anonymous inode's bucket by file.  But ids are read at one moment and
        a registration is proven at another: an fd of *pid* that changes in between
        would send the search to another file's fds and miss every holder of the
        registered one.  So the registration is proven against a copy of that fd taken
        into this process (pidfd_getfd), which nothing else can change: the copy's id
        is the registered file's, and each fd read with that id is compared with the
        copy.  Every fd that holds the file throughout the scan is found; one that
        changes may be missed, as in a sort.  Registrations left out (no fd of *pid*
        at their number or data word, not an eventfd, pidfd_getfd refused) are left to
        :meth:`by_copies`.
        """
        ids: dict[int, list[_Fd]] = {}
        own: dict[int, _Fd] = {}
        for f in fds:
            key = procs.eventfd_id(f.task, f.fd)
            if key is not None:
                ids.setdefault(key, []).append(f)
                if f.pid == pid:
                    own[f.fd] = f
        resolved: dict[tuple[int, int], list[_Fd] | None] = {}
        try:
            for reg in regs:
                for number in dict.fromkeys((reg.tfd, reg.data)):
                    hint = own.get(number)
                    copy = None if hint is None else self._copy(hint)
                    if copy is None:
                        continue
                    try:
                        holders = self._holding(copy, reg, ids)
                    finally:
                        os.close(copy)
                    if holders is not _NOT_IT:
                        resolved[reg.tfd, reg.toff] = holders
                        break
        except _NoCopy:
            pass  # the sort takes the rest
        return resolved

    def by_copies(
        self, fds: list[_Fd], regs: Sequence[Registration], pid: int
    ) -> dict[tuple[int, int], list[_Fd] | None] | None:
        """The holders of *regs* among *fds*, found by sorting copies of *fds* taken into
        this process: nothing can move a copy, so an fd that changes meanwhile can
        mislead neither the sort nor a search through it.  Each fd is listed as what it
        was when copied.  None when copies cannot be had: the fds themselves are sorted.
        """
        origin: dict[int, _Fd] = {}  # copy -> the fd copied
        try:
            for f in fds:
                copy = self._copy(f)
                if copy is not None:
                    origin[copy] = f
            me = self._me
            ordered = sorted(
                (_Fd(me, me, copy) for copy in origin), key=functools.cmp_to_key(self._file_cmp)
            )
            bucket = _Bucket(ordered, me)
            # Hints by the numbers of the epoll's own process; a copy's sorted place is
            # its file's, so even a hint that is not the file narrows the search soundly.
            bucket.own = {
                origin[c.fd].fd: i for i, c in enumerate(ordered) if origin[c.fd].pid == pid
            }
            found: dict[tuple[int, int], list[_Fd] | None] = {}
            for reg in regs:
                held = self.find(bucket, reg)
                found[reg.tfd, reg.toff] = None if held is None else [origin[c.fd] for c in held]
            return found
        except _NoCopy:
            return None
        finally:
            for copy in origin:
                os.close(copy)

    def _holding(
        self, copy: int, reg: Registration, ids: dict[int, list[_Fd]]
    ) -> list[_Fd] | _NotIt | None:
        """The fds in *ids* that are the file at fd *copy* of this process, if that is
        *reg*'s; None if *reg* is gone; :data:`_NOT_IT` if the copy proves nothing."""
        me = self._me
        mine = _Fd(me, me, copy)
        try:
            if self._epoll_order(mine, reg) is not Order.EQUAL:
                return _NOT_IT
        except NoSuchRegistration:
            return None
        found = []
        for f in ids.get(procs.eventfd_id(me, copy) or -1, ()):
            try:
                if self._file_cmp(f, mine) == 0:
                    found.append(f)
            except _Unusable as gone:
                if gone.code == errno.EPERM:
                    self.skipped.setdefault(gone.fd.pid, _denied(gone.fd.pid))
                elif gone.code == errno.EAGAIN and f not in self.changed:
                    self.changed.append(f)
        # Nobody found holding it when the ids were read: the fd copied changed
        # meanwhile, or the file is no eventfd.  The sort tells.
        return found or _NOT_IT

    def _settle_cmp(self, a: _Fd, b: _Fd) -> int:
        try:
            return self._file_cmp(a, b)
        except _Unusable as gone:
            # settle() keeps a reason per item: here the errno, for _drop.
            raise ItemFailed(gone.fd, str(gone.code), gone.code) from gone

    def prove_each(self, bucket: _Bucket, reg: Registration, by_hint: bool) -> list[_Fd] | None:
        """The fds of *bucket* that are *reg*'s file, each proven against the registration
        itself (which no fd table change can touch); None if *reg* is gone.

        With *by_hint*, an fd of the epoll's own process at the registration's number
        (or at its data word, which often holds the fd) is proven first, through a copy
        of it in this process, and the other fds are compared with that copy by
        KCMP_FILE.  Without copies, they are compared with the fd itself before and
        after its proof: those found different both times are passed over, those equal
        are proven in turn, and an fd whose answers differ sends the bucket back to
        proving each fd.
        """
        fds = bucket.fds
        try:
            if by_hint:
                found = self._around_hint(bucket, reg)
                if found is not None:
                    return found
            proven = []
            for fd in list(fds):
                try:
                    if self._epoll_order(fd, reg) is Order.EQUAL:
                        proven.append(fd)
                except _Unusable as gone:
                    self._drop(fds, gone)
        except NoSuchRegistration:
            return None
        kept = set(fds)  # an fd dropped after it was proven (its process exited) is out
        return self._exists(reg, [f for f in proven if f in kept])

    def _around_hint(self, bucket: _Bucket, reg: Registration) -> list[_Fd] | None:
        for hint in _hints(bucket, reg):
            fds = bucket.fds
            proof = fds[hint]
            try:
                copy = self._copy(proof)
            except _NoCopy:
                pass
            else:
                if copy is None:  # closed since it was listed
                    continue
                try:
                    found = self._around_copy(bucket, reg, copy)
                finally:
                    os.close(copy)
                if found is _NOT_IT:
                    continue
                return found
            others = [f for f in fds if f is not proof]
            try:
                before = [self._file_cmp(f, proof) for f in others]
                if self._epoll_order(proof, reg) is not Order.EQUAL:
                    continue
                after = [self._file_cmp(f, proof) for f in others]
                if before != after:
                    return None
                same = [f for f, sign in zip(others, after, strict=True) if sign == 0]
                return [proof, *(f for f in same if self._epoll_order(f, reg) is Order.EQUAL)]
            except _Unusable as gone:
                self._drop(fds, gone)
                bucket.reindex()
                return None
        return None

    def _around_copy(
        self, bucket: _Bucket, reg: Registration, copy: int
    ) -> list[_Fd] | _NotIt | None:
        """The fds of *bucket* that are the file at fd *copy* of this process, if that is
        *reg*'s (:data:`_NOT_IT` if not): the copy cannot change, so one KCMP_FILE call
        against it proves an fd.  None if none is (the fd copied changed meanwhile)."""
        me = self._me
        mine = _Fd(me, me, copy)
        if self._epoll_order(mine, reg) is not Order.EQUAL:
            return _NOT_IT
        same = []
        for f in list(bucket.fds):
            try:
                if self._file_cmp(f, mine) == 0:
                    same.append(f)
            except _Unusable as gone:
                self._drop(bucket.fds, _Unusable(f, gone.code))  # never the copy itself
        kept = set(bucket.fds)
        bucket.reindex()
        return [f for f in same if f in kept] or None

    def find(self, bucket: _Bucket, reg: Registration) -> list[_Fd] | None:
        """The fds of *bucket* that are *reg*'s file; None if *reg* is gone."""
        try:
            found = self._search(bucket, reg)
        except NoSuchRegistration:
            return None
        return self._exists(reg, found)

    def _exists(self, reg: Registration, found: list[_Fd]) -> list[_Fd] | None:
        """*found*; or None when it is empty because *reg* is gone."""
        if not found:
            # Unheld, or gone since fdinfo was read: the kernel drops a registration
            # when the last holder closes its file.  Asking with the epoll's own fd
            # tells which.
            try:
                epoll_order(self.epoll, self.epfd, self.epoll, self.epfd, reg.tfd, reg.toff)
            except NoSuchRegistration:
                return None
        return found

    def _epoll_order(self, fd: _Fd, reg: Registration) -> Order:
        slot = self._slot
        for _ in range(_AGAIN):
            slot.tfd, slot.toff = reg.tfd, reg.toff
            if self._bare is not None:
                answer = self._bare(
                    self._nr, fd.task, self.epoll.task, _EPOLL_TFD, fd.fd, self._address
                )
                if answer >= 0:
                    return _ORDERS[answer]
            try:  # again through the seam, which names what failed
                return epoll_order(fd.side, fd.fd, self.epoll, self.epfd, reg.tfd, reg.toff)
            except NoSuchRegistration:
                raise
            except KcmpError as err:
                gone = self._unusable(err.errno or 0, fd, err=err)
                if gone is not None:
                    raise gone from err
        raise _Unusable(fd, errno.EAGAIN)

    def _search(self, bucket: _Bucket, reg: Registration) -> list[_Fd]:
        while True:
            try:
                return self._equal_run(bucket.fds, reg, _hints(bucket, reg))
            except _Unusable as gone:
                self._drop(bucket.fds, gone)
                bucket.reindex()

    def _file_cmp(self, a: _Fd, b: _Fd) -> int:
        for _ in range(_AGAIN):
            if self._bare is not None:
                answer = self._bare(self._nr, a.task, b.task, _FILE, a.fd, b.fd)
                if answer >= 0:
                    return _SIGNS[answer]
            try:  # again through the seam, which names what failed
                order = raw_kcmp(a.task, b.task, Resource.FILE, a.fd, b.fd)
            except OSError as err:
                gone = self._unusable(err.errno or 0, a, b)
                if gone is not None:
                    raise gone from err
                continue
            return -1 if order is Order.LESS else 0 if order is Order.EQUAL else 1
        raise _Unusable(a, errno.EAGAIN, b)

    def _equal_run(self, fds: list[_Fd], reg: Registration, hints: list[int]) -> list[_Fd]:
        """The run of sorted *fds* that is *reg*'s file, looked for first at *hints*.

        *hints* are where the epoll's own process holds fds numbered as the
        registration's tfd and data word: most often one is the file itself, found with
        one call; else each answer narrows the binary search.
        """

        @functools.cache
        def order(i: int) -> Order:
            return self._epoll_order(fds[i], reg)

        lo, hi = 0, len(fds)
        equal = next((h for h in hints if order(h) is Order.EQUAL), None)
        if equal is not None:
            lo = equal
        else:
            for hint in hints:
                if order(hint) is Order.LESS:
                    lo = max(lo, hint + 1)
                else:
                    hi = min(hi, hint)
            while lo < hi:  # the first fd not sorting before the registered file
                mid = (lo + hi) // 2
                if order(mid) is Order.LESS:
                    lo = mid + 1
                else:
                    hi = mid
            if lo == len(fds) or order(lo) is not Order.EQUAL:
                return []
        # Its neighbours were found equal to it at other moments: each is proven
        # against the registration itself, which no fd table change can touch.
        start, end = self._run_around(fds, lo)
        return [fds[i] for i in range(start, end) if i == lo or order(i) is Order.EQUAL]

    def _run_around(self, fds: list[_Fd], i: int) -> tuple[int, int]:
        """Where *fds[i]* and its neighbours that are the same file start and end."""
        lo = i
        while lo > 0 and self._file_cmp(fds[lo - 1], fds[i]) == 0:
            lo -= 1
        hi = i + 1
        while hi < len(fds) and self._file_cmp(fds[hi], fds[i]) == 0:
            hi += 1
        return lo, hi

    def _unusable(self, code: int, *fds: _Fd, err: KcmpError | None = None) -> Exception | None:
        """The first of *fds* that cannot be compared even with itself, else the error.

        If each fd still compares with itself, the trouble is the epoll's own (its
        process exited, or it was closed): that is raised, not passed over.  None when
        the epoll is open too: one of *fds* was closed at the moment of the call and
        its number is in use again (a process that closes and reuses fds all the
        time), and the call is made again.
        """
        sides = [fd.side for fd in fds]
        found = culprit(sides, Resource.FILE)
        if found is None:
            if code == errno.EBADF and not alone(
                Side(self.epoll.pid, self.epoll.task, self.epfd), Resource.FILE
            ):
                return None
            return err if err is not None else blame(code, sides, Resource.FILE)
        which, own = found
        fd = fds[sides.index(which)]
        if own in (errno.ESRCH, errno.EPERM, errno.EBADF):
            return _Unusable(fd, own)
        return blame(own, [which], Resource.FILE)

    def _drop(self, fds: list[_Fd], gone: _Unusable) -> None:
        """Remove what *gone* makes unusable from *fds*, in place (order is kept)."""
        pid = gone.fd.pid
        if gone.code == errno.EAGAIN:
            self.changed += (f for f in gone.fds if f not in self.changed)
            fds[:] = [f for f in fds if f not in gone.fds]
            return
        if gone.code == errno.EBADF:
            # Closed, and maybe the whole fd table with it (an exiting process).
            fds[:] = [
                f for f in fds if f != gone.fd and (f.pid != pid or procs.fd_is_open(f.task, f.fd))
            ]
            return
        if gone.code == errno.EPERM:
            self.skipped.setdefault(pid, _denied(pid))
        fds[:] = [f for f in fds if f.pid != pid]
