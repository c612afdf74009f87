"""The schema applied to a server of the rehearsal's, as one script, from the forms teams
have it in: plain SQL and pg_dump output (a newer pg_dump's settings left out), pg_dump
archives through the server's own pg_restore, the roles a dump names created first, and
C functions whose library the server lacks stubbed."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from pgrehearse.backends import Server
from pgrehearse.errors import Problem, ScenarioError
from pgrehearse.migration import ScriptResult, Statement, run_script, split_statements
from pgrehearse.rehearsal.context import RunContext
from pgrehearse.scenario import SchemaSource
from pgrehearse.schema import (
    NOT_CONTRIB,
    ArchiveUnreadable,
    CFunction,
    archive_sql,
    c_function,
    dumped_from_major,
    extension_for,
    extension_not_installed,
    forgotten_extension_hint,
    missing_extension_schema,
    outside_objects_hint,
    plain_sql,
    role_created,
    roles_named,
    tablespace_named,
    unknown_setting,
)


def create_schema(ctx: RunContext, conn: Any, server: Server, source: SchemaSource) -> None:
    """Apply every part of the schema in order, as one script: plain pg_dump output made fit
    for a driver, archives through the server's own pg_restore, the roles the schema names
    created first (NOLOGIN) on a server of our own."""
    statements: list[Statement] = []
    notes: list[str] = []
    dumped_from: list[int] = []
    for part in source.parts:
        name = part.origin.name if part.origin is not None else "schema"
        text = part.text
        if part.archive is not None:
            assert part.origin is not None
            try:
                text = archive_sql(
                    server.client_program("pg_restore"), server.client_env("postgres"), part.origin
                )
            except ArchiveUnreadable as exc:
                raise ScenarioError(
                    [
                        Problem(
                            f"pg_restore cannot read the {part.archive} archive "
                            f"{part.origin}: {exc}",
                            file=ctx.scenario.path,
                            line=ctx.scenario.line_of("schema"),
                            hint="dump with the pg_dump of PostgreSQL "
                            f"{server.major} or older, or give plain SQL (pg_dump "
                            "--schema-only --format=plain)",
                        )
                    ]
                ) from None
            notes.append(f"{name}: {part.archive} archive read with pg_restore {server.major}")
        plain = plain_sql(text)
        notes += plain.notes(name)
        dumped_from += filter(None, [dumped_from_major(text)])
        # the lines of SQL pg_restore made are not the archive's: point at the archive
        statements += split_statements(
            plain.text,
            file=part.origin,
            first_line=part.first_line if part.archive is None else 1,
            variables=part.variables,
        )
    ctx.result.schema_input = {"roles_created": _create_roles(ctx, conn, server, statements)}
    notes += _leave_out_unknown_settings(conn, server, statements)
    notes += _stub_missing_c_functions(ctx, conn, server, statements)
    if notes:
        ctx.result.schema_input["notes"] = notes
    for note in notes:
        ctx.progress.note(note)
    script = _run_creating_extensions(ctx, conn, server, statements)
    failed = script.error
    if failed is not None and failed.error is not None:
        missing = extension_not_installed(failed.sql, failed.error.message)
        if missing is not None:
            raise ScenarioError(
                [
                    Problem(
                        f"the schema needs the extension {missing!r}, which the PostgreSQL "
                        f"{server.major} binaries in use do not have ({failed.error.message})",
                        file=failed.file,
                        line=failed.line,
                        hint=f"install it for PostgreSQL {server.major} and point --pg-bin "
                        "at those binaries; or use a Docker image that has it (--backend "
                        "docker, PGREHEARSE_DOCKER_IMAGE); or rehearse on a server that has "
                        "it (--dsn)",
                    )
                ]
            )
        raise ScenarioError(
            [
                Problem(
                    f"the schema does not apply: {failed.error.message}"
                    + (f"\n{failed.error.detail}" if failed.error.detail else ""),
                    file=failed.file,
                    line=failed.error.line or failed.line,
                    hint=forgotten_extension_hint(failed.error.message)
                    or outside_objects_hint(
                        failed.error.message, in_migrations=_in_baseline(ctx, failed.file)
                    )
                    or failed.error.hint
                    or _newer_dump_hint(dumped_from, server.major),
                )
            ]
        )


_MOST_CREATED = 8


def _in_baseline(ctx: RunContext, file: Path | None) -> bool:
    """Whether `file` is one of the baseline migrations of the scenario's tool folder."""
    chain = ctx.scenario.migration.chain
    return chain is not None and file in {m.up.file for m in chain.baseline}


