"""Readers of the SQL migrations of Node's tools (node-pg-migrate, postgrator, db-migrate)
and of Play's evolutions. Their files are numbered like ups-only files, so each is told
apart by its own marks (`detect_node_or_play`) before a folder is taken for `sql-files`,
which would run a file's down right after its up."""

from __future__ import annotations

import re
from pathlib import Path

from pgrehearse.tools._migrations import (
    Folder,
    FolderError,
    Migration,
    Script,
    paired,
    read_text,
    sql_files_in,
    version_key,
)

# node-pg-migrate's own test for its sections (`-- Up Migration`, `-- Down Migration`)
_NODE_PG_MIGRATE_MARK = re.compile(r"^\s*--[\s-]*(up|down)\s+migration", re.IGNORECASE)
_NODE_PG_MIGRATE_FILE = re.compile(r"^(\d+)[_-]?(.*)\.sql$")
_POSTGRATOR_FILE = re.compile(r"^(\d+)\.(do|undo)(?:\.(.*))?\.sql$", re.IGNORECASE)
_DB_MIGRATE_FILE = re.compile(r"^(\d+)-(.+)-(up|down)\.sql$")
_PLAY_MARK = re.compile(r"^\s*(?:#|--).*!(Ups|Downs)\b")
_PLAY_FILE = re.compile(r"^(\d+)\.sql$")
_SCRIPT_SUFFIXES = (".js", ".cjs", ".mjs", ".ts")


def node_pg_migrate(folder: Path) -> Folder:
    """node-pg-migrate's SQL migrations: `<timestamp>_<name>.sql`, the up after
    `-- Up Migration` (or the whole file without it) and the down after
    `-- Down Migration`; each runs in a transaction, as node-pg-migrate runs them."""
    _refuse_scripts_beside(
        folder, "node-pg-migrate", "npx node-pg-migrate up 1", "npx node-pg-migrate down 1"
    )
    migrations = []
    for path in sql_files_in(folder):
        match = _NODE_PG_MIGRATE_FILE.match(path.name)
        if match is None:
            continue
        lines = read_text(path).split("\n")
        marks: dict[str, int] = {}
        for index, line in enumerate(lines):
            mark = _NODE_PG_MIGRATE_MARK.match(line)
            if mark is not None:
                marks.setdefault(mark[1].lower(), index)
        up_at, down_at = marks.get("up"), marks.get("down")
        up_end = down_at if down_at is not None and (up_at is None or down_at > up_at) else None
        up_start = 0 if up_at is None else up_at
        up = _lines_as_script(lines, path, up_start, up_end)
        down = None
        if down_at is not None:
            down_end = up_at if up_at is not None and up_at > down_at else None
            down = _lines_as_script(lines, path, down_at, down_end)
        migrations.append(Migration(match[1], match[2], up, down))
    return Folder("node-pg-migrate", sorted(migrations, key=lambda m: version_key(m.version)))


def postgrator(folder: Path) -> Folder:
    """postgrator: `<version>.do[.<name>].sql` up and `<version>.undo[.<name>].sql` down,
    each file sent as one query (so in one transaction, as PostgreSQL runs a query of
    several statements)."""
    _refuse_scripts_beside(
        folder, "postgrator", "npx postgrator <next version>", "npx postgrator <version before>"
    )
    files = (
        (p, m[1], m[3] or "", "up" if m[2].lower() == "do" else "down")
        for p in sql_files_in(folder)
        if (m := _POSTGRATOR_FILE.match(p.name))
    )
    return Folder("postgrator", paired(files))


def db_migrate(folder: Path) -> Folder:
    """db-migrate's SQL files, `sqls/<timestamp>-<name>-up.sql` and `-down.sql` (the
    JavaScript beside them only reads these); `dir` may name the folder of the .js files or
    its `sqls` folder."""
    files = (
        (p, m[1], m[2], m[3])
        for p in _db_migrate_files(folder)
        if (m := _DB_MIGRATE_FILE.match(p.name))
    )
    return Folder("db-migrate", paired(files))


def _db_migrate_files(folder: Path) -> list[Path]:
    sqls = folder / "sqls"
    return sql_files_in(sqls) if sqls.is_dir() else sql_files_in(folder)


def play(folder: Path) -> Folder:
    """Play's evolutions: `1.sql`, `2.sql`, … each with `# --- !Ups` and `# --- !Downs`
    (or `--` marks); what comes before the first mark is left out, and `;;` is Play's
    escape for a `;` inside a statement. Play runs them with autocommit (its default,
    `play.evolutions.autocommit = true`): each statement outside a transaction."""
    migrations = []
    for path in sql_files_in(folder):
        match = _PLAY_FILE.match(path.name)
        if match is None:
            continue
        lines = read_text(path).replace(";;", "; ").split("\n")  # same length: lines stay
        marks = [(i, m[1].lower()) for i, line in enumerate(lines) if (m := _PLAY_MARK.match(line))]
        sections: dict[str, Script] = {}
        for n, (start, kind) in enumerate(marks):
            end = marks[n + 1][0] if n + 1 < len(marks) else None
            sections[kind] = _lines_as_script(lines, path, start + 1, end, transactional=False)
        if "ups" not in sections:
            raise FolderError(f"{path}: no `# --- !Ups` line (Play's evolutions have one)")
        migrations.append(Migration(match[1], "", sections["ups"], sections.get("downs")))
    return Folder("play", sorted(migrations, key=lambda m: version_key(m.version)))


def detect_node_or_play(folder: Path, heads: list[str]) -> str | None:
    """The tool among these that wrote `folder` (`heads`: the start of its first .sql
    files), or None."""
    names = [p.name for p in sql_files_in(folder)]
    if any(_POSTGRATOR_FILE.match(n) for n in names):
        return "postgrator"
    if any(_DB_MIGRATE_FILE.match(p.name) for p in _db_migrate_files(folder)):
        return "db-migrate"
    lines = [line for head in heads for line in head.split("\n")]
    if any(_PLAY_MARK.match(line) for line in lines):
        return "play"
    if any(_NODE_PG_MIGRATE_MARK.match(line) for line in lines):
        return "node-pg-migrate"
    return None


def _lines_as_script(
    lines: list[str], path: Path, start: int, end: int | None, *, transactional: bool = True
) -> Script:
    """Lines `start` up to `end` (0-based, end excluded; None: to the end) as a script
    located at its first line."""
    return Script("\n".join(lines[start:end]), path, start + 1, transactional)


def _refuse_scripts_beside(folder: Path, tool: str, up: str, down: str) -> None:
    """A folder that mixes SQL migrations with scripts only the tool runs cannot be
    rehearsed from its SQL alone: the chain would miss steps."""
    scripts = sorted(p.name for p in folder.iterdir() if p.suffix in _SCRIPT_SUFFIXES)
    if not scripts:
        return
    raise FolderError(
        f"{folder}: besides SQL it holds {tool} migrations in JavaScript ({', '.join(scripts[:3])}"
        f"{', …' if len(scripts) > 3 else ''}), which only {tool} runs: use `migration: "
        f"{{command: {{up: {up}, down: {down}, cwd: <your app's folder>}}}}` "
        "(DATABASE_URL and PG* name the throwaway database)"
    )
