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
from operator import eq, gt, is_, le, lt, or_
from typing import TYPE_CHECKING, cast


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


class Grouping:
    """One type's answer over every compared task: objects in kcmp's order.

    The tree's records are plain classes with slots: a named tuple costs ~0.4 ms to
    define when tree starts, a frozen dataclass ~1.4 ms and the dataclasses module.
    """

    __slots__ = ("absent", "classes", "skipped", "type")

    def __init__(
        self,
        type_: str,
        classes: tuple[tuple[int, ...], ...],
        absent: tuple[int, ...],
        skipped: Mapping[int, str],
    ) -> None:
        self.type = type_
        #: one tuple of task IDs per object
        self.classes = classes
        #: tasks with no object of this type
        self.absent = absent
        #: tasks not compared, with the reason
        self.skipped = skipped

    def __repr__(self) -> str:
        return f"Grouping({self.type!r}, {self.classes!r}, {self.absent!r}, {self.skipped!r})"


if TYPE_CHECKING:
    from typing import Protocol

    class Subject(Protocol):
        """A compared task as the tree reads it: one of matrix's rows
        (:class:`kcmpctl.matrix.Row`), taken as they are, with no object made again
        for each process.  ``id`` is the ID the groupings name it by (the PID, or the
        TID with threads)."""

        @property
        def id(self) -> int: ...
        @property
        def pid(self) -> int: ...
        @property
        def ppid(self) -> int: ...
        @property
        def tid(self) -> int | None: ...
        @property
        def comm(self) -> str: ...


class Node:
    """A process (or a thread of one) and what it shares with its parent in the tree.

    A thread's parent is its process.  ``shares`` holds one answer per type, in the
    order asked for; ``shares_with`` names, per type the process is not known to share
    with its parent (it does not, or the parent was not compared, or there is none),
    the nearest other process (or thread) that holds the same object.  Made for the
    drawn tree and ``-r`` (:meth:`Forest.nodes`); ``-J`` is written without them.
    """

    __slots__ = (
        "children",
        "comm",
        "pid",
        "ppid",
        "shares",
        "shares_with",
        "threads",
        "tid",
        "unknown",
    )

    def __init__(
        self,
        pid: int,
        ppid: int,
        tid: int | None,
        comm: str,
        shares: tuple[tuple[str, Share], ...],
        shares_with: tuple[tuple[str, int], ...],
        unknown: str | None,
        children: tuple[Node, ...] = (),
        threads: tuple[Node, ...] = (),
    ) -> None:
        self.pid = pid
        self.ppid = ppid
        self.tid = tid
        self.comm = comm
        self.shares = shares
        self.shares_with = shares_with
        #: why some answer is unknown: the process or its parent was not compared
        self.unknown = unknown
        self.children = children
        self.threads = threads

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


#: a subject's (types, holders) named: the types it names a holder of, the holders
HolderGroup = tuple[tuple[str, ...], list[int], list[tuple[int, ...]]]


