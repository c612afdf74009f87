"""`pgrehearse init`: a first scenario folder that validates and runs as written.

From a production database (`--dsn`) it is a profile; from a schema file (SQL or any
pg_dump format) the schema is created on a throwaway server to find its tables and keys,
and every table gets the same number of rows, its columns inferred. Either way the
scenario gets a placeholder migration pair, a small read load on the primary keys of the
tables the pending migration names or the largest ones, and budgets a zero-downtime
migration should meet.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pgrehearse.errors import Problem
from pgrehearse.profile._load_choice import tables_to_load
from pgrehearse.profile._reference_data import reference_tables
from pgrehearse.profile._run import (
    HEADER_INIT,
    PLACEHOLDER_DOWN,
    PLACEHOLDER_UP,
    ProfileOutputError,
    profile_database,
    scenario_name,
    scenario_yaml,
)
from pgrehearse.seed import SCENARIO_NAME_SQL, quoted_name

_PRIMARY_KEYS = f"""
SELECT {SCENARIO_NAME_SQL.format("c.conrelid")}, a.attname
FROM pg_constraint c
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
JOIN pg_class t ON t.oid = c.conrelid
WHERE c.contype = 'p' AND cardinality(c.conkey) = 1 AND NOT t.relispartition
"""
_COLUMNS = """
SELECT a.attname FROM pg_attribute a
WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
"""
_TABLES = f"""
SELECT {SCENARIO_NAME_SQL.format("c.oid")} FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
ORDER BY 1
"""
LOADED_TABLES = 2
# tables in which migration tools and frameworks keep their own books: a few rows (those
# the schema file inserts), never production's size
BOOKKEEPING_TABLES = {
    "schema_migrations",  # Rails, golang-migrate, dbmate
    "ar_internal_metadata",  # Rails
    "django_migrations",
    "alembic_version",
    "flyway_schema_history",
    "schema_version",  # Flyway before 5
    "databasechangelog",  # Liquibase
    "databasechangeloglock",
    "knex_migrations",
    "knex_migrations_lock",
    "goose_db_version",
    "__efmigrationshistory",  # Entity Framework
    "sequelizemeta",
    "_prisma_migrations",
    "__diesel_schema_migrations",
    "_sqlx_migrations",
    "gorp_migrations",
    "pgmigrations",  # node-pg-migrate
    "doctrine_migration_versions",
    "atlas_schema_revisions",
    "_yoyo_migration",  # yoyo
    "_yoyo_log",
    "_yoyo_version",
    "yoyo_lock",
    "play_evolutions",  # Play
    "play_evolutions_lock",
    "changelog",  # MyBatis Migrations
    "schemaversion",  # postgrator
    "migrations",  # Laravel, db-migrate, TypeORM (the columns tell: see below)
    "typeorm_metadata",
    "mikro_orm_migrations",
    "kysely_migration",
    "kysely_migration_lock",
    "phinxlog",
    "seaql_migrations",
    "versioninfo",  # FluentMigrator
    "schemaversions",  # DbUp
}
# the generic names above are a tool's only with the columns it gives them (all of one set)
_BOOKS_SHAPED = {
    "migrations": [{"migration", "batch"}, {"timestamp", "name"}, {"name", "run_on"}],
    "changelog": [{"applied_at", "description"}],
}
# schemas migration tools keep their books in, whole
_BOOKKEEPING_SCHEMAS = {"sqitch", "hdb_catalog", "supabase_migrations", "graphile_migrate"}
BUDGETS = {"max_lock_ms": {"AccessExclusiveLock": 2000, "conflicting": 5000}, "max_wait_ms": 2000}


@dataclass
class InitResult:
    folder: Path
    tables: int
    loaded: list[str]  # tables the load reads by primary key
    source: str  # "profile of …" or "schema …"
    # what `pgrehearse plan` finds in the written scenario (a column of a type nothing
    # makes, a partition key over several columns): to settle before it runs
    problems: list[Problem] = field(default_factory=list)
    # tables the schema fills with reference rows, kept as they are (`rows: 0`)
    reference: list[str] = field(default_factory=list)


_HEADER_MIGRATIONS = """\
# Written by `pgrehearse init --migrations`: rows per table, a read load on the primary keys
# of the tables the last migration names (or the largest) and budgets a zero-downtime
# migration should meet. The migrations up to `from` are the schema the data is seeded on;
# the ones after it are rehearsed. Then: pgrehearse run <this folder>
"""


def init_scenario(
    out_dir: str | Path,
    *,
    dsn: str | None = None,
    schema: str | Path | None = None,
    rows: int = 10_000,
    scale: float = 1.0,
    force: bool = False,
    migrations: str | Path | None = None,
    tool: str = "auto",
) -> InitResult:
    """Write a scenario folder from `dsn` (profiled), `schema` (a file or pg_dump output)
    or a tool's `migrations` folder (its last migration rehearsed over the ones before it,
    after `schema` if given too): rows, a migration, a read load and budgets."""
    folder = Path(out_dir)
    if dsn is not None and (schema is not None or migrations is not None):
        raise ProfileOutputError(
            [Problem("give --dsn alone, or --schema and/or --migrations (not with --dsn)")]
        )
    if dsn is None and schema is None and migrations is None:
        raise ProfileOutputError(
            [Problem("give either --dsn, --schema or --migrations (where to start from)")]
        )
    if (folder / "scenario.yaml").exists() and not force:
        raise ProfileOutputError(
            [
                Problem(
                    "already holds a scenario.yaml",
                    file=folder / "scenario.yaml",
                    hint="init a new folder, or pass --force to replace its files",
                )
            ]
        )
    with _undone_on_failure(folder):
        return _write_scenario(folder, dsn, schema, rows, scale, force, (migrations, tool))


@contextlib.contextmanager
def _undone_on_failure(folder: Path) -> Iterator[None]:
    """What init wrote is removed again if it fails (the folder too, when init made it):
    a half-written scenario would validate and mislead the next command."""
    before = set(folder.iterdir()) if folder.is_dir() else None
    try:
        yield
    except BaseException:
        if before is None:
            shutil.rmtree(folder, ignore_errors=True)
        elif folder.is_dir():
            for entry in set(folder.iterdir()) - before:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
        raise


def _write_scenario(
    folder: Path,
    dsn: str | None,
    schema: str | Path | None,
    rows: int,
    scale: float,
    force: bool,
    migrations: tuple[str | Path | None, str],
) -> InitResult:
    folder_of_migrations, tool = migrations
    reference: list[str] = []
    if dsn is not None:
        profile_database(dsn, folder, scale=scale, force=force)
        scenario = yaml.safe_load((folder / "scenario.yaml").read_text())
        keys, columns = _keys_from_profile(dsn)
        source = "a profile of the database"
    else:
        chain, pending_sql = None, ""
        if folder_of_migrations is not None:
            chain, pending_sql = _migration_of(
                folder, Path(folder_of_migrations), tool, schema is not None
            )
        given = None if schema is None else Path(schema)
        scenario, keys, columns, loaded, reference = _from_schema(
            folder, given, (chain, pending_sql), rows, scale
        )
        source = _sources(given, chain)
    if dsn is not None:
        by_size = sorted(
            (t for t in scenario["data"]["tables"] if t in keys),
            key=lambda t: -int(scenario["data"]["tables"][t]["rows"]),
        )
        tables = scenario["data"]["tables"]
        loaded = [t for t in by_size if tables[t]["rows"] > 0][:LOADED_TABLES]
    if loaded:
        scenario["load"] = _load(loaded, keys, columns)
    scenario["budgets"] = BUDGETS
    if "dir" in scenario["migration"]:
        (folder / "scenario.yaml").write_text(_HEADER_MIGRATIONS + scenario_yaml(scenario))
    else:
        (folder / "scenario.yaml").write_text(HEADER_INIT + scenario_yaml(scenario))
        for file, text in (("up.sql", PLACEHOLDER_UP), ("down.sql", PLACEHOLDER_DOWN)):
            if not (folder / file).exists():
                (folder / file).write_text(text)
    problems = _plan_problems(folder / "scenario.yaml")
    return InitResult(folder, len(scenario["data"]["tables"]), loaded, source, problems, reference)


def _plan_problems(path: Path) -> list[Problem]:
    """What `pgrehearse plan` finds in the scenario just written (on a throwaway server of
    its own): the scenario stays, and its problems are told, for the user to settle."""
    from pgrehearse.errors import ScenarioError
    from pgrehearse.rehearsal.plan import plan_seeding
    from pgrehearse.scenario import load_scenario

    try:
        plan_seeding(load_scenario(path))
    except ScenarioError as exc:
        return list(exc.problems)
    return []


def _load(
    tables: Sequence[str], keys: dict[str, str], columns: dict[str, list[str]]
) -> dict[str, Any]:
    """Reads by primary key, naming the columns as an application does: `SELECT *` as a
    prepared statement fails once any column is added ("cached plan must not change result
    type"), which would make every migration look breaking."""
    return {
        "clients": 4,
        "warmup": "1s",
        "cooldown": "1s",
        "transactions": [
            {
                "name": "read_" + re.sub(r"[^A-Za-z0-9_-]+", "_", table)[:59],
                "sql": f"SELECT {', '.join(map(_identifier, columns[table]))} "
                f"FROM {'.'.join(map(_identifier, table.split('.')))} "
                f"WHERE {_identifier(keys[table])} = :key",
                "params": {"key": {"ref": f"{table}.{keys[table]}", "distribution": "zipf"}},
            }
            for table in tables
        ],
    }


def _identifier(name: str) -> str:
    from pglast import keywords

    if re.fullmatch(r"[a-z_][a-z0-9_]*", name) and name not in keywords.RESERVED_KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


def _bookkeeping(table: str, columns: Sequence[str] = ()) -> bool:
    """A table a migration tool keeps its books in, by its name (and, for a name as
    generic as `migrations`, its columns) or its schema."""
    schema, _, name = table.rpartition(".")
    name = name.lower()
    if schema.lower() in _BOOKKEEPING_SCHEMAS:
        return True
    if name not in BOOKKEEPING_TABLES:
        return False
    shapes = _BOOKS_SHAPED.get(name)
    has = {c.lower() for c in columns}
    return shapes is None or any(shape <= has for shape in shapes)


def _columns_of(conn: Any, tables: Sequence[str]) -> dict[str, list[str]]:
    return {
        t: [str(c) for (c,) in conn.execute(_COLUMNS, (quoted_name(t),)).fetchall()] for t in tables
    }


def _keys_from_profile(dsn: str) -> tuple[dict[str, str], dict[str, list[str]]]:
    import psycopg

    from pgrehearse.profile._read import begin_read_only

    with psycopg.connect(dsn, application_name="pgrehearse:init", connect_timeout=10) as conn:
        begin_read_only(conn)
        keys = {str(t): str(c) for t, c in conn.execute(_PRIMARY_KEYS).fetchall()}
        columns = _columns_of(conn, list(keys))
        conn.rollback()
    return keys, columns


def _migration_of(
    folder: Path, migrations: Path, tool: str, schema: bool
) -> tuple[dict[str, str], str]:
    """The scenario's `migration:` for a tool's folder: its last migration pending, those
    before it the baseline the data is seeded on (after the `schema`, if there is one);
    and the pending migration's SQL (empty where its tool runs it)."""
    from pgrehearse.tools import (
        PYTHON_TOOLS,
        READERS,
        FolderError,
        read_folder,
        read_python_tool,
    )

    tool = _python_project(migrations) if tool == "auto" else tool
    if tool != "auto" and tool not in READERS and tool not in PYTHON_TOOLS:
        raise ProfileOutputError(
            [
                Problem(
                    f"--migrations reads migration tools' folders and Alembic or Django "
                    f"projects, not {tool}'s",
                    hint=f"init from --schema, then write `migration: {{tool: {tool}, dir: "
                    "<your project>, from: <revision>}` in its scenario.yaml",
                )
            ]
        )
    try:
        if tool in PYTHON_TOOLS:  # listed by the tool itself, run by it before seeding
            found = read_python_tool(migrations.resolve(), tool)
        else:
            found = read_folder(migrations, tool)
    except FolderError as exc:
        hint = (
            f"give the {tool} project's folder (where alembic.ini or manage.py is), with its "
            "packages installed where pgrehearse runs"
            if tool in PYTHON_TOOLS
            else "give a folder of migrations and, if needed, --tool"
        )
        raise ProfileOutputError([Problem(str(exc), hint=hint)]) from None
    if len(found.migrations) < 2 and not schema:
        raise ProfileOutputError(
            [
                Problem(
                    f"{migrations}: one {found.tool} migration ({found.migrations[0].label}) "
                    "and no schema before it: there would be no table to seed",
                    hint="give the schema it runs on with --schema too",
                )
            ]
        )
    spec = {"dir": os.path.relpath(migrations.resolve(), folder.resolve())}
    if tool != "auto":
        spec["tool"] = tool  # a Python project's is always named: nothing detects it
    if len(found.migrations) > 1:
        spec["from"] = found.migrations[-2].version
    return spec, found.migrations[-1].up.text


def _python_project(folder: Path) -> str:
    """`alembic` or `django` for a project folder of theirs (its `alembic.ini` or
    `manage.py`); `auto` for anything else (the SQL tools' folders)."""
    if (folder / "alembic.ini").is_file():
        return "alembic"
    if (folder / "manage.py").is_file():
        return "django"
    return "auto"


def _from_schema(
    folder: Path,
    schema: Path | None,
    pending: tuple[dict[str, str] | None, str],
    rows: int,
    scale: float,
) -> tuple[dict[str, Any], dict[str, str], dict[str, list[str]], list[str], list[str]]:
    """Copy the schema into the folder (or point at the migrations), create it on a
    throwaway server and read its tables and primary keys there, and which of them the
    load reads."""
    from pgrehearse.rehearsal.context import SCHEMA_DATABASE, connect
    from pgrehearse.rehearsal.plan import schema_only
    from pgrehearse.roles import SessionRole
    from pgrehearse.scenario import load_scenario
    from pgrehearse.seed import rows_the_keys_allow

    migration, pending_sql = pending
    folder.mkdir(parents=True, exist_ok=True)
    scenario: dict[str, Any] = {
        "version": 1,
        "name": scenario_name(folder, "scenario"),
        "description": f"Written by pgrehearse init from {_sources(schema, migration)}.",
    }
    if schema is not None:
        scenario["schema"] = _copied_schema(folder, schema)
    scenario["data"] = {"seed": 0, "scale": scale, "tables": {}}
    scenario["migration"] = migration or {"up": "up.sql", "down": "down.sql"}
    if migration is None:
        for file, text in (("up.sql", PLACEHOLDER_UP), ("down.sql", PLACEHOLDER_DOWN)):
            if not (folder / file).exists():
                (folder / file).write_text(text)
    (folder / "scenario.yaml").write_text(scenario_yaml(scenario))
    loaded = load_scenario(folder / "scenario.yaml")
    with (
        schema_only(loaded) as (_ctx, server),
        connect(server, SCHEMA_DATABASE, SessionRole.HARNESS) as conn,
    ):
        tables = [str(t) for (t,) in conn.execute(_TABLES).fetchall()]
        keys = {str(t): str(c) for t, c in conn.execute(_PRIMARY_KEYS).fetchall()}
        columns = _columns_of(conn, list(keys))
        generic = [t for t in tables if t.rsplit(".", 1)[-1].lower() in _BOOKS_SHAPED]
        shapes = _columns_of(conn, generic)
        # a lookup table keyed by an enum or a short code gets the rows its key allows
        sized = rows_the_keys_allow(
            conn,
            {t: 0 if _bookkeeping(t, shapes.get(t, ())) else rows for t in tables},
        )
        reference = reference_tables(conn, [t for t in tables if sized[t] > 0])
        sized |= dict.fromkeys(reference, 0)
        load_tables = tables_to_load(conn, sized, keys, pending_sql, LOADED_TABLES)
    scenario["data"]["tables"] = {table: {"rows": sized[table]} for table in tables}
    return scenario, keys, columns, load_tables, reference


def _sources(schema: Path | None, migration: dict[str, str] | None) -> str:
    """What the scenario was written from, in words."""
    named = [f"the schema {schema.name}"] if schema is not None else []
    if migration is not None:
        named.append(f"the migrations in {migration['dir']}")
    return " and ".join(named)


def _copied_schema(folder: Path, schema: Path) -> str:
    """The schema copied into the scenario's folder; its name there."""
    if not schema.exists():
        raise ProfileOutputError(
            [Problem("no such file or folder", file=schema, hint="give the schema's path")]
        )
    target = folder / (schema.name if schema.name != "scenario.yaml" else "schema.sql")
    if schema.resolve() != target.resolve():
        if schema.is_dir():  # a pg_dump directory archive
            shutil.copytree(schema, target, dirs_exist_ok=True)
        else:
            shutil.copyfile(schema, target)
    return target.name
