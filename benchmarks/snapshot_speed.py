"""Time to a ready server from a cached seeded snapshot, against a plain `cp -a` of it.

    .venv/bin/python benchmarks/snapshot_speed.py [--rows 5000000] [--rounds 3]

Seeds the 8-column benchmark table (see seed_speed.py) once into a private cache, then,
interleaved for `--rounds` rounds: `cp -a` of the snapshot's data directory, and
pgrehearse's start from the snapshot (copy, hand to the server user, start, new password)
until the server accepts connections. Prints medians and the ratio; target <= 1.5x. Also
times the integrity check a run makes before using an entry (sizes and a CRC-32 of every
file, `SnapshotCache.open`), against the same `cp -a`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from pgrehearse import load_scenario, rehearse
from pgrehearse.backends import LocalBackend, find_binaries
from pgrehearse.backends.settings import rehearsal_settings
from pgrehearse.rehearsal.cache import SnapshotCache

SCHEMA = """
CREATE TABLE bench (
    id bigint PRIMARY KEY, name text NOT NULL, email text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL, status integer NOT NULL, amount numeric(10, 2) NOT NULL,
    active boolean NOT NULL, extra jsonb NOT NULL
);
"""


def _scenario(folder: Path, rows: int) -> Path:
    (folder / "schema.sql").write_text(SCHEMA)
    table = {
        "rows": rows,
        "columns": {
            "id": {"sequence": 1},
            "name": {"faker": "name"},
            "email": {"faker": "email"},
            "status": {"int": [0, 4]},
            "amount": {"float": [0, 5000]},
            "active": {"bool": 0.8},
        },
    }
    scenario = {
        "version": 1,
        "name": "snapshot_bench",
        "schema": "schema.sql",
        "data": {"seed": 1, "tables": {"bench": table}},
        "migration": {"up": "SELECT 1"},
    }
    path = folder / "scenario.yaml"
    path.write_text(json.dumps(scenario))  # JSON is YAML
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="pgrehearse-bench-"))
    scratch.chmod(0o755)
    os.environ["PGREHEARSE_CACHE_DIR"] = str(scratch / "cache")
    try:
        started = time.perf_counter()
        result = rehearse(load_scenario(_scenario(scratch, args.rows)), report_dir=None)
        assert result.passed and result.cache is not None and result.cache.saved
        print(
            f"seeded {args.rows:,} rows and saved the snapshot in "
            f"{time.perf_counter() - started:.1f} s"
        )
        [snapshot] = SnapshotCache().entries()
        size = snapshot.meta["bytes"]
        print(f"snapshot: {size / 1e9:.2f} GB in {len(snapshot.meta['files']):,} files")

        backend = LocalBackend(find_binaries())
        settings = rehearsal_settings({})
        copy_times, ready_times, check_times = [], [], []
        for _ in range(args.rounds):
            began = time.perf_counter()
            with SnapshotCache().open(snapshot.key) as lookup:
                assert lookup.snapshot is not None and lookup.damage is None
            check_times.append(time.perf_counter() - began)

            target = scratch / "copy"
            began = time.perf_counter()
            subprocess.run(["cp", "-a", str(snapshot.data_dir), str(target)], check=True)
            copy_times.append(time.perf_counter() - began)
            shutil.rmtree(target)

            began = time.perf_counter()
            server = backend.start(settings, snapshot=snapshot.data_dir)
            with psycopg.connect(**server.connect_kwargs("rehearsal", "bench")) as conn:
                conn.execute("SELECT 1 FROM bench LIMIT 1")
            ready_times.append(time.perf_counter() - began)
            server.close()

        copy, ready = statistics.median(copy_times), statistics.median(ready_times)
        check = statistics.median(check_times)
        print(f"cp -a of the data directory : {copy:.2f} s (median of {args.rounds})")
        print(f"ready server from snapshot  : {ready:.2f} s")
        print(f"ratio                       : {ready / copy:.2f}x (target <= 1.5x)")
        print(f"integrity check (CRC-32)    : {check:.2f} s = {check / copy:.2f}x the copy")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
