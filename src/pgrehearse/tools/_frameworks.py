"""Migration folders whose migrations are code: which framework wrote them, and how to
rehearse them anyway. Only their framework can run them, so the error that no SQL tool
reads the folder says what to write instead of `dir:`. Pure logic over the folder's files."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_HEAD_CHARACTERS = 4000
_FILES_READ = 20


@dataclass(frozen=True)
class Framework:
    name: str
    suffixes: tuple[str, ...]
    mark: re.Pattern[str]  # found near the top of one of its migrations
    up: str
    down: str


_SCRIPTS = (".js", ".cjs", ".mjs", ".ts")
# the more specific marks first: a TypeORM migration may mention knex in a comment,
# node-pg-migrate's, db-migrate's and Kysely's `up` is Knex's too, Phinx's class is an
# `AbstractMigration` as Doctrine's, and Yii's and CodeIgniter's `extends Migration` as
# Laravel's
FRAMEWORKS = (
    Framework(
        "Rails",
        (".rb",),
        re.compile(r"ActiveRecord::(Migration|Schema)"),
        "bin/rails db:migrate",
        "bin/rails db:rollback",
    ),
    Framework(
        "Phinx",
        (".php",),
        re.compile(r"Phinx\\Migration"),
        "vendor/bin/phinx migrate",
        "vendor/bin/phinx rollback",
    ),
    Framework(
        "Yii",
        (".php",),
        re.compile(r"yii\\db\\Migration"),
        "./yii migrate --interactive=0",
        "./yii migrate/down 1 --interactive=0",
    ),
    Framework(
        "CodeIgniter",
        (".php",),
        re.compile(r"CodeIgniter\\Database\\Migration"),
        "php spark migrate",
        "php spark migrate:rollback",
    ),
    Framework(
        "Doctrine",
        (".php",),
        re.compile(r"Doctrine\\Migrations|AbstractMigration"),
        "php bin/console doctrine:migrations:migrate --no-interaction",
        "php bin/console doctrine:migrations:migrate prev --no-interaction",
    ),
    Framework(
        "Laravel",
        (".php",),
        re.compile(r"Illuminate\\Database|extends Migration"),
        "php artisan migrate --force",
        "php artisan migrate:rollback --force",
    ),
    Framework(
        "Sequel",
        (".rb",),
        re.compile(r"Sequel\.migration"),
        "sequel -m <the migrations folder> $DATABASE_URL",
        "sequel -m <the migrations folder> -M <the version before> $DATABASE_URL",
    ),
    Framework(
        "Ecto",
        (".exs", ".ex"),
        re.compile(r"Ecto\.Migration"),
        "mix ecto.migrate",
        "mix ecto.rollback",
    ),
    Framework(
        "TypeORM",
        _SCRIPTS,
        re.compile(r"MigrationInterface"),
        "npx typeorm migration:run -d <your data source>",
        "npx typeorm migration:revert -d <your data source>",
    ),
    Framework(
        "MikroORM",
        _SCRIPTS,
        re.compile(r"@mikro-orm/migrations"),
        "npx mikro-orm migration:up",
        "npx mikro-orm migration:down",
    ),
    Framework(
        "Sequelize",
        _SCRIPTS,
        re.compile(r"queryInterface"),
        "npx sequelize-cli db:migrate",
        "npx sequelize-cli db:migrate:undo",
    ),
    Framework(
        "node-pg-migrate",
        _SCRIPTS,
        re.compile(r"node-pg-migrate|\bpgm\.\w+\("),
        "npx node-pg-migrate up 1",
        "npx node-pg-migrate down 1",
    ),
    Framework(
        "db-migrate",
        _SCRIPTS,
        re.compile(r"\bdbmigrate\b|exports\._meta\b"),
        "npx db-migrate up -c 1",
        "npx db-migrate down -c 1",
    ),
    Framework(
        "Kysely",
        _SCRIPTS,
        re.compile(r"\bKysely\b"),
        "<your script calling migrator.migrateUp()>",
        "<your script calling migrator.migrateDown()>",
    ),
    Framework(
        "Knex",
        _SCRIPTS,
        re.compile(r"\bknex\b|exports\.up\b|export (async )?function up\b"),
        "npx knex migrate:latest",
        "npx knex migrate:rollback",
    ),
    Framework(
        "FluentMigrator",
        (".cs",),
        re.compile(r"\bFluentMigrator\b"),
        'dotnet fm migrate -p postgres -c "$DATABASE_URL" -a <your assembly>',
        'dotnet fm rollback -p postgres -c "$DATABASE_URL" -a <your assembly>',
    ),
    Framework(
        "SeaORM",
        (".rs",),
        re.compile(r"\bMigrationTrait\b|sea_orm_migration"),
        "sea-orm-cli migrate up -n 1",
        "sea-orm-cli migrate down -n 1",
    ),
    Framework(
        "goose (Go)",
        (".go",),
        re.compile(r"\bgoose\.Add(Named)?Migration"),
        "<your goose binary> up",
        "<your goose binary> down",
    ),
    Framework(
        "Liquibase",
        (".xml", ".yaml", ".yml", ".json"),
        re.compile(r"databaseChangeLog"),
        "liquibase update",
        "liquibase rollback-count --count=1",
    ),
    Framework(
        "Entity Framework Core",
        (".cs",),
        re.compile(r"MigrationBuilder"),
        "dotnet ef database update",
        "dotnet ef database update <the migration before>",
    ),
)
_ALEMBIC = re.compile(r"^down_revision\b", re.MULTILINE)
_DJANGO = re.compile(r"migrations\.Migration\b")


def code_migrations_hint(folder: Path) -> str | None:
    """What to write instead of `dir:` when `folder` holds migrations that are code; None
    when it holds none that this knows."""
    files = sorted(p for p in folder.iterdir() if p.is_file())
    python = _heads(f for f in files if f.suffix == ".py")
    if any(_ALEMBIC.search(head) for head in python):
        project = _up_to(folder, "alembic.ini")
        return (
            "it holds Alembic revisions, which Alembic runs itself: use "
            f"`migration: {{tool: alembic, dir: {project or '<the folder holding alembic.ini>'}}}`"
        )
    if any(_DJANGO.search(head) for head in python):
        project = _up_to(folder, "manage.py")
        return (
            "it holds Django migrations, which Django runs itself: use "
            f"`migration: {{tool: django, dir: {project or '<the folder holding manage.py>'}}}`"
        )
    for framework in FRAMEWORKS:
        heads = _heads(f for f in files if f.suffix in framework.suffixes)
        if any(framework.mark.search(head) for head in heads):
            return (
                f"it holds {framework.name} migrations, which only {framework.name} runs: "
                f"use `migration: {{command: {{up: {framework.up}, down: {framework.down}, "
                "cwd: <your app's folder>}}` (DATABASE_URL and PG* name the throwaway "
                "database), or give the schema they make as `schema:` (a pg_dump of it)"
            )
    return None


def _heads(files: Iterable[Path]) -> list[str]:
    heads = []
    for path in list(files)[:_FILES_READ]:
        try:
            with path.open(encoding="utf-8", errors="replace") as handle:
                heads.append(handle.read(_HEAD_CHARACTERS))
        except OSError:
            continue
    return heads


def _up_to(folder: Path, marker: str) -> Path | None:
    """The nearest of `folder` and the two above it that holds `marker`, in full."""
    here = folder.resolve()
    for candidate in (here, *list(here.parents)[:2]):
        if (candidate / marker).is_file():
            return candidate
    return None
