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
# node-pg-migrate's and db-migrate's `exports.up` is Knex's too, and Laravel's and
# Doctrine's are both PHP
FRAMEWORKS = (
    Framework(
        "Rails",
        (".rb",),
        re.compile(r"ActiveRecord::(Migration|Schema)"),
        "bin/rails db:migrate",
        "bin/rails db:rollback",
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
        "Knex",
        _SCRIPTS,
        re.compile(r"\bknex\b|exports\.up\b|export (async )?function up\b"),
        "npx knex migrate:latest",
        "npx knex migrate:rollback",
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
