"""Terminal output: live progress and the final summary (rich on a TTY, plain lines otherwise)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.status import Status
from rich.table import Table
from rich.text import Text

from pgrehearse.report import facts

if TYPE_CHECKING:
    from pgrehearse.migration import StatementResult
    from pgrehearse.rehearsal.plan import SeedingPlan
    from pgrehearse.rehearsal.result import PhaseResult
    from pgrehearse.timing.compare import Comparison

if TYPE_CHECKING:
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


_one_line = facts.one_line
_seconds = facts.seconds_text


_PLAIN_PROGRESS_SECONDS = 5.0


class _RowsPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} rows/s" if speed else "", style="cyan")


class ConsoleProgress:
    """Progress of a rehearsal on stderr: a spinner per phase on a TTY, plain lines otherwise."""

    def __init__(self, console: Console, *, verbose: bool = True) -> None:
        self.console = console
        self.verbose = verbose
        self._status: Status | None = None
        self._status_text = ""
        self._bar: Progress | None = None
        self._task: TaskID = TaskID(0)
        self._table_rows = 0
        self._last_plain = 0.0
        self.server_started = False

    @property
    def rich(self) -> bool:
        return self.console.is_terminal

    def phase_started(self, phase: str, detail: str) -> None:
        if phase == "provision":
            self.server_started = True  # from here on, an interrupt has a server to remove
        if self.rich:
            self._status_text = f"[bold]{phase}[/] {escape(detail)}"
            self._status = self.console.status(self._status_text)
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

    def table_started(self, table: str, rows: int) -> None:
        self._table_rows = rows
        self._last_plain = time.monotonic()
        if self.rich:
            self._pause_status()
            self._bar = Progress(
                TextColumn("  {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("rows"),
                TaskProgressColumn(),
                _RowsPerSecond(),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self._task = self._bar.add_task(table, total=rows)
            self._bar.start()

    def table_advanced(self, table: str, rows_done: int) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=rows_done)
        elif time.monotonic() - self._last_plain >= _PLAIN_PROGRESS_SECONDS:
            self._last_plain = time.monotonic()
            share = rows_done / self._table_rows if self._table_rows else 1.0
            self.console.print(
                f"  seeding {table}: {rows_done:,}/{self._table_rows:,} rows ({share:.0%})",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )

    def table_seeded(self, result: TableSeedResult) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
            self._resume_status()
        inferred = [c.name for c in result.columns if c.inferred]
        line = (
            f"  seeded {result.table}: {result.rows:,} rows in {_seconds(result.seconds)}"
            f" ({result.rows_per_second:,.0f} rows/s, {result.mb_per_second:,.0f} MB/s)"
        )
        if inferred:
            line += f"; generators inferred for {', '.join(inferred)}"
        self.console.print(line, highlight=False, markup=False, soft_wrap=True)
        for note in result.notes:
            self.console.print(f"    note: {note}", highlight=False, markup=False, soft_wrap=True)

    def statement_finished(self, result: StatementResult) -> None:
        if not self.verbose:
            return
        where = result.file.name if result.file else "?"
        if result.line:
            where += f":{result.line}"
        line = (
            f"  {result.phase} #{result.index} {where:<16} {_seconds(result.seconds):>10}  "
            f"{_one_line(result.sql, 60)}"
        )
        if result.error is not None:
            line += f"\n    error {result.error.sqlstate}: {result.error.message}"
            if result.error.hint:
                line += f"\n    hint: {result.error.hint}"
        self.console.print(line, highlight=False, markup=False, soft_wrap=True)

    def note(self, text: str) -> None:
        self.console.print(f"  {text}", highlight=False, markup=False, soft_wrap=True)

    def _pause_status(self) -> None:
        if self._status is not None:
            self._status.stop()

    def _resume_status(self) -> None:
        if self._status is not None:
            self._status.start()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        if self._status is not None:
            self._status.stop()
            self._status = None


def print_summary(
    console: Console, summary: Mapping[str, Any], summary_path: Path | None = None
) -> None:
    """The closing summary of a rehearsal on stdout, from its summary (`summary_dict`)."""
    if console.is_terminal:
        _rich_summary(console, summary)
        if summary_path is not None:
            console.print(f"summary: {escape(str(summary_path))}")
    else:
        _plain_summary(console, summary)
        if summary_path is not None:
            console.print(f"summary: {summary_path}", highlight=False, markup=False, soft_wrap=True)


def _rich_summary(console: Console, summary: Mapping[str, Any]) -> None:
    if summary.get("migrations"):
        per_migration = Table(
            title=f"{summary['scenario']['name']} — migrations", title_justify="left"
        )
        for heading in facts.MIGRATION_HEADERS:
            per_migration.add_column(heading, overflow="fold")
        for row in summary["migrations"]:
            per_migration.add_row(*map(escape, facts.migration_cells(row)))
        console.print(per_migration)
    table = Table(title=f"{summary['scenario']['name']} — statements", title_justify="left")
    table.add_column("phase")
    table.add_column("#", justify="right")
    table.add_column("where")
    table.add_column("time", justify="right")
    table.add_column("status")
    table.add_column("strongest lock")
    table.add_column("SQL", overflow="ellipsis", no_wrap=True, max_width=60)
    for statement in summary["statements"]:
        style = _STATUS_STYLE.get(statement["status"], "")
        table.add_row(
            statement["phase"],
            str(statement["index"]),
            facts.where(statement),
            _seconds(statement["seconds"]),
            f"[{style}]{statement['status']}[/]",
            escape(facts.lock_text(statement)),
            escape(_one_line(statement["sql"])),
        )
    console.print(table)
    _rich_details(console, summary)
    outcome = summary["outcome"]
    style = _STATUS_STYLE.get(outcome, "")
    console.print(f"outcome: [{style}]{outcome.upper()}[/]")
    if summary.get("failure"):
        console.print(f"  {escape(summary['failure'])}")


def _rich_details(console: Console, summary: Mapping[str, Any]) -> None:
    if summary.get("fidelity"):
        table = Table(title=facts.fidelity_title(summary), title_justify="left")
        for header in facts.FIDELITY_HEADERS:
            table.add_column(header, overflow="fold")
        for cells in facts.shown_fidelity(summary):
            table.add_row(*map(escape, cells))
        console.print(table)
    if summary.get("prediction"):
        scales = summary["prediction"]["scales"]
        table = Table(title=facts.prediction_title(summary), title_justify="left")
        for header in facts.PREDICTION_HEADERS:
            table.add_column(header, overflow="fold")
        for item in facts.shown_predictions(summary):
            table.add_row(*map(escape, facts.prediction_cells(item, scales)))
        console.print(table)
    if summary.get("budgets"):
        table = Table(title="budgets", title_justify="left")
        for header in ("budget", "limit", "actual", "status", "detail"):
            table.add_column(header, overflow="fold")
        for budget in summary["budgets"]:
            style = "green" if budget["status"] == "pass" else "bold red"
            table.add_row(
                budget["budget"],
                str(budget["limit"]),
                str(budget["actual"]),
                f"[{style}]{budget['status'].upper()}[/]",
                escape(budget.get("detail") or ""),
            )
        console.print(table)
    for line in facts.roundtrip_lines(summary):
        style = "bold red" if ("FAILED" in line or "INVALID" in line) else ""
        console.print(f"[{style}]{escape(line)}[/]" if style else escape(line))
    load_rows = facts.load_rows(summary)
    if load_rows:
        table = Table(title="application load", title_justify="left")
        for header in facts.LOAD_HEADERS:
            table.add_column(header, justify="left" if header == "phase" else "right")
        for cells in load_rows:
            table.add_row(*cells)
        console.print(table)
    for sentence in facts.load_sentences(summary):
        style = "bold red" if sentence.startswith("BREAKS") else ""
        console.print(f"[{style}]{escape(sentence)}[/]" if style else escape(sentence))
    blocking = facts.blocking_summary(summary)
    if blocking:
        table = Table(title="locks that block the application", title_justify="left")
        for column in ("relation", "mode", "longest hold", "effect", "waited", "longest wait"):
            table.add_column(column, justify="right" if "hold" in column else "left")
        for row in blocking:
            table.add_row(
                escape(row["relation"]),
                row["mode"],
                f"{row['longest_hold_ms']:.1f} ms",
                escape(row["effect"]),
                str(row["sessions_waited"]),
                f"{row['longest_wait_ms']:.1f} ms" if row["sessions_waited"] else "-",
            )
        console.print(table)
    for wait in facts.worst_waits(summary):
        console.print(escape(facts.wait_line(wait)))
    sampler = facts.sampler_line(summary)
    if sampler:
        console.print(f"[dim]{escape(sampler)}[/]")


def _plain_summary(console: Console, summary: Mapping[str, Any]) -> None:
    lines = [f"{summary['scenario']['name']}: {summary['outcome'].upper()}"]
    for phase in summary["phases"]:
        lines.append(
            f"  phase {phase['name']:<10} {phase['status']:<11} {_seconds(phase['seconds'])}"
        )
    for row in summary.get("migrations") or []:
        lines.append("  migration " + " | ".join(facts.migration_cells(row)))
    for statement in summary["statements"]:
        lines.append(
            f"  {statement['phase']} #{statement['index']} {statement['status']:<7} "
            f"{_seconds(statement['seconds']):>10}  {facts.where(statement, full=True)}  "
            f"{_one_line(statement['sql'])}"
        )
        strongest = facts.lock_text(statement)
        if strongest:
            lines.append(f"      {strongest}")
    for row in facts.blocking_summary(summary):
        lines.append(
            f"  lock {row['mode']} on {row['relation']}: held up to "
            f"{row['longest_hold_ms']:.1f} ms ({row['effect']}); {row['sessions_waited']} "
            f"session(s) waited, longest {row['longest_wait_ms']:.1f} ms"
        )
    lines += ["  " + facts.wait_line(wait) for wait in facts.worst_waits(summary)]
    load_rows = facts.load_rows(summary)
    if load_rows:
        lines.append("  application load: " + " | ".join(facts.LOAD_HEADERS))
        lines += ["    " + " | ".join(row) for row in load_rows]
    lines += ["  " + line for line in facts.load_sentences(summary)]
    lines += ["  " + line for line in facts.roundtrip_lines(summary)]
    if summary.get("fidelity"):
        lines.append("  " + facts.fidelity_title(summary) + ":")
        lines += ["    " + " | ".join(cells) for cells in facts.shown_fidelity(summary)]
    if summary.get("prediction"):
        scales = summary["prediction"]["scales"]
        lines.append("  " + facts.prediction_title(summary) + ":")
        lines += [
            "    " + " | ".join(facts.prediction_cells(item, scales))
            for item in facts.shown_predictions(summary)
        ]
    lines += ["  " + line for line in facts.budget_lines(summary)]
    sampler = facts.sampler_line(summary)
    if sampler:
        lines.append("  " + sampler)
    if summary.get("failure"):
        lines.append(f"failure: {summary['failure']}")
    for line in lines:
        console.print(line, highlight=False, markup=False, soft_wrap=True)


def _statistic(record: Mapping[str, Any]) -> list[tuple[str, float, float, float]]:
    """(item, median, min, max) per phase and statement of a record's rounds."""
    samples: dict[str, list[float]] = {}
    for round_ in record["rounds"]:
        for name, seconds in round_.get("phases", {}).items():
            samples.setdefault(f"phase {name}", []).append(seconds)
        for key, seconds in round_.get("statements", {}).items():
            samples.setdefault(key, []).append(seconds)
    return [(k, statistics.median(v), min(v), max(v)) for k, v in samples.items()]


