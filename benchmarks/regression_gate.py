"""How often the migration-time regression check cries wolf, and how often it catches a real
slowdown, at CI scale.

    .venv/bin/python benchmarks/regression_gate.py [--scale 0.05] [--rounds 7] [--trials 100]

Seeds one database (a 1M-row table at `--scale`) and times, on fresh copies, a migration
(an UPDATE of every row) and the same migration doing twice the work (the UPDATE twice),
interleaved, as many rounds as the trials need. Then, `--trials` times each, it compares
`--rounds` rounds of the migration with `--rounds` other rounds of it (A/A: any "slower" is
a false alarm) and `--rounds` rounds of it with `--rounds` rounds of the doubled one (A/B:
"slower" is a catch), with pgrehearse's own check (`compare_records`, default threshold
and minimum delta). Prints both rates, with the rounds' medians and spread.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

from pgrehearse import SeededServer, ServerOptions, load_scenario
from pgrehearse.rehearsal.rounds import measure_rounds
from pgrehearse.timing.compare import compare_records

SCHEMA = "CREATE TABLE items (id bigint PRIMARY KEY, price integer NOT NULL, name text NOT NULL);\n"
ONCE = "UPDATE items SET price = price + 1;"


def _scenario(folder: Path, name: str, up: str, scale: float) -> Path:
    (folder / name).mkdir(parents=True)
    (folder / name / "schema.sql").write_text(SCHEMA)
    scenario = {
        "version": 1,
        "name": "gate",  # both variants share the seeded snapshot
        "schema": "schema.sql",
        "data": {
            "seed": 1,
            "scale": scale,
            "tables": {
                "items": {
                    "rows": 1_000_000,
                    "columns": {
                        "id": {"sequence": 1},
                        "price": {"int": [0, 1000]},
                        "name": {"faker": "word"},
                    },
                }
            },
        },
        "migration": {"up": up},
        "roundtrip": "skip",
    }
    path = folder / name / "scenario.yaml"
    path.write_text(json.dumps(scenario))  # JSON is YAML
    return path


def _rounds(path: Path, count: int) -> list[dict[str, Any]]:
    with SeededServer.start(load_scenario(path), ServerOptions()) as seeded:
        rounds: list[dict[str, Any]] = measure_rounds(seeded, count)["rounds"]
        return rounds


def _record(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    return {"format": 1, "source": "rounds", "scenario": "gate", "rounds": rounds}


def _slower(base: list[dict[str, Any]], current: list[dict[str, Any]]) -> bool:
    comparison = compare_records(_record(base), _record(current))
    return any(c.item == "phase up" and c.status == "slower" for c in comparison.changes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=0.05)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--pool", type=int, default=60, help="rounds measured per variant")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="pgrehearse-bench-"))
    scratch.chmod(0o755)
    os.environ["PGREHEARSE_CACHE_DIR"] = str(scratch / "cache")
    try:
        once = _scenario(scratch, "once", ONCE, args.scale)
        twice = _scenario(scratch, "twice", ONCE + "\n" + ONCE, args.scale)
        pool_a: list[dict[str, Any]] = []
        pool_b: list[dict[str, Any]] = []
        for _ in range(max(1, args.pool // 20)):  # interleaved: drift hits both alike
            pool_a += _rounds(once, 20)
            pool_b += _rounds(twice, 20)
        rng = random.Random(7)
        false_alarms = 0
        for _ in range(args.trials):
            drawn = rng.sample(pool_a, 2 * args.rounds)  # two disjoint sets of rounds
            false_alarms += _slower(drawn[: args.rounds], drawn[args.rounds :])
        caught = sum(
            _slower(rng.sample(pool_a, args.rounds), rng.sample(pool_b, args.rounds))
            for _ in range(args.trials)
        )
        for name, pool in (("once", pool_a), ("twice", pool_b)):
            ups = sorted(r["phases"]["up"] for r in pool)
            print(
                f"{name}: {len(ups)} rounds, up median {statistics.median(ups) * 1000:.1f} ms, "
                f"min {ups[0] * 1000:.1f}, max {ups[-1] * 1000:.1f}"
            )
        print(
            f"A/A, {args.rounds} vs {args.rounds} rounds, {args.trials} trials: "
            f"{false_alarms} called slower ({false_alarms / args.trials:.0%} false alarms)"
        )
        print(
            f"2x work, {args.rounds} vs {args.rounds} rounds, {args.trials} trials: "
            f"{caught} called slower ({caught / args.trials:.0%} detected)"
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
