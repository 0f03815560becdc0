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
        "status and access-mode flags by name, as O_WRONLY|O_APPEND, one for every holder"
        " (from fdinfo; without O_CLOEXEC, which is per fd, and O_LARGEFILE, which 64-bit"
        " kernels set on every file; JSON: the octal number as a string, 0o2001)",
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


_ACCESS_MODES = {os.O_RDONLY: "O_RDONLY", os.O_WRONLY: "O_WRONLY", os.O_RDWR: "O_RDWR"}
#: status flags by name, in the order shown; O_SYNC and O_TMPFILE (several bits each)
#: before the bits they include. The values are this machine's (they differ by arch).
_STATUS_FLAGS = [
    (getattr(os, name), name)
    for name in (
        "O_SYNC",
        "O_DSYNC",
        "O_APPEND",
        "O_NONBLOCK",
        "O_ASYNC",
        "O_DIRECT",
        "O_TMPFILE",
        "O_DIRECTORY",
        "O_NOFOLLOW",
        "O_NOATIME",
        "O_PATH",
        "O_CREAT",
        "O_EXCL",
        "O_NOCTTY",
        "O_TRUNC",
    )
    if hasattr(os, name)
]
#: the kernel's O_LARGEFILE, set on every file by 64-bit kernels (a name on every row
#: would say nothing); libc calls it 0 there, so the kernel's value by architecture
_LARGEFILE = getattr(os, "O_LARGEFILE", 0) or {
    "aarch64": 0o400000,
    "armv7l": 0o400000,
    "ppc64le": 0o200000,
    "ppc64": 0o200000,
    "mips64": 0o20000,
}.get(os.uname().machine, 0o100000)
_HIDDEN_FLAGS = _LARGEFILE | getattr(os, "O_CLOEXEC", 0)


def flag_names(flags: int) -> str:
    """fdinfo's flags as ``O_WRONLY|O_APPEND``; unknown bits stay as an octal number."""
    mode = flags & os.O_ACCMODE
    names = [_ACCESS_MODES.get(mode, f"0o{mode:o}")]
    rest = flags & ~os.O_ACCMODE & ~_HIDDEN_FLAGS
    for value, name in _STATUS_FLAGS:
        if value and rest & value == value:
            names.append(name)
            rest &= ~value
    if rest:
        names.append(f"0o{rest:o}")
    return "|".join(names)


def table_row(rec: dict[str, Any]) -> dict[str, Any]:
    """A record as table cells: holders by fd table (``10+12:3,11:3``), tables ``10+12,11``."""
    fds_of: dict[int, list[int]] = {}
    for holder in rec["holders"]:
        fds_of.setdefault(holder["pid"], []).append(holder["fd"])
    holders = [
        "+".join(map(str, pids)) + f":{fd}" for pids in rec["tables"] for fd in fds_of[pids[0]]
    ]
    tables = ["+".join(map(str, pids)) for pids in rec["tables"]]
    flags = None if rec["flags"] is None else flag_names(int(rec["flags"], 8))
    return {**rec, "holders": holders, "tables": tables, "flags": flags}
