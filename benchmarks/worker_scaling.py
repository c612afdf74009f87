"""Row generation with one worker process against two, without a server to feed.

    .venv/bin/python benchmarks/worker_scaling.py [--rows 2000000] [--rounds 5]

Seeding one table keeps two cores busy: the server's COPY and the worker making its rows.
Whether two workers make rows twice as fast cannot be seen in a seed on two cores, where the
server's COPY needs one of them. This measures the generating side alone: the blocks of
seed_speed.py's 8-column table (in COPY's binary format, as the seeder sends them) made by
`produce_blocks` with one worker and with two, each block collected in order by this process
as the seeder collects them and then dropped. Interleaved rounds; medians; the ratio is
what a second worker adds where a core is free for it.

A server is started only to plan the table (its columns' types), and stopped before the
rounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import seed_speed as base  # type: ignore[import-not-found]  # a sibling script

from pgrehearse.backends import LocalBackend, find_binaries
from pgrehearse.backends.settings import seed_settings
from pgrehearse.seed import Column, plan, produce_blocks
from pgrehearse.seed._generators import (
    GeneratorContext,
    build_faker_pools,
    faker_specs,
    in_binary_order,
    is_binary,
)
from pgrehearse.seed._tables import table_columns


def _columns(rows: int) -> list[Column]:
    server = LocalBackend(find_binaries()).start(seed_settings({}))
    try:
        with base._connect(server) as conn:
            base._fresh(conn)
            base._create(conn)
            conn.commit()
            [table_plan] = plan(conn, base._data(rows), 1.0)
    finally:
        server.close()
    wanted = [
        found
        for planned in table_plan.columns
        for found in faker_specs(
            planned.spec, GeneratorContext(1, table_plan.name, planned.name, rows)
        )
    ]
    pools = build_faker_pools(wanted, os.cpu_count() or 1)
    return in_binary_order(table_columns(table_plan, 1, {}, pools))


def _generate(columns: list[Column], rows: int, workers: int) -> float:
    started = time.perf_counter()
    for _count, _data in produce_blocks(columns, rows, seed=1, table="bench", workers=workers):
        pass
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    os.environ["PGREHEARSE_CACHE_DIR"] = tempfile.mkdtemp(prefix="pgrehearse-bench-cache-")
    columns = _columns(args.rows)
    print(f"{os.cpu_count()} cores, {args.rows:,} rows, binary COPY: {is_binary(columns)}")
    timings: dict[int, list[float]] = {1: [], 2: []}
    _generate(columns, min(args.rows, 200_000), 1)  # warm: the first block's tables
    for _ in range(args.rounds):
        for workers in timings:
            timings[workers].append(_generate(columns, args.rows, workers))
    medians = {workers: statistics.median(values) for workers, values in timings.items()}
    for workers, seconds in medians.items():
        spread = ", ".join(f"{args.rows / s:,.0f}" for s in timings[workers])
        print(f"  {workers} worker(s): {args.rows / seconds:>12,.0f} rows/s (rounds: {spread})")
    print(f"  two workers / one: {medians[1] / medians[2]:.2f}")


if __name__ == "__main__":
    main()
