"""The types -t can name and kcmp's answers, by name: no syscall, no ctypes.

The command line needs these names on every start (``-t`` and its completion);
:mod:`kcmpctl.kcmp`, which calls the kernel, re-exports kcmp's.

The type model every command uses: :class:`Resource` keeps kcmp's values,
:class:`Namespace` names the eight namespace types (compared by the identity of
``/proc/PID/ns/TYPE``, see :mod:`kcmpctl.namespaces`), :data:`AnyResource` is either
(what ``-t`` can name), and :data:`TYPE_GROUPS` the names that stand for several
(``-t task``, ``-t ns``, ``-t all``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Literal, TypeAlias

#: what a type compares by: a kcmp(2) call, or a namespace's identity
Kind: TypeAlias = Literal["kcmp", "namespace"]


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

    @property
    def kind(self) -> Kind:
        """Compared by a kcmp(2) call (namespace types are ``"namespace"``)."""
        return "kcmp"

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
    def comes_and_goes(self) -> bool:
        """Whether a live process's object of this type can appear or vanish (NULL one
        moment, not the next): an I/O context is made on first use or by ioprio_set(),
        an undo list by semop(SEM_UNDO) and dropped by unshare(CLONE_SYSVSEM).  Two such
        processes can compare equal as two NULLs and look like one object a moment
        later (:func:`kcmpctl.verify.settle`, *comes_and_goes*)."""
        return self in (Resource.IO, Resource.SYSVSEM)

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


# ------------------------------------------------------------------------ namespaces


class Namespace(enum.Enum):
    """The namespace types; the value is the name of the link in ``/proc/PID/ns``."""

    MNT = "mnt"
    NET = "net"
    PID = "pid"
    UTS = "uts"
    IPC = "ipc"
    USER = "user"
    CGROUP = "cgroup"
    TIME = "time"

    @property
    def cli_name(self) -> str:
        return str(self.value)

    @property
    def kind(self) -> Kind:
        return "namespace"

    @property
    def clone_flag(self) -> int:
        """The CLONE_NEW* flag that makes a new one (and setns(2)'s nstype for it)."""
        return _CLONE_FLAGS[self][1]

    @property
    def clone_flag_name(self) -> str:
        return _CLONE_FLAGS[self][0]

    @classmethod
    def from_name(cls, name: str) -> Namespace:
        try:
            return cls(name.strip().lower())
        except ValueError:
            raise ValueError(f"unknown namespace type {name!r}") from None


_CLONE_FLAGS: dict[Namespace, tuple[str, int]] = {
    Namespace.MNT: ("CLONE_NEWNS", 0x00020000),
    Namespace.NET: ("CLONE_NEWNET", 0x40000000),
    Namespace.PID: ("CLONE_NEWPID", 0x20000000),
    Namespace.UTS: ("CLONE_NEWUTS", 0x04000000),
    Namespace.IPC: ("CLONE_NEWIPC", 0x08000000),
    Namespace.USER: ("CLONE_NEWUSER", 0x10000000),
    Namespace.CGROUP: ("CLONE_NEWCGROUP", 0x02000000),
    Namespace.TIME: ("CLONE_NEWTIME", 0x00000080),
}

#: a type ``-t`` can name: a kcmp type or a namespace type
AnyResource: TypeAlias = Resource | Namespace

#: the eight namespace types, in the order ``-t ns`` lists them
NS_TYPES: tuple[Namespace, ...] = tuple(Namespace)

#: names that stand for several types in ``-t``
TYPE_GROUPS: dict[str, tuple[AnyResource, ...]] = {
    "task": TASK_TYPES,
    "ns": NS_TYPES,
    "all": (*TASK_TYPES, *NS_TYPES),
}


def parse_type(name: str, allowed: Iterable[AnyResource]) -> tuple[AnyResource, ...]:
    """One ``-t`` entry: a type's name or a group's, to the types it names.

    :class:`ValueError` for a name that is neither, or a type not in *allowed*
    (a group keeps only the types in *allowed*).
    """
    allowed = tuple(allowed)
    key = name.strip().lower()
    if key in TYPE_GROUPS:
        return tuple(t for t in TYPE_GROUPS[key] if t in allowed)
    for t in allowed:
        if t.cli_name == key:
            return (t,)
    raise ValueError(f"unknown type {name!r}")


#: what ``kcmpctl fds --across`` takes: ``user`` (effective uids), the namespaces but
#: the user namespace by their type names, and the user namespace as ``userns``
ACROSS_KEYS: tuple[str, ...] = (
    "user",
    *(ns.cli_name for ns in NS_TYPES if ns is not Namespace.USER),
    "userns",
)


def across_link(key: str) -> str | None:
    """The ``/proc/PID/ns`` link an ``--across`` key compares; None for ``user`` (uids)."""
    if key == "user":
        return None
    return "user" if key == "userns" else key
