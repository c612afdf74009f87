"""Tables seeded side by side, each by a session of its own, on a real server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from pgrehearse.backends import LocalServer
from pgrehearse.scenario import DataSpec
from pgrehearse.seed import SeedError, TableSeedResult, plan, seed_tables
from pgrehearse.seed._streams import SharedProgress, dependency_waves
from tests.helpers import connection_with

SCHEMA = """
DROP TABLE IF EXISTS lines, orders, users, products CASCADE;
CREATE TABLE users (id bigint NOT NULL, name text NOT NULL);
CREATE TABLE products (id bigint NOT NULL, title text NOT NULL);
CREATE TABLE orders (id bigint NOT NULL, user_id bigint NOT NULL);
CREATE TABLE lines (order_id bigint NOT NULL, product_id bigint NOT NULL);
"""  # keys and foreign keys come after seeding, as in a rehearsal: here the refs say it
ROWS = 150_000


def _data(rows: int = ROWS) -> DataSpec:
    return DataSpec.model_validate(
        {
            "seed": 3,
            "tables": {
                "users": {
                    "rows": rows,
                    "columns": {"id": {"sequence": 1}, "name": {"faker": "name"}},
                },
                "products": {
                    "rows": rows,
                    "columns": {"id": {"sequence": 1}, "title": {"text": [5, 20]}},
                },
                "orders": {
                    "rows": rows // 10,
                    "columns": {"id": {"sequence": 1}, "user_id": {"ref": "users.id"}},
                },
                "lines": {
                    "rows": rows // 5,
                    "columns": {
                        "order_id": {"ref": "orders.id"},
                        "product_id": {"ref": "products.id"},
                    },
                },
            },
        }
    )


CHECKSUM = " || ".join(
    f"(SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM {table} t)"
    for table in ("users", "products", "orders", "lines")
)


@pytest.fixture
def conn(server: LocalServer) -> Iterator[psycopg.Connection[Any]]:
    with connection_with(server, SCHEMA, "streams-test") as connection:
        yield connection


class CopySampler:
    """How many of the seeder's COPY statements the server ran at once, at most."""

    def __init__(self, server: LocalServer) -> None:
        self.server = server
        self.most = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        kwargs = self.server.connect_kwargs("postgres", "sampler")
        with psycopg.connect(**kwargs, autocommit=True) as watcher:
            while not self.stop.is_set():
                row = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                    "AND query ILIKE 'COPY %' AND pid <> pg_backend_pid()"
                ).fetchone()
                self.most = max(self.most, int(row[0]) if row else 0)
                time.sleep(0.002)

    def __enter__(self) -> CopySampler:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()


def _seed(
    conn: psycopg.Connection[Any], server: LocalServer, data: DataSpec | None = None
) -> list[TableSeedResult]:
    data = data or _data()
    conn.execute("TRUNCATE lines, orders, users, products")
    conn.commit()
    kwargs = server.connect_kwargs("postgres", "streams-test")
    return seed_tables(
        conn,
        plan(conn, data, 1.0),
        seed=data.seed,
        connect=lambda: psycopg.connect(**kwargs),
    )


