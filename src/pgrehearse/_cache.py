"""Seeded-snapshot cache: stopped data directories of seeded databases, reused across runs.

An entry is keyed by everything that decides its contents (schema, data spec, scale, seed,
PostgreSQL major, seed format). It is written under a temporary name and renamed into
place only when complete, with a manifest (file count and bytes) checked before every use;
a partial or damaged entry is deleted and rebuilt, never used. A lock file per key keeps
concurrent runs from building or deleting an entry another run is reading.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgrehearse._paths import cache_root
from pgrehearse.backends._copy import copy_tree
from pgrehearse.scenario import Scenario

# Bump when generators change what they produce for the same spec: old entries then miss.
SEED_FORMAT_VERSION = 1
_META = "meta.json"


def snapshot_key(scenario: Scenario, *, scale: float, major: int) -> str:
    material = {
        "seed_format": SEED_FORMAT_VERSION,
        "postgres_major": major,
        "schema": scenario.schema_sql.text if scenario.schema_sql else "",
        "data": scenario.data.model_dump(mode="json", by_alias=True, exclude={"scale"}),
        "scale": scale,
    }
    encoded = json.dumps(material, sort_keys=True, default=str).encode()
    return hashlib.sha256(encoded).hexdigest()[:32]


@dataclass(frozen=True)
class Snapshot:
    key: str
    path: Path  # the entry folder; the data directory is path / "data"
    meta: dict[str, Any]

    @property
    def data_dir(self) -> Path:
        return self.path / "data"


class SnapshotCache:
    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or cache_root()) / "snapshots"

    # ------------------------------------------------------------------ locking

    @contextlib.contextmanager
    def _locked(self, key: str, *, exclusive: bool) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / f"{key}.lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # ------------------------------------------------------------------ reading

    @contextlib.contextmanager
    def open(self, key: str) -> Iterator[Snapshot | None]:
        """The valid entry for `key` (held against deletion while in the block), or None.

        A damaged entry is removed (under an exclusive lock) and None is returned.
        """
        with self._locked(key, exclusive=False):
            snapshot = self._valid(key)
            if snapshot is not None:
                snapshot.meta["last_used"] = _now()
                _write_json(snapshot.path / _META, snapshot.meta)
                yield snapshot
                return
        if (self.root / key).exists():
            self.discard(key)
        yield None

    def _valid(self, key: str) -> Snapshot | None:
        path = self.root / key
        try:
            meta = json.loads((path / _META).read_text())
        except (OSError, ValueError):
            return None
        if meta.get("key") != key or meta.get("seed_format") != SEED_FORMAT_VERSION:
            return None
        if _manifest(path / "data") != (meta.get("files"), meta.get("bytes")):
            return None
        return Snapshot(key, path, meta)

    def entries(self) -> list[Snapshot]:
        found: list[Snapshot] = []
        if not self.root.is_dir():
            return found
        for path in sorted(self.root.iterdir()):
            if path.is_dir() and "." not in path.name:
                try:
                    meta = json.loads((path / _META).read_text())
                except (OSError, ValueError):
                    meta = {"key": path.name, "damaged": True}
                found.append(Snapshot(path.name, path, meta))
        return found

    # ------------------------------------------------------------------ writing

    def save(self, key: str, data_dir: Path, meta: dict[str, Any]) -> Snapshot | None:
        """Copy a stopped data directory into the cache. Returns None if another run saved
        the same key meanwhile (then its entry is kept)."""
        with self._locked(key, exclusive=True):
            if self._valid(key) is not None:
                return None
            final = self.root / key
            partial = self.root / f"{key}.partial-{os.getpid()}"
            shutil.rmtree(partial, ignore_errors=True)
            try:
                partial.mkdir(parents=True)
                copy_tree(data_dir, partial / "data")
                for transient in ("postmaster.pid", "postmaster.opts"):
                    (partial / "data" / transient).unlink(missing_ok=True)
                files, size = _manifest(partial / "data")
                full_meta = {
                    **meta,
                    "key": key,
                    "seed_format": SEED_FORMAT_VERSION,
                    "files": files,
                    "bytes": size,
                    "created": _now(),
                    "last_used": _now(),
                }
                _write_json(partial / _META, full_meta)
                shutil.rmtree(final, ignore_errors=True)
                partial.rename(final)
            except BaseException:
                shutil.rmtree(partial, ignore_errors=True)
                raise
            return Snapshot(key, final, full_meta)

    def discard(self, key: str) -> None:
        with self._locked(key, exclusive=True):
            shutil.rmtree(self.root / key, ignore_errors=True)

    def clear(self) -> int:
        """Remove every entry not in use. Returns how many were removed."""
        removed = 0
        for snapshot in self.entries():
            self.discard(snapshot.key)
            removed += 1
        if self.root.is_dir():
            for leftover in self.root.glob("*.partial-*"):
                shutil.rmtree(leftover, ignore_errors=True)
        return removed


def _manifest(folder: Path) -> tuple[int, int] | tuple[None, None]:
    if not (folder / "PG_VERSION").is_file() or not (folder / "global" / "pg_control").is_file():
        return None, None
    files = size = 0
    for directory, _, names in os.walk(folder):
        for name in names:
            files += 1
            size += (Path(directory) / name).stat().st_size
    return files, size


def _write_json(path: Path, data: dict[str, Any]) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(data, indent=2, default=str))
    partial.replace(path)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
