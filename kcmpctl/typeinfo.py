"""What each type compares, in words: the table ``kcmpctl types`` prints.

Apart from :mod:`kcmpctl.resources` so that a start that needs only the type names
(every comparison, every TAB press) does not build the table.
"""

from __future__ import annotations

from typing import NamedTuple

from .resources import AnyResource, Namespace, Resource


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


class NamespaceInfo(NamedTuple):
    """What a namespace type is (a tuple, as :class:`TypeInfo`)."""

    namespace: Namespace
    object: str
    description: str

    @property
    def clone_flag(self) -> str:
        return self.namespace.clone_flag_name


NAMESPACE_INFO: tuple[NamespaceInfo, ...] = (
    NamespaceInfo(
        Namespace.MNT,
        "mount namespace",
        "Same mount table: a mount or unmount by one is seen by all (unless propagation"
        " is private).",
    ),
    NamespaceInfo(
        Namespace.NET,
        "network namespace",
        "Same interfaces, addresses, routes, firewall and port numbers.",
    ),
    NamespaceInfo(
        Namespace.PID,
        "PID namespace",
        "Same PID numbering: each sees the other under one PID. Compared as the process"
        " is in it, not pid_for_children.",
    ),
    NamespaceInfo(
        Namespace.UTS,
        "UTS namespace",
        "Same host name and NIS domain name.",
    ),
    NamespaceInfo(
        Namespace.IPC,
        "IPC namespace",
        "Same System V IPC objects and POSIX message queues.",
    ),
    NamespaceInfo(
        Namespace.USER,
        "user namespace",
        "Same uid/gid mappings and capabilities over the same objects.",
    ),
    NamespaceInfo(
        Namespace.CGROUP,
        "cgroup namespace",
        "Same cgroup root: /proc/PID/cgroup paths read alike.",
    ),
    NamespaceInfo(
        Namespace.TIME,
        "time namespace",
        "Same offsets of CLOCK_MONOTONIC and CLOCK_BOOTTIME. Compared as the process is"
        " in it, not time_for_children.",
    ),
)


def object_of(resource: AnyResource) -> str:
    """The kernel object a type compares, in words."""
    if isinstance(resource, Namespace):
        return next(i.object for i in NAMESPACE_INFO if i.namespace is resource)
    return next(i.object for i in TYPE_INFO if i.resource is resource)
