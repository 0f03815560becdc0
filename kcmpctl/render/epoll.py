"""`kcmpctl epoll` results as JSON records and table rows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .columns import Cell, Column
from .text import Encoded

if TYPE_CHECKING:
    from ..epoll import Listing, Target


def _status_style(value: Cell) -> str | None:
    # Imported here: at the top it would load ctypes wherever the columns are needed
    # (completion, -H); by the time a cell is styled, the scan has loaded it.
    from ..epoll import Status

    if value == Status.OK.value:
        return "good"
    return "bad" if value == Status.UNKNOWN.value else "warn"


COLUMNS: tuple[Column, ...] = (
    Column("TFD", "fd number the file was registered under (may be stale)", "number", right=True),
    Column("TOFF", "index among the registrations made under this TFD", "number", right=True),
    Column("EVENTS", "event mask (the kernel adds EPOLLERR and EPOLLHUP to all)", "array"),
    Column("DATA", "the registration's data word (hexadecimal in tables)", "number", right=True),
    Column("INO", "inode number of the registered file", "number", right=True),
    Column(
        "STATUS",
        "ok (fd TFD is the file), moved (PID holds it at another fd),"
        " elsewhere (only other processes hold it), unknown (no holder found)",
        style=_status_style,
    ),
    Column("HOLDERS", "every PID:FD proven with kcmp to be the registered file", "array"),
    Column("SDEV", "device of the file's filesystem, MAJOR:MINOR"),
    Column("TARGET", "what the file is: the /proc/PID/fd link of its first holder"),
)
DEFAULTS = ("TFD", "TOFF", "EVENTS", "DATA", "INO", "STATUS", "HOLDERS", "TARGET")


def record(target: Target) -> dict[str, Any]:
    """One element of ``"targets"``; the key set is the JSON API."""
    reg = target.registration
    return {
        "tfd": reg.tfd,
        "toff": reg.toff,
        "events": reg.event_names,
        "data": reg.data,
        "ino": reg.ino,
        "status": target.status.value,
        "holders": [{"pid": h.pid, "fd": h.fd} for h in target.holders],
        "sdev": reg.device,
        "target": target.name,
    }


def document(listing: Listing) -> Encoded:
    """The whole ``-J`` object, written as text in one pass: byte for byte what
    ``json.dumps`` writes for :func:`record` of each target (a big epoll lists 9,000
    targets: dicts then their encoding cost ~3 times as much)."""
    import json
    from json.encoder import encode_basestring as string  # json.dumps' own, not ASCII

    # A big epoll has a handful of (events, device, status) triples: each written once.
    known: dict[tuple[int, int, Any], tuple[str, str, str]] = {}
    records = []
    for target in listing.targets:
        reg = target.registration
        key = (reg.events, reg.sdev, target.status)
        fields = known.get(key)
        if fields is None:
            fields = known[key] = (
                json.dumps(reg.event_names),
                string(target.status.value),
                f'"{reg.device}"',
            )
        mask, status, dev = fields
        if len(target.holders) == 1:
            (h,) = target.holders
            holders = f'{{"pid": {h.pid}, "fd": {h.fd}}}'
        else:
            holders = ", ".join([f'{{"pid": {h.pid}, "fd": {h.fd}}}' for h in target.holders])
        name = "null" if target.name is None else string(target.name)
        records.append(
            f'{{"tfd": {reg.tfd}, "toff": {reg.toff}, "events": {mask}, "data": {reg.data},'
            f' "ino": {reg.ino}, "status": {status}, "holders": [{holders}], "sdev": {dev},'
            f' "target": {name}}}'
        )
    skipped = [{"pid": s.pid, "reason": s.error.reason, "fd": s.fd} for s in listing.skipped]
    return Encoded(
        f'{{"pid": {listing.pid}, "epfd": {listing.epfd}, "targets": [{", ".join(records)}],'
        f' "skipped": {json.dumps(skipped, ensure_ascii=False)}}}'
    )


def table_row(rec: dict[str, Any]) -> dict[str, Any]:
    # data is most often a pointer or an fd: hexadecimal, as fdinfo prints it.
    holders = [f"{h['pid']}:{h['fd']}" for h in rec["holders"]]
    return {**rec, "data": f"0x{rec['data']:x}", "holders": holders}


def title(listing: Listing, comm: str | None) -> str:
    who = f"{listing.pid} ({comm})" if comm is not None else str(listing.pid)
    count = len(listing.targets)
    return f"{who} epoll fd {listing.epfd}: {count} registration{'' if count == 1 else 's'}"


def check_record(
    pid: int, epfd: int, tfd: int, toff: int, holder: tuple[int, int], same: bool
) -> dict[str, Any]:
    """``--check -J``: the question and its answer."""
    return {
        "pid": pid,
        "epfd": epfd,
        "tfd": tfd,
        "toff": toff,
        "holder": {"pid": holder[0], "fd": holder[1]},
        "registered": same,
    }


def check_line(rec: dict[str, Any]) -> str:
    holder = rec["holder"]
    verb = "is" if rec["registered"] else "is not"
    return (
        f"process {holder['pid']} fd {holder['fd']} {verb} the file registered as"
        f" tfd {rec['tfd']} (toff {rec['toff']}) in epoll fd {rec['epfd']} of process {rec['pid']}"
    )
