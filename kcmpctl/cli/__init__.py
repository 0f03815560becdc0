"""The click command line: parse, call, render, return an exit status. Nothing else.

Commands are imported only when run (or listed by --help): each TAB press in a
completing shell starts kcmpctl, and a command pays only for its own imports.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import MutableMapping
from typing import Any

import click

from .. import __version__

#: command name -> "module:attribute" below kcmpctl.cli, in the order --help lists them
COMMANDS: dict[str, str] = {
    "pair": "cmd_pair:pair",
    "matrix": "cmd_matrix:matrix",
    "tree": "cmd_tree:tree",
    "epoll": "cmd_epoll:epoll_command",
    "fds": "cmd_fds:fds",
    "types": "cmd_types:types",
}


def _print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    # Not click.version_option: it asks gettext for its texts at import, and the first
    # gettext call imports the locale module (~1 ms of every start).
    if value and not ctx.resilient_parsing:
        click.echo(f"kcmpctl, version {__version__}")
        ctx.exit()


class LazyGroup(click.Group):
    def _main_shell_completion(
        self, ctx_args: MutableMapping[str, Any], prog_name: str, complete_var: str | None = None
    ) -> None:
        # kcmpctl's own bash and fish scripts (see shells.py), loaded only when a
        # shell asks for completions.
        if os.environ.get(complete_var or f"_{prog_name.upper()}_COMPLETE"):
            from .shells import register

            register()
        super()._main_shell_completion(ctx_args, prog_name, complete_var)

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        from .options import help_option

        return help_option(self, ctx)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attribute = target.partition(":")
        command: Any = getattr(importlib.import_module(f".{module}", __name__), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Run 'kcmpctl COMMAND --help' for a command's options. Exit status: 0 same,"
    " 1 different, 2 trouble.",
)
@click.option(
    "-V",
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and exit.",
)
def cli() -> None:
    """Show which kernel objects Linux processes share, using kcmp(2).

    \b
    Examples:
      kcmpctl fds --tree $$           open files my shell shares with its children
      kcmpctl pair $$ $PPID           what does my shell share with its parent?
      kcmpctl matrix --tree $PPID     who shares what, among my shell's family
      kcmpctl tree $PPID              what each process shares with its parent
      kcmpctl epoll 1234 7            where is each file of epoll fd 7 now?
      kcmpctl types                   what each kcmp type compares
    """
