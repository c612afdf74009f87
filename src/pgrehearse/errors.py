"""Every error pgrehearse reports to a person, and the exit code each one ends with.

The tree (exit code in brackets)::

    PgRehearseError                 [1]  base: one screen, no traceback
    ├── InputError                  [2]  something the user gave is wrong; names file and line
    │   ├── ScenarioError           [2]  the scenario file, or a file it names
    │   └── HistoryError            [2]  a timing history file or summary.json
    ├── EnvironmentProblem          [3]  outside the input: no PostgreSQL, a server that would
    │                                    not start, Docker not answering, a full disk
    ├── MigrationFailed             [1]  a statement of the migration failed (step-wise runner)
    └── InternalError               [4]  a bug in pgrehearse: one line and where the log is
    Interrupted (a BaseException)   [129 SIGHUP, 130 SIGINT, 143 SIGTERM]

A rehearsal whose migration fails, breaks the application or exceeds a budget is a result
(`Rehearsal.outcome == "failed"`, exit 1), not an exception.

Errors carry `Problem`s: what is wrong, where, and what to do. The command line turns any
`PgRehearseError` into its exit code with one `except`; it never parses messages.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    """Process exit codes of the `pgrehearse` command (documented in the README)."""

    OK = 0
    FAILED = 1  # the migration failed, broke the application or exceeded a budget
    INVALID_INPUT = 2  # the scenario, a file it names or the command line is wrong
    ENVIRONMENT = 3  # no usable PostgreSQL, backend could not start, ...
    INTERNAL = 4  # a bug in pgrehearse
    HANGUP = 129  # SIGHUP (terminal closed)
    INTERRUPTED = 130  # SIGINT / Ctrl-C (shell convention 128 + signal number)
    TERMINATED = 143  # SIGTERM


def shown_path(path: Path | str) -> str:
    """A path as a message shows it: normalised (`rehearsals/../db/x.sql` is `db/x.sql`)
    and relative to the current folder when it lies inside it."""
    normal = os.path.normpath(path)
    if Path(normal).is_absolute():
        try:
            return os.path.relpath(normal) if Path(normal).is_relative_to(Path.cwd()) else normal
        except (OSError, ValueError):  # no current folder any more
            return normal
    return normal


@dataclass(frozen=True)
class Problem:
    """One thing wrong, located as precisely as we know."""

    message: str
    file: Path | None = None
    line: int | None = None
    hint: str | None = None

    def location(self) -> str:
        if self.file is None:
            return ""
        shown = shown_path(self.file)
        return f"{shown}:{self.line}" if self.line else shown

    def render(self) -> str:
        where = self.location()
        text = f"{where}: {self.message}" if where else self.message
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text


class PgRehearseError(Exception):
    """Base class of every error pgrehearse reports to a user without a traceback."""

    exit_code: ExitCode = ExitCode.FAILED

    def render(self) -> str:
        return str(self)


class InputError(PgRehearseError):
    """Something the user gave is wrong. `subject` names it in the heading."""

    exit_code = ExitCode.INVALID_INPUT
    subject = "input"

    def __init__(self, problems: list[Problem], *, total: int | None = None) -> None:
        self.problems = problems
        self.total = total if total is not None else len(problems)  # when some are not listed
        super().__init__(self.render())

    def render(self) -> str:
        count = self.total
        head = f"invalid {self.subject}" + (f" ({count:,} problems)" if count > 1 else "")
        return head + ":\n" + "\n".join("  " + p.render() for p in self.problems)


class ScenarioError(InputError):
    """The scenario file (or a file it names) is invalid. Exit code 2."""

    subject = "scenario"


class HistoryError(InputError):
    """A history file, run folder or summary.json cannot be read as timings. Exit code 2."""

    subject = "history file"


class EnvironmentProblem(PgRehearseError):
    """Something outside the scenario stops us: PostgreSQL missing, server won't start. Exit 3."""

    exit_code = ExitCode.ENVIRONMENT


class InternalError(PgRehearseError):
    """An unexpected exception: a bug in pgrehearse. Exit 4."""

    exit_code = ExitCode.INTERNAL


class Interrupted(BaseException):
    """Raised in the main thread when SIGTERM (or SIGINT) asks the run to stop.

    A BaseException like KeyboardInterrupt, so `except Exception` blocks cannot swallow it
    and every `finally` / context manager on the way out still runs its cleanup.
    """

    def __init__(self, signal_name: str, exit_code: ExitCode) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name
        self.exit_code = exit_code