class Forest:
    """The annotated tree as lists over its subjects: the processes shown, depth
    first from each root (each before its children), then the other threads of each
    (with *threads*).  :meth:`nodes` makes the :class:`Node` tree of them; ``-J`` is
    written straight from the lists (:func:`kcmpctl.render.tree.document`).
    """

    __slots__ = (
        "children",
        "depth",
        "holders",
        "processes",
        "shares",
        "subjects",
        "threads",
        "types",
        "unknown",
    )

    def __init__(
        self,
        types: tuple[str, ...],
        subjects: list[Subject],
        processes: int,
        depth: list[int],
        children: Mapping[int, list[int]],
        threads: Mapping[int, list[int]],
        shares: list[tuple[tuple[str, Share], ...]],
        holders: list[HolderGroup],
        unknown: Mapping[int, str],
    ) -> None:
        self.types = types
        self.subjects = subjects
        #: the first this many subjects are processes, in depth-first order
        self.processes = processes
        #: each process's depth in the tree (0: a root), in the same order
        self.depth = depth
        #: the PIDs of each process's children shown, where it has some
        self.children = children
        #: the places (in *subjects*) of each process's other threads, where it has some
        self.threads = threads
        #: each subject's answers, one per type; alike answers are one tuple
        self.shares = shares
        #: the subjects that name a nearest holder, by the types they name one of:
        #: those types, the subjects (places in *subjects*), their holders in order
        self.holders = holders
        #: why some answer of a subject is unknown, by place
        self.unknown = unknown

    def nodes(self) -> tuple[Node, ...]:
        """The forest as :class:`Node` trees, one per root."""
        size = len(self.subjects)
        shares_with: list[tuple[tuple[str, int], ...]] = [()] * size
        for held, places, holders in self.holders:
            for k, pair in zip(places, holders, strict=True):
                shares_with[k] = tuple(zip(held, pair, strict=True))
        unknown = self.unknown
        made: dict[int, Node] = {}
        thread_nodes: dict[int, list[Node]] = {}
        for k in range(self.processes, size):
            task = self.subjects[k]
            thread_nodes.setdefault(task.pid, []).append(
                Node(
                    task.pid,
                    task.ppid,
                    task.tid,
                    task.comm,
                    self.shares[k],
                    shares_with[k],
                    unknown.get(k),
                )
            )
        no_nodes: tuple[Node, ...] = ()
        roots = []
        for k in range(self.processes - 1, -1, -1):
            task = self.subjects[k]
            kids = self.children.get(task.pid)
            threads_here = thread_nodes.get(task.pid)
            made[task.pid] = node = Node(
                task.pid,
                task.ppid,
                None,
                task.comm,
                self.shares[k],
                shares_with[k],
                unknown.get(k),
                tuple([made.pop(c) for c in kids]) if kids else no_nodes,
                tuple(threads_here) if threads_here else no_nodes,
            )
            if not self.depth[k]:
                roots.append(node)
        return tuple(roots[::-1])


def annotate(
    tasks: Sequence[Subject],
    groupings: Sequence[Grouping],
    shown: Iterable[int],
    *,
    threads: bool = False,
) -> Forest:
    """The forest of the processes *shown* (PIDs), each under its parent when shown.

    *tasks* holds every compared task: the shown ones and their parents (a shown
    process whose parent is not shown is a root, still compared with its parent).  With
    *threads*, tasks are threads and each process is represented by one of them (its
    leader unless that was not compared); its other threads hang under it.  Each of
    *groupings* places every task (as matrix's answers do): held, absent or skipped;
    one that leaves some out is read more slowly, the tasks left out not compared.
    """
    # Each process's task compared for it (the leader's, first), and its parent.
    rep = {task.pid: task for task in tasks}
    members: dict[int, list[Subject]] = {}
    if len(rep) < len(tasks):
        by_pid: dict[int, list[Subject]] = {}
        for task in tasks:
            by_pid.setdefault(task.pid, []).append(task)
        skipped: dict[int, str] = {}
        for grouping in groupings:
            for i, why in grouping.skipped.items():
                skipped.setdefault(i, why)
        for pid, several in by_pid.items():
            if len(several) > 1:
                several.sort(key=lambda t: (t.id != t.pid, t.id))
                rep[pid] = _representative(several, skipped)
                members[pid] = several
    ppid_of = {pid: task.ppid for pid, task in rep.items()}

    shown_set = rep.keys() & set(shown)
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
    for pid, several in members.items():
        for task in several:
            if task is not rep[pid]:
                parent_of[task.id] = rep[pid].id

    # Depth first from the roots, each process before its children.
    order: list[int] = []
    depth: list[int] = []
    stack = list(zip(reversed(roots), repeat(0)))
    while stack:
        pid, level = stack.pop()
        order.append(pid)
        depth.append(level)
        kids = children.get(pid)
        if kids:
            stack.extend(zip(reversed(kids), repeat(level + 1)))
    # What is annotated: each process through its representative against its
    # parent's, then (with *threads*) its other threads against the representative.
    subjects = [rep[pid] for pid in order]
    against: list[int | None] = [
        rep[ppid].id if (ppid := ppid_of[pid]) in rep else None for pid in order
    ]
    thread_places: dict[int, list[int]] = {}
    if threads:
        for pid in order:
            threads_of = members.get(pid)
            if threads_of is None:
                continue
            for task in threads_of:
                if task is not rep[pid]:
                    thread_places.setdefault(pid, []).append(len(subjects))
                    subjects.append(task)
                    against.append(rep[pid].id)
    shares, holders, unknown = _answers(
        subjects, against, groupings, _Nearest(parent_of), len(tasks)
    )
    return Forest(
        tuple(g.type for g in groupings),
        subjects,
        len(order),
        depth,
        children,
        thread_places,
        shares,
        holders,
        unknown,
    )


