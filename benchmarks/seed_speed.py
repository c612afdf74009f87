"""Seeding speed against the server's own baselines, on one throwaway server, in one process.

    .venv/bin/python benchmarks/seed_speed.py [--rows 1000000 5000000] [--rounds 3]
                                              [--partitioned [--hash]] [--profile]

For each row count it loads the same realistic 8-column table three ways and prints rows/s,
heap MB/s and the ratio to the baselines (medians of the rounds):

  pgrehearse   the seeder: numpy/Faker-pool generators in worker processes, COPY FREEZE
  copy_file    the server's own `COPY ... FROM '<file>'` of a file holding equivalent rows
  gen_series   `INSERT ... SELECT ... FROM generate_series` with equivalent expressions
  pgr_stdin    (with --stdin) the seeder sending COPY FROM STDIN instead of through the
               named pipe the server reads as a file
  pgr_text     (with --text) the seeder sending COPY's text format instead of binary

It also prints the heap's size and where the seeder's time goes: CPU µs a row of the
server's processes, of the generating worker processes and of this process, and wall µs.

The Faker pools pgrehearse builds (about 1 s here for the two Faker columns) are cached on
disk after the first round; the first, cold round is printed apart. The benchmark uses a
cache folder of its own, so it always starts cold.

Each load creates its table in the loading transaction (so every method gets the same
wal_level=minimal shortcut) under the seeding settings pgrehearse itself uses.
Targets: pgrehearse >= 70% of copy_file's rows/s, and faster than gen_series.

With --profile, the columns are filled as a `pgrehearse profile` scenario fills them:
`empirical` generators (common values, histograms, distinct counts, correlation) and an
e-mail column of unique numbered text. The target there is >= 80% of copy_file.

With --increasing, created_at rises with the row number, as pgrehearse infers a range
partition's key (rows arrive in its order): each partition then takes a run of rows.

With --partitioned, `bench` is partitioned by year of created_at (seven partitions).
pgrehearse routes the rows to their partitions itself and COPY FREEZEs each; `copy_file` and
`gen_series` load through the parent (PostgreSQL routes the rows; no FREEZE is allowed
there), a fourth baseline, `copy_leaves`, is the server's best: each partition COPY
FREEZE from a file holding just its rows, and `pgr_plain` is pgrehearse loading the same
rows into the same table not partitioned (the goal: partitioned as fast as plain), and
`copy_plain` the server's own COPY FREEZE of the whole file into that plain table (with
`copy_leaves`, what partitioning costs the server itself: a row COPYed into a partition is
checked against its bounds). `pgr_scatter` is the seeder with the key left where its
generator made it (`PGREHEARSE_LEAF_ORDER=0`; by default each window of 1M rows deals its
keys out in leaf order, see `_leaf_order`). With --hash too, the partitioning is by hash
of id into 8 partitions (pgrehearse finds each row's leaf with PostgreSQL's own partition
hash).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from pgrehearse.backends import LocalBackend, LocalServer, find_binaries
from pgrehearse.backends.settings import seed_settings
from pgrehearse.scenario import DataSpec
from pgrehearse.seed import plan, seed_tables
from pgrehearse.seed._hash import partition_hash
from pgrehearse.seed._pipeline import produce_blocks

TABLE_DDL = """
CREATE TABLE bench (
    id          bigint NOT NULL,
    name        text NOT NULL,
    email       text NOT NULL,
    created_at  timestamptz NOT NULL,
    status      integer NOT NULL,
    amount      numeric(10, 2) NOT NULL,
    active      boolean NOT NULL,
    extra       jsonb NOT NULL
)
"""
PARTITIONS = "".join(
    f"CREATE TABLE bench_{year} PARTITION OF bench "
    f"FOR VALUES FROM ('{year}-01-01') TO ('{year + 1}-01-01');\n"
    for year in range(2019, 2026)
)
HASH_PARTITIONS = "".join(
    f"CREATE TABLE bench_{r} PARTITION OF bench FOR VALUES WITH (MODULUS 8, REMAINDER {r});\n"
    for r in range(8)
)
PARTITIONED = {"on": False, "hash": False, "increasing": False, "plain_table": False}


def _create(conn: psycopg.Connection[Any]) -> None:
    if not PARTITIONED["on"] or PARTITIONED["plain_table"]:
        conn.execute(TABLE_DDL)
        return
    if PARTITIONED["hash"]:
        conn.execute(TABLE_DDL.rstrip() + " PARTITION BY HASH (id)")
        statements = HASH_PARTITIONS
    else:
        conn.execute(TABLE_DDL.rstrip() + " PARTITION BY RANGE (created_at)")
        statements = PARTITIONS
    for statement in statements.strip().split(";\n"):
        conn.execute(statement.rstrip(";"))


DATA: dict[str, Any] = {
    "seed": 1,
    "tables": {
        "bench": {
            "rows": 0,
            "columns": {
                "id": {"sequence": 1},
                "name": {"faker": "name"},
                "email": {"faker": "email", "unique": True},
                "created_at": {"between": ["2019-01-01T00:00:00", "2026-01-01T00:00:00"]},
                "status": {"int": [0, 4]},
                "amount": {"float": [0, 5000], "decimals": 2},
                "active": {"bool": 0.8},
                "extra": {"json": {"n": {"int": [1, 100]}, "tag": {"choice": ["a", "b", "c"]}}},
            },
        }
    },
}

# --profile: the same table filled as a profile's scenario fills it (empirical generators
# from pg_stats-like statistics; e-mail as unique numbered text of production's width)
_DAYS = [f"20{19 + i // 12}-{1 + i % 12:02d}-01 00:00:00+00" for i in range(0, 84, 2)]
PROFILED_COLUMNS: dict[str, Any] = {
    "id": {"sequence": 1},
    "name": {
        "empirical": "text",
        "values": ["Maria Garcia", "James Smith", "Wei Zhang"],
        "freqs": [0.01, 0.008, 0.005],
        "distinct": -0.4,
        "width": 14,
        "like": "name",
    },
    "email": {"empirical": "text", "unique": True, "like": "email", "width": 24},
    "created_at": {"empirical": "moment", "histogram": _DAYS, "distinct": -1, "correlation": 0.9},
    "status": {
        "empirical": "value",
        "values": [0, 1, 2, 3, 4],
        "freqs": [0.6, 0.2, 0.1, 0.06, 0.04],
    },
    "amount": {
        "empirical": "number",
        "decimals": 2,
        "values": [9.99, 19.99, 4.99],
        "freqs": [0.05, 0.03, 0.02],
        "histogram": [round(0.5 * 1.08**i, 2) for i in range(101)],
        "distinct": -0.05,
    },
    "active": {"empirical": "value", "values": ["t", "f"], "freqs": [0.8, 0.2]},
    "extra": {"json": {"n": {"int": [1, 100]}, "tag": {"choice": ["a", "b", "c"]}}},
}
PROFILED = {"on": False}

GENERATE_SERIES = """
INSERT INTO bench
SELECT g,
       'Name ' || (g %% 5000),
       'user' || (g %% 5000) || '.' || g || '@example.org',
       timestamptz '2019-01-01 00:00:00+00' + abs(hashint8(g) %% 220000000) * interval '1 second',
       abs(hashint8(g + 1)) %% 5,
       (abs(hashint8(g + 2)) %% 500000) / 100.0,
       abs(hashint8(g + 3)) %% 10 < 8,
       jsonb_build_object('n', abs(hashint8(g + 4)) %% 100 + 1, 'tag',
                          (ARRAY['a', 'b', 'c'])[abs(hashint8(g + 5)) %% 3 + 1])
