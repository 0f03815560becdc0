"""`kcmpctl pair` results as JSON records and table rows (the same dicts)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .columns import Cell, Column

if TYPE_CHECKING:
    from ..kcmp import Comparison
    from ..resources import AnyResource


def _relation_style(value: Cell) -> str | None:
    if value == "shared":
        return "good"
    if value == "error":
        return "bad"
    return "warn" if value in ("none",) or str(value).startswith("only") else None


COLUMNS: tuple[Column, ...] = (
    Column(
        "TYPE",
        "type compared: kcmp's (file, vm, files, fs, sighand, io, sysvsem) or a namespace"
        " (mnt, net, pid, uts, ipc, user, cgroup, time)",
    ),
    Column(
        "RELATION",
        "shared, not shared, none (neither has one), only PID has one, or error",
        style=_relation_style,
    ),
    Column(
        "ORDER",
        "kcmp's order of the two objects (namespaces: by inode): =, < or >; - if absent or failed",
    ),
    Column("SHARED", "yes when both have the object and it is one object", "boolean"),
    Column("PID1", "first process", "number", right=True),
    Column("PID2", "second process", "number", right=True),
    Column("FD1", "fd of the first process (file comparisons)", "number", right=True),
    Column("FD2", "fd of the second process (file comparisons)", "number", right=True),
    Column("ABSENT", "the PIDs that have no such object", "array"),
    Column("TARGET1", "what FD1 refers to (/proc/PID/fd link)"),
    Column("TARGET2", "what FD2 refers to (/proc/PID/fd link)"),
    Column("ERROR", "why the comparison failed", style=lambda v: "bad" if v else None),
    Column("KIND", "kcmp, or namespace (compared by the namespace's identity)"),
)
TASK_DEFAULTS = ("TYPE", "RELATION", "ORDER")
FILE_DEFAULTS = ("TYPE", "FD1", "FD2", "RELATION", "ORDER", "TARGET1", "TARGET2")


def relation(result: Comparison) -> str:
    if result.shared:
        return "shared"
    if len(result.absent) == 2 or (result.absent and result.pid1 == result.pid2):
        return "none"
    if result.absent:
        (pid,) = (p for p in (result.pid1, result.pid2) if p not in result.absent)
        return f"only {pid} has one"
    return "not shared"


def record(
    pid1: int,
    pid2: int,
    resource: AnyResource,
    result: Comparison | None,
    *,
    fd1: int | None = None,
    fd2: int | None = None,
    error: str | None = None,
    targets: tuple[str | None, str | None] = (None, None),
) -> dict[str, Any]:
    """One row of ``{"pairs": [...]}``; the key set is the JSON API."""
    return {
        "pid1": pid1,
        "pid2": pid2,
        "fd1": fd1,
        "fd2": fd2,
        "type": resource.cli_name,
        "kind": resource.kind,
        "shared": result.shared if result else False,
        "order": result.order.json if result and result.order is not None else None,
        "absent": list(result.absent) if result else [],
        "error": error,
        "relation": relation(result) if result else "error",
        "target1": targets[0],
        "target2": targets[1],
    }


def table_row(rec: dict[str, Any]) -> dict[str, Any]:
    symbols = {"eq": "=", "lt": "<", "gt": ">"}
    return {**rec, "order": symbols.get(rec["order"])}
