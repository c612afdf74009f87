"""What a rehearsal costs beyond its phases: a cached run of the example, wall time
against the sum of its phases (warmup and cooldown included).

    .venv/bin/python benchmarks/overhead.py [--runs 5] [SCENARIO]

Runs `pgrehearse run SCENARIO` as a user would (a fresh process each time, reports
written), once to fill the seeded-snapshot cache and then `--runs` times from it. For each
cached run it splits the wall time into: the phases; the start (process start, imports,
scenario, up to the first phase); the gaps between phases; and the end (analysis, reports,
exit). Prints the medians and the ratio wall / phases (the goal is at most 1.3).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
GOAL = 1.3


def _run(scenario: Path, reports: Path) -> tuple[float, dict[str, Any]]:
    launched = dt.datetime.now(dt.UTC)
    began = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pgrehearse",
            "run",
            str(scenario),
            "--report-dir",
            str(reports),
            "--no-history",
            "-q",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"the rehearsal failed:\n{done.stdout}\n{done.stderr}")
    [summary_path] = sorted(reports.glob("*/*/summary.json"), key=lambda p: p.stat().st_mtime)[-1:]
    summary = json.loads(summary_path.read_text())
    summary["_launched"] = launched
    return wall, summary


def _split(wall: float, summary: dict[str, Any]) -> dict[str, float]:
    phases = [p for p in summary["phases"] if p.get("seconds") is not None]
    in_phases = sum(p["seconds"] for p in phases)
    started = dt.datetime.fromisoformat(summary["started_at"])
    first = min(p["started_s"] for p in phases)
    last = max(p["started_s"] + p["seconds"] for p in phases)
    start = (started - summary["_launched"]).total_seconds() + first
    return {
        "wall": wall,
        "phases": in_phases,
        "start": start,
        "gaps": (last - first) - in_phases,
        "end": wall - start - (last - first),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", nargs="?", default=str(REPO / "scenarios/orders_add_column"))
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    reports = Path(tempfile.mkdtemp(prefix="pgrehearse-overhead-"))
    try:
        _run(Path(args.scenario), reports)  # fills the cache (or finds it full)
        splits = []
        for number in range(1, args.runs + 1):
            wall, summary = _run(Path(args.scenario), reports)
            assert summary["cache"] and summary["cache"]["hit"], "expected a cached run"
            splits.append(_split(wall, summary))
            print(f"run {number}: " + ", ".join(f"{k} {v:.2f} s" for k, v in splits[-1].items()))
    finally:
        shutil.rmtree(reports, ignore_errors=True)
    median = {key: statistics.median(s[key] for s in splits) for key in splits[0]}
    ratios = [s["wall"] / s["phases"] for s in splits]
    print(
        "medians: "
        + ", ".join(f"{k} {v:.2f} s" for k, v in median.items())
        + f"; wall / phases {statistics.median(ratios):.2f} "
        f"(runs {min(ratios):.2f}–{max(ratios):.2f}; goal ≤ {GOAL})"
    )
    return 0 if statistics.median(ratios) <= GOAL else 1


if __name__ == "__main__":
    raise SystemExit(main())
