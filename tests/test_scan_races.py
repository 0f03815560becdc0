"""fds and epoll against an fd that changes description all the time while they scan.

P holds description D1 of a file at fd 5 (and, for fds, D2 at fd 6); its child C holds
D1 at 20 and D2 (a second open of the same file) at 21, and a thread of C loops
``dup2(20, 5); dup2(21, 5)``; C's child X holds D2 at 7 (and, for fds, D1 at 8).  A
scan that links comparisons made at different moments through C's fd 5 merges D1 and
D2 or splits one of them.  Each test scans many times, with a new family now and then
(the kernel's order of D1 and D2, fixed for a family, changes the odds), and requires
no wrong answer at all: fds that never change are always grouped exactly, and C's fd 5
is in at most one description, or reported as "changed during the scan".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from kcmpctl import procs
from kcmpctl.epoll import find_holders, read_registrations
from kcmpctl.fds import Skipped, scan

from .conftest import Family

Run = Callable[..., tuple[int, str, str]]
Start = Callable[..., Family]

#: Families a test goes through, and scans on each: a few seconds in all.
FAMILIES = 4
SCANS = 250

#: The skip reason for an fd whose description changed while it was compared.
CHANGED = "changed during the scan"


#: Once P holds D1 at fd 5 and D2 at fd 6: C, X and C's thread that flips its fd 5.
FLIP = (
    "nest:c:11",
    "dup2:5:20",
    "dup2:6:21",
    "close:6",
    "nest:x:6",
    "dup2:21:7",
    "dup2:20:8",
    "close:5",
    "close:20",
    "close:21",
    "close:6",
    "flip:20:21:5",
)


def fds_family(family: Start, path: Path) -> Family:
    path.write_text("x")
    return family(f"openfd:5:{path}", f"openfd:6:{path}", *FLIP)


def families(start: Callable[[], Family]) -> Iterator[Family]:
    for _ in range(FAMILIES):
        fam = start()
        try:
            yield fam
        finally:
            fam.end()


def test_fds_never_merges_nor_splits_descriptions_through_a_changing_fd(
    family: Start, tmp_path: Path
) -> None:
    path = tmp_path / "file"
    wrong: list[str] = []
    for fam in families(lambda: fds_family(family, path)):
        p, c, x = fam.pid, fam["c"], fam["x"]
        ino = os.stat(path).st_ino
        d1 = {(p, 5), (c, 20), (x, 8)}
        d2 = {(p, 6), (c, 21), (x, 7)}
        for _ in range(SCANS):
            selection = procs.select_tasks([p, c, x], None, None, None)
            try:
                result = scan(selection.tasks)
            finally:
                selection.close()
            held = [
                {(h.pid, h.fd) for h in d.holders} for d in result.descriptions if d.ino == ino
            ]
            if held not in ([d1, d2], [d2, d1], [d1 | {(c, 5)}, d2], [d1, d2 | {(c, 5)}]):
                wrong.append(f"descriptions {held}")
            wrong += skips_wrong(result.skipped, (c, 5), held)
    assert wrong == []


def skips_wrong(
    skipped: Sequence[Skipped], flipping: tuple[int, int], held: Sequence[set[tuple[int, int]]]
) -> list[str]:
    """What is wrong in a scan's skips: only the flipping fd may be skipped, as changed,
    and then it is in no description."""
    wrong = []
    changed = [(s.pid, s.fd) for s in skipped if s.reason == CHANGED]
    if changed not in ([], [flipping]) or (changed and any(flipping in h for h in held)):
        wrong.append(f"changed {changed} with {held}")
    if any(s.reason != CHANGED for s in skipped):
        wrong.append(f"skipped {skipped}")
    return wrong


def eventfd_family(family: Start) -> Family:
    # fds_family with eventfds: 600 more of them, inherited by C and X, make one
    # anonymous-inode bucket big enough to be split by eventfd-id before its sort; P
    # makes 40 after the fork, so that its table is the one others are matched with.
    return family("eventfds:600", "eventfd:5", "eventfd:6", *FLIP, "eventfds:40")


def test_fds_big_eventfd_bucket_through_a_changing_fd(family: Start) -> None:
    """Keys (eventfd-id) read at other moments than the comparisons: the same answers."""
    wrong: list[str] = []
    for fam in families(lambda: eventfd_family(family)):
        p, c, x = fam.pid, fam["c"], fam["x"]
        d1 = {(p, 5), (c, 20), (x, 8)}
        d2 = {(p, 6), (c, 21), (x, 7)}
        wrong += flip_wrong([p, c, x], d1, d2, (c, 5), SCANS // 16)
    assert wrong == []


#: Fds a flipping child opens beyond its three of the watched file: enough to make its
#: table the largest of a bucket that is matched by number (fds.MATCH_FROM).
OPENS = 80


def partner_family(family: Start, path: Path | None) -> Family:
    """P holds D1 at fd 5 and D2 at fd 6; its child C holds them at 20 and 21, flips its
    fd 5 between them, and holds the most fds of the bucket (80 more opens of *path*,
    or 40 more eventfds with *path* None over 600 inherited): P's fd 5, never changed,
    is matched by number with C's fd 5, which changes all the time."""
    if path is None:
        head: tuple[str, ...] = ("eventfds:600", "eventfd:5", "eventfd:6")
        more: tuple[str, ...] = ("eventfds:40",)
    else:
        path.write_text("x")
        head = (f"openfd:5:{path}", f"openfd:6:{path}")
        more = tuple(f"openfd:{fd}:{path}" for fd in range(30, 30 + OPENS))
    child = ("dup2:5:20", "dup2:6:21", "close:6", *more, "flip:20:21:5")
    return family(*head, f"nest:c:{len(child)}", *child)


