"""`kcmpctl tree` results: a drawn tree for people, ``-J`` and ``-r`` for programs.

Imported when the command is registered, for its columns: rich only where a tree is
drawn on a terminal.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from ..resources import NS_TYPES
from ..tree import NO_PARENT, Node, Share
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


def document(
    roots: Sequence[Node], types: Sequence[str], missing: Iterable[tuple[int, str]]
) -> Encoded:
    """The ``-J`` document: every process, nested, never folded.

    Each node is ``{"pid", "tid", "ppid", "comm", "shares", "absent", "shares_with",
    "unknown", "threads", "children"}``, written as text in one pass: the answers
    are one tuple for every node that answers alike (see :func:`kcmpctl.tree.build`),
    encoded once.
    """
    import json
    from json.encoder import encode_basestring as string  # json.dumps' own, not ASCII

    literal = {s: json.dumps(s.json) for s in Share}
    # By the id of a shares tuple (the nodes hold theirs while the text is written):
    # its text, its keys, and its "shares_with" as %-templates by the types that
    # name a holder.
    answers: dict[int, tuple[str, list[tuple[str, str]], dict[tuple[str, ...], str]]] = {}

    def fields(node: Node) -> str:
        """The node's text up to its threads, ``"threads": [`` included."""
        shares = node.shares
        known = answers.get(id(shares))
        if known is None:
            keys = [(string(t), t) for t, _ in shares]
            values = [f"{k}: {literal[s]}" for (k, _), (_, s) in zip(keys, shares, strict=True)]
            absent = [k for (k, _), (_, s) in zip(keys, shares, strict=True) if s is Share.NONE]
            answered = f'"shares": {{{", ".join(values)}}}, "absent": [{", ".join(absent)}]'
            known = answers[id(shares)] = (answered, keys, {})
        answered, keys, templates = known
        holders = dict(node.shares_with)
        held = tuple(holders)
        template = templates.get(held)
        if template is None:
            template = templates[held] = ", ".join(
                k.replace("%", "%%") + (f": %({t})d" if t in holders else ": null")
                for k, t in keys
            )
        with_ = template % holders
        return (
            f'{{"pid": {node.pid}, "tid": {"null" if node.tid is None else node.tid},'
            f' "ppid": {node.ppid}, "comm": {string(node.comm)}, {answered},'
            f' "shares_with": {{{with_}}},'
            f' "unknown": {"null" if node.unknown is None else string(node.unknown)},'
            ' "threads": ['
        )

    pieces = ['{"types": ', json.dumps(list(types), ensure_ascii=False), ', "tree": [']
    # Depth first without recursion (a chain of processes may be deeper than
    # Python's stack): each frame is the nodes still to write in one list, what
    # closes the list, and whether one of them was written.
    frames: list[tuple[Iterator[Node], str, list[bool]]] = [(iter(roots), "]", [False])]
    while frames:
        nodes, close, started = frames[-1]
        node = next(nodes, None)
        if node is None:
            frames.pop()
            pieces.append(close)
            continue
        if started[0]:
            pieces.append(", ")
        started[0] = True
        pieces.append(fields(node))
        if not node.threads and not node.children:
            pieces.append('], "children": []}')
            continue
        frames.append((iter(node.children), "]}", [False]))
        frames.append((iter(node.threads), '], "children": [', [False]))
    pieces.append(', "missing": ')
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


class Line(NamedTuple):
    """One line of the drawn tree: a node, or a run of identical siblings folded."""

    node: Node
    #: the PIDs (TIDs) folded into this line, the node's own first; one when not folded
    ids: tuple[int, ...]
    #: whether the node's parent in the tree is not its real parent (it is a root)
    parent_hidden: bool
    children: tuple[Line, ...]


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
