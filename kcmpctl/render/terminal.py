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
from .text import decoded, encodes_unicode, escape_human, escape_raw, json_pieces, json_text

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


#: narrower than this, COLUMNS is a mistake (COLUMNS=0 printed nothing, COLUMNS=1 one
#: character a line): the terminal's own width is used instead
MIN_WIDTH = 20


def terminal_width() -> int:
    """COLUMNS if set and sane (as the tests and many shells set it), else the
    terminal's width, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns >= MIN_WIDTH:
        return columns
    for fd in (1, 2, 0):
        try:
            width = os.get_terminal_size(fd).columns
        except OSError:
            continue
        if width >= MIN_WIDTH:
            return width
    return 80


def _fit(
    columns: Sequence[Column], cells: Sequence[Sequence[str]], headings: bool, width: int
) -> list[int]:
    """Column widths for a table of *width* (two spaces between columns).

    Columns shrink in proportion to their slack, down to their longest word: a
    number, a list item, or for text its longest word of up to 24 characters
    (``pipe:[522019]``, ``anon_inode:[eventpoll]`` whole; longer paths fold).  A
    table that cannot fit at those minimums is left wider than the terminal.
    """
    natural, least = [], []
    for i, col in enumerate(columns):
        texts = [line[i] for line in cells]
        head = len(col.name) if headings else 1
        natural.append(max([head, *map(len, texts)]))
        words = [len(word) for text in texts for word in text.split(" ")]
        if col.right or col.json_type == "array":
            least.append(max([head, *words]))
        else:
            least.append(min(natural[-1], max([head, 8, *(n for n in words if n <= 24)])))
    excess = sum(natural) + 2 * (len(columns) - 1) - width
    slack = [n - m for n, m in zip(natural, least, strict=True)]
    if excess <= 0 or not sum(slack):
        return natural
    share = min(1.0, excess / sum(slack))
    widths = [n - int(s * share + 0.999) for n, s in zip(natural, slack, strict=True)]
    return [max(w, m) for w, m in zip(widths, least, strict=True)]


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

    def prose(self, text: str, style: str | None = None) -> None:
        """A title or legend (already escaped): on a terminal, wrapped at its width
        between words, never inside one, and between a legend's items (set apart by
        three spaces) before inside one; elsewhere one line."""
        if self.mode == "human" and self.stdout.isatty():
            lines = _wrap_items(text, terminal_width())
        else:
            lines = [text]
        for line in lines or [""]:
            self.line(line, style)

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
        """*obj* as JSON; a dict's values that are iterators are written as arrays,
        a batch at a time when not indented for a terminal (see :func:`json_pieces`)."""
        if self.mode == "quiet":
            return
        ascii_only = not encodes_unicode(getattr(self.stdout, "encoding", None))
        streamed = isinstance(obj, dict) and any(isinstance(v, Iterator) for v in obj.values())
        if not streamed:
            self.write(json_text(obj, indent=self.stdout.isatty(), ascii_only=ascii_only))
        elif self.stdout.isatty():
            obj = {k: decoded(v) if isinstance(v, Iterator) else v for k, v in obj.items()}
            self.write(json_text(obj, indent=True, ascii_only=ascii_only))
        else:
            # Pieces joined into writes of 64 KiB or so: unbuffered (PYTHONUNBUFFERED),
            # each piece would be a write(2) of its own, down to single brackets.
            pending: list[str] = []
            size = 0
            for piece in json_pieces(obj, ascii_only=ascii_only):
                pending.append(piece)
                size += len(piece)
                if size >= 1 << 16:
                    self.write("".join(pending))
                    pending, size = [], 0
            self.write("".join(pending))

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
        # rich wraps at spaces and folds a word that does not fit, and when a table is
        # too wide it shrinks columns below any minimum: widths are chosen here. List
        # items are joined by ", " so that a list wraps between items, and a column is
        # never narrower than its longest number or list item, so that no PID is cut in
        # two (a reader would see "1660" and "1:2" where 16601:2 stands).
        cells = [[self._rich_cell(row.get(c.key)) for c in columns] for row in rows]
        widths = _fit(columns, cells, self.headings, terminal_width())
        for col, width in zip(columns, widths, strict=True):
            table.add_column(
                col.name, justify="right" if col.right else "left", overflow="fold", width=width
            )
        for row, line in zip(rows, cells, strict=True):
            table.add_row(
                *(
                    Text(text, style=self._rich_style(c, row))
                    for c, text in zip(columns, line, strict=True)
                )
            )
        console = self.console()
        with self._stdout_errors():
            if title and self.headings:
                console.print(Text(escape_human(title), style="bold" if self.color else ""))
            needed = sum(widths) + 2 * len(widths) - 2
            if needed > console.width:
                # Too wide even at the minimums: the terminal wraps the lines; rich
                # must not squeeze the columns (it would fold inside numbers again).
                console = self.console(width=needed)
            console.print(table)

    @staticmethod
    def _rich_cell(value: Any) -> str:
        if isinstance(value, list | tuple) and value:
            return ", ".join(escape_human(format_cell(v)) for v in value)
        return escape_human(format_cell(value))

    def _rich_style(self, column: Column, row: Row) -> str:
        name = column.style(row.get(column.key)) if self.color and column.style else None
        return STYLES[name][0] if name else ""

    def console(self, stderr: bool = False, width: int | None = None) -> Console:
        """A rich Console that never parses markup or highlights data."""
        from rich.console import Console

        return Console(
            file=self.stderr if stderr else self.stdout,
            width=width or terminal_width(),
            markup=False,
            highlight=False,
            emoji=False,
            no_color=not self.color,
            color_system="auto" if self.color else None,
        )


#: what sets a legend's items apart: a line breaks between them first
ITEM_GAP = "   "


def _wrap_items(text: str, width: int) -> list[str]:
    """*text* in lines of *width*: its items (apart by :data:`ITEM_GAP`) side by side
    while they fit, an item longer than a line wrapped between its words."""
    import textwrap

    lines: list[str] = []
    for item in text.split(ITEM_GAP):
        item = item.strip()
        if not item:
            continue
        if lines and len(lines[-1]) + len(ITEM_GAP) + len(item) <= width:
            lines[-1] += ITEM_GAP + item
        elif len(item) <= width:
            lines.append(item)
        else:
            lines.extend(
                textwrap.wrap(item, width, break_long_words=False, break_on_hyphens=False)
            )
    return lines
