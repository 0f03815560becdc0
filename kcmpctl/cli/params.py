"""Input typed at the edge: click parameter types that turn text into valid values."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import click

from ..resources import TYPE_GROUPS, AnyResource, parse_type

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

    # click >= 8.3 makes ParamType generic; older releases cannot subscript it.
    _Param = click.ParamType[Any, Any]
else:
    _Param = click.ParamType

UID_MAX = 0xFFFFFFFE  # uid_t is 32 bits, and (uid_t)-1 means "no uid"
FD_MAX = 0x7FFFFFFF  # fds are C ints; the kernel truncates kcmp's idx to 32 bits


def parse_pid(text: str, what: str = "PID", limit: int | None = None) -> int:
    """A decimal PID in the kernel's range (*limit*, default pid_max), or
    :class:`ValueError` saying what is wrong."""
    text = text.strip()
    if not text.isdigit() or not text.isascii():
        raise ValueError(f"invalid {what} '{text}': not a positive decimal number")
    value = int(text)
    if limit is None:
        from ..procs import pid_max

        limit = pid_max()
    if not 1 <= value <= limit:
        raise ValueError(f"invalid {what} '{text}': out of range (1..{limit})")
    return value


def parse_number(text: str, what: str, limit: int) -> int:
    """A non-negative decimal number up to *limit*, or :class:`ValueError`."""
    text = text.strip()
    if not text.isdigit() or not text.isascii():
        raise ValueError(f"invalid {what} '{text}': not a non-negative decimal number")
    value = int(text)
    if value > limit:
        raise ValueError(f"invalid {what} '{text}': out of range (0..{limit})")
    return value


def parse_fd(text: str) -> int:
    return parse_number(text, "fd", FD_MAX)


def parse_operand(text: str) -> tuple[int, int | None]:
    """``PID`` or ``PID:FD``."""
    pid_text, colon, fd_text = text.partition(":")
    pid = parse_pid(pid_text)
    return pid, (parse_fd(fd_text) if colon else None)


class NumberType(_Param):
    """A non-negative decimal number up to *limit*."""

    name = "number"

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_number(str(value), "number", self.limit)
        except ValueError as err:
            self.fail(str(err), param, ctx)


class ChoiceType(click.Choice):  # type: ignore[type-arg]
    """One of a few words; a wrong one quoted as typed (click's own message uses repr())."""

    def get_invalid_choice_message(self, value: Any, ctx: click.Context | None) -> str:
        return f"invalid choice '{value}' (choose from {', '.join(map(str, self.choices))})"


class PidType(_Param):
    """One PID."""

    name = "pid"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_pid(str(value))
        except ValueError as err:
            self.fail(str(err), param, ctx)

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        from .complete import pids

        return pids(incomplete)


class FdType(_Param):
    """One fd number."""

    name = "fd"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_fd(str(value))
        except ValueError as err:
            self.fail(str(err), param, ctx)


class PidFdType(_Param):
    """``PID:FD``: one fd of one process."""

    name = "pid:fd"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        try:
            pid, fd = parse_operand(str(value))
        except ValueError as err:
            self.fail(str(err), param, ctx)
        if fd is None:
            self.fail(f"invalid operand '{value}': expected PID:FD", param, ctx)
        return pid, fd


class PidListType(_Param):
    """PIDs separated by commas or whitespace: ``"12,13 14"``, ``"$(pidof nginx)"``."""

    name = "pids"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> list[int]:
        if isinstance(value, list):
            return value
        text = str(value)
        # Commas separate entries, whitespace too ("$(pidof x)"); an empty entry between
        # two commas ("1,,2", ",,") is a mistake worth reporting.
        pieces = text.split(",")
        if any(not piece.strip() for piece in pieces):
            self.fail(f"invalid PID list '{text}': empty entry", param, ctx)
        parts = [part for piece in pieces for part in piece.split()]
        from ..procs import pid_max

        # pid_max read once: a read per PID cost ~30 ms for "$(pidof ...)" of 2,000.
        limit = pid_max()
        try:
            return [parse_pid(p, limit=limit) for p in parts]
        except ValueError as err:
            self.fail(str(err), param, ctx)

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        from .complete import pids

        return pids(incomplete)


class TypeListType(_Param):
    """Type names separated by commas, from a fixed set, and the group names ``task``,
    ``ns`` and ``all`` standing for several."""

    name = "type"

    def __init__(self, allowed: tuple[AnyResource, ...]) -> None:
        self.allowed = allowed

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> list[AnyResource]:
        if isinstance(value, list):
            return value
        names = [n.strip() for n in str(value).split(",")]
        if not any(names) or not all(names):
            self.fail(f"invalid type list '{value}': empty entry", param, ctx)
        result: list[AnyResource] = []
        for name in names:
            try:
                result.extend(parse_type(name, self.allowed))
            except ValueError:
                choices = ", ".join([*self.groups(), *(r.cli_name for r in self.allowed)])
                self.fail(f"unknown type '{name}' (choose from {choices})", param, ctx)
        return list(dict.fromkeys(result))

    def groups(self) -> list[str]:
        """The group names that name at least one allowed type."""
        return [g for g, members in TYPE_GROUPS.items() if set(members) & set(self.allowed)]

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        from click.shell_completion import CompletionItem

        head, sep, last = incomplete.rpartition(",")
        return [
            CompletionItem(head + sep + name)
            for name in [*self.groups(), *(r.cli_name for r in self.allowed)]
            if name.startswith(last.lower())
        ]


class KeyListType(_Param):
    """``--across`` keys separated by commas: ``user,mnt``."""

    name = "key"

    def __init__(self, allowed: tuple[str, ...]) -> None:
        self.allowed = allowed

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> list[str]:
        if isinstance(value, list):
            return value
        typed = [n.strip() for n in str(value).split(",")]
        if not all(typed):
            self.fail(f"invalid key list '{value}': empty entry", param, ctx)
        for name in typed:
            if name.lower() not in self.allowed:
                choices = ", ".join(self.allowed)
                self.fail(f"unknown key '{name}' (choose from {choices})", param, ctx)
        return [name.lower() for name in typed]

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        from click.shell_completion import CompletionItem

        head, sep, last = incomplete.rpartition(",")
        return [
            CompletionItem(head + sep + name)
            for name in self.allowed
            if name.startswith(last.lower())
        ]


class RegexType(_Param):
    name = "regex"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> re.Pattern[str]:
        if isinstance(value, re.Pattern):
            return value
        try:
            return re.compile(str(value))
        except (re.error, OverflowError, RecursionError) as err:
            # 'a{99999999999}' overflows a C long; deep nesting exhausts the stack.
            self.fail(f"invalid regular expression '{value}': {err}", param, ctx)


class UserType(_Param):
    """A user name or numeric uid, to a uid."""

    name = "user"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip()
        if text.isascii() and text.isdigit():
            uid = int(text)
            if uid > UID_MAX:
                self.fail(f"invalid uid '{text}': out of range (0..{UID_MAX})", param, ctx)
            return uid
        if any(ch.isnumeric() for ch in text) and not any(ch.isalpha() for ch in text):
            # int() reads U+0663 as 3 and U+FF10 as 0, fails on U+00B2: uids are ASCII.
            self.fail(f"invalid uid '{text}': not an ASCII decimal number", param, ctx)
        from ..procs import resolve_user

        try:
            return resolve_user(text)
        except LookupError as err:
            self.fail(str(err), param, ctx)
        except (ValueError, UnicodeError):  # getpwnam() refuses NUL and unencodable names
            self.fail(f"unknown user '{text}'", param, ctx)

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        import pwd

        from click.shell_completion import CompletionItem

        return [
            CompletionItem(p.pw_name) for p in pwd.getpwall() if p.pw_name.startswith(incomplete)
        ]
