"""Seeded-snapshot cache: stopped data directories of seeded databases, reused across runs.

An entry is keyed by everything that decides its contents (schema, data spec, scale, seed,
PostgreSQL major, seed format). It is written under a temporary name and renamed into
place only when complete, with a manifest: the size and a CRC-32 of every file, checked
before every use, so a truncated or overwritten file is found; a damaged entry is deleted,
rebuilt and reported, never used.

Locks, one set per key: readers take `<key>.lock` shared and only read (the time of last
use is the mtime of `<key>.used`, touched, never rewritten), writers and deleters take it
exclusive. `<key>.build` is held by the run seeding the key, so a second run wanting the
same entry waits and then uses it instead of seeding it again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import shutil
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgrehearse.backends import copy_tree, is_alive
from pgrehearse.errors import InputError, Problem
from pgrehearse.paths import cache_max_bytes, cache_root
from pgrehearse.psql import PsqlSession, psql_pieces
from pgrehearse.scenario import Scenario
from pgrehearse.schema import plain_sql

# Bump when generators change what they produce for the same spec: old entries then miss.
# 3: UUID defaults; 4: enum arrays, measures, implied refs; 5: types, creation moments,
# Faker pools shared by the columns asking for the same values; 6: polymorphic ids tied to
# their types, CHECKs against now() and of folded lists; 7: partition keys dealt out in
# leaf order, file names and more column names read
SEED_FORMAT_VERSION = 7
MANIFEST_VERSION = 2  # per-file sizes and CRC-32s
_META = "meta.json"
_CHUNK = 1 << 20


def snapshot_key(scenario: Scenario, *, scale: float, major: int) -> str:
    material = {
        "seed_format": SEED_FORMAT_VERSION,
        "postgres_major": major,
        "schema": _schema_identity(scenario),
        "baseline": _baseline_identity(scenario),
        "data": scenario.data.model_dump(mode="json", by_alias=True, exclude={"scale"}),
        "scale": scale,
    }
    encoded = json.dumps(material, sort_keys=True, default=str).encode()
    return hashlib.sha256(encoded).hexdigest()[:32]


def _schema_identity(scenario: Scenario) -> str:
    """The schema's SQL as the server gets it: psql's variables given their values and the
    files `\\i` includes read in (a sqitch.conf variable or an included file that changed
    is another schema); an archive by its content digest."""
    source = scenario.schema_sql
    if source is None:
        return ""
    texts = []
    for part in source.parts:
        if part.archive is not None:
            texts.append(f"-- archive {part.digest}")
            continue
        try:
            session = PsqlSession(dict(part.variables))
            pieces = psql_pieces(plain_sql(part.text).text, part.origin, part.first_line, session)
        except InputError:  # the schema phase names it; the key needs only to be stable
            texts.append(part.text)
            continue
        texts.append("\n".join(piece.text for piece in pieces))
    return "\n".join(texts)


def _baseline_identity(scenario: Scenario) -> list[str]:
    """The baseline a tool runs itself (Alembic, Django): what each of its files holds."""
    chain = scenario.migration.chain
    if chain is None or not chain.runs_itself:
        return []
    identity = []
    for migration in chain.baseline:
        try:
            content = migration.up.file.read_bytes()
        except OSError:
            content = b""
        step = migration.up.step  # a command's text, Alembic's revision, Django's target
        content += repr(step.target if step is not None else "").encode()
        identity.append(f"{migration.label}:{hashlib.sha256(content).hexdigest()}")
    return identity


@dataclass(frozen=True)
class Snapshot:
    key: str
    path: Path  # the entry folder; the data directory is path / "data"
    meta: dict[str, Any]
    damage: str | None = None  # why the entry cannot be used, when it cannot

    @property
    def data_dir(self) -> Path:
        return self.path / "data"


@dataclass(frozen=True)
class Lookup:
    """What `open` found: a usable snapshot, or none (and why, when one was damaged)."""

    snapshot: Snapshot | None
    damage: str | None = None
    contents: Future[str | None] | None = None  # open(defer_contents=True): being checked

    def contents_damage(self) -> str | None:
        """Why the snapshot's contents do not match their checksums, or None; waits for a
        deferred check. (An entry found damaged this way is removed when `open` ends.)"""
        return self.contents.result() if self.contents is not None else None


class SnapshotCache:
    def __init__(self, root: Path | None = None, limit: int | str | None = "env") -> None:
        """`limit`: the most bytes its entries may take (None: no cap); by default
        $PGREHEARSE_CACHE_MAX, else 5 GB."""
        self.root = (root or cache_root()) / "snapshots"
        if limit == "env":
            try:
                limit = cache_max_bytes()
            except ValueError as exc:
                raise InputError([Problem(str(exc))]) from None
        self.limit: int | None = limit if not isinstance(limit, str) else None

    # ------------------------------------------------------------------ locking

    @contextlib.contextmanager
    def _locked(self, name: str, *, exclusive: bool) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / name).open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def building(self, key: str, on_wait: Callable[[], None] = lambda: None) -> Iterator[None]:
        """Held while a run seeds `key`; a second run blocks here (after `on_wait`) until the
        first has saved its entry, then finds it with `open`."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / f"{key}.build").open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                on_wait()
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # ------------------------------------------------------------------ reading

    @contextlib.contextmanager
    def open(self, key: str, *, defer_contents: bool = False) -> Iterator[Lookup]:
        """The valid entry for `key` (held against deletion while in the block), or none.

        Reading writes nothing but the last-use mark. A damaged entry is removed (under an
        exclusive lock) and the lookup says why. With `defer_contents`, only the files and
        their sizes are checked before the block; their checksums are computed meanwhile, in
        a thread, and `Lookup.contents_damage()` waits for the verdict: a server can start
        from the entry while its files are read (both read the same pages).
        """
        late_damage: str | None = None
        with self._locked(f"{key}.lock", exclusive=False):
            snapshot = self._check(key, contents=not defer_contents)
            usable = snapshot is not None and snapshot.damage is None
            if usable:
                assert snapshot is not None
                (self.root / f"{key}.used").touch()
                checking = (
                    ThreadPoolExecutor(1, "pgrehearse-cache-check") if defer_contents else None
                )
                contents = (
                    checking.submit(
                        _verify, snapshot.data_dir, snapshot.meta.get("files") or {}, contents=True
                    )
                    if checking is not None
                    else None
                )
                try:
                    yield Lookup(snapshot, None, contents)
                finally:
                    if checking is not None and contents is not None:
                        late_damage = contents.result()
                        checking.shutdown()
        if usable:
            if late_damage is not None:
                self.discard(key)
            return
        if snapshot is not None:
            self.discard(key)
        yield Lookup(None, snapshot.damage if snapshot is not None else None)

    def has(self, key: str) -> bool:
        """Whether a whole entry for `key` is there (file sizes checked, not contents)."""
        snapshot = self._check(key, contents=False)
        return snapshot is not None and snapshot.damage is None

    def _check(self, key: str, *, contents: bool) -> Snapshot | None:
        """The entry for `key`, its `damage` set when it is not whole; None when absent."""
        path = self.root / key
        if not path.is_dir():
            return None
        try:
            meta = json.loads((path / _META).read_text())
        except (OSError, ValueError):
            return Snapshot(key, path, {"key": key}, "its manifest is missing or unreadable")
        if meta.get("key") != key or meta.get("seed_format") != SEED_FORMAT_VERSION:
            return Snapshot(key, path, meta, "it was written by another version of pgrehearse")
        if meta.get("manifest_version") != MANIFEST_VERSION:
            return Snapshot(key, path, meta, "it has no content checksums (older pgrehearse)")
        damage = _verify(path / "data", meta.get("files") or {}, contents=contents)
        return Snapshot(key, path, meta, damage)

    def entries(self, *, verify: bool = False) -> list[Snapshot]:
        """Every entry, with `damage` set on those found damaged (file sizes always; file
        contents too with `verify`). Dead runs' partial entries are removed first."""
        self.sweep_partials()
        found: list[Snapshot] = []
        if not self.root.is_dir():
            return found
        for path in sorted(self.root.iterdir()):
            if path.is_dir() and "." not in path.name:
                snapshot = self._check(path.name, contents=verify)
                if snapshot is not None:
                    found.append(snapshot)
        return found

    def last_used(self, key: str) -> str | None:
        try:
            stamp = (self.root / f"{key}.used").stat().st_mtime
        except OSError:
            return None
        return dt.datetime.fromtimestamp(stamp, dt.UTC).isoformat(timespec="seconds")

    # ------------------------------------------------------------------ writing

    def save(self, key: str, data_dir: Path, meta: dict[str, Any]) -> Snapshot | None:
        """Copy a stopped data directory into the cache. Returns None if another run saved
        the same key meanwhile (then its entry is kept)."""
        self.sweep_partials()
        with self._locked(f"{key}.lock", exclusive=True):
            current = self._check(key, contents=False)
            if current is not None and current.damage is None:
                return None
            final = self.root / key
            partial = self.root / f"{key}.partial-{os.getpid()}"
            shutil.rmtree(partial, ignore_errors=True)
            try:
                partial.mkdir(parents=True)
                copy_tree(data_dir, partial / "data")
                for transient in ("postmaster.pid", "postmaster.opts"):
                    (partial / "data" / transient).unlink(missing_ok=True)
                files = _manifest(partial / "data")
                full_meta = {
                    **meta,
                    "key": key,
                    "seed_format": SEED_FORMAT_VERSION,
                    "manifest_version": MANIFEST_VERSION,
                    "files": files,
                    "bytes": sum(size for size, _ in files.values()),
                    "created": _now(),
                }
                _write_json(partial / _META, full_meta)
                shutil.rmtree(final, ignore_errors=True)
                partial.rename(final)
            except BaseException:
                shutil.rmtree(partial, ignore_errors=True)
                raise
            (self.root / f"{key}.used").touch()
            return Snapshot(key, final, full_meta)

    def evict(self, limit: int | None, keep: str | None = None) -> list[Snapshot]:
        """Remove least recently used entries until the cache holds at most `limit` bytes
        (None: no cap), never `keep` nor an entry a run is reading. Returns those removed."""
        if limit is None:
            return []
        entries = [e for e in self.entries() if e.damage is None]
        total = sum(int(e.meta.get("bytes") or 0) for e in entries)
        removed: list[Snapshot] = []
        for entry in sorted(entries, key=lambda e: self._last_use_stamp(e.key)):
            if total <= limit:
                break
            if entry.key == keep or not self._discard_unless_in_use(entry.key):
                continue
            total -= int(entry.meta.get("bytes") or 0)
            removed.append(entry)
        return removed

    def total_bytes(self) -> int:
        return sum(int(e.meta.get("bytes") or 0) for e in self.entries() if e.damage is None)

    def _last_use_stamp(self, key: str) -> float:
        for name in (f"{key}.used", f"{key}/{_META}"):
            try:
                return (self.root / name).stat().st_mtime
            except OSError:
                continue
        return 0.0

    def _discard_unless_in_use(self, key: str) -> bool:
        """Remove an entry no run holds (readers hold its lock shared while they copy)."""
        with (self.root / f"{key}.lock").open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            try:
                shutil.rmtree(self.root / key, ignore_errors=True)
                (self.root / f"{key}.used").unlink(missing_ok=True)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return True

    def discard(self, key: str) -> None:
        with self._locked(f"{key}.lock", exclusive=True):
            shutil.rmtree(self.root / key, ignore_errors=True)
            (self.root / f"{key}.used").unlink(missing_ok=True)

    def sweep_partials(self) -> list[Path]:
        """Remove half-written entries whose writer is gone (killed while saving)."""
        removed: list[Path] = []
        if not self.root.is_dir():
            return removed
        for partial in self.root.glob("*.partial-*"):
            pid_text = partial.name.rsplit("-", 1)[1]
            if pid_text.isdigit() and not is_alive(int(pid_text)):
                shutil.rmtree(partial, ignore_errors=True)
                removed.append(partial)
        return removed

    def clear(self) -> int:
        """Remove every entry not in use. Returns how many were removed."""
        removed = 0
        for snapshot in self.entries():
            self.discard(snapshot.key)
            removed += 1
        return removed


