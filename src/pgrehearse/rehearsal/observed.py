"""The observed part of a rehearsal: up and down run while the sampler watches every lock,
the application load runs, and the scenario's blockers hold their transactions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from pgrehearse.backends import Server
from pgrehearse.errors import Problem, ScenarioError
from pgrehearse.load import (
    Blocker,
    LoadError,
    LoadEvents,
    LoadProcess,
    PgbenchScriptError,
    PreparedTransaction,
    breaking_errors,
    events_frame,
    load_errors,
    load_windows,
    phase_metrics,
    prepare_transactions,
    waits_by_transaction,
)
from pgrehearse.migration import StatementResult
from pgrehearse.observe import LockTracer, PhaseWindow, Sampler, StepStatement
from pgrehearse.rehearsal.context import DATABASE, RunContext, connect
from pgrehearse.rehearsal.result import LoadSummary
from pgrehearse.rehearsal.steps import (
    PhaseRun,
    StepState,
    StepWatcher,
    compares_data,
    run_phase,
    set_migration_timeouts,
    statements_of,
)
from pgrehearse.rehearsal.tool_phase import run_tool_phase
from pgrehearse.roles import SessionRole
from pgrehearse.scenario import SqlSource
from pgrehearse.tools import MigrationScript
from pgrehearse.verify import (
    data_fingerprint,
    fold_partitions,
    invalid_indexes,
    rows_inserted_by,
    schema_differences,
    schema_fingerprint,
    written_by,
)


def prepare_load(ctx: RunContext) -> list[PreparedTransaction]:
    """The load's transactions, parsed and checked before any server starts."""
    if ctx.scenario.load is None:
        return []
    try:
        return prepare_transactions(ctx.scenario.load)
    except PgbenchScriptError as exc:
        raise ScenarioError([Problem(exc.message, file=exc.path, line=exc.line)]) from None
    except ValueError as exc:
        raise _load_problem(
            ctx, str(exc), "add the parameter under the transaction's params"
        ) from None


def prepare_load_process(
    ctx: RunContext, server: Server, prepared: list[PreparedTransaction]
) -> LoadProcess | None:
    """The load's clients set to connect and prepare their statements (nothing runs yet),
    in the interpreter started with the server (`ctx.load_child`, which rehearse() kills
    until the load runs), while this process goes on. Kept in `ctx.load_process` for the
    observed phases, whose start reports any error."""
    spec = ctx.scenario.load
    if spec is None or not prepared:
        return None
    load = LoadProcess(
        spec,
        prepared,
        server.connect_kwargs(DATABASE, SessionRole.LOAD.application_name()),
        ctx.clock.origin,
        ctx.scenario.data.seed,
        child=ctx.load_child,
    )
    load.prepare()
    ctx.load_process = load
    return load


def _load_problem(ctx: RunContext, message: str, hint: str) -> ScenarioError:
    """Invalid input found in the scenario's load transactions."""
    line = ctx.scenario.line_of("load", "transactions")
    return ScenarioError([Problem(message, file=ctx.scenario.path, line=line, hint=hint)])


