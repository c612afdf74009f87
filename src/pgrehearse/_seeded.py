"""Seeded databases for tests and benchmarks: one seeded server, fresh copies on demand.

`SeededServer.start(scenario)` provisions a server exactly as a rehearsal does (schema,
seeded data from the snapshot cache, indexes, rehearsal settings) and keeps the seeded
database as a template. `database()` gives a fresh copy of it, and `migration()` on that
copy runs the scenario's up and down scripts step by step for a test's own assertions.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from pgrehearse._backend_choice import backend_named
from pgrehearse._cache import SnapshotCache
from pgrehearse._errors import PgRehearseError
from pgrehearse._progress import Progress, SilentProgress
from pgrehearse._rehearsal import (
    APP_PREFIX,
    DATABASE,
    _Run,
    new_result,
    set_migration_timeouts,
    snapshot_cache,
)
from pgrehearse._result import Rehearsal
from pgrehearse.backends import Backend, LocalServer, Server
from pgrehearse.migration import (
    Clock,
    ScriptResult,
    StatementResult,
    changes_cluster,
    run_script,
    split_statements,
)
from pgrehearse.scenario import Scenario, SqlSource
from pgrehearse.verify import (
    DataFingerprint,
    Difference,
    RoundTrip,
    SchemaFingerprint,
    apply_ignores,
    data_differences,
    data_fingerprint,
    schema_differences,
    schema_fingerprint,
)


class MigrationFailed(PgRehearseError, AssertionError):
    """A step of the migration failed; `statement` says which one and why (exit code 1)."""

    def __init__(self, statement: StatementResult) -> None:
        assert statement.error is not None
        where = f"{statement.file}:{statement.error.line or statement.line}"
        super().__init__(
            f"{statement.phase} statement {statement.index} failed at {where}: "
            f"{statement.error.message}"
        )
        self.statement = statement


class SeededServer:
    """A throwaway server holding the scenario's seeded database as a template."""

    def __init__(self, scenario: Scenario, server: Server, provisioning: Rehearsal) -> None:
        self.scenario = scenario
        self.server = server
        self.provisioning = provisioning  # phases, tables and cache facts of the seeding
        self._names = itertools.count(1)

    @classmethod
    def start(
        cls,
        scenario: Scenario,
        *,
        scale: float | None = None,
        pg_bin: str | Path | None = None,
        backend: Backend | str = "auto",
        cache: bool | SnapshotCache = True,
        progress: Progress | None = None,
        pg_version: int | None = None,
        dsn: str | None = None,
    ) -> SeededServer:
        """Provision and seed a server for `scenario` (from the snapshot cache when it can)."""
        result = new_result(scenario, scale, needs_schema=True)
        run = _Run(scenario, result, progress or SilentProgress(), Clock(), snapshot_cache(cache))
        if isinstance(backend, str):
            backend = backend_named(
                backend,
                scenario,
                pg_bin,
                pg_version=pg_version,
                progress=progress,
                dsn=dsn,
                run_id=result.run_id,
            )
        server = run.provision(backend)
        return cls(scenario, server, result)

    @property
    def shareable(self) -> bool:
        """Whether tests may share this server: false when the migration changes roles,
        databases, tablespaces or server settings, which every copy would see."""
        sources = [self.scenario.migration.up, self.scenario.migration.down]
        return not any(
            changes_cluster(statement.sql)
            for source in sources
            if source is not None
            for statement in split_statements(source.text)
        )

    def database(self, name: str | None = None) -> SeededDatabase:
        """A new database holding a copy of the seeded data. `drop()` it when done."""
        name = name or f"pgrehearse_copy_{next(self._names)}"
        strategy = " STRATEGY = FILE_COPY" if self.server.major >= 15 else ""
        with psycopg.connect(
            **self.server.connect_kwargs("postgres", f"{APP_PREFIX}:harness"), autocommit=True
        ) as admin:
            admin.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}" + strategy).format(
                    sql.Identifier(self.server.database_name(name)),
                    sql.Identifier(self.server.database_name(DATABASE)),
                )
            )
        return SeededDatabase(self, name)

    def keep(self) -> dict[str, str] | None:
        """Leave a local server running for debugging (see `LocalServer.keep`); None when
        the backend cannot."""
        if not isinstance(self.server, LocalServer):
            self.server.close()
            return None
        return self.server.keep(DATABASE)

    def close(self) -> None:
        self.server.close()

    def __enter__(self) -> SeededServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class SeededDatabase:
    """One copy of the seeded database; yours to change."""

    def __init__(self, seeded: SeededServer, name: str) -> None:
        self.seeded = seeded
        self.name = name
        self.dropped = False

    @property
    def scenario(self) -> Scenario:
        return self.seeded.scenario

    def connect_kwargs(self, application_name: str = "pgrehearse:test") -> dict[str, Any]:
        return self.seeded.server.connect_kwargs(self.name, application_name)

    @property
    def conninfo(self) -> str:
        """A libpq connection string (holds the throwaway server's password)."""
        return make_conninfo(**self.connect_kwargs())

    def connect(self, **kwargs: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(**{**self.connect_kwargs(), **kwargs})

    def migration(self, *, fingerprint: bool = True) -> MigrationRunner:
        """A step-wise runner of the scenario's migration on this database."""
        return MigrationRunner(self, fingerprint=fingerprint)

    def drop(self) -> None:
        if self.dropped:
            return
        with psycopg.connect(
            **self.seeded.server.connect_kwargs("postgres", f"{APP_PREFIX}:harness"),
            autocommit=True,
        ) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(self.seeded.server.database_name(self.name))
                )
            )
        self.dropped = True


