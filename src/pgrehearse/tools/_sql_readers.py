"""More tools' folders of SQL files: sql-migrate, tern, yoyo, Liquibase's formatted SQL,
MyBatis Migrations, rambler, shmig, and numbered files that are ups only (Supabase, Atlas,
sqlx, graphile-migrate, DbUp)."""

from __future__ import annotations

import re
from pathlib import Path

from pgrehearse.tools._migrations import (
    Folder,
    FolderError,
    Migration,
    Script,
    read_text,
    replace_placeholders,
    sql_files_in,
    version_key,
)

SQL_MIGRATE_MARK = re.compile(r"^\s*--\s*\+migrate\s+(\w+)(.*)$", re.IGNORECASE)
NUMBERED = re.compile(r"^(?:Script)?(\d+)(?:\s*[_\-.]\s*(.*))?\.sql$")  # DbUp: Script0001 - …


def sql_migrate(folder: Path) -> Folder:
    """rubenv/sql-migrate: any `*.sql` with `-- +migrate Up` / `-- +migrate Down`
    (`notransaction` after either runs it outside a transaction; `StatementBegin`/`End`
    dropped), in the order of their numeric prefix, else of their names."""
    migrations = []
    for path in sql_files_in(folder):
        text = read_text(path)
        sections: dict[str, Script] = {}
        current: str | None = None
        body: list[str] = []
        start, transactional = 1, True
        for number, line in enumerate(text.split("\n"), start=1):
            mark = SQL_MIGRATE_MARK.match(line)
            word = mark[1].lower() if mark else ""
            if word in ("up", "down"):
                if current is not None:
                    sections[current] = Script("\n".join(body), path, start, transactional)
                current, body, start = word, [], number + 1
                transactional = "notransaction" not in (mark[2] if mark else "").lower()
                continue
            body.append("" if mark else line)  # StatementBegin/End: keep the line count
        if current is not None:
            sections[current] = Script("\n".join(body), path, start, transactional)
        if "up" not in sections:
            raise FolderError(f"{path}: no `-- +migrate Up` section")
        version, name = _numbered(path)
        migrations.append(Migration(version, name, sections["up"], sections.get("down")))
    return Folder("sql-migrate", sorted(migrations, key=lambda m: version_key(m.version)))


def _numbered(path: Path) -> tuple[str, str]:
    """`(version, name)` of `0012_add_x.sql`, `20240101.add_x.sql` or `add_x.sql`."""
    match = NUMBERED.match(path.name)
    if match:
        return match[1], match[2] or ""
    return path.stem, ""


TERN_SPLIT = re.compile(r"^-{4}\s*create above\s*/\s*drop below\s*-{4}\s*$", re.IGNORECASE)


_TERN_NO_TX = re.compile(r"^-{4}\s*tern:\s*disable-tx\s*-{4}\s*$", re.IGNORECASE | re.MULTILINE)


def tern(folder: Path) -> Folder:
    """jackc/tern: `<number>_<name>.sql`, the up above the line
    `---- create above / drop below ----` and the down below it (`---- tern: disable-tx ----`
    runs it outside a transaction)."""
    migrations = []
    for path in sql_files_in(folder):
        match = NUMBERED.match(path.name)
        if match is None:
            continue
        text = read_text(path)
        transactional = _TERN_NO_TX.search(text) is None
        lines = text.split("\n")
        split = next((i for i, line in enumerate(lines) if TERN_SPLIT.match(line)), None)
        up_lines = lines if split is None else lines[:split]
        up = Script("\n".join(up_lines), path, 1, transactional)
        down = (
            None
            if split is None
            else Script("\n".join(lines[split + 1 :]), path, split + 2, transactional)
        )
        migrations.append(Migration(match[1], match[2] or "", up, down))
    return Folder("tern", sorted(migrations, key=lambda m: version_key(m.version)))


_YOYO_NO_TX = re.compile(r"^--\s*transactional:\s*false\s*$", re.IGNORECASE | re.MULTILINE)


