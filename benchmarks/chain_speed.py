"""A chain of 10 migrations rehearsed as one chain (seeded once), against the same 10
migrations rehearsed one at a time (each seeded at its own baseline).

    .venv/bin/python benchmarks/chain_speed.py [--rows 1000000] [--steps 10]

Writes a golang-migrate folder of `--steps` migrations over a `--rows`-row table (a
baseline that creates it, then ADD COLUMN, CREATE INDEX, SET DEFAULT, ... and their downs),
without the snapshot cache (each run seeds). Prints the chain's wall time, the time of its
one seed plus the sum of its steps (the floor a chain can reach), and the wall time of the
separate rehearsals, with the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from pgrehearse import ServerOptions, load_scenario, rehearse

BASELINE = (
    "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, price integer NOT NULL, "
    "created_at timestamptz NOT NULL);\n",
    "DROP TABLE items;\n",
)
STEPS = [
    ("ALTER TABLE items ADD COLUMN note text;", "ALTER TABLE items DROP COLUMN note;"),
    ("CREATE INDEX items_price ON items (price);", "DROP INDEX items_price;"),
    (
        "ALTER TABLE items ALTER COLUMN price SET DEFAULT 0;",
        "ALTER TABLE items ALTER COLUMN price DROP DEFAULT;",
    ),
    (
        "ALTER TABLE items ADD CONSTRAINT items_price_positive CHECK (price >= 0) NOT VALID;",
        "ALTER TABLE items DROP CONSTRAINT items_price_positive;",
    ),
    (
        "ALTER TABLE items VALIDATE CONSTRAINT items_price_positive;",
        "ALTER TABLE items DROP CONSTRAINT items_price_positive;\n"
        "ALTER TABLE items ADD CONSTRAINT items_price_positive CHECK (price >= 0) NOT VALID;",
    ),
    ("CREATE INDEX items_created ON items (created_at);", "DROP INDEX items_created;"),
    ("ALTER TABLE items ADD COLUMN flag boolean;", "ALTER TABLE items DROP COLUMN flag;"),
    ("COMMENT ON TABLE items IS 'catalogue';", "COMMENT ON TABLE items IS NULL;"),
    ("CREATE INDEX items_name ON items (name);", "DROP INDEX items_name;"),
    (
        "ALTER TABLE items RENAME COLUMN note TO remark;",
        "ALTER TABLE items RENAME COLUMN remark TO note;",
    ),
    ("ALTER TABLE items ADD COLUMN stock integer;", "ALTER TABLE items DROP COLUMN stock;"),
    ("CREATE INDEX items_stock ON items (stock);", "DROP INDEX items_stock;"),
]


def _write(folder: Path, rows: int, steps: int) -> Path:
    migrations = folder / "migrations"
    migrations.mkdir(parents=True)
    for number, (up, down) in enumerate([BASELINE, *STEPS[:steps]], start=1):
        (migrations / f"{number:03d}_step.up.sql").write_text(up + "\n")
        (migrations / f"{number:03d}_step.down.sql").write_text(down + "\n")
    scenario = {
        "version": 1,
        "name": "chain_bench",
        "data": {
            "seed": 1,
            "tables": {
                "items": {
                    "rows": rows,
                    "columns": {
                        "id": {"sequence": 1},
                        "name": {"faker": "word"},
                        "price": {"int": [0, 10_000]},
                    },
                }
            },
        },
        "migration": {"dir": "migrations", "tool": "golang-migrate", "from": "001"},
        "roundtrip": "schema",
    }
    path = folder / "scenario.yaml"
    path.write_text(json.dumps(scenario))  # JSON is YAML
    return path


def _rehearse(path: Path, start: str, end: str | None) -> tuple[float, float, float]:
    """Wall seconds, seed seconds (schema, seed, post-data) and migration-phase seconds."""
    scenario = load_scenario(path)
    if end is not None:
        scenario = scenario.with_migration_folder(path.parent / "migrations", start=start, end=end)
    began = time.perf_counter()
    result = rehearse(scenario, ServerOptions(cache=False), report_dir=None, history=False)
    wall = time.perf_counter() - began
    assert result.passed, result.failure
    phases = {p.name: p.seconds or 0.0 for p in result.phases}
    seed = sum(phases.get(n, 0.0) for n in ("schema", "seed", "post_data"))
    steps = sum(phases.get(n, 0.0) for n in ("up", "down"))
    return wall, seed, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=10, choices=range(1, len(STEPS) + 1))
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="pgrehearse-bench-"))
    scratch.chmod(0o755)
    os.environ["PGREHEARSE_CACHE_DIR"] = str(scratch / "cache")
    try:
        path = _write(scratch, args.rows, args.steps)
        chain_wall, seed, steps = _rehearse(path, "001", None)
        print(
            f"chain of {args.steps} over {args.rows:,} rows: {chain_wall:.1f} s wall; "
            f"one seed {seed:.1f} s + steps {steps:.1f} s = {seed + steps:.1f} s "
            f"({chain_wall / (seed + steps):.2f}x that floor)"
        )
        separate = 0.0
        for number in range(2, args.steps + 2):
            wall, _, _ = _rehearse(path, f"{number - 1:03d}", f"{number:03d}")
            separate += wall
        print(
            f"{args.steps} separate rehearsals: {separate:.1f} s wall; the chain takes "
            f"{chain_wall / separate:.2f}x their time ({separate / chain_wall:.1f}x faster)"
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
