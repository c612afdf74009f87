"""`pgrehearse profile`: production's statistics as a scenario, private values kept home,
nothing written to the source, and a clone whose statistics match the source's."""

from __future__ import annotations

import collections
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
import yaml

from pgrehearse.backends import LocalBackend, LocalServer, PostgresBinaries
from pgrehearse.profile import compare_profiles
from pgrehearse.scenario import EmpiricalColumn, RefColumn
from pgrehearse.seed import BLOCK_ROWS, Column, GeneratorContext, analyze_estimate, build_generator
from pgrehearse.seed._empirical import EmpiricalGenerator
from tests.helpers import run_cli as _cli
from tests.tool_projects import write_alembic_project, write_django_project

SOURCE = (Path(__file__).parent / "profile_source.sql").read_text()


@dataclass
class Shop:
    server: LocalServer
    dsn: str

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.dsn, autocommit=True)


@pytest.fixture
def shop(work_root: Path, pg_binaries: PostgresBinaries) -> Iterator[Shop]:
    server = LocalBackend(pg_binaries).start({})
    try:
        with psycopg.connect(**server.connect_kwargs("postgres", "t"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE shop")
        dsn = f"postgresql://pgrehearse:{server.password}@127.0.0.1:{server.port}/shop"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(SOURCE)
        yield Shop(server, dsn)
    finally:
        server.close()


def _rendered(generator: Any, rows: int, null_fraction: float = 0.0) -> list[str]:
    column = Column("c", generator, null_fraction)
    values: list[str] = []
    for first in range(0, rows, BLOCK_ROWS):
        count = min(BLOCK_ROWS, rows - first)
        values += column.render(first, count, np.random.default_rng(first))
    return values


def _rank_correlation(values: list[float]) -> float:
    ranks = np.argsort(np.argsort(np.array(values), kind="stable"), kind="stable")
    return float(np.corrcoef(np.arange(len(values)), ranks)[0, 1])


# --------------------------------------------------------------------------- generator


def test_empirical_values_keep_shares_nulls_and_distinct_count() -> None:
    spec = EmpiricalColumn(
        empirical="number",
        values=[5, 50, 7],
        freqs=[0.3, 0.1, 0.05],
        histogram=[0, 100, 200, 400, 1000, 10000],
        distinct=900,
        null_fraction=0.1,
    )
    rows = 20_000  # ANALYZE would read every row: the distinct count is exact
    values = _rendered(EmpiricalGenerator(spec, rows, None, salt=7), rows)
    counts = collections.Counter(values)
    assert counts["\\N"] == round(0.1 * rows)  # placed exactly, not drawn
    for value, share in (("5", 0.3), ("50", 0.1), ("7", 0.05)):
        assert abs(counts[value] / rows - share) < 0.005, (value, counts[value])
    # 900 but for the few rest values that rounded onto a common value and moved off it
    assert len(counts) - 1 == pytest.approx(900, rel=0.01)
    numbers = [float(v) for v in values if v != "\\N"]
    assert min(numbers) >= 0 and max(numbers) <= 10000
    # the rest follows the histogram: a fifth of it in each bucket
    rest = [n for n in numbers if n not in (5, 50, 7)]
    share_below_100 = sum(1 for n in rest if n < 100) / len(rest)
    assert abs(share_below_100 - 0.2) < 0.03


def test_an_estimated_distinct_count_is_what_analyze_finds_again() -> None:
    """pg_stats' n_distinct is ANALYZE's estimate from a 30,000-row sample, short of the
    truth when values are rare: a clone with that many values would be estimated lower
    again. A clone made from "production's" statistics must give production's estimate."""
    rows = 200_000
    production = np.floor(np.random.default_rng(1).lognormal(8, 1.5, rows)).astype(np.int64)
    sample = np.random.default_rng(2).choice(production, 30_000, replace=False)
    estimate = analyze_estimate(sample, rows)
    assert estimate < 0.9 * len(np.unique(production))  # the estimator's shortfall
    spec = EmpiricalColumn(
        empirical="number",
        histogram=np.quantile(production, np.linspace(0, 1, 101)).round().tolist(),
        distinct=-estimate / rows,
    )
    clone = np.array([int(v) for v in _rendered(EmpiricalGenerator(spec, rows, None), rows)])
    for seed in range(3):
        taken = np.random.default_rng(seed).choice(clone, 30_000, replace=False)
        assert analyze_estimate(taken, rows) == pytest.approx(estimate, rel=0.05)


@pytest.mark.parametrize("correlation", [1.0, -1.0, 0.6, -0.6])
def test_values_rise_or_fall_with_insertion_order_as_correlation_says(correlation: float) -> None:
    spec = EmpiricalColumn(
        empirical="date",
        values=["2024-01-05"],
        freqs=[0.1],
        histogram=["2020-01-01", "2022-01-01", "2025-01-01"],
        distinct=-0.5,
        correlation=correlation,
        null_fraction=0.05,
    )
    rows = 30_000
    values = [v for v in _rendered(EmpiricalGenerator(spec, rows, None), rows) if v != "\\N"]
    measured = _rank_correlation([float(v.replace("-", "")) for v in values])
    assert np.sign(measured) == np.sign(correlation)
    assert abs(measured) > abs(correlation) * 0.6, measured
    assert collections.Counter(values)["2024-01-05"] / rows == pytest.approx(0.1, abs=0.01)


def test_unique_text_is_unique_of_the_asked_width_and_email_shaped() -> None:
    spec = EmpiricalColumn(empirical="text", unique=True, like="email", width=24)
    rows = 25_000
    pool = ["ann@example.org", "bob@mail.example.com", "cy@example.net"]
    values = _rendered(EmpiricalGenerator(spec, rows, pool, salt=5), rows)
    assert len(set(values)) == rows
    assert all(re.fullmatch(r"[^@\s]+@[\w.]+", v) for v in values), values[:3]
    assert abs(np.mean([len(v) for v in values]) - 24) <= 2


def test_text_keeps_common_values_and_average_length() -> None:
    spec = EmpiricalColumn(
        empirical="text", values=["alpha", "beta"], freqs=[0.4, 0.1], distinct=-0.4, width=30
    )
    rows = 20_000
    pool = ["Lisbon", "Oslo", "Quito", "Accra"]
    values = _rendered(EmpiricalGenerator(spec, rows, pool, salt=1), rows)
    counts = collections.Counter(values)
    assert counts["alpha"] / rows == pytest.approx(0.4, abs=0.01)
    assert len(counts) == pytest.approx(0.4 * rows, rel=0.01)
    rest = [v for v in values if v not in ("alpha", "beta")]
    assert abs(np.mean([len(v) for v in rest]) - 30) <= 2


def test_hot_parents_keep_their_shares_and_the_distinct_count_holds() -> None:
    keys = np.arange(1, 5_001, dtype=np.int64)
    spec = RefColumn(ref="customers.id", hot=[0.2, 0.05, 0.03], distinct=-0.15)
    rows = 20_000
    context = GeneratorContext(0, "orders", "customer_id", rows, {"customers.id": keys})
    values = _rendered(build_generator(spec, context), rows)
    counts = collections.Counter(values)
    top = [share / rows for _, share in counts.most_common(3)]
    assert top == pytest.approx([0.2, 0.05, 0.03], abs=0.01)
    assert len(counts) == pytest.approx(0.15 * rows, rel=0.1)  # every row read by ANALYZE
    assert set(map(int, counts)) <= set(keys.tolist())


def test_fidelity_compares_by_rank_and_against_the_scaled_profile() -> None:
    reference = {
        "tables": {
            "t": {
                "rows": 1000,
                "heap_bytes": 80_000,
                "index_bytes": 0,
                "columns": {
                    "a": {
                        "null_frac": 0.1,
                        "n_distinct": -0.5,
                        "most_common_freqs": [0.3, 0.2],
                        "correlation": 0.9,
                        "seeded_by": "statistics",
                    },
                    "id": {"null_frac": 0.0, "n_distinct": -1, "seeded_by": "inference"},
                },
            }
        }
    }
    clone = {
        "tables": {
            "t": {
                "rows": 100,
                "heap_bytes": 8_192,
                "index_bytes": 0,
                "columns": {
                    "a": {
                        "null_frac": 0.11,
                        "n_distinct": -0.52,
                        "most_common_freqs": [0.25, 0.29],  # ranked, not by value
                        "correlation": -0.4,
                    }
                },
            }
        }
    }
    result = compare_profiles(reference, clone, scale=0.1)
    checks = {(c["what"], c["column"]): c for c in result["tables"][0]["checks"]}
    assert checks[("rows", None)]["passed"]
    assert checks[("heap bytes", None)]["passed"]  # 8,192 against 8,000
    assert checks[("null_frac", "a")]["passed"]
    assert checks[("n_distinct", "a")]["passed"]
    assert not checks[("top-10 MCV freqs", "a")]["passed"]  # 0.3 vs 0.29 ok, 0.2 vs 0.25 not
    assert not checks[("correlation sign", "a")]["passed"]
    assert ("null_frac", "id") not in checks and result["inferred_columns"] == ["t.id"]
    assert result["failed"] == 2 and not result["passed"]


# --------------------------------------------------------------------------- end to end


def _source_state(shop: Shop) -> dict[str, Any]:
    with shop.connect() as conn:
        return {
            "checksums": conn.execute(
                "SELECT md5(string_agg(c::text, ',' ORDER BY id)) FROM customers c"
                " UNION ALL SELECT md5(string_agg(o::text, ',' ORDER BY id)) FROM orders o"
            ).fetchall(),
            "writes": conn.execute(
                "SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables"
                " ORDER BY relname"
            ).fetchall(),
            "objects": conn.execute("SELECT count(*), max(oid::int8) FROM pg_class").fetchall(),
        }


def test_profile_then_run_meets_the_fidelity_goals(tmp_path: Path, shop: Shop) -> None:
    before = _source_state(shop)
    out = tmp_path / "shop"
    done = _cli("profile", "--dsn", shop.dsn, out)
    assert done.returncode == 0, done.stderr
    assert "2 tables, 190,000 rows;" in done.stdout
    assert shop.server.password not in done.stdout + done.stderr
    assert _source_state(shop) == before  # only read: no write, no object created
    for name in ("schema.sql", "profile.json", "scenario.yaml", "up.sql", "down.sql"):
        assert (out / name).is_file(), name
    for scale in ("1", "0.25"):
        reports = tmp_path / f"reports-{scale}"
        run = _cli("run", out, "--scale", scale, "--report-dir", reports, "--no-cache")
        assert run.returncode == 0, run.stdout + run.stderr
        [summary_file] = reports.glob("*/*/summary.json")
        fidelity = json.loads(summary_file.read_text())["fidelity"]
        missed = [
            (t["table"], c["what"], c["column"], c["expected"], c["actual"])
            for t in fidelity["tables"]
            for c in t["checks"]
            if not c["passed"]
        ]
        assert missed == [], f"scale {scale}: {missed}"
        judged = {
            (t["table"], c["what"], c["column"]) for t in fidelity["tables"] for c in t["checks"]
        }
        for table in ("customers", "orders"):
            assert {(table, "rows", None), (table, "heap bytes", None)} <= judged
            assert (table, "index bytes", None) in judged
        assert ("customers", "correlation sign", "signed_up") in judged  # rises
        assert ("orders", "correlation sign", "placed_at") in judged  # falls
        assert ("orders", "top-10 MCV freqs", "customer_id") in judged  # fan-out skew
        assert ("customers", "null_frac", "bio") in judged
        assert ("orders", "null_frac", "tags") in judged  # an array, from its elements
        assert "clone fidelity:" in run.stdout


def test_text_values_do_not_leave_the_source(tmp_path: Path, shop: Shop) -> None:
    out = tmp_path / "shop"
    assert _cli("profile", "--dsn", shop.dsn, out, "--pii", "customers.score").returncode == 0
    written = (out / "profile.json").read_text() + (out / "scenario.yaml").read_text()
    assert "example.com" not in written  # e-mail addresses
    assert not re.search(r"[0-9a-f]{32}", written)  # the bios' md5 text
    profile = json.loads((out / "profile.json").read_text())
    country = profile["tables"]["customers"]["columns"]["country"]
    assert not {"DE", "FR"} & set(country["most_common_vals"])
    assert country["histogram_bounds"] is None
    assert country["most_common_freqs"][0] == pytest.approx(0.5, abs=0.02)  # shares kept
    with shop.connect() as conn:
        originals = conn.execute(
            "SELECT most_common_vals::text::text[] FROM pg_stats WHERE attname = 'country'"
        ).fetchone()
    assert originals is not None
    assert [len(v) for v in country["most_common_vals"]] == [len(v) for v in originals[0]]
    assert len(set(country["most_common_vals"])) == len(originals[0])
    amount = profile["tables"]["orders"]["columns"]["amount"]
    assert amount["histogram_bounds"]  # numbers are aggregates: kept
    score = profile["tables"]["customers"]["columns"]["score"]
    assert score["most_common_vals"] is None and score["histogram_bounds"] is None  # --pii
    assert "score" not in (out / "scenario.yaml").read_text().split("orders:")[0]
    tags = profile["tables"]["orders"]["columns"]["tags"]
    assert tags["most_common_elems"] is None  # text array elements stay home too
    assert "gift" not in written and "fragile" not in written
    kept = tmp_path / "kept"
    assert _cli("profile", "--dsn", shop.dsn, kept, "--keep-values").returncode == 0
    kept_country = json.loads((kept / "profile.json").read_text())["tables"]["customers"]
    assert {"DE", "FR"} <= set(kept_country["columns"]["country"]["most_common_vals"])


def test_a_role_that_cannot_read_the_tables_exits_3(tmp_path: Path, shop: Shop) -> None:
    with shop.connect() as conn:
        conn.execute("CREATE ROLE outsider LOGIN PASSWORD 'not-a-secret'")
    dsn = shop.dsn.replace(f"pgrehearse:{shop.server.password}", "outsider:not-a-secret")
    done = _cli("profile", "--dsn", dsn, tmp_path / "out")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "role 'outsider' may not read 2 table(s): customers, orders" in done.stderr
    assert "pg_read_all_data" in done.stderr and "Traceback" not in done.stderr
    assert "not-a-secret" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_profile_refuses_a_folder_that_holds_a_scenario(tmp_path: Path, shop: Shop) -> None:
    out = tmp_path / "shop"
    assert _cli("profile", "--dsn", shop.dsn, out).returncode == 0
    (out / "up.sql").write_text("ALTER TABLE orders ADD COLUMN note text;\n")
    again = _cli("profile", "--dsn", shop.dsn, out)
    assert again.returncode == 2 and "--force" in again.stderr, again.stderr
    forced = _cli("profile", "--dsn", shop.dsn, out, "--force")
    assert forced.returncode == 0, forced.stderr
    assert "ADD COLUMN note" in (out / "up.sql").read_text()  # the user's migration stays


def test_a_profile_is_a_prediction_target_of_production_rows(tmp_path: Path) -> None:
    from pgrehearse.cli import _target

    profile = tmp_path / "profile.json"
    tables = {"orders": {"rows": 52_000_000, "columns": {}}, "empty": {"rows": 0}}
    profile.write_text(json.dumps({"format": 1, "tables": tables}))
    assert _target(str(profile)).rows == {"orders": 52_000_000}


def test_long_generator_lists_are_shortened_in_reports() -> None:
    from pgrehearse.report.facts import generator_text

    spec = {"empirical": "number", "histogram": list(range(101)), "values": [5, 6]}
    assert (
        generator_text(spec)
        == "{empirical: number, histogram: [0, 1, 2, …, 100] (101), values: [5, 6]}"
    )


INIT_SCHEMA = """
CREATE TYPE tier AS ENUM ('free', 'pro', 'enterprise');
CREATE TABLE customers (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email text NOT NULL UNIQUE,
  tier tier NOT NULL DEFAULT 'free',
  signed_up date NOT NULL
);
CREATE TABLE orders (
  id bigserial PRIMARY KEY,
  customer_id bigint NOT NULL REFERENCES customers,
  amount numeric(10,2) NOT NULL CHECK (amount > 0),
  placed_at timestamptz NOT NULL
);
CREATE TABLE order_tags (order_id bigint REFERENCES orders, tag text, PRIMARY KEY (order_id, tag));
CREATE TABLE schema_migrations (version varchar PRIMARY KEY);
INSERT INTO schema_migrations VALUES ('20240101000000'), ('20240201000000');
CREATE TABLE countries (code char(2) PRIMARY KEY, name text NOT NULL);
CREATE TABLE plans (tier tier PRIMARY KEY, price numeric(8,2) NOT NULL);
CREATE TABLE switches (position boolean PRIMARY KEY);
"""


def _load_summary(reports: Path) -> dict[str, Any]:
    [summary_file] = reports.glob("*/*/summary.json")
    return dict(json.loads(summary_file.read_text()))


def test_init_from_a_schema_file_validates_and_runs_as_written(
    tmp_path: Path, work_root: Path
) -> None:
    schema = tmp_path / "db" / "schema.sql"
    schema.parent.mkdir()
    schema.write_text(INIT_SCHEMA)
    out = tmp_path / "first"
    done = _cli("init", out, "--schema", schema, "--rows", "3000")
    assert done.returncode == 0, done.stderr
    assert "7 tables from the schema schema.sql; the load reads customers, orders" in done.stdout
    written = yaml.safe_load((out / "scenario.yaml").read_text())
    assert written["data"]["tables"]["schema_migrations"] == {"rows": 0}  # a tool's books
    # lookup tables get the rows their keys allow: a char(2) code, an enum, a boolean
    assert [written["data"]["tables"][t]["rows"] for t in ("countries", "plans", "switches")] == [
        36 * 36,
        3,
        2,
    ]
    assert _cli("validate", out).returncode == 0
    reports = tmp_path / "reports"
    run = _cli("run", out, "--report-dir", reports)
    assert run.returncode == 0, run.stdout + run.stderr
    summary = _load_summary(reports)
    assert sorted(t["rows"] for t in summary["tables"]) == [0, 2, 3, 1296, 3000, 3000, 3000]
    by_name = summary["load"]["phases"][0]["by_transaction"]
    assert set(by_name) == {"read_customers", "read_orders"}
    assert all(t["ok"] > 0 for t in by_name.values())
    assert {b["budget"] for b in summary["budgets"]} >= {"max_wait_ms", "roundtrip"}


def test_init_tells_what_the_plan_finds_in_the_scenario_it_wrote(
    tmp_path: Path, work_root: Path
) -> None:
    schema = tmp_path / "schema.sql"
    schema.write_text(
        "CREATE TABLE sales (yr int NOT NULL, mo int NOT NULL) PARTITION BY RANGE (yr, mo);\n"
        "CREATE TABLE sales_2024 PARTITION OF sales FOR VALUES FROM (2024, 1) TO (2025, 1);\n"
    )
    out = tmp_path / "sales"
    done = _cli("init", out, "--schema", schema, "--rows", "100")
    assert done.returncode == 0, done.stderr  # written, and what is left to settle told
    assert "the seeding plan found 1 problem(s)" in done.stderr
    assert "partitioned by (yr, mo)" in done.stderr and "scenario.yaml:" in done.stderr
    assert _cli("validate", out).returncode == 0


def test_init_from_a_database_is_a_profile_with_a_load(tmp_path: Path, shop: Shop) -> None:
    out = tmp_path / "shop"
    done = _cli("init", out, "--dsn", shop.dsn, "--scale", "0.1")
    assert done.returncode == 0, done.stderr
    assert "the load reads orders, customers" in done.stdout  # the largest first
    reports = tmp_path / "reports"
    run = _cli("run", out, "--report-dir", reports)
    assert run.returncode == 0, run.stdout + run.stderr
    summary = _load_summary(reports)
    assert summary["fidelity"]["passed"], summary["fidelity"]
    assert summary["load"]["phases"][0]["transactions"] > 0


ORM_SOURCE = """
CREATE TABLE "Clients" (
    "Id" serial PRIMARY KEY, "ClientId" varchar(200) NOT NULL UNIQUE, "Enabled" boolean NOT NULL
);
CREATE TABLE "ClientGrants" (
    "Id" serial PRIMARY KEY,
    "ClientId" int NOT NULL REFERENCES "Clients" ("Id"),
    "GrantType" varchar(250) NOT NULL
);
CREATE TABLE "ClientSecrets" (  -- empty in the source
    "Id" serial PRIMARY KEY, "ClientId" int NOT NULL REFERENCES "Clients" ("Id"), "Value" text
);
INSERT INTO "Clients" ("ClientId", "Enabled")
    SELECT 'client-' || g, g % 3 > 0 FROM generate_series(1, 3000) g;
INSERT INTO "ClientGrants" ("ClientId", "GrantType")
    SELECT 1 + g % 3000, (ARRAY['code', 'implicit'])[1 + g % 2] FROM generate_series(1, 9000) g;
ANALYZE;
"""


def test_init_from_a_database_whose_names_are_quoted_mixed_case(tmp_path: Path, shop: Shop) -> None:
    """Tables as ORMs name them ("Clients"), one of them empty: the scenario spells them as
    they are, the load's SQL quotes them, and the fidelity check finds them in the clone."""
    with shop.connect() as conn:
        conn.execute("CREATE DATABASE orm")
    dsn = shop.dsn.rsplit("/", 1)[0] + "/orm"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(ORM_SOURCE)
    out = tmp_path / "orm"
    done = _cli("init", out, "--dsn", dsn)
    assert done.returncode == 0, done.stderr
    scenario = yaml.safe_load((out / "scenario.yaml").read_text())
    assert {"Clients", "ClientGrants", "ClientSecrets"} <= set(scenario["data"]["tables"])
    reports = tmp_path / "reports"
    run = _cli("run", out, "--report-dir", reports)
    assert run.returncode == 0, run.stdout + run.stderr
    summary = _load_summary(reports)
    compared = {t["table"]: t["checks"] for t in summary["fidelity"]["tables"]}
    for table in ("Clients", "ClientGrants"):  # found again in the clone, by these names
        [rows] = [c for c in compared[table] if c["what"] == "rows"]
        assert rows["passed"], rows
    assert summary["load"]["phases"][0]["transactions"] > 0
    assert not any(summary["load"]["phases"][0]["errors"].values())


def test_init_that_fails_leaves_nothing_it_wrote(tmp_path: Path, work_root: Path) -> None:
    schema = tmp_path / "schema.sql"
    schema.write_text("CREATE TABLE t (id int PRIMARY KEY);\nCREATE TABLE t (id int);\n")
    failed = _cli("init", tmp_path / "new", "--schema", schema)
    assert failed.returncode == 2 and "schema.sql:2" in failed.stderr, failed.stderr
    assert not (tmp_path / "new").exists()
    kept = tmp_path / "existing"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    failed = _cli("init", kept, "--schema", schema)
    assert failed.returncode == 2
    assert sorted(p.name for p in kept.iterdir()) == ["notes.txt"]


def test_init_from_a_migration_folder_rehearses_its_last_migration(
    tmp_path: Path, work_root: Path
) -> None:
    migrations = tmp_path / "db" / "migrations"
    migrations.mkdir(parents=True)
    steps = {
        "20240101_accounts": (
            "CREATE TABLE accounts (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
            "email text NOT NULL UNIQUE);",
            "DROP TABLE accounts;",
        ),
        "20240202_notes": (
            "CREATE TABLE notes (id bigserial PRIMARY KEY, "
            "account_id bigint NOT NULL REFERENCES accounts (id), body text);",
            "DROP TABLE notes;",
        ),
        "20240303_pinned": (
            "ALTER TABLE notes ADD COLUMN pinned boolean NOT NULL DEFAULT false;",
            "ALTER TABLE notes DROP COLUMN pinned;",
        ),
    }
    for name, (up, down) in steps.items():
        (migrations / f"{name}.up.sql").write_text(up + "\n")
        (migrations / f"{name}.down.sql").write_text(down + "\n")
    out = tmp_path / "first"
    done = _cli("init", out, "--migrations", migrations, "--rows", "800")
    assert done.returncode == 0, done.stderr
    assert "2 tables from the migrations in ../db/migrations" in done.stdout, done.stdout
    written = yaml.safe_load((out / "scenario.yaml").read_text())
    assert written["migration"] == {"dir": "../db/migrations", "from": "20240202"}
    assert "schema" not in written and not (out / "up.sql").exists()
    assert written["data"]["tables"] == {"accounts": {"rows": 800}, "notes": {"rows": 800}}
    reports = tmp_path / "reports"
    run = _cli("run", out, "--report-dir", reports)
    assert run.returncode == 0, run.stdout + run.stderr
    summary = _load_summary(reports)
    assert [(m["phase"], m["migration"]) for m in summary["migrations"]] == [
        ("up", "20240303_pinned"),
        ("down", "20240303_pinned"),
    ]
    assert sorted(t["rows"] for t in summary["tables"]) == [800, 800]


CENTRAL = """
CREATE TABLE tags (id bigserial PRIMARY KEY, label text NOT NULL);
CREATE TABLE accounts (id bigserial PRIMARY KEY, email text NOT NULL);
CREATE TABLE orders (id bigserial PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES accounts (id));
CREATE TABLE "Audit Log" (id bigserial PRIMARY KEY,
    account_id bigint REFERENCES accounts (id), order_id bigint REFERENCES orders (id));
CREATE TABLE events (id bigint NOT NULL, at timestamptz NOT NULL, PRIMARY KEY (id))
    PARTITION BY HASH (id);
CREATE TABLE events_0 PARTITION OF events FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE events_1 PARTITION OF events FOR VALUES WITH (MODULUS 2, REMAINDER 1);
"""


def test_init_loads_the_tables_the_pending_migration_names_then_the_central_ones(
    tmp_path: Path, work_root: Path
) -> None:
    """Tables of equal size: the load reads those the pending migration names (a
    partition stands for its table; psql's meta-commands are skipped), else the ones most
    referenced by foreign keys, not the first by name."""
    from pgrehearse.profile import init_scenario

    schema = tmp_path / "schema.sql"
    schema.write_text(CENTRAL)
    alone = init_scenario(tmp_path / "alone", schema=schema, rows=500)
    assert alone.loaded == ["accounts", "orders"]
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "1_tags.up.sql").write_text(
        "\\set ON_ERROR_STOP on\nALTER TABLE events_1 ADD CHECK (at > '2000-01-01');\n"
        'UPDATE tags SET label = lower(label) FROM "Audit Log" a WHERE a.id = tags.id;\n'
    )
    (migrations / "1_tags.down.sql").write_text("SELECT 1;\n")
    pending = init_scenario(tmp_path / "pending", schema=schema, migrations=migrations, rows=500)
    assert pending.loaded == ["events", "tags"]


def test_init_keeps_the_reference_rows_a_migration_inserts(tmp_path: Path, work_root: Path) -> None:
    """Statuses and settings a migration inserts with their own keys are all there are:
    `rows: 0` keeps them; a table of users a migration put its admin in is still seeded."""
    from pgrehearse.profile import init_scenario

    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "1_init.up.sql").write_text(
        "CREATE TABLE order_status (id smallint PRIMARY KEY, code text NOT NULL);\n"
        "INSERT INTO order_status VALUES (1, 'NEW'), (2, 'PAID');\n"
        "CREATE TABLE setting (key text PRIMARY KEY, value text);\n"
        "INSERT INTO setting VALUES ('currency', 'EUR');\n"
        "CREATE TABLE users (id bigserial PRIMARY KEY, name text NOT NULL);\n"
        "INSERT INTO users (name) VALUES ('admin');\n"
        "CREATE TABLE countries (code char(2) PRIMARY KEY);\n"
        "CREATE TABLE orders (id bigserial PRIMARY KEY, user_id bigint REFERENCES users,\n"
        "    status_id smallint NOT NULL REFERENCES order_status);\n"
    )
    (migrations / "1_init.down.sql").write_text("SELECT 1;\n")
    (migrations / "2_note.up.sql").write_text("ALTER TABLE orders ADD note text;\n")
    (migrations / "2_note.down.sql").write_text("ALTER TABLE orders DROP note;\n")
    done = init_scenario(tmp_path / "sc", migrations=migrations, rows=300)
    assert done.reference == ["order_status", "setting"]
    written = yaml.safe_load((tmp_path / "sc" / "scenario.yaml").read_text())
    rows = {t: spec["rows"] for t, spec in written["data"]["tables"].items()}
    assert rows == {"order_status": 0, "setting": 0, "users": 300, "countries": 300, "orders": 300}
    assert done.problems == []


