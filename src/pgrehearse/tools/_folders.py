"""Migration folders as the teams' tools write them, read without the tools' binaries.

Each reader returns the migrations in order, each with its up (and down, when the tool has
one) as SQL text located in its file, and whether the tool runs it in a transaction.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from pgrehearse.tools._flyway import FLYWAY_FILE, flyway
from pgrehearse.tools._frameworks import code_migrations_hint
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
from pgrehearse.tools._node_and_play import (
    db_migrate,
    detect_node_or_play,
    node_pg_migrate,
    play,
    postgrator,
)
from pgrehearse.tools._sqitch import sqitch
from pgrehearse.tools._sql_readers import (
    LIQUIBASE_HEADER,
    MYBATIS_UNDO,
    NUMBERED,
    SECTION_MARKS,
    SQL_MIGRATE_MARK,
    TERN_SPLIT,
    liquibase,
    mybatis,
    rambler,
    shmig,
    sql_files,
    sql_migrate,
    tern,
    yoyo,
)
from pgrehearse.tools._transactions import with_tool_transactions

# --------------------------------------------------------------------------- readers

_GOLANG_MIGRATE = re.compile(r"^(\d+)_(.*)\.(up|down)\.sql$")


def golang_migrate(folder: Path) -> Folder:
    """`<version>_<name>.up.sql` and `<version>_<name>.down.sql`."""
    files = (
        (p, m[1], m[2], m[3]) for p in sql_files_in(folder) if (m := _GOLANG_MIGRATE.match(p.name))
    )
    return Folder("golang-migrate", paired(files))


_GOOSE_FILE = re.compile(r"^(\d+)_(.*)\.sql$")
_GOOSE_GO = re.compile(r"^\d+_.*(?<!_test)\.go$")
_GOOSE_MARK = re.compile(r"^\s*--\s*\+goose\s+(\w+(?:\s+\w+)?)", re.IGNORECASE)


def goose(folder: Path) -> Folder:
    """`<version>_<name>.sql` with `-- +goose Up` / `-- +goose Down` sections; a folder
    that also holds Go migrations is refused: only the project's goose binary runs them,
    and the chain would miss them."""
    code = sorted(p.name for p in folder.glob("*.go") if _GOOSE_GO.match(p.name))
    if code:
        raise FolderError(
            f"{folder}: besides SQL it holds goose migrations in Go ({', '.join(code[:3])}"
            f"{', …' if len(code) > 3 else ''}), which only your goose binary runs: use "
            "`migration: {command: {up: <your goose binary> up, down: <your goose binary> "
            "down, cwd: <your app's folder>}}` (DATABASE_URL and PG* name the throwaway database)"
        )
    migrations = []
    for path in sql_files_in(folder):
        match = _GOOSE_FILE.match(path.name)
        if not match:
            continue
        text = read_text(path)
        transactional = not re.search(r"--\s*\+goose\s+NO\s+TRANSACTION", text, re.IGNORECASE)
        sections = _sections(text, path, _goose_section, transactional)
        if "up" not in sections:
            raise FolderError(f"{path}: no `-- +goose Up` section")
        migrations.append(Migration(match[1], match[2], sections["up"], sections.get("down")))
    return Folder("goose", sorted(migrations, key=lambda m: version_key(m.version)))


def _goose_section(line: str) -> str | None:
    mark = _GOOSE_MARK.match(line)
    if mark is None:
        return None
    word = mark[1].lower()
    return {"up": "up", "down": "down"}.get(word, "marker")


_DBMATE_MARK = re.compile(r"^\s*--\s*migrate:(up|down)\b(.*)$", re.IGNORECASE)


def dbmate(folder: Path) -> Folder:
    """`<version>_<name>.sql` with `-- migrate:up` / `-- migrate:down`
    (`transaction:false` after either runs it outside a transaction)."""
    migrations = []
    for path in sql_files_in(folder):
        match = _GOOSE_FILE.match(path.name)
        if not match:
            continue
        text = read_text(path)
        sections: dict[str, Script] = {}
        current: str | None = None
        body: list[str] = []
        start = 1
        transactional = True
        lines = text.split("\n")
        for number, line in enumerate([*lines, "-- migrate:end"], start=1):
            mark = _DBMATE_MARK.match(line) or (line == "-- migrate:end" and number > len(lines))
            if mark:
                if current is not None:
                    sections[current] = Script("\n".join(body), path, start, transactional)
                if isinstance(mark, re.Match):
                    current = mark[1].lower()
                    transactional = "transaction:false" not in mark[2].replace(" ", "").lower()
                body, start = [], number + 1
                continue
            body.append(line)
        if "up" not in sections:
            raise FolderError(f"{path}: no `-- migrate:up` section")
        migrations.append(Migration(match[1], match[2], sections["up"], sections.get("down")))
    return Folder("dbmate", sorted(migrations, key=lambda m: version_key(m.version)))


def dirs(folder: Path) -> Folder:
    """`<id>_<name>/up.sql` and `<id>_<name>/down.sql`."""
    migrations = []
    for sub in sorted((p for p in folder.iterdir() if (p / "up.sql").is_file()), key=_dir_key):
        version, _, name = sub.name.partition("_")
        down = sub / "down.sql"
        migrations.append(
            Migration(
                version,
                name,
                Script(read_text(sub / "up.sql"), sub / "up.sql"),
                Script(read_text(down), down) if down.is_file() else None,
            )
        )
    return Folder("dirs", migrations)


def prisma(folder: Path) -> Folder:
    """`<timestamp>_<name>/migration.sql`: up only, Prisma writes no down."""
    migrations = []
    subs = sorted((p for p in folder.iterdir() if (p / "migration.sql").is_file()), key=_dir_key)
    for sub in subs:
        version, _, name = sub.name.partition("_")
        path = sub / "migration.sql"
        migrations.append(Migration(version, name, Script(read_text(path), path), None))
    return Folder("prisma", migrations)


def _dir_key(path: Path) -> tuple[tuple[int, int | str], ...]:
    return version_key(path.name.partition("_")[0])


def _sections(
    text: str, path: Path, section_of: Callable[[str], str | None], transactional: bool
) -> dict[str, Script]:
    """Split a file at its section markers, keeping each section's first line."""
    sections: dict[str, Script] = {}
    current: str | None = None
    body: list[str] = []
    start = 1
    lines = text.split("\n")
    for number, line in enumerate(lines, start=1):
        section = section_of(line)
        if section in ("up", "down"):
            if current is not None:
                sections[current] = Script("\n".join(body), path, start, transactional)
            current, body, start = section, [], number + 1
            continue
        body.append("" if section == "marker" else line)  # keep the line count
    if current is not None:
        sections[current] = Script("\n".join(body), path, start, transactional)
    return sections


