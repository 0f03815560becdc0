"""`kcmpctl tree` results: a drawn tree for people, ``-J`` and ``-r`` for programs.

Imported when the command is registered, for its columns: rich only where a tree is
drawn on a terminal.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import chain, repeat
from operator import attrgetter, le, sub
from typing import TYPE_CHECKING, Any

from ..resources import NS_TYPES
from ..tree import NO_PARENT, Forest, Node, Share
from .columns import Column
from .text import TIMES, Encoded, escape_human, escape_raw

if TYPE_CHECKING:
    from rich.text import Text

    from .terminal import Terminal

COLUMNS: tuple[Column, ...] = (
    Column("PID", "the process", "number", right=True),
    Column("PPID", "its parent (the process of a thread)", "number", right=True),
    Column("TID", "the thread, with --threads (- on a process's line)", "number", right=True),
    Column(
        "TYPES",
        "one field per type, TYPE=yes|no|none|unknown: shared with the parent, not shared,"
        " no such object, not compared",
    ),
    Column(
        "WITH",
        "TYPE:PID for each type not shared with the parent: the nearest other holder",
        "object",
    ),
    Column("COMMAND", "its name (comm)"),
)
DEFAULTS = tuple(c.name for c in COLUMNS)

#: a folded line names this many PIDs at most
NAMED = 2
_NAMESPACES = tuple(ns.cli_name for ns in NS_TYPES)


# -------------------------------------------------------------------------- JSON


def document(forest: Forest, missing: Iterable[tuple[int, str]]) -> Encoded:
    """The ``-J`` document: every process, nested, never folded.

    Each node is ``{"pid", "tid", "ppid", "comm", "shares", "absent", "shares_with",
    "unknown", "threads", "children"}``, written as text straight from the forest's
    lists: the answers once for each tuple of them (nodes mostly answer alike), the
    holders through one template for each set of types named, each node's fields in
    one format, and the nesting from the depths.
    """
    import json
    from json.encoder import encode_basestring as string  # json.dumps' own, not ASCII

    keys = [string(t) for t in forest.types]
    literal = {s: json.dumps(s.json) for s in Share}
    # The answers' text, by the id of each distinct shares tuple (the forest holds
    # them while the text is written).
    answered: dict[int, str] = {}
    for shares in {id(s): s for s in forest.shares}.values():
        values = ", ".join(f"{k}: {literal[s]}" for k, (_, s) in zip(keys, shares, strict=True))
        absent = ", ".join(k for k, (_, s) in zip(keys, shares, strict=True) if s is Share.NONE)
        answered[id(shares)] = f'"shares": {{{values}}}, "absent": [{absent}]'
    size = len(forest.subjects)
    with_ = [", ".join(f"{k}: null" for k in keys)] * size
    for held, places, holders in forest.holders:
        template = ", ".join(
            k.replace("%", "%%") + (": %d" if t in held else ": null")
            for k, t in zip(keys, forest.types, strict=True)
        )
        for k, text in zip(places, map(template.__mod__, holders), strict=True):
            with_[k] = text
    unknown = ["null"] * size
    for k, why in forest.unknown.items():
        unknown[k] = string(why)
    subjects = forest.subjects
    # A process's "tid" is null; a thread's, its own.
    tids = ["null"] * forest.processes + [str(s.tid) for s in subjects[forest.processes :]]
    heads = [
        f'{{"pid": {s.pid}, "tid": {t}, "ppid": {s.ppid}, "comm": {string(s.comm)},'
        f' {answered[id(a)]}, "shares_with": {{{w}}}, "unknown": {u}, "threads": ['
        for s, t, a, w, u in zip(subjects, tids, forest.shares, with_, unknown, strict=True)
    ]
    # Threads have neither threads nor children; each process's are written in it.
    threads = {
        pid: ", ".join([heads[k] + '], "children": []}' for k in places])
        for pid, places in forest.threads.items()
    }
    # Depth first: a process opens its children's list, and as many lists close
    # after it as the next process is less deep (after the last, all); a process
    # follows another as its sibling (", ") unless it is its first child.
    depth = forest.depth
    closes = list(map(sub, depth, [*map(sub, depth[1:], repeat(1)), -1]))
    tails = {n: '], "children": [' + "]}" * n for n in set(closes)}
    seps = map(("", ", ").__getitem__, map(le, depth, [-1, *depth]))
    pieces = ['{"types": ', json.dumps(list(forest.types), ensure_ascii=False), ', "tree": [']
    processes = subjects[: forest.processes]
    pieces += chain.from_iterable(
        zip(
            seps,
            heads[: forest.processes],
            map(threads.get, map(attrgetter("pid"), processes), repeat("")),
            map(tails.__getitem__, closes),
            strict=True,
        )
    )
    pieces.append('], "missing": ')
    pieces.append(
        json.dumps([{"pid": pid, "reason": why} for pid, why in missing], ensure_ascii=False)
    )
    pieces.append("}")
    return Encoded("".join(pieces))


# --------------------------------------------------------------------------- raw


def print_raw(out: Terminal, roots: Sequence[Node], columns: Sequence[Column]) -> None:
    """One line per process (and thread), depth first; fields as chosen by ``-o``."""
    names = [c.name for c in columns]
    lines = []
    if out.headings:
        lines.append(" ".join(names))
    for root in roots:
        for node in root.walk():
            fields = {
                "PID": str(node.pid),
                "PPID": str(node.pid if node.tid is not None else node.ppid),
                "TID": str(node.tid) if node.tid is not None else "-",
                "TYPES": " ".join(f"{t}={s.value}" for t, s in node.shares),
                "WITH": ",".join(f"{t}:{p}" for t, p in node.shares_with) or "-",
                "COMMAND": escape_raw(node.comm),
            }
            lines.append(" ".join(fields[n] for n in names))
    out.write("".join(line + "\n" for line in lines))


# ------------------------------------------------------------------------ people


class Line:
    """One line of the drawn tree: a node, or a run of identical siblings folded."""

    __slots__ = ("children", "ids", "node", "parent_hidden")

    def __init__(
        self, node: Node, ids: tuple[int, ...], parent_hidden: bool, children: tuple[Line, ...]
    ) -> None:
        self.node = node
        #: the PIDs (TIDs) folded into this line, the node's own first; one when not
        #: folded
        self.ids = ids
        #: whether the node's parent in the tree is not its real parent (it is a root)
        self.parent_hidden = parent_hidden
        self.children = children


def lines(roots: Sequence[Node], *, fold: bool) -> list[Line]:
    """The tree as lines to draw: with *fold*, identical siblings (same name, same
    answers, same subtree) are one line each, as pstree folds them."""
    return [_line(root, parent_hidden=True, fold=fold) for root in roots]


def _line(node: Node, *, parent_hidden: bool, fold: bool) -> Line:
    subs = [*node.threads, *node.children]
    return Line(node, (_id(node),), parent_hidden, tuple(_siblings(subs, fold)))


def _id(node: Node) -> int:
    return node.tid if node.tid is not None else node.pid


def _siblings(nodes: Sequence[Node], fold: bool) -> list[Line]:
    drawn = [_line(n, parent_hidden=False, fold=fold) for n in nodes]
    if not fold:
        return drawn
    runs: dict[Any, list[Line]] = {}
    for line in drawn:
        runs.setdefault(_shape(line), []).append(line)
    folded = []
    for run in runs.values():
        first = run[0]
        ids = tuple(i for line in run for i in line.ids)
        folded.append(Line(first.node, ids, first.parent_hidden, first.children))
    return folded


def _shape(line: Line) -> Any:
    """What two sibling lines must have in common to fold into one."""
    n = line.node
    return (
        n.tid is None,
        n.comm,
        n.shares,
        n.shares_with,
        n.unknown,
        tuple((_shape(c), len(c.ids)) for c in line.children),
    )


def label(line: Line) -> list[tuple[str, str | None]]:
    """A line's text as (piece, style name) pairs; pieces already escaped."""
    n = line.node
    name = escape_human(n.comm)
    if n.tid is not None:
        name = "{" + name + "}"
    count = len(line.ids)
    head = f"{TIMES}{count} {name}" if count > 1 else f"{line.ids[0]} {name}"
    pieces: list[tuple[str, str | None]] = [(head, "bold")]
    if line.parent_hidden and n.ppid and n.unknown != NO_PARENT:
        pieces.append((f" [ppid {n.ppid}]", "dim"))
    shared = [t for t, s in n.shares if s is Share.YES]
    with_ = dict(n.shares_with)
    new = [t for t, s in n.shares if s is Share.NO and t not in with_]
    if shared:
        pieces.append(("  shares " + " ".join(_grouped(shared)), "good"))
    if new:
        pieces.append(("  new " + " ".join(new), "warn"))
    by_holder: dict[int, list[str]] = {}
    for t, holder in n.shares_with:
        by_holder.setdefault(holder, []).append(t)
    for holder, types in by_holder.items():
        pieces.append((f"  {' '.join(_grouped(types))} with {holder}", "bold"))
    if n.unknown is not None and n.unknown != NO_PARENT:
        pieces.append((f"  not compared: {escape_human(n.unknown)}", "dim"))
    if count > 1:
        shown = ", ".join(map(str, line.ids[:NAMED]))
        pieces.append((f"  ({shown}{', …' if count > NAMED else ''})", "dim"))
    return pieces


