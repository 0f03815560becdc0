"""The kcmp types and kcmp's answers, by name: no syscall, no ctypes.

The command line needs these names on every start (``-t`` and its completion);
:mod:`kcmpctl.kcmp`, which calls the kernel, re-exports them.
"""

from __future__ import annotations

import enum
from typing import NamedTuple


class Resource(enum.IntEnum):
    """The kcmp types; the value is what the kernel takes."""

    FILE = 0
    VM = 1
    FILES = 2
    FS = 3
    SIGHAND = 4
    IO = 5
    SYSVSEM = 6
    EPOLL_TFD = 7

    @property
    def cli_name(self) -> str:
        return self.name.lower()

    @classmethod
    def from_name(cls, name: str) -> Resource:
        try:
            return cls[name.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown type {name!r}") from None

    @property
    def nullable(self) -> bool:
        """Whether a live process may have no object of this type (a NULL pointer)."""
        return self in _NULLABLE

    @property
    def is_task_type(self) -> bool:
        """Compared between two processes as a whole (not per fd)."""
        return self not in (Resource.FILE, Resource.EPOLL_TFD)


_NULLABLE = frozenset({Resource.VM, Resource.FILES, Resource.FS, Resource.IO, Resource.SYSVSEM})

#: The six types that compare one object of each process, in kcmp's numbering.
TASK_TYPES: tuple[Resource, ...] = tuple(r for r in Resource if r.is_task_type)


class Order(enum.IntEnum):
    """kcmp's answer: an order between two kernel objects of one type."""

    EQUAL = 0
    LESS = 1  # pid1's object sorts before pid2's
    GREATER = 2
    UNORDERED = 3  # documented "not equal, no order"; no current kernel returns it

    @property
    def symbol(self) -> str:
        return _SYMBOLS[self]

    @property
    def json(self) -> str | None:
        return _JSON[self]

    def reversed(self) -> Order:
        """The answer with the two processes swapped."""
        if self is Order.LESS:
            return Order.GREATER
        if self is Order.GREATER:
            return Order.LESS
        return self


_SYMBOLS = {Order.EQUAL: "=", Order.LESS: "<", Order.GREATER: ">", Order.UNORDERED: "!="}
_JSON = {Order.EQUAL: "eq", Order.LESS: "lt", Order.GREATER: "gt", Order.UNORDERED: None}


class TypeInfo(NamedTuple):
    """What a kcmp type compares (a tuple: ~4x cheaper to define than a dataclass)."""

    resource: Resource
    kcmp: str
    object: str
    clone_flag: str | None
    description: str


TYPE_INFO: tuple[TypeInfo, ...] = (
    TypeInfo(
        Resource.FILE,
        "KCMP_FILE",
        "open file description (struct file)",
        None,
        "Two fds refer to one open file: shared offset and status flags. Made by dup,"
        " fork inheritance, SCM_RIGHTS and pidfd_getfd; two open() calls never share one.",
    ),
    TypeInfo(
        Resource.VM,
        "KCMP_VM",
        "address space (mm_struct)",
        "CLONE_VM",
        "Same memory: threads of one process, or a vfork child before it execs."
        " Kernel threads and zombies have none.",
    ),
    TypeInfo(
        Resource.FILES,
        "KCMP_FILES",
        "file descriptor table (files_struct)",
        "CLONE_FILES",
        "Same fd table: an fd opened or closed by one is opened or closed for all.",
    ),
    TypeInfo(
        Resource.FS,
        "KCMP_FS",
        "root, cwd and umask (fs_struct)",
        "CLONE_FS",
        "chdir, chroot and umask by one apply to all.",
    ),
    TypeInfo(
        Resource.SIGHAND,
        "KCMP_SIGHAND",
        "signal handler table (sighand_struct)",
        "CLONE_SIGHAND",
        "sigaction by one changes the handlers of all. Every process has one.",
    ),
    TypeInfo(
        Resource.IO,
        "KCMP_IO",
        "I/O context (io_context)",
        "CLONE_IO",
        "Same I/O priority and scheduler state. Most processes have none until"
        " ioprio_set(); having none is not sharing.",
    ),
    TypeInfo(
        Resource.SYSVSEM,
        "KCMP_SYSVSEM",
        "System V semaphore undo list (sem_undo_list)",
        "CLONE_SYSVSEM",
        "semop(SEM_UNDO) adjustments are undone together when the last sharer exits."
        " Most processes have none; having none is not sharing.",
    ),
    TypeInfo(
        Resource.EPOLL_TFD,
        "KCMP_EPOLL_TFD",
        "file registered in an epoll instance",
        None,
        "Whether an fd of one process is the file an epoll registration points to,"
        " whatever fd number it was registered under.",
    ),
)
