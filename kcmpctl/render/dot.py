"""Graphviz pictures (``--dot``) of `matrix` and `fds` results, for ``dot -Tsvg``.

Every name in a graph is data: node IDs are made here from numbers only, and every
label is one double-quoted DOT string in which quotes and backslashes are escaped (a
backslash would otherwise start one of dot's label escapes, ``\\N``, ``\\G``, …) and
control characters are already ``\\xHH``.  A process named ``"]; a -> b [`` stays a
label.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from .text import device, escape_human

if TYPE_CHECKING:
    from ..fds import Description
    from ..matrix import Matrix, Row

_HEAD = (
    "  graph [fontname=monospace, fontsize=10];",
    "  node [fontname=monospace, fontsize=10];",
    "  edge [fontname=monospace, fontsize=9];",
)


def quote(text: str) -> str:
    """*text* as one DOT string, shown as it is: ``"a \\"b\\" \\\\n"``."""
    text = escape_human(text).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def label(*lines: str) -> str:
    """A label of several lines, each escaped, joined by dot's own line break."""
    return '"' + "\\n".join(quote(line)[1:-1] for line in lines) + '"'


def _attrs(**values: str) -> str:
    return "[" + ", ".join(f"{k}={v}" for k, v in values.items()) + "]"


# ------------------------------------------------------------------------ matrix


def matrix_graph(matrix: Matrix) -> str:
    """One panel per type: every process a node, each group of two or more a box
    around its members, edges from parent to child along the process tree (each
    row's parent, as selection read it).  With ``--threads`` a thread's edge comes
    from its process.
    """
    from ..typeinfo import object_of

    rows = matrix.by_id()
    parent = {row.id: _tree_parent(row, rows) for row in matrix.rows}
    out = ["digraph kcmpctl {", *_HEAD, "  node [shape=box];"]
    for t, result in enumerate(matrix.results):
        name = result.resource.cli_name
        out.append(f"  subgraph cluster_{t} {{")
        out.append(f"    label={label(f'{name}: {object_of(result.resource)}')};")
        for g, group in enumerate(result.groups):
            out.append(f"    subgraph cluster_{t}_{g} {{")
            out.append(f"      label={label(f'one object, {len(group)} holders')};")
            out.append("      style=rounded;")
            out.extend(f"      {_node(t, rows[i])};" for i in group)
            out.append("    }")
        out.extend(f"    {_node(t, rows[i])};" for i in result.alone)
        out.extend(f"    {_node(t, rows[i], 'none', 'dashed')};" for i in result.absent)
        out.extend(
            f"    {_node(t, rows[s.id], 'not compared: ' + s.reason, 'dotted')};"
            for s in result.skipped
        )
        for child, up in parent.items():
            if up is not None:
                out.append(f"    p{t}_{up} -> p{t}_{child};")
        out.append("  }")
    out.append("}")
    return "\n".join(out) + "\n"


def _tree_parent(row: Row, rows: Mapping[int, Row]) -> int | None:
    if row.tid is not None and row.id != row.pid:
        return row.pid if row.pid in rows else None
    return row.ppid if row.ppid in rows else None


def _node(t: int, row: Row, note: str | None = None, style: str | None = None) -> str:
    name = f"{{{row.comm}}}" if row.tid is not None and row.tid != row.pid else row.comm
    lines = [f"{row.id} {name}", *([note] if note else [])]
    attrs = {"label": label(*lines)}
    if style:
        attrs["style"] = style
    return f"p{t}_{row.id} {_attrs(**attrs)}"


# --------------------------------------------------------------------------- fds


def fds_graph(descriptions: Sequence[Description]) -> str:
    """The three levels: fd tables (CLONE_FILES sharers are one table), open file
    descriptions (offset, flags named as the table names them) and files (inode,
    path), an edge per fd."""
    from .fds import flag_names

    out = ["digraph kcmpctl_fds {", *_HEAD, "  rankdir=LR;"]
    tables: dict[tuple[int, ...], str] = {}
    commands: dict[int, str] = {}
    files: dict[tuple[int, int], str] = {}
    for desc in descriptions:
        for holder in desc.holders:
            commands.setdefault(holder.pid, holder.command)
        for pids in desc.tables:
            tables.setdefault(pids, f"t{len(tables)}")
        files.setdefault((desc.dev, desc.ino), f"f{len(files)}")

    out.append("  subgraph cluster_tables {")
    out.append(f"    label={label('fd tables')};")
    for pids, node in tables.items():
        members = (f"{pid} {commands[pid]}" for pid in pids)
        out.append(f"    {node} {_attrs(shape='box', label=label(*members))};")
    out.append("  }")

    out.append("  subgraph cluster_descriptions {")
    out.append(f"    label={label('open file descriptions')};")
    for d, desc in enumerate(descriptions):
        pos = "-" if desc.pos is None else str(desc.pos)
        flags = "-" if desc.flags is None else flag_names(desc.flags)
        text = label(f"pos {pos}", f"flags {flags}")
        out.append(f"    d{d} {_attrs(shape='ellipse', label=text)};")
    out.append("  }")

    out.append("  subgraph cluster_files {")
    out.append(f"    label={label('files')};")
    seen: set[str] = set()
    for desc in descriptions:
        node = files[(desc.dev, desc.ino)]
        if node in seen:
            continue
        seen.add(node)
        text = label(f"{desc.type} {device(desc.dev)} ino {desc.ino}", desc.target)
        out.append(f"    {node} {_attrs(shape='note', label=text)};")
    out.append("  }")

    for d, desc in enumerate(descriptions):
        for pids in desc.tables:
            for fd in _fds(desc, pids[0]):
                edge = _attrs(label=quote(f"fd {fd}"))
                out.append(f"  {tables[pids]} -> d{d} {edge};")
        out.append(f"  d{d} -> {files[(desc.dev, desc.ino)]};")
    out.append("}")
    return "\n".join(out) + "\n"


def _fds(desc: Description, pid: int) -> Iterable[int]:
    """The fds through which the table listed through *pid* holds *desc*."""
    return (h.fd for h in desc.holders if h.pid == pid)
