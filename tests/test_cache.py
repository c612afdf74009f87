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


def test_cache_max_reads_sizes_and_names_itself_when_it_cannot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pgrehearse.paths import DEFAULT_CACHE_MAX, cache_max_bytes

    for text, expected in (
        ("5GB", 5 * 1024**3),
        ("500mb", 500 * 1024**2),
        ("1.5 G", int(1.5 * 1024**3)),
        ("4096", 4096),
        ("0", None),
        ("none", None),
    ):
        monkeypatch.setenv("PGREHEARSE_CACHE_MAX", text)
        assert cache_max_bytes() == expected, text
    monkeypatch.delenv("PGREHEARSE_CACHE_MAX")
    assert cache_max_bytes() == DEFAULT_CACHE_MAX
    monkeypatch.setenv("PGREHEARSE_CACHE_MAX", "lots")
    with pytest.raises(ValueError, match="PGREHEARSE_CACHE_MAX='lots' is not a size"):
        cache_max_bytes()


def test_the_least_recently_used_entries_go_first_never_one_in_use(tmp_path: Path) -> None:
    cache = SnapshotCache(tmp_path / "cache", limit=None)
    keys = [f"{n:032x}" for n in range(1, 5)]
    for age, key in enumerate(keys):
        assert cache.save(key, _data_dir(tmp_path / key), {"scenario": key}) is not None
        stamp = 1_700_000_000 + age * 60  # the first saved is the least recently used
        os.utime(cache.root / f"{key}.used", (stamp, stamp))
    size = int(cache.entries()[0].meta["bytes"])
    assert cache.total_bytes() == 4 * size
    # room for three: the oldest goes
    assert [e.key for e in cache.evict(3 * size, keep=keys[-1])] == [keys[0]]
    # room for none: the one a run is reading and the one just saved stay
    with cache.open(keys[1]) as lookup:
        assert lookup.snapshot is not None
        gone = [e.key for e in cache.evict(0, keep=keys[3])]
    assert gone == [keys[2]]
    assert sorted(e.key for e in cache.entries()) == [keys[1], keys[3]]
    assert cache.evict(None) == []


def test_cache_list_shows_the_total_and_the_cap(cache: SnapshotCache, tmp_path: Path) -> None:
    env = {**os.environ, "PGREHEARSE_CACHE_DIR": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "pgrehearse", "cache", "list"]
    shown = subprocess.run(
        command, env={**env, "PGREHEARSE_CACHE_MAX": "2GB"}, capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr
    assert "(PGREHEARSE_CACHE_MAX: 2.1 GB;" in shown.stdout
    bad = subprocess.run(
        command, env={**env, "PGREHEARSE_CACHE_MAX": "big"}, capture_output=True, text=True
    )
    assert bad.returncode == 2 and "PGREHEARSE_CACHE_MAX='big'" in bad.stderr, bad.stderr
    assert "Traceback" not in bad.stderr
