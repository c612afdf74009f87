"""A chain of migrations: the baseline (part of the schema) and the pending ones, whose
ups run in order and whose downs run in reverse."""

from __future__ import annotations

from dataclasses import dataclass, field

from pgrehearse.tools._migrations import Folder, FolderError, Migration, Script, version_key


@dataclass(frozen=True)
class MigrationScript:
    """The scripts of several migrations, run one after another, each in its own
    transaction as its tool runs it (or outside one)."""

    parts: tuple[Script, ...]

    @property
    def text(self) -> str:
        return "\n".join(part.text for part in self.parts)


@dataclass
class Chain:
    tool: str
    baseline: list[Migration]
    pending: list[Migration]
    up: MigrationScript
    down: MigrationScript | None
    down_missing: str | None  # why there is no down, when there is none
    notes: list[str] = field(default_factory=list)

    @property
    def runs_itself(self) -> bool:
        """The tool runs its migrations (Alembic, Django, a command), rather than pgrehearse
        running their SQL."""
        return self.up.parts[0].step is not None


def build_chain(folder: Folder, start: str | None, end: str | None) -> Chain:
    """Migrations up to `start` (included) are the baseline; those after it up to `end`
    (or the last, for None or `head`) are rehearsed."""
    migrations = folder.migrations
    versions = [m.version for m in migrations]
    first = _position(versions, start) + 1 if start is not None else 0
    last = len(migrations) if end in (None, "head") else _position(versions, end) + 1
    pending = migrations[first:last]
    if not pending:
        raise FolderError(
            f"no migrations to rehearse between {start or 'the start'} and {end or 'head'}"
        )
    missing = [m.label for m in pending if m.down is None]
    down = (
        None
        if missing
        else MigrationScript(tuple(m.down for m in reversed(pending) if m.down is not None))
    )
    reason = None
    if missing:
        reason = f"{folder.tool}: no down for {', '.join(missing[:5])}" + (
            " …" if len(missing) > 5 else ""
        )
    notes = list(folder.notes)
    return Chain(
        folder.tool,
        migrations[:first],
        pending,
        MigrationScript(tuple(_up_and_verify(pending))),
        down,
        reason,
        notes,
    )


def _up_and_verify(pending: list[Migration]) -> list[Script]:
    scripts = []
    for migration in pending:
        scripts.append(migration.up)
        if migration.verify is not None:
            scripts.append(migration.verify)
    return scripts


def _position(versions: list[str], wanted: str) -> int:
    key = version_key(str(wanted))
    for index, version in enumerate(versions):
        if version == str(wanted) or version_key(version) == key:
            return index
    shown = ", ".join(versions[:8]) + (" …" if len(versions) > 8 else "")
    raise FolderError(f"no migration with version {wanted}; the folder has: {shown}")