FROM generate_series(1, %s) AS g
"""


def _data(rows: int) -> DataSpec:
    table = {**DATA["tables"]["bench"], "rows": rows}
    if PROFILED["on"]:
        table["columns"] = PROFILED_COLUMNS
    if PARTITIONED["on"]:  # the last partition ends where 2026 begins
        latest = {"between": ["2019-01-01T00:00:00", "2025-12-31T23:59:59"]}
        table["columns"] = {**table["columns"], "created_at": latest}
    if PARTITIONED["increasing"] and not PROFILED["on"]:
        rising = {**table["columns"]["created_at"], "distribution": "increasing"}
        table["columns"] = {**table["columns"], "created_at": rising}
    return DataSpec.model_validate({**DATA, "tables": {"bench": table}})


def _connect(server: LocalServer) -> psycopg.Connection[Any]:
    return psycopg.connect(**server.connect_kwargs("postgres", "pgrehearse:bench"))


def _heap_bytes(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(
        # a plain table has no partition tree: then it is its own size
        "SELECT coalesce((SELECT sum(pg_table_size(relid)) FROM pg_partition_tree('bench')),"
        " pg_table_size('bench'))"
    ).fetchone()
    return int(row[0]) if row else 0


def _fresh(conn: psycopg.Connection[Any]) -> None:
    conn.execute("DROP TABLE IF EXISTS bench")
    conn.commit()
    conn.execute("CHECKPOINT")
    conn.commit()


# where the seeder's time goes, per round: CPU seconds of the server's processes, of the
# generating worker processes and of this process, and the wall time
CPU: list[dict[str, float]] = []


def _server_cpu(server: LocalServer) -> float:
    """CPU seconds the server's processes used so far (the server runs on this machine):
    the postmaster's children alive now, and those it has reaped (a partitioned table's
    leaves load in sessions of their own, which end with the seed)."""
    postmaster = int((server.data_dir / "postmaster.pid").read_text().split()[0])
    ticks = _ticks(postmaster, children_too=True)
    task = Path(f"/proc/{postmaster}/task/{postmaster}/children")
    for child in task.read_text().split():
        with contextlib.suppress(OSError):  # it ended meanwhile
            ticks += _ticks(int(child), children_too=False)
    return ticks / os.sysconf("SC_CLK_TCK")


def _ticks(pid: int, *, children_too: bool) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = int(fields[11]) + int(fields[12])  # utime, stime
    return own + (int(fields[13]) + int(fields[14]) if children_too else 0)  # of the reaped


def load_pgrehearse(server: LocalServer, rows: int) -> tuple[float, int]:
    data = _data(rows)
    with _connect(server) as conn:
        _fresh(conn)
        _create(conn)  # the seeder truncates it in its own transaction (FREEZE)
        conn.commit()
        plans = plan(conn, data, 1.0)
        conn.commit()
        server_cpu, own_cpu = _server_cpu(server), time.process_time()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        # as a rehearsal does: new sessions allowed (a partitioned table's leaves use them)
        seed_tables(conn, plans, seed=1, connect=functools.partial(_connect, server))
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        CPU.append(
            {
                "server": _server_cpu(server) - server_cpu,
                "workers": after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime,
                "main": time.process_time() - own_cpu,
                "wall": elapsed,
            }
        )
        return elapsed, _heap_bytes(conn)


def _seeder_with(variable: str, server: LocalServer, rows: int) -> tuple[float, int]:
    """The seeder with `variable` set to 0; its CPU breakdown is not the one printed."""
    os.environ[variable] = "0"
    try:
        return load_pgrehearse(server, rows)
    finally:
        del os.environ[variable]
        CPU.pop()  # the breakdown printed is the default path's


def load_pgrehearse_stdin(server: LocalServer, rows: int) -> tuple[float, int]:
    """The seeder with its rows sent as COPY FROM STDIN instead of through a named pipe."""
    return _seeder_with("PGREHEARSE_SEED_PIPE", server, rows)


def load_pgrehearse_scattered(server: LocalServer, rows: int) -> tuple[float, int]:
    """The seeder with the partition key left in the order its generator made it (before
    `_leaf_order`): each leaf's rows come scattered over the table, written in runs."""
    return _seeder_with("PGREHEARSE_LEAF_ORDER", server, rows)


