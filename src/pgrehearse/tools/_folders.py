"""Migration folders as the teams' tools write them, read without the tools' binaries.

Each reader returns the migrations in order, each with its up (and down, when the tool has
one) as SQL text located in its file, and whether the tool runs it in a transaction.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ToolStep:
    """A migration step that a tool runs itself: Alembic or Django through their own API
    (`target`: the revision, or `[app, migration]`), or a shell command (`target`: the
    command line), in `cwd`. Its statements are captured from the server's log."""

    tool: str  # alembic | django | command
    target: str | tuple[str, str]
    cwd: Path
    settings: str | None = None  # Django's settings module


@dataclass(frozen=True)
class Script:
    """One direction of one migration: SQL text starting at `first_line` of `file`, or a
    step its tool runs (`step`, with empty `text`)."""

    text: str
    file: Path
    first_line: int = 1
    transactional: bool = True  # False: the tool runs it outside a transaction
    step: ToolStep | None = None
    verifies: bool = False  # a check run after its migration's up (sqitch's verify/)


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    up: Script
    down: Script | None
    notes: tuple[str, ...] = ()
    verify: Script | None = None  # runs right after up; its failure fails the migration

    @property
    def label(self) -> str:
        return f"{self.version}_{self.name}" if self.name else self.version


@dataclass
class Folder:
    tool: str
    migrations: list[Migration]
    notes: list[str] = field(default_factory=list)


