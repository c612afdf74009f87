"""What a migration tool's folder holds, once read: migrations in order, each with its up
and down as SQL text located in its file (or a step the tool runs itself)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
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
    # the tool keeps the whole script in one transaction, so a statement that cannot run in
    # one (CREATE INDEX CONCURRENTLY) fails as in production; what to write instead. None:
    # pgrehearse runs such a statement alone. `one_query`: the tool sends the script as one
    # query, a transaction only when it holds more than one statement
    kept_in_transaction: str | None = None
    one_query: bool = False
    variables: tuple[tuple[str, str], ...] = ()  # psql's, set before it runs (sqitch.conf)


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


def with_variables(folder: Folder, variables: tuple[tuple[str, str], ...]) -> Folder:
    """The folder with psql's `variables` set for every script, over the tool's own."""
    if not variables:
        return folder

    def given(script: Script | None) -> Script | None:
        if script is None:
            return None
        return replace(
            script, variables=tuple({**dict(script.variables), **dict(variables)}.items())
        )

    migrations = [
        replace(m, up=given(m.up) or m.up, down=given(m.down), verify=given(m.verify))
        for m in folder.migrations
    ]
    return replace(folder, migrations=migrations)


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Versions in their natural order: `2` before `10`, `1.2.9` before `1.10`."""
    parts = re.findall(r"\d+|[A-Za-z]+", version)
    return tuple((0, int(p)) if p.isdigit() else (1, p.lower()) for p in parts)


def sql_files_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix == ".sql")


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FolderError(f"cannot read {path}: {exc}") from exc


_PLACEHOLDER = re.compile(r"\$\{([^}\s]+)\}")


def replace_placeholders(
    text: str, path: Path, values: Mapping[str, str], where_to_set: Callable[[str], str]
) -> str:
    """`text` with each `${name}` replaced by its value, as the tool replaces them before
    it sends a script; an error at the first without one, with `where_to_set(name)`."""

    def value(match: re.Match[str]) -> str:
        name = match[1]
        if name in values:
            return values[name]
        line = text.count("\n", 0, match.start()) + 1
        raise FolderError(
            f"{path}:{line}: no value for the placeholder ${{{name}}}: set {where_to_set(name)}"
        )

    return _PLACEHOLDER.sub(value, text)


def paired(files: Iterable[tuple[Path, str, str, str]]) -> list[Migration]:
    """Migrations from files that are one direction each, `(path, version, name, "up" or
    "down")`, in version order; a down without its up is an error naming the file."""
    found: dict[str, dict[str, Path]] = {}
    names: dict[str, str] = {}
    for path, version, name, direction in files:
        found.setdefault(version, {})[direction] = path
        if direction == "up" or version not in names:
            names[version] = name
    migrations = []
    for version in sorted(found, key=version_key):
        pair = found[version]
        if "up" not in pair:
            raise FolderError(f"{pair['down']}: a down file with no up file of version {version}")
        down = pair.get("down")
        migrations.append(
            Migration(
                version,
                names[version],
                Script(read_text(pair["up"]), pair["up"]),
                Script(read_text(down), down) if down is not None else None,
            )
        )
    return migrations
