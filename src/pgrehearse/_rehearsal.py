"""One rehearsal, end to end: provision → schema → seed → up → down → summary."""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from pgrehearse._errors import Interrupted, Problem, ScenarioError
from pgrehearse._progress import Progress, SilentProgress
from pgrehearse._result import PhaseResult, Rehearsal
from pgrehearse._settings import rehearsal_settings, seed_settings
from pgrehearse.backends import Backend, LocalBackend, Server, find_binaries
from pgrehearse.migration import Clock, ScriptResult, run_script, split_statements
from pgrehearse.report._summary import write_summary
from pgrehearse.scenario import Scenario, SqlSource, postgres_duration
from pgrehearse.seed import SeedError, scaled_rows, seed_tables

DATABASE = "rehearsal"
APP_PREFIX = "pgrehearse"


def new_run_id() -> str:
    now = dt.datetime.now(dt.UTC)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)


def rehearse(
    scenario: Scenario,
    *,
    report_dir: str | Path | None = "reports",
    pg_bin: str | Path | None = None,
    scale: float | None = None,
    backend: Backend | None = None,
    progress: Progress | None = None,
    run_id: str | None = None,
) -> Rehearsal:
    """Rehearse `scenario` on a throwaway server and return what was measured.

    Writes `<report_dir>/<scenario name>/<run id>/summary.json` unless `report_dir` is None.
    A failing migration is a result (`outcome == "failed"`), not an exception; invalid
    input raises `ScenarioError`, environment problems `EnvironmentProblem`. The server is
    removed in every case, Ctrl-C and SIGTERM included.
    """
    progress = progress or SilentProgress()
    effective_scale = scenario.data.scale if scale is None else scale
    if effective_scale <= 0:
        raise ScenarioError([Problem(f"scale must be above 0, not {effective_scale}")])
    result = Rehearsal(
        run_id=run_id or new_run_id(),
        scenario_name=scenario.name,
        scenario_file=scenario.path,
        started_at=dt.datetime.now(dt.UTC),
        seed=scenario.data.seed,
        scale=effective_scale,
    )
    if report_dir is not None:
        result.run_dir = Path(report_dir) / scenario.name / result.run_id
    run = _Run(scenario, result, progress, Clock())
    try:
        if backend is None:
            explicit = Path(pg_bin) if pg_bin else scenario.postgres.bin_dir
            binaries = find_binaries(explicit=explicit, major=scenario.postgres.version)
            backend = LocalBackend(binaries)
        run.execute(backend)
        result.outcome = "failed" if result.failed_statement else "passed"
        if result.failed_statement:
            result.failure = _describe_failure(result)
    except (KeyboardInterrupt, Interrupted) as exc:
        result.outcome = "interrupted"
        result.failure = "interrupted by " + (
            exc.signal_name if isinstance(exc, Interrupted) else "SIGINT"
        )
        raise
    except Exception as exc:
        result.outcome = "error"
        result.failure = str(exc)
        raise
    finally:
        result.finished_at = dt.datetime.now(dt.UTC)
        if result.run_dir is not None and run.started_server:
            write_summary(result, result.run_dir)
    return result


def _describe_failure(result: Rehearsal) -> str:
    statement = result.failed_statement
    assert statement is not None and statement.error is not None
    where = f"{statement.file}:{statement.error.line or statement.line}"
    return (
        f"{statement.phase} statement {statement.index} failed at {where}: "
        f"{statement.error.message}"
    )


