"""Terminal output: live progress and the final summary (rich on a TTY, plain lines otherwise)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.status import Status
from rich.table import Table

from pgrehearse._errors import PgRehearseError, ScenarioError
from pgrehearse._result import PhaseResult, Rehearsal

if TYPE_CHECKING:
    from pgrehearse.migration import StatementResult
    from pgrehearse.seed import TableSeedResult

_STATUS_STYLE = {
    "ok": "green",
    "passed": "bold green",
    "failed": "bold red",
    "error": "bold red",
    "interrupted": "yellow",
    "skipped": "dim",
    "not_run": "dim",
}


def _one_line(sql: str, width: int = 70) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


class ConsoleProgress:
    """Progress of a rehearsal on stderr: a spinner per phase on a TTY, plain lines otherwise."""

    def __init__(self, console: Console, *, verbose: bool = True) -> None:
        self.console = console
        self.verbose = verbose
        self._status: Status | None = None

    @property
    def rich(self) -> bool:
        return self.console.is_terminal

    def phase_started(self, phase: str, detail: str) -> None:
        if self.rich:
            self._status = self.console.status(f"[bold]{phase}[/] {escape(detail)}")
            self._status.start()
        else:
            self.console.print(
                f"▸ {phase}: {detail}", highlight=False, markup=False, soft_wrap=True
            )

    def phase_finished(self, phase: PhaseResult) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
        note = f" ({phase.note})" if phase.note else ""
        line = f"{phase.name:<10} {phase.status:<11} {_seconds(phase.seconds):>10}{note}"
        if self.rich:
            style = _STATUS_STYLE.get(phase.status, "")
            self.console.print(
                f"[{style}]✓[/] " + escape(line)
                if phase.status == "ok"
                else f"[{style}]✗[/] " + escape(line)
            )
        else:
            self.console.print(line, highlight=False, markup=False, soft_wrap=True)

    def table_seeded(self, result: TableSeedResult) -> None:
        line = (
            f"  seeded {result.table}: {result.rows:,} rows in {_seconds(result.seconds)}"
            f" ({result.rows_per_second:,.0f} rows/s)"
        )
        self.console.print(line, highlight=False, markup=False, soft_wrap=True)

    def statement_finished(self, result: StatementResult) -> None:
        if not self.verbose:
            return
        where = f"{result.file.name if result.file else '?'}:{result.line}"
        line = (
            f"  {result.phase} #{result.index} {where:<16} {_seconds(result.seconds):>10}  "
            f"{_one_line(result.sql, 60)}"
        )
        if result.error is not None:
            line += f"\n    error {result.error.sqlstate}: {result.error.message}"
        self.console.print(line, highlight=False, markup=False, soft_wrap=True)

    def note(self, text: str) -> None:
        self.console.print(f"  {text}", highlight=False, markup=False, soft_wrap=True)

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


def print_summary(console: Console, rehearsal: Rehearsal) -> None:
    """The closing summary of a rehearsal on stdout."""
    if console.is_terminal:
        _rich_summary(console, rehearsal)
    else:
        _plain_summary(console, rehearsal)


def _rich_summary(console: Console, rehearsal: Rehearsal) -> None:
    table = Table(title=f"{rehearsal.scenario_name} — statements", title_justify="left")
    table.add_column("phase")
    table.add_column("#", justify="right")
    table.add_column("where")
    table.add_column("time", justify="right")
    table.add_column("status")
    table.add_column("SQL", overflow="ellipsis", no_wrap=True, max_width=70)
    for statement in rehearsal.statements:
        where = f"{statement.file.name if statement.file else '?'}:{statement.line}"
        style = _STATUS_STYLE.get(statement.status, "")
        table.add_row(
            statement.phase,
            str(statement.index),
            where,
            _seconds(statement.seconds),
            f"[{style}]{statement.status}[/]",
            escape(_one_line(statement.sql)),
        )
    console.print(table)
    style = _STATUS_STYLE.get(rehearsal.outcome, "")
    console.print(f"outcome: [{style}]{rehearsal.outcome.upper()}[/]")
    if rehearsal.failure:
        console.print(f"  {escape(rehearsal.failure)}")
    if rehearsal.summary_path:
        console.print(f"summary: {escape(str(rehearsal.summary_path))}")


def _plain_summary(console: Console, rehearsal: Rehearsal) -> None:
    lines = [f"{rehearsal.scenario_name}: {rehearsal.outcome.upper()}"]
    for phase in rehearsal.phases:
        lines.append(f"  phase {phase.name:<10} {phase.status:<11} {_seconds(phase.seconds)}")
    for statement in rehearsal.statements:
        where = f"{statement.file or '?'}:{statement.line}"
        lines.append(
            f"  {statement.phase} #{statement.index} {statement.status:<7} "
            f"{_seconds(statement.seconds):>10}  {where}  {_one_line(statement.sql)}"
        )
    if rehearsal.failure:
        lines.append(f"failure: {rehearsal.failure}")
    if rehearsal.summary_path:
        lines.append(f"summary: {rehearsal.summary_path}")
    for line in lines:
        console.print(line, highlight=False, markup=False, soft_wrap=True)


def print_error(console: Console, error: PgRehearseError) -> None:
    """A one-screen error on stderr: what is wrong, where, and what to do."""
    text = error.render() if isinstance(error, ScenarioError) else str(error)
    console.print(f"error: {text}", highlight=False, markup=False, soft_wrap=True)
