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
from collections.abc import Container, Iterable, Mapping, Sequence
from itertools import chain, compress, repeat
from operator import eq, gt, le
from typing import NamedTuple


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


class Grouping(NamedTuple):
    """One type's answer over every compared task: objects in kcmp's order.

    The tree's results are named tuples, not frozen dataclasses: each dataclass
    costs ~1.4 ms to define when tree starts, and dataclasses must be imported.
    """

    type: str
    #: one tuple of task IDs per object
    classes: tuple[tuple[int, ...], ...]
    #: tasks with no object of this type
    absent: tuple[int, ...]
    #: tasks not compared, with the reason
    skipped: Mapping[int, str]


class Task(NamedTuple):
    """A compared task as the tree places it (made four times as fast as a frozen
    dataclass, and a tree makes one a process).

    ``id`` is the ID the groupings name it by (the PID, or the TID with threads).
    """

    id: int
    pid: int
    ppid: int
    #: the thread's ID when the task stands for a thread rather than its process
    tid: int | None
    comm: str


class Node(NamedTuple):
    """A process (or a thread of one) and what it shares with its parent in the tree.

    A thread's parent is its process.  ``shares`` holds one answer per type, in the
    order asked for; ``shares_with`` names, per type the process is not known to share
    with its parent (it does not, or the parent was not compared, or there is none),
    the nearest other process (or thread) that holds the same object.  (A named tuple,
    as :class:`Task`, for the same reason.)
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

# A node's answer of one type, coded.  Its answers over every type are one tuple of
# these, looked up in a table of the tuples made so far: nodes mostly answer alike,
# and one shares tuple serves them all.
_NO, _YES, _NONE, _UNKNOWN = range(4)
_SHARES = (Share.NO, Share.YES, Share.NONE, Share.UNKNOWN)
#: this many members of a class asking for their nearest holder are searched from
#: each (:meth:`_Nearest.near`) when the class is large, not over the whole class
_FEW_ASKING = 8


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
    by_pid: dict[int, list[Task]] = {}
    for task in tasks:
        by_pid.setdefault(task.pid, []).append(task)
    skipped: dict[int, str] = {}
    for grouping in groupings:
        for i, why in grouping.skipped.items():
            skipped.setdefault(i, why)
    # Each process's task compared for it, and its parent (the leader's, first).
    rep: dict[int, Task] = {}
    for pid, members in by_pid.items():
        if len(members) > 1:
            members.sort(key=lambda t: (t.id != t.pid, t.id))
            rep[pid] = _representative(members, skipped)
        else:
            rep[pid] = members[0]
    ppid_of = {pid: members[0].ppid for pid, members in by_pid.items()}

    shown_set = by_pid.keys() & set(shown)
    children: dict[int, list[int]] = {}
    roots: list[int] = []
    for pid in sorted(shown_set):
        ppid = ppid_of[pid]
        if ppid in shown_set and ppid != pid:
            children.setdefault(ppid, []).append(pid)
        else:
            roots.append(pid)

    # Who is next to whom, for "the nearest other holder": processes along parent
    # links (hidden parents included), threads beside their process's representative.
    parent_of = {rep[pid].id: rep[ppid].id for pid, ppid in ppid_of.items() if ppid in rep}
    for pid, members in by_pid.items():
        if len(members) > 1:
            for task in members:
                if task is not rep[pid]:
                    parent_of[task.id] = rep[pid].id

    # Depth first from the roots, each process before its children: the order the
    # nodes are annotated in; they are made in reverse, each after its children.
    order: list[int] = []
    stack = roots[::-1]
    while stack:
        pid = stack.pop()
        order.append(pid)
        kids = children.get(pid)
        if kids:
            stack.extend(reversed(kids))
    # What is annotated: each process through its representative against its
    # parent's, then (with *threads*) its other threads against the representative.
    subjects = [rep[pid] for pid in order]
    against: list[int | None] = [
        rep[ppid].id if (ppid := ppid_of[pid]) in rep else None for pid in order
    ]
    if threads:
        for pid in order:
            for task in by_pid[pid]:
                if task is not rep[pid]:
                    subjects.append(task)
                    against.append(rep[pid].id)
    shares, shares_with, unknown = _annotate(subjects, against, groupings, _Nearest(parent_of))

    made: dict[int, Node] = {}
    thread_nodes: dict[int, list[Node]] = {}
    for k in range(len(order), len(subjects)):
        task = subjects[k]
        thread_nodes.setdefault(task.pid, []).append(
            Node(task.pid, task.ppid, task.tid, task.comm, shares[k], shares_with[k], unknown[k])
        )
    no_nodes: tuple[Node, ...] = ()
    for k in range(len(order) - 1, -1, -1):
        pid = order[k]
        kids = children.get(pid)
        threads_here = thread_nodes.get(pid)
        made[pid] = Node(
            pid,
            ppid_of[pid],
            None,
            subjects[k].comm,
            shares[k],
            shares_with[k],
            unknown[k],
            tuple([made.pop(c) for c in kids]) if kids else no_nodes,
            tuple(threads_here) if threads_here else no_nodes,
        )
    return tuple(made[pid] for pid in roots)


def _representative(members: Sequence[Task], skipped: Mapping[int, str]) -> Task:
    """The task a process is compared through: its leader, else its first compared
    thread (a leader that exited while its threads run has NULL objects)."""
    for task in members:
        if task.id not in skipped:
            return task
    return members[0]


def _annotate(
    subjects: Sequence[Task],
    against: Sequence[int | None],
    groupings: Sequence[Grouping],
    nearest: _Nearest,
) -> tuple[
    list[tuple[tuple[str, Share], ...]], list[tuple[tuple[str, int], ...]], list[str | None]
]:
    """Each subject's answers against the task beside it in *against* (``None``: no
    parent): its shares, the nearest other holders, why some answer is unknown.

    Worked type by type over all subjects at once, in loops that run inside the
    interpreter's own code (``map``, ``zip``, ``compress``): each task is labelled with
    its class when the class has other members, and a subject shares with its parent
    where the two labels are equal (a task alone in its class, or in none, gets a label
    no other task has).  Only the exceptions are visited in Python: the members of
    shared objects that do not share with their parent, the tasks with none, those not
    compared or under a parent not compared.
    """
    size = len(subjects)
    ids = [task.id for task in subjects]
    at = dict(zip(ids, range(size), strict=True))
    under: dict[int | None, list[int]] = {}
    for k, parent in enumerate(against):
        under.setdefault(parent, []).append(k)
    unsure: set[int] = set()

    def answer(grouping: Grouping) -> tuple[list[int], list[tuple[int, int]]]:
        """One type's answers (the column) and the holders named (subject, holder)."""
        classes = grouping.classes
        known = set(chain.from_iterable(classes))
        known.update(grouping.absent)
        strangers = under.keys() - known
        asked: list[tuple[int, int]] = []
        column: list[int]
        if len(classes) + len(grouping.absent) == len(known):
            # Every object has one holder (or none): nobody shares with anybody.
            column = [_NO if classes else _NONE] * size
        elif len(classes) == 1 and not grouping.absent:
            # One object held by every compared task (a namespace, mostly): shared
            # with the parent wherever the parent was compared too; elsewhere the
            # nearest other holder is named.
            column = [_YES] * size
            asking = [k for parent in strangers for k in under[parent] if ids[k] in known]
            asked = _holders(classes[0], asking, ids, nearest)
        else:
            label: dict[int | None, int] = {}
            for n, cls in enumerate(classes):
                if len(cls) > 1:
                    label.update(zip(cls, repeat(n)))
            mine = list(map(label.get, ids, repeat(-1)))
            # True (_YES) where one object is the parent's too, False (_NO) elsewhere.
            column = list(map(eq, mine, map(label.get, against, repeat(-2))))
            # ... with someone else than the parent: the nearest holder ...
            for k in compress(range(size), map(gt, map(le, repeat(0), mine), column)):
                asked.append((k, nearest.of(classes[mine[k]])[ids[k]]))
        # No saying under a parent not compared (or none), but nothing to share
        # without an object (every compared task, where there are no classes) ...
        for parent in strangers:
            if classes:
                for k in under[parent]:
                    column[k] = _UNKNOWN
            unsure.update(under[parent])
        if classes:
            for place in map(at.get, grouping.absent):
                if place is not None:
                    column[place] = _NONE
        # ... and no saying where not compared.
        for i in at.keys() - known:
            column[at[i]] = _UNKNOWN
            unsure.add(at[i])
        return column, asked

    columns: list[list[int]] = []
    with_: dict[int, list[tuple[str, int]]] = {}
    # A type whose objects are another's (files and fs of CLONE_FILES|CLONE_FS
    # families, the namespaces of one container) has its answers: worked out once.
    done: dict[tuple[object, ...], tuple[list[int], list[tuple[int, int]]]] = {}
    for grouping in groupings:
        same = (grouping.classes, grouping.absent, tuple(grouping.skipped.items()))
        got = done.get(same)
        if got is None:
            got = done[same] = answer(grouping)
        column, asked = got
        for k, holder in asked:
            with_.setdefault(k, []).append((grouping.type, holder))
        columns.append(column)

    types = [g.type for g in groupings]
    rows = list(zip(*columns, strict=True)) if columns else [()] * size
    # Nodes mostly answer alike: one shares tuple per distinct row (True is 1, _YES).
    table = {row: tuple(zip(types, [_SHARES[c] for c in row], strict=True)) for row in set(rows)}
    shares = list(map(table.__getitem__, rows))
    unknown: list[str | None] = [None] * size
    for k in unsure:
        row = rows[k]
        if _UNKNOWN in row:
            unknown[k] = _why(ids[k], against[k], groupings, row)
    shares_with: list[tuple[tuple[str, int], ...]] = [()] * size
    for k, pairs in with_.items():
        shares_with[k] = tuple(pairs)
    return shares, shares_with, unknown