class FolderError(ValueError):
    """The folder cannot be read as the tool's migrations (the message says why)."""


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Versions in their natural order: `2` before `10`, `1.2.9` before `1.10`."""
    parts = re.findall(r"\d+|[A-Za-z]+", version)
    return tuple((0, int(p)) if p.isdigit() else (1, p.lower()) for p in parts)


def _sql_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix == ".sql")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FolderError(f"cannot read {path}: {exc}") from exc


# --------------------------------------------------------------------------- readers

_GOLANG_MIGRATE = re.compile(r"^(\d+)_(.*)\.(up|down)\.sql$")


def golang_migrate(folder: Path) -> Folder:
    """`<version>_<name>.up.sql` and `<version>_<name>.down.sql`."""
    found: dict[str, dict[str, Path]] = {}
    names: dict[str, str] = {}
    for path in _sql_files(folder):
        match = _GOLANG_MIGRATE.match(path.name)
        if match:
            version, name, direction = match.groups()
            found.setdefault(version, {})[direction] = path
            names[version] = name
    migrations = []
    for version in sorted(found, key=version_key):
        files = found[version]
        if "up" not in files:
            raise FolderError(f"{folder}: version {version} has a down file but no up file")
        down = files.get("down")
        migrations.append(
            Migration(
                version,
                names[version],
                Script(_read(files["up"]), files["up"]),
                Script(_read(down), down) if down else None,
            )
        )
    return Folder("golang-migrate", migrations)


_GOOSE_FILE = re.compile(r"^(\d+)_(.*)\.sql$")
_GOOSE_MARK = re.compile(r"^\s*--\s*\+goose\s+(\w+(?:\s+\w+)?)", re.IGNORECASE)


def goose(folder: Path) -> Folder:
    """`<version>_<name>.sql` with `-- +goose Up` / `-- +goose Down` sections."""
    migrations = []
    for path in _sql_files(folder):
        match = _GOOSE_FILE.match(path.name)
        if not match:
            continue
        text = _read(path)
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
    for path in _sql_files(folder):
        match = _GOOSE_FILE.match(path.name)
        if not match:
            continue
        text = _read(path)
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


_FLYWAY = re.compile(r"^([VUR])([^_]*)__(.*)\.sql$")


def flyway(folder: Path) -> Folder:
    """Versioned `V<version>__<description>.sql`, undo `U<version>__<description>.sql`."""
    ups: dict[str, tuple[str, Path]] = {}
    undos: dict[str, Path] = {}
    notes = []
    for path in sorted(folder.rglob("*.sql")):
        match = _FLYWAY.match(path.name)
        if not match:
            continue
        kind, version, description = match.groups()
        if kind == "R":
            notes.append(f"{path.name}: repeatable migrations are not rehearsed (no down)")
        elif kind == "V":
            ups[version] = (description, path)
        else:
            undos[version] = path
    migrations = [
        Migration(
            version,
            ups[version][0],
            Script(_read(ups[version][1]), ups[version][1]),
            Script(_read(undos[version]), undos[version]) if version in undos else None,
        )
        for version in sorted(ups, key=version_key)
    ]
    return Folder("flyway", migrations, notes)


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
                Script(_read(sub / "up.sql"), sub / "up.sql"),
                Script(_read(down), down) if down.is_file() else None,
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
        migrations.append(Migration(version, name, Script(_read(path), path), None))
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
    for path in _sql_files(folder):
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
                Script(_read(up), up, 1, up_tx),
                Script(_read(down[1]), down[1], 1, down[2]) if down else None,
            )
        )
    return Folder("popx", migrations)


_SQITCH_CHANGE = re.compile(r"^([A-Za-z0-9_][^\s@:]*)\s")


def sqitch(folder: Path) -> Folder:
    """sqitch: the changes of `sqitch.plan` in its order, `deploy/<change>.sql` up,
    `revert/<change>.sql` down, and `verify/<change>.sql` run right after its deploy, as
    `sqitch deploy --verify` does: a verify script that fails fails its change."""
    plan = folder / "sqitch.plan"
    if not plan.is_file():
        raise FolderError(f"{folder}: no sqitch.plan in it")
    migrations = []
    for line in _read(plan).splitlines():
        match = _SQITCH_CHANGE.match(line.strip() + " ")
        if not line.strip() or line.startswith(("%", "#", "@")) or match is None:
            continue
        change = match[1]
        deploy = folder / "deploy" / f"{change}.sql"
        revert = folder / "revert" / f"{change}.sql"
        verify = folder / "verify" / f"{change}.sql"
        if not deploy.is_file():
            raise FolderError(f"{plan}: change {change!r} has no deploy/{change}.sql")
        migrations.append(
            Migration(
                change,
                "",
                Script(_read(deploy), deploy),
                Script(_read(revert), revert) if revert.is_file() else None,
                verify=Script(_read(verify), verify, verifies=True) if verify.is_file() else None,
            )
        )
    return Folder("sqitch", migrations)


_SQL_MIGRATE_MARK = re.compile(r"^\s*--\s*\+migrate\s+(\w+)(.*)$", re.IGNORECASE)
_NUMBERED = re.compile(r"^(\d+)(?:[_\-.](.*))?\.sql$")


def sql_migrate(folder: Path) -> Folder:
    """rubenv/sql-migrate: any `*.sql` with `-- +migrate Up` / `-- +migrate Down`
    (`notransaction` after either runs it outside a transaction; `StatementBegin`/`End`
    dropped), in the order of their numeric prefix, else of their names."""
    migrations = []
    for path in _sql_files(folder):
        text = _read(path)
        sections: dict[str, Script] = {}
        current: str | None = None
        body: list[str] = []
        start, transactional = 1, True
        for number, line in enumerate(text.split("\n"), start=1):
            mark = _SQL_MIGRATE_MARK.match(line)
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
    match = _NUMBERED.match(path.name)
    if match:
        return match[1], match[2] or ""
    return path.stem, ""


_TERN_SPLIT = re.compile(r"^-{4}\s*create above\s*/\s*drop below\s*-{4}\s*$", re.IGNORECASE)


_TERN_NO_TX = re.compile(r"^-{4}\s*tern:\s*disable-tx\s*-{4}\s*$", re.IGNORECASE | re.MULTILINE)


def tern(folder: Path) -> Folder:
    """jackc/tern: `<number>_<name>.sql`, the up above the line
    `---- create above / drop below ----` and the down below it (`---- tern: disable-tx ----`
    runs it outside a transaction)."""
    migrations = []
    for path in _sql_files(folder):
        match = _NUMBERED.match(path.name)
        if match is None:
            continue
        text = _read(path)
        transactional = _TERN_NO_TX.search(text) is None
        lines = text.split("\n")
        split = next((i for i, line in enumerate(lines) if _TERN_SPLIT.match(line)), None)
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
    for path in _sql_files(folder):
        if path.name.endswith(".rollback.sql"):
            continue
        rollback = path.with_name(path.name.removesuffix(".sql") + ".rollback.sql")
        version, name = _numbered(path)
        text = _read(path)
        transactional = _YOYO_NO_TX.search(text) is None
        migrations.append(
            Migration(
                version,
                name,
                Script(text, path, 1, transactional),
                Script(_read(rollback), rollback, 1, transactional) if rollback.is_file() else None,
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
    for path in _sql_files(folder):
        if _NUMBERED.match(path.name) is None:
            continue
        version, name = _numbered(path)
        text = _read(path)
        transactional = _ATLAS_NO_TX.search(text) is None
        migrations.append(Migration(version, name, Script(text, path, 1, transactional), None))
    return Folder("sql-files", sorted(migrations, key=lambda m: version_key(m.version)))


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
    "sql-files": sql_files,
}


def detect(folder: Path) -> str:
    """Which tool wrote `folder`, from what it holds."""
    subs = [p for p in folder.iterdir() if p.is_dir()]
    if (folder / "sqitch.plan").is_file():
        return "sqitch"
    if any((p / "migration.sql").is_file() for p in subs):
        return "prisma"
    if any((p / "up.sql").is_file() for p in subs):
        return "dirs"
    files = _sql_files(folder)
    names = [p.name for p in files]
    if any(_POPX.match(n) and (".postgres." in n or ".autocommit." in n) for n in names):
        return "popx"
    if any(_GOLANG_MIGRATE.match(n) for n in names):
        return "golang-migrate"
    if any(_FLYWAY.match(n) for n in names) or any(
        _FLYWAY.match(p.name) for p in folder.rglob("V*__*.sql")
    ):
        return "flyway"
    heads = [_read(p)[:4000] for p in files[:20]]
    if any("+goose" in h for h in heads):
        return "goose"
    if any("migrate:up" in h for h in heads):
        return "dbmate"
    if any(_SQL_MIGRATE_MARK.search(line) for h in heads for line in h.split("\n")):
        return "sql-migrate"
    if any(_TERN_SPLIT.match(line) for h in _texts(files) for line in h.split("\n")):
        return "tern"
    if any(n.endswith(".rollback.sql") for n in names):
        return "yoyo"
    if files and all(_NUMBERED.match(n) for n in names):
        return "sql-files"
    raise FolderError(
        f"{folder}: cannot tell which migration tool wrote it; name one with `tool:` "
        f"({', '.join(READERS)})"
    )


def _texts(files: list[Path]) -> list[str]:
    return [_read(p) for p in files[:20]]


def read_folder(folder: Path, tool: str = "auto") -> Folder:
    if not folder.is_dir():
        raise FolderError(f"migration folder not found: {folder}")
    name = detect(folder) if tool == "auto" else tool
    found = READERS[name](folder)
    if not found.migrations:
        raise FolderError(f"{folder}: no {name} migrations in it")
    return found