def _crc(path: Path) -> int:
    crc = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            crc = zlib.crc32(chunk, crc)
    return crc


def _files(folder: Path) -> list[Path]:
    return sorted(
        Path(directory) / name for directory, _, names in os.walk(folder) for name in names
    )


def _manifest(folder: Path) -> dict[str, list[int]]:
    """relative path -> [size, CRC-32] of every file (zlib releases the GIL: 2 threads)."""
    paths = _files(folder)
    with ThreadPoolExecutor(max_workers=2) as pool:
        crcs = list(pool.map(_crc, paths))
    return {
        str(path.relative_to(folder)): [path.stat().st_size, crc]
        for path, crc in zip(paths, crcs, strict=True)
    }


def _verify(folder: Path, expected: dict[str, list[int]], *, contents: bool) -> str | None:
    """Why `folder` does not match its manifest, or None when it does."""
    if not (folder / "PG_VERSION").is_file():
        return "its data directory is missing"
    paths = _files(folder)
    present = {str(path.relative_to(folder)): path for path in paths}
    if set(present) != set(expected):
        missing = sorted(set(expected) - set(present))
        return f"files are missing: {', '.join(missing[:3])}" if missing else "files were added"
    for name, path in present.items():
        if path.stat().st_size != expected[name][0]:
            return f"{name} changed size"
    if contents:
        with ThreadPoolExecutor(max_workers=2) as pool:
            crcs = dict(zip(present, pool.map(_crc, present.values()), strict=True))
        for name, crc in crcs.items():
            if crc != expected[name][1]:
                return f"{name} does not match its checksum"
    return None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    partial = path.with_suffix(f".partial-{os.getpid()}")
    partial.write_text(json.dumps(data, indent=2, default=str))
    partial.replace(path)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
