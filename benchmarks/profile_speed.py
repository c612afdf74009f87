"""How long `pgrehearse profile` takes on a database of many tables.

    .venv/bin/python benchmarks/profile_speed.py [--tables 100] [--rows 2000] [--rounds 3]

Builds a throwaway database of `--tables` tables (an identity key, a foreign key to the
previous table, text, numbers, a timestamp, an enum; `--rows` rows each), analyzes it, and
profiles it `--rounds` times into fresh folders. Prints the median, and, as the baseline
from the same process, a bare `pg_dump --schema-only` of the same database, which every
profile runs too.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from pgrehearse.backends import LocalBackend, find_binaries
from pgrehearse.profile import profile_database


def _build(dsn: str, tables: int, rows: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TYPE state AS ENUM ('new', 'active', 'closed')")
        for number in range(tables):
            parent = f", parent_id bigint REFERENCES t{number - 1}" if number else ""
            conn.execute(
                f"CREATE TABLE t{number} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
                f"{parent}, label text, amount numeric(10,2), created_at timestamptz, "
                "state state NOT NULL DEFAULT 'new')"
            )
            parent_value = f"1 + g % {rows}, " if number else ""
            columns = "parent_id, " if number else ""
            conn.execute(
                f"INSERT INTO t{number} ({columns}label, amount, created_at, state) "
                f"SELECT {parent_value}'item ' || (g % 300), (g % 1000) / 7.0, "
                "now() - g * interval '1 minute', (ARRAY['new','active','closed'])[1 + g % 3]"
                f"::state FROM generate_series(1, {rows}) g"
            )
        conn.execute("ANALYZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", type=int, default=100)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    binaries = find_binaries()
    server = LocalBackend(binaries).start({})
    scratch = Path(tempfile.mkdtemp(prefix="pgrehearse-bench-"))
    try:
        with psycopg.connect(**server.connect_kwargs("postgres", "bench"), autocommit=True) as c:
            c.execute("CREATE DATABASE shop")
        dsn = f"postgresql://pgrehearse:{server.password}@127.0.0.1:{server.port}/shop"
        _build(dsn, args.tables, args.rows)
        profiles, dumps = [], []
        for number in range(args.rounds):
            began = time.perf_counter()
            profile_database(dsn, scratch / f"p{number}")
            profiles.append(time.perf_counter() - began)
            began = time.perf_counter()
            subprocess.run(
                [str(binaries.program("pg_dump")), "--schema-only", f"--dbname={dsn}"],
                check=True,
                capture_output=True,
            )
            dumps.append(time.perf_counter() - began)
        profile, dump = statistics.median(profiles), statistics.median(dumps)
        print(f"PostgreSQL {server.version}: {args.tables} tables of {args.rows:,} rows")
        print(f"profile: {profile:.2f} s (rounds {', '.join(f'{p:.2f}' for p in profiles)})")
        print(f"pg_dump --schema-only alone: {dump:.2f} s; profile / pg_dump: {profile / dump:.1f}")
    finally:
        server.close()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
