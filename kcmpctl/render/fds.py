"""`kcmpctl fds` results as JSON records, and the table rows made from them."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from . import details as detail
from .columns import Column
from .text import Encoded, device

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    from ..fds import Description, Holder
    from ..procs import Details


def across_column(key: str) -> str:
    """The column (upper case) and holder JSON key (lower case) that show an
    ``--across`` key per holder, as ps(1) names them: ``uid``, ``mntns``, ``netns`` …
    (a holder's ``pid`` is its process ID)."""
    if key == "user":
        return "uid"
    return key if key.endswith("ns") else f"{key}ns"


#: --across keys of namespaces, and what each names
_NS_OBJECTS = {
    "mnt": "mount",
    "net": "network",
    "pid": "PID",
    "uts": "UTS",
    "ipc": "IPC",
    "cgroup": "cgroup",
    "time": "time",
    "userns": "user",
}
#: the per-holder columns of --across, in the order --across takes its keys
ACROSS_COLUMNS: tuple[Column, ...] = (
    Column(
        "UID",
        "each holder's effective uid, as HOLDERS lists them (--across user; JSON: each"
        " holder's uid)",
        "array",
    ),
    *(
        Column(
            across_column(name).upper(),
            f"each holder's {what} namespace (inode, as lsns shows it), as HOLDERS lists"
            f" them (--across {name}; JSON: each holder's {across_column(name)})",
            "array",
        )
        for name, what in _NS_OBJECTS.items()
    ),
)

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
    *ACROSS_COLUMNS,
    *detail.columns("the holders'", "as HOLDERS lists them; loaded only when asked for"),
)
DEFAULTS = ("TYPE", "INO", "POS", "FLAGS", "COUNT", "TARGET", "HOLDERS")


def record(
    desc: Description,
    values: Mapping[int, Mapping[str, int | None]] | None = None,
    keys: Sequence[str] = (),
    details: Mapping[int, Details] | None = None,
) -> dict[str, Any]:
    """One element of ``{"descriptions": [...]}``; the key set is the JSON API.

    With *keys* (``--across``), each holder gains each key's value (see
    :func:`across_column`), from *values* by pid; with *details* (when ``-o`` asks for
    ARGS, PPID or STARTED), ``args``, ``ppid`` and ``started``.
    """
    if values is None and not keys and details is None:
        # Without a look at keys per holder: 19,000 descriptions make one big bucket.
        holders = [{"pid": h.pid, "fd": h.fd, "command": h.command} for h in desc.holders]
    else:
        holders = [_holder(h, values, keys, details) for h in desc.holders]
    return {
        "target": desc.target,
        "type": desc.type,
        "dev": device(desc.dev),
        "ino": desc.ino,
        "pos": desc.pos,
        "flags": None if desc.flags is None else f"0o{desc.flags:o}",
        "count": len(desc.holders),
        "holders": holders,
        "tables": [list(pids) for pids in desc.tables],
        "commands": list(dict.fromkeys([h.command for h in desc.holders])),
    }


def json_records(
    descriptions: Iterable[Description],
    values: Mapping[int, Mapping[str, int | None]] | None = None,
    keys: Sequence[str] = (),
    details: Mapping[int, Details] | None = None,
) -> Iterator[dict[str, Any] | Encoded]:
    """The elements of ``{"descriptions": [...]}``: each :func:`record`, written as
    JSON text already when it has only the default keys (a bucket can report 19,000
    descriptions: ~3 times faster than a dict for json.dumps)."""
    if values is None and not keys and details is None:
        return map(_encoder(), descriptions)
    return (record(d, values, keys, details) for d in descriptions)


def _encoder() -> Callable[[Description], Encoded]:
    from json.encoder import encode_basestring as string

    def encoded(desc: Description) -> Encoded:
        """:func:`record` as ``json.dumps(record(desc), ensure_ascii=False)`` writes it."""
        holders = ", ".join(
            [
                f'{{"pid": {h.pid}, "fd": {h.fd}, "command": {string(h.command)}}}'
                for h in desc.holders
            ]
        )
        tables = ", ".join(["[" + ", ".join(map(str, pids)) + "]" for pids in desc.tables])
        commands = ", ".join(map(string, dict.fromkeys([h.command for h in desc.holders])))
        pos = "null" if desc.pos is None else desc.pos
        flags = "null" if desc.flags is None else f'"0o{desc.flags:o}"'
        return Encoded(
            f'{{"target": {string(desc.target)}, "type": "{desc.type}",'
            f' "dev": "{device(desc.dev)}", "ino": {desc.ino}, "pos": {pos},'
            f' "flags": {flags}, "count": {len(desc.holders)}, "holders": [{holders}],'
            f' "tables": [{tables}], "commands": [{commands}]}}'
        )

    return encoded


def _holder(
    h: Holder,
    values: Mapping[int, Mapping[str, int | None]] | None,
    keys: Sequence[str],
    details: Mapping[int, Details] | None,
) -> dict[str, Any]:
    holder: dict[str, Any] = {"pid": h.pid, "fd": h.fd, "command": h.command}
    mine = values.get(h.pid, {}) if values is not None else {}
    for key in keys:
        holder[across_column(key)] = mine.get(key)
    if details is not None:
        holder.update(detail.values(details.get(h.pid)))
    return holder


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
    per_pid: dict[int, dict[str, Any]] = {h["pid"]: h for h in rec["holders"]}
    keys = [c.key for c in ACROSS_COLUMNS] + list(detail.KEYS)
    across = {
        key: [
            "+".join(_value(per_pid[pid].get(key), key) for pid in pids)
            for pids in rec["tables"]
            for _ in fds_of[pids[0]]
        ]
        for key in keys
        if any(key in h for h in rec["holders"])
    }
    flags = None if rec["flags"] is None else flag_names(int(rec["flags"], 8))
    return {**rec, **across, "holders": holders, "tables": tables, "flags": flags}


def _value(value: Any, key: str) -> str:
    if key == "args" and value is not None:
        return detail.args_cell(value) or "-"
    return "-" if value is None else str(value)
