"""Provision: a running server holding the seeded database, rehearsal settings on.

From the snapshot cache when an entry fits; otherwise the schema is applied to a scratch
database, split with pg_dump/pg_restore into pre-data, data and post-data, the tables are
seeded between the two halves, and the result is saved to the cache for the next run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import math
import os
import secrets
import shutil

from psycopg import errors as pg_errors
from psycopg import sql

from pgrehearse.backends import Backend, Server
from pgrehearse.backends.settings import rehearsal_settings, seed_settings
from pgrehearse.backends.workdir import create_workdir, temp_root
from pgrehearse.errors import EnvironmentProblem, Problem, ScenarioError
from pgrehearse.observe import STATEMENT_LOG_SETTINGS
from pgrehearse.rehearsal.cache import SnapshotCache, snapshot_key
from pgrehearse.rehearsal.context import (
    DATABASE,
    SCHEMA_DATABASE,
    RunContext,
    connect,
    death_of,
)
from pgrehearse.rehearsal.fidelity import match_index_sizes
from pgrehearse.rehearsal.result import CacheUse, Rehearsal
from pgrehearse.rehearsal.schema_apply import create_schema
from pgrehearse.rehearsal.snapshots import save_snapshot, start_from_cache
from pgrehearse.rehearsal.tool_phase import run_baseline
from pgrehearse.rehearsal.views import refresh_materialized_views
from pgrehearse.roles import SessionRole
from pgrehearse.scenario import Scenario
from pgrehearse.seed import (
    RestoreError,
    SchemaDump,
    SeedError,
    preflight,
    seed_tables,
)
from pgrehearse.seed import plan as plan_seed

NOT_NULL_VIOLATION = pg_errors.NotNullViolation.sqlstate
# SQLSTATE classes 53 (insufficient resources: disk full, out of memory) and 58 (system error)
RESOURCE_CLASSES = ("53", "58")


def new_run_id() -> str:
    now = dt.datetime.now(dt.UTC)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)


def new_result(
    scenario: Scenario, scale: float | None, run_id: str | None = None, *, needs_schema: bool
) -> Rehearsal:
    """An empty result for `scenario`, once the checks that need no server passed: the
    scale, the schema (unless in clone mode) and what seeding would ask for."""
    effective_scale = scenario.data.scale if scale is None else scale
    if not (math.isfinite(effective_scale) and effective_scale > 0):
        raise ScenarioError(
            [Problem(f"scale must be a finite number above 0, not {effective_scale}")]
        )
    if needs_schema:
        require_schema(scenario)
    try:
        preflight(scenario.data, effective_scale)
    except SeedError as exc:
        raise seed_problem(scenario, exc) from None
    return Rehearsal(
        run_id=run_id or new_run_id(),
        scenario_name=scenario.name,
        scenario_file=scenario.path,
        started_at=dt.datetime.now(dt.UTC),
        seed=scenario.data.seed,
        scale=effective_scale,
    )


def require_schema(scenario: Scenario) -> None:
    """A scenario without `schema` can only rehearse on an existing clone, or with a tool
    that builds the schema itself: refuse otherwise."""
    if scenario.schema_sql is None and not scenario.migration.runs_itself:
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


def seed_problem(scenario: Scenario, exc: SeedError) -> ScenarioError:
    """A seeding error (and every other found with it) as invalid input, each pointing at its
    table or column in the scenario."""
    return ScenarioError([_seed_problem(scenario, e) for e in [exc, *exc.more]])


def _seed_problem(scenario: Scenario, exc: SeedError) -> Problem:
    keys = ["data", "tables", exc.table] + (["columns", exc.column] if exc.column else [])
    hint = exc.hint
    if hint is None and exc.sqlstate == NOT_NULL_VIOLATION:
        hint = f"give column {exc.column!r} a generator under data.tables.{exc.table}.columns"
    return Problem(
        f"seeding table {exc.table!r}"
        + (f", column {exc.column!r}" if exc.column else "")
        + f": {exc}",
        file=scenario.path,
        line=scenario.line_of(*keys),
        hint=hint,
    )


def provision(ctx: RunContext, backend: Backend, cache: SnapshotCache | None) -> Server:
    """A running server holding the seeded database `DATABASE`, rehearsal settings on."""
    scenario = ctx.scenario
    seed_profile = seed_settings(scenario.postgres.settings)
    rehearsal_profile = rehearsal_settings(scenario.postgres.settings)
    if scenario.migration.runs_itself:  # its statements are read back from the server's log
        rehearsal_profile = {**rehearsal_profile, **STATEMENT_LOG_SETTINGS}
    ctx.result.settings = {"seed": seed_profile, "rehearsal": rehearsal_profile}

    cache_key: str | None = None
    if cache is not None and backend.capabilities.snapshot and backend.major is not None:
        cache_key = snapshot_key(scenario, scale=ctx.result.scale, major=backend.major)
        ctx.result.cache = CacheUse(cache_key)
    with contextlib.ExitStack() as building:
        server: Server | None = None
        if cache is not None and cache_key is not None:
            server = start_from_cache(ctx, backend, cache, cache_key, rehearsal_profile)
            if server is None:
                # seed it, unless another run is seeding the same entry: then wait and use it
                building.enter_context(cache.building(cache_key, lambda: _waiting(ctx)))
                server = start_from_cache(ctx, backend, cache, cache_key, rehearsal_profile)
        if server is not None:
            _announce(ctx, backend, server)
            return server
        with ctx.phase("provision", f"starting a throwaway PostgreSQL ({backend.name})"):
            server = backend.start(seed_profile)
            ctx.started_server = True
        _announce(ctx, backend, server)
        ctx.server = server
        try:
            if server.capabilities.preloaded:
                database = server.database_name(DATABASE)
                ctx.progress.note(
                    f"clone mode: rehearsing in the existing database {database!r}, which the "
                    "migration and the load WILL change"
                )
                for name in ("schema", "seed", "post_data"):
                    ctx.skip(name, f"clone mode: {database} already holds the data")
            else:
                _build(ctx, server)
                if cache is not None and cache_key is not None:
                    save_snapshot(ctx, server, cache, cache_key)
                with ctx.phase("restart", "restarting with production-like durability settings"):
                    server.restart(rehearsal_profile)
        except BaseException as exc:
            death = death_of(server, exc)
            server.close()
            if death is not None:
                raise death from None
            raise
        return server


def _waiting(ctx: RunContext) -> None:
    ctx.progress.note("another run is seeding the same data: waiting to use its snapshot")


def _announce(ctx: RunContext, backend: Backend, server: Server) -> None:
    if backend.swept:
        ctx.progress.note(f"removed {len(backend.swept)} server folder(s) left by killed runs")
    try:
        ctx.result.server = server.describe()
    except BaseException:
        server.close()
        raise
    ctx.progress.note(f"PostgreSQL {server.version} on port {ctx.result.server['port']}")


def _build(ctx: RunContext, server: Server) -> None:
    """Schema, seeded rows, then indexes and constraints, then statistics."""
    with connect(server, "postgres", SessionRole.HARNESS) as admin:
        admin.autocommit = True
        for logical in (SCHEMA_DATABASE, DATABASE):
            admin.execute(
                sql.SQL("CREATE DATABASE {}").format(sql.Identifier(server.database_name(logical)))
            )
    scratch = create_workdir(temp_root(), None, kind="dump")
    try:
        dump = SchemaDump(
            scratch / "schema.dump",
            server.client_program("pg_dump"),
            server.client_program("pg_restore"),
            server.client_env("postgres"),
        )
        with ctx.phase("schema", "creating the schema (tables now, indexes after seeding)"):
            if ctx.scenario.schema_sql is not None:
                with connect(server, SCHEMA_DATABASE, SessionRole.HARNESS) as conn:
                    create_schema(ctx, conn, server, ctx.scenario.schema_sql)
            chain = ctx.scenario.migration.chain
            if chain is not None and chain.runs_itself and chain.baseline:
                run_baseline(ctx, server, chain, SCHEMA_DATABASE)
            for step in ("dump", "pre-data", "data"):
                _restore(ctx, dump, step, server)
        _seed(ctx, server)
        with ctx.phase("post_data", "building indexes, constraints and triggers"):
            _restore(ctx, dump, "post-data", server)
            with connect(server, DATABASE, SessionRole.HARNESS) as conn:
                conn.autocommit = True
                refresh_materialized_views(ctx, conn)
                match_index_sizes(ctx, conn)
                conn.execute("ANALYZE")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    with connect(server, "postgres", SessionRole.HARNESS) as admin:
        admin.autocommit = True
        admin.execute(
            sql.SQL("DROP DATABASE {}").format(
                sql.Identifier(server.database_name(SCHEMA_DATABASE))
            )
        )


def _restore(ctx: RunContext, dump: SchemaDump, step: str, server: Server) -> None:
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
                        file=ctx.scenario.path,
                        line=ctx.scenario.line_of("data", "tables"),
                        hint="give the columns named above generators that honour the "
                        "constraint (unique: true, a ref, a choice of allowed values)",
                    )
                ]
            ) from None
        raise EnvironmentProblem(f"{step} of the schema failed:\n{exc}") from None


def _seed(ctx: RunContext, server: Server) -> None:
    data = ctx.scenario.data
    planned: dict[str, int] = {}
    try:
        with connect(server, SCHEMA_DATABASE, SessionRole.HARNESS) as conn:
            plans = plan_seed(conn, data, ctx.result.scale)
        planned = {p.name: p.rows for p in plans}
        total = sum(planned.values())
        with (
            ctx.phase("seed", f"seeding {len(plans)} tables ({total:,} rows)"),
            connect(server, DATABASE, SessionRole.SEED) as conn,
        ):
            ctx.result.tables = seed_tables(
                conn,
                plans,
                seed=data.seed,
                progress=ctx.progress,
                connect=functools.partial(connect, server, DATABASE, SessionRole.SEED),
            )
    except SeedError as exc:
        if exc.sqlstate is not None and exc.sqlstate.startswith(RESOURCE_CLASSES):
            raise _out_of_resources(server, exc, planned.get(exc.table)) from None
        raise seed_problem(ctx.scenario, exc) from None


# a heap tuple's header (23 bytes, aligned to 24) and its line pointer (4 bytes)
_TUPLE_OVERHEAD = 28


def _out_of_resources(server: Server, exc: SeedError, rows: int | None) -> EnvironmentProblem:
    """The server ran out of disk (or memory) while seeding: the machine, not the input."""
    folder = server.data_folder()
    where = ""
    if folder is not None:
        free = shutil.disk_usage(folder).free
        where = f"\nthe server's data is in {folder} ({free / 1e9:,.2f} GB free there)"
    if rows and exc.row_bytes:
        needed = rows * (exc.row_bytes + _TUPLE_OVERHEAD)
        where += (
            f"\nspace needed: about {needed / 1e9:,.2f} GB for the {rows:,} rows of "
            f"{exc.table!r} alone (~{exc.row_bytes + _TUPLE_OVERHEAD:.0f} bytes a row), more "
            "for its indexes, the other tables and the snapshot cache"
        )
    return EnvironmentProblem(
        f"seeding table {exc.table!r}: {exc} (SQLSTATE {exc.sqlstate}){where}\n"
        "fix: free space there, point PGREHEARSE_TMPDIR at a bigger disk, or lower --scale"
    )
