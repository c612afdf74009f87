"""Seeding several tables one after another against side by side, on one throwaway server.

    .venv/bin/python benchmarks/seed_streams.py [--tables 2] [--rows 1000000] [--rounds 5]
                                                [--partitioned]

Seeds `--tables` copies of seed_speed.py's 8-column table (none references another) with
PGREHEARSE_SEED_STREAMS=1 (one table after another) and with one stream per table (each in
a session of its own, at once), in interleaved rounds, and prints rows/s, the ratio, and
how many cores each way kept busy (CPU seconds of the server's processes and of ours, over
the wall time). With --partitioned, one table hash-partitioned into 8 leaves instead, its
leaves shared among the streams.

The ratio is bounded by the cores: one stream already keeps about two busy (the server's
COPY and the generating worker), so on a 2-core machine side by side cannot be faster.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
import seed_speed as base  # type: ignore[import-not-found]  # a sibling script

from pgrehearse.backends import LocalBackend, LocalServer, find_binaries
from pgrehearse.backends.settings import seed_settings
from pgrehearse.scenario import DataSpec
from pgrehearse.seed import plan, seed_tables


def _server_cpu(server: LocalServer) -> float:
    """CPU seconds used so far by the server: the postmaster's own, its ended children's
    (which it reaped: the sessions the streams closed), and its live children's."""
    ticks = os.sysconf("SC_CLK_TCK")

    def stat(pid: int | str) -> list[str]:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()

    postmaster = stat(server.pid or 0)
    total = sum(int(postmaster[i]) for i in (11, 12, 13, 14)) / ticks
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = stat(entry.name)
        except OSError:
            continue  # it ended meanwhile
        if int(fields[1]) == server.pid:  # field 4, the parent's pid
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def _names(tables: int) -> list[str]:
    return [f"bench{i}" for i in range(tables)]


def _create(conn: psycopg.Connection[Any], tables: int, partitioned: bool) -> None:
    for name in _names(tables):
        conn.execute(f"DROP TABLE IF EXISTS {name}")
        ddl = base.TABLE_DDL.replace("bench", name)
        if partitioned:
            conn.execute(ddl.rstrip() + " PARTITION BY HASH (id)")
            for r in range(8):
                conn.execute(
                    f"CREATE TABLE {name}_{r} PARTITION OF {name} "
                    f"FOR VALUES WITH (MODULUS 8, REMAINDER {r})"
                )
        else:
            conn.execute(ddl)
    conn.commit()
    conn.execute("CHECKPOINT")
    conn.commit()


def _data(tables: int, rows: int) -> DataSpec:
    table = {**base.DATA["tables"]["bench"], "rows": rows}
    return DataSpec.model_validate({"seed": 1, "tables": dict.fromkeys(_names(tables), table)})


def seed(
    server: LocalServer, tables: int, rows: int, streams: int, partitioned: bool
) -> dict[str, float]:
    os.environ["PGREHEARSE_SEED_STREAMS"] = str(streams)
    kwargs = server.connect_kwargs("postgres", "pgrehearse:bench")
    with psycopg.connect(**kwargs) as conn:
        _create(conn, tables, partitioned)
        plans = plan(conn, _data(tables, rows), 1.0)
        conn.commit()
        server_cpu, own = _server_cpu(server), time.process_time()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        seed_tables(conn, plans, seed=1, connect=lambda: psycopg.connect(**kwargs))
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        ours = time.process_time() - own + after.ru_utime + after.ru_stime
        ours -= children.ru_utime + children.ru_stime
        return {"wall": wall, "cores": (_server_cpu(server) - server_cpu + ours) / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", type=int, default=2)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of each table")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--partitioned", action="store_true", help="one hash-partitioned table")
    args = parser.parse_args()
    tables = 1 if args.partitioned else args.tables
    streams = args.tables

    scratch_cache = tempfile.mkdtemp(prefix="pgrehearse-bench-cache-")
    os.environ["PGREHEARSE_CACHE_DIR"] = scratch_cache
    server = LocalBackend(find_binaries()).start(seed_settings({}))
    try:
        shape = "one table in 8 hash partitions" if args.partitioned else f"{tables} tables"
        print(
            f"PostgreSQL {server.version}, {os.cpu_count()} cores, {shape}, {args.rows:,} rows each"
        )
        runs: dict[int, list[dict[str, float]]] = {1: [], streams: []}
        for _ in range(args.rounds):
            for count in runs:  # interleaved: noise hits both alike
                runs[count].append(seed(server, tables, args.rows, count, args.partitioned))
        total = tables * args.rows
        medians = {}
        for count, measured in runs.items():
            wall = statistics.median(m["wall"] for m in measured)
            cores = statistics.median(m["cores"] for m in measured)
            medians[count] = wall
            label = "one after another" if count == 1 else f"{count} streams at once"
            print(f"  {label:<20} {total / wall:>12,.0f} rows/s  {cores:.2f} cores busy")
        print(f"  side by side / one after another, rows/s: {medians[1] / medians[streams]:.2f}")
    finally:
        server.close()
        shutil.rmtree(scratch_cache, ignore_errors=True)


if __name__ == "__main__":
    main()
