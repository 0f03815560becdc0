"""Process details (psutil) as columns: ARGS, PPID, STARTED.

Loaded only when a column asks for them: psutil costs several times a /proc read.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .columns import Column

if TYPE_CHECKING:
    from ..procs import Details

#: the keys (lower-case column names) of the details, in column order
KEYS = ("args", "ppid", "started")


def columns(whose: str, shape: str) -> tuple[Column, ...]:
    """ARGS, PPID and STARTED of *whose* (``"their"``), one per process in *shape*."""
    return (
        Column(
            "ARGS",
            f"{whose} full command lines, {shape} (JSON: an array of strings, null where"
            " unreadable)",
            "array",
        ),
        Column("PPID", f"{whose} parent PIDs, {shape}", "array"),
        Column(
            "STARTED",
            f"{whose} start times, ISO 8601 in local time, {shape} (JSON: a string)",
            "array",
        ),
    )


def wanted(chosen: Iterable[Column]) -> bool:
    """Whether the chosen columns ask for details (only then are they loaded)."""
    return any(c.key in KEYS for c in chosen)


def values(found: Details | None) -> dict[str, Any]:
    """One process's details as JSON values; nulls where unknown."""
    if found is None:
        return dict.fromkeys(KEYS)
    return {
        "args": list(found.args) if found.args is not None else None,
        "ppid": found.ppid,
        "started": started(found.started),
    }


def started(when: float | None) -> str | None:
    if when is None:
        return None
    import datetime

    return datetime.datetime.fromtimestamp(when).astimezone().isoformat(timespec="seconds")


def args_cell(args: list[str] | None) -> str | None:
    """A command line as one cell: its arguments joined by spaces."""
    return None if args is None else " ".join(args)
