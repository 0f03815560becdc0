"""The one object that owns stdout and stderr.

Modes: ``human`` (a rich table on a terminal, plain aligned columns elsewhere),
``raw`` (one line per row, single spaces, ``\\xHH`` escapes), ``json`` and ``quiet``.
rich is imported only when a table is drawn on a terminal or a progress bar shown.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any

from .columns import Column, Row, format_cell
from .text import encodes_unicode, escape_human, escape_raw, json_text

if TYPE_CHECKING:
    from rich.console import Console

# style name -> (rich style, ANSI SGR parameters)
STYLES: dict[str, tuple[str, str]] = {
    "good": ("green", "32"),
    "bad": ("red", "31"),
    "warn": ("yellow", "33"),
    "dim": ("dim", "2"),
    "bold": ("bold", "1"),
}

MODES = ("human", "raw", "json", "quiet")


def color_wanted(choice: str, stream: IO[str], mode: str) -> bool:
    """``--color`` resolved: never for JSON or raw, never with NO_COLOR or TERM=dumb."""
    if mode in ("json", "raw", "quiet") or choice == "never":
        return False
    if choice == "always":
        return True
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return stream.isatty()


class Terminal:
    """Prints results to stdout and diagnostics to stderr, in the chosen mode."""

    def __init__(
        self,
        mode: str = "human",
        *,
        color: str = "auto",
        headings: bool = True,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown output mode {mode!r}")
        self.mode = mode
        self.headings = headings
        self.stdout = stdout if stdout is not None else sys.stdout
        self.stderr = stderr if stderr is not None else sys.stderr
        self.color = color_wanted(color, self.stdout, mode)

    # ------------------------------------------------------------------ plain text

    def write(self, text: str) -> None:
        if self.mode != "quiet":
            with self._stdout_errors():
                self.stdout.write(text)

    @contextlib.contextmanager
    def _stdout_errors(self) -> Iterator[None]:
        """A failed write (a full disk, a closed stdout) names standard output."""
        try:
            yield
        except OSError as err:
            if err.filename is not None:
                raise
            raise OSError(err.errno, err.strerror, "standard output") from err

    def line(self, text: str, style: str | None = None) -> None:
        """One human line (already escaped where it holds untrusted text)."""
        self.write(self.paint(text, style) + "\n")

    def warn(self, message: str) -> None:
        """One diagnostic line on stderr, escaped: ``kcmpctl: <message>``."""
        self.stderr.write(f"kcmpctl: {escape_human(message)}\n")
        self.stderr.flush()

    def paint(self, text: str, style: str | None) -> str:
        """*text* (already escaped) in a :data:`STYLES` style, when colour is on."""
        if not self.color or not style:
            return text
        return f"\x1b[{STYLES[style][1]}m{text}\x1b[0m"

    # ------------------------------------------------------------------------ json

    def json(self, obj: Any) -> None:
        if self.mode != "quiet":
            ascii_only = not encodes_unicode(getattr(self.stdout, "encoding", None))
            text = json_text(obj, indent=self.stdout.isatty(), ascii_only=ascii_only)
            self.write(text)

    # ---------------------------------------------------------------------- tables

    def table(
        self, columns: Sequence[Column], rows: Iterable[Row], title: str | None = None
    ) -> None:
        """Rows as a table in the current mode (not JSON: commands build their own)."""
        if self.mode == "quiet":
            return
        rows = list(rows)
        if self.mode == "raw":
            self._raw(columns, rows)
        elif self.stdout.isatty():
            self._rich(columns, rows, title)
        else:
            self._plain(columns, rows, title)

    def _raw(self, columns: Sequence[Column], rows: Sequence[Row]) -> None:
        out = []
        if self.headings:
            out.append(" ".join(c.name for c in columns))
        for row in rows:
            out.append(" ".join(escape_raw(format_cell(row.get(c.key))) for c in columns))
        self.write("".join(line + "\n" for line in out))

    def _plain(self, columns: Sequence[Column], rows: Sequence[Row], title: str | None) -> None:
        cells = [[escape_human(format_cell(row.get(c.key))) for c in columns] for row in rows]
        widths = [len(c.name) if self.headings else 0 for c in columns]
        for line in cells:
            widths = [max(w, len(v)) for w, v in zip(widths, line, strict=True)]
        out = []
        if title and self.headings:
            out.append(self.paint(escape_human(title), "bold"))

        def fmt(values: Sequence[str], styles: Sequence[str | None]) -> str:
            parts = []
            last = len(values) - 1
            for i, (col, value, width, style) in enumerate(
                zip(columns, values, widths, styles, strict=True)
            ):
                pad = width - len(value)
                if col.right:
                    text = " " * pad + self.paint(value, style)
                else:
                    text = self.paint(value, style) + ("" if i == last else " " * pad)
                parts.append(text)
            return " ".join(parts)

        if self.headings:
            out.append(fmt([c.name for c in columns], ["bold"] * len(columns)))
        for row, line in zip(rows, cells, strict=True):
            styles = [c.style(row.get(c.key)) if c.style else None for c in columns]
            out.append(fmt(line, styles))
        self.write("".join(line + "\n" for line in out))

    def _rich(self, columns: Sequence[Column], rows: Sequence[Row], title: str | None) -> None:
        from rich.table import Table
        from rich.text import Text

        table = Table(
            box=None,
            show_header=self.headings,
            header_style="bold" if self.color else "",
            pad_edge=False,
        )
        for col in columns:
            table.add_column(col.name, justify="right" if col.right else "left", overflow="fold")
        for row in rows:
            table.add_row(
                *(
                    Text(escape_human(format_cell(row.get(c.key))), style=self._rich_style(c, row))
                    for c in columns
                )
            )
        console = self.console()
        with self._stdout_errors():
            if title and self.headings:
                console.print(Text(escape_human(title), style="bold" if self.color else ""))
            console.print(table)

    def _rich_style(self, column: Column, row: Row) -> str:
        name = column.style(row.get(column.key)) if self.color and column.style else None
        return STYLES[name][0] if name else ""

    def console(self, stderr: bool = False) -> Console:
        """A rich Console that never parses markup or highlights data."""
        from rich.console import Console

        return Console(
            file=self.stderr if stderr else self.stdout,
            markup=False,
            highlight=False,
            emoji=False,
            no_color=not self.color,
            color_system="auto" if self.color else None,
        )
