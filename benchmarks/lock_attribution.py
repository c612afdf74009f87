"""How often a CREATE INDEX CONCURRENTLY rehearsal under load is reported as blocking.

    .venv/bin/python benchmarks/lock_attribution.py [--runs 20] [--rows 200000]

CREATE INDEX CONCURRENTLY takes a ShareUpdateExclusiveLock on the table, which blocks no
read and no write; the sampler may also see a lock on the index being built, which nobody
else can see. Each run rehearses it under a read/write load and counts the runs whose
report names a lock that blocks reads or writes for the statement. The answer should be
0 of N. The down, DROP INDEX CONCURRENTLY, runs for a few milliseconds: it counts the runs
in which its locks were seen (by the burst polling of statements outside a transaction).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from pgrehearse import ServerOptions, load_scenario, rehearse

SCHEMA = """
CREATE TABLE t (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text NOT NULL,
    n int NOT NULL
);
"""

SCENARIO = """
version: 1
name: cic
schema: schema.sql
data:
  seed: 1
  tables:
    t:
      rows: {rows}
      columns: {{email: {{faker: email, pool: 500}}, n: {{int: [1, 1000000]}}}}
migration:
  up: "CREATE INDEX CONCURRENTLY t_email_idx ON t (email);"
  down: "DROP INDEX CONCURRENTLY t_email_idx;"
load:
  clients: 4
  warmup: 0.5s
  cooldown: 0.5s
  transactions:
    - name: read
      sql: SELECT email FROM t WHERE id = :id
      params: {{id: {{int: [1, {rows}]}}}}
    - name: write
      sql: UPDATE t SET n = n + 1 WHERE id = :id
      params: {{id: {{int: [1, {rows}]}}}}
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="pgrehearse_bench_cic_"))
    (folder / "schema.sql").write_text(SCHEMA)
    (folder / "scenario.yaml").write_text(SCENARIO.format(rows=args.rows))
    scenario = load_scenario(folder / "scenario.yaml")
    blocking_runs = 0
    drop_seen = 0
    for number in range(1, args.runs + 1):
        result = rehearse(scenario, ServerOptions(), report_dir=None, history=False)
        [up] = result.statements_of("up")
        blocking = [lock for lock in up.locks if lock["blocks_reads"] or lock["blocks_writes"]]
        index_locks = [lock for lock in up.locks if lock["relation"] == "t_email_idx"]
        blocking_runs += bool(blocking)
        [down] = result.statements_of("down")
        drop_seen += bool(down.locks)
        print(
            f"run {number}: {result.outcome}; locks "
            + ", ".join(f"{lk['mode']} on {lk['relation']}" for lk in up.locks)
            + f"; index lock sampled: {bool(index_locks)}; blocking: {bool(blocking)}"
            + f"; DROP INDEX CONCURRENTLY ({(down.seconds or 0) * 1000:.1f} ms) locks: "
            + (", ".join(f"{lk['mode']} on {lk['relation']}" for lk in down.locks) or "none")
        )
    print(f"reported as blocking in {blocking_runs} of {args.runs} runs")
    print(f"DROP INDEX CONCURRENTLY: locks seen in {drop_seen} of {args.runs} runs")


if __name__ == "__main__":
    main()
