"""The process tree, each process annotated with what it shares with its parent.

Sharing is decided along the process tree: clone(2) and fork(2) choose what a child
shares with its parent, unshare(2) and setns(2) end it later.  So each process is
compared with its parent, type by type, and where it does not share with its parent
but does with someone else (a CLONE_FILES grandchild whose parent unshared its fd
table since, siblings that share what their parent gave up) the nearest such process
is named.

Everything here is pure: the answers come from one :class:`Grouping` per type, the
objects of the processes in kcmp's order (as :func:`kcmpctl.matrix.build` makes them),
so "shares with its parent" is "in the same class", read without a further kcmp call,
and the groups say who else holds the object.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


class Share(enum.Enum):
    """A process's object of one type against its parent's."""

    YES = "yes"  # one object, held by both
    NO = "no"  # the process has its own (the parent has another, or none)
    NONE = "none"  # the process has no such object: nothing to share (NULL)
    UNKNOWN = "unknown"  # the process or its parent was not compared

    @property
    def json(self) -> bool | None:
        """``true``/``false``; ``null`` for no object or no answer: never "shared"."""
        if self is Share.YES:
            return True
        if self is Share.NO:
            return False
        return None


@dataclass(frozen=True, slots=True)
class Grouping:
    """One type's answer over every compared task: objects in kcmp's order."""

    type: str
    #: one tuple of task IDs per object
    classes: tuple[tuple[int, ...], ...]
    #: tasks with no object of this type
    absent: tuple[int, ...]
    #: tasks not compared, with the reason
    skipped: Mapping[int, str]


@dataclass(frozen=True, slots=True)
class Task:
    """A compared task as the tree places it.

    ``id`` is the ID the groupings name it by (the PID, or the TID with threads).
    """

    id: int
    pid: int
    ppid: int
    #: the thread's ID when the task stands for a thread rather than its process
    tid: int | None
    comm: str


@dataclass(frozen=True, slots=True)
class Node:
    """A process (or a thread of one) and what it shares with its parent in the tree.

    A thread's parent is its process.  ``shares`` holds one answer per type, in the
    order asked for; ``shares_with`` names, per type the process is not known to share
    with its parent (it does not, or the parent was not compared, or there is none),
    the nearest other process (or thread) that holds the same object.
    """

    pid: int
    ppid: int
    tid: int | None
    comm: str
    shares: tuple[tuple[str, Share], ...]
    shares_with: tuple[tuple[str, int], ...]
    #: why some answer is unknown: the process or its parent was not compared
    unknown: str | None
    children: tuple[Node, ...] = ()
    threads: tuple[Node, ...] = ()

    def share(self, type_: str) -> Share:
        return dict(self.shares)[type_]

    def walk(self) -> Iterable[Node]:
        """This node, its threads and every descendant, depth first."""
        yield self
        for thread in self.threads:
            yield from thread.walk()
        for child in self.children:
            yield from child.walk()


NO_PARENT = "no parent to compare with"


def build(
    tasks: Sequence[Task],
    groupings: Sequence[Grouping],
    shown: Iterable[int],
    *,
    threads: bool = False,
) -> tuple[Node, ...]:
    """The forest of the processes *shown* (PIDs), each under its parent when shown.

    *tasks* holds every compared task: the shown ones and their parents (a shown
    process whose parent is not shown is a root, still compared with its parent).  With
    *threads*, tasks are threads and each process is represented by one of them (its
    leader unless that was not compared); its other threads hang under it.
    """
    by_id = {t.id: t for t in tasks}
    by_pid: dict[int, list[Task]] = {}
    for task in sorted(tasks, key=lambda t: (t.pid, t.id != t.pid, t.id)):
        by_pid.setdefault(task.pid, []).append(task)
    skipped: dict[int, str] = {}
    for grouping in groupings:
        for i, why in grouping.skipped.items():
            skipped.setdefault(i, why)
    rep = {pid: _representative(members, skipped) for pid, members in by_pid.items()}

    shown_set = {pid for pid in shown if pid in by_pid}
    children: dict[int, list[int]] = {}
    roots: list[int] = []
    for pid in sorted(shown_set):
        ppid = by_pid[pid][0].ppid
        if ppid in shown_set and ppid != pid:
            children.setdefault(ppid, []).append(pid)
        else:
            roots.append(pid)

    # Who is next to whom, for "the nearest other holder": processes along parent
    # links (hidden parents included), threads beside their process's representative.
    parent_of: dict[int, int] = {}
    for pid, members in by_pid.items():
        ppid = members[0].ppid
        if ppid in rep:
            parent_of[rep[pid]] = rep[ppid]
        for task in members:
            if task.id != rep[pid]:
                parent_of[task.id] = rep[pid]
    nearest = _Nearest(parent_of)
    answers = [_TypeAnswers(g) for g in groupings]

    def node(pid: int) -> Node:
        me = rep[pid]
        ppid = by_pid[pid][0].ppid
        parent = rep.get(ppid)
        kids = tuple(node(c) for c in children.get(pid, ()))
        thread_nodes = tuple(
            _annotate(by_id[t.id], me, answers, nearest, thread=True)
            for t in by_pid[pid]
            if threads and t.id != me
        )
        base = _annotate(by_id[me], parent, answers, nearest, thread=False)
        return Node(
            base.pid,
            ppid,
            None,
            base.comm,
            base.shares,
            base.shares_with,
            base.unknown,
            kids,
            thread_nodes,
        )

    return tuple(node(pid) for pid in roots)


def _representative(members: Sequence[Task], skipped: Mapping[int, str]) -> int:
    """The task a process is compared through: its leader, else its first compared
    thread (a leader that exited while its threads run has NULL objects)."""
    for task in members:
        if task.id not in skipped:
            return task.id
    return members[0].id


class _TypeAnswers:
    """One type's classes, indexed for the questions the tree asks."""

    def __init__(self, grouping: Grouping) -> None:
        self.type = grouping.type
        self.classes = grouping.classes
        self.absent = frozenset(grouping.absent)
        self.skipped = grouping.skipped
        self.object: dict[int, int] = {}
        for index, cls in enumerate(grouping.classes):
            for i in cls:
                self.object[i] = index