def _grouped(names: Sequence[str]) -> list[str]:
    """*names* with the eight namespace types, when all are there, as ``ns``: most
    processes share every namespace with their parent; where one does not, it stands
    out among "new"."""
    if not all(ns in names for ns in _NAMESPACES):
        return list(names)
    return [n for n in names if n not in _NAMESPACES] + ["ns"]


def print_tree(out: Terminal, roots: Sequence[Node], *, fold: bool) -> None:
    """rich's Tree on a terminal; plain ASCII (``|-``, `` `- ``) elsewhere."""
    drawn = lines(roots, fold=fold)
    if out.stdout.isatty():
        _rich(out, drawn)
    else:
        out.write("".join(text + "\n" for text in _ascii(out, drawn)))


def _ascii(out: Terminal, drawn: Sequence[Line]) -> list[str]:
    result: list[str] = []

    def visit(line: Line, prefix: str, branch: str) -> None:
        text = "".join(out.paint(piece, style) for piece, style in label(line))
        result.append(prefix + branch + text)
        below = prefix + ("" if not branch else "|  " if branch == "|- " else "   ")
        for i, child in enumerate(line.children):
            visit(child, below, "`- " if i == len(line.children) - 1 else "|- ")

    for root in drawn:
        visit(root, "", "")
    return result


def _rich(out: Terminal, drawn: Sequence[Line]) -> None:
    from rich.tree import Tree

    from .terminal import STYLES

    def text(line: Line) -> Text:
        from rich.text import Text

        result = Text(no_wrap=False)
        for piece, style in label(line):
            result.append(piece, style=STYLES[style][0] if style and out.color else "")
        return result

    def add(parent: Tree, line: Line) -> None:
        branch = parent.add(text(line))
        for child in line.children:
            add(branch, child)

    console = out.console()
    for root in drawn:
        tree = Tree(text(root), guide_style="dim" if out.color else "")
        for child in root.children:
            add(tree, child)
        console.print(tree)
