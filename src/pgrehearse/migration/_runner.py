"""Run a migration script statement by statement on one connection, timing each statement."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import psycopg

from pgrehearse.migration._classify import runs_outside_transaction
from pgrehearse.migration._split import Statement, line_of_position
from pgrehearse.scenario import TransactionMode

StatementStatus = Literal["ok", "error", "not_run", "retried"]
_TRANSACTION_CONTROL = {"BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT"}
_IDLE = psycopg.pq.TransactionStatus.IDLE


@dataclass(frozen=True)
class StatementError:
    sqlstate: str | None
    message: str
    detail: str | None = None
    hint: str | None = None
    line: int | None = None  # file line the server's error cursor points at


@dataclass
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
    in_transaction: bool = True  # False: ran alone in autocommit (CONCURRENTLY, VACUUM, ...)
    transaction_end_s: float | None = None  # when the transaction holding its locks ended
    locks: list[dict[str, Any]] = field(default_factory=list)  # filled by the analysis
    rewrites: list[str] = field(default_factory=list)  # relations it rewrote
    created: list[str] = field(default_factory=list)  # relations it created
    dropped: list[str] = field(default_factory=list)  # relations it dropped
    renamed: list[str] = field(default_factory=list)  # "old → new", relations it renamed
    attempt: int = 1  # > 1 when the phase was retried after lock_timeout
    lock_note: str | None = None  # why no lock is listed, when none is
    pid: int | None = None  # the backend that ran it, when a tool sent it (from the log)
    rewritten_oids: list[int] = field(default_factory=list)  # a tool's: its table rewrites
    lock_wait_s: float | None = None  # of `seconds`, the time spent waiting for locks


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


class StatementObserver(Protocol):
    """Told about every statement and transaction end (the lock tracer implements it)."""

    def before_statement(self, phase: str, index: int, *, in_transaction: bool) -> None: ...

    def after_statement(self, phase: str, index: int, started_s: float) -> None: ...

    def transaction_ended(self, at_s: float) -> None: ...


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
    observer: StatementObserver | None = None,
    file_per_transaction: bool = True,
) -> ScriptResult:
    """Execute `statements` in order, stopping at the first error.

    `file` wraps the script in one transaction (rolled back on error); `statement` wraps
    each statement in its own; `none` runs them in autocommit. A script that holds its own
    BEGIN/COMMIT is run as written (effective mode `script`). Statements that cannot run in
    a transaction block (CREATE INDEX CONCURRENTLY, VACUUM, ...) run alone: in `file`
    mode the transaction is committed before them and a new one begun after; except where
    their migration tool keeps them in its transaction (`kept_in_transaction`), where they
    fail as in production, with how to take them out. In
    `file` mode each file of a chain gets its own transaction, unless
    `file_per_transaction` is False (a schema given as several files is one script).
    """
    runner = _Runner(conn, phase, clock, on_statement, observer)
    effective: str = mode
    if mode == "file" and has_transaction_control(statements):
        effective = "script"
    conn.autocommit = True
    previous_file: object = statements[0].file if statements else None
    for statement in statements:
        if runner.failed:
            runner.results.append(_not_run(phase, statement))
            continue
        alone = statement.alone or (
            statement.kept_in_transaction is None and runs_outside_transaction(statement.sql)
        )
        if effective == "file" and file_per_transaction and statement.file != previous_file:
            runner.finish_transaction()  # each migration file of a chain: its own transaction
        previous_file = statement.file
        if effective == "file" and not alone:
            runner.ensure_transaction()
        elif effective == "file":
            runner.finish_transaction()
        if effective == "statement" and not alone:
            runner.ensure_transaction()
        runner.execute(statement, in_transaction=not alone and effective in ("file", "statement"))
        if effective == "statement" and not runner.failed:
            runner.finish_transaction()
    runner.finish_transaction()
    return ScriptResult(runner.results, effective, runner.commit_seconds)


class _Runner:
    def __init__(
        self,
        conn: psycopg.Connection[Any],
        phase: str,
        clock: Clock,
        on_statement: Callable[[StatementResult], None],
        observer: StatementObserver | None,
    ) -> None:
        self.conn = conn
        self.phase = phase
        self.clock = clock
        self.on_statement = on_statement
        self.observer = observer
        self.results: list[StatementResult] = []
        self.failed = False
        self.commit_seconds: float | None = None
        self._open = False  # a transaction we began is open
        self._in_open: list[StatementResult] = []

    def ensure_transaction(self) -> None:
        if not self._open:
            self.conn.execute("BEGIN")
            self._open = True

    def finish_transaction(self) -> None:
        """COMMIT (or ROLLBACK after a failure) what we began; note when locks went."""
        if self._open:
            began = time.perf_counter()
            self.conn.execute("ROLLBACK" if self.failed else "COMMIT")
            self.commit_seconds = (self.commit_seconds or 0.0) + time.perf_counter() - began
            self._open = False
            self._ended(self.clock.now())
        elif self.conn.info.transaction_status != _IDLE:
            self.conn.execute("ROLLBACK")  # a script that failed inside its own BEGIN
            self._ended(self.clock.now())

    def _ended(self, at: float) -> None:
        for result in self._in_open:
            result.transaction_end_s = at
        self._in_open = []
        if self.observer is not None:
            self.observer.transaction_ended(at)

    def execute(self, statement: Statement, *, in_transaction: bool) -> None:
        if self.observer is not None:
            self.observer.before_statement(
                self.phase, statement.index, in_transaction=in_transaction
            )
        started = self.clock.now()
        began = time.perf_counter()
        try:
            _send(self.conn, statement)
        except psycopg.Error as exc:
            result = _failed(self.phase, statement, started, time.perf_counter() - began, exc)
            if result.error is not None and exc.diag.sqlstate == _IN_TRANSACTION_BLOCK:
                told = statement.kept_in_transaction or result.error.hint
                result.error = dataclasses.replace(result.error, hint=told)
            elif result.error is not None and not result.error.hint and self.phase in _PHASES:
                told = _seeded_rows_hint(exc)
                result.error = dataclasses.replace(result.error, hint=told)
            result.in_transaction = in_transaction
            self.failed = True
            self.results.append(result)
            self._in_open.append(result)
            if self.observer is not None:
                # an aborted transaction keeps its locks until ROLLBACK: record them too
                self.observer.after_statement(self.phase, statement.index, started)
            self.on_statement(result)
            return
        seconds = time.perf_counter() - began
        result = StatementResult(
            self.phase,
            statement.index,
            statement.file,
            statement.line,
            statement.sql,
            "ok",
            started,
            seconds,
            in_transaction=in_transaction,
        )
        self.results.append(result)
        if self.observer is not None:
            self.observer.after_statement(self.phase, statement.index, started)
        if self.conn.info.transaction_status == _IDLE:
            result.transaction_end_s = started + seconds  # autocommit: ended with it
            if self._in_open:
                self._ended(started + seconds)  # the script's own COMMIT
            elif self.observer is not None:
                self.observer.transaction_ended(started + seconds)
        else:
            self._in_open.append(result)
        self.on_statement(result)


_IN_TRANSACTION_BLOCK = "25001"  # active_sql_transaction: cannot run inside a transaction
_PHASES = ("up", "down")
# a check, NOT NULL, unique or foreign key the seeded rows break, and how production's rows
# that break it too are dealt with
_DATA_VIOLATIONS = {
    "23514": "add the constraint NOT VALID and VALIDATE it once the rows are fixed",
    "23503": "add the constraint NOT VALID and VALIDATE it once the rows are fixed",
    "23502": "fix the NULLs first, in batches",
    "23505": "remove the duplicates first",
}


def _seeded_rows_hint(exc: psycopg.Error) -> str | None:
    """What to do when a migration's constraint fails on the seeded rows: they are made
    from the scenario, and production's rows may pass where they do not (or may not)."""
    remedy = _DATA_VIOLATIONS.get(exc.diag.sqlstate or "")
    if remedy is None:
        return None
    table = exc.diag.table_name or "the table"
    return (
        f"the seeded rows of {table} break it: if production's rows all pass, give the "
        f"columns it reads the values production holds (data.tables.{table}.columns, or a "
        "clone of production's statistics: pgrehearse profile); if they may not, it fails "
        f"in production too ({remedy})"
    )


_COPY_TO_STDOUT = re.compile(r"COPY\b.*\bTO\s+STDOUT\b", re.I | re.S)
_COPY_FROM_STDIN = re.compile(r"COPY\b.*\bFROM\s+STDIN\b", re.I | re.S)


def _send(conn: psycopg.Connection[Any], statement: Statement) -> None:
    """Run one statement; a COPY from stdin gets the rows that came after it in the script
    (as psql sends them), and a COPY to stdout has its rows read and dropped."""
    sql = statement.sql
    to_client = _COPY_TO_STDOUT.match(sql) is not None
    if statement.copy_rows is None and not to_client and _COPY_FROM_STDIN.match(sql) is None:
        conn.execute(sql, prepare=False)
        return
    with conn.cursor() as cursor, cursor.copy(sql) as copy:
        if to_client:
            for _ in copy:
                pass
        elif statement.copy_rows:
            copy.write(statement.copy_rows)


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
