"""kcmpctl types: what each kcmp type compares."""

from __future__ import annotations

import click

from ..render.columns import Column
from ..resources import TYPE_INFO
from ..status import ExitStatus
from .options import ListingCommand, Output, output_options

COLUMNS = (
    Column("NAME", "the type's name in kcmpctl (-t)"),
    Column("KCMP", "the kernel's constant"),
    Column("VALUE", "the kernel's number for the type", "number", right=True),
    Column("OBJECT", "the kernel object compared"),
    Column("CLONE_FLAG", "the clone(2)/unshare(2) flag that shares it"),
    Column("DESCRIPTION", "what sharing it means"),
)
DEFAULTS = ("NAME", "OBJECT", "CLONE_FLAG", "DESCRIPTION")


@click.command(
    cls=ListingCommand,
    short_help="What each kcmp type compares.",
    epilog="Example:  kcmpctl types -J",
)
@output_options(COLUMNS, DEFAULTS)
def types(out: Output) -> ExitStatus:
    """List the kcmp types: the kernel object each compares and what shares it."""
    records = [
        {
            "name": info.resource.cli_name,
            "kcmp": info.kcmp,
            "value": int(info.resource),
            "object": info.object,
            "clone_flag": info.clone_flag,
            "description": info.description,
        }
        for info in TYPE_INFO
    ]
    if out.mode == "json":
        out.json({"types": records})
    else:
        out.table(out.columns(COLUMNS, DEFAULTS), records)
    return ExitStatus.SAME