def test_tables_that_do_not_reference_each_other_load_side_by_side(
    conn: psycopg.Connection[Any], server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGREHEARSE_SEED_STREAMS", "1")
    with CopySampler(server) as one_stream:
        alone = _seed(conn, server)
    sequential = conn.execute(f"SELECT {CHECKSUM}").fetchone()

    monkeypatch.setenv("PGREHEARSE_SEED_STREAMS", "2")
    with CopySampler(server) as two_streams:
        together = _seed(conn, server)
    assert conn.execute(f"SELECT {CHECKSUM}").fetchone() == sequential  # the same rows
    assert one_stream.most == 1
    assert two_streams.most == 2  # users and products at once (the server says so)
    assert [r.table for r in together] == [r.table for r in alone]  # the plan's order
    assert [r.rows for r in together] == [r.rows for r in alone]


PARTITIONED = """
DROP TABLE IF EXISTS visits;
CREATE TABLE visits (id bigint NOT NULL, at timestamptz NOT NULL, n int NOT NULL)
    PARTITION BY HASH (id);
""" + "".join(
    f"CREATE TABLE visits_{r} PARTITION OF visits FOR VALUES WITH (MODULUS 4, REMAINDER {r});"
    for r in range(4)
)
VISITS = DataSpec.model_validate(
    {
        "seed": 5,
        "tables": {
            "visits": {
                "rows": 300_000,
                "columns": {
                    "id": {"sequence": 1},
                    "at": {"between": ["2020-01-01T00:00:00", "2021-01-01T00:00:00"]},
                    "n": {"int": [0, 9]},
                },
            }
        },
    }
)


def test_a_partitioned_tables_leaves_load_side_by_side_frozen(
    conn: psycopg.Connection[Any], server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn.execute(PARTITIONED)
    conn.commit()
    kwargs = server.connect_kwargs("postgres", "streams-test")
    checksum = "SELECT md5(string_agg(v::text, ',' ORDER BY v.id)) FROM visits v"
    seen: dict[str, tuple[int, Any, bool]] = {}
    for streams in ("1", "2"):
        monkeypatch.setenv("PGREHEARSE_SEED_STREAMS", streams)
        conn.execute("TRUNCATE visits")
        conn.commit()
        with CopySampler(server) as sampler:
            [result] = seed_tables(
                conn,
                plan(conn, VISITS, 1.0),
                seed=VISITS.seed,
                connect=lambda: psycopg.connect(**kwargs),
            )
        row = conn.execute(checksum).fetchone()
        seen[streams] = (sampler.most, row, result.frozen)
    assert seen["1"][0] == 1 and seen["2"][0] == 2  # two leaves loading at once
    assert seen["1"][1] == seen["2"][1]  # the same rows
    assert seen["1"][2] and seen["2"][2]  # frozen leaves both ways
    counts = conn.execute(
        "SELECT count(*) FROM pg_partition_tree('visits') t, LATERAL "
        "(SELECT 1 FROM visits v WHERE v.tableoid = t.relid LIMIT 1) s WHERE t.isleaf"
    ).fetchone()
    assert counts == (4,)  # every leaf got rows
    conn.execute("DROP TABLE visits")
    conn.commit()


def test_waves_follow_the_references(conn: psycopg.Connection[Any]) -> None:
    plans = plan(conn, _data(10), 1.0)
    names = [p.name for p in plans]
    waves = [sorted(names[i] for i in wave) for wave in dependency_waves(plans)]
    assert waves == [["products", "users"], ["orders"], ["lines"]]


def test_a_table_that_fails_in_one_stream_fails_the_seed_and_keeps_nothing_of_it(
    conn: psycopg.Connection[Any], server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGREHEARSE_SEED_STREAMS", "2")
    conn.execute(
        """
        CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.id = 120000 THEN RAISE EXCEPTION 'product % refused', NEW.id; END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER refuse BEFORE INSERT ON products FOR EACH ROW EXECUTE FUNCTION refuse();
        -- users, earlier in the plan, is still loading when products fails: its
        -- cancellation must not be taken for the failure
        CREATE FUNCTION linger() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.id = 1 THEN PERFORM pg_sleep(3); END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER linger BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION linger();
        """
    )
    conn.commit()
    try:
        with pytest.raises(SeedError) as failure:
            _seed(conn, server)
        assert failure.value.table == "products"
        assert "product 120000 refused" in str(failure.value)
        assert conn.execute("SELECT count(*) FROM products").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM orders").fetchone() == (0,)  # never begun
        conn.commit()  # a fresh snapshot of pg_stat_activity at each look
        # every stream's session closed: a closed session's backend leaves pg_stat_activity
        # a moment after the client hangs up, a leaked one never does
        deadline = time.monotonic() + 30
        while (left := _other_sessions(conn)) and time.monotonic() < deadline:
            conn.commit()
            time.sleep(0.05)
        assert left == 0
    finally:
        conn.rollback()
        conn.execute("DROP TRIGGER refuse ON products; DROP FUNCTION refuse()")
        conn.execute("DROP TRIGGER linger ON users; DROP FUNCTION linger()")
        conn.commit()


def _other_sessions(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'streams-test' "
        "AND pid <> pg_backend_pid()"
    ).fetchone()
    return int(row[0]) if row else 0


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def table_started(self, table: str, rows: int) -> None:
        self.calls.append(("started", table))

    def table_advanced(self, table: str, rows_done: int) -> None:
        self.calls.append(("advanced", table))

    def table_seeded(self, result: Any) -> None:
        self.calls.append(("seeded", result.table))


def test_shared_progress_shows_one_table_at_a_time_and_every_end() -> None:
    inner = Recorder()
    shared = SharedProgress(inner)
    shared.table_started("a", 10)
    shared.table_started("b", 10)
    shared.table_advanced("b", 5)  # not shown: a owns the display
    shared.table_advanced("a", 5)
    shared.table_seeded(TableSeedResult("a", 10, 1.0))
    shared.table_advanced("b", 8)
    shared.table_started("c", 10)
    shared.table_seeded(TableSeedResult("c", 10, 1.0))  # shown once b ends
    shared.table_seeded(TableSeedResult("b", 10, 1.0))
    assert inner.calls == [
        ("started", "a"),
        ("advanced", "a"),
        ("seeded", "a"),
        ("started", "b"),
        ("advanced", "b"),
        ("advanced", "b"),
        ("seeded", "b"),
        ("seeded", "c"),
    ]
