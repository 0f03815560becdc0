"""Entry point: the one place that turns outcomes into exit statuses.

Nothing is imported at module level: the console script imports this module before
main() runs, and an import that fails there (out of memory under ``prlimit --as``)
would end in a traceback and status 1 instead of one line and status 2.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import gc
import io
import os
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    import click

#: the statuses main() returns; ExitStatus (status.py) names them for the rest
_TROUBLE, _INTERRUPTED = 2, 130


def _fail(message: str) -> int:
    """One line on stderr; trouble is status 2 even when stderr cannot take the line."""
    try:
        from .render.text import escape_human

        message = escape_human(message)
    except Exception:  # no memory left for the import: plain ASCII is safe too
        message = message.encode("ascii", "backslashreplace").decode("ascii")
    try:
        sys.stderr.write(f"kcmpctl: {message}\n")
        sys.stderr.flush()
    except Exception:  # stderr closed or full: the status still says it
        pass
    return _TROUBLE


def _memory_left() -> bool:
    """Whether 16 MiB can still be had (mapped, not touched: costs nothing)."""
    try:
        bytearray(16 << 20)
    except MemoryError:
        return False
    return True


class _ClosedStream:
    """Stands for a standard stream that was closed (``>&-``): writing to it fails."""

    def __init__(self, name: str) -> None:
        self.name = name

    def write(self, text: str) -> int:
        if not text:
            return 0
        raise OSError(errno.EBADF, os.strerror(errno.EBADF), self.name)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def _standard_streams() -> None:
    """Make the process indifferent to how it was started.

    A parent that ignores SIGCHLD (SIG_IGN survives exec) would make the kernel reap
    the reference zombie at once; a closed fd 0, 1 or 2 would be handed to the next
    file opened (a pidfd, a /proc file) and written to as if it were stdout.
    """
    # `kcmpctl ... | head -1` must end quietly, as C tools do.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            os.dup2(null := os.open(os.devnull, os.O_RDWR), fd)
            if null != fd:
                os.close(null)
    from .render.text import ESCAPE_ERRORS

    for stream in (sys.stdout, sys.stderr):
        # A locale that cannot encode a process's name (LC_ALL=C.ISO-8859-1) gets the
        # name escaped as \xHH, never a UnicodeEncodeError half-way through a table.
        if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
            stream.reconfigure(errors=ESCAPE_ERRORS)
    if sys.stdout is None:
        sys.stdout = _ClosedStream("standard output")
    if sys.stderr is None:
        # Nowhere to report trouble: the status still says it.
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process


def _drop_stdout() -> None:
    """What stdout could not take is lost: point fd 1 at /dev/null, or Python's flush
    at exit fails again and turns status 2 into 120."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.close(null)
    except OSError:
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run kcmpctl; return 0 same, 1 different, 2 trouble, 130 interrupted."""
    try:
        _standard_streams()
        return _run(argv)
    except MemoryError:
        return _fail("out of memory")
    except KeyboardInterrupt:
        return _INTERRUPTED
    except Exception as err:  # the last guard: a user never sees a traceback
        if os.environ.get("KCMPCTL_DEBUG"):
            raise
        if not _memory_left():
            # Short of memory, CPython fails in odd ways: an ImportError ("failed to
            # map segment"), a SystemError ("returned NULL without setting an exception").
            return _fail(f"out of memory ({type(err).__name__}: {err})")
        return _fail(f"internal error: {type(err).__name__}: {err} (KCMPCTL_DEBUG=1 shows where)")


def run() -> NoReturn:
    """The ``kcmpctl`` command: :func:`main`, then exit without tearing Python down.

    At exit the interpreter frees every module and object one by one: a tenth of a
    ``pair -q`` (callgrind: ~24 M of its ~217 M instructions), where the kernel frees
    the whole process at once.  What that teardown does that matters runs here: the
    atexit handlers (the reference zombie is reaped there) and the flush of stdout
    and stderr; with another thread still running, Python's own exit (which waits
    for it) is taken instead.  The garbage collector stays off while click and the
    command line load (:func:`_run`): what they make lives until exit, and each
    collection would walk all of it again (~9 M instructions).
    """
    global _loading
    _loading = gc.isenabled()
    gc.disable()
    try:
        code = main()
    except SystemExit as exit_:  # shell completion leaves through sys.exit()
        if exit_.code is not None and not isinstance(exit_.code, int):
            raise
        code = exit_.code or 0
    finally:
        if _loading:  # main() failed before the command line loaded
            gc.enable()
    if not _alone():
        sys.exit(code)
    try:
        sys.stdout.flush()
    except (OSError, ValueError) as err:
        _drop_stdout()
        code = _fail(f"standard output: {getattr(err, 'strerror', None) or err}")
    atexit._run_exitfuncs()
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    os._exit(code)


#: whether run() turned the garbage collector off until the command line has loaded
_loading = False


def _alone() -> bool:
    """No other thread runs (Python's own exit would wait for it)."""
    threading = sys.modules.get("threading")
    return threading is None or threading.active_count() == 1


def _usage_message(err: click.UsageError) -> str:
    """click's message, with what the user typed quoted as typed: click quotes it with
    repr(), whose escapes the one escaping rule would then escape again."""
    import click

    command = getattr(err, "command_name", None)  # NoSuchCommand: click 8.4 and later
    if isinstance(err, click.NoSuchOption):
        message = f"No such option '{err.option_name}'."
    elif isinstance(command, str):
        message = f"No such command '{command}'."
    else:
        return err.format_message()
    possible = [f"'{p}'" for p in sorted(getattr(err, "possibilities", None) or ())]
    if possible:
        listed = ", ".join(possible[:-1]) + " or " if len(possible) > 1 else ""
        message += f" (did you mean {listed}{possible[-1]}?)"
    return message


def _run(argv: Sequence[str] | None) -> int:
    global _loading
    import click

    from .cli import cli

    if _loading:
        # Loaded for good: frozen objects are never walked again by a collection.
        gc.freeze()
        gc.enable()
        _loading = False
    from .errors import KcmpError
    from .status import ExitStatus, Terminated

    args = list(sys.argv[1:] if argv is None else argv)
    try:
        rv = cli.main(args, prog_name="kcmpctl", standalone_mode=False)
        try:  # now, so that a full disk is trouble, not a write lost at exit
            sys.stdout.flush()
        except OSError as err:
            _drop_stdout()
            return _fail(f"standard output: {err.strerror or err}")
    except click.exceptions.NoArgsIsHelpError as err:
        # No command is bad usage (status 2), but the help is what a newcomer needs.
        sys.stderr.write(err.ctx.get_help() + "\n")
        return ExitStatus.TROUBLE
    except click.UsageError as err:
        hint = f" (try '{err.ctx.command_path} --help')" if err.ctx is not None else ""
        return _fail(_usage_message(err) + hint)
    except click.ClickException as err:
        return _fail(err.format_message())
    except (click.Abort, KeyboardInterrupt):
        sys.stderr.write("\n")
        return ExitStatus.INTERRUPTED
    except Terminated as err:  # raised only once every frozen process runs again
        signal.signal(err.signum, signal.SIG_DFL)
        os.kill(os.getpid(), err.signum)
        return 128 + err.signum
    except KcmpError as err:
        return _fail(str(err))
    except OSError as err:
        if err.filename == "standard output":
            _drop_stdout()
        where = f"{err.filename}: " if err.filename else ""
        return _fail(f"{where}{err.strerror or err}")
    if isinstance(rv, int):
        return int(rv)
    return ExitStatus.SAME


if __name__ == "__main__":
    run()