class _Run:
    """The steps of one rehearsal, sharing the server, the clock and the result."""

    def __init__(
        self, scenario: Scenario, result: Rehearsal, progress: Progress, clock: Clock
    ) -> None:
        self.scenario = scenario
        self.result = result
        self.progress = progress
        self.clock = clock
        self.started_server = False
        self._current: PhaseResult | None = None

    def execute(self, backend: Backend) -> None:
        scenario = self.scenario
        seed_profile = seed_settings(scenario.postgres.settings)
        rehearsal_profile = rehearsal_settings(scenario.postgres.settings)
        self.result.settings = {"seed": seed_profile, "rehearsal": rehearsal_profile}

        with self.phase("provision", f"starting a throwaway PostgreSQL ({backend.name} backend)"):
            server = backend.start(seed_profile)
            self.started_server = True
        swept = getattr(backend, "swept", [])
        if swept:
            self.progress.note(f"removed {len(swept)} server folder(s) left by killed runs")
        try:
            self.result.server = server.describe()
            self.progress.note(f"PostgreSQL {server.version} on port {server.describe()['port']}")
            self._prepare(server, rehearsal_profile)
            self._migrate(server)
        finally:
            server.close()

    def _prepare(self, server: Server, rehearsal_profile: dict[str, str]) -> None:
        with self._connect(server, "postgres", "harness") as admin:
            admin.autocommit = True
            admin.execute(f"CREATE DATABASE {DATABASE}")

        with self._connect(server, DATABASE, "seed") as conn:
            with self.phase("schema", "creating the schema"):
                self._create_schema(conn, self.scenario.schema_sql)
            tables = self.scenario.data.tables
            total = sum(scaled_rows(t.rows, self.result.scale) for t in tables.values())
            with self.phase("seed", f"seeding {len(tables)} tables ({total:,} rows)"):
                self._seed(conn)

        with self.phase("restart", "restarting with production-like durability settings"):
            server.restart(rehearsal_profile)

    def _migrate(self, server: Server) -> None:
        migration = self.scenario.migration
        with self._connect(server, DATABASE, "migration") as conn:
            for setting, value in (
                ("lock_timeout", migration.lock_timeout),
                ("statement_timeout", migration.statement_timeout),
            ):
                if value is not None:
                    conn.execute(f"SET {setting} = '{postgres_duration(value)}'")
            conn.commit()
            up = self._run_phase(conn, "up", migration.up)
            if migration.down is None:
                self._skip("down", "the scenario has no down migration")
            elif not up.ok:
                self._skip("down", "skipped because the up migration failed")
            else:
                self._run_phase(conn, "down", migration.down)

    def _run_phase(
        self, conn: psycopg.Connection[Any], name: str, source: SqlSource
    ) -> ScriptResult:
        statements = split_statements(source.text, file=source.origin, first_line=source.first_line)
        with self.phase(name, f"{name} migration: {len(statements)} statements") as phase:
            script = run_script(
                conn,
                statements,
                phase=name,
                mode=self.scenario.migration.transaction,
                clock=self.clock,
                on_statement=self.progress.statement_finished,
            )
            self.result.statements.extend(script.statements)
            self.result.transaction[name] = script.transaction
            if not script.ok:
                phase.status = "failed"
        return script

    def _create_schema(self, conn: psycopg.Connection[Any], source: SqlSource) -> None:
        statements = split_statements(source.text, file=source.origin, first_line=source.first_line)
        script = run_script(conn, statements, phase="schema", mode="file", clock=self.clock)
        failed = script.error
        if failed is not None and failed.error is not None:
            raise ScenarioError(
                [
                    Problem(
                        f"the schema does not apply: {failed.error.message}",
                        file=failed.file,
                        line=failed.error.line or failed.line,
                        hint=failed.error.hint or "fix the schema SQL",
                    )
                ]
            )

    def _seed(self, conn: psycopg.Connection[Any]) -> None:
        conn.autocommit = False
        try:
            self.result.tables = seed_tables(
                conn,
                self.scenario.data,
                scale=self.result.scale,
                on_table=self.progress.table_seeded,
            )
            conn.commit()
        except SeedError as exc:
            conn.rollback()
            keys = ["data", "tables", exc.table] + (["columns", exc.column] if exc.column else [])
            hint = None
            if "null value in column" in str(exc):
                hint = (
                    f"give column {exc.column!r} a generator under data.tables.{exc.table}.columns"
                )
            raise ScenarioError(
                [
                    Problem(
                        f"seeding table {exc.table!r} failed: {exc}",
                        file=self.scenario.path,
                        line=self.scenario.line_of(*keys),
                        hint=hint,
                    )
                ]
            ) from None
        conn.autocommit = True
        conn.execute("ANALYZE")

    # ------------------------------------------------------------------ phase bookkeeping

    @contextmanager
    def phase(self, name: str, detail: str) -> Iterator[PhaseResult]:
        phase = PhaseResult(name, "ok", started_s=self.clock.now())
        self._current = phase
        self.result.phases.append(phase)
        self.progress.phase_started(name, detail)
        began = time.perf_counter()
        try:
            yield phase
        except (KeyboardInterrupt, Interrupted):
            phase.status = "interrupted"
            raise
        except BaseException:
            phase.status = "failed"
            raise
        finally:
            phase.seconds = time.perf_counter() - began
            self._current = None
            self.progress.phase_finished(phase)

    def _skip(self, name: str, note: str) -> None:
        phase = PhaseResult(name, "skipped", note=note)
        self.result.phases.append(phase)
        self.progress.phase_finished(phase)

    def _connect(self, server: Server, dbname: str, role: str) -> psycopg.Connection[Any]:
        return psycopg.connect(**server.connect_kwargs(dbname, f"{APP_PREFIX}:{role}"))
