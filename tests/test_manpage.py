"""The man page as a reader meets it: rendered for a terminal, at two widths.

Every warning groff prints ("cannot adjust line", "can't break line") is a page that
looks broken somewhere, and a word broken across lines is an option name, a JSON key
or a path that cannot be searched for or copied.  Text added to the page later is
held to the same rule: write ``\\%`` before a word groff must not break (a word with
a hyphen in it), and keep long JSON shapes breakable at their spaces (``\\fB...\\fR``
on a text line, not ``.B`` with ``\\ ``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

MAN = Path(__file__).resolve().parent.parent / "man" / "kcmpctl.1"

# Overstrike (x BACKSPACE x, _ BACKSPACE x) and SGR sequences, as grotty writes them.
_FORMATTING = re.compile(r".\x08|\x1b\[[0-9;]*m")
# A line that ends inside a word: a non-blank, then a hyphen (U+2010), a minus (U+2212)
# or an ASCII hyphen.
_BROKEN = re.compile("\\S[\u2010\u2212-]$")


def render(width: str, page: Path = MAN) -> tuple[str, list[str]]:
    """groff's warnings, and the page's lines as a terminal shows them."""
    if shutil.which("groff") is None:
        pytest.skip("groff is not installed")
    proc = subprocess.run(
        ["groff", "-man", "-Tutf8", "-ww", f"-rLL={width}", str(page)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stderr, [_FORMATTING.sub("", line).rstrip() for line in proc.stdout.splitlines()]


@pytest.mark.parametrize("width", ["78n", "70n"])
def test_renders_without_a_warning(width: str) -> None:
    warnings, _ = render(width)
    assert warnings == ""


def broken_words(lines: list[str]) -> list[str]:
    return [
        f"{lines[i].strip()} / {lines[i + 1].strip()}"
        for i in range(len(lines) - 1)
        if _BROKEN.search(lines[i])
    ]


@pytest.mark.parametrize("width", ["78n", "70n"])
def test_no_word_is_broken_across_lines(width: str) -> None:
    _, lines = render(width)
    assert broken_words(lines) == [], "write \\% before these words in man/kcmpctl.1"


def test_the_checks_catch_a_hyphenated_key(tmp_path: Path) -> None:
    """What the page once did: a JSON shape as one unbreakable bold word."""
    page = tmp_path / "page.1"
    page.write_text(
        '.TH T 1\n.SH OUTPUT\nWith --check it is\n.BR {"pid",\\ "epfd",\\ "tfd",'
        '\\ "toff",\\ "holder":\\ {"pid",\\ "fd"},\\ "registered":\\ boolean} .\n'
    )
    _, lines = render("70n", page)
    assert any('"regis\u2010' in b for b in broken_words(lines)), lines