class MigrationRunner:
    """Runs the scenario's up and down scripts one call at a time.

    With `fingerprint`, the schema (and data, when the scenario's round-trip mode compares
    data) is fingerprinted before the first `up()`, so `roundtrip()` can tell what `down()`
    failed to restore.
    """

    def __init__(self, database: SeededDatabase, *, fingerprint: bool = True) -> None:
        self.database = database
        self.fingerprint = fingerprint
        self.clock = Clock()
        self.results: dict[str, ScriptResult] = {}
        self._before: tuple[SchemaFingerprint, DataFingerprint | None] | None = None

    @property
    def statements(self) -> list[StatementResult]:
        return [s for result in self.results.values() for s in result.statements]

    def up(self, *, check: bool = True) -> ScriptResult:
        """Run the up script. Raises `MigrationFailed` on an error unless `check` is false."""
        if self.fingerprint and self._before is None:
            self._before = self._fingerprints(self._compares_data())
        return self._run("up", self.database.scenario.migration.up, check)

    def down(self, *, check: bool = True) -> ScriptResult:
        """Run the down script (a scenario without one raises `ValueError`)."""
        source = self.database.scenario.migration.down
        if source is None:
            raise ValueError(f"scenario {self.database.scenario.name!r} has no down migration")
        return self._run("down", source, check)

    def roundtrip(self) -> list[Difference]:
        """What differs now from before `up()` and fails the scenario's round-trip mode
        (its `roundtrip.ignore` entries left out). Empty when down restored everything."""
        if self._before is None:
            raise RuntimeError("roundtrip() needs up() to have run with fingerprint=True")
        schema_before, data_before = self._before
        schema_after, data_after = self._fingerprints(data_before is not None)
        differences = schema_differences(schema_before, schema_after)
        if data_before is not None and data_after is not None:
            differences += data_differences(data_before, data_after, {}, [])
        spec = self.database.scenario.roundtrip
        ignores = [(item.object, item.reason) for item in spec.ignore]
        return RoundTrip(spec.mode, "passed", apply_ignores(differences, ignores)).failing

    def _compares_data(self) -> bool:
        return self.database.scenario.roundtrip.mode in ("exact", "strict")

    def _fingerprints(self, data: bool) -> tuple[SchemaFingerprint, DataFingerprint | None]:
        with self.database.connect(application_name=f"{APP_PREFIX}:harness") as conn:
            conn.autocommit = True
            return schema_fingerprint(conn), data_fingerprint(conn) if data else None

    def _run(self, phase: str, source: SqlSource, check: bool) -> ScriptResult:
        migration = self.database.scenario.migration
        statements = split_statements(source.text, file=source.origin, first_line=source.first_line)
        with self.database.connect(application_name=f"{APP_PREFIX}:migration") as conn:
            set_migration_timeouts(conn, migration)
            result = run_script(
                conn, statements, phase=phase, mode=migration.transaction, clock=self.clock
            )
        self.results[phase] = result
        if check and result.error is not None:
            raise MigrationFailed(result.error)
        return result