def yoyo(folder: Path) -> Folder:
    """yoyo-migrations: `<id>[_.]<name>.sql`, its down in `<same>.rollback.sql`, applied in
    the order of their names (`-- depends:` headers are comments to the server;
    `-- transactional: false` runs it outside a transaction)."""
    migrations = []
    for path in sql_files_in(folder):
        if path.name.endswith(".rollback.sql"):
            continue
        rollback = path.with_name(path.name.removesuffix(".sql") + ".rollback.sql")
        version, name = _numbered(path)
        text = read_text(path)
        transactional = _YOYO_NO_TX.search(text) is None
        migrations.append(
            Migration(
                version,
                name,
                Script(text, path, 1, transactional),
                Script(read_text(rollback), rollback, 1, transactional)
                if rollback.is_file()
                else None,
            )
        )
    return Folder("yoyo", sorted(migrations, key=lambda m: version_key(m.version)))


_ATLAS_NO_TX = re.compile(r"^--\s*atlas:txmode\s+none\s*$", re.IGNORECASE | re.MULTILINE)


def sql_files(folder: Path) -> Folder:
    """Numbered or timestamped `.sql` files that are ups only (Supabase's
    `supabase/migrations`, Atlas, sqlx without `.down.sql`, graphile-migrate's
    `committed/`): no downs, so the down and the round trip are skipped, saying why
    (Atlas's `-- atlas:txmode none` runs one outside a transaction)."""
    migrations = []
    for path in sql_files_in(folder):
        if NUMBERED.match(path.name) is None:
            continue
        version, name = _numbered(path)
        text = read_text(path)
        transactional = _ATLAS_NO_TX.search(text) is None
        migrations.append(Migration(version, name, Script(text, path, 1, transactional), None))
    return Folder("sql-files", sorted(migrations, key=lambda m: version_key(m.version)))


LIQUIBASE_HEADER = re.compile(r"^\s*--\s*liquibase\s+formatted\s+sql\b", re.IGNORECASE)
_CHANGESET = re.compile(r"^\s*--\s*changeset\s+(\S+?):(\S+)(.*)$", re.IGNORECASE)
_ROLLBACK = re.compile(r"^\s*--\s*rollback\b ?(.*)$", re.IGNORECASE)
_NO_ROLLBACK = {"not required", "empty"}


def liquibase(folder: Path) -> Folder:
    """Liquibase's formatted SQL: files starting `--liquibase formatted sql` (in the order
    of their paths), each `--changeset author:id` a migration up to the next one, its
    `--rollback …` lines its down (`not required` and `empty`: nothing to undo; none at
    all: no down, as Liquibase cannot invert SQL), and
    `runInTransaction:false` run outside a transaction. Other `--` directives stay
    comments to the server."""
    migrations: list[Migration] = []
    for path in sorted(p for p in folder.rglob("*.sql") if p.is_file()):
        lines = read_text(path).split("\n")
        if not lines or not LIQUIBASE_HEADER.match(lines[0]):
            continue
        heads = [(i, m) for i, line in enumerate(lines) if (m := _CHANGESET.match(line))]
        for n, (start, mark) in enumerate(heads):
            end = heads[n + 1][0] if n + 1 < len(heads) else len(lines)
            transactional = "runintransaction:false" not in mark[3].replace(" ", "").lower()
            body, rollback, undoable = [], [], False
            for line in lines[start + 1 : end]:
                undo = _ROLLBACK.match(line)
                if undo is None:
                    body.append(line)
                    continue
                body.append("")  # keep the line count
                undoable = True
                if undo[1].strip().lower() not in _NO_ROLLBACK:
                    rollback.append(undo[1])
            up = Script("\n".join(body), path, start + 2, transactional)
            # SQL without a rollback has none: Liquibase cannot invert raw SQL either
            down = Script("\n".join(rollback), path, start + 2, transactional) if undoable else None
            migrations.append(Migration(f"{mark[1]}:{mark[2]}", "", up, down))
    return Folder("liquibase", migrations)


