"""One rehearsal, end to end: provision → schema → seed → up → down → summary."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from pydantic import ValidationError

from pgrehearse._backend_choice import backend_named
from pgrehearse._cache import SnapshotCache, snapshot_key
from pgrehearse._errors import EnvironmentProblem, Interrupted, Problem, ScenarioError
from pgrehearse._history import HISTORY_FILE, append_record, record_from_summary
from pgrehearse._progress import Progress, SilentProgress
from pgrehearse._result import PhaseResult, Rehearsal
from pgrehearse._settings import rehearsal_settings, seed_settings
from pgrehearse.analyse import PhaseWindow, analyse_locks
from pgrehearse.backends import Backend, LocalBackend, LocalServer, Server
from pgrehearse.backends.local import SnapshotUnusable
from pgrehearse.budgets import evaluate
from pgrehearse.load import (
    Blocker,
    LoadError,
    LoadEvents,
    LoadProcess,
    PgbenchScriptError,
    PreparedTransaction,
    breaking_errors,
    events_frame,
    load_windows,
    phase_metrics,
    prepare_transactions,
    waits_by_transaction,
)
from pgrehearse.migration import Clock, ScriptResult, run_script, split_statements
from pgrehearse.observe import LockTracer, Sampler
from pgrehearse.report import render_reports
from pgrehearse.report._csv import write_latency
from pgrehearse.report._summary import write_summary
from pgrehearse.scenario import (
    BudgetsSpec,
    MigrationSpec,
    Scenario,
    SqlSource,
    postgres_duration,
)
from pgrehearse.seed import RestoreError, SchemaDump, SeedError, TableSeedResult, seed_tables
from pgrehearse.seed import plan as plan_seed
from pgrehearse.seed._preflight import preflight
from pgrehearse.verify import (
    DataFingerprint,
    RoundTrip,
    SchemaFingerprint,
    apply_ignores,
    data_differences,
    data_fingerprint,
    invalid_indexes,
    schema_differences,
    schema_fingerprint,
    written_by,
)

_RELATION_SIZES = """
SELECT CASE WHEN n.nspname = 'public' THEN c.relname ELSE n.nspname || '.' || c.relname END,
       CASE c.relkind WHEN 'i' THEN 'index' WHEN 'm' THEN 'materialized view' ELSE 'table' END,
       pg_total_relation_size(c.oid) - CASE WHEN c.relkind = 'i' THEN 0
                                            ELSE pg_indexes_size(c.oid) END
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'i', 'm') AND c.oid >= 16384
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
ORDER BY 3 DESC
"""
DATABASE = "rehearsal"
SCHEMA_DATABASE = "pgrehearse_schema"
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
    backend: Backend | str = "auto",
    progress: Progress | None = None,
    run_id: str | None = None,
    cache: bool | SnapshotCache = True,
    budgets: dict[str, Any] | None = None,
    keep_server: bool = False,
    history: str | Path | bool = True,
    pg_version: int | None = None,
    dsn: str | None = None,
    clone: bool = False,
) -> Rehearsal:
    """Rehearse `scenario` on a throwaway server and return what was measured.

    Writes `<report_dir>/<scenario name>/<run id>/summary.json` unless `report_dir` is None.
    With `cache` (the default), a seeded database is kept as a snapshot and reused by later
    runs with the same schema, data, scale, seed and PostgreSQL major. `budgets` override
    the scenario's budgets (same keys as the scenario's `budgets` section).
    A failing migration is a result (`outcome == "failed"`), not an exception; invalid
    input raises `ScenarioError`, environment problems `EnvironmentProblem`. The server is
    removed in every case, Ctrl-C and SIGTERM included, unless `keep_server` asks to keep a
    finished rehearsal's local server for debugging (`result.kept_server` says how to reach it;
    `pgrehearse cleanup` stops it). A finished rehearsal's timings are appended to
    `history` (True: `<report_dir>/history.jsonl`; False: nowhere). `pg_version` picks the
    PostgreSQL major (default: the scenario's `postgres.version`; binaries of that major are
    downloaded when none are installed). With `dsn` (or PGREHEARSE_DSN), the rehearsal runs
    in a database of its own on that existing server, dropped at the end; with `clone` too,
    in the DSN's own database, which must already hold the data and which the rehearsal
    changes (for disposable clones only).
    """
    progress = progress or SilentProgress()
    budget_spec = merged_budgets(scenario, budgets)
    result = new_result(scenario, scale, run_id, needs_schema=not clone)
    if report_dir is not None:
        result.run_dir = Path(report_dir) / scenario.name / result.run_id
    run = _Run(scenario, result, progress, Clock(), snapshot_cache(cache))
    try:
        if isinstance(backend, str):
            backend = backend_named(
                backend,
                scenario,
                pg_bin,
                pg_version=pg_version,
                progress=progress,
                dsn=dsn,
                run_id=result.run_id,
                clone=clone,
            )
        run.execute(backend, keep_server=keep_server)
        result.outcome = "failed" if result.failed_statement else "passed"
        if result.failed_statement:
            result.failure = _describe_failure(result)
        elif result.invalid_indexes:
            result.outcome = "failed"
            result.failure = "the up migration left invalid indexes: " + ", ".join(
                result.invalid_indexes
            )
        elif result.roundtrip is not None and result.roundtrip.status == "failed":
            result.outcome = "failed"
            failing = result.roundtrip.failing
            result.failure = (
                f"the down migration does not restore the database: {len(failing)} "
                f"difference(s), first: {failing[0].render()}"
            )
        elif result.load and result.load["breaking"] and not result.load["allow_breaking"]:
            result.outcome = "failed"
            first = result.load["breaking"][0]
            result.failure = (
                f"the migration breaks the running application: transaction "
                f"{first['transaction']!r} failed with {first['sqlstate']} "
                f"({first['message']}) after {first['after_statement']}"
            )
        checks = evaluate(budget_spec.model_dump(exclude_none=True), result)
        result.budgets = [check.to_dict() for check in checks]
        over = [check for check in checks if not check.passed]
        if over and result.outcome == "passed":
            result.outcome = "failed"
            result.failure = "budget exceeded: " + "; ".join(
                f"{c.budget} {c.actual} > {c.limit}" for c in over
            )
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
            summary_path = write_summary(result, result.run_dir)
            write_latency(result, result.run_dir)
            summary = json.loads(summary_path.read_text())
            render_reports(summary, result.run_dir)
            if result.outcome in ("passed", "failed") and history is not False:
                target = Path(report_dir or ".") / HISTORY_FILE if history is True else history
                append_record(target, record_from_summary(summary))
    return result


def new_result(
    scenario: Scenario, scale: float | None, run_id: str | None = None, *, needs_schema: bool
) -> Rehearsal:
    """An empty result for `scenario`, once the checks that need no server passed: the
    scale, the schema (unless in clone mode) and what seeding would ask for."""
    effective_scale = scenario.data.scale if scale is None else scale
    if effective_scale <= 0:
        raise ScenarioError([Problem(f"scale must be above 0, not {effective_scale}")])
    if needs_schema:
        require_schema(scenario)
    try:
        preflight(scenario.data, effective_scale)
    except SeedError as exc:
        raise _seed_problem(scenario, exc) from None
    return Rehearsal(
        run_id=run_id or new_run_id(),
        scenario_name=scenario.name,
        scenario_file=scenario.path,
        started_at=dt.datetime.now(dt.UTC),
        seed=scenario.data.seed,
        scale=effective_scale,
    )


def snapshot_cache(cache: bool | SnapshotCache) -> SnapshotCache | None:
    return cache if isinstance(cache, SnapshotCache) else (SnapshotCache() if cache else None)


def set_migration_timeouts(conn: psycopg.Connection[Any], migration: MigrationSpec) -> None:
    """The scenario's lock_timeout and statement_timeout for the migration's session."""
    for setting, value in (
        ("lock_timeout", migration.lock_timeout),
        ("statement_timeout", migration.statement_timeout),
    ):
        if value is not None:
            conn.execute(f"SET {setting} = '{postgres_duration(value)}'")
    conn.commit()


def require_schema(scenario: Scenario) -> None:
    """A scenario without `schema` can only rehearse on an existing clone: refuse otherwise."""
    if scenario.schema_sql is None:
        raise ScenarioError(
            [
                Problem(
                    "the scenario has no schema, so there is nothing to build a throwaway "
                    "database from",
                    file=scenario.path,
                    line=1,
                    hint="add `schema: schema.sql`; or, to rehearse on an existing disposable "
                    "clone that already holds the data, give its DSN with --dsn and --clone "
                    "(the migration will change that database)",
                )
            ]
        )


def merged_budgets(scenario: Scenario, overrides: dict[str, Any] | None) -> BudgetsSpec:
    """The scenario's budgets with `overrides` on top (nested keys merge)."""
    if not overrides:
        return scenario.budgets
    merged = scenario.budgets.model_dump(exclude_none=True)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    try:
        return BudgetsSpec.model_validate(merged)
    except ValidationError as exc:
        problems = [
            Problem(f"budget {'.'.join(map(str, e['loc']))}: {e['msg']}") for e in exc.errors()
        ]
        raise ScenarioError(problems) from None