def _representative(members: Sequence[Subject], skipped: Mapping[int, str]) -> Subject:
    """The task a process is compared through: its leader, else its first compared
    thread (a leader that exited while its threads run has NULL objects)."""
    for task in members:
        if task.id not in skipped:
            return task
    return members[0]


def _answers(
    subjects: Sequence[Subject],
    against: Sequence[int | None],
    groupings: Sequence[Grouping],
    nearest: _Nearest,
    compared: int,
) -> tuple[list[tuple[tuple[str, Share], ...]], list[HolderGroup], dict[int, str]]:
    """Each subject's answers against the task beside it in *against* (``None``: no
    parent): its shares, the nearest other holders, why some answer is unknown.

    Worked type by type over all subjects at once, in loops that run inside the
    interpreter's own code (``map``, ``zip``, ``compress``): each task is labelled with
    its class when the class has other members, and a subject shares with its parent
    where the two labels are equal (a task alone in its class, or in none, gets a label
    no other task has).  Only the exceptions are visited in Python: the tasks with
    none, those not compared or under a parent not compared.  The members of shared
    objects that do not share with their parent are picked out the same way, and
    their nearest holders looked up class by class.
    """
    size = len(subjects)
    ids = [task.id for task in subjects]
    at = dict(zip(ids, range(size), strict=True))
    parents = set(against)
    # Subjects without a parent to compare with: no saying whether they share.
    orphans = list(compress(range(size), map(is_, against, repeat(None))))
    unsure: set[int] = set()

    def answer(grouping: Grouping) -> tuple[list[int], list[int], list[int]]:
        """One type's answers (the column), the subjects that name a holder and the
        holders they name."""
        classes, absent, skipped = grouping.classes, grouping.absent, grouping.skipped
        held = sum(map(len, classes))
        known: Container[int | None]
        if held + len(absent) + len(skipped) == compared:
            # As matrix answers: every compared task is held, absent or skipped,
            # so the tasks not known are the skipped ones (few), without a set of
            # every other.
            known = _Without(skipped)
            strangers = parents & skipped.keys()
            unknown = [place for place in map(at.get, skipped) if place is not None]
        else:
            known = set(chain.from_iterable(classes))
            known.update(absent)
            strangers = parents - known
            strangers.discard(None)
            unknown = list(map(at.__getitem__, at.keys() - known))
        # Under a parent not compared (or none): no saying whether shared with it.
        estranged = orphans
        if strangers:
            estranged = sorted(
                {*orphans, *compress(range(size), map(strangers.__contains__, against))}
            )
        asking: list[int] = []
        holders: list[int] = []
        column: list[int]
        # The tasks without an object, written _NONE below (unless already).
        without = absent
        if len(classes) == held:
            # Every object has one holder (or none): nobody shares with anybody.
            if classes and len(absent) > len(classes):
                # Mostly none (sysvsem): the few holders written in, not the many
                # without.
                column = [_NONE] * size
                for place in map(at.get, chain.from_iterable(classes)):
                    if place is not None:
                        column[place] = _NO
                without = ()
            else:
                column = [_NO if classes else _NONE] * size
        elif len(classes) == 1 and not absent:
            # One object held by every compared task (a namespace, mostly): shared
            # with the parent wherever the parent was compared too; elsewhere the
            # nearest other holder is named.
            column = [_YES] * size
            asking = [k for k in estranged if ids[k] in known]
            holders = _holders(classes[0], asking, ids, nearest)
        else:
            multi = list(compress(range(len(classes)), map(lt, repeat(1), map(len, classes))))
            shared = list(map(classes.__getitem__, multi))
            label: dict[int | None, int] = dict(
                zip(
                    chain.from_iterable(shared),
                    chain.from_iterable(map(repeat, multi, map(len, shared))),
                    strict=True,
                )
            )
            mine = list(map(label.get, ids, repeat(-1)))
            # True (_YES) where one object is the parent's too, False (_NO) elsewhere,
            column = list(map(eq, mine, map(label.get, against, repeat(-2))))
            # and where it is shared with someone else than the parent, the nearest
            # holder.
            asking = list(compress(range(size), map(gt, map(le, repeat(0), mine), column)))
            if asking:
                holders = nearest.holders(
                    classes,
                    list(map(ids.__getitem__, asking)),
                    list(map(mine.__getitem__, asking)),
                )
        # Nothing to share without an object (every compared task, where there are
        # no classes); no saying under a parent not compared (or none) ...
        if classes:
            for place in map(at.get, without):
                if place is not None:
                    column[place] = _NONE
            for k in estranged:
                if column[k] != _NONE:
                    column[k] = _UNKNOWN
        unsure.update(estranged)
        # ... and no saying where not compared.
        for k in unknown:
            column[k] = _UNKNOWN
        unsure.update(unknown)
        return column, asking, holders

    columns: list[list[int]] = []
    named: list[tuple[str, list[int], list[int]]] = []
    # A type whose objects are another's (files and fs of CLONE_FILES|CLONE_FS
    # families, the namespaces of one container) has its answers: worked out once.
    done: list[tuple[Grouping, tuple[list[int], list[int], list[int]]]] = []
    for grouping in groupings:
        got = next((answers for seen, answers in done if _alike(seen, grouping)), None)
        if got is None:
            got = answer(grouping)
            done.append((grouping, got))
        column, asking, holders = got
        if asking:
            named.append((grouping.type, asking, holders))
        columns.append(column)

    types = [g.type for g in groupings]
    rows = list(zip(*columns, strict=True)) if columns else [()] * size
    # Nodes mostly answer alike: one shares tuple per distinct row (True is 1, _YES).
    table = {row: tuple(zip(types, [_SHARES[c] for c in row], strict=True)) for row in set(rows)}
    shares = list(map(table.__getitem__, rows))
    unknown: dict[int, str] = {}
    for k in unsure:
        row = rows[k]
        if _UNKNOWN in row:
            unknown[k] = _why(ids[k], against[k], groupings, row)
    return shares, _holder_groups(named), unknown