def test_init_from_migrations_refuses_what_it_cannot_start_from(tmp_path: Path) -> None:
    single = tmp_path / "single"
    single.mkdir()
    (single / "1_only.up.sql").write_text("CREATE TABLE t (id int);\n")
    alone = _cli("init", tmp_path / "x", "--migrations", single)
    assert alone.returncode == 2 and "one golang-migrate migration (1_only)" in alone.stderr
    assert "--schema too" in alone.stderr
    python = _cli("init", tmp_path / "x", "--migrations", single, "--tool", "alembic")
    assert python.returncode == 2 and "alembic" in python.stderr
    assert "alembic.ini or manage.py" in python.stderr
    both = _cli("init", tmp_path / "x", "--migrations", single, "--dsn", "postgresql://h/d")
    assert both.returncode == 2 and "give --dsn alone" in both.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("tool", ["alembic", "django"])
def test_init_from_an_alembic_or_django_project_runs_its_baseline_through_the_tool(
    tmp_path: Path, work_root: Path, tool: str
) -> None:
    project = tmp_path / "project"
    write = write_alembic_project if tool == "alembic" else write_django_project
    write(project)
    out = tmp_path / "scenario"
    done = _cli("init", out, "--migrations", project, "--rows", "500")  # found by its files
    assert done.returncode == 0, done.stderr
    written = yaml.safe_load((out / "scenario.yaml").read_text())
    pending = {"alembic": "b2", "django": "library.0002"}[tool]  # the last but one
    assert written["migration"] == {"dir": "../project", "tool": tool, "from": pending}
    tables = written["data"]["tables"]
    assert tables["members"] == {"rows": 500}  # made by the tool's baseline
    assert {"alembic_version", "django_migrations"} & set(tables)  # its books, kept empty
    assert all(spec == {"rows": 0} for name, spec in tables.items() if name != "members")
    assert "(it rehearses the last migration" in done.stdout