def _annotate(
    task: Task,
    parent: int | None,
    answers: Sequence[_TypeAnswers],
    nearest: _Nearest,
    *,
    thread: bool,
) -> Node:
    shares: list[tuple[str, Share]] = []
    shares_with: list[tuple[str, int]] = []
    unknown: str | None = None
    me = task.id
    for answer in answers:
        if me in answer.skipped:
            shares.append((answer.type, Share.UNKNOWN))
            unknown = unknown or answer.skipped[me]
            continue
        if me in answer.absent:
            shares.append((answer.type, Share.NONE))
            continue
        index = answer.object[me]
        if parent is None:
            # Nothing to compare with (pid 1, kthreadd): who else holds it still tells.
            share = Share.UNKNOWN
            unknown = unknown or NO_PARENT
        elif parent in answer.absent or parent in answer.object:
            share = Share.YES if answer.object.get(parent) == index else Share.NO
        else:
            share = Share.UNKNOWN
            why = answer.skipped.get(parent, "not compared")
            unknown = unknown or f"parent {parent}: {why}"
        shares.append((answer.type, share))
        holders = answer.classes[index]
        if share is not Share.YES and len(holders) > 1:
            shares_with.append((answer.type, nearest.find(me, holders)))
    return Node(
        task.pid,
        task.ppid,
        task.tid if thread else None,
        task.comm,
        tuple(shares),
        tuple(shares_with),
        unknown,
    )


class _Nearest:
    """The nearest other member of a class, counting steps along the tree's links.

    A small class (most: a family sharing an fd table) is measured pair by pair
    through the members' common ancestor: a few steps up each.  A large one is
    searched breadth first from each member at once, each node keeping the two
    nearest members that reach it: O(tree) once, however large the class.  Ties go
    to the lower ID; members of different trees are "far", the lowest ID last of all.
    """

    #: up to this many members, pairs through the common ancestor
    PAIRWISE = 32

    def __init__(self, parent_of: Mapping[int, int]) -> None:
        self._parent = parent_of
        self._links: dict[int, list[int]] | None = None
        self._chains: dict[int, dict[int, int]] = {}
        self._found: dict[tuple[int, ...], dict[int, int]] = {}

    def find(self, member: int, cls: tuple[int, ...]) -> int:
        found = self._found.get(cls)
        if found is None:
            search = self._pairwise if len(cls) <= self.PAIRWISE else self._search
            found = self._found[cls] = search(cls)
        return found[member]

    def _chain(self, node: int) -> dict[int, int]:
        """Each ancestor of *node* (itself included) with its distance from it."""
        chain = self._chains.get(node)
        if chain is None:
            chain, step, seen = {}, 0, node
            while seen not in chain:
                chain[seen] = step
                step += 1
                if seen not in self._parent:
                    break
                seen = self._parent[seen]
            self._chains[node] = chain
        return chain

    def _distance(self, a: int, b: int) -> float:
        up_a = self._chain(a)
        seen, step = b, 0
        while True:
            if seen in up_a:
                return up_a[seen] + step
            if seen not in self._parent or step > len(up_a) + 4096:
                return float("inf")
            seen, step = self._parent[seen], step + 1

    def _pairwise(self, cls: tuple[int, ...]) -> dict[int, int]:
        return {
            member: min(
                (m for m in cls if m != member), key=lambda m: (self._distance(member, m), m)
            )
            for member in cls
        }

    def _search(self, cls: tuple[int, ...]) -> dict[int, int]:
        if self._links is None:
            self._links = {}
            for child, parent in self._parent.items():
                self._links.setdefault(child, []).append(parent)
                self._links.setdefault(parent, []).append(child)
            for neighbours in self._links.values():
                neighbours.sort()
        # labels[node]: up to two (distance, member) reaching it, from distinct members
        labels: dict[int, list[tuple[int, int]]] = {m: [(0, m)] for m in cls}
        queue = deque((m, 0, m) for m in sorted(cls))
        while queue:
            node, dist, source = queue.popleft()
            for nxt in self._links.get(node, ()):
                seen = labels.setdefault(nxt, [])
                if len(seen) >= 2 or any(s == source for _, s in seen):
                    continue
                seen.append((dist + 1, source))
                queue.append((nxt, dist + 1, source))
        result: dict[int, int] = {}
        for member in cls:
            others = sorted(label for label in labels[member] if label[1] != member)
            # Unlinked (no common tree: another root's family): the lowest other ID.
            result[member] = others[0][1] if others else min(m for m in cls if m != member)
        return result