def print_rounds(console: Console, record: Mapping[str, Any]) -> None:
    """Median, fastest and slowest round of each phase and statement."""
    rounds = len(record["rounds"])
    if not console.is_terminal:  # a pipe or a CI log: plain lines, no box drawing
        console.print(
            f"{record['scenario']}: {rounds} round(s), medians", markup=False, highlight=False
        )
        for item, median, low, high in _statistic(record):
            console.print(
                f"  {_one_line(item)}: {_seconds(median)} (min {_seconds(low)}, "
                f"max {_seconds(high)})",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        return
    table = Table(title=f"{record['scenario']}: {rounds} round(s), medians", title_justify="left")
    for column in ("phase / statement", "median", "min", "max"):
        table.add_column(column, justify="left" if column.startswith("phase") else "right")
    for item, median, low, high in _statistic(record):
        table.add_row(_one_line(item), _seconds(median), _seconds(low), _seconds(high))
    console.print(table)


_CHANGE_STYLE = {"slower": "bold red", "faster": "green", "same": "", "new": "cyan", "gone": "dim"}


def print_comparisons(console: Console, comparisons: Sequence[Comparison]) -> None:
    for comparison in comparisons:
        verdict = "[bold red]SLOWER[/]" if comparison.regressed else "[green]ok[/]"
        limit = f"+{comparison.threshold:.0%} and +{_seconds(comparison.min_delta_s)}"
        console.print(f"{escape(comparison.scenario)}: {verdict} (limit {limit})")
        for note in comparison.notes:
            console.print(f"  note: {escape(note)}")
        if not comparison.changes:
            continue
        table = Table(show_edge=False, box=None, padding=(0, 1))
        intervals = any(c.interval is not None for c in comparison.changes)
        waits = any(c.base_wait_s or c.current_wait_s for c in comparison.changes)
        columns = ["phase / statement", "baseline", "current", "change"]
        columns += ["ratio, 95%"] * intervals + ["lock waits"] * waits + ["status"]
        for column in columns:
            table.add_column(
                column,
                justify="left" if column[0] in "ps" else "right",
                overflow="fold",
                no_wrap=column[0] != "p",
                min_width=20 if column[0] == "p" else None,
            )
        for change in comparison.changes:
            ratio = change.ratio
            style = _CHANGE_STYLE[change.status]
            row = [
                escape(_one_line(change.item.removeprefix("statement "))),
                _seconds(change.base_s),
                _seconds(change.current_s),
                "" if ratio is None else f"{ratio - 1:+.0%}",
            ]
            if intervals:
                interval = change.interval
                row.append("" if interval is None else f"{interval[0]:.3g}–{interval[1]:.3g}")
            if waits:
                before, after = change.base_wait_s or 0.0, change.current_wait_s or 0.0
                row.append(f"{_seconds(before)} → {_seconds(after)}")
            row.append(f"[{style}]{change.status}[/]" if style else change.status)
            table.add_row(*row)
        console.print(table)


def print_plan(console: Console, plan: SeedingPlan) -> None:
    """Each table's rows and, per column, the generator and where it came from."""
    for note in plan.schema_input.get("notes", []):
        console.print(f"note: {note}", markup=False)
    roles = plan.schema_input.get("roles_created") or []
    if roles:
        console.print("roles the schema names, created NOLOGIN: " + ", ".join(roles), markup=False)
    for table_plan in plan.tables:
        table = Table(
            title=Text(f"{table_plan.name}: {table_plan.rows:,} rows"),
            title_justify="left",
            box=None,
        )
        for heading in ("column", "type", "generator", "from"):
            table.add_column(heading, overflow="fold")
        for column in table_plan.columns:
            generator = (
                facts.generator_text(column.generator) if column.generator is not None else "-"
            )
            # as plain Text: `[open, closed]` is not rich markup
            table.add_row(*map(Text, (column.name, column.type_text, generator, column.source)))
        console.print(table)
        for note in table_plan.notes:
            console.print(f"  note: {note}", markup=False)
    total = sum(t.rows for t in plan.tables)
    console.print(
        f"seeding plan: {len(plan.tables)} table(s), {total:,} rows at scale {plan.scale:g}; "
        "no problems found",
        markup=False,
    )