def test_init_needs_exactly_one_source(tmp_path: Path) -> None:
    neither = _cli("init", tmp_path / "x")
    assert neither.returncode == 2 and "either --dsn, --schema or --migrations" in neither.stderr
    missing = _cli("init", tmp_path / "x", "--schema", tmp_path / "nope.sql")
    assert missing.returncode == 2 and "nope.sql" in missing.stderr, missing.stderr


def test_sampled_statistics_are_what_analyze_would_keep() -> None:
    from pgrehearse.profile._sample import column_stats

    values: list[str | None] = []
    for i in range(10_000):  # in physical order
        values.append(None if i % 10 == 0 else ("hot" if i % 10 < 4 else f"v{i:05d}"))
    stats = column_stats(values, numeric=False, total_rows=100_000)
    assert stats["null_frac"] == pytest.approx(0.1)
    assert stats["most_common_vals"] == ["hot"]  # the others are seen once
    assert stats["most_common_freqs"] == [pytest.approx(0.3)]
    assert len(stats["histogram_bounds"]) == 101
    # ANALYZE's own estimate from this sample (Haas-Stokes), stored as a fraction of rows
    assert stats["n_distinct"] == pytest.approx(-0.15, abs=0.005)
    rising = column_stats([str(i) for i in range(1000)], numeric=True, total_rows=1000)
    assert rising["correlation"] == pytest.approx(1.0)
    assert rising["histogram_bounds"][:3] == ["0", "10", "20"]  # numbers sort as numbers