def _seed_problem(scenario: Scenario, exc: SeedError) -> ScenarioError:
    """A seeding error as invalid input pointing at the table or column in the scenario."""
    keys = ["data", "tables", exc.table] + (["columns", exc.column] if exc.column else [])
    hint = exc.hint
    if hint is None and "null value in column" in str(exc):
        hint = f"give column {exc.column!r} a generator under data.tables.{exc.table}.columns"
    return ScenarioError(
        [
            Problem(
                f"seeding table {exc.table!r}: {exc}",
                file=scenario.path,
                line=scenario.line_of(*keys),
                hint=hint,
            )
        ]
    )


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
        self,
        scenario: Scenario,
        result: Rehearsal,
        progress: Progress,
        clock: Clock,
        cache: SnapshotCache | None,
    ) -> None:
        self.cache = cache
        self._schema_before: SchemaFingerprint | None = None
        self.scenario = scenario
        self.result = result
        self.progress = progress
        self.clock = clock
        self.started_server = False
        self._current: PhaseResult | None = None

    def execute(self, backend: Backend, *, keep_server: bool = False) -> None:
        server = self.provision(backend)
        kept = False
        try:
            self._migrate(server)
            if keep_server:
                kept = self._keep(server)
        finally:
            if not kept:
                server.close()

    def _keep(self, server: Server) -> bool:
        if not isinstance(server, LocalServer):
            self.progress.note(f"--keep-server applies to local servers only, not {server}")
            return False
        self.result.kept_server = server.keep()
        self.progress.note(
            "server kept for debugging: "
            + self.result.kept_server["psql"]
            + "  (stop it with `pgrehearse cleanup`)"
        )
        return True

    def provision(self, backend: Backend) -> Server:
        """A running server holding the seeded database `DATABASE`, rehearsal settings on."""
        scenario = self.scenario
        seed_profile = seed_settings(scenario.postgres.settings)
        rehearsal_profile = rehearsal_settings(scenario.postgres.settings)
        self.result.settings = {"seed": seed_profile, "rehearsal": rehearsal_profile}

        cache_key: str | None = None
        if self.cache is not None and isinstance(backend, LocalBackend):
            cache_key = snapshot_key(
                scenario, scale=self.result.scale, major=backend.binaries.major
            )
            self.result.cache = {"key": cache_key, "hit": False, "saved": False, "path": None}
        server: Server | None = None
        if cache_key is not None:
            assert isinstance(backend, LocalBackend)
            server = self._start_from_cache(backend, cache_key, rehearsal_profile)
        from_cache = server is not None
        if server is None:
            with self.phase("provision", f"starting a throwaway PostgreSQL ({backend.name})"):
                server = backend.start(seed_profile)
                self.started_server = True
        swept = getattr(backend, "swept", [])
        if swept:
            self.progress.note(f"removed {len(swept)} server folder(s) left by killed runs")
        try:
            self.result.server = server.describe()
            self.progress.note(f"PostgreSQL {server.version} on port {server.describe()['port']}")
            if getattr(server, "preloaded", False):
                database = server.database_name(DATABASE)
                self.progress.note(
                    f"clone mode: rehearsing in the existing database {database!r}, which the "
                    "migration and the load WILL change"
                )
                for name in ("schema", "seed", "post_data"):
                    self._skip(name, f"clone mode: {database} already holds the data")
            elif not from_cache:
                self._prepare(server, rehearsal_profile, cache_key)
        except BaseException:
            server.close()
            raise
        return server

    def _start_from_cache(
        self, backend: LocalBackend, key: str, rehearsal_profile: dict[str, str]
    ) -> Server | None:
        assert self.cache is not None and self.result.cache is not None
        unusable = False
        with self.cache.open(key) as snapshot:
            if snapshot is None:
                return None
            try:
                with self.phase("provision", f"starting from cached snapshot {key[:12]}"):
                    server = backend.start(rehearsal_profile, snapshot=snapshot.data_dir)
            except SnapshotUnusable as exc:
                unusable = True
                self.progress.note(f"cached snapshot {key[:12]} unusable, rebuilding: {exc}")
            else:
                self.started_server = True
                self.result.tables = [
                    TableSeedResult.from_dict(t) for t in snapshot.meta.get("tables", [])
                ]
                self.result.cache.update(hit=True, path=str(snapshot.path))
                for name in ("schema", "seed", "post_data"):
                    self._skip(name, f"from cached snapshot {key[:12]}")
                return server
        if unusable:
            self.cache.discard(key)
        return None

    def _prepare(
        self, server: Server, rehearsal_profile: dict[str, str], cache_key: str | None
    ) -> None:
        with self._connect(server, "postgres", "harness") as admin:
            admin.autocommit = True
            for logical in (SCHEMA_DATABASE, DATABASE):
                admin.execute(
                    sql.SQL("CREATE DATABASE {}").format(
                        sql.Identifier(server.database_name(logical))
                    )
                )
        scratch = Path(tempfile.mkdtemp(prefix="pgrehearse-dump-"))
        try:
            dump = SchemaDump(
                scratch / "schema.dump",
                server.client_program("pg_dump"),
                server.client_program("pg_restore"),
                server.client_env("postgres"),
            )
            with self.phase("schema", "creating the schema (tables now, indexes after seeding)"):
                with self._connect(server, SCHEMA_DATABASE, "harness") as conn:
                    assert self.scenario.schema_sql is not None  # checked by require_schema
                    self._create_schema(conn, self.scenario.schema_sql)
                self._restore(dump, "dump", server)
                self._restore(dump, "pre-data", server)
                self._restore(dump, "data", server)
            self._seed(server)
            with self.phase("post_data", "building indexes, constraints and triggers"):
                self._restore(dump, "post-data", server)
                with self._connect(server, DATABASE, "harness") as conn:
                    conn.autocommit = True
                    conn.execute("ANALYZE")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        with self._connect(server, "postgres", "harness") as admin:
            admin.autocommit = True
            admin.execute(
                sql.SQL("DROP DATABASE {}").format(
                    sql.Identifier(server.database_name(SCHEMA_DATABASE))
                )
            )

        if cache_key is not None and self.cache is not None and isinstance(server, LocalServer):
            with self.phase("snapshot", "saving the seeded database to the cache"):
                server.stop()
                saved = self.cache.save(cache_key, server.data_dir, self._snapshot_meta(server))
            assert self.result.cache is not None
            self.result.cache.update(saved=saved is not None, path=str(self.cache.root / cache_key))

        with self.phase("restart", "restarting with production-like durability settings"):
            server.restart(rehearsal_profile)

    def _snapshot_meta(self, server: Server) -> dict[str, Any]:
        return {
            "scenario": self.scenario.name,
            "scenario_file": str(self.scenario.path) if self.scenario.path else None,
            "postgres_version": server.version,
            "scale": self.result.scale,
            "seed": self.scenario.data.seed,
            "rows": sum(t.rows for t in self.result.tables),
            "tables": [t.to_dict() for t in self.result.tables],
        }

    def _restore(self, dump: SchemaDump, step: str, server: Server) -> None:
        try:
            if step == "dump":
                dump.create(server.database_name(SCHEMA_DATABASE))
            else:
                jobs = max(1, min(4, os.cpu_count() or 1)) if step == "post-data" else 1
                dump.restore(step, server.database_name(DATABASE), jobs=jobs)
        except RestoreError as exc:
            if step == "post-data":
                raise ScenarioError(
                    [
                        Problem(
                            "building indexes and constraints after seeding failed: the seeded "
                            f"data breaks a constraint of the schema:\n{exc}",
                            file=self.scenario.path,
                            line=self.scenario.line_of("data", "tables"),
                            hint="give the columns named above generators that honour the "
                            "constraint (unique: true, a ref, a choice of allowed values)",
                        )
                    ]
                ) from None
            raise EnvironmentProblem(f"{step} of the schema failed:\n{exc}") from None

    def _migrate(self, server: Server) -> None:
        migration = self.scenario.migration
        observe = self.scenario.observe
        load_spec = self.scenario.load
        prepared = self._prepare_load() if load_spec is not None else []
        roundtrip = self.scenario.roundtrip
        with (
            self._connect(server, DATABASE, "harness") as harness,
            self.phase("fingerprint", "fingerprinting schema and data before up"),
        ):
            before = self._fingerprint(harness, data=roundtrip.mode in ("exact", "strict"))
            self.result.relations = [
                {"name": name, "kind": kind, "bytes": size}
                for name, kind, size in harness.execute(_RELATION_SIZES)
            ]
        self._schema_before = before[0]
        with (
            self._connect(server, DATABASE, "migration") as conn,
            self._connect(server, DATABASE, "harness") as observer,
        ):
            set_migration_timeouts(conn, migration)
            tracer = LockTracer(observer, conn) if observe.trace else None
            sampler = Sampler(
                server.connect_kwargs(DATABASE, "pgrehearse:sampler"),
                self.clock,
                observe.sample_interval,
                measure_server_cpu=isinstance(server, LocalServer),
            )
            windows: list[PhaseWindow] = []
            load: LoadProcess | None = None
            blockers: list[Blocker] = []
            events: LoadEvents | None = None
            with sampler:
                try:
                    if load_spec is not None and prepared:
                        load = LoadProcess(
                            load_spec,
                            prepared,
                            server.connect_kwargs(DATABASE, "pgrehearse:load"),
                            self.clock.origin,
                            self.scenario.data.seed,
                        )
                        self._start_load(load, load_spec.clients)
                    up = self._observed_phase(
                        server, conn, "up", migration.up, tracer, windows, blockers, observer
                    )
                    if migration.down is None:
                        self._skip("down", "the scenario has no down migration")
                    elif not up.ok:
                        self._skip("down", "skipped because the up migration failed")
                    else:
                        self._observed_phase(
                            server,
                            conn,
                            "down",
                            migration.down,
                            tracer,
                            windows,
                            blockers,
                            observer,
                        )
                    if load is not None:
                        events = load.stop()
                        load = None
                finally:
                    if load is not None:
                        load.kill()
                    for blocker in blockers:
                        self.result.blockers.append(blocker.stop().to_dict())
            if sampler.error is not None:
                self.progress.note(f"the lock sampler stopped early: {sampler.error}")
            stats = sampler.stats
            self.result.sampler = stats.to_dict() if stats else None
            self.result.locks = analyse_locks(
                tracer=tracer,
                samples=sampler.samples,
                statements=self.result.statements,
                phases=windows,
                migration_pid=conn.info.backend_pid,
                end_s=self.clock.now(),
            )
            if events is not None:
                self._summarise_load(events, windows)
        self._check_roundtrip(server, before, prepared)

    def _fingerprint(
        self, conn: psycopg.Connection[Any], *, data: bool
    ) -> tuple[SchemaFingerprint, DataFingerprint | None]:
        conn.autocommit = True
        return schema_fingerprint(conn), data_fingerprint(conn) if data else None

    def _check_roundtrip(
        self,
        server: Server,
        before: tuple[SchemaFingerprint, DataFingerprint | None],
        prepared: list[PreparedTransaction],
    ) -> None:
        spec = self.scenario.roundtrip
        down = self.result.phase("down")
        if spec.mode == "skip" or down is None or down.status != "ok":
            reason = "roundtrip: skip" if spec.mode == "skip" else "the down migration did not run"
            self.result.roundtrip = RoundTrip(spec.mode, "skipped", notes=[reason])
            return
        schema_before, data_before = before
        with (
            self._connect(server, DATABASE, "harness") as harness,
            self.phase("verify", "fingerprinting after down and comparing"),
        ):
            schema_after, data_after = self._fingerprint(harness, data=data_before is not None)
        result = RoundTrip(spec.mode, "passed")
        differences = schema_differences(schema_before, schema_after)
        if data_before is not None and data_after is not None:
            statements = [sql for tx in prepared for sql, _ in tx.statements]
            differences += data_differences(
                data_before, data_after, written_by(statements), result.notes
            )
            result.data_seconds = round(data_before.seconds, 4)
            result.data_rows = data_before.rows
        ignores = [(item.object, item.reason) for item in spec.ignore]
        result.differences = apply_ignores(differences, ignores)
        if result.failing:
            result.status = "failed"
        self.result.roundtrip = result

    def _prepare_load(self) -> list[PreparedTransaction]:
        assert self.scenario.load is not None
        try:
            return prepare_transactions(self.scenario.load)
        except PgbenchScriptError as exc:
            raise ScenarioError(
                [Problem(str(exc).split(": ", 1)[1], file=exc.path, line=exc.line)]
            ) from None
        except ValueError as exc:
            raise self._load_problem(
                str(exc), "add the parameter under the transaction's params"
            ) from None

    def _load_problem(self, message: str, hint: str) -> ScenarioError:
        """Invalid input found in the scenario's load transactions."""
        line = self.scenario.line_of("load", "transactions")
        return ScenarioError([Problem(message, file=self.scenario.path, line=line, hint=hint)])

    def _start_load(self, load: LoadProcess, clients: int) -> None:
        try:
            load.start()
        except LoadError as exc:
            raise self._load_problem(
                str(exc), "the load's SQL must run on the schema as it is before the migration"
            ) from None
        self.progress.note(f"application load: {clients} clients running")

    def _observed_phase(
        self,
        server: Server,
        conn: psycopg.Connection[Any],
        name: str,
        source: SqlSource,
        tracer: LockTracer | None,
        windows: list[PhaseWindow],
        blockers: list[Blocker],
        observer: psycopg.Connection[Any],
    ) -> ScriptResult:
        """Warmup (with this phase's blockers), the migration phase, cooldown."""
        load_spec = self.scenario.load
        if load_spec is not None:
            for spec in load_spec.blockers:
                if spec.phase == name:
                    blocker = Blocker(
                        spec, server.connect_kwargs(DATABASE, "pgrehearse:blocker"), self.clock.now
                    )
                    blocker.start()
                    blockers.append(blocker)
            self._pause("warmup", load_spec.warmup, f"load warms up before {name}")
        script = self._run_phase(conn, name, source, tracer, windows)
        if name == "up" and script.ok:
            self._after_up(observer)
        if load_spec is not None:
            self._pause("cooldown", load_spec.cooldown, f"load continues after {name}")
        return script

    def _after_up(self, observer: psycopg.Connection[Any]) -> None:
        """What up changed (for reviewers), and no invalid index left behind."""
        if self._schema_before is None:
            return
        after = schema_fingerprint(observer)
        self.result.up_changes = [
            d.to_dict() for d in schema_differences(self._schema_before, after)
        ]
        self.result.invalid_indexes = invalid_indexes(after)

    def _pause(self, name: str, seconds: float, detail: str) -> None:
        if seconds <= 0:
            return
        with self.phase(name, f"{detail} ({seconds:g} s)"):
            time.sleep(seconds)

    def _summarise_load(self, events: LoadEvents, windows: list[PhaseWindow]) -> None:
        assert self.scenario.load is not None
        spans = load_windows(
            events.started_s, events.stopped_s, [(w.name, w.start_s, w.end_s) for w in windows]
        )
        frame = events_frame(events, spans)
        self.result.load_events = frame
        waits = self.result.locks.waits if self.result.locks is not None else None
        breaking = breaking_errors(frame, events, self.result.statements)
        self.result.load = {
            "clients": self.scenario.load.clients,
            "rate": self.scenario.load.rate,
            "transactions": events.transactions,
            "client_pids": events.client_pids,
            "events": len(frame),
            "phases": phase_metrics(frame, spans),
            "breaking": breaking,
            "allow_breaking": self.scenario.load.allow_breaking,
            "lock_waits": waits_by_transaction(frame, waits, self.result.statements)
            if waits is not None
            else [],
        }
        for item in breaking:
            self.progress.note(
                f"the running application broke: {item['transaction']} failed "
                f"{item['count']} times with {item['sqlstate']} {item['message']!r} "
                f"(first after {item['after_statement']})"
            )

    def _run_phase(
        self,
        conn: psycopg.Connection[Any],
        name: str,
        source: SqlSource,
        tracer: LockTracer | None,
        windows: list[PhaseWindow],
    ) -> ScriptResult:
        migration = self.scenario.migration
        statements = split_statements(source.text, file=source.origin, first_line=source.first_line)
        if tracer is not None:
            tracer.begin_phase()
        with self.phase(name, f"{name} migration: {len(statements)} statements") as phase:
            attempt = 1
            remaining = statements
            while True:
                script = run_script(
                    conn,
                    remaining,
                    phase=name,
                    mode=migration.transaction,
                    clock=self.clock,
                    on_statement=self.progress.statement_finished,
                    observer=tracer,
                )
                for result in script.statements:
                    result.attempt = attempt
                self.result.statements.extend(script.statements)
                failed = script.error
                lock_timeout = (
                    failed is not None
                    and failed.error is not None
                    and (failed.error.sqlstate == "55P03")
                )
                if not lock_timeout or attempt > migration.retries:
                    break
                assert failed is not None
                failed.status = "retried"
                pause = migration.retry_backoff * 2 ** (attempt - 1)
                self.progress.note(
                    f"{name} #{failed.index} hit lock_timeout: retry {attempt} of "
                    f"{migration.retries} in {pause:g} s"
                )
                time.sleep(pause)
                attempt += 1
                if script.transaction != "file":
                    remaining = [s for s in remaining if s.index >= failed.index]
            self.result.transaction[name] = script.transaction
            if not script.ok:
                phase.status = "failed"
            if attempt > 1:
                phase.note = f"{attempt} attempts"
        if tracer is not None:
            tracer.end_phase()
        started = phase.started_s or 0.0
        windows.append(PhaseWindow(name, started, started + (phase.seconds or 0.0)))
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

    def _seed(self, server: Server) -> None:
        data = self.scenario.data
        try:
            with self._connect(server, SCHEMA_DATABASE, "harness") as conn:
                plans = plan_seed(conn, data, self.result.scale)
            total = sum(p.rows for p in plans)
            with (
                self.phase("seed", f"seeding {len(plans)} tables ({total:,} rows)"),
                self._connect(server, DATABASE, "seed") as conn,
            ):
                self.result.tables = seed_tables(
                    conn, plans, seed=data.seed, progress=self.progress
                )
        except SeedError as exc:
            raise _seed_problem(self.scenario, exc) from None

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