def load_pgrehearse_text(server: LocalServer, rows: int) -> tuple[float, int]:
    """The seeder sending COPY text, as it did before binary COPY."""
    return _seeder_with("PGREHEARSE_SEED_BINARY", server, rows)


PLAIN_CPU: list[dict[str, float]] = []  # the breakdown of pgr_plain's rounds


def load_pgrehearse_plain(server: LocalServer, rows: int) -> tuple[float, int]:
    """The seeder with the same rows into the same table, not partitioned."""
    PARTITIONED["plain_table"] = True
    try:
        return load_pgrehearse(server, rows)
    finally:
        PARTITIONED["plain_table"] = False
        PLAIN_CPU.append(CPU.pop())


def load_copy_plain(server: LocalServer, path: Path) -> tuple[float, int]:
    """The server's own COPY FREEZE of the rows file into the table not partitioned: with
    `copy_leaves`, what partitioning costs the server itself (a row COPYed into a partition
    is checked against the partition's bounds)."""
    PARTITIONED["plain_table"] = True
    try:
        with _connect(server) as conn:
            _fresh(conn)
            started = time.perf_counter()
            _create(conn)
            conn.execute(f"COPY bench FROM '{path}' WITH (FREEZE)")
            conn.commit()
            elapsed = time.perf_counter() - started
            return elapsed, _heap_bytes(conn)
    finally:
        PARTITIONED["plain_table"] = False


