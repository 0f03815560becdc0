"""kcmpctl: which kernel objects do Linux processes really share?  Built on kcmp(2).

The library API::

    from kcmpctl import Resource, compare, compare_files, epoll_target

    result = compare(1234, 1235, Resource.FILES)
    result.shared      # one fd table, present in both
    result.absent      # pids that have no such object (never "shared")
    result.order       # kcmp's order: Order.EQUAL / LESS / GREATER, None if absent
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
        Comparison,
        compare,
        compare_files,
        epoll_order,
        epoll_target,
        probe,
    )
    from .namespaces import compare_namespace
    from .resources import (
        NS_TYPES,
        TASK_TYPES,
        TYPE_GROUPS,
        AnyResource,
        Namespace,
        Order,
        Resource,
    )
    from .typeinfo import NAMESPACE_INFO, TYPE_INFO, NamespaceInfo, TypeInfo

__version__ = "0.1.0"

__all__ = [
    "NAMESPACE_INFO",
    "NS_TYPES",
    "TASK_TYPES",
    "TYPE_GROUPS",
    "TYPE_INFO",
    "AccessDenied",
    "AnyResource",
    "BadAddress",
    "BadFileDescriptor",
    "Comparison",
    "Interrupted",
    "InvalidArgument",
    "KcmpError",
    "KcmpUnavailable",
    "Namespace",
    "NamespaceInfo",
    "NoSuchProcess",
    "NoSuchRegistration",
    "NotSupported",
    "Order",
    "Resource",
    "TypeInfo",
    "__version__",
    "compare",
    "compare_files",
    "compare_namespace",
    "epoll_order",
    "epoll_target",
    "probe",
]

# Re-exports load on first use, so that `import kcmpctl.cli` (every TAB press in a
# completing shell) does not pay for ctypes and the kcmp module up front; the type
# and order names come from `resources`, which loads no ctypes either.
_ERRORS = (
    "AccessDenied",
    "BadAddress",
    "BadFileDescriptor",
    "Interrupted",
    "InvalidArgument",
    "KcmpError",
    "KcmpUnavailable",
    "NoSuchProcess",
    "NoSuchRegistration",
    "NotSupported",
)
_RESOURCES = (
    "NS_TYPES",
    "TASK_TYPES",
    "TYPE_GROUPS",
    "AnyResource",
    "Namespace",
    "Order",
    "Resource",
)
_TYPEINFO = ("NAMESPACE_INFO", "TYPE_INFO", "NamespaceInfo", "TypeInfo")
_HOME = {
    name: "errors"
    if name in _ERRORS
    else "resources"
    if name in _RESOURCES
    else "typeinfo"
    if name in _TYPEINFO
    else "namespaces"
    if name == "compare_namespace"
    else "kcmp"
    for name in __all__
    if name != "__version__"
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'kcmpctl' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