def partner_wrong(fam: Family, scans: int) -> list[str]:
    """What is wrong in *scans* scans of *fam*: P's fds 5 and 6 always with the fds of
    their description, never skipped; C's fd 5 in at most one of them, or changed."""
    p, c = fam.pid, fam["c"]
    return flip_wrong([p, c], {(p, 5), (c, 20)}, {(p, 6), (c, 21)}, (c, 5), scans)


def flip_wrong(
    pids: list[int],
    d1: set[tuple[int, int]],
    d2: set[tuple[int, int]],
    flipping: tuple[int, int],
    scans: int,
) -> list[str]:
    """What is wrong in *scans* scans of *pids*: the descriptions *d1* and *d2* exactly,
    *flipping* in at most one of them (or skipped as changed), and every other
    description one fd number inherited (eventfds)."""
    allowed = [
        {frozenset(a), frozenset(b)}
        for a, b in ((d1, d2), (d1 | {flipping}, d2), (d1, d2 | {flipping}))
    ]
    wrong: list[str] = []
    for _ in range(scans):
        selection = procs.select_tasks(pids, None, None, None)
        try:
            result = scan(selection.tasks)
        finally:
            selection.close()
        held = [{(h.pid, h.fd) for h in d.holders} for d in result.descriptions]
        watched = [fds for fds in held if fds & (d1 | d2 | {flipping})]
        if len(watched) != 2 or set(map(frozenset, watched)) not in allowed:
            wrong.append(f"descriptions {watched}")
        wrong += [
            f"inherited {fds}"
            for fds in held
            if fds not in watched and len({fd for _, fd in fds}) > 1
        ]
        wrong += skips_wrong(result.skipped, flipping, held)
    return wrong


def test_fds_the_largest_table_changing_under_a_matched_fd(family: Start, tmp_path: Path) -> None:
    """A stable fd matched with a changing one is neither blamed nor split."""
    path = tmp_path / "file"
    wrong: list[str] = []
    for fam in families(lambda: partner_family(family, path)):
        wrong += partner_wrong(fam, SCANS)
    assert wrong == []