class ObservedMigration:
    """Runs up (and down) under observation and fills the result's statements, locks and
    load. `schema_before` lets it record what up changed and any index up left invalid."""

    def __init__(
        self,
        ctx: RunContext,
        server: Server,
        prepared: list[PreparedTransaction],
        schema_before: Any,
    ) -> None:
        self.ctx = ctx
        self.server = server
        self.prepared = prepared
        self.schema_before = schema_before
        self.windows: list[PhaseWindow] = []
        self.blockers: list[Blocker] = []
        # a chain: (phase, migration file, schema) after each migration that finished
        self.step_states: list[StepState] = []
        self.tool_pids: set[int] = set()  # sessions of a tool that ran the migration itself
        self.load: LoadProcess | None = None
        self.new_shape = any(tx.after_up for tx in prepared)  # load transactions after up
        self._observed: _Observed | None = None

    def run(self) -> None:
        ctx, server = self.ctx, self.server
        migration = ctx.scenario.migration
        with (
            connect(server, DATABASE, SessionRole.MIGRATION) as conn,
            connect(server, DATABASE, SessionRole.HARNESS) as observer,
        ):
            set_migration_timeouts(conn, migration)
            tracer = (
                LockTracer(observer, conn, ctx.clock.now) if ctx.scenario.observe.trace else None
            )
            sampler = Sampler(
                server.connect_kwargs(DATABASE, SessionRole.SAMPLER.application_name()),
                ctx.clock,
                ctx.scenario.observe.sample_interval,
                measure_server_cpu=server.capabilities.cpu_measurement,
            )
            events: LoadEvents | None = None
            with sampler:
                load = self.load = self._start_load()
                try:
                    up = self._phase(conn, "up", migration.up_script, tracer, observer)
                    down = migration.down_script
                    if not up.ok and migration.chain is not None:
                        down = self._rollback_of(up)
                    if up.ok and migration.between is not None and down is not None:
                        self._between(conn, migration.between)
                    if down is None:
                        ctx.skip("down", migration.no_down_reason or "no down migration")
                    elif not up.ok and migration.chain is None:
                        ctx.skip("down", "skipped because the up migration failed")
                    else:
                        self._phase(conn, "down", down, tracer, observer)
                    if load is not None:
                        events = load.stop()
                        load = self.load = None
                finally:
                    if load is not None:
                        load.kill()
                    for blocker in self.blockers:
                        ctx.result.blockers.append(blocker.stop().to_dict())
            if sampler.error is not None:
                ctx.progress.note(f"the lock sampler stopped early: {sampler.error}")
            stats = sampler.stats
            ctx.result.sampler = stats.to_dict() if stats else None
            self._observed = _Observed(
                tracer,
                sampler.samples,
                {conn.info.backend_pid, *self.tool_pids},
                ctx.clock.now(),
                events,
            )

    def analyse(self) -> None:
        """What `run` observed, analysed: locks, and what the load suffered. Pure work on
        what was recorded (no server), so it can overlap the round trip's fingerprint."""
        from pgrehearse.observe.analyse import analyse_locks  # pandas: after the phases

        observed = self._observed
        assert observed is not None, "run() first"
        self.ctx.result.locks = analyse_locks(
            tracer=observed.tracer,
            samples=observed.samples,
            statements=self.ctx.result.statements,
            phases=self.windows,
            migration_pids=observed.migration_pids,
            end_s=observed.end_s,
        )
        if observed.events is not None:
            self._summarise_load(observed.events)

    def _start_load(self) -> LoadProcess | None:
        load = self.ctx.load_process or prepare_load_process(self.ctx, self.server, self.prepared)
        if load is None:
            return None
        try:
            load.start()
        except LoadError as exc:
            raise _load_problem(
                self.ctx,
                str(exc),
                "the load's SQL must run on the schema as it is before the migration",
            ) from None
        self.ctx.load_child = self.ctx.load_process = None  # the load process owns it now
        assert self.ctx.scenario.load is not None
        self.ctx.progress.note(
            f"application load: {self.ctx.scenario.load.clients} clients running"
        )
        return load

    def _phase(
        self,
        conn: psycopg.Connection[Any],
        name: str,
        source: SqlSource | MigrationScript,
        tracer: LockTracer | None,
        observer: psycopg.Connection[Any],
    ) -> PhaseRun:
        """Warmup (with this phase's blockers), the migration phase, cooldown."""
        ctx = self.ctx
        load_spec = ctx.scenario.load
        if load_spec is not None:
            for spec in load_spec.blockers:
                if spec.phase == name:
                    blocker = Blocker(
                        spec,
                        self.server.connect_kwargs(
                            DATABASE, SessionRole.BLOCKER.application_name()
                        ),
                        ctx.clock.now,
                    )
                    blocker.start()
                    self.blockers.append(blocker)
            ctx.pause("warmup", load_spec.warmup, f"load warms up before {name}")
        if name == "down":
            self._new_shape(running=False)
        ran = self._migration_phase(conn, name, source, tracer)
        if name == "up" and ran.ok:
            self._after_up(observer)
            self._new_shape(running=True)
        if load_spec is not None:
            ctx.pause("cooldown", load_spec.cooldown, f"load continues after {name}")
        return ran

    def _new_shape(self, *, running: bool) -> None:
        """The new application's transactions (`after: up`) run from the end of up to the
        start of down."""
        if self.new_shape and self.load is not None:
            self.load.new_shape(running)
            self.ctx.progress.note(
                "the new application's transactions " + ("start" if running else "stop")
            )

    def _rollback_of(self, up: PhaseRun) -> MigrationScript | None:
        """A chain whose up failed: the downs of the migrations that were applied before the
        failing one (`on_failure: rollback`), newest first; None to stop there."""
        migration = self.ctx.scenario.migration
        chain = migration.chain
        if chain is None or migration.on_failure == "stop":
            self.ctx.progress.note("the chain stopped at its failing migration (on_failure: stop)")
            return None
        failed = up.last.error
        failing_file = str(failed.file) if failed is not None else None
        applied = []
        for pending in chain.pending:
            if str(pending.up.file) == failing_file:
                break
            applied.append(pending)
            if pending.verify is not None and str(pending.verify.file) == failing_file:
                break  # deployed, then its check failed: it is rolled back too
        if not applied:
            return None
        if any(m.down is None for m in applied):
            return None
        self.ctx.progress.note(
            "rolling back the migrations applied before the failing one: "
            + ", ".join(m.label for m in reversed(applied))
        )
        return MigrationScript(tuple(m.down for m in reversed(applied) if m.down is not None))

    def _migration_phase(
        self,
        conn: psycopg.Connection[Any],
        name: str,
        source: SqlSource | MigrationScript,
        tracer: LockTracer | None,
    ) -> PhaseRun:
        ctx = self.ctx
        if isinstance(source, MigrationScript) and source.parts[0].step is not None:
            return self._tool_phase(name, source, tracer)
        if tracer is not None:
            tracer.begin_phase(name)
        statements = statements_of(source)
        checks = (
            {part.file for part in source.parts if part.verifies}
            if isinstance(source, MigrationScript)
            else set()
        )
        steps = StepWatcher(tracer, statements, self._step_done(name), checks)
        with ctx.phase(name, f"{name} migration: {len(statements)} statements") as phase:
            ran = run_phase(
                conn,
                name,
                statements,
                ctx.scenario.migration,
                ctx.clock,
                observer=steps if isinstance(source, MigrationScript) else tracer,
                on_statement=ctx.progress.statement_finished,
                on_retry=ctx.progress.note,
            )
            ctx.result.statements.extend(ran.statements)
            ctx.result.transaction[name] = ran.last.transaction
            if isinstance(source, MigrationScript) and ran.ok:
                steps.finished()
            if not ran.ok:
                phase.status = "failed"
            if ran.attempts > 1:
                phase.note = f"{ran.attempts} attempts"
        ctx.check_server()  # a statement "failed" because the server died: say that instead
        if tracer is not None:
            tracer.end_phase()
        started = phase.started_s or 0.0
        self.windows.append(PhaseWindow(name, started, started + (phase.seconds or 0.0)))
        return ran

    def _tool_phase(
        self, name: str, script: MigrationScript, tracer: LockTracer | None
    ) -> PhaseRun:
        """A phase its tool runs (Alembic, Django, a command): statements from the log."""
        ctx = self.ctx
        tool = script.parts[0].step.tool if script.parts[0].step is not None else "its tool"
        record = self._step_done(name)
        if tracer is not None:
            tracer.begin_phase(name)

        def step_done(file: Path | None, statements: list[StatementResult]) -> None:
            if tracer is not None:  # what the step rewrote, dropped, renamed and created
                tracer.step_finished(
                    name,
                    [
                        StepStatement(
                            s.index,
                            s.sql,
                            s.started_s or 0.0,
                            s.seconds or 0.0,
                            tuple(s.rewritten_oids),
                        )
                        for s in statements
                    ],
                )
            record(file)

        detail = f"{name} migration: {len(script.parts)} steps run by {tool}"
        with ctx.phase(name, detail) as phase:
            ran = run_tool_phase(ctx, self.server, name, script, step_done=step_done)
            ctx.result.statements.extend(ran.statements)
            ctx.result.transaction[name] = ran.last.transaction
            if not ran.ok:
                phase.status = "failed"
        ctx.check_server()
        self.tool_pids.update(s.pid for s in ran.statements if s.pid is not None)
        started = phase.started_s or 0.0
        self.windows.append(PhaseWindow(name, started, started + (phase.seconds or 0.0)))
        return ran

    def _between(self, conn: psycopg.Connection[Any], source: SqlSource) -> None:
        """Write data in the new shape between up and down, as the application would;
        count the rows it added to each table, for the round trip to find them again."""
        ctx = self.ctx
        statements = statements_of(source)
        written = sorted(written_by([s.sql for s in statements]))
        detail = f"writing data in the new shape: {len(statements)} statements"
        with (
            ctx.phase("between", detail) as phase,
            connect(self.server, DATABASE, SessionRole.HARNESS) as harness,
        ):
            before = _row_counts(harness, written)
            ran = run_phase(conn, "between", statements, ctx.scenario.migration, ctx.clock)
            ctx.result.statements.extend(ran.statements)
            after = _row_counts(harness, written)
            if not ran.ok:
                phase.status = "failed"
        ctx.result.between_rows = {t: after[t] - before[t] for t in written if t in after}

    def _step_done(self, phase: str) -> Callable[[Path | None], None]:
        """For a chain: the state after each of its migrations, as each one finishes (the
        schema; the data too when the round trip compares data)."""

        with_data = compares_data(self.ctx.scenario.roundtrip)

        def record(file: Path | None) -> None:
            with connect(self.server, DATABASE, SessionRole.HARNESS) as harness:
                schema = schema_fingerprint(harness)
                data = data_fingerprint(harness) if with_data else None
                self.step_states.append(StepState(phase, file, schema, data))

        return record

    def _after_up(self, observer: psycopg.Connection[Any]) -> None:
        """What up changed (for reviewers), and no invalid index left behind."""
        after = schema_fingerprint(observer)
        changes = schema_differences(self.schema_before, after)
        self.ctx.result.up_changes = [
            d.to_dict() for d in fold_partitions(changes, self.schema_before, after)
        ]
        self.ctx.result.invalid_indexes = invalid_indexes(after)

    def _summarise_load(self, events: LoadEvents) -> None:
        ctx = self.ctx
        spec = ctx.scenario.load
        assert spec is not None
        spans = load_windows(
            events.started_s, events.stopped_s, [(w.name, w.start_s, w.end_s) for w in self.windows]
        )
        frame = events_frame(events, spans)
        ctx.result.load_events = frame
        for table, rows in _inserted_after_up(self.prepared, events).items():
            ctx.result.between_rows[table] = ctx.result.between_rows.get(table, 0) + rows
        waits = ctx.result.locks.waits if ctx.result.locks is not None else None
        errors = load_errors(frame, events, ctx.result.statements)
        breaking = breaking_errors(errors)
        ctx.result.load = LoadSummary(
            clients=spec.clients,
            rate=spec.rate,
            transactions=events.transactions,
            client_pids=events.client_pids,
            events=len(frame),
            phases=phase_metrics(frame, spans),
            errors=errors,
            breaking=breaking,
            allow_breaking=spec.allow_breaking,
            lock_waits=waits_by_transaction(frame, waits, ctx.result.statements)
            if waits is not None
            else [],
        )
        for item in breaking:
            ctx.progress.note(
                f"the running application broke: {item['transaction']} failed "
                f"{item['count']} times with {item['sqlstate']} {item['message']!r} "
                f"(first after {item['after_statement']})"
            )


def _inserted_after_up(prepared: list[PreparedTransaction], events: LoadEvents) -> dict[str, int]:
    """Rows the new application's transactions inserted (their INSERT … VALUES that
    committed): the down must keep them."""
    inserted: dict[str, int] = {}
    for number, tx in enumerate(prepared):
        if not tx.after_up:
            continue
        committed = int(((events.transaction == number) & (events.outcome == 0)).sum())
        for sql_text, _ in tx.statements:
            found = rows_inserted_by(sql_text)
            if found is not None and committed:
                table, rows = found
                inserted[table] = inserted.get(table, 0) + committed * rows
    return inserted


def _row_counts(conn: psycopg.Connection[Any], tables: list[str]) -> dict[str, int]:
    counts = {}
    for table in tables:
        name = sql.SQL(".").join(map(sql.Identifier, table.split(".")))
        try:
            row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(name)).fetchone()
        except psycopg.Error:
            conn.rollback()
            continue
        counts[table] = int(row[0]) if row else 0
    return counts


@dataclass
class _Observed:
    """What the observed phases recorded, kept for `analyse`."""

    tracer: LockTracer | None
    samples: Any
    migration_pids: set[int]
    end_s: float
    events: LoadEvents | None
