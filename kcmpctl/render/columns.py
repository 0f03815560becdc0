"""Columns of listing output: names, help, and the ``-o LIST`` / ``+LIST`` selection."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

Cell = Any  # str | int | bool | list[int] | None: formatted by the renderers


class Column(NamedTuple):
    """One output column; its JSON key is ``name.lower()``.

    A NamedTuple, not a frozen dataclass: every command defines its columns at
    import, and a dataclass costs ~4x more to define (start-up, each TAB press).
    """

    name: str
    help: str
    json_type: str = "string"
    right: bool = False
    #: maps a cell's value to a style name (see :data:`STYLES`) or None
    style: Callable[[Cell], str | None] | None = None

    @property
    def key(self) -> str:
        return self.name.lower()


Row = Mapping[str, Cell]


class ColumnError(ValueError):
    pass


def parse_spec(spec: str, available: Sequence[Column]) -> tuple[bool, list[str]]:
    """``"A,B"`` or ``"+A,B"`` to (add-to-defaults, [names]); unknown names raise."""
    add = spec.startswith("+")
    typed = [n.strip() for n in spec.lstrip("+").split(",") if n.strip()]
    if not typed:
        raise ColumnError(f"empty column list '{spec}'")
    known = {c.name for c in available}
    for name in typed:
        if name.upper() not in known:
            raise ColumnError(f"unknown column '{name}' (-H lists them)")
    return add, [name.upper() for name in typed]


def choose(available: Sequence[Column], defaults: Sequence[str], spec: str | None) -> list[Column]:
    """The columns to show: *defaults*, replaced or extended by an ``-o`` *spec*."""
    by_name = {c.name: c for c in available}
    names = list(defaults)
    if spec:
        add, chosen = parse_spec(spec, available)
        names = names + [n for n in chosen if n not in names] if add else chosen
    return [by_name[n] for n in names]


def format_cell(value: Cell) -> str:
    """A cell's text before escaping: ``-`` for unknown, ``yes``/``no``, lists by comma."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ",".join(format_cell(v) for v in value) if value else "-"
    return str(value)