def test_fds_the_largest_table_changing_in_a_big_eventfd_bucket(family: Start) -> None:
    """The same, with what is left to sort split by eventfd-id first."""
    wrong: list[str] = []
    for fam in families(lambda: partner_family(family, None)):
        wrong += partner_wrong(fam, SCANS // 16)
    assert wrong == []


def test_fds_reports_the_changing_fd_as_changed(
    kcmpctl: Run, family: Start, tmp_path: Path
) -> None:
    path = tmp_path / "file"
    deadline = time.monotonic() + 20
    for fam in families(lambda: fds_family(family, path)):
        c = fam["c"]
        while time.monotonic() < deadline:
            status, out, err = kcmpctl("fds", "-J", "-p", f"{fam.pid},{c},{fam['x']}")
            doc = json.loads(out)
            if doc["skipped"]:
                # A named process with an fd left out is trouble, said on stderr.
                assert doc["skipped"] == [
                    {"pid": c, "command": "famhelper", "reason": CHANGED, "fd": 5}
                ]
                assert status == 2
                assert err == f"kcmpctl: process {c} fd 5: {CHANGED}\n"
                assert all(
                    (c, 5) not in [(h["pid"], h["fd"]) for h in d["holders"]]
                    for d in doc["descriptions"]
                )
                return
            assert status == 0
    raise AssertionError("C's fd 5 was never seen changing")


def epoll_family(family: Start, fifo: Path) -> Family:
    if not fifo.exists():
        os.mkfifo(fifo)
    return family(
        "epoll:ep",
        f"openfd:5:{fifo}",
        "eadd:3:5",
        "dup2:5:9",
        "close:5",
        "nest:c:9",
        "dup2:9:20",
        "close:9",
        f"openfd:21:{fifo}",
        "nest:x:4",
        "dup2:21:7",
        "close:20",
        "close:21",
        "close:5",
        "flip:20:21:5",
    )


def test_epoll_never_loses_nor_invents_holders_through_a_changing_fd(
    family: Start, tmp_path: Path
) -> None:
    fifo = tmp_path / "fifo"
    wrong: list[str] = []
    for fam in families(lambda: epoll_family(family, fifo)):
        p, c, x = fam.pid, fam["c"], fam["x"]
        for _ in range(SCANS):
            listing = find_holders(p, 3, read_registrations(p, 3), [c, x])
            (target,) = listing.targets
            holders = {(h.pid, h.fd) for h in target.holders}
            if target.status.value != "moved" or holders not in (
                {(p, 9), (c, 20)},
                {(p, 9), (c, 20), (c, 5)},
            ):
                wrong.append(f"{target.status.value} {holders}")
            if any(s.fd != 5 or s.error.reason != CHANGED for s in listing.skipped):
                wrong.append(f"skipped {listing.skipped}")
    assert wrong == []


def test_epoll_cli_answer_with_a_changing_fd(kcmpctl: Run, family: Start, tmp_path: Path) -> None:
    fam = epoll_family(family, tmp_path / "fifo")
    p, c, x = fam.pid, fam["c"], fam["x"]
    status, out, err = kcmpctl("epoll", str(p), "3", "-J", "-p", f"{c},{x}")
    (target,) = json.loads(out)["targets"]
    assert (status, err) == (1, "")
    assert target["status"] == "moved"
    holders = [(h["pid"], h["fd"]) for h in target["holders"]]
    assert holders in ([(p, 9), (c, 20)], [(p, 9), (c, 5), (c, 20)])


#: A process whose epoll gains and loses registrations all the time: each round opens
#: two eventfds, registers both and closes them, so their fd numbers are closed and
#: reused within microseconds.  Every eventfd is one anonymous inode: each of them is a
#: candidate for every eventfd registration.  The first six stay.
CHURN = r"""
import os, resource, select, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
ep = select.epoll()
steady = []
for _ in range(int(sys.argv[1])):
    e = os.eventfd(0)
    ep.register(e, select.EPOLLIN)
    steady.append(e)
print(ep.fileno(), *steady, flush=True)
while True:
    a, b = os.eventfd(0), os.eventfd(0)
    ep.register(a, select.EPOLLIN)
    ep.register(b, select.EPOLLIN)
    os.close(a)
    os.close(b)
"""


@pytest.mark.parametrize("steady", [6, 600])
def test_epoll_an_fd_closed_and_reused_mid_scan_is_no_trouble(steady: int) -> None:
    # An fd closed at the moment it was compared, and open again (another eventfd at
    # the same number) when asked why, is no trouble with the epoll: the call is made
    # again.  Every steady registration is answered exactly, or its fd is reported as
    # changed (it was compared beside one that changed all the time): never a holder
    # that is not the file, never one left out without a word.
    # 600 steady registrations make a big epoll, searched from the fds their numbers name.
    proc = subprocess.Popen(
        [sys.executable, "-c", CHURN, str(steady)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        epfd, *steadies = map(int, proc.stdout.readline().split())
        pid = proc.pid
        wrong: list[str] = []
        deadline = time.monotonic() + 12
        scans = 0
        while time.monotonic() < deadline and scans < 1500:
            scans += 1
            listing = find_holders(pid, epfd, read_registrations(pid, epfd), [])
            changed = {s.fd for s in listing.skipped if s.error.reason == CHANGED}
            if len(changed) < len(listing.skipped):
                wrong.append(f"skipped {listing.skipped}")
            by_tfd = {t.registration.tfd: t for t in listing.targets}
            for fd in steadies:
                target = by_tfd.get(fd)
                holders = [] if target is None else [(h.pid, h.fd) for h in target.holders]
                if holders != [(pid, fd)] and not (holders == [] and fd in changed):
                    wrong.append(f"{fd}: {holders}")
        assert wrong == []
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


#: Eventfds registered beside the changing one, so that the anonymous inode's bucket is
#: big enough to be split by eventfd id (or sorted) rather than proven fd by fd.
FILLERS = range(30, 36)


def epoll_eventfd_family(family: Start) -> Family:
    ops = ["epoll:ep", "eventfd:20", "eventfd:21", "dup2:20:5", "eadd:3:5"]
    for fd in FILLERS:
        ops += [f"eventfd:{fd}", f"eadd:3:{fd}"]
    return family(*ops, "fork:c", "flip:20:21:5")


def test_epoll_never_loses_nor_invents_eventfd_holders_through_a_changing_hint(
    family: Start,
) -> None:
    # P registered E1 at fd 5 and holds it at 20; a thread of P flips fd 5 between E1
    # and E2 (fd 21).  Every eventfd has the one anonymous inode, and an id read at one
    # moment that the registration is proven at another: fd 5, where the search starts,
    # may be read as E2 and proven as E1.  C, forked before the flipping began, holds
    # E1 at 5 and 20 and never changes.
    wrong: list[str] = []
    for fam in families(lambda: epoll_eventfd_family(family)):
        p, c = fam.pid, fam["c"]
        e1 = {(p, 20), (c, 5), (c, 20)}
        for _ in range(SCANS):
            listing = find_holders(p, 3, read_registrations(p, 3), [c])
            by_tfd = {t.registration.tfd: t for t in listing.targets}
            if sorted(by_tfd) != [5, *FILLERS]:
                wrong.append(f"registrations {sorted(by_tfd)}")
                continue
            target = by_tfd[5]
            holders = {(h.pid, h.fd) for h in target.holders}
            status = "ok" if (p, 5) in holders else "moved"
            if holders not in (e1, e1 | {(p, 5)}) or target.status.value != status:
                wrong.append(f"{target.status.value} {holders}")
            for fd in FILLERS:
                filler = by_tfd[fd]
                if {(h.pid, h.fd) for h in filler.holders} != {(p, fd), (c, fd)}:
                    wrong.append(f"filler {fd}: {filler.holders}")
            changed = [(s.pid, s.fd) for s in listing.skipped]
            if any(s.error.reason != CHANGED for s in listing.skipped) or changed not in (
                [],
                [(p, 5)],
            ):
                wrong.append(f"skipped {listing.skipped}")
            elif changed and (p, 5) in holders:
                wrong.append(f"changed and held {holders}")
    assert wrong == []


def test_big_epoll_never_loses_a_holder_through_a_changing_hint(
    family: Start, tmp_path: Path
) -> None:
    # From 512 registrations a KCMP_EPOLL_TFD call is dear, so the fd at the
    # registration's number is proven first and the inode's other fds are compared with
    # it: P's fd 5, which a thread of P flips between D1 (the registered description,
    # also at 20) and D2 (21).  Its proof and the comparisons come at other moments.
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    wrong: list[str] = []
    for _ in range(2):
        fam = family(
            "epoll:ep",
            f"openfd:5:{fifo}",
            "eadd:3:5",
            "dup2:5:20",
            f"openfd:21:{fifo}",
            "emany:3:600",
            "fork:c",
            "flip:20:21:5",
        )
        try:
            p, c = fam.pid, fam["c"]
            d1 = {(p, 20), (c, 5), (c, 20)}
            for _ in range(SCANS // 5):
                listing = find_holders(p, 3, read_registrations(p, 3), [c])
                (target,) = (t for t in listing.targets if t.registration.tfd == 5)
                holders = {(h.pid, h.fd) for h in target.holders}
                status = "ok" if (p, 5) in holders else "moved"
                if holders not in (d1, d1 | {(p, 5)}) or target.status.value != status:
                    wrong.append(f"{target.status.value} {holders}")
                if any(s.fd != 5 or s.error.reason != CHANGED for s in listing.skipped):
                    wrong.append(f"skipped {listing.skipped}")
        finally:
            fam.end()
    assert wrong == []


def test_big_epoll_of_eventfds_never_loses_a_holder_through_a_changing_hint(
    family: Start,
) -> None:
    # From 512 registrations each registration is proven at the fd its number or data
    # word names, through a copy, and the registrations of the anonymous inode are told
    # apart by fdinfo's order (by file) instead of by eventfd id.  P registered E1 at
    # fd 5 and holds it at 20; a thread of P flips fd 5 between E1 and E2 (fd 21): the
    # copy of fd 5 may be either, and fds 20 and 21 are compared with the copies.
    wrong: list[str] = []
    for _ in range(2):
        fam = family(
            "epoll:ep",
            "eventfd:20",
            "eventfd:21",
            "dup2:20:5",
            "eadd:3:5",
            "emany:3:600",
            "flip:20:21:5",
        )
        try:
            p = fam.pid
            for _ in range(SCANS // 5):
                listing = find_holders(p, 3, read_registrations(p, 3), [])
                if len(listing.targets) != 601:
                    wrong.append(f"{len(listing.targets)} registrations")
                    continue
                for target in listing.targets:
                    reg = target.registration
                    holders = {(h.pid, h.fd) for h in target.holders}
                    if reg.tfd != 5:
                        if holders != {(p, reg.data)}:
                            wrong.append(f"{reg.tfd}/{reg.toff}: {holders}")
                        continue
                    status = "ok" if (p, 5) in holders else "moved"
                    good = holders in ({(p, 20)}, {(p, 20), (p, 5)})
                    if not good or target.status.value != status:
                        wrong.append(f"{target.status.value} {holders}")
                changed = [(s.pid, s.fd) for s in listing.skipped]
                if any(s.error.reason != CHANGED for s in listing.skipped) or changed not in (
                    [],
                    [(p, 5)],
                ):
                    wrong.append(f"skipped {listing.skipped}")
        finally:
            fam.end()
    assert wrong == []
