"""Exceptions that end a rehearsal, each mapped to one documented exit code."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    """Process exit codes of the `pgrehearse` command (documented in the README)."""

    OK = 0
    FAILED = 1  # the migration failed (later: a budget failed)
    INVALID_INPUT = 2  # the scenario or the command line is wrong
    ENVIRONMENT = 3  # no usable PostgreSQL, backend could not start, ...
    HANGUP = 129  # SIGHUP (terminal closed)
    INTERRUPTED = 130  # SIGINT / Ctrl-C (shell convention 128 + signal number)
    TERMINATED = 143  # SIGTERM


class PgRehearseError(Exception):
    """Base class of every error pgrehearse reports to a user without a traceback."""

    exit_code: ExitCode = ExitCode.FAILED


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file, located as precisely as we know."""

    message: str
    file: Path | None = None
    line: int | None = None
    hint: str | None = None

    def location(self) -> str:
        if self.file is None:
            return ""
        return f"{self.file}:{self.line}" if self.line else str(self.file)

    def render(self) -> str:
        where = self.location()
        text = f"{where}: {self.message}" if where else self.message
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text


class ScenarioError(PgRehearseError):
    """The scenario file (or a file it names) is invalid. Exit code 2."""

    exit_code = ExitCode.INVALID_INPUT

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        head = (
            "invalid scenario"
            if len(self.problems) == 1
            else (f"invalid scenario ({len(self.problems)} problems)")
        )
        return head + ":\n" + "\n".join("  " + p.render() for p in self.problems)


class EnvironmentProblem(PgRehearseError):
    """Something outside the scenario stops us: PostgreSQL missing, server won't start. Exit 3."""

    exit_code = ExitCode.ENVIRONMENT


class Interrupted(BaseException):
    """Raised in the main thread when SIGTERM (or SIGINT) asks the run to stop.

    A BaseException like KeyboardInterrupt, so `except Exception` blocks cannot swallow it
    and every `finally` / context manager on the way out still runs its cleanup.
    """

    def __init__(self, signal_name: str, exit_code: ExitCode) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name
        self.exit_code = exit_code
