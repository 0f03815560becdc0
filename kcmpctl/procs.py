"""The only module that reads /proc (and, where a name is worth its cost, psutil).

Hot paths read /proc directly: a process's stat line costs ~12 µs, psutil's
``process_iter`` ~42 µs.  Nothing here calls kcmp.

Records are NamedTuples and plain classes, not dataclasses: a dataclass costs ~1 ms
to define (it compiles its methods at import), and this module loads on every start.
"""

from __future__ import annotations

import errno
import os
import re
import select
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import NamedTuple

PROC = "/proc"
PF_KTHREAD = 0x00200000
PID_MAX_LIMIT = 4_194_304  # the kernel's hard ceiling for pid_max (PID_MAX_LIMIT on 64-bit)
PIDFD_THREAD = os.O_EXCL  # pidfd_open() flag for a thread, Linux 6.9+


#: /proc/PID/stat states of a task that has exited: zombie, dead
_ZOMBIE_STATES = ("Z", "X")


class Stat(NamedTuple):
    """The fields of /proc/PID/stat that kcmpctl uses."""

    pid: int
    comm: str
    state: str
    ppid: int
    flags: int
    starttime: int

    @property
    def kthread(self) -> bool:
        return bool(self.flags & PF_KTHREAD)

    @property
    def zombie(self) -> bool:
        return self.state in _ZOMBIE_STATES


def decode(raw: bytes) -> str:
    """Text from the kernel, undecodable bytes kept as surrogates for later escaping."""
    return raw.decode("utf-8", "surrogateescape")


def parse_stat(raw: bytes) -> Stat:
    # comm may itself contain spaces and ')' (PR_SET_NAME): it ends at the last ')'.
    open_paren = raw.index(b"(")
    close_paren = raw.rindex(b")")
    # Fields up to starttime only: splitting all ~50 costs twice as much.  Positional
    # arguments: selection parses a stat per process.
    rest = raw[close_paren + 2 :].split(None, 20)
    return Stat(
        int(raw[:open_paren]),
        decode(raw[open_paren + 1 : close_paren]),
        rest[0].decode(),
        int(rest[1]),
        int(rest[6]),
        int(rest[19]),
    )


def stat_path(pid: int, tid: int | None = None) -> str:
    if tid is None or tid == pid:
        return f"{PROC}/{pid}/stat"
    return f"{PROC}/{pid}/task/{tid}/stat"


def read_stat(pid: int, tid: int | None = None) -> Stat | None:
    """The stat of *pid* (or of its thread *tid*), ``None`` if it is gone.

    Read with os.open/os.read (:func:`_read_all`), not open(): a buffered file object
    doubles the cost of a read (measured: 25 µs -> 13 µs).
    """
    try:
        raw = _read_all(stat_path(pid, tid))
    except (FileNotFoundError, ProcessLookupError):
        return None
    return parse_stat(raw) if raw else None


def kinship(pid: int) -> tuple[int, bool, bool] | None:
    """*pid*'s parent, whether it is a kernel thread and whether a zombie, from its stat;
    ``None`` if it is gone.  Only these three fields, for a walk over every process
    (the name, start time and owner are left unread: a quarter of the cost)."""
    try:
        raw = _read_all(f"{PROC}/{pid}/stat")
    except (FileNotFoundError, ProcessLookupError):
        return None
    if not raw:
        return None
    rest = raw[raw.rindex(b")") + 2 :].split(None, 7)
    return int(rest[1]), bool(int(rest[6]) & PF_KTHREAD), rest[0] in (b"Z", b"X")


def foreign_proc() -> str | None:
    """Why /proc cannot be trusted to describe this PID namespace, or ``None``.

    In a new PID namespace without its own /proc mount (``unshare -fp``), /proc still
    shows the outer namespace: names, owners and kernel-thread flags would be read
    for other processes than the PIDs kcmp compares.  /proc/self names this process
    as /proc's namespace numbers it; getpid() as the kernel numbers it for kcmp.
    """
    try:
        seen = int(os.readlink(f"{PROC}/self"))
    except (OSError, ValueError):
        return f"{PROC} is not mounted (mount -t proc proc {PROC})"
    if seen == os.getpid():
        return None
    return (
        f"{PROC} belongs to another PID namespace (it calls this process {seen}, the"
        f" kernel {os.getpid()}): mount a matching one, e.g. run under"
        " 'unshare --pid --fork --mount-proc'"
    )


def exists(pid: int) -> bool:
    """Whether *pid* (a process or thread ID) exists in this PID namespace."""
    return os.path.exists(f"{PROC}/{pid}")


def thread_ids(pid: int) -> list[int]:
    try:
        return sorted(int(t) for t in os.listdir(f"{PROC}/{pid}/task"))
    except (FileNotFoundError, ProcessLookupError):
        return []


def live_task(pid: int) -> int:
    """The ID to hand kcmp for *pid*: the pid itself, or a live thread of it.

    When a thread-group leader has exited while other threads run, the leader is a
    zombie with no mm, files or fs; comparing through its pid would reach those NULLs.
    """
    st = read_stat(pid)
    if st is None or not st.zombie:
        return pid
    for tid in thread_ids(pid):
        if tid == pid:
            continue
        tst = read_stat(pid, tid)
        if tst is not None and not tst.zombie:
            return tid
    return pid


