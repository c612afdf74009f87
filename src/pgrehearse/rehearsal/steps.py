"""The steps every way of running a migration shares, written once: a migration phase
(timeouts, retries after lock_timeout, failure text), and the fingerprint and round-trip
check. `rehearse`, `MigrationRunner`, `bench` and the pytest fixtures all call these."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from pgrehearse.backends import Server
from pgrehearse.errors import PgRehearseError
from pgrehearse.migration import (
    Clock,
    ScriptResult,
    Statement,
    StatementObserver,
    StatementResult,
    run_script,
    split_statements,
)
from pgrehearse.scenario import MigrationSpec, RoundtripSpec, SqlSource, postgres_duration
from pgrehearse.tools import Chain, MigrationScript
from pgrehearse.verify import (
    DataFingerprint,
    Difference,
    DumpFailed,
    DumpTarget,
    RoundTrip,
    SchemaDump,
    SchemaFingerprint,
    apply_ignores,
    data_differences,
    data_fingerprint,
    dump_disagreement,
    load_effects,
    relax_sequences,
    schema_differences,
    schema_fingerprint,
    written_by,
)

LOCK_NOT_AVAILABLE = pg_errors.LockNotAvailable.sqlstate  # what lock_timeout raises


def describe_failure(statement: StatementResult) -> str:
    """`up statement 2 failed at up.sql:3: <server message>`, and its hint after `; hint:`."""
    assert statement.error is not None
    line = statement.error.line or statement.line
    where = f"{statement.file}:{line}" if line else str(statement.file)
    hint = f"; hint: {statement.error.hint}" if statement.error.hint else ""
    return (
        f"{statement.phase} statement {statement.index} failed at {where}: "
        f"{statement.error.message}{hint}"
    )


class MigrationFailed(PgRehearseError, AssertionError):
    """A step of the migration failed; `statement` says which one and why (exit code 1)."""

    def __init__(self, statement: StatementResult) -> None:
        super().__init__(describe_failure(statement))
        self.statement = statement


def set_migration_timeouts(conn: psycopg.Connection[Any], migration: MigrationSpec) -> None:
    """The scenario's lock_timeout and statement_timeout for the migration's session."""
    for setting, value in (
        ("lock_timeout", migration.lock_timeout),
        ("statement_timeout", migration.statement_timeout),
    ):
        if value is not None:
            conn.execute(f"SET {setting} = '{postgres_duration(value)}'")
    conn.commit()


def statements_of(source: SqlSource | MigrationScript) -> list[Statement]:
    """A migration's statements, each knowing its file and line; for a tool's chain, every
    migration's in order, those its tool runs outside a transaction marked to run alone."""
    if isinstance(source, SqlSource):
        return split_statements(
            source.text,
            file=source.origin,
            first_line=source.first_line,
            variables=source.variables,
        )
    statements: list[Statement] = []
    for part in source.parts:
        split = split_statements(
            part.text, file=part.file, first_line=part.first_line, variables=part.variables
        )
        kept = part.kept_in_transaction if part.transactional else None
        if part.one_query and len(split) < 2:
            kept = None  # one statement sent alone: no transaction around it
        for statement in split:
            statements.append(
                replace(
                    statement,
                    index=len(statements) + 1,
                    alone=not part.transactional,
                    kept_in_transaction=kept,
                )
            )
    return statements


@dataclass
class PhaseRun:
    """A migration phase as it ran: every attempt's statements, and the last attempt."""

    statements: list[StatementResult]  # all attempts, retried ones marked "retried"
    last: ScriptResult
    attempts: int

    @property
    def ok(self) -> bool:
        return self.last.ok


def _hit_lock_timeout(script: ScriptResult) -> StatementResult | None:
    failed = script.error
    if (
        failed is not None
        and failed.error is not None
        and (failed.error.sqlstate == LOCK_NOT_AVAILABLE)
    ):
        return failed
    return None


def run_phase(
    conn: psycopg.Connection[Any],
    phase: str,
    statements: Sequence[Statement],
    migration: MigrationSpec,
    clock: Clock,
    *,
    observer: StatementObserver | None = None,
    on_statement: Callable[[StatementResult], None] = lambda _result: None,
    on_retry: Callable[[str], None] = lambda _note: None,
) -> PhaseRun:
    """Run one phase of the migration, retrying after lock_timeout as the scenario says.

    A retry waits `retry_backoff` seconds, doubled each time. In `file` mode the whole
    script runs again (its transaction was rolled back); otherwise the run resumes at the
    statement that timed out, since the ones before it are committed.
    """
    remaining = list(statements)
    everything: list[StatementResult] = []
    attempt = 1
    while True:
        script = run_script(
            conn,
            remaining,
            phase=phase,
            mode=migration.transaction,
            clock=clock,
            on_statement=on_statement,
            observer=observer,
        )
        for result in script.statements:
            result.attempt = attempt
        everything.extend(script.statements)
        failed = _hit_lock_timeout(script)
        if failed is None or attempt > migration.retries:
            return PhaseRun(everything, script, attempt)
        failed.status = "retried"
        pause = migration.retry_backoff * 2 ** (attempt - 1)
        on_retry(
            f"{phase} #{failed.index} hit lock_timeout: retry {attempt} of "
            f"{migration.retries} in {pause:g} s"
        )
        time.sleep(pause)
        attempt += 1
        if script.transaction != "file":
            remaining = [s for s in remaining if s.index >= failed.index]


