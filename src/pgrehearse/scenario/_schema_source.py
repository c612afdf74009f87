"""The scenario's `schema:`: inline SQL, a SQL file, several files applied in order, or what
pg_dump wrote, in any of its formats.

In YAML:
- a one-line string with no spaces that names a file (or ends in `.sql`) is a file;
  any other string is SQL;
- a list of such strings is several files, applied in the order given;
- `{file: path}`, `{files: [paths]}` and `{sql: text}` say it explicitly.

A file is read for what it holds, not for its name: pg_dump's custom format (it starts
with `PGDMP`), its tar format, and a directory holding `toc.dat` (its directory format) are
archives, turned into SQL by the server's own `pg_restore` when the schema is created;
anything else is SQL (a plain pg_dump included: see `pgrehearse.schema`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationInfo, model_validator

from pgrehearse.errors import shown_path

ArchiveFormat = Literal["custom", "directory", "tar"]
_TAR_MAGIC_OFFSET = 257


@dataclass(frozen=True)
class SchemaPart:
    """One piece of the schema, applied in order: SQL text, or a pg_dump archive."""

    origin: Path | None  # the file; None for inline SQL until the loader anchors it
    text: str = ""  # the SQL (empty for an archive)
    archive: ArchiveFormat | None = None
    first_line: int = 1  # where `text` starts in `origin`
    variables: tuple[tuple[str, str], ...] = ()  # psql's, set before it (a sqitch baseline)

    @property
    def digest(self) -> str:
        """What identifies the content (for the snapshot cache key)."""
        if self.archive is None:
            return hashlib.sha256(self.text.encode()).hexdigest()
        assert self.origin is not None
        return _archive_digest(self.origin)


def archive_format(path: Path) -> ArchiveFormat | None:
    """pg_dump's format of `path`, or None when it is not a pg_dump archive."""
    if path.is_dir():
        return "directory" if (path / "toc.dat").is_file() else None
    with path.open("rb") as handle:
        head = handle.read(_TAR_MAGIC_OFFSET + 8)
    if head.startswith(b"PGDMP"):
        return "custom"
    if head[_TAR_MAGIC_OFFSET : _TAR_MAGIC_OFFSET + 5] == b"ustar":
        return "tar"
    return None


def _archive_digest(path: Path) -> str:
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else "").encode())
        with file.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def _looks_like_a_path(text: str, base: Path) -> bool:
    stripped = text.strip()
    if not stripped or "\n" in stripped or " " in stripped or ";" in stripped:
        return False
    if stripped.endswith(".sql"):
        return True
    candidate = Path(stripped)
    return (candidate if candidate.is_absolute() else base / candidate).exists()


class SchemaSource(BaseModel):
    """The schema to create: see the module's documentation for the YAML forms."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: Path | None = None
    files: list[Path] | None = None
    sql: str | None = None

    _parts: list[SchemaPart] = PrivateAttr(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _from_shorthand(cls, value: Any, info: ValidationInfo) -> Any:
        base = Path((info.context or {}).get("base_dir", "."))
        if isinstance(value, str):
            return {"file": value.strip()} if _looks_like_a_path(value, base) else {"sql": value}
        if isinstance(value, list):
            return {"files": value}
        return value

    @model_validator(mode="after")
    def _read(self, info: ValidationInfo) -> SchemaSource:
        given = [x for x in (self.file, self.files, self.sql) if x is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of `file`, `files` and `sql`")
        if self.sql is not None:
            self._parts = [SchemaPart(None, self.sql)]
            return self
        if self.files is not None and not self.files:
            raise ValueError("`files` is empty: list the schema files in the order to apply")
        base = Path((info.context or {}).get("base_dir", "."))
        self._parts = [_read_file(path, base) for path in self.files or [self.file]]  # type: ignore[list-item]
        return self

    @classmethod
    def from_parts(cls, parts: list[SchemaPart]) -> SchemaSource:
        """A schema made of parts already read (a tool folder's baseline migrations)."""
        source = cls.model_construct(file=None, files=None, sql=None)
        source._parts = list(parts)
        return source

    @property
    def parts(self) -> list[SchemaPart]:
        return list(self._parts)

    @property
    def text(self) -> str:
        """The SQL of every part (an archive by its content digest): the cache key's input."""
        return "\n".join(
            p.text if p.archive is None else f"-- archive {p.digest}" for p in self._parts
        )

    @property
    def origin(self) -> Path | None:
        return self._parts[0].origin if self._parts else None

    def locate_inline(self, scenario_file: Path, first_line: int) -> None:
        """Anchor inline SQL at its line in the scenario file (set by the loader)."""
        if self.sql is not None and self._parts and self._parts[0].origin is None:
            self._parts = [SchemaPart(scenario_file, self.sql, None, first_line)]


def _read_file(given: Path, base: Path) -> SchemaPart:
    path = given if given.is_absolute() else base / given
    if not path.exists():
        raise ValueError(f"schema file not found: {shown_path(path)}")
    try:
        kind = archive_format(path)
        if kind is not None:
            return SchemaPart(path, archive=kind)
        if path.is_dir():
            raise ValueError(
                f"{shown_path(path)} is a folder but not a pg_dump directory archive "
                "(no toc.dat in it)"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read schema file {shown_path(path)}: {exc}") from exc
    if data[:2] == b"\x1f\x8b":
        raise ValueError(
            f"{shown_path(path)} is gzip-compressed: unpack it (gunzip), or dump with "
            "--format=custom"
        )
    try:
        return SchemaPart(path, data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{shown_path(path)} is neither SQL text (UTF-8) nor a pg_dump archive: byte "
            f"{exc.start} cannot be read"
        ) from None
