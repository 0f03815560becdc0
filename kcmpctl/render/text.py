"""Escaping of untrusted text (process names, paths) for each output mode.

Process names are chosen by whoever runs the process (PR_SET_NAME) and paths by
whoever named the file: they may hold ESC sequences, newlines, rich markup, bidi
overrides or bytes that are not UTF-8 (kept as surrogates by
:func:`kcmpctl.procs.decode`).  One rule for every mode: such a character is shown
as ``\\xHH`` (its byte, or each byte of its UTF-8 form), and a backslash as ``\\x5c``,
so that an escape on the screen always stands for exactly one thing.
"""

from __future__ import annotations

import codecs
import functools
import itertools
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

#: how a count of repeated names is written (x200 worker): a code point, not \N{...},
#: which needs unicodedata to compile, and it fails to load when memory runs short
TIMES = "\u00d7"

# Patterns as text: re compiles each on first use (and caches it), not at import,
# where they cost ~0.9 ms of every start, -q and completion included.
# Characters that move or hide text: C0 and C1 controls, DEL, the backslash (it
# starts our escapes), bidi marks, embeddings, overrides and isolates (U+061C,
# U+200E-U+200F, U+202A-U+202E, U+2066-U+2069), zero-width characters and
# separators (U+200B-U+200D, U+2060, U+FEFF), the line and paragraph separators
# (U+2028, U+2029), and the surrogates that stand for undecodable bytes.
_FORMAT = "\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
_UNSAFE_HUMAN = f"[\\\\\x00-\x1f\x7f-\x9f{_FORMAT}\udc80-\udcff]"
# Raw output splits on single spaces: escape all whitespace too.
_UNSAFE_RAW = f"[\\s\\\\\x00-\x1f\x7f-\x9f{_FORMAT}\udc80-\udcff]"


def _hex(match: re.Match[str]) -> str:
    return hex_escape(match.group())


def hex_escape(text: str) -> str:
    """Each character as ``\\xHH``: an undecodable byte as itself, others in UTF-8."""
    out = []
    for char in text:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")  # the original byte
        elif code > 0xFF:
            out.extend(f"\\x{b:02x}" for b in char.encode("utf-8"))
        else:
            out.append(f"\\x{code:02x}")
    return "".join(out)


def escape_human(value: str) -> str:
    """Controls, format characters, backslash and undecodable bytes as ``\\xHH``."""
    return re.sub(_UNSAFE_HUMAN, _hex, value)


def escape_raw(value: str) -> str:
    """One whitespace-free field: :func:`escape_human`, and whitespace as ``\\xHH``."""
    return re.sub(_UNSAFE_RAW, _hex, value)


def _unencodable(err: UnicodeError) -> tuple[str, int]:
    if not isinstance(err, UnicodeEncodeError):
        raise err
    return hex_escape(err.object[err.start : err.end]), err.end


#: the error handler for standard streams whose locale cannot encode everything
ESCAPE_ERRORS = "kcmpctl-escape"
codecs.register_error(ESCAPE_ERRORS, _unencodable)


def encodes_unicode(encoding: str | None) -> bool:
    """Whether a stream in *encoding* can carry every character (UTF-8 and kin)."""
    if not encoding:
        return True
    try:
        return codecs.lookup(encoding).name.startswith("utf")
    except LookupError:
        return False


# In json.dumps' text, ``\\`` is an escaped backslash: matched left to right, pairs
# never straddle another escape (``\"``, ``\n``, ``\u001b``).
_JSON_UNSAFE = "\\\\\\\\|[\udc80-\udcff]"
_NON_ASCII = "[^\x00-\x7f]"


def _json_escape(match: re.Match[str]) -> str:
    text = match.group()
    if text == "\\\\":
        return "\\\\x5c"  # a literal backslash: the value holds \x5c
    return "\\" + hex_escape(text)  # a backslash inside a JSON string is written twice


def _json_ascii(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code > 0xFFFF:
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def json_pieces(
    obj: Mapping[str, Any], *, ascii_only: bool = False, batch: int = 1024
) -> Iterator[str]:
    """The text of :func:`json_text` for a JSON object (without indent), in pieces: a
    value that is an iterator, not a list, is encoded *batch* elements at a time
    (elements that are all :class:`Encoded`, or none of them).

    A whole machine's descriptions as one list of dicts and one string cost twice the
    memory of the scan that found them (8 MB of text: 50 MB more at the peak).
    """
    import json

    yield "{"
    for i, (key, value) in enumerate(obj.items()):
        name = _rewrite(json.dumps(key, ensure_ascii=False), ascii_only)
        yield f"{', ' if i else ''}{name}: "
        if not isinstance(value, Iterator):
            yield _rewrite(json.dumps(value, ensure_ascii=False), ascii_only)
            continue
        yield "["
        first = True
        while elements := list(itertools.islice(value, batch)):
            if isinstance(elements[0], Encoded):
                text = ", ".join(elements)
            else:
                text = json.dumps(elements, ensure_ascii=False)[1:-1]
            text = _rewrite(text, ascii_only)
            yield text if first else ", " + text
            first = False
        yield "]"
    yield "}\n"


def _rewrite(text: str, ascii_only: bool) -> str:
    if "\\" in text or not text.isascii():  # else nothing to rewrite, no pattern to compile
        text = re.sub(_JSON_UNSAFE, _json_escape, text)
    if ascii_only and not text.isascii():
        text = re.sub(_NON_ASCII, _json_ascii, text)
    return text


class Encoded(str):
    """A JSON document already written, as ``json.dumps(obj, ensure_ascii=False)``
    writes *obj*: :func:`json_text` takes it as it takes *obj*.  For a document of
    many small objects, most of them alike (a tree of 2,000 processes), written in
    pieces encoded once each: ~3 times faster than building the dicts and encoding
    them."""

    __slots__ = ()


def decoded(values: Iterable[Any]) -> list[Any]:
    """*values* as a list, each :class:`Encoded` one read back into its object."""
    import json

    return [json.loads(v) if isinstance(v, Encoded) else v for v in values]


def json_text(obj: Any, *, indent: bool = False, ascii_only: bool = False) -> str:
    """*obj* (or an :class:`Encoded` document) as JSON; in its strings, a backslash
    is ``\\x5c`` and an undecodable byte ``\\xHH`` (the same rule as the other
    modes, so the two never read the same); *ascii_only* writes other characters as
    ``\\uXXXX`` for a locale that cannot encode them.

    Without *indent* the C encoder does the work: a whole machine's arrays cost
    ~20 ms through the indenting (pure Python) encoder.  Backslashes and
    undecodable bytes can only stand inside strings, so they are rewritten in the
    text afterwards, not by a walk over every value.
    """
    import json

    if isinstance(obj, Encoded):
        text = json.dumps(json.loads(obj), ensure_ascii=False, indent=2) if indent else str(obj)
    else:
        text = json.dumps(obj, ensure_ascii=False, indent=2 if indent else None)
    return _rewrite(text, ascii_only) + "\n"


@functools.lru_cache(maxsize=64)
def device(dev: int) -> str:
    """A device number as lsns, lsfd and /proc/PID/mountinfo write it: ``MAJOR:MINOR``
    (cached: a big fds bucket writes one device 19,000 times)."""
    return f"{os.major(dev)}:{os.minor(dev)}"
