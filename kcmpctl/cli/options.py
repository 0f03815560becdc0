"""Options shared by the commands: output shaping, process selection, types."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar

import click
from click.parser import _normalize_opt, _OptionParser, _ParsingState

from .._gc import paused
from ..render.columns import Column, ColumnError, choose, parse_spec
from ..render.terminal import Terminal
from ..resources import TYPE_GROUPS, AnyResource, Resource
from ..status import ExitStatus
from . import complete
from .params import ChoiceType, PidListType, PidType, RegexType, TypeListType, UserType

if TYPE_CHECKING:
    from ..procs import Selection

F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")
R = TypeVar("R")


def uncollected(command: Callable[P, R]) -> Callable[P, R]:
    """*command* run with the cyclic garbage collector off (:func:`kcmpctl._gc.paused`)."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with paused():
            return command(*args, **kwargs)

    return run


class Output(Terminal):
    """The terminal plus this command's column choice (``-o``)."""

    def __init__(self, mode: str, *, color: str, headings: bool, columns_spec: str | None) -> None:
        super().__init__(mode, color=color, headings=headings)
        self.columns_spec = columns_spec

    def columns(self, available: Sequence[Column], defaults: Sequence[str]) -> list[Column]:
        return choose(available, defaults, self.columns_spec)

    def unsearched(self, items: Sequence[tuple[int, str | None, str]]) -> None:
        """Processes a selector found and could not read, ``(pid, comm, reason)``: one
        line on stderr, as every command says it (-J lists them, -q says nothing)."""
        if not items or self.mode in ("json", "quiet"):
            return
        from ..errors import explain

        if len(items) == 1:
            ((pid, comm, reason),) = items
            name = f" ({comm})" if comm is not None else ""
            self.warn(f"skipped process {pid}{name}: {explain(reason)}")
            return
        reasons = sorted({reason for _, _, reason in items})
        why = "; ".join(map(explain, reasons))
        self.warn(f"skipped {len(items)} processes: {why}; -J lists them")


class _Parser(_OptionParser):
    """click's parser, minus a detour on every short option.

    click looks each ``-x`` up as a long option first, and the NoSuchOption it raises
    for the miss computes close matches with difflib (~1 ms to import, on every run
    with a short option) before it falls back to the short option.  A word that is no
    long option goes to the short-option lookup at once, which is where click would
    end up; everything else takes click's own path.
    """

    def _process_opts(self, arg: str, state: _ParsingState) -> None:
        name = _normalize_opt(arg.split("=", 1)[0], self.ctx)
        if arg[:2] not in self._opt_prefixes and name not in self._long_opt:
            self._match_short_opt(arg, state)
        else:
            super()._process_opts(arg, state)


