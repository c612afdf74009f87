"""The seeded-snapshot cache on its own (no server): checksums, partial entries, races."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pgrehearse.rehearsal.cache import SnapshotCache

KEY = "0123456789abcdef0123456789abcdef"


def _data_dir(folder: Path) -> Path:
    """A stand-in for a stopped data directory: the files the manifest checks."""
    data = folder / "data"
    (data / "global").mkdir(parents=True)
    (data / "base" / "1").mkdir(parents=True)
    (data / "PG_VERSION").write_text("15\n")
    (data / "global" / "pg_control").write_bytes(os.urandom(8192))
    (data / "base" / "1" / "16384").write_bytes(os.urandom(64 * 8192))
    return data


@pytest.fixture
def cache(tmp_path: Path) -> SnapshotCache:
    cache = SnapshotCache(tmp_path / "cache")
    assert cache.save(KEY, _data_dir(tmp_path / "src"), {"scenario": "s", "rows": 5}) is not None
    return cache


def test_a_file_zeroed_in_place_is_found_and_the_entry_removed(cache: SnapshotCache) -> None:
    victim = cache.root / KEY / "data" / "base" / "1" / "16384"
    size = victim.stat().st_size
    victim.write_bytes(bytes(size))  # same size, other contents
    [listed] = cache.entries(verify=True)
    assert listed.damage is not None and "16384" in listed.damage
    with cache.open(KEY) as lookup:
        assert lookup.snapshot is None
        assert lookup.damage is not None and "checksum" in lookup.damage
    assert not (cache.root / KEY).exists()


def test_a_changed_size_is_flagged_without_reading_contents(cache: SnapshotCache) -> None:
    victim = cache.root / KEY / "data" / "base" / "1" / "16384"
    with victim.open("r+b") as handle:
        handle.truncate(8192)
    [listed] = cache.entries()
    assert listed.damage == "base/1/16384 changed size"


def test_partial_entries_of_dead_runs_are_swept(cache: SnapshotCache) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = cache.root / f"{KEY}.partial-{dead.pid}"
    (left / "data").mkdir(parents=True)
    (left / "data" / "big").write_bytes(b"x" * 1000)
    mine = cache.root / f"{KEY}.partial-{os.getpid()}"  # a live writer's: left alone
    mine.mkdir()
    assert cache.sweep_partials() == [left]
    assert not left.exists() and mine.exists()
    mine.rmdir()


def test_cache_list_flags_damaged_entries(cache: SnapshotCache, tmp_path: Path) -> None:
    (cache.root / KEY / "meta.json").write_text("{broken")
    done = subprocess.run(
        [sys.executable, "-m", "pgrehearse", "cache", "list"],
        env={**os.environ, "PGREHEARSE_CACHE_DIR": str(tmp_path / "cache")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert f"{KEY[:12]}" in done.stdout and "DAMAGED (its manifest is missing" in done.stdout


def _open_many(root: str, times: int, failures: multiprocessing.Queue[str]) -> None:
    cache = SnapshotCache(Path(root))
    for _ in range(times):
        try:
            with cache.open(KEY) as lookup:
                if lookup.snapshot is None:
                    failures.put(f"judged damaged: {lookup.damage}")
        except Exception as exc:
            failures.put(repr(exc))


def test_concurrent_readers_of_one_entry_never_damage_it(
    cache: SnapshotCache, tmp_path: Path
) -> None:
    failures: multiprocessing.Queue[str] = multiprocessing.Queue()
    readers = [
        multiprocessing.Process(target=_open_many, args=(str(tmp_path / "cache"), 40, failures))
        for _ in range(8)
    ]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(120)
        assert reader.exitcode == 0
    found = []
    while not failures.empty():
        found.append(failures.get())
    assert found == []
    meta = json.loads((cache.root / KEY / "meta.json").read_text())
    assert meta["key"] == KEY
    with cache.open(KEY) as lookup:
        assert lookup.snapshot is not None