@dataclass(frozen=True)
class Fingerprint:
    """The state a round trip compares: the catalog, and the data when the mode asks."""

    schema: SchemaFingerprint
    data: DataFingerprint | None
    dump: list[str] | None = None  # pg_dump's view, the independent cross-check
    dump_problem: str | None = None


def dump_target(server: Server, database: str) -> DumpTarget:
    """The cross-check's view of a logical database, through the server's own client tools."""
    real = server.database_name(database)
    return DumpTarget(
        server.client_program("pg_dump"),
        server.client_program("pg_dumpall"),
        server.client_env(real),
        real,
    )


def take_fingerprint(
    conn: psycopg.Connection[Any], *, data: bool, dump: DumpTarget | None = None
) -> Fingerprint:
    """The catalog (and data) fingerprint; with `dump`, pg_dump runs alongside it."""
    conn.autocommit = True
    running = SchemaDump(dump) if dump is not None else None
    try:
        schema = schema_fingerprint(conn)
        rows = data_fingerprint(conn) if data else None
    except BaseException:
        if running is not None:
            running.close()
        raise
    if running is None:
        return Fingerprint(schema, rows)
    try:
        return Fingerprint(schema, rows, dump=running.lines())
    except DumpFailed as exc:
        return Fingerprint(schema, rows, dump_problem=str(exc))


def compares_data(spec: RoundtripSpec) -> bool:
    return spec.mode in ("exact", "strict")


def check_roundtrip(
    spec: RoundtripSpec,
    before: Fingerprint,
    after: Fingerprint,
    load_statements: Iterable[str] = (),
    kept: Mapping[str, int] | None = None,
    migration_statements: Iterable[str] = (),
) -> RoundTrip:
    """Compare the state before up with the state after down, under the scenario's mode.

    Sequences of the tables the load or the migration itself inserts into (a tool's
    bookkeeping table, say) may only move forward: no down can take a sequence back."""
    result = RoundTrip(spec.mode, "passed")
    effects = load_effects(written_by(list(load_statements)), before.schema)
    catalog = schema_differences(before.schema, after.schema)
    inserted: dict[str, set[str] | None] = {
        **dict.fromkeys(written_by(list(migration_statements))),
        **effects.written,
    }
    differences = relax_sequences(catalog, before.schema, inserted, result.notes)
    differences += _cross_check(before, after, catalog, result.notes)
    if before.data is not None and after.data is not None:
        result.notes.extend(effects.notes)
        differences += data_differences(before.data, after.data, effects.written, result.notes)
        differences += _kept_rows(before.data, after.data, kept or {}, result.notes)
        result.data_seconds = round(before.data.seconds, 4)
        result.data_rows = before.data.rows
    ignores = [(item.object, item.reason) for item in spec.ignore]
    result.differences = apply_ignores(differences, ignores)
    if result.failing:
        result.status = "failed"
    return result


def _kept_rows(
    before: DataFingerprint,
    after: DataFingerprint,
    kept: Mapping[str, int],
    notes: list[str],
) -> list[Difference]:
    """Rows written after up (by `between`, or inserted by the new application's load
    transactions) must still be there after down (converted, perhaps: their values are not
    compared, only that none was lost)."""
    lost = []
    for table, added in kept.items():
        name = table.removeprefix("public.")
        was, now = before.tables.get(name), after.tables.get(name)
        if was is None or now is None or added <= 0:
            continue
        notes.append(f"data {name}: {added:,} rows written after up must survive down")
        if now.rows < was.rows + added:
            lost.append(
                Difference(
                    "data",
                    f"data {name}",
                    f"rows written after up, lost by down ({was.rows + added - now.rows:,})",
                    was.rows + added,
                    now.rows,
                )
            )
    return lost


def _cross_check(
    before: Fingerprint, after: Fingerprint, catalog: list[Difference], notes: list[str]
) -> list[Difference]:
    """pg_dump must agree with the catalog fingerprint whenever the latter saw nothing."""
    problem = before.dump_problem or after.dump_problem
    if problem:
        notes.append(f"pg_dump cross-check skipped: {problem}")
    if catalog or before.dump is None or after.dump is None:
        return []
    disagreement = dump_disagreement(before.dump, after.dump)
    return [] if disagreement is None else [disagreement]