def test_a_table_analyze_never_saw_is_sampled_when_asked(tmp_path: Path, shop: Shop) -> None:
    with shop.connect() as conn:
        conn.execute(
            "CREATE TABLE visits (id bigint PRIMARY KEY, page text, seconds int)"
            " WITH (autovacuum_enabled = false)"
        )
        conn.execute(
            "INSERT INTO visits SELECT g, CASE WHEN g % 2 = 0 THEN '/home' ELSE '/p/' || g END,"
            " CASE WHEN g % 5 = 0 THEN NULL ELSE g % 300 END FROM generate_series(1, 60000) g"
        )
    plain = _cli("profile", "--dsn", shop.dsn, tmp_path / "plain", "--tables", "visits")
    assert plain.returncode == 0, plain.stderr
    assert "visits: no statistics (never analyzed)" in plain.stderr
    assert "--sample-rows" in plain.stderr
    sampled = _cli(
        "profile", "--dsn", shop.dsn, tmp_path / "s", "--tables", "visits", "--sample-rows", "6000"
    )
    assert sampled.returncode == 0, sampled.stderr
    assert "never analyzed" not in sampled.stderr
    visits = json.loads((tmp_path / "s" / "profile.json").read_text())["tables"]["visits"]
    assert visits["sampled"] and visits["rows"] == pytest.approx(60_000, rel=0.2)
    page, seconds = visits["columns"]["page"], visits["columns"]["seconds"]
    assert page["most_common_freqs"][0] == pytest.approx(0.5, abs=0.03)
    assert "/home" not in page["most_common_vals"]  # text stays home, as for pg_stats
    assert seconds["null_frac"] == pytest.approx(0.2, abs=0.03)
    assert seconds["n_distinct"] == pytest.approx(240, rel=0.1)  # multiples of 5 are NULL
    scenario = (tmp_path / "s" / "scenario.yaml").read_text()
    assert "empirical: text" in scenario and "empirical: number" in scenario


