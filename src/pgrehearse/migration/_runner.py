"""Run a migration script statement by statement on one connection, timing each statement."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import psycopg

from pgrehearse.migration._split import Statement, line_of_position
from pgrehearse.scenario import TransactionMode

StatementStatus = Literal["ok", "error", "not_run"]
_TRANSACTION_CONTROL = {"BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT"}


@dataclass(frozen=True)
class StatementError:
    sqlstate: str | None
    message: str
    detail: str | None = None
    hint: str | None = None
    line: int | None = None  # file line the server's error cursor points at


@dataclass(frozen=True)
class StatementResult:
    phase: str
    index: int
    file: Path | None
    line: int
    sql: str
    status: StatementStatus
    started_s: float | None  # seconds since the rehearsal's clock origin
    seconds: float | None
    error: StatementError | None = None


@dataclass(frozen=True)
class ScriptResult:
    statements: list[StatementResult]
    transaction: str  # the effective mode: file | statement | none | script
    commit_seconds: float | None

    @property
    def error(self) -> StatementResult | None:
        return next((s for s in self.statements if s.status == "error"), None)

    @property
    def ok(self) -> bool:
        return self.error is None


class Clock:
    """One monotonic clock for the whole rehearsal; times are seconds since its origin."""

    def __init__(self) -> None:
        self.origin = time.perf_counter()

    def now(self) -> float:
        return time.perf_counter() - self.origin


def has_transaction_control(statements: Sequence[Statement]) -> bool:
    return any(s.sql.split(None, 1)[0].upper() in _TRANSACTION_CONTROL for s in statements)


def run_script(
    conn: psycopg.Connection[Any],
    statements: Sequence[Statement],
    *,
    phase: str,
    mode: TransactionMode,
    clock: Clock,
    on_statement: Callable[[StatementResult], None] = lambda _result: None,
) -> ScriptResult:
    """Execute `statements` in order, stopping at the first error.

    `file` wraps the script in one transaction (rolled back on error); `statement` and
    `none` run each statement on its own (autocommit). A script that holds its own
    BEGIN/COMMIT is run as written (effective mode `script`).
    """
    conn.autocommit = True
    effective: str = mode
    if mode == "file" and has_transaction_control(statements):
        effective = "script"
    wrap = effective == "file"

    results: list[StatementResult] = []
    failed = False
    commit_seconds: float | None = None
    if wrap:
        conn.execute("BEGIN")
    for statement in statements:
        if failed:
            results.append(_not_run(phase, statement))
            continue
        started = clock.now()
        began = time.perf_counter()
        try:
            conn.execute(statement.sql, prepare=False)
        except psycopg.Error as exc:
            seconds = time.perf_counter() - began
            results.append(_failed(phase, statement, started, seconds, exc))
            failed = True
            on_statement(results[-1])
            continue
        seconds = time.perf_counter() - began
        results.append(
            StatementResult(
                phase,
                statement.index,
                statement.file,
                statement.line,
                statement.sql,
                "ok",
                started,
                seconds,
            )
        )
        on_statement(results[-1])
    if wrap:
        if failed:
            conn.execute("ROLLBACK")
        else:
            began = time.perf_counter()
            conn.execute("COMMIT")
            commit_seconds = time.perf_counter() - began
    elif conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        conn.execute("ROLLBACK")  # a script that failed inside its own BEGIN
    return ScriptResult(results, effective, commit_seconds)


def _not_run(phase: str, statement: Statement) -> StatementResult:
    return StatementResult(
        phase,
        statement.index,
        statement.file,
        statement.line,
        statement.sql,
        "not_run",
        None,
        None,
    )


def _failed(
    phase: str, statement: Statement, started: float, seconds: float, exc: psycopg.Error
) -> StatementResult:
    diag = exc.diag
    position = int(diag.statement_position) if diag.statement_position else None
    error = StatementError(
        sqlstate=diag.sqlstate,
        message=diag.message_primary or str(exc).strip(),
        detail=diag.message_detail,
        hint=diag.message_hint,
        line=line_of_position(statement, position),
    )
    return StatementResult(
        phase,
        statement.index,
        statement.file,
        statement.line,
        statement.sql,
        "error",
        started,
        seconds,
        error,
    )