def write_rows_file(server: LocalServer, rows: int) -> Path:
    """The same rows pgrehearse generates, in a file the server can read."""
    data = _data(rows)
    with _connect(server) as conn:
        _fresh(conn)
        _create(conn)
        conn.commit()
        [table_plan] = plan(conn, data, 1.0)
    from pgrehearse.seed import Column, GeneratorContext, build_generator

    columns = [
        Column(
            c.name,
            build_generator(c.spec, GeneratorContext(1, "bench", c.name, rows)),
            c.spec.null_fraction,
        )
        for c in table_plan.columns
    ]
    path = server.workdir / "bench_rows.txt"
    with path.open("wb") as out:
        for _, block in produce_blocks(columns, rows, seed=1, table="bench"):
            out.write(block)
    if server.run_as is not None:
        os.chown(path, server.run_as.uid, server.run_as.gid)
    return path


def load_copy_file(server: LocalServer, path: Path) -> tuple[float, int]:
    with _connect(server) as conn:
        _fresh(conn)
        started = time.perf_counter()
        _create(conn)
        freeze = "" if PARTITIONED["on"] else " WITH (FREEZE)"
        conn.execute(f"COPY bench FROM '{path}'{freeze}")
        conn.commit()
        elapsed = time.perf_counter() - started
        return elapsed, _heap_bytes(conn)


def _leaf_of(line: bytes) -> int:
    if PARTITIONED["hash"]:  # the id (column 1) by PostgreSQL's own partition hash
        key = np.array([int(line.split(b"\t", 1)[0])], dtype=np.int64)
        return int(partition_hash(key, 8)[0] % np.uint64(8))
    return int(line.split(b"\t", 4)[3][:4])  # the year of created_at (column 4)


def split_by_leaf(server: LocalServer, path: Path) -> dict[int, Path]:
    """The rows file cut into one file per partition."""
    lines: dict[int, list[bytes]] = {}
    with path.open("rb") as rows:
        for line in rows:
            lines.setdefault(_leaf_of(line), []).append(line)
    files = {}
    for year, chunk in lines.items():
        files[year] = server.workdir / f"bench_rows_{year}.txt"
        files[year].write_bytes(b"".join(chunk))
        if server.run_as is not None:
            os.chown(files[year], server.run_as.uid, server.run_as.gid)
    return files


def load_copy_leaves(server: LocalServer, files: dict[int, Path]) -> tuple[float, int]:
    """The server's best for a partitioned table: each leaf COPY FREEZE from its own file."""
    with _connect(server) as conn:
        _fresh(conn)
        started = time.perf_counter()
        _create(conn)
        for year, path in files.items():
            conn.execute(f"COPY bench_{year} FROM '{path}' WITH (FREEZE)")
        conn.commit()
        elapsed = time.perf_counter() - started
        return elapsed, _heap_bytes(conn)


