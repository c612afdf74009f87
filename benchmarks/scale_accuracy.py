"""How well a CI-sized rehearsal predicts production: rehearse at small scales, predict at
10× the largest, then rehearse that size for real and compare.

    .venv/bin/python benchmarks/scale_accuracy.py [--rows 2000000] [--scales 0.01,0.03,0.1]
                                                  [--target 1]

The migration covers what the scale curve must get right: CREATE INDEX (n·log n), ADD
COLUMN with a volatile default (a rewrite), VALIDATE CONSTRAINT (a scan), an unbatched and
a batched UPDATE backfill, and ALTER COLUMN TYPE (a rewrite that rebuilds the index). Each
statement runs in its own transaction, without load, so each time is its own work. Prints,
per statement, the prediction with its interval and model, the actual time at the target,
and the error; exits 1 when any statement is more than 25% off.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pgrehearse import Scenario, ServerOptions, load_scenario, rehearse
from pgrehearse.scaling import Prediction, Target, rehearse_scales

SCHEMA = """
CREATE TABLE items (
    id bigint PRIMARY KEY,
    a integer NOT NULL,
    b integer NOT NULL,
    name text NOT NULL
);
"""
UP = """
CREATE INDEX items_a_idx ON items (a);
ALTER TABLE items ADD COLUMN r float8 DEFAULT random();
ALTER TABLE items ADD CONSTRAINT items_b_check CHECK (b >= 0) NOT VALID;
ALTER TABLE items VALIDATE CONSTRAINT items_b_check;
ALTER TABLE items ADD COLUMN c integer;
UPDATE items SET c = a;
ALTER TABLE items ADD COLUMN d integer;
DO $$
DECLARE low bigint := 0; top bigint := (SELECT max(id) FROM items);
BEGIN
  WHILE low <= top LOOP
    UPDATE items SET d = b WHERE id > low AND id <= low + 5000;
    low := low + 5000;
  END LOOP;
END $$;
ALTER TABLE items ALTER COLUMN a TYPE bigint;
"""
LIMIT = 0.25


def _scenario(folder: Path, rows: int) -> Path:
    (folder / "schema.sql").write_text(SCHEMA)
    (folder / "up.sql").write_text(UP)
    scenario = {
        "version": 1,
        "name": "scale_accuracy",
        "schema": "schema.sql",
        "data": {
            "seed": 3,
            "tables": {
                "items": {
                    "rows": rows,
                    "columns": {
                        "id": {"sequence": 1},
                        "a": {"int": [0, 1_000_000]},
                        "b": {"int": [0, 1000]},
                        "name": {"faker": "word"},
                    },
                }
            },
        },
        "migration": {"up": "up.sql", "transaction": "statement"},
        "roundtrip": "skip",
    }
    path = folder / "scenario.yaml"
    path.write_text(json.dumps(scenario))  # JSON is YAML
    return path


def _one_run(scenario: Scenario, scales: list[float], target: float) -> dict[str, Row]:
    """Predict from `scales`, then rehearse `target` for real: per statement, what each said."""
    scaled = rehearse_scales(
        scenario,
        scales,
        Target(scale=target),
        ServerOptions(cache=False),
        report_dir=None,
        history=False,
    )
    assert scaled.curve is not None, scaled.failure
    actual = rehearse(
        scenario, ServerOptions(cache=False, scale=target), report_dir=None, history=False
    )
    real = {f"{s.phase} #{s.index}": s for s in actual.statements}
    rows = {}
    for prediction in scaled.curve.predictions:
        if prediction.kind != "statement" or prediction.key not in real:
            continue
        statement = real[prediction.key]
        # execution time, as fitted: a wait behind autovacuum is not the statement's work
        measured = (statement.seconds or 0.0) - (statement.lock_wait_s or 0.0)
        rows[prediction.key] = Row(prediction, measured)
    return rows


@dataclass
class Row:
    prediction: Prediction
    actual: float


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000, help="rows at scale 1")
    parser.add_argument("--scales", default="0.01,0.03,0.1")
    parser.add_argument("--target", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3, help="runs; medians are compared")
    args = parser.parse_args()
    scales = [float(s) for s in args.scales.split(",")]
    folder = Path(tempfile.mkdtemp(prefix="pgrehearse-scale-accuracy-"))
    try:
        scenario = load_scenario(_scenario(folder, args.rows))
        runs = []
        for number in range(1, args.repeat + 1):
            runs.append(_one_run(scenario, scales, args.target))
            print(f"run {number} of {args.repeat} done", flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    sizes = ", ".join(f"{int(args.rows * s):,}" for s in scales)
    print(
        f"rows at the target: {int(args.rows * args.target):,}; "
        f"fitted from scales {args.scales} ({sizes} rows); medians of {args.repeat} runs"
    )
    header = f"{'statement':<56} {'models':<14} {'predicted':>10} {'actual':>9}"
    print(f"{header} {'error':>7}  per-run errors")
    worst = 0.0
    for key in runs[0]:
        rows = [run[key] for run in runs if key in run]
        label = rows[0].prediction.label[:56]
        predicted = [r.prediction.seconds for r in rows if r.prediction.seconds is not None]
        if len(predicted) < len(rows):
            flags = {r.prediction.flag for r in rows if r.prediction.flag}
            print(f"{label:<56} not extrapolated in some runs: {'; '.join(sorted(flags))}")
        if not predicted:
            continue
        models = "/".join(sorted({r.prediction.model or "-" for r in rows}))
        median_predicted = statistics.median(predicted)
        median_actual = statistics.median(r.actual for r in rows)
        error = (median_predicted - median_actual) / median_actual if median_actual else 0.0
        each = " ".join(
            f"{(r.prediction.seconds - r.actual) / r.actual:+.0%}"
            for r in rows
            if r.prediction.seconds is not None and r.actual > 0
        )
        if median_actual >= 0.05:  # below that a time is noise at any size
            worst = max(worst, abs(error))
        print(
            f"{label:<56} {models:<14} {median_predicted:>9.3f}s {median_actual:>8.3f}s "
            f"{error:>+7.0%}  {each}"
        )
        for note in sorted({r.prediction.note for r in rows if r.prediction.note}):
            print(f"    note: {note}")
    print(
        f"largest error of the medians (statements of 50 ms or more): {worst:.0%} "
        f"(limit {LIMIT:.0%})"
    )
    return 0 if worst <= LIMIT else 1


if __name__ == "__main__":
    raise SystemExit(main())