@dataclass(frozen=True)
class StepState:
    """The state after one migration of a chain finished: its schema, and its data when the
    round trip compares data."""

    phase: str
    file: Path | None
    schema: SchemaFingerprint
    data: DataFingerprint | None = None


def check_steps(
    chain: Chain,
    before: Fingerprint,
    states: list[StepState],
    load_statements: Iterable[str],
    overall: RoundTrip,
    migration_statements: Iterable[str] = (),
) -> dict[str, list[str]]:
    """The round trip of every step of a chain: the state after a migration's down against
    the state before its up (after the previous one's up): the schema, and the data when
    it was recorded. Per migration, the failing differences (empty: restored). When the
    chain as a whole seemed restored but a step was not, the overall round trip fails too,
    naming the step."""
    after_up = {state.file: state for state in states if state.phase == "up"}
    after_down = {state.file: state for state in states if state.phase == "down"}
    effects = load_effects(written_by(list(load_statements)), before.schema)
    inserted: dict[str, set[str] | None] = {
        **dict.fromkeys(written_by(list(migration_statements))),
        **effects.written,
    }
    found: dict[str, list[str]] = {}
    compared: list[tuple[str, list[Difference]]] = []
    previous = StepState("up", None, before.schema, before.data)
    for migration in chain.pending:
        expected = previous
        previous = after_up.get(migration.up.file, previous)
        if migration.down is None or migration.down.file not in after_down:
            continue
        restored = after_down[migration.down.file]
        notes: list[str] = []
        differences = relax_sequences(
            schema_differences(expected.schema, restored.schema), expected.schema, inserted, notes
        )
        if expected.data is not None and restored.data is not None:
            differences += data_differences(expected.data, restored.data, effects.written, notes)
        compared.append((migration.label, [d for d in differences if d.severity != "cosmetic"]))
    # a down runs on what the downs after it left: a difference they left is theirs
    owned: dict[str, list[Difference]] = {}
    inner: list[Difference] = []
    for label, failing in reversed(compared):
        owned[label] = _own_differences(failing, inner)
        inner = failing
    for label, _ in compared:
        own = owned[label]
        found[label] = [d.render() for d in own]
        if own and not overall.failing:
            overall.differences.append(
                Difference(
                    own[0].severity,
                    f"step {label}",
                    "its down did not restore the state it found (later steps hid it)",
                    None,
                    "; ".join(d.render() for d in own)[:300],
                )
            )
            overall.status = "failed"
    return found


def _own_differences(failing: list[Difference], inner: list[Difference]) -> list[Difference]:
    """What a step's down left different that the step inside it (whose down ran just
    before) did not already leave: rows a table gained or lost beyond the inner step's, and
    other differences on objects the inner step left alone."""
    inner_by_object = {(d.object, d.what): d for d in inner}
    own = []
    for difference in failing:
        earlier = inner_by_object.get((difference.object, difference.what))
        if earlier is None:
            own.append(difference)
            continue
        if difference.what == "row count" and _is_count(difference) and _is_count(earlier):
            extra = (difference.after - difference.before) - (earlier.after - earlier.before)
            if extra:
                own.append(
                    Difference(
                        difference.severity,
                        difference.object,
                        "row count",
                        difference.before,
                        difference.before + extra,
                    )
                )
    return own


def _is_count(difference: Difference) -> bool:
    return isinstance(difference.before, int) and isinstance(difference.after, int)


def skipped_roundtrip(spec: RoundtripSpec, reason: str) -> RoundTrip:
    return RoundTrip(spec.mode, "skipped", notes=[reason])


class StepWatcher:
    """Passes the statement hooks on to the lock tracer and, as a chain moves from one
    migration to the next (its transaction committed), reports the migration finished.
    The files in `checks` (verify scripts) change nothing, so no state is taken after them."""

    def __init__(
        self,
        tracer: StatementObserver | None,
        statements: list[Statement],
        done: Callable[[Path | None], None],
        checks: set[Path] | None = None,
    ) -> None:
        self.tracer = tracer
        self.file_of = {s.index: s.file for s in statements}
        self.current: Path | None = statements[0].file if statements else None
        self.done = done
        self.checks = checks or set()

    def _finished(self, file: Path | None) -> None:
        if file not in self.checks:
            self.done(file)

    def before_statement(self, phase: str, index: int, *, in_transaction: bool) -> None:
        file = self.file_of.get(index)
        if file != self.current:
            self._finished(self.current)
            self.current = file
        if self.tracer is not None:
            self.tracer.before_statement(phase, index, in_transaction=in_transaction)

    def after_statement(self, phase: str, index: int, started_s: float) -> None:
        if self.tracer is not None:
            self.tracer.after_statement(phase, index, started_s)

    def transaction_ended(self, at_s: float) -> None:
        if self.tracer is not None:
            self.tracer.transaction_ended(at_s)

    def finished(self) -> None:
        self._finished(self.current)