def _run_creating_extensions(
    ctx: RunContext, conn: Any, server: Server, statements: list[Statement]
) -> ScriptResult:
    """The schema's script, in one transaction. On a server of our own, what production
    has and the schema takes for granted is created first, and the script run again: a
    contrib extension it uses but does not create (a `pg_dump -n public` leaves the
    extensions out), and the schema a `CREATE EXTENSION … WITH SCHEMA` names."""
    schemas: list[str] = []
    extensions: list[str] = []
    while True:
        first = [
            *(f"CREATE SCHEMA IF NOT EXISTS {_quoted(name)}" for name in schemas),
            *(f"CREATE EXTENSION IF NOT EXISTS {_quoted(name)} CASCADE" for name in extensions),
        ]
        script = run_script(
            conn,
            [*(Statement(0, text, None, 0) for text in first), *statements],
            phase="schema",
            mode="file",
            clock=ctx.clock,
            file_per_transaction=False,  # a retry must find none of its files applied
        )
        failed = script.error
        if failed is None or failed.error is None or failed.index == 0:
            break
        if not server.capabilities.own_cluster or len(first) >= _MOST_CREATED:
            break
        schema = missing_extension_schema(failed.sql, failed.error.message)
        extension = extension_for(failed.error.message)
        if schema is not None and schema not in schemas:
            schemas.append(schema)
        elif extension is not None and extension not in NOT_CONTRIB + extensions:
            extensions.append(extension)
        else:
            break
    _say_created(ctx, "schemas", schemas, "the schema's CREATE EXTENSION … WITH SCHEMA names")
    _say_created(ctx, "extensions", extensions, "the schema uses but does not create")
    return script


def _say_created(ctx: RunContext, kind: str, names: list[str], why: str) -> None:
    if not names:
        return
    note = f"created the {kind} {why}, as production has them: {', '.join(names)}"
    ctx.progress.note(note)
    ctx.result.schema_input.setdefault("notes", []).append(note)
    ctx.result.schema_input[f"{kind}_created"] = names


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _newer_dump_hint(dumped_from: list[int], major: int) -> str:
    newer = max(dumped_from, default=0)
    if newer <= major:
        return "fix the schema SQL"
    return (
        f"the dump is of a PostgreSQL {newer} database and this server is {major}: "
        f"rehearse on {newer} (--pg-version {newer}, or postgres.version: {newer} in the "
        "scenario)"
    )


def _leave_out_unknown_settings(
    conn: Any, server: Server, statements: list[Statement]
) -> list[str]:
    """`SET`s of settings this server does not have (a newer pg_dump's `SET
    transaction_timeout = 0;` on PostgreSQL 16 or older) are left out: they only set the
    session up for the restore, and would stop it. So are the tablespaces of production's
    disks (`SET default_tablespace = fast_ssd;`, a pg_dumpall's `CREATE TABLESPACE`)."""
    known = {row[0] for row in conn.execute("SELECT name FROM pg_settings")}
    tablespaces = {row[0] for row in conn.execute("SELECT spcname FROM pg_tablespace")}
    conn.rollback()
    notes = []
    production_disks: list[str] = []
    for statement in list(statements):
        name = unknown_setting(statement.sql, known)
        if name is not None:
            statements.remove(statement)
            notes.append(
                f"SET {name} ({statement.file or 'schema'}:{statement.line}) left out: "
                f"PostgreSQL {server.major} has no such setting"
            )
        tablespace = tablespace_named(statement.sql)
        if tablespace is not None and tablespace not in tablespaces:
            statements.remove(statement)  # production's disks: objects go to the default
            production_disks.append(tablespace)
    if production_disks:
        notes.append(
            "tablespaces are production's disks, left out here (objects go to the default "
            "one): " + ", ".join(dict.fromkeys(production_disks))
        )
    return notes


