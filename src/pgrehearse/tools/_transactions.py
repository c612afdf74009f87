"""How each tool wraps a migration in a transaction, so that a statement that cannot run in
one (`CREATE INDEX CONCURRENTLY`, `VACUUM`, `ALTER TYPE … ADD VALUE` before 12) fails in
the rehearsal as it fails in production, with what to write instead.

Tools that wrap each migration in `BEGIN`/`COMMIT` unless it carries their mark keep every
statement in it; tools that send the file as one query keep it only when the file holds more
than one statement (PostgreSQL runs such a query as one transaction). The others (Flyway,
which takes such a migration out of its transaction itself; psql-run sqitch; Play, in
autocommit; those whose behaviour is not pinned down here) are left as pgrehearse runs any
script: such a statement alone."""

from __future__ import annotations

import dataclasses

from pgrehearse.tools._migrations import Folder, Migration, Script

# tool -> (what to write so the tool runs the migration outside a transaction, one query)
_WRAPPED: dict[str, tuple[str, bool]] = {
    "goose": ("goose runs this migration in a transaction: add `-- +goose NO TRANSACTION`", False),
    "dbmate": (
        "dbmate runs this migration in a transaction: write `-- migrate:up transaction:false`",
        False,
    ),
    "sql-migrate": (
        "sql-migrate runs this migration in a transaction: write `-- +migrate Up notransaction`",
        False,
    ),
    "tern": ("tern runs this migration in a transaction: add `---- tern: disable-tx ----`", False),
    "yoyo": ("yoyo runs this migration in a transaction: add `-- transactional: false`", False),
    "popx": (
        "popx runs this migration in a transaction: name its file `….autocommit.up.sql`",
        False,
    ),
    "liquibase": (
        "Liquibase runs this changeset in a transaction: add `runInTransaction:false` to it",
        False,
    ),
    "node-pg-migrate": (
        "node-pg-migrate runs SQL migrations in a transaction: write this one in JavaScript, "
        "calling pgm.noTransaction()",
        False,
    ),
    "golang-migrate": (
        "golang-migrate sends the file as one query, which PostgreSQL runs as one "
        "transaction: give this statement a migration of its own",
        True,
    ),
    "postgrator": (
        "postgrator sends the file as one query, which PostgreSQL runs as one transaction: "
        "give this statement a migration of its own",
        True,
    ),
}


def with_tool_transactions(folder: Folder) -> Folder:
    """`folder` with each script marked as its tool wraps it (see the module's docstring)."""
    wrapped = _WRAPPED.get(folder.tool)
    if wrapped is None:
        return folder
    hint, one_query = wrapped

    def marked(script: Script | None) -> Script | None:
        if script is None or not script.transactional:
            return script
        return dataclasses.replace(script, kept_in_transaction=hint, one_query=one_query)

    migrations: list[Migration] = []
    for migration in folder.migrations:
        up = marked(migration.up)
        assert up is not None
        migrations.append(dataclasses.replace(migration, up=up, down=marked(migration.down)))
    return dataclasses.replace(folder, migrations=migrations)
