"""The rehearsal pipeline, one stage per module (plain data in, plain data out):

- `provision`: backend, schema, seeding, the snapshot cache (`cache`), pg_dump/pg_restore split
- `steps`: one `run_phase` (timeouts, retries, failure text), one fingerprint and round trip
- `observed`: up and down under the sampler, with the application load and blockers
- `verdict`: budgets (`budgets`) and the outcome, decided once
- `run`: `rehearse()`, which orders the above; `seeded` and `rounds`: seeded copies for tests
  and timing rounds; `result`: the `Rehearsal` they fill; `progress`: how they report it

Import what you need from `pgrehearse`; the modules here are its parts.
"""
