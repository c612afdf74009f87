"""Terminal output: live progress and the final summary (rich on a TTY, plain lines otherwise)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping, Sequence
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

from pgrehearse._errors import PgRehearseError, ScenarioError
from pgrehearse._regression import Comparison
from pgrehearse._result import PhaseResult, Rehearsal
from pgrehearse.migration import StatementResult

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


def _one_line(sql: str, width: int = 70) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


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

    @property
    def rich(self) -> bool:
        return self.console.is_terminal

    def phase_started(self, phase: str, detail: str) -> None:
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
    table.add_column("strongest lock")
    table.add_column("SQL", overflow="ellipsis", no_wrap=True, max_width=60)
    for statement in rehearsal.statements:
        where = f"{statement.file.name if statement.file else '?'}:{statement.line}"
        style = _STATUS_STYLE.get(statement.status, "")
        table.add_row(
            statement.phase,
            str(statement.index),
            where,
            _seconds(statement.seconds),
            f"[{style}]{statement.status}[/]",
            escape(_strongest(statement)),
            escape(_one_line(statement.sql)),
        )
    console.print(table)
    _rich_locks(console, rehearsal)
    style = _STATUS_STYLE.get(rehearsal.outcome, "")
    console.print(f"outcome: [{style}]{rehearsal.outcome.upper()}[/]")
    if rehearsal.failure:
        console.print(f"  {escape(rehearsal.failure)}")
    if rehearsal.summary_path:
        console.print(f"summary: {escape(str(rehearsal.summary_path))}")


def _strongest(statement: StatementResult) -> str:
    from pgrehearse.observe import strength

    blocking = [lock for lock in statement.locks if lock["blocks_reads"] or lock["blocks_writes"]]
    text = ""
    if blocking:
        top = max(blocking, key=lambda lock: (strength(lock["mode"]), lock["held_ms"]))
        text = f"{top['mode']} on {top['relation']} {top['held_ms']:.0f} ms"
    if statement.rewrites:
        text += (" · " if text else "") + "rewrites " + ", ".join(statement.rewrites)
    return text


def _blocking_summary(rehearsal: Rehearsal, limit: int = 5) -> list[dict[str, Any]]:
    if rehearsal.locks is None:
        return []
    rows = [s for s in rehearsal.locks.summary if s["total_conflicting_ms"] > 0]
    return sorted(rows, key=lambda s: -s["longest_hold_ms"])[:limit]


def _worst_waits(rehearsal: Rehearsal, limit: int = 5) -> list[dict[str, Any]]:
    if rehearsal.locks is None or rehearsal.locks.waits.empty:
        return []
    waits = rehearsal.locks.waits.sort_values("wait_ms", ascending=False).head(limit)
    return [dict(row) for _, row in waits.iterrows()]


def _sampler_line(rehearsal: Rehearsal) -> str | None:
    stats = rehearsal.sampler
    if not stats:
        return None
    line = (
        f"lock sampler: {stats['achieved_hz']:.0f} Hz (asked {1000 / stats['interval_ms']:.0f}),"
        f" {stats['polls']} polls of {stats['mean_poll_ms']:.1f} ms, "
        f"{stats['client_cpu_share']:.1%} of a core here"
    )
    if stats.get("server_cpu_share") is not None:
        line += f", {stats['server_cpu_share']:.1%} in the server"
    return line


def _load_rows(rehearsal: Rehearsal) -> list[list[str]]:
    if not rehearsal.load:
        return []
    rows = []
    for phase in rehearsal.load["phases"]:
        latency = phase["latency_ms"]
        errors = sum(phase["errors"].values())

        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value:.1f}"

        rows.append(
            [
                phase["phase"],
                "-" if phase["throughput_tps"] is None else f"{phase['throughput_tps']:,.0f}",
                ms(latency["p50"]),
                ms(latency["p99"]),
                ms(latency["max"]),
                str(errors),
                f"{phase['longest_stall_ms']:.0f}",
            ]
        )
    return rows


_LOAD_HEADERS = ["phase", "tx/s", "p50 ms", "p99 ms", "max ms", "errors", "longest stall ms"]


def _load_sentences(rehearsal: Rehearsal) -> list[str]:
    if not rehearsal.load:
        return []
    lines = [item["sentence"] for item in rehearsal.load["lock_waits"][:5]]
    for item in rehearsal.load["breaking"]:
        lines.append(
            f"BREAKS THE APP: {item['transaction']} failed {item['count']}x with "
            f"{item['sqlstate']} {item['message']} (first after {item['after_statement']})"
        )
    return lines


def _roundtrip_lines(rehearsal: Rehearsal) -> list[str]:
    lines = []
    if rehearsal.up_changes:
        changes = [f"{c['object']} {c['what']}" for c in rehearsal.up_changes[:8]]
        more = len(rehearsal.up_changes) - len(changes)
        lines.append("up changed: " + "; ".join(changes) + (f"; +{more} more" if more else ""))
    if rehearsal.invalid_indexes:
        lines.append("INVALID INDEX left by up: " + ", ".join(rehearsal.invalid_indexes))
    result = rehearsal.roundtrip
    if result is None:
        return lines
    head = f"round trip ({result.mode}): {result.status.upper()}"
    if result.data_rows is not None:
        head += f", data of {result.data_rows:,} rows compared"
    lines.append(head)
    for items in result.grouped().values():
        lines += ["  " + item for item in items]
    lines += [f"  warning: {d.render()}" for d in result.warnings]
    lines += [f"  ignored: {d.render()}" for d in result.differences if d.ignored]
    lines += [f"  note: {note}" for note in result.notes]
    return lines


def _budget_lines(rehearsal: Rehearsal) -> list[str]:
    return [
        f"budget {b['budget']}: {b['actual']} (limit {b['limit']}) {b['status'].upper()}"
        + (f" — {b['detail']}" if b["detail"] else "")
        for b in rehearsal.budgets
    ]


def _rich_locks(console: Console, rehearsal: Rehearsal) -> None:
    if rehearsal.budgets:
        table = Table(title="budgets", title_justify="left")
        for header in ("budget", "limit", "actual", "status"):
            table.add_column(header)
        for budget in rehearsal.budgets:
            style = "green" if budget["status"] == "pass" else "bold red"
            table.add_row(
                budget["budget"],
                str(budget["limit"]),
                str(budget["actual"]),
                f"[{style}]{budget['status'].upper()}[/]",
            )
        console.print(table)
    for line in _roundtrip_lines(rehearsal):
        style = "bold red" if ("FAILED" in line or "INVALID" in line) else ""
        console.print(f"[{style}]{escape(line)}[/]" if style else escape(line))
    load_rows = _load_rows(rehearsal)
    if load_rows:
        table = Table(title="application load", title_justify="left")
        for header in _LOAD_HEADERS:
            table.add_column(header, justify="left" if header == "phase" else "right")
        for cells in load_rows:
            table.add_row(*cells)
        console.print(table)
    for sentence in _load_sentences(rehearsal):
        style = "bold red" if sentence.startswith("BREAKS") else ""
        console.print(f"[{style}]{escape(sentence)}[/]" if style else escape(sentence))
    blocking = _blocking_summary(rehearsal)
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
    for wait in _worst_waits(rehearsal):
        console.print(escape(_wait_line(wait)))
    sampler = _sampler_line(rehearsal)
    if sampler:
        console.print(f"[dim]{escape(sampler)}[/]")


def _text(value: Any) -> str:
    """A DataFrame cell as text: NaN and None are empty."""
    return "" if value is None or value != value else str(value)


def _wait_line(wait: dict[str, Any]) -> str:
    blocker = _text(wait["blocking_statement"]) or _text(wait["blocking_roles"]) or "?"
    return (
        f"wait: {wait['waiter_role']} pid {wait['waiter_pid']} waited {wait['wait_ms']:.0f} ms "
        f"for {wait['requested_mode']} on {wait['relation']} behind {blocker}"
    )


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
        strongest = _strongest(statement)
        if strongest:
            lines.append(f"      {strongest}")
    for row in _blocking_summary(rehearsal):
        lines.append(
            f"  lock {row['mode']} on {row['relation']}: held up to "
            f"{row['longest_hold_ms']:.1f} ms ({row['effect']}); {row['sessions_waited']} "
            f"session(s) waited, longest {row['longest_wait_ms']:.1f} ms"
        )
    lines += ["  " + _wait_line(wait) for wait in _worst_waits(rehearsal)]
    load_rows = _load_rows(rehearsal)
    if load_rows:
        lines.append("  application load: " + " | ".join(_LOAD_HEADERS))
        lines += ["    " + " | ".join(row) for row in load_rows]
    lines += ["  " + line for line in _load_sentences(rehearsal)]
    lines += ["  " + line for line in _roundtrip_lines(rehearsal)]
    lines += ["  " + line for line in _budget_lines(rehearsal)]
    sampler = _sampler_line(rehearsal)
    if sampler:
        lines.append("  " + sampler)
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
        table = Table(show_edge=False, box=None, padding=(0, 2))
        for column in ("phase / statement", "baseline", "current", "change", "status"):
            table.add_column(column, justify="left" if column[0] in "ps" else "right")
        for change in comparison.changes:
            ratio = change.ratio
            style = _CHANGE_STYLE[change.status]
            table.add_row(
                escape(_one_line(change.item.removeprefix("statement "))),
                _seconds(change.base_s),
                _seconds(change.current_s),
                "" if ratio is None else f"{ratio - 1:+.0%}",
                f"[{style}]{change.status}[/]" if style else change.status,
            )
        console.print(table)
