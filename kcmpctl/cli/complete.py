"""What TAB offers: PIDs, a process's fds, a command's columns.

Cheap to import (the commands' options refer to these functions); click's completion
machinery is imported only inside them, when a shell asks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

    from ..render.columns import Column


def pids(incomplete: str) -> list[CompletionItem]:
    """PIDs, with the process name as the description; after a comma, the next PID."""
    from click.shell_completion import CompletionItem

    from ..procs import all_pids, comm

    head, sep, last = incomplete.rpartition(",")
    items = []
    for pid in all_pids():
        if str(pid).startswith(last) and (name := comm(pid)) is not None:
            items.append(CompletionItem(f"{head}{sep}{pid}", help=name))
    return items


def fds(pid_text: str, incomplete: str) -> list[CompletionItem]:
    """``PID:FD`` for each open fd of the process, with what the fd refers to."""
    from click.shell_completion import CompletionItem

    from ..procs import fd_numbers, fd_target

    if not pid_text.isdigit():
        return []
    pid = int(pid_text)
    items = []
    for fd in fd_numbers(pid):
        if str(fd).startswith(incomplete):
            items.append(CompletionItem(f"{pid_text}:{fd}", help=fd_target(pid, fd) or None))
    return items


def operand(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """``PID`` or ``PID:FD``: PIDs, and once a colon is typed, that process's fds."""
    pid_text, colon, fd_text = incomplete.partition(":")
    if colon:
        return fds(pid_text, fd_text)
    return pids(incomplete)


def columns(
    available: Sequence[Column],
) -> Callable[[click.Context, click.Parameter, str], list[CompletionItem]]:
    """``-o``'s completion for a command's own columns: ``A,B``, ``+A``, after a comma."""

    def complete(
        ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        from click.shell_completion import CompletionItem

        head, sep, last = incomplete.rpartition(",")
        plus = "+" if not sep and last.startswith("+") else ""
        last = last.removeprefix(plus).upper()
        chosen = {n.strip().upper() for n in head.lstrip("+").split(",")}
        return [
            CompletionItem(f"{head}{sep}{plus}{c.name}", help=c.help)
            for c in available
            if c.name.startswith(last) and c.name not in chosen
        ]

    return complete
