"""`kcmpctl fds` results as JSON records, and the table rows made from them."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .columns import Column

if TYPE_CHECKING:
    from ..fds import Description

COLUMNS: tuple[Column, ...] = (
    Column("TYPE", "file type: REG, DIR, CHR, BLK, FIFO, SOCK, LNK, or UNKN (anonymous inode)"),
    Column("DEV", "device of the inode, MAJOR:MINOR"),
    Column("INO", "inode number", "number", right=True),
    Column("POS", "file offset, one for every holder", "number", right=True),
    Column(
        "FLAGS",
        "status and access-mode flags, octal, one for every holder (from fdinfo; without"
        " O_CLOEXEC, which is per fd)",
    ),
    Column("COUNT", "number of holders (pid, fd)", "number", right=True),
    Column("TARGET", "what the fds refer to: a path, pipe:[INO], socket:[INO], anon_inode:[…]"),
    Column(
        "HOLDERS",
        "the fds holding it, PID:FD; pids sharing one fd table are joined by +, as in 10+12:3"
        " (JSON: an array of {pid, fd, command})",
        "array",
    ),
    Column(
        "TABLES",
        "the holders' pids by fd table; pids of one table joined by + (JSON: array of arrays)",
        "array",
    ),
    Column("COMMANDS", "names (comm) of the holding processes", "array"),
)
DEFAULTS = ("TYPE", "INO", "POS", "FLAGS", "COUNT", "TARGET", "HOLDERS")


def record(desc: Description) -> dict[str, Any]:
    """One element of ``{"descriptions": [...]}``; the key set is the JSON API."""
    return {
        "target": desc.target,
        "type": desc.type,
        "dev": f"{os.major(desc.dev)}:{os.minor(desc.dev)}",
        "ino": desc.ino,
        "pos": desc.pos,
        "flags": None if desc.flags is None else f"0o{desc.flags:o}",
        "count": len(desc.holders),
        "holders": [{"pid": h.pid, "fd": h.fd, "command": h.command} for h in desc.holders],
        "tables": [list(pids) for pids in desc.tables],
        "commands": list(dict.fromkeys(h.command for h in desc.holders)),
    }


def skipped_record(
    pid: int, command: str | None, reason: str, fd: int | None = None
) -> dict[str, Any]:
    """One element of ``{"skipped": [...]}``: *fd* when only that fd is left out."""
    return {"pid": pid, "command": command, "reason": reason, "fd": fd}


def table_row(rec: dict[str, Any]) -> dict[str, Any]:
    """A record as table cells: holders by fd table (``10+12:3,11:3``), tables ``10+12,11``."""
    fds_of: dict[int, list[int]] = {}
    for holder in rec["holders"]:
        fds_of.setdefault(holder["pid"], []).append(holder["fd"])
    holders = [
        "+".join(map(str, pids)) + f":{fd}" for pids in rec["tables"] for fd in fds_of[pids[0]]
    ]
    tables = ["+".join(map(str, pids)) for pids in rec["tables"]]
    return {**rec, "holders": holders, "tables": tables}