def _holders(
    cls: tuple[int, ...], asking: Sequence[int], ids: Sequence[int], nearest: _Nearest
) -> list[tuple[int, int]]:
    """Each subject in *asking* (members of *cls*) with its nearest other holder."""
    if len(asking) <= _FEW_ASKING and len(cls) > _FEW_ASKING * 8:
        # A few members of a large class ask (those under a parent not compared, in a
        # namespace of every process): searched from each, not over the whole class.
        members = set(cls)
        return [(k, nearest.near(ids[k], cls, members)) for k in asking]
    found = nearest.of(cls)
    return [(k, found[ids[k]]) for k in asking]


def _why(me: int, parent: int | None, groupings: Sequence[Grouping], row: Sequence[int]) -> str:
    """Why the first unknown answer of a row is unknown."""
    for grouping, answer in zip(groupings, row, strict=True):
        if answer != _UNKNOWN:
            continue
        if me in grouping.skipped:
            return grouping.skipped[me]
        if parent is None:
            # Nothing to compare with (pid 1, kthreadd): who else holds it still tells.
            return NO_PARENT
        return f"parent {parent}: {grouping.skipped.get(parent, 'not compared')}"
    raise ValueError(row)


class _Nearest:
    """The nearest other member of a class, counting steps along the tree's links.

    Each member's ancestors are listed with their distance from it (a few steps in
    a process tree), and each ancestor keeps the two members nearest below it.  A
    member's nearest other is then the best, over its ancestors, of its own steps
    up plus those of the nearer of the two that is not itself: the path through the
    common ancestor, in O(members x depth) whatever the size of the tree.  Ties go
    to the lower ID; members of different trees are "far", the lowest ID last of all.
    """

    def __init__(self, parent_of: Mapping[int, int]) -> None:
        self._parent = parent_of
        self._chains: dict[int, dict[int, int]] = {}
        self._found: dict[tuple[int, ...], dict[int, int]] = {}
        self._kids: dict[int, list[int]] | None = None
        self._near: dict[tuple[int, tuple[int, ...]], int] = {}

    def of(self, cls: tuple[int, ...]) -> dict[int, int]:
        """Each member of *cls* with its nearest other member."""
        found = self._found.get(cls)
        if found is None:
            found = self._found[cls] = self._nearest(cls)
        return found

    def near(self, member: int, cls: tuple[int, ...], holders: Container[int]) -> int:
        """*member*'s nearest other member of *cls* (whose members are *holders*),
        found breadth first from it, as :meth:`of` would: for a few members of a
        large class (at most the whole tree each, where :meth:`of` visits each
        member's ancestors)."""
        done = self._near.get((member, cls))
        if done is not None:
            return done
        kids = self._kids
        if kids is None:
            kids = self._kids = {}
            for child, up in self._parent.items():
                kids.setdefault(up, []).append(child)
        seen, level = {member}, [member]
        while level:
            ahead = []
            for node in level:
                above = self._parent.get(node)
                if above is not None and above not in seen:
                    seen.add(above)
                    ahead.append(above)
                for child in kids.get(node, ()):
                    if child not in seen:
                        seen.add(child)
                        ahead.append(child)
            found = [node for node in ahead if node in holders]
            if found:
                break
            level = ahead
        else:
            found = [m for m in cls if m != member]
        done = self._near[member, cls] = min(found)
        return done

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

    def _nearest(self, cls: tuple[int, ...]) -> dict[int, int]:
        parents = {self._parent.get(m) for m in cls}
        if len(parents) == 1 and None not in parents:
            # Siblings (workers of one parent, threads of one process): each is two
            # steps from every other, and the tie goes to the lower ID.
            low, second = sorted(cls)[:2]
            return {m: second if m == low else low for m in cls}
        chains = [self._chain(m) for m in cls]
        # below[ancestor]: the two nearest (distance, member) under it, nearest first
        below: dict[int, list[tuple[int, int]]] = {}
        for member, up in zip(cls, chains, strict=True):
            for node, step in up.items():
                two = below.get(node)
                if two is None:
                    below[node] = [(step, member)]
                elif len(two) == 1 or (step, member) < two[1]:
                    two[1:] = [(step, member)]
                    two.sort()
        result: dict[int, int] = {}
        for member, up in zip(cls, chains, strict=True):
            best: tuple[int, int] | None = None
            for node, step in up.items():
                for steps, other in below[node]:
                    if other != member:
                        if best is None or (step + steps, other) < best:
                            best = (step + steps, other)
                        break
            # Unlinked (no common tree: another root's family): the lowest other ID.
            result[member] = best[1] if best else min(m for m in cls if m != member)
        return result
