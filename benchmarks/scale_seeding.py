"""A scale curve from a cold cache: seeding the scales together vs one after the other.

    .venv/bin/python benchmarks/scale_seeding.py [--rounds 3] [--scales 0.01,0.03,0.1]
                                                 [SCENARIO]

Each round runs `rehearse_scales` twice on an empty snapshot cache of its own: once with
the scales' snapshots seeded all at once first (the default), once with each scale seeded
by its own rehearsal. The measured rehearsals run one after the other either way. Prints
each way's wall time and their ratio (rounds alternate which way goes first).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from pgrehearse import load_scenario
from pgrehearse.scaling import Target, rehearse_scales

REPO = Path(__file__).resolve().parent.parent


def _curve(scenario_path: Path, scales: list[float], *, together: bool) -> float:
    scratch = Path(tempfile.mkdtemp(prefix="pgrehearse-bench-"))
    os.environ["PGREHEARSE_CACHE_DIR"] = str(scratch / "cache")
    try:
        began = time.perf_counter()
        scaled = rehearse_scales(
            load_scenario(scenario_path),
            scales,
            Target(scale=1.0),
            report_dir=None,
            history=False,
            parallel_seeding=len(scales) if together else 1,
        )
        seconds = time.perf_counter() - began
        if scaled.curve is None:
            raise SystemExit(f"the curve did not finish: {scaled.failure}")
        return seconds
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", nargs="?", default=REPO / "scenarios" / "orders_add_column")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scales", default="0.01,0.03,0.1")
    args = parser.parse_args()
    scales = [float(s) for s in args.scales.split(",")]
    timings: dict[bool, list[float]] = {True: [], False: []}
    for number in range(args.rounds):
        order = (True, False) if number % 2 == 0 else (False, True)
        for way in order:
            seconds = _curve(Path(args.scenario), scales, together=way)
            timings[way].append(seconds)
            label = "together" if way else "one by one"
            print(f"round {number + 1}: seeded {label}: {seconds:.1f} s", flush=True)
    together, apart = (statistics.median(timings[k]) for k in (True, False))
    print(f"cpus: {os.cpu_count()}, scales {args.scales}, medians of {args.rounds} rounds")
    print(f"seeded together: {together:.1f} s   one by one: {apart:.1f} s")
    print(f"ratio together / one by one: {together / apart:.2f}")


if __name__ == "__main__":
    main()