def test_init_of_tables_whose_names_hold_spaces_writes_a_scenario_that_runs(
    tmp_path: Path, work_root: Path
) -> None:
    """Quoted names with spaces: the load's transaction is named with what a name may
    hold, and its key and the foreign key reference the table as spelled."""
    schema = tmp_path / "schema.sql"
    schema.write_text(
        'CREATE TABLE "Order Items" ("Item ID" serial PRIMARY KEY, "Unit Price" numeric);\n'
        'CREATE TABLE "Line Notes" (id serial PRIMARY KEY,\n'
        '    "Item" int NOT NULL REFERENCES "Order Items" ("Item ID"));\n'
    )
    out = tmp_path / "spaced"
    assert _cli("init", out, "--schema", schema, "--rows", "200").returncode == 0
    written = yaml.safe_load((out / "scenario.yaml").read_text())
    [read] = [t for t in written["load"]["transactions"] if "Order" in t["name"]]
    assert read["name"] == "read_Order_Items"
    assert read["params"]["key"]["ref"] == "Order Items.Item ID"
    assert _cli("validate", out).returncode == 0
    from pgrehearse import load_scenario
    from pgrehearse.rehearsal.plan import plan_seeding

    plan = plan_seeding(load_scenario(out / "scenario.yaml"))
    generators = {c.name: c.generator for table in plan.tables for c in table.columns}
    assert generators["Item"] == {"ref": "Order Items.Item ID"}