def _show_help(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(ctx.get_help(), color=ctx.color)
        ctx.exit()


def help_option(command: click.Command, ctx: click.Context) -> click.Option | None:
    """click's -h/--help, built without gettext.

    click's own help option asks gettext for its help text when it is made, on every
    run; the first gettext call imports the locale module (~1 ms of each start).
    """
    names = command.get_help_option_names(ctx)
    if not names or not command.add_help_option:
        return None
    if command._help_option is None:  # cached, as click does: one object per command
        command._help_option = click.Option(
            [*names, "kcmpctl_help"],
            is_flag=True,
            expose_value=False,
            is_eager=True,
            help="Show this message and exit.",
            callback=_show_help,
        )
    return command._help_option


class ListingCommand(click.Command):
    """A command of kcmpctl: parsed by :class:`_Parser`, helped without gettext."""

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        return help_option(self, ctx)

    def make_parser(self, ctx: click.Context) -> _OptionParser:
        parser = _Parser(ctx)
        for param in self.get_params(ctx):
            param.add_to_parser(parser, ctx)
        return parser


def _columns_first(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    """``-H`` answers without the command's operands (``kcmpctl epoll -H``), as --help
    does: eager, it relaxes the checks of every parameter processed after it."""
    if value:
        ctx.resilient_parsing = True
    return value


class ScanCommand(ListingCommand):
    """A command that reads /proc and calls kcmp: both are checked once, before it runs.

    Not while completing or answering -H (nothing is read then).  *kcmp_needed*,
    given the parsed parameters, says whether this run calls kcmp at all (namespace
    types are read from /proc alone); by default it does.  *reference_needed* says
    whether it compares a type that a process may lack: the reference zombie is then
    spawned first, and exits while the command's modules load.
    """

    def __init__(
        self,
        *args: Any,
        kcmp_needed: Callable[[dict[str, Any]], bool] | None = None,
        reference_needed: Callable[[dict[str, Any]], bool] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.kcmp_needed = kcmp_needed
        self.reference_needed = reference_needed

    def invoke(self, ctx: click.Context) -> Any:
        if not ctx.resilient_parsing:
            if self.reference_needed is not None and self.reference_needed(ctx.params):
                from .._reference import start

                start()
            preflight(kcmp=self.kcmp_needed is None or self.kcmp_needed(ctx.params))
        return super().invoke(ctx)


def preflight(*, kcmp: bool = True) -> None:
    """Refuse to run where the answers could not be true: a /proc of another PID
    namespace, or (if *kcmp*) a kcmp that is missing, blocked or faked."""
    from .. import procs

    why = procs.foreign_proc()
    if why is not None:
        raise click.ClickException(why)
    if kcmp:
        from ..kcmp import probe

        probe()


def any_kcmp_type(params: dict[str, Any]) -> bool:
    """Whether ``-t`` asks for a kcmp type (none given: the six task types)."""
    types = flatten(params.get("types") or ())
    return not types or any(isinstance(r, Resource) for r in types)


def nullable_type(params: dict[str, Any]) -> bool:
    """Whether ``-t`` asks for a type a process may lack (none given: the task types)."""
    types = flatten(params.get("types") or ())
    return not types or any(isinstance(r, Resource) and r.nullable for r in types)


def list_columns(out: Terminal, available: Sequence[Column], defaults: Sequence[str]) -> None:
    """``-H``: the columns a command can show, as a table or ``{"columns": [...]}``."""
    if out.mode == "json":
        out.json(
            {
                "columns": [
                    {
                        "name": c.name,
                        "key": c.key,
                        "type": c.json_type,
                        "default": c.name in defaults,
                        "description": c.help,
                    }
                    for c in available
                ]
            }
        )
        return
    meta = (
        Column("NAME", "column name"),
        Column("DEFAULT", "shown without -o"),
        Column("DESCRIPTION", "what it holds"),
    )
    out.table(
        meta,
        [
            {"name": c.name, "default": c.name in defaults, "description": c.help}
            for c in available
        ],
    )


def output_options(
    available: Sequence[Column] = (), defaults: Sequence[str] = (), *, columns: bool = True
) -> Callable[[F], F]:
    """-J/-r/-n/-q/--color, and -o/-H where the command lists columns.

    The wrapped command receives ``out: Output`` instead of the individual flags.
    """

    def check_spec(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_spec(value, available)
            except ColumnError as err:
                raise click.BadParameter(str(err), ctx, param) from None
        return value

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(
            *args: Any,
            json: bool,
            raw: bool,
            noheadings: bool,
            quiet: bool,
            color: str,
            output: str | None = None,
            list_columns_: bool = False,
            **kwargs: Any,
        ) -> Any:
            if json and raw:
                raise click.UsageError("-J/--json and -r/--raw exclude each other")
            mode = "quiet" if quiet else "json" if json else "raw" if raw else "human"
            out = Output(mode, color=color, headings=not noheadings, columns_spec=output)
            if list_columns_:
                list_columns(out, available, defaults)
                return ExitStatus.SAME
            return func(*args, out=out, **kwargs)

        opts: list[Callable[[Any], Any]] = [
            click.option("-J", "--json", is_flag=True, help="Print one JSON object."),
            click.option(
                "-r", "--raw", is_flag=True, help="One line per row, fields separated by a space."
            ),
            click.option(
                "-n", "--noheadings", is_flag=True, help="Print no header or title lines."
            ),
            click.option(
                "-q", "--quiet", is_flag=True, help="Print nothing; the exit status answers."
            ),
            click.option(
                "--color",
                type=ChoiceType(["auto", "always", "never"]),
                default="auto",
                metavar="WHEN",
                help="Colour: auto (on a terminal), always, never.",
            ),
        ]
        if columns:
            opts += [
                click.option(
                    "-o",
                    "--output",
                    metavar="LIST",
                    callback=check_spec,
                    shell_complete=complete.columns(available),
                    help="Columns to show; +LIST adds to the defaults.",
                ),
                click.option(
                    "-H",
                    "--list-columns",
                    "list_columns_",
                    is_flag=True,
                    is_eager=True,
                    callback=_columns_first,
                    help="List the columns -o can show, then exit.",
                ),
            ]
        result: Any = wrapper
        for opt in reversed(opts):
            result = opt(result)
        return result  # type: ignore[no-any-return]

    return decorate


_GROUP_HELP = {
    "task": "task (kcmp's six)",
    "ns": "ns (the eight namespaces)",
    "all": "all (both)",
}


def type_option(
    allowed: tuple[AnyResource, ...] = TYPE_GROUPS["all"], default: str = "task"
) -> Callable[[F], F]:
    """-t/--type; *default* names the group a command compares without it."""
    names = ", ".join(r.cli_name for r in allowed[:3])
    groups = ", ".join(
        text.replace(" (", " (the default: ", 1) if key == default else text
        for key, text in _GROUP_HELP.items()
    )
    return click.option(
        "-t",
        "--type",
        "types",
        multiple=True,
        type=TypeListType(allowed),
        metavar="TYPE",
        help=f"Types to compare, by commas: {groups}, or single types ({names}, ...).",
    )


def flatten(values: Sequence[Sequence[Any]]) -> list[Any]:
    """Repeated list options to one list, first occurrence kept."""
    return list(dict.fromkeys(v for group in values for v in group))


def pids_option(
    help: str = "PIDs, separated by commas or spaces.",
) -> Callable[[F], F]:
    """-p/--pids (and lsfd's spelling, --pid): a repeatable list, ``[[int, ...], ...]``."""
    return click.option(
        "-p",
        "--pids",
        "--pid",
        "pids",
        multiple=True,
        type=PidListType(),
        metavar="PIDS",
        help=help,
    )


def selection_options(*, threads: bool = True) -> Callable[[F], F]:
    """-p/--pids, -u/--user, -c/--command, --tree (and --threads): an intersection."""
    opts: list[Callable[[Any], Any]] = [
        pids_option(),
        click.option(
            "-u",
            "--user",
            "users",
            multiple=True,
            type=UserType(),
            help="Processes of this user name or uid.",
        ),
        click.option(
            "-c",
            "--command",
            type=RegexType(),
            metavar="REGEX",
            help="Processes whose name (comm) matches REGEX.",
        ),
        click.option(
            "--tree",
            type=PidType(),
            metavar="PID",
            help="This process and all its descendants.",
        ),
    ]
    if threads:
        opts.append(
            click.option("--threads", is_flag=True, help="Every thread is its own row (TIDs).")
        )

    def decorate(func: F) -> F:
        result: Any = func
        for opt in reversed(opts):
            result = opt(result)
        return result  # type: ignore[no-any-return]

    return decorate


def freeze_option() -> Callable[[F], F]:
    """--freeze: the processes compared are stopped for the comparison (kcmpctl.freeze)."""
    return click.option(
        "--freeze",
        is_flag=True,
        help="Stop the processes compared (ptrace) for one consistent snapshot.",
    )


class Freezing(Protocol):
    def freeze(self, pids: Iterable[int]) -> dict[int, str]: ...
    def thaw(self) -> None: ...


class _Unfrozen:
    """Without --freeze: nothing is stopped, nothing refused."""

    def freeze(self, pids: Iterable[int]) -> dict[int, str]:
        return {}

    def thaw(self) -> None:
        pass


def freezer(enabled: bool) -> Freezing:
    """A :class:`kcmpctl.freeze.Freezer` with --freeze (ctypes loads only then)."""
    if not enabled:
        return _Unfrozen()
    from ..freeze import Freezer

    return Freezer()


def with_new_threads(selection: Selection, pids: Iterable[int]) -> Selection:
    """With --threads and --freeze: *selection* plus the threads of *pids* (frozen now)
    created between the selection and the freeze, so the rows are the snapshot's."""
    from .. import procs

    have = {t.tid for t in selection.tasks}
    grown = [pid for pid in dict.fromkeys(pids) if set(procs.thread_ids(pid)) - have]
    if not grown:
        return selection
    extra = procs.select_tasks(pids=grown, threads=True)
    for task in extra.tasks:
        if task.tid in have:
            task.close()
    new = [t for t in extra.tasks if t.tid not in have]
    return selection._replace(tasks=selection.tasks + new)
