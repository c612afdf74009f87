"""The load generator against pgbench, same SQL, same clients, same server, same run.

    .venv/bin/python benchmarks/load_speed.py [--clients 8] [--seconds 10] [--rounds 3]

Two transaction kinds, weight 1 each: a primary-key SELECT and a primary-key UPDATE on a
100,000-row table. pgbench runs them as two script files (`-f select@1 -f update@1`,
prepared protocol); pgrehearse as two load transactions. Interleaved rounds; medians.
Target (issue 21): pgrehearse >= 80% of pgbench's transactions per second.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import time

import psycopg

from pgrehearse.backends import LocalBackend, LocalServer, find_binaries
from pgrehearse.backends.settings import rehearsal_settings
from pgrehearse.load import LoadProcess, prepare_transactions
from pgrehearse.scenario import LoadSpec

ROWS = 100_000
SELECT = "SELECT balance FROM accounts WHERE id = :id"
UPDATE = "UPDATE accounts SET balance = balance + 1 WHERE id = :id"


def setup(server: LocalServer) -> None:
    with psycopg.connect(**server.connect_kwargs("postgres", "bench"), autocommit=True) as conn:
        conn.execute("CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL)")
        conn.execute("INSERT INTO accounts SELECT g, 0 FROM generate_series(1, %s) g", (ROWS,))
        conn.execute("VACUUM ANALYZE accounts")


def run_pgbench(server: LocalServer, clients: int, seconds: float) -> float:
    folder = server.workdir
    (folder / "select.sql").write_text(f"\\set id random(1, {ROWS})\n{SELECT};\n")
    (folder / "update.sql").write_text(f"\\set id random(1, {ROWS})\n{UPDATE};\n")
    result = subprocess.run(
        [
            str(server.client_program("pgbench")),
            "-n",
            "-M",
            "prepared",
            "-c",
            str(clients),
            "-j",
            "2",
            "-T",
            str(int(seconds)),
            "-f",
            f"{folder / 'select.sql'}@1",
            "-f",
            f"{folder / 'update.sql'}@1",
        ],
        env=server.client_env("postgres"),
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(r"tps = ([0-9.]+)", result.stdout)
    assert match, result.stdout
    return float(match.group(1))


def run_pgrehearse(server: LocalServer, clients: int, seconds: float) -> float:
    spec = LoadSpec.model_validate(
        {
            "clients": clients,
            "transactions": [
                {"name": "select", "sql": SELECT, "params": {"id": {"int": [1, ROWS]}}},
                {"name": "update", "sql": UPDATE, "params": {"id": {"int": [1, ROWS]}}},
            ],
        }
    )
    origin = time.perf_counter()
    load = LoadProcess(
        spec, prepare_transactions(spec), server.connect_kwargs("postgres", "x"), origin, 1
    )
    load.start()
    time.sleep(seconds)
    events = load.stop()
    ok = int((events.outcome == 0).sum())
    return ok / (events.stopped_s - events.started_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    server = LocalBackend(find_binaries()).start(rehearsal_settings({}))
    try:
        setup(server)
        ours, theirs = [], []
        for _ in range(args.rounds):
            theirs.append(run_pgbench(server, args.clients, args.seconds))
            ours.append(run_pgrehearse(server, args.clients, args.seconds))
        print(
            f"{args.clients} clients, {args.seconds:g} s x {args.rounds} rounds, "
            "fsync on (rehearsal settings)"
        )
        print(f"  pgbench    : {statistics.median(theirs):>9,.0f} tps  {theirs}")
        print(f"  pgrehearse : {statistics.median(ours):>9,.0f} tps  {ours}")
        print(
            f"  ratio      : {statistics.median(ours) / statistics.median(theirs):.2f}"
            " (target >= 0.80)"
        )
    finally:
        server.close()


if __name__ == "__main__":
    main()