LOOKUP_KEYS = """
CREATE TYPE plan AS ENUM ('free', 'pro', 'team');
CREATE TYPE feature AS ENUM ('sso', 'audit', 'api', 'export', 'branding');
CREATE TABLE plan_features (
    plan plan NOT NULL, feature feature NOT NULL, PRIMARY KEY (plan, feature)
);
CREATE TABLE regions (code char(2) PRIMARY KEY);
CREATE TABLE kinds (id smallint PRIMARY KEY CHECK (id BETWEEN 1 AND 4));
CREATE TABLE codes (id smallint GENERATED ALWAYS AS IDENTITY (MAXVALUE 100) PRIMARY KEY, v text);
CREATE TABLE desks (id serial PRIMARY KEY CHECK (id <= 30), v text);
CREATE TABLE region_kinds (
    region char(2) NOT NULL REFERENCES regions, kind smallint NOT NULL REFERENCES kinds,
    PRIMARY KEY (region, kind)
);
"""


def test_init_sizes_keys_of_several_columns_and_checked_numbers(
    tmp_path: Path, work_root: Path
) -> None:
    """A key of two enums holds their product; a key of two references, the product of
    their tables' rows (as init sized them); a numbered key a CHECK stops, its span (a
    serial's too). The plan of what init wrote finds nothing; with more rows, it names each
    key."""
    schema = tmp_path / "schema.sql"
    schema.write_text(LOOKUP_KEYS)
    out = tmp_path / "keys"
    done = _cli("init", out, "--schema", schema, "--rows", "10000")
    assert done.returncode == 0 and "problem" not in done.stderr, done.stderr
    written = yaml.safe_load((out / "scenario.yaml").read_text())
    assert {t: v["rows"] for t, v in written["data"]["tables"].items()} == {
        "codes": 100,  # what its sequence numbers before its MAXVALUE
        "desks": 30,  # ...or before a CHECK stops it
        "kinds": 4,
        "plan_features": 15,
        "region_kinds": 36 * 36 * 4,
        "regions": 36 * 36,
    }
    scenario = out / "scenario.yaml"
    scenario.write_text(
        scenario.read_text()
        .replace("rows: 15\n", "rows: 16\n")
        .replace("rows: 4\n", "rows: 5\n")
        .replace("rows: 100\n", "rows: 101\n")
        .replace("rows: 30\n", "rows: 31\n")
    )
    planned = _cli("plan", out)
    assert planned.returncode == 2
    assert "kinds.id must be unique, but a CHECK stops it at 4" in planned.stderr
    assert "(plan, feature) is unique in the schema, but its columns can make only 15" in (
        planned.stderr
    )
    assert "codes.id is numbered by a sequence that gives only 100 more values" in planned.stderr
    assert "desks.id is numbered by a sequence that gives only 30 more values (a CHECK" in (
        planned.stderr
    )


def test_the_books_of_migration_tools_are_told_apart_from_the_applications_tables() -> None:
    from pgrehearse.profile._init import _bookkeeping

    assert _bookkeeping("public.schema_migrations") and _bookkeeping("phinxlog")
    assert _bookkeeping("migrations", ["id", "migration", "batch"])  # Laravel's
    assert _bookkeeping("migrations", ["id", "timestamp", "name"])  # TypeORM's
    assert not _bookkeeping("migrations", ["id", "from_region", "to_region"])  # an app's own
    assert not _bookkeeping("migrations", ["id", "name", "species"])  # birds', say
    assert _bookkeeping("changelog", ["ID", "APPLIED_AT", "DESCRIPTION"])  # MyBatis
    assert not _bookkeeping("changelog", ["id", "entry"])
    assert _bookkeeping("sqitch.changes") and _bookkeeping("hdb_catalog.hdb_version")
    assert not _bookkeeping("data_migrations") and not _bookkeeping("public.users")