MYBATIS_UNDO = re.compile(r"^\s*--\s*//\s*@UNDO\b", re.IGNORECASE)
_MYBATIS_PROPERTY = re.compile(r"^\s*([^#!=:\s][^=:\s]*)\s*[=:]\s*(.*)$")


def mybatis(folder: Path) -> Folder:
    """MyBatis Migrations: `<timestamp>_<name>.sql` in `scripts/` (`dir` may name the
    project or `scripts`), the up above `-- //@UNDO` and the down below it; `${changelog}`
    and the other `${…}` replaced from `environments/development.properties`, as
    `migrate up` does (`changelog` is `CHANGELOG` unless set)."""
    scripts = folder / "scripts" if (folder / "scripts").is_dir() else folder
    properties = {"changelog": "CHANGELOG"}
    for candidate in (scripts.parent, scripts):
        path = candidate / "environments" / "development.properties"
        if path.is_file():
            for line in read_text(path).splitlines():
                match = _MYBATIS_PROPERTY.match(line)
                if match is not None:
                    properties[match[1]] = match[2].strip()
    migrations = []
    for path in sql_files_in(scripts):
        match = NUMBERED.match(path.name)
        if match is None:
            continue
        text = replace_placeholders(read_text(path), path, properties, _mybatis_where_to_set)
        lines = text.split("\n")
        split = next((i for i, line in enumerate(lines) if MYBATIS_UNDO.match(line)), None)
        up = Script("\n".join(lines if split is None else lines[:split]), path)
        down = None if split is None else Script("\n".join(lines[split + 1 :]), path, split + 2)
        migrations.append(Migration(match[1], match[2] or "", up, down))
    return Folder("mybatis", sorted(migrations, key=lambda m: version_key(m.version)))


def _mybatis_where_to_set(name: str) -> str:
    return f"`{name}=…` in environments/development.properties beside scripts/"


# a section mark of each of these tools: (tool, its mark, the mark's direction group)
SECTION_MARKS = {
    "rambler": re.compile(r"^\s*--\s*rambler\s+(up|down)\s*$", re.IGNORECASE),
    "shmig": re.compile(r"^\s*--\s*=+\s*(UP|DOWN)\s*=+\s*$", re.IGNORECASE),
}


def rambler(folder: Path) -> Folder:
    """rambler: numbered `.sql` files whose `-- rambler up` sections are the up and
    `-- rambler down` sections the down (several of each are joined in order)."""
    return _sectioned(folder, "rambler")


def shmig(folder: Path) -> Folder:
    """shmig: `<timestamp>-<name>.sql` with `-- ==== UP ====` and `-- ==== DOWN ====`."""
    return _sectioned(folder, "shmig")


def _sectioned(folder: Path, tool: str) -> Folder:
    """Numbered files cut into up and down at the tool's marks; lines of the other
    direction are blanked, so each direction keeps the file's line numbers."""
    mark = SECTION_MARKS[tool]
    migrations = []
    for path in sql_files_in(folder):
        if NUMBERED.match(path.name) is None:
            continue
        lines = read_text(path).split("\n")
        kept: dict[str, list[str]] = {"up": [], "down": []}
        current: str | None = None
        for line in lines:
            found = mark.match(line)
            if found is not None:
                current = found[1].lower()
            for direction, body in kept.items():
                body.append(line if direction == current and found is None else "")
        if not any(kept["up"]):
            raise FolderError(f"{path}: no up section (`{_example_mark(tool)}`)")
        version, name = _numbered(path)
        down = Script("\n".join(kept["down"]), path) if any(kept["down"]) else None
        migrations.append(Migration(version, name, Script("\n".join(kept["up"]), path), down))
    return Folder(tool, sorted(migrations, key=lambda m: version_key(m.version)))


def _example_mark(tool: str) -> str:
    return "-- rambler up" if tool == "rambler" else "-- ==== UP ===="
