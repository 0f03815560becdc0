"""Write kcmpctl's shell completions with click's shell-completion classes.

The classes are click's, with kcmpctl's two repairs (kcmpctl/cli/shells.py).

Run from the repository root after changing the command line:

    python completions/generate.py

tests/test_ship.py fails when the committed files differ from what this writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from click.shell_completion import ShellComplete

from kcmpctl.cli import cli
from kcmpctl.cli.shells import SHELLS

HERE = Path(__file__).resolve().parent
FILES: dict[str, type[ShellComplete]] = {
    "kcmpctl.bash": SHELLS["bash"],
    "_kcmpctl": SHELLS["zsh"],
    "kcmpctl.fish": SHELLS["fish"],
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