def _stub_missing_c_functions(
    ctx: RunContext, conn: Any, server: Server, statements: list[Statement]
) -> list[str]:
    """C functions whose shared library this server cannot load are created as PL/pgSQL
    stubs that raise when called; one no stub can stand in for is a problem naming it."""
    notes = []
    for index, statement in enumerate(statements):
        found = c_function(statement.sql)
        if found is None or _loads(conn, found):
            continue
        if found.stub is None:
            raise ScenarioError(
                [
                    Problem(
                        f"the C function {found.name} needs the shared library "
                        f"{found.library!r}, which this server cannot load, and takes or "
                        "returns a type no stub can stand in for",
                        file=statement.file,
                        line=statement.line,
                        hint=f"install the library for PostgreSQL {server.major} and point "
                        "--pg-bin at those binaries; or use a Docker image that has it "
                        "(--backend docker, PGREHEARSE_DOCKER_IMAGE); or rehearse on a server "
                        "that has it (--dsn)",
                    )
                ]
            )
        statements[index] = dataclasses.replace(statement, sql=found.stub)
        notes.append(
            f"C function {found.name} ({statement.file or 'schema'}:{statement.line}) created "
            f"as a stub that raises when called: this server has no library {found.library}"
        )
    return notes


def _loads(conn: Any, function: CFunction) -> bool:
    """Whether the server can load `function`'s symbol from its library (a probe that is
    rolled back); True where the probe cannot tell (no right to create C functions)."""
    probe = sql.SQL(
        "CREATE FUNCTION pg_temp.pgrehearse_probe() RETURNS void LANGUAGE c AS {}, {}"
    ).format(sql.Literal(function.library), sql.Literal(function.symbol))
    try:
        with conn.transaction(force_rollback=True):
            conn.execute(probe)
    except (pg_errors.UndefinedFile, pg_errors.UndefinedFunction):
        return False
    except psycopg.Error:
        return True
    finally:
        conn.rollback()
    return True


def _create_roles(
    ctx: RunContext, conn: Any, server: Server, statements: list[Statement]
) -> list[str]:
    """Roles the schema names but does not create, and the server lacks: created NOLOGIN on
    a server of our own (they go with the snapshot); on someone else's server, a problem to
    fix first. A `CREATE ROLE` of the schema for a role the server already has (a
    pg_dumpall's `CREATE ROLE postgres`) is left out: it would only fail."""
    existing = {row[0] for row in conn.execute("SELECT rolname FROM pg_roles")}
    conn.rollback()
    creates = {s.sql: role for s in statements if (role := role_created(s.sql)) is not None}
    already = [s for s in statements if creates.get(s.sql) in existing]
    for statement in already:
        statements.remove(statement)
        ctx.progress.note(
            f"CREATE ROLE {creates[statement.sql]} ({statement.file or 'schema'}:"
            f"{statement.line}) left "
            "out: the server has that role"
        )
    named = roles_named(s.sql for s in statements)
    missing = [r for r in named if r not in existing and r not in creates.values()]
    if not missing:
        return []
    if not server.capabilities.own_cluster:
        raise ScenarioError(
            [
                Problem(
                    "the schema names roles this server does not have: " + ", ".join(missing),
                    file=ctx.scenario.path,
                    line=ctx.scenario.line_of("schema"),
                    hint="create them on the server first (CREATE ROLE … NOLOGIN), or dump "
                    "the schema with pg_dump --no-owner --no-privileges",
                )
            ]
        )
    for role in missing:
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
    conn.commit()
    ctx.progress.note("created the roles the schema names (NOLOGIN): " + ", ".join(missing))
    return missing
