"""Escaping of untrusted text (process names, paths) for each output mode.

Process names are chosen by whoever runs the process (PR_SET_NAME) and paths by
whoever named the file: they may hold ESC sequences, newlines, rich markup or bytes
that are not UTF-8 (kept as surrogates by :func:`kcmpctl.procs.decode`).
"""

from __future__ import annotations

import re
from typing import Any

# Patterns as text: re compiles each on first use (and caches it), not at import,
# where the three cost ~0.9 ms of every start, -q and completion included.
# C0 and C1 controls, DEL, and the surrogates that stand for undecodable bytes.
_UNSAFE_HUMAN = "[\x00-\x1f\x7f-\x9f\udc80-\udcff]"
# Raw output splits on single spaces: escape all whitespace and the backslash too.
_UNSAFE_RAW = "[\\s\\\\\x00-\x1f\x7f-\x9f\udc80-\udcff\u2028\u2029]"


def _hex(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:
        code -= 0xDC00  # the original byte
    if code > 0xFF:
        return "".join(f"\\x{b:02x}" for b in match.group().encode("utf-8"))
    return f"\\x{code:02x}"


def escape_human(value: str) -> str:
    """Controls and undecodable bytes as ``\\xHH``; everything else as it is."""
    return re.sub(_UNSAFE_HUMAN, _hex, value)


def escape_raw(value: str) -> str:
    """One whitespace-free field: whitespace, backslash and controls as ``\\xHH``."""
    return re.sub(_UNSAFE_RAW, _hex, value)


_SURROGATE = "[\udc80-\udcff]"


def _json_hex(match: re.Match[str]) -> str:
    return "\\" + _hex(match)  # a backslash inside a JSON string is written twice


def json_text(obj: Any, *, indent: bool = False) -> str:
    """*obj* as JSON, undecodable bytes in strings written as ``\\xHH``.

    Without *indent* the C encoder does the work: a whole machine's arrays cost
    ~20 ms through the indenting (pure Python) encoder.  Undecodable bytes can only
    stand inside strings, so they are rewritten in the text afterwards, not by a walk
    over every value.
    """
    import json

    text = json.dumps(obj, ensure_ascii=False, indent=2 if indent else None)
    if not text.isascii():  # no surrogate then, and no pattern to compile
        text = re.sub(_SURROGATE, _json_hex, text)
    return text + "\n"
