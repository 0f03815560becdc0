"""Entry point: the one place that turns outcomes into exit statuses."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence

import click

from .status import ExitStatus


def _fail(message: str) -> int:
    from .render.text import escape_human

    sys.stderr.write(f"kcmpctl: {escape_human(message)}\n")
    return ExitStatus.TROUBLE


def main(argv: Sequence[str] | None = None) -> int:
    """Run kcmpctl; return 0 same, 1 different, 2 trouble, 130 interrupted."""
    # `kcmpctl ... | head -1` must end quietly, as C tools do.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    from .cli import cli
    from .errors import KcmpError

    args = list(sys.argv[1:] if argv is None else argv)
    try:
        rv = cli.main(args, prog_name="kcmpctl", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as err:
        # No command is bad usage (status 2), but the help is what a newcomer needs.
        sys.stderr.write(err.ctx.get_help() + "\n")
        return ExitStatus.TROUBLE
    except click.UsageError as err:
        hint = f" (try '{err.ctx.command_path} --help')" if err.ctx is not None else ""
        return _fail(err.format_message() + hint)
    except click.ClickException as err:
        return _fail(err.format_message())
    except (click.Abort, KeyboardInterrupt):
        sys.stderr.write("\n")
        return ExitStatus.INTERRUPTED
    except KcmpError as err:
        return _fail(str(err))
    except OSError as err:
        where = f"{err.filename}: " if err.filename else ""
        return _fail(f"{where}{err.strerror or err}")
    except Exception as err:  # the last guard: a user never sees a traceback
        if os.environ.get("KCMPCTL_DEBUG"):
            raise
        return _fail(f"internal error: {type(err).__name__}: {err} (KCMPCTL_DEBUG=1 shows where)")
    if isinstance(rv, int):
        return int(rv)
    return ExitStatus.SAME


if __name__ == "__main__":
    sys.exit(main())