def comm(pid: int) -> str | None:
    try:
        with open(f"{PROC}/{pid}/comm", "rb") as f:
            return decode(f.read().rstrip(b"\n"))
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def tracer_pid(pid: int, tid: int | None = None) -> int | None:
    """The ID of the process tracing *pid* (``TracerPid``), 0 for none, ``None`` if gone."""
    try:
        with open(f"{task_dir(pid, tid)}/status", "rb") as f:
            for line in f:
                if line.startswith(b"TracerPid:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def ptrace_scope() -> int | None:
    """Yama's ``kernel.yama.ptrace_scope`` (0 classic … 3 no attach), ``None`` without Yama."""
    try:
        with open(f"{PROC}/sys/kernel/yama/ptrace_scope", "rb") as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def fd_target(pid: int, fd: int, tid: int | None = None) -> str | None:
    """What fd *fd* of *pid* (read through its thread *tid*) refers to (the
    /proc/PID/fd link), ``None`` if unreadable."""
    try:
        return decode(os.readlink(f"{task_dir(pid, tid)}/fd/{fd}".encode()))
    except OSError:
        return None


def fd_numbers(pid: int) -> list[int]:
    """The open fds of *pid*, ascending; empty if it is gone or not ours to read."""
    try:
        return sorted(int(name) for name in os.listdir(f"{PROC}/{pid}/fd"))
    except OSError:
        return []


def fd_is_open(pid: int, fd: int) -> bool:
    return os.path.lexists(f"{PROC}/{pid}/fd/{fd}")


def task_dir(pid: int, tid: int | None = None) -> str:
    """``/proc/PID``, or ``/proc/PID/task/TID`` for a live thread of a process whose
    leader has exited (the leader's own fd directory is empty then)."""
    if tid is None or tid == pid:
        return f"{PROC}/{pid}"
    return f"{PROC}/{pid}/task/{tid}"


#: ``(fd, st_dev, st_ino, st_mode)`` of the file an fd refers to
FdStat = tuple[int, int, int, int]


class FdListing(NamedTuple):
    """The open fds of a process, each with the inode of its file."""

    stats: list[FdStat]
    #: fds whose file stat() failed (ENOTCONN on a dead FUSE mount…), with the reason
    unreadable: list[tuple[int, str]]


def fd_stats(
    pid: int, tid: int | None = None, known: Callable[[int], FdStat | None] | None = None
) -> FdListing | None:
    """Each open fd of *pid* with the device, inode and mode of its file.

    ``None`` when the process is gone; :class:`PermissionError` when ptrace read access
    is refused.  One stat() per fd, relative to the open fd directory, so the kernel
    does not walk ``/proc/PID/fd`` again for each.  An fd closed between the listing
    and its stat() is left out.  An fd for which *known* gives its stat is not
    stat()ed (the caller proved it the same file as one it stat()ed before).
    """
    try:
        dirfd = os.open(f"{task_dir(pid, tid)}/fd", os.O_RDONLY | os.O_DIRECTORY)
    except (FileNotFoundError, ProcessLookupError, NotADirectoryError):
        return None
    try:
        listing = FdListing([], [])
        for name in os.listdir(dirfd):
            if known is not None and (found := known(int(name))) is not None:
                listing.stats.append(found)
                continue
            try:
                st = os.stat(name, dir_fd=dirfd)
            except (FileNotFoundError, ProcessLookupError):
                continue
            except PermissionError:
                raise
            except OSError as err:
                listing.unreadable.append((int(name), (err.strerror or str(err)).lower()))
                continue
            listing.stats.append((int(name), st.st_dev, st.st_ino, st.st_mode))
        return listing
    except (FileNotFoundError, ProcessLookupError):
        return None
    finally:
        os.close(dirfd)


#: how the link of an fd begins when it names its file's inode (``pipe:[4026]``)
_LINK_INODE = (b"pipe:[", b"socket:[")


def fd_links(pid: int, tid: int | None = None) -> list[tuple[int, int, str]] | None:
    """Each open fd of *pid* with the inode number of its file and its /proc link.

    ``None`` when the process is gone; :class:`PermissionError` when ptrace read access
    is refused.  A pipe's or socket's link names its inode (``pipe:[4026]``), so only
    the other fds are stat()ed as well: one call each instead of two where both are
    wanted.  An fd closed meanwhile is left out, as is one whose file cannot be
    stat()ed (a dead FUSE mount).
    """
    try:
        dirfd = os.open(f"{task_dir(pid, tid)}/fd", os.O_RDONLY | os.O_DIRECTORY)
    except (FileNotFoundError, ProcessLookupError, NotADirectoryError):
        return None
    readlink, stat = os.readlink, os.stat
    found = []
    try:
        for name in os.listdir(dirfd):
            raw = name.encode()
            try:
                link = readlink(raw, dir_fd=dirfd)
                if link.startswith(_LINK_INODE) and link.endswith(b"]"):
                    ino = int(link[link.index(b"[") + 1 : -1])
                else:
                    ino = stat(raw, dir_fd=dirfd).st_ino
            except (FileNotFoundError, ProcessLookupError):
                continue
            except PermissionError:
                raise
            except OSError:
                continue
            found.append((int(name), ino, decode(link)))
        return found
    except (FileNotFoundError, ProcessLookupError):
        return None
    finally:
        os.close(dirfd)


class FdSnapshot(NamedTuple):
    """One fd's /proc link and fdinfo text, and the inode it refers to after both reads."""

    target: str
    fdinfo: str
    dev: int
    ino: int


def fd_snapshot(
    pid: int, fd: int, tid: int | None = None, dirs: FdDirs | None = None
) -> FdSnapshot | None:
    """The link and fdinfo of fd *fd* of *pid*; ``None`` if it is closed, gone or denied.

    The stat() comes last: if the fd was closed and reused for another file during the
    reads, the inode says so (fdinfo's own ``ino`` is not stat()'s on every file
    system: overlayfs maps st_ino).  With *dirs*, the reads are made relative to the
    process's fd and fdinfo directories, opened once for many fds.
    """
    name = str(fd)
    try:
        if dirs is None:
            where = task_dir(pid, tid)
            path = f"{where}/fd/{name}"
            target = os.readlink(path.encode())
            info = _read_all(f"{where}/fdinfo/{name}")
            st = os.stat(path)
        else:
            fds, infos = dirs.of(pid, tid)
            target = os.readlink(name.encode(), dir_fd=fds)
            info = _read_all(name, infos)
            st = os.stat(name, dir_fd=fds)
    except OSError:
        return None
    return FdSnapshot(decode(target), decode(info), st.st_dev, st.st_ino)


def eventfd_id(pid: int, fd: int) -> int | None:
    """The ``eventfd-id`` in the fdinfo of fd *fd* of *pid*; ``None`` if that fd is not
    an eventfd (or is closed, gone or denied).

    Every eventfd shares one anonymous inode, so stat() cannot tell them apart; the id
    can.  It is unique among live eventfds (an IDA the kernel frees with the eventfd),
    and an eventfd has one open file description (its /proc link cannot be opened
    again, ENXIO): two fds read with different ids were different descriptions when
    each was read.  Linux 5.2 and later.
    """
    try:
        info = _read_all(f"{PROC}/{pid}/fdinfo/{fd}")
    except OSError:
        return None
    return parse_eventfd_id(decode(info))


def parse_eventfd_id(fdinfo: str) -> int | None:
    """The ``eventfd-id`` of fdinfo text, ``None`` if it has none (not an eventfd)."""
    value = _field(fdinfo, "eventfd-id:")
    return int(value) if value is not None and value.isdigit() else None


def _read_all(path: str, dir_fd: int | None = None) -> bytes:
    # os.read, not open(): a buffered file object costs more than the read itself
    # (fdinfo is read once per fd of a big anonymous-inode bucket).
    fd = os.open(path, os.O_RDONLY, dir_fd=dir_fd)
    try:
        chunks = [os.read(fd, 65536)]
        # A read of fdinfo (one seq_file record) short of the size asked is all of it;
        # an epoll's has a line per registration, and can be longer.
        while len(chunks[-1]) == 65536:
            chunks.append(os.read(fd, 65536))
        return b"".join(chunks)
    finally:
        os.close(fd)


class FdDirs:
    """The fd and fdinfo directories of the last few processes read, kept open: a
    read relative to them costs a quarter less than one through /proc/PID (measured),
    and an exited process's directory answers ENOENT even if its PID is reused."""

    #: Directories kept open (two fds each): reads come process by process.
    KEEP = 8

    def __init__(self) -> None:
        self._open: dict[tuple[int, int | None], tuple[int, int]] = {}

    def of(self, pid: int, tid: int | None) -> tuple[int, int]:
        """The fd and fdinfo directory fds of *pid* (through *tid*); OSError if gone."""
        key = (pid, tid)
        found = self._open.get(key)
        if found is None:
            if len(self._open) >= self.KEEP:
                self._close(next(iter(self._open)))
            where = task_dir(pid, tid)
            fds = os.open(f"{where}/fd", os.O_RDONLY | os.O_DIRECTORY)
            try:
                infos = os.open(f"{where}/fdinfo", os.O_RDONLY | os.O_DIRECTORY)
            except OSError:
                os.close(fds)
                raise
            found = self._open[key] = (fds, infos)
        return found

    def _close(self, key: tuple[int, int | None]) -> None:
        for fd in self._open.pop(key):
            os.close(fd)

    def close(self) -> None:
        while self._open:
            self._close(next(iter(self._open)))


def is_anonymous(mode: int) -> bool:
    """An anonymous inode (no file type bits): every eventfd, timerfd, signalfd, epoll…
    is one inode, told apart only by kcmp or by :func:`apart_key`."""
    return mode & 0o170000 == 0


#: The anonymous-inode name a link shows: ``anon_inode:[eventfd]``
_ANON = "anon_inode:"


def apart_key(snapshot: FdSnapshot) -> tuple[int | None, str | None, int | None]:
    """What proves the descriptions of two fds different, whenever each was read.

    Only what a description keeps for its whole life: its access mode (F_SETFL cannot
    change it), an anonymous file's name (``[eventfd]``, ``[timerfd]``…: a regular
    file's link changes with a rename, so it is left out) and an eventfd's
    ``eventfd-id`` (allocated per eventfd from one IDA, unique among live ones: Linux
    6.0+).  Different keys: different descriptions.  Equal keys prove nothing.
    """
    flags = _field(snapshot.fdinfo, "flags:")
    access = int(flags, 8) & os.O_ACCMODE if flags and flags.isdigit() else None
    name = snapshot.target if snapshot.target.startswith(_ANON) else None
    return access, name, parse_eventfd_id(snapshot.fdinfo)


def _field(fdinfo: str, key: str) -> str | None:
    """The value of the first line of *fdinfo* that starts with *key*."""
    at = fdinfo.find(key)
    if at < 0 or (at and fdinfo[at - 1] != "\n"):
        return None
    value = fdinfo[at + len(key) :].split(None, 1)
    return value[0] if value else None


def read_fdinfo(pid: int, fd: int) -> str | None:
    try:
        return decode(_read_all(f"{PROC}/{pid}/fdinfo/{fd}"))
    except (FileNotFoundError, ProcessLookupError):
        return None


def ns_identity(tid: int, name: str) -> tuple[int, int]:
    """``(st_dev, st_ino)`` of ``/proc/TID/ns/NAME``: a namespace's identity, as lsns
    and setns(2) define it.

    :class:`OSError` as the kernel answers: EACCES without ptrace read access (pid 1
    answers it even to root), ENOENT for a zombie's links other than pid and user (its
    nsproxy is gone) and for a task that is gone.
    """
    # The link's text, "net:[4026531840]", names the inode (stat reads the same
    # number after building the nsfs dentry: ~10 us a link against ~6 us), and every
    # namespace lives on the one nsfs superblock, whose device is read once.
    link = os.readlink(f"{PROC}/{tid}/ns/{name}")
    return _nsfs_device(), int(link[link.index("[") + 1 : -1])


def _nsfs_device(cache: list[int] = []) -> int:  # noqa: B006 - the cache
    """``st_dev`` of the nsfs filesystem every namespace's inode is on, read once."""
    if not cache:
        cache.append(os.stat(f"{PROC}/self/ns/user").st_dev)
    return cache[0]


class Details(NamedTuple):
    """What a reader wants to know of a reported process, from psutil."""

    #: the full command line, ``None`` where unreadable (a kernel thread has none: ())
    args: tuple[str, ...] | None
    ppid: int | None
    #: start time, seconds since the epoch
    started: float | None
    user: str | None


def details(tasks: Sequence[Task]) -> dict[int, Details]:
    """:class:`Details` of each of *tasks* (by pid), read with psutil.

    Costly (~50 µs a process on an idle machine, 190 µs under load, against 14 µs for a
    bare read of /proc/PID/cmdline): only for the rows a command shows, and only when a
    column asks.  Checked after the reads against each task's pidfd: a process that
    exited meanwhile (its PID maybe reused) gets none.
    """
    import psutil

    found: dict[int, Details] = {}
    for task in {t.pid: t for t in tasks}.values():
        try:
            info = psutil.Process(task.pid).as_dict(
                ["cmdline", "ppid", "create_time", "username"], ad_value=None
            )
        except psutil.Error:
            continue
        cmdline = info["cmdline"]
        found[task.pid] = Details(
            tuple(cmdline) if cmdline is not None else None,
            info["ppid"],
            info["create_time"],
            info["username"],
        )
    for tid in gone_tasks(tasks):
        found.pop(next(t.pid for t in tasks if t.id == tid), None)
    return found


def _status_field(tid: int, key: bytes, index: int = 0, base: int = 10) -> int:
    """Field *index* of the line *key* (``b"Uid:"``) of ``/proc/TID/status``, a
    number in *base*.

    os.open/os.read and one search, not a line-by-line file object: selection reads
    status for every root-owned process, and this halves that cost (measured: ~26 µs
    -> ~12 µs a read).  :class:`OSError` when the task is gone.
    """
    fd = os.open(f"{PROC}/{tid}/status", os.O_RDONLY | os.O_CLOEXEC)
    try:
        raw = os.read(fd, 8192)
    finally:
        os.close(fd)
    start = raw.find(b"\n" + key)
    if start < 0:
        raise ProcessLookupError(f"{PROC}/{tid}/status has no {key.decode()} line")
    end = raw.find(b"\n", start + 1)
    return int(raw[start + 1 + len(key) : end if end >= 0 else None].split()[index], base)


#: capability(7) number of CAP_SYS_PTRACE
CAP_SYS_PTRACE = 19


def ptrace_capable() -> bool:
    """Whether this process holds CAP_SYS_PTRACE: then ptrace's read access, which
    kcmp asks for, does not depend on who owns the other process (an LSM, or a
    process in a user namespace above this one's, may still refuse it)."""
    try:
        return bool(_status_field(os.getpid(), b"CapEff:", 0, 16) >> CAP_SYS_PTRACE & 1)
    except (OSError, ValueError):
        return False


def thread_group(tid: int) -> int | None:
    """The process (thread-group ID) task *tid* belongs to: *tid* itself for a
    process, its process for a thread; ``None`` if it is gone.

    /proc/TID/stat names the TID, not its process: only status tells.
    """
    try:
        return _status_field(tid, b"Tgid:")
    except (OSError, ValueError):
        return None


def effective_uid(tid: int, pidfd: int | None = None) -> int:
    """The effective uid of task *tid*, from its *pidfd* where the kernel tells
    (:func:`pidfd_euid`), else from ``/proc/TID/status``.

    Not the owner of ``/proc/TID``: a non-dumpable process's entries belong to root.
    :class:`OSError` when the task is gone.
    """
    if pidfd is not None:
        uid = pidfd_euid(pidfd)
        if uid is not None:
            return uid
    return _status_field(tid, b"Uid:", 1)


#: ``struct pidfd_info`` as first published (Linux 6.13): u64 mask, u64 cgroupid, then
#: u32 pid, tgid, ppid, ruid, rgid, euid, ...; 64 bytes.
_PIDFD_INFO_SIZE = 64
_PIDFD_INFO_EUID = 36
_PIDFD_INFO_CREDS = 0x2
#: ``PIDFD_GET_INFO``, ``_IOWR(0xFF, 11, struct pidfd_info)`` in the generic ioctl
#: encoding; architectures that encode ioctls otherwise read status instead.
PIDFD_GET_INFO = (3 << 30) | (_PIDFD_INFO_SIZE << 16) | (0xFF << 8) | 11
_OWN_IOCTL_ENCODING = ("alpha", "mips", "parisc", "ppc", "powerpc", "sparc")


def _machine(cache: list[str] = []) -> str:  # noqa: B006 - the cache
    if not cache:
        cache.append(os.uname().machine)
    return cache[0]


def pidfd_euid(pidfd: int) -> int | None:
    """The effective uid of the process a pidfd holds, by the PIDFD_GET_INFO ioctl;
    ``None`` where the kernel does not tell (before 6.13, or the process is gone).

    One ioctl against status's open, read and close, and the kernel formatting ~50
    lines of which one is wanted: selection asks this of every root-owned process
    (measured here over 2,000: 7 ms, against 47 ms reading status).
    """
    ioctl = _pidfd_info()
    if ioctl is None:
        return None
    info = bytearray(_PIDFD_INFO_SIZE)
    try:
        ioctl(pidfd, PIDFD_GET_INFO, info)
    except OSError:
        return None
    if not int.from_bytes(info[:8], sys.byteorder) & _PIDFD_INFO_CREDS:
        return None
    return int.from_bytes(info[_PIDFD_INFO_EUID : _PIDFD_INFO_EUID + 4], sys.byteorder)


def _pidfd_info(cache: list[Callable[..., object] | None] = []) -> Callable[..., object] | None:  # noqa: B006 - the cache
    """``fcntl.ioctl`` where PIDFD_GET_INFO has the generic encoding, else ``None``;
    found once (selection asks it of every root-owned process)."""
    if not cache:
        if _machine().startswith(_OWN_IOCTL_ENCODING):
            cache.append(None)
        else:
            import fcntl

            cache.append(fcntl.ioctl)
    return cache[0]


class Pin:
    """A process (or thread) held by a pidfd from before a read until after it: whether
    what was read through its ID was read from it.

    The pidfd stays valid after the task exits; only once it is reaped may its ID name
    another.  Where no pidfd can be had (a thread before Linux 6.9), its start time
    stands in.
    """

    def __init__(self, pid: int, pidfd: int | None, starttime: int) -> None:
        self.pid = pid
        self._pidfd = pidfd
        self._starttime = starttime

    def same(self) -> bool:
        """Not reaped since pinned: every read made through its ID in between was its."""
        if self._pidfd is not None:
            import signal

            try:
                signal.pidfd_send_signal(self._pidfd, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True  # it exists; we may not signal it
            return True
        st = read_stat(self.pid)
        return st is not None and st.starttime == self._starttime

    def close(self) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None


def pin(pid: int) -> Pin | None:
    """Pin *pid* (a process or thread ID); ``None`` if it does not exist."""
    pidfd = None
    for flags in (0, PIDFD_THREAD):
        try:
            pidfd = os.pidfd_open(pid, flags)
            break
        except ProcessLookupError:
            return None
        except OSError:
            continue  # EINVAL: a thread (or no PIDFD_THREAD); EMFILE
    st = read_stat(pid)
    if st is None:
        if pidfd is not None:
            os.close(pidfd)
        return None
    return Pin(pid, pidfd, st.starttime)


def pid_max() -> int:
    try:
        with open(f"{PROC}/sys/kernel/pid_max", "rb") as f:
            return int(f.read())
    except (OSError, ValueError):
        return PID_MAX_LIMIT


def all_pids() -> list[int]:
    return sorted(int(name) for name in os.listdir(PROC) if name.isdigit())


def owner_uid(pid: int) -> int | None:
    """The owner of /proc/PID, which is the process's effective uid."""
    try:
        return os.stat(f"{PROC}/{pid}").st_uid
    except (FileNotFoundError, ProcessLookupError):
        return None


_user_names: dict[int, str | None] = {}


def user_name(uid: int | None) -> str | None:
    if uid is None:
        return None
    if uid not in _user_names:
        import pwd

        try:
            _user_names[uid] = pwd.getpwuid(uid).pw_name
        except KeyError:
            _user_names[uid] = str(uid)
    return _user_names[uid]


def resolve_user(spec: str) -> int:
    """A user name or numeric uid to a uid; :class:`LookupError` if unknown."""
    if spec.isdigit():
        return int(spec)
    import pwd

    try:
        return pwd.getpwnam(spec).pw_uid
    except KeyError:
        raise LookupError(f"unknown user '{spec}'") from None


# --------------------------------------------------------------------------- selection


class Task:
    """A selected process (or, with threads, a thread) and how to know it is still it.

    ``pid`` is the process ID (thread-group ID); ``tid`` is the ID kcmp is called with:
    the thread itself with ``--threads``, a live thread when the leader has exited,
    otherwise the pid.  ``pidfd`` (or ``starttime`` where no pidfd could be had) tells
    at the end whether this is still the process that was selected.
    """

    __slots__ = (
        "comm",
        "kthread",
        "pid",
        "pidfd",
        "ppid",
        "starttime",
        "thread",
        "thread_pidfd",
        "tid",
        "uid",
        "zombie",
    )

    def __init__(
        self,
        pid: int,
        tid: int,
        comm: str,
        ppid: int,
        uid: int | None,
        starttime: int,
        kthread: bool,
        zombie: bool,
        pidfd: int | None = None,
        thread: bool = False,
    ) -> None:
        self.pid = pid
        self.tid = tid
        self.comm = comm
        self.ppid = ppid
        self.uid = uid
        self.starttime = starttime
        self.kthread = kthread
        self.zombie = zombie
        self.pidfd = pidfd
        #: the identity is the thread's (``--threads``), not the process's
        self.thread = thread
        #: a PIDFD_THREAD pidfd of ``tid`` when it is not the leader (the leader had
        #: exited): taken at selection, with the choice of the thread, so that a TID
        #: reused later is never followed instead
        self.thread_pidfd: int | None = None

    def __repr__(self) -> str:
        return f"Task(pid={self.pid}, tid={self.tid}, comm={self.comm!r})"

    @property
    def id(self) -> int:
        """The ID this task is known by in results: the tid in thread mode."""
        return self.tid

    def gone(self) -> bool:
        """Whether the task exited (or its ID now names another) since selection.

        Without a pidfd the start time stands in: selection gives a pidfd to every
        task that started too recently for its start time to tell it apart from a
        process that reuses its ID (see :func:`select_tasks`).
        """
        if self.pidfd is not None:
            poller = select.poll()
            poller.register(self.pidfd, select.POLLIN)
            return bool(poller.poll(0))
        if self.thread:
            st = read_stat(self.pid, self.tid)
            return st is None or st.starttime != self.starttime or st.zombie
        # A process whose leader exited is compared through a live thread, watched
        # apart; its leader stays a zombie holding the PID until the process is reaped.
        st = read_stat(self.pid)
        return st is None or st.starttime != self.starttime or (st.zombie and self.tid == self.pid)

    def close(self) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        if self.thread_pidfd is not None:
            os.close(self.thread_pidfd)
            self.thread_pidfd = None


class Watch:
    """Which of some tasks exited since selection, asked again and again: one poll set.

    A scan asks after every sort of every type, about eight times in all.  poll(2)
    with a zero timeout asks each pidfd once a question (~0.2 ms for 2,000 here) and
    registers none with the kernel; an epoll set costs one epoll_ctl a pidfd to build
    (~4 ms for 2,000 here) and ~1.5 ms to tear down, which a scan never earns back.
    A fork()ed worker asks its own copy.

    A task's own pidfd follows its process (or, with ``--threads``, a non-leader
    thread).  For each of *threads*, the thread that kcmp is called with (``tid``)
    is watched too, through a PIDFD_THREAD pidfd of the watch's own: a process whose
    leader had exited is compared through another thread, and when that one exits
    the process pidfd says nothing.  Kernels before 6.9 have no PIDFD_THREAD; there
    only the process is watched; past the fd limit (EMFILE) the thread's start time
    stands in.  (A leader thread's own exit wakes no pidfd while its process lives,
    as measured on 6.18: callers check leaders another way.)  A task selected
    without a pidfd is asked by its start time: one /proc read (~12 µs) a question.
    """

    def __init__(self, tasks: Sequence[Task], threads: Sequence[Task] = ()) -> None:
        self._poll = select.poll()
        self._by_fd: dict[int, int] = {}
        self._own: list[int] = []
        self._unwatched = [t for t in tasks if t.pidfd is None]
        for task in tasks:
            if task.pidfd is not None:
                self._add(task.pidfd, task.id)
        for task in threads:
            if task.thread_pidfd is not None:  # taken at selection: the task's own
                self._add(task.thread_pidfd, task.id)
                continue
            try:
                fd = os.pidfd_open(task.tid, PIDFD_THREAD)
            except OSError as err:  # gone already (the process pidfd tells), EINVAL
                if err.errno == errno.EMFILE:
                    self._unwatched.append(_thread_task(task))
                continue
            self._own.append(fd)
            self._add(fd, task.id)

    def _add(self, fd: int, id_: int) -> None:
        self._poll.register(fd, select.POLLIN)
        self._by_fd[fd] = id_

    def gone(self) -> set[int]:
        """IDs of the tasks that exited (or whose PID now names another) since selection."""
        result = {t.id for t in self._unwatched if t.gone()}
        if self._by_fd:
            # Any event is an exit: POLLIN once the task exited, POLLHUP too once
            # it is reaped (poll(2) reports POLLHUP whatever was asked).
            for fd, _ in self._poll.poll(0):
                result.add(self._by_fd[fd])
        return result

    def close(self) -> None:
        for fd in self._own:
            os.close(fd)
        self._own.clear()


def _thread_task(task: Task) -> Task:
    """The thread *task* is compared through, as a task known by its start time.

    A start time of -1 (the thread is gone already) matches no task: it is reported
    gone at the first question.
    """
    st = read_stat(task.pid, task.tid)
    return Task(
        pid=task.pid,
        tid=task.tid,
        comm=task.comm,
        ppid=task.ppid,
        uid=task.uid,
        starttime=st.starttime if st is not None else -1,
        kthread=task.kthread,
        zombie=False,
        thread=True,
    )


def gone_tasks(tasks: Sequence[Task]) -> set[int]:
    """IDs of the tasks that exited since selection, asked once."""
    watch = Watch(tasks)
    try:
        return watch.gone()
    finally:
        watch.close()


class Selection(NamedTuple):
    tasks: list[Task]
    #: explicitly named PIDs that could not be selected, with the reason
    missing: list[tuple[int, str]]
    #: thread IDs named as processes, each with the process it was taken for
    aliases: dict[int, int] = {}  # noqa: RUF012 - never mutated

    def process(self, pid: int) -> int:
        """The process a named ID was taken for: itself, or a thread's process."""
        return self.aliases.get(pid, pid)

    def close(self) -> None:
        for task in self.tasks:
            task.close()


def _open_pidfd(pid: int, tid: int) -> int | None:
    try:
        if tid == pid:
            return os.pidfd_open(pid)
        return os.pidfd_open(tid, PIDFD_THREAD)
    except (OSError, AttributeError):
        # Gone, EMFILE past the fd limit, EINVAL on kernels without PIDFD_THREAD:
        # the start time stands in where it may (see select_tasks).
        return None


#: fds left free for what a scan opens besides the pidfds of its tasks: the
#: workers' pipes, an fd directory or fdinfo file at a time, the pidfds of threads
#: that processes are compared through, lazy imports, /etc/passwd.
FD_RESERVE = 32


def _raise_fd_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard one; the soft limit now in force."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


def pidfd_budget(wanted: int | None = None) -> int:
    """How many pidfds a selection may hold: the fd limit, raised to the hard one,
    less the fds open now and :data:`FD_RESERVE`.

    With *wanted*, as little as that many when they fit whatever the fds open: the
    size of the fd table bounds them, one read of status, where counting them lists
    /proc/self/fd (~1 µs an fd: a few ms when a scan's 2,000 pidfds are open and
    tree selects the parents of what it shows).
    """
    limit = _raise_fd_limit()
    if wanted is not None:
        try:
            room = limit - _status_field(os.getpid(), b"FDSize:") - FD_RESERVE
        except (OSError, ValueError):
            room = -1
        if room >= wanted:
            return room
    try:
        open_now = len(os.listdir("/proc/self/fd"))
    except OSError:
        open_now = 64
    return max(0, limit - open_now - FD_RESERVE)


def clock_tick() -> int:
    """Now, in the unit and clock of /proc/PID/stat's starttime: USER_HZ ticks of
    CLOCK_BOOTTIME (both seen through this process's time namespace)."""
    import time

    return time.clock_gettime_ns(time.CLOCK_BOOTTIME) // (
        1_000_000_000 // os.sysconf("SC_CLK_TCK")
    )


def _thread_pidfd(pid: int, tid: int) -> int | None:
    """A PIDFD_THREAD pidfd of thread *tid* of *pid*, checked to be that thread after
    it was opened; ``None`` where none can be had (before Linux 6.9, past the fd
    limit, or the thread is gone: the process pidfd and the start time stand in)."""
    try:
        fd = os.pidfd_open(tid, PIDFD_THREAD)
    except OSError:
        return None
    st = read_stat(pid, tid)
    if st is None or st.zombie:
        os.close(fd)
        return None
    return fd


def _make_task(
    pid: int, tid: int, st: Stat, pidfd: int | None, uid: int | None, *, thread: bool = False
) -> Task:
    # Positionally, the flags read here and not through Stat's properties: selection
    # makes one a process (2,000: ~11 ms as keywords and properties, ~2.5 ms so, here).
    return Task(
        pid,
        tid,
        st.comm,
        st.ppid,
        uid,
        st.starttime,
        st.flags & PF_KTHREAD != 0,
        st.state in _ZOMBIE_STATES,
        pidfd,
        thread,
    )


def _descendants(root: int, parents: dict[int, int]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found = {root}
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


#: why a selected task is given up when no pidfd can be had for it
TOO_YOUNG = (
    "started too recently to be told apart from a reused PID by its start time,"
    " and the fd limit leaves no pidfd for it"
)


#: up to this many named IDs, each one's status is read to tell a thread ID apart,
#: rather than /proc listed: ~15 µs a status, ~1 µs a process to list (8 ms with
#: 8,000 processes on the machine)
FEW_NAMED = 16


def select_tasks(
    pids: Iterable[int] | None = None,
    users: Iterable[int] | None = None,
    command: re.Pattern[str] | None = None,
    tree: int | None = None,
    threads: bool = False,
    owners: bool = True,
) -> Selection:
    """The processes (or threads) matching every given selector; all visible by default.

    *owners* false leaves each task's ``uid`` ``None`` (unless *users* selects by
    it): the effective uid is one more kernel question a process (~3 µs here), for
    callers that show no owner (``tree``).

    Each task is bound to its identity at selection, so that nothing is attributed
    later to a process that exited and whose ID another took:

    - a pidfd, opened *before* the stat is read, so that the stat describes the
      process the pidfd holds.  That is the way when every candidate fits the fd
      limit (raised to the hard limit first) and no selector filters;
    - otherwise the stats are read first, the tasks filtered, and pidfds handed out,
      youngest first, as far as the limit allows, each checked by reading the stat
      again.  A task left without one is known by its start time (clock ticks since
      boot): a process that reuses its ID starts after its stat was read, in a later
      tick, if the task started before the tick in which selection began.  A task
      that started in that very tick and gets no pidfd is given up, named in
      ``missing`` (:data:`TOO_YOUNG`).
    """
    named = list(dict.fromkeys(pids)) if pids is not None else None
    candidates = named if named is not None else all_pids()
    budget = pidfd_budget(None if threads else len(candidates))
    uid_set = set(users) if users is not None else None
    owners = owners or uid_set is not None
    missing: list[tuple[int, str]] = []
    filtering = tree is not None or uid_set is not None or command is not None
    early = not threads and not filtering and len(candidates) <= budget
    tick = clock_tick()

    #: pidfds opened before the stats are read (``early``), by PID
    opened: dict[int, int | None] = {}
    if named is not None:
        # A thread ID names a /proc entry of its own: it stands for its process,
        # listed once however many of its IDs are given.
        # Only processes are listed in /proc (a thread's entry is there, but hidden):
        # status is read only for the IDs /proc does not list, not for every PID;
        # for a few IDs (the parents tree adds) listing /proc costs more than that.
        # Where each gets a pidfd first, pidfd_open() tells as much: it refuses
        # (EINVAL) a thread that is not its process's leader, and listing /proc
        # costs ~2 µs a process on the machine (8 ms with 4,000 here).
        unlisted = named
        if early and len(named) > FEW_NAMED:
            opened = {p: _open_pidfd(p, p) for p in named}
            unlisted = [p for p, fd in opened.items() if fd is None]
        elif len(named) > FEW_NAMED:
            listed = set(os.listdir(PROC))
            unlisted = [p for p in named if str(p) not in listed]
        aliases = {p: g for p in unlisted if (g := thread_group(p)) is not None and g != p}
        candidates = list(dict.fromkeys(aliases.get(p, p) for p in named))
    else:
        aliases = {}
    if tree is not None:
        tree = thread_group(tree) or tree

    stats: dict[int, tuple[Stat, int | None, int | None]] = {}
    # Each pidfd is opened before its stat is read: the stat then describes the
    # process the pidfd holds.
    pidfds = [
        opened.pop(pid) if pid in opened else _open_pidfd(pid, pid) if early else None
        for pid in candidates
    ]
    # Where the pidfds come after the stats (a filter, or more candidates than fds),
    # the owners of the tasks kept are asked after them, through the pidfd: one ioctl
    # each, where the stat's owner is root's for every root-owned candidate and status
    # has to be read (a non-dumpable process's entries belong to root).
    later = owners and not early and uid_set is None and not threads
    ask = owners and not later  # with the stats
    found_all = _read_stats(candidates, pidfds, ask)
    for pid, pidfd, found in zip(candidates, pidfds, found_all, strict=True):
        st, uid = found if found is not None else (None, None)
        if st is not None and (uid is not None or not ask) and st.pid == pid:
            stats[pid] = (st, pidfd, uid)
            continue
        # Gone, or a thread ID: it names a thread's /proc entry but is not a process.
        if pidfd is not None:
            os.close(pidfd)
        if named is not None:
            why = (
                absent(pid)
                if st is None
                else f"is a thread of process {st.pid}"
                if st.pid != pid
                else "no such process"
            )
            missing.append((pid, why))

    if tree is not None:
        parents = {pid: st.ppid for pid, (st, _, _) in stats.items()}
        if named is not None:
            parents.update(_all_parents(exclude=parents))
        keep = _descendants(tree, parents)
        if read_stat(tree) is None:
            missing.append((tree, absent(tree)))
    else:
        keep = None

    tasks: list[Task] = []
    for pid, (st, pidfd, uid) in stats.items():
        if (
            (keep is not None and pid not in keep)
            or (uid_set is not None and uid not in uid_set)
            or (command is not None and not command.search(st.comm))
        ):
            continue
        if not threads:
            tid = live_task(pid) if st.state in _ZOMBIE_STATES else pid
            task = _make_task(pid, tid, st, pidfd, uid)
            if tid != pid:
                task.thread_pidfd = _thread_pidfd(pid, tid)
            tasks.append(task)
            continue
        for tid in thread_ids(pid) or [pid]:
            tst = read_stat(pid, tid)
            if tst is not None:
                tasks.append(_make_task(pid, tid, tst, None, uid, thread=True))
    if not early:
        tasks = _bind(tasks, tick, budget, missing, set(named) if named is not None else None)
    if later:
        for task in tasks:
            task.uid = _owner(task)
    return Selection(tasks=tasks, missing=missing, aliases=aliases)


def _owner(task: Task) -> int | None:
    """The effective uid of a selected process: told by its pidfd, else the owner of
    /proc/PID (status where that is root); ``None`` if it was reaped since selection
    (a zombie still has its owner)."""
    if task.pidfd is not None:
        uid = pidfd_euid(task.pidfd)
        if uid is not None:
            return uid
    uid = _unless_root(task.pid, owner_uid(task.pid))
    # Read through the PID: it must still be the process selected.
    return None if uid is None or not Pin(task.pid, task.pidfd, task.starttime).same() else uid


#: Processes from which selection reads their stats in two processes at once: fork()
#: and the child's copy-on-write faults cost ~2 ms here, a stat and a uid ~25 µs.
SPLIT_MIN = 256

#: a process's stat and effective uid (``None``: it is gone), or ``None`` if gone
_Found = tuple[Stat, int | None] | None


def _stat_and_uid(pid: int, pidfd: int | None, proc: int, owner: bool = True) -> _Found:
    """The stat of process *pid* and its effective uid (``None`` unless *owner*);
    *proc* is an fd of /proc (opened relative to it, the path walk is ~2 µs shorter a
    process).

    With a pidfd the kernel tells the uid (:func:`pidfd_euid`, Linux 6.13+).  Else
    the owner of the open stat file stands for it: /proc/PID belongs to the
    process's effective uid, except for a process that is not dumpable (setuid
    programs, PR_SET_DUMPABLE 0), whose entries belong to root; only for those is
    status read.
    """
    try:
        fd = os.open(f"{pid}/stat", os.O_RDONLY | os.O_CLOEXEC, dir_fd=proc)
    except (FileNotFoundError, ProcessLookupError):
        return None
    try:
        raw = os.read(fd, 4096)
        uid = pidfd_euid(pidfd) if owner and pidfd is not None else None
        told = uid is not None
        if uid is None and owner:
            uid = os.fstat(fd).st_uid
    except ProcessLookupError:
        return None
    finally:
        os.close(fd)
    if not raw:
        return None
    st = parse_stat(raw)
    if not owner or told or st.pid != pid:
        return st, uid
    return st, _unless_root(pid, uid)


def _unless_root(pid: int, owner: int | None) -> int | None:
    """The effective uid of process *pid*, whose /proc entries belong to *owner*: the
    owner, unless root, whom a non-dumpable process's entries name whoever runs it:
    then status tells.  ``None`` if it is gone."""
    if owner != 0:
        return owner
    try:
        return _status_field(pid, b"Uid:", 1)
    except OSError:
        return None


def _read_stats(
    pids: Sequence[int], pidfds: Sequence[int | None], owners: bool = True
) -> list[_Found]:
    """:func:`_stat_and_uid` of each of *pids*, half of them read by a forked
    process where there are many and two CPUs: the kernel's share (the path walk,
    formatting the stat line, the pidfd ioctl) is most of the cost, ~20 µs a
    process, and is what the floor of matrix does not pay."""

    def read(index: int, _slot: int = 0) -> list[_Found]:
        lo, hi = bounds[index]
        proc = os.open(PROC, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            return [_stat_and_uid(pids[i], pidfds[i], proc, owners) for i in range(lo, hi)]
        finally:
            os.close(proc)

    bounds = [(0, len(pids))]
    if len(pids) < SPLIT_MIN or len(os.sched_getaffinity(0)) < 2:
        return read(0)
    from . import _workers

    _pidfd_info()  # its import made once, before the fork, not in each process
    half = len(pids) // 2
    bounds = [(0, half), (half, len(pids))]
    try:
        parts = _workers.run(2, read, workers=2, encode=_encode_found, decode=_decode_found)
    except (OSError, _workers.WorkerError):
        bounds = [(0, len(pids))]  # no worker to be had: read them all here
        return read(0)
    return parts[0] + parts[1]


def _encode_found(found: list[_Found]) -> list[tuple[tuple[int | str, ...], int | None] | None]:
    return [None if f is None else (tuple(f[0]), f[1]) for f in found]


def _decode_found(data: list[tuple[tuple[int | str, ...], int | None] | None]) -> list[_Found]:
    make = Stat._make
    return [None if f is None else (make(f[0]), f[1]) for f in data]


def absent(pid: int) -> str:
    """Why /proc has no entry for *pid*: it does not exist, or /proc hides it
    (``hidepid=2`` hides the processes the caller may not ptrace-read, which kcmp
    refuses with EPERM: one answer, "permission denied", whoever looks)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "no such process"
    except PermissionError:
        pass
    from .errors import DENIED

    return DENIED


def _bind(
    tasks: list[Task],
    tick: int,
    budget: int,
    missing: list[tuple[int, str]],
    named_pids: set[int] | None,
) -> list[Task]:
    """*tasks*, each with a pidfd (youngest first, *budget* at most) or known by a
    start time from before *tick*.  Left out: tasks gone since their stat was read
    (a named process is added to *missing* then), and tasks too young to go without
    a pidfd (always added to *missing*: the answer would not be complete)."""
    left: set[int] = set()
    for task in sorted(tasks, key=lambda t: t.starttime, reverse=True):
        fd = _open_pidfd(task.pid, task.tid if task.thread else task.pid) if budget else None
        if fd is not None:
            budget -= 1
            st = read_stat(task.pid, task.tid) if task.thread else read_stat(task.pid)
            if st is not None and st.starttime == task.starttime:
                task.pidfd = fd
                continue
            os.close(fd)  # gone, its ID maybe another's, since its stat was read
        elif task.starttime < tick:
            continue  # its start time tells it apart from any process reusing its ID
        elif read_stat(task.pid, task.tid if task.thread else None) is not None:
            what = f"thread {task.tid}: " if task.thread else ""
            missing.append((task.pid, what + TOO_YOUNG))
            left.add(task.tid)
            continue
        left.add(task.tid)
        if named_pids is not None and task.pid in named_pids and not task.thread:
            missing.append((task.pid, "no such process"))
    return [t for t in tasks if t.tid not in left]


def _all_parents(exclude: dict[int, int]) -> Iterator[tuple[int, int]]:
    for pid in all_pids():
        if pid in exclude:
            continue
        st = read_stat(pid)
        if st is not None:
            yield pid, st.ppid