def _alike(one: Grouping, other: Grouping) -> bool:
    """Whether two types have the same answers: the same objects, held by the same
    tasks, the same tasks without one or not compared.  (Tuples of different sizes
    differ at once: no type's objects are hashed.)"""
    return (
        one.classes == other.classes
        and one.absent == other.absent
        and one.skipped == other.skipped
    )


class _Without:
    """The tasks known to a type that skipped those in *skipped*: every other."""

    __slots__ = ("_skipped",)

    def __init__(self, skipped: Container[int]) -> None:
        self._skipped = skipped

    def __contains__(self, task: object) -> bool:
        return task is not None and task not in self._skipped


def _holder_groups(named: Sequence[tuple[str, list[int], list[int]]]) -> list[HolderGroup]:
    """The subjects that name a holder, grouped by the types they name one of, from
    each type's subjects that name one and the holders they name."""
    if not named:
        return []
    first = named[0][1]
    if all(asking == first for _, asking, _ in named):
        # The same subjects name a holder in every type (the members of families
        # sharing files and fs): one group, the holders zipped.
        held = tuple(type_ for type_, _, _ in named)
        return [(held, first, list(zip(*(holders for _, _, holders in named), strict=True)))]
    by_subject: dict[int, list[tuple[str, int]]] = {}
    for type_, asking, holders in named:
        for k, holder in zip(asking, holders, strict=True):
            by_subject.setdefault(k, []).append((type_, holder))
    groups: dict[tuple[str, ...], HolderGroup] = {}
    for k, pairs in sorted(by_subject.items()):
        types, found = zip(*pairs, strict=True)
        group = groups.get(types)
        if group is None:
            group = groups[types] = (types, [], [])
        group[1].append(k)
        group[2].append(found)
    return list(groups.values())


