"""A partitioned table's key dealt out in leaf order, a window of rows at a time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from pgrehearse.backends import LocalServer
from pgrehearse.scenario import DataSpec
from pgrehearse.seed import _leaf_order, plan, seed_tables
from pgrehearse.seed._generators import BLOCK_ROWS
from pgrehearse.seed._leaf_order import LeafOrdered, in_leaf_order, window_of
from pgrehearse.seed._routing import build_router
from pgrehearse.seed._tables import table_columns
from tests.helpers import connection_with

ROWS = 4 * BLOCK_ROWS + 5_000
FIRST, LATER = BLOCK_ROWS, 2 * BLOCK_ROWS  # windows made small: rows 0-20k, 20k-60k, 60k-85k

SCHEMA = """
DROP TABLE IF EXISTS trips;
CREATE TABLE trips (
    id bigint NOT NULL, at date NOT NULL, n int NOT NULL, back date,
    CHECK (back IS NULL OR back >= '2020-01-01')
) PARTITION BY RANGE (at);
CREATE TABLE trips_2020 PARTITION OF trips FOR VALUES FROM ('2020-01-01') TO ('2021-01-01');
CREATE TABLE trips_2021 PARTITION OF trips FOR VALUES FROM ('2021-01-01') TO ('2022-01-01');
CREATE TABLE trips_2022 PARTITION OF trips FOR VALUES FROM ('2022-01-01') TO ('2023-01-01');
"""
LEAVES = ["trips_2020", "trips_2021", "trips_2022"]
# each row: its row number (id - 1), its leaf's rank, its key and another column
ROWS_IN_ORDER = """
SELECT id - 1, array_position(%s::text[], tableoid::regclass::text), at::text, n
FROM trips ORDER BY id
"""


@pytest.fixture
def conn(server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[psycopg.Connection[Any]]:
    monkeypatch.setattr(_leaf_order, "FIRST_WINDOW_ROWS", FIRST)
    monkeypatch.setattr(_leaf_order, "WINDOW_ROWS", LATER)
    with connection_with(server, SCHEMA, "leaf-order-test") as connection:
        yield connection


def _data(**overrides: Any) -> DataSpec:
    columns = {
        "id": {"sequence": 1},
        "at": {"between": ["2020-01-01", "2022-12-31"]},
        "n": {"int": [0, 1_000_000]},
        "back": {"value": None},
        **overrides,
    }
    return DataSpec.model_validate(
        {"seed": 5, "tables": {"trips": {"rows": ROWS, "columns": columns}}}
    )


def _seeded(
    conn: psycopg.Connection[Any], data: DataSpec, *, workers: int = 1
) -> list[tuple[int, int, str, int]]:
    conn.execute("TRUNCATE trips")
    conn.commit()
    seed_tables(conn, plan(conn, data, 1.0), seed=data.seed, workers=workers)
    return [tuple(row) for row in conn.execute(ROWS_IN_ORDER, (LEAVES,)).fetchall()]


def _windows(rows: list[tuple[int, int, str, int]]) -> dict[int, list[tuple[int, int, str, int]]]:
    windows: dict[int, list[tuple[int, int, str, int]]] = {}
    for row in rows:
        windows.setdefault(window_of(row[0])[0], []).append(row)
    return windows


def test_each_window_deals_the_same_keys_in_leaf_order_and_nothing_else_moves(
    conn: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    ordered = _seeded(conn, _data())
    monkeypatch.setenv("PGREHEARSE_LEAF_ORDER", "0")
    made = _seeded(conn, _data())
    assert len(ordered) == len(made) == ROWS
    assert [row[3] for row in ordered] == [row[3] for row in made]  # n stays in its row
    ours, theirs = _windows(ordered), _windows(made)
    assert sorted(ours) == [0, FIRST, FIRST + LATER]
    for start, rows in ours.items():
        leaves = [row[1] for row in rows]
        assert leaves == sorted(leaves), f"window at row {start} is not in leaf order"
        assert sorted(leaves) == sorted(row[1] for row in theirs[start])
        for leaf in range(1, len(LEAVES) + 1):  # each leaf's keys keep the order made
            keys = [row[2] for row in rows if row[1] == leaf]
            assert keys == [row[2] for row in theirs[start] if row[1] == leaf]
    # made as the generator makes them, the leaves are mixed in every window
    assert all(
        [row[1] for row in rows] != sorted(row[1] for row in rows) for rows in theirs.values()
    )


def test_the_rows_are_the_same_whichever_way_and_however_many_workers_make_them(
    conn: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    through_runs = _seeded(conn, _data())
    monkeypatch.setenv("PGREHEARSE_SEED_PIPE", "0")  # blocks made in a stride, relayed
    assert _seeded(conn, _data(), workers=2) == through_runs


TOLLS = """
DROP TABLE IF EXISTS tolls;
CREATE TABLE tolls (lane int NOT NULL, n int NOT NULL{unique}) PARTITION BY LIST (lane);
CREATE TABLE tolls_1 PARTITION OF tolls FOR VALUES IN (1);
CREATE TABLE tolls_2 PARTITION OF tolls FOR VALUES IN (2, 3);
"""


def _moves(conn: psycopg.Connection[Any], data: DataSpec) -> bool:
    """Whether the table's partition key is dealt out in leaf order."""
    (table_plan,) = plan(conn, data, 1.0)
    made = table_columns(table_plan, data.seed, {}, {})
    router = build_router(conn, table_plan.info.regclass, [c.name for c in made])
    assert router is not None
    moved = in_leaf_order(made, router, table_plan, data.seed)
    return any(isinstance(column.generator, LeafOrdered) for column in moved)


@pytest.mark.parametrize("tie", ["after", "check", "nulls", "composite-unique"])
def test_a_key_tied_to_its_row_stays_where_its_generator_put_it(
    conn: psycopg.Connection[Any], tie: str
) -> None:
    if tie == "composite-unique":  # each row takes a distinct (lane, n): digits of one number
        lanes = {"lane": {"int": [1, 3]}, "n": {"int": [0, 100_000]}}
        data = DataSpec.model_validate({"tables": {"tolls": {"rows": 1000, "columns": lanes}}})
        conn.execute(TOLLS.format(unique=""))
        conn.commit()
        assert _moves(conn, data)
        conn.execute(TOLLS.format(unique=", UNIQUE (lane, n)"))
        conn.commit()
        assert not _moves(conn, data)
        return
    assert _moves(conn, _data())
    data = _data()
    if tie == "after":
        data = _data(back={"after": "at", "within": "3d"})
    elif tie == "check":
        conn.execute("ALTER TABLE trips ADD CHECK (back IS NULL OR back >= at)")
    else:
        conn.execute("ALTER TABLE trips ALTER at DROP NOT NULL")
        data = _data(at={"between": ["2020-01-01", "2022-12-31"], "null_fraction": 0.1})
    conn.commit()
    assert not _moves(conn, data)