def load_generate_series(server: LocalServer, rows: int) -> tuple[float, int]:
    with _connect(server) as conn:
        _fresh(conn)
        started = time.perf_counter()
        _create(conn)
        conn.execute(GENERATE_SERIES, (rows,))
        conn.commit()
        elapsed = time.perf_counter() - started
        return elapsed, _heap_bytes(conn)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--partitioned", action="store_true", help="a partitioned table")
    parser.add_argument("--hash", action="store_true", help="with --partitioned: by hash (id)")
    parser.add_argument("--profile", action="store_true", help="empirical generators")
    parser.add_argument(
        "--stdin", action="store_true", help="also the seeder with COPY FROM STDIN (no pipe)"
    )
    parser.add_argument(
        "--text", action="store_true", help="also the seeder sending COPY text (no binary)"
    )
    parser.add_argument(
        "--increasing",
        action="store_true",
        help="created_at rising with the row number (as pgrehearse infers a range key)",
    )
    args = parser.parse_args()
    PARTITIONED["increasing"] = args.increasing
    PARTITIONED["on"] = args.partitioned
    PARTITIONED["hash"] = args.hash
    PROFILED["on"] = args.profile

    scratch_cache = tempfile.mkdtemp(prefix="pgrehearse-bench-cache-")
    os.environ["PGREHEARSE_CACHE_DIR"] = scratch_cache
    server = LocalBackend(find_binaries()).start(seed_settings({}))
    try:
        shape = "partitioned by year (7 partitions)" if args.partitioned else "plain"
        shape = "partitioned by hash of id (8 partitions)" if args.hash else shape
        shape += ", columns from a profile (empirical)" if args.profile else ""
        shape += ", created_at increasing" if args.increasing else ""
        print(f"PostgreSQL {server.version}, {os.cpu_count()} cores, rounds={args.rounds}, {shape}")
        for rows in args.rows:
            path = write_rows_file(server, rows)
            methods: dict[str, Callable[[], tuple[float, int]]] = {
                "pgrehearse": functools.partial(load_pgrehearse, server, rows),
                "copy_file": functools.partial(load_copy_file, server, path),
                "gen_series": functools.partial(load_generate_series, server, rows),
            }
            if args.stdin:
                methods["pgr_stdin"] = functools.partial(load_pgrehearse_stdin, server, rows)
            if args.text:
                methods["pgr_text"] = functools.partial(load_pgrehearse_text, server, rows)
            leaf_files = split_by_leaf(server, path) if args.partitioned else {}
            if leaf_files:
                methods["copy_leaves"] = functools.partial(load_copy_leaves, server, leaf_files)
                methods["pgr_plain"] = functools.partial(load_pgrehearse_plain, server, rows)
                methods["pgr_scatter"] = functools.partial(load_pgrehearse_scattered, server, rows)
                methods["copy_plain"] = functools.partial(load_copy_plain, server, path)
            timings: dict[str, list[float]] = {name: [] for name in methods}
            CPU.clear()
            PLAIN_CPU.clear()
            heap: dict[str, int] = {}
            for _ in range(args.rounds):
                for name, method in methods.items():  # interleaved: noise hits all alike
                    seconds, heap[name] = method()
                    timings[name].append(seconds)
            path.unlink()
            for leaf_file in leaf_files.values():
                leaf_file.unlink()
            medians = {name: statistics.median(values) for name, values in timings.items()}
            print(f"\n{rows:,} rows")
            print(f"  {'method':<12} {'rows/s':>12} {'heap MB/s':>10} {'median s':>9}")
            for name, seconds in medians.items():
                print(
                    f"  {name:<12} {rows / seconds:>12,.0f} {heap[name] / 1e6 / seconds:>10,.1f} "
                    f"{seconds:>9.2f}"
                )
            ours_heap = heap["pgrehearse"]
            print(f"  heap: {ours_heap / 1e6:,.0f} MB ({ours_heap / rows:.0f} B a row)")
            for label, breakdown in (("pgrehearse", CPU), ("pgr_plain", PLAIN_CPU)):
                if not breakdown:
                    continue
                spent = {key: statistics.median(r[key] for r in breakdown) for key in breakdown[0]}
                print(
                    f"  where {label}'s time goes, µs a row (CPU; medians): "
                    + ", ".join(f"{key} {value / rows * 1e6:.2f}" for key, value in spent.items())
                )
            cold = timings["pgrehearse"][0]
            print(f"  pgrehearse first round, cold Faker pools: {rows / cold:,.0f} rows/s")
            ours = medians["pgrehearse"]
            print(f"  pgrehearse / copy_file rows/s : {medians['copy_file'] / ours:.2f}")
            print(f"  pgrehearse / gen_series rows/s: {medians['gen_series'] / ours:.2f}")
            if "copy_leaves" in medians:
                print(f"  pgrehearse / copy_leaves rows/s: {medians['copy_leaves'] / ours:.2f}")
                print(f"  pgrehearse / pgr_plain rows/s: {medians['pgr_plain'] / ours:.2f}")
                scattered = medians["pgr_plain"] / medians["pgr_scatter"]
                print(f"  pgr_scatter / pgr_plain rows/s: {scattered:.2f}")
                leaves_to_plain = medians["copy_plain"] / medians["copy_leaves"]
                print(f"  the server's own, copy_leaves / copy_plain rows/s: {leaves_to_plain:.2f}")
    finally:
        server.close()
        shutil.rmtree(scratch_cache, ignore_errors=True)


if __name__ == "__main__":
    main()