_POPX = re.compile(
    r"^(\d+)_(.+?)(?:\.(postgres|cockroach|mysql|sqlite3?))?(\.autocommit)?\.(up|down)\.sql$"
)


def popx(folder: Path) -> Folder:
    """Ory's popx: `<version>_<name>[.<dialect>][.autocommit].<up|down>.sql`; a
    `.postgres.` file replaces the generic one, `.autocommit` runs outside a transaction,
    other dialects are left out, empty files do nothing."""
    chosen: dict[tuple[str, str], tuple[bool, Path, bool]] = {}  # (version, dir) -> …
    names: dict[str, str] = {}
    for path in sql_files_in(folder):
        match = _POPX.match(path.name)
        if match is None:
            continue
        version, name, dialect, autocommit, direction = match.groups()
        if dialect not in (None, "postgres"):
            continue
        key = (version, direction)
        specific = dialect == "postgres"
        if key not in chosen or (specific and not chosen[key][0]):
            chosen[key] = (specific, path, autocommit is None)
            names[version] = name
    migrations = []
    for version in sorted({v for v, _ in chosen}, key=version_key):
        if (version, "up") not in chosen:
            raise FolderError(f"{folder}: version {version} has a down file but no up file")
        _, up, up_tx = chosen[(version, "up")]
        down = chosen.get((version, "down"))
        migrations.append(
            Migration(
                version,
                names[version],
                Script(read_text(up), up, 1, up_tx),
                Script(read_text(down[1]), down[1], 1, down[2]) if down else None,
            )
        )
    return Folder("popx", migrations)


