"""Exit statuses, as cmp(1) and diff(1) use them, and the report that decides one."""

from __future__ import annotations

import enum


class ExitStatus(enum.IntEnum):
    SAME = 0  # every answer is "same" / everything checked holds
    DIFFERENT = 1  # some answer is "different"; never an error
    TROUBLE = 2  # bad usage, no such process, permission denied, kcmp unavailable
    INTERRUPTED = 130  # Ctrl-C


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived while processes were frozen: kcmpctl resumes them,
    then dies of the signal, as the shell that sent it expects."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class Report:
    """Accumulates outcomes; trouble wins over difference (as ``diff -r``)."""

    def __init__(self) -> None:
        self.different = False
        self.trouble = False

    def differ(self, condition: bool = True) -> None:
        self.different = self.different or condition

    def fail(self) -> None:
        self.trouble = True

    @property
    def status(self) -> ExitStatus:
        if self.trouble:
            return ExitStatus.TROUBLE
        return ExitStatus.DIFFERENT if self.different else ExitStatus.SAME
