"""Seeded databases for tests and benchmarks: one seeded server, fresh copies on demand.

`SeededServer.start(scenario)` provisions a server exactly as a rehearsal does (schema,
seeded data from the snapshot cache, indexes, rehearsal settings) and keeps the seeded
database as a template. `database()` gives a fresh copy of it, and `migration()` on that
copy runs the scenario's up and down scripts step by step for a test's own assertions.
"""

from __future__ import annotations

import itertools
from types import TracebackType
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from pgrehearse.backends import Backend, Server
from pgrehearse.backends.choice import ServerOptions, backend_for
from pgrehearse.migration import Clock, ScriptResult, StatementResult, changes_cluster
from pgrehearse.rehearsal.cache import SnapshotCache
from pgrehearse.rehearsal.context import DATABASE, RunContext
from pgrehearse.rehearsal.migration_roles import create_migration_roles
from pgrehearse.rehearsal.progress import Progress, SilentProgress
from pgrehearse.rehearsal.provision import new_result, provision
from pgrehearse.rehearsal.result import Rehearsal
from pgrehearse.rehearsal.run import snapshot_cache
from pgrehearse.rehearsal.steps import (
    Fingerprint,
    MigrationFailed,
    PhaseRun,
    check_roundtrip,
    compares_data,
    dump_target,
    run_phase,
    set_migration_timeouts,
    statements_of,
    take_fingerprint,
)
from pgrehearse.roles import SessionRole
from pgrehearse.scenario import Scenario, SqlSource
from pgrehearse.tools import MigrationScript
from pgrehearse.verify import Difference

__all__ = ["MigrationFailed", "MigrationRunner", "SeededDatabase", "SeededServer"]


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
        options: ServerOptions | None = None,
        *,
        progress: Progress | None = None,
        backend: Backend | None = None,
        cache: SnapshotCache | None = None,
    ) -> SeededServer:
        """Provision and seed a server for `scenario` (from the snapshot cache when it can),
        where `options` say."""
        options = options or ServerOptions()
        progress = progress or SilentProgress()
        result = new_result(scenario, options.scale, needs_schema=True)
        ctx = RunContext(scenario, result, progress)
        if backend is None:
            backend = backend_for(options, scenario, progress=progress, run_id=result.run_id)
        server = provision(ctx, backend, cache or snapshot_cache(options.cache))
        try:
            create_migration_roles(ctx, server)  # production's, which the migration names
        except BaseException:
            server.close()
            raise
        return cls(scenario, server, result)

    @property
    def shareable(self) -> bool:
        """Whether tests may share this server: false when the migration changes roles,
        databases, tablespaces or server settings, which every copy would see."""
        sources = [self.scenario.migration.up_script, self.scenario.migration.down_script]
        return not any(
            changes_cluster(statement.sql)
            for source in sources
            if source is not None
            for statement in statements_of(source)
        )

    def database(self, name: str | None = None) -> SeededDatabase:
        """A new database holding a copy of the seeded data. `drop()` it when done."""
        name = name or f"pgrehearse_copy_{next(self._names)}"
        strategy = " STRATEGY = FILE_COPY" if self.server.major >= 15 else ""
        with psycopg.connect(
            **self.server.connect_kwargs("postgres", SessionRole.HARNESS.application_name()),
            autocommit=True,
        ) as admin:
            admin.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}" + strategy).format(
                    sql.Identifier(self.server.database_name(name)),
                    sql.Identifier(self.server.database_name(DATABASE)),
                )
            )
        return SeededDatabase(self, name)

    def keep(self) -> dict[str, str] | None:
        """Leave the server running for debugging (see `LocalServer.keep`); None when the
        backend cannot, and then the server is closed."""
        if not self.server.capabilities.keep:
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

    def connect_kwargs(
        self, application_name: str = SessionRole.TEST.application_name()
    ) -> dict[str, Any]:
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
            **self.seeded.server.connect_kwargs("postgres", SessionRole.HARNESS.application_name()),
            autocommit=True,
        ) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(self.seeded.server.database_name(self.name))
                )
            )
        self.dropped = True


class MigrationRunner:
    """Runs the scenario's up and down scripts one call at a time, with the scenario's
    timeouts and retries, exactly as a rehearsal runs them (without load or observation).

    With `fingerprint`, the schema (and data, when the scenario's round-trip mode compares
    data) is fingerprinted before the first `up()`, so `roundtrip()` can tell what `down()`
    failed to restore.
    """

    def __init__(self, database: SeededDatabase, *, fingerprint: bool = True) -> None:
        self.database = database
        self.fingerprint = fingerprint
        self.clock = Clock()
        self.results: dict[str, PhaseRun] = {}
        self._before: Fingerprint | None = None

    @property
    def statements(self) -> list[StatementResult]:
        """Every statement run so far, attempts that hit lock_timeout included."""
        return [s for result in self.results.values() for s in result.statements]

    def up(self, *, check: bool = True) -> ScriptResult:
        """Run the up script. Raises `MigrationFailed` on an error unless `check` is false."""
        if self.fingerprint and self._before is None:
            self._before = self._fingerprint(compares_data(self.database.scenario.roundtrip))
        return self._run("up", self.database.scenario.migration.up_script, check)

    def down(self, *, check: bool = True) -> ScriptResult:
        """Run the down script (a scenario without one raises `ValueError`)."""
        source = self.database.scenario.migration.down_script
        if source is None:
            reason = self.database.scenario.migration.no_down_reason
            raise ValueError(f"scenario {self.database.scenario.name!r}: {reason}")
        return self._run("down", source, check)

    def roundtrip(self) -> list[Difference]:
        """What differs now from before `up()` and fails the scenario's round-trip mode
        (its `roundtrip.ignore` entries left out). Empty when down restored everything."""
        if self._before is None:
            raise RuntimeError("roundtrip() needs up() to have run with fingerprint=True")
        after = self._fingerprint(self._before.data is not None)
        return check_roundtrip(self.database.scenario.roundtrip, self._before, after).failing

    def _fingerprint(self, data: bool) -> Fingerprint:
        with self.database.connect(application_name=SessionRole.HARNESS.application_name()) as conn:
            return take_fingerprint(
                conn, data=data, dump=dump_target(self.database.seeded.server, self.database.name)
            )

    def _run(self, phase: str, source: SqlSource | MigrationScript, check: bool) -> ScriptResult:
        migration = self.database.scenario.migration
        with self.database.connect(
            application_name=SessionRole.MIGRATION.application_name()
        ) as conn:
            set_migration_timeouts(conn, migration)
            ran = run_phase(conn, phase, statements_of(source), migration, self.clock)
        self.results[phase] = ran
        if check and ran.last.error is not None:
            raise MigrationFailed(ran.last.error)
        return ran.last