READERS: dict[str, Callable[[Path], Folder]] = {
    "golang-migrate": golang_migrate,
    "goose": goose,
    "dbmate": dbmate,
    "flyway": flyway,
    "dirs": dirs,
    "prisma": prisma,
    "popx": popx,
    "sqitch": sqitch,
    "sql-migrate": sql_migrate,
    "tern": tern,
    "yoyo": yoyo,
    "liquibase": liquibase,
    "node-pg-migrate": node_pg_migrate,
    "postgrator": postgrator,
    "db-migrate": db_migrate,
    "play": play,
    "mybatis": mybatis,
    "rambler": rambler,
    "shmig": shmig,
    "sql-files": sql_files,
}


def detect(folder: Path) -> str:
    """Which tool wrote `folder`, from what it holds."""
    found = _detected(folder)
    if found is not None:
        return found
    code = code_migrations_hint(folder)
    if code is not None:
        raise FolderError(f"{folder}: no SQL migration tool wrote this folder: {code}")
    below = _migrations_below(folder)
    if below:
        raise FolderError(
            f"{folder}: no migrations in it, but one level down: "
            + "; ".join(f"`dir: {sub}` ({tool})" for sub, tool in below)
            + " (Hasura, for one, keeps a folder per database)"
        )
    raise FolderError(
        f"{folder}: cannot tell which migration tool wrote it; name one with `tool:` "
        f"({', '.join(READERS)})"
    )


def _detected(folder: Path) -> str | None:
    subs = [p for p in folder.iterdir() if p.is_dir()]
    if (folder / "sqitch.plan").is_file():
        return "sqitch"
    if any((p / "migration.sql").is_file() for p in subs):
        return "prisma"
    if any((p / "up.sql").is_file() for p in subs):
        return "dirs"
    files = sql_files_in(folder)
    names = [p.name for p in files]
    if any(_POPX.match(n) and (".postgres." in n or ".autocommit." in n) for n in names):
        return "popx"
    if any(_GOLANG_MIGRATE.match(n) for n in names):
        return "golang-migrate"
    if any(FLYWAY_FILE.match(n) for n in names) or any(
        FLYWAY_FILE.match(p.name) for p in folder.rglob("V*__*.sql")
    ):
        return "flyway"
    heads = [read_text(p)[:4000] for p in files[:20]]
    if any(LIQUIBASE_HEADER.match(h) for h in heads) or any(
        LIQUIBASE_HEADER.match(read_text(p)[:200]) for p in folder.rglob("*.sql")
    ):
        return "liquibase"
    if any("+goose" in h for h in heads):
        return "goose"
    if any("migrate:up" in h for h in heads):
        return "dbmate"
    if any(SQL_MIGRATE_MARK.search(line) for h in heads for line in h.split("\n")):
        return "sql-migrate"
    if (folder / "scripts").is_dir() and (folder / "environments").is_dir():
        return "mybatis"  # a MyBatis Migrations project
    if any(MYBATIS_UNDO.match(line) for h in _texts(files) for line in h.split("\n")):
        return "mybatis"
    for tool, mark in SECTION_MARKS.items():
        if any(mark.match(line) for h in heads for line in h.split("\n")):
            return tool
    node_or_play = detect_node_or_play(folder, heads)
    if node_or_play is not None:
        return node_or_play
    if any(TERN_SPLIT.match(line) for h in _texts(files) for line in h.split("\n")):
        return "tern"
    if any(n.endswith(".rollback.sql") for n in names):
        return "yoyo"
    if files and all(NUMBERED.match(n) for n in names):
        return "sql-files"
    return None


def _migrations_below(folder: Path) -> list[tuple[Path, str]]:
    """The folders right under `folder` that a tool wrote, with the tool."""
    below = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            tool = _detected(sub)
        except (OSError, FolderError):
            continue
        if tool is not None:
            below.append((sub, tool))
    return below


def _texts(files: list[Path]) -> list[str]:
    return [read_text(p) for p in files[:20]]


def read_folder(folder: Path, tool: str = "auto") -> Folder:
    if not folder.is_dir():
        raise FolderError(f"migration folder not found: {folder}")
    name = detect(folder) if tool == "auto" else tool
    found = READERS[name](folder)
    if not found.migrations:
        raise FolderError(f"{folder}: no {name} migrations in it")
    return with_tool_transactions(found)
