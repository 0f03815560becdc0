"""The click command line: parse, call, render, return an exit status. Nothing else."""

from __future__ import annotations

import click

from .. import __version__
from .cmd_matrix import matrix
from .cmd_pair import pair
from .cmd_types import types


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Run 'kcmpctl COMMAND --help' for a command's options. Exit status: 0 same,"
    " 1 different, 2 trouble.",
)
@click.version_option(__version__, "-V", "--version", prog_name="kcmpctl")
def cli() -> None:
    """Show which kernel objects Linux processes share, using kcmp(2).

    \b
    Examples:
      kcmpctl pair $$ $PPID           what does my shell share with its parent?
      kcmpctl types                   what each kcmp type compares
      kcmpctl matrix                  who shares what, across every process
    """


cli.add_command(pair)
cli.add_command(types)
cli.add_command(matrix)
