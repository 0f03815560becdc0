"""Write kcmpctl's shell completions with click's own shell-completion classes.

Run from the repository root after changing the command line:

    python completions/generate.py

tests/test_ship.py fails when the committed files differ from what this writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from click.shell_completion import BashComplete, FishComplete, ShellComplete, ZshComplete

from kcmpctl.cli import cli

HERE = Path(__file__).resolve().parent
FILES: dict[str, type[ShellComplete]] = {
    "kcmpctl.bash": BashComplete,
    "_kcmpctl": ZshComplete,
    "kcmpctl.fish": FishComplete,
}


def render() -> dict[str, str]:
    """File name -> the script click generates for it now."""
    return {
        name: cls(cli, {}, "kcmpctl", "_KCMPCTL_COMPLETE").source() + "\n"
        for name, cls in FILES.items()
    }


def main() -> int:
    for name, text in render().items():
        (HERE / name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
