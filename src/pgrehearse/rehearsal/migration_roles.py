"""Roles a migration names that the throwaway server lacks. Production has them: a
`GRANT SELECT ON audit TO reporting` there works, and here it would fail for a reason
production never meets. On a server of pgrehearse's own they are made (NOLOGIN) before the
migration runs; on another server (`--dsn`) the migration meets what that server has."""

from __future__ import annotations

from psycopg import sql

from pgrehearse.backends import Server
from pgrehearse.rehearsal.context import DATABASE, RunContext, connect
from pgrehearse.rehearsal.steps import statements_of
from pgrehearse.roles import SessionRole
from pgrehearse.schema import role_created, roles_named


def create_migration_roles(ctx: RunContext, server: Server) -> list[str]:
    """The roles the migration's up and down name, not create, and the server lacks,
    created NOLOGIN on a server of our own; the ones created."""
    migration = ctx.scenario.migration
    if migration.runs_itself or not server.capabilities.own_cluster:
        return []
    scripts = [migration.up_script, migration.down_script, migration.between]
    statements = [s.sql for script in scripts if script is not None for s in statements_of(script)]
    created = {role for sql_text in statements if (role := role_created(sql_text)) is not None}
    with connect(server, DATABASE, SessionRole.HARNESS) as conn:
        existing = {row[0] for row in conn.execute("SELECT rolname FROM pg_roles")}
        missing = [r for r in roles_named(statements) if r not in existing | created]
        for role in missing:
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
        conn.commit()
    if missing:
        ctx.progress.note(
            "created the roles the migration names, as production has them (NOLOGIN): "
            + ", ".join(missing)
        )
    return missing
