"""kcmpctl: which kernel objects do Linux processes really share?  Built on kcmp(2).

The library API::

    from kcmpctl import Resource, compare, compare_files, epoll_target

    result = compare(1234, 1235, Resource.FILES)
    result.shared      # one fd table, present in both
    result.absent      # pids that have no such object (never "shared")
    result.order       # kcmp's order: Order.EQUAL / LESS / GREATER, None if absent
"""

from __future__ import annotations

from .errors import (
    AccessDenied,
    BadAddress,
    BadFileDescriptor,
    Interrupted,
    InvalidArgument,
    KcmpError,
    KcmpUnavailable,
    NoSuchProcess,
    NoSuchRegistration,
    NotSupported,
)
from .kcmp import (
    TASK_TYPES,
    TYPE_INFO,
    Comparison,
    Order,
    Resource,
    TypeInfo,
    compare,
    compare_files,
    epoll_order,
    epoll_target,
    probe,
)

__version__ = "0.1.0"

__all__ = [
    "TASK_TYPES",
    "TYPE_INFO",
    "AccessDenied",
    "BadAddress",
    "BadFileDescriptor",
    "Comparison",
    "Interrupted",
    "InvalidArgument",
    "KcmpError",
    "KcmpUnavailable",
    "NoSuchProcess",
    "NoSuchRegistration",
    "NotSupported",
    "Order",
    "Resource",
    "TypeInfo",
    "__version__",
    "compare",
    "compare_files",
    "epoll_order",
    "epoll_target",
    "probe",
]
