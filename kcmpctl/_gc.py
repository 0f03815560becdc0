"""The cyclic garbage collector paused while a command's objects pile up."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """The cyclic garbage collector off inside the ``with``, as it was after.

    A scan makes objects by the thousand (an argument tuple a kcmp call; a record an
    fd, registration or process) and keeps most of them until the output is written,
    none of them in a cycle: the collections their allocation sets off would walk them
    all again and again and find nothing (about a tenth of the CPU time of a bucket of
    19,000 descriptions, measured; ~10 ms of a tree of 2,000 processes).  Forked
    workers inherit it off: no collection of theirs writes to (and copies) the pages
    they share with their parent.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