def _holders(
    cls: tuple[int, ...], asking: Sequence[int], ids: Sequence[int], nearest: _Nearest
) -> list[int]:
    """The nearest other holder of each subject in *asking* (members of *cls*)."""
    if len(asking) <= _FEW_ASKING and len(cls) > _FEW_ASKING * 8:
        # A few members of a large class ask (those under a parent not compared, in a
        # namespace of every process): searched from each, not over the whole class.
        members = set(cls)
        return [nearest.near(ids[k], cls, members) for k in asking]
    found = nearest.of(cls)
    return [found[ids[k]] for k in asking]


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
        #: each class looked at: its lowest member if its members are siblings, else
        #: None (:meth:`_lowest_sibling`)
        self._siblings: dict[tuple[int, ...], int | None] = {}

    def of(self, cls: tuple[int, ...]) -> dict[int, int]:
        """Each member of *cls* with its nearest other member."""
        found = self._found.get(cls)
        if found is None:
            found = self._found[cls] = self._nearest(cls)
        return found

    def holders(
        self, classes: Sequence[tuple[int, ...]], members: Sequence[int], places: Sequence[int]
    ) -> list[int]:
        """The nearest other holder of each of *members*, a member of the class at
        its place in *places* (indices into *classes*).

        Classes of siblings (workers of one parent, threads of one process), the
        most common by far, are answered without a step per member: each member is
        two steps from every other, and the tie goes to the lower ID.
        """
        lowest: dict[int, int] = {}
        for n in set(places):
            low = self._lowest_sibling(classes[n])
            if low is not None:
                lowest[n] = low
        found: list[int | None] = list(map(lowest.get, places))
        # The lowest member itself, and the members of other classes, are answered
        # one by one.
        for k in compress(
            range(len(members)),
            map(or_, map(eq, found, members), map(is_, found, repeat(None))),
        ):
            cls = classes[places[k]]
            if found[k] is None:
                found[k] = self.of(cls)[members[k]]
            else:
                found[k] = sorted(cls)[1]
        return cast("list[int]", found)  # every one answered now

    def _lowest_sibling(self, cls: tuple[int, ...]) -> int | None:
        """The lowest member of *cls* if its members are siblings (one parent, known),
        else None.  Kept by class: files and fs mostly hold the same classes."""
        if cls in self._siblings:
            return self._siblings[cls]
        parent = self._parent.get
        up = parent(cls[0])
        siblings = up is not None and list(map(parent, cls)).count(up) == len(cls)
        low = self._siblings[cls] = min(cls) if siblings else None
        return low

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
        low = self._lowest_sibling(cls)
        if low is not None:
            # Siblings (workers of one parent, threads of one process): each is two
            # steps from every other, and the tie goes to the lower ID.
            second = sorted(cls)[1]
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
