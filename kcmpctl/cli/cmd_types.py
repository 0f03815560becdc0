"""kcmpctl types: what each type compares, kcmp's and the namespaces."""

from __future__ import annotations

from typing import Any

import click

from ..render.columns import Column
from ..status import ExitStatus
from ..typeinfo import NAMESPACE_INFO, TYPE_INFO
from .options import ListingCommand, Output, output_options

COLUMNS = (
    Column("NAME", "the type's name in kcmpctl (-t)"),
    Column("KCMP", "the kernel's kcmp constant (none for a namespace)"),
    Column(
        "VALUE",
        "the kernel's number for the type: kcmp's type, or the namespace's CLONE_NEW* flag"
        " (setns(2)'s nstype)",
        "number",
        right=True,
    ),
    Column("OBJECT", "the kernel object compared"),
    Column(
        "CLONE_FLAG",
        "the clone(2)/unshare(2) flag that shares it (a namespace's: makes a new one)",
    ),
    Column("DESCRIPTION", "what sharing it means"),
    Column("KIND", "kcmp (compared by kcmp(2)) or namespace (by /proc/PID/ns/NAME)"),
)
DEFAULTS = ("NAME", "OBJECT", "CLONE_FLAG", "DESCRIPTION")


@click.command(
    cls=ListingCommand,
    short_help="What each type compares.",
    epilog="""\b
Examples:
  kcmpctl types                    each type, its object and what shares it
  kcmpctl types -o NAME,KCMP -n    the names -t takes, and kcmp's constants
  kcmpctl types -J | jq -r '.types[].name'
""",
)
@output_options(COLUMNS, DEFAULTS)
def types(out: Output) -> ExitStatus:
    """List the types -t can name: kcmp's, with the kernel object each compares and
    what shares it, and the namespaces, with the flag that makes a new one.

    -t also takes task (the six kcmp task types, the default), ns (the eight
    namespaces) and all.
    """
    records: list[dict[str, Any]] = [
        {
            "name": info.resource.cli_name,
            "kind": info.resource.kind,
            "kcmp": info.kcmp,
            "value": int(info.resource),
            "object": info.object,
            "clone_flag": info.clone_flag,
            "description": info.description,
        }
        for info in TYPE_INFO
    ]
    records += [
        {
            "name": info.namespace.cli_name,
            "kind": info.namespace.kind,
            "kcmp": None,
            "value": info.namespace.clone_flag,
            "object": info.object,
            "clone_flag": info.clone_flag,
            "description": info.description,
        }
        for info in NAMESPACE_INFO
    ]
    if out.mode == "json":
        out.json({"types": records})
    else:
        out.table(out.columns(COLUMNS, DEFAULTS), records)
    return ExitStatus.SAME
