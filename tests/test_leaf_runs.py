"""A partitioned table's rows written by the generating worker straight into its leaves."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgrehearse.backends import LocalServer
from pgrehearse.scenario import DataSpec
from pgrehearse.seed import SeedError, _generators, _leaf_runs, plan, seed_tables
from pgrehearse.seed._leaf_runs import RunPlanner
from tests.helpers import PipeFolders, connection_with, refusing_row

ROWS = 90_000  # five blocks of 20,000

SCHEMA = """
CREATE EXTENSION IF NOT EXISTS pg_visibility;
DROP TABLE IF EXISTS visits;
CREATE TABLE visits (
    id bigint NOT NULL, at timestamptz NOT NULL, n int NOT NULL, note text
) PARTITION BY RANGE (at);
CREATE TABLE visits_2020 PARTITION OF visits FOR VALUES FROM ('2020-01-01') TO ('2021-01-01');
CREATE TABLE visits_2021 PARTITION OF visits FOR VALUES FROM ('2021-01-01') TO ('2022-01-01');
CREATE TABLE visits_2022 PARTITION OF visits FOR VALUES FROM ('2022-01-01') TO ('2023-01-01');
CREATE TABLE visits_later PARTITION OF visits DEFAULT;
"""
LEAVES = ["visits_2020", "visits_2021", "visits_2022", "visits_later"]
CHECKSUM = "SELECT md5(string_agg(v::text, ',' ORDER BY v.id)) FROM visits v"


def _data(rising: bool) -> DataSpec:
    at: dict[str, Any] = {"between": ["2020-01-01T00:00:00", "2023-06-30T00:00:00"]}
    if rising:
        at["distribution"] = "increasing"
    columns = {"id": {"sequence": 1}, "at": at, "n": {"int": [0, 1000]}, "note": {"faker": "word"}}
    return DataSpec.model_validate(
        {"seed": 3, "tables": {"visits": {"rows": ROWS, "columns": columns}}}
    )


@pytest.fixture
def conn(server: LocalServer) -> Iterator[psycopg.Connection[Any]]:
    with connection_with(server, SCHEMA, "leaf-runs-test") as connection:
        yield connection


class RunSpy(PipeFolders):
    """The runs the seeder started (their numbers, as this process saw them) and the pipe
    folders it made."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        super().__init__(monkeypatch)
        self.runs: list[int] = []
        real_run_path = _leaf_runs.run_path

        def run_path(folder: Path, token: str, run: int) -> Path:
            self.runs.append(run)
            return real_run_path(folder, token, run)

        monkeypatch.setattr(_leaf_runs, "run_path", run_path)


def _seed(conn: psycopg.Connection[Any], data: DataSpec, progress: Any = None) -> str:
    conn.execute("TRUNCATE visits")
    conn.commit()
    seed_tables(conn, plan(conn, data, 1.0), seed=data.seed, workers=1, progress=progress)
    row = conn.execute(CHECKSUM).fetchone()
    assert row is not None and row[0]
    return str(row[0])


def _leaf_facts(conn: psycopg.Connection[Any]) -> dict[str, tuple[int, bool]]:
    """Rows of each leaf, and whether every page of it was loaded frozen (COPY FREEZE marks
    them all-frozen in the visibility map as it writes them)."""
    facts = {}
    for leaf in LEAVES:
        row = conn.execute(
            f"SELECT (SELECT count(*) FROM {leaf}), all_frozen = pg_relation_size(%s) / 8192"
            f" FROM pg_visibility_map_summary(%s)",
            (leaf, leaf),
        ).fetchone()
        assert row is not None
        facts[leaf] = (int(row[0]), bool(row[1]))
    return facts


@pytest.mark.parametrize("rising", [True, False], ids=["rising-key", "random-key"])
def test_leaves_written_by_the_worker_hold_the_rows_stdin_loads_frozen(
    conn: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch, rising: bool
) -> None:
    spy = RunSpy(monkeypatch)
    # held rows released as the buffer fills, not only at the end (the worker is forked)
    monkeypatch.setattr(_leaf_runs, "_HELD_BYTES", 1 << 20)
    through_runs = _seed(conn, _data(rising))
    facts = _leaf_facts(conn)
    assert all(rows > 0 and frozen for rows, frozen in facts.values()), facts
    assert spy.runs, "the leaves were not written through runs"
    if rising:  # each leaf's rows come in one stretch: one COPY each
        assert len(spy.runs) == len(LEAVES)
    else:
        assert len(spy.runs) > 2 * len(LEAVES)
    assert not spy.left_behind()
    monkeypatch.setenv("PGREHEARSE_SEED_PIPE", "0")
    spy.runs.clear()
    assert _seed(conn, _data(rising)) == through_runs
    assert spy.runs == []  # COPY FROM STDIN, relayed by this process
    assert {leaf: rows for leaf, (rows, _) in _leaf_facts(conn).items()} == {
        leaf: rows for leaf, (rows, _) in facts.items()
    }


def test_an_error_the_server_raises_in_a_leaf_keeps_its_detail_and_loads_nothing(
    conn: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = RunSpy(monkeypatch)
    with refusing_row(conn, "visits_2022", 70000):
        with pytest.raises(SeedError) as failure:
            _seed(conn, _data(rising=True))
        assert "row 70000 refused" in str(failure.value)
        assert "the test refuses it" in str(failure.value)
        assert spy.runs
        assert conn.execute("SELECT count(*) FROM visits").fetchone() == (0,)
        assert multiprocessing.active_children() == []
        assert not spy.left_behind()


def test_a_worker_that_fails_mid_run_loads_nothing(
    conn: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_assemble = _generators.assemble_routed

    def failing_assemble(*args: Any) -> list[tuple[int, bytes]]:
        if args[3] == 3:  # the fourth block: runs are under way
            raise OSError("disk on fire")
        return real_assemble(*args)

    monkeypatch.setattr(_leaf_runs, "assemble_routed", failing_assemble)  # the worker is forked
    spy = RunSpy(monkeypatch)
    with pytest.raises(RuntimeError, match="disk on fire"):
        _seed(conn, _data(rising=True))
    conn.rollback()
    assert spy.runs
    assert conn.execute("SELECT count(*) FROM visits").fetchone() == (0,)
    assert multiprocessing.active_children() == []
    assert not spy.left_behind()


class InterruptedProgress:
    """Ctrl-C once the first rows are reported written."""

    def table_started(self, table: str, rows: int) -> None:
        pass

    def table_advanced(self, table: str, rows_done: int) -> None:
        if rows_done > 0:
            raise KeyboardInterrupt

    def table_seeded(self, result: Any) -> None:
        pass


@pytest.mark.parametrize("rising", [True, False], ids=["rising-key", "random-key"])
def test_ctrl_c_mid_run_ends_the_copy_and_leaves_nothing(
    conn: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch, rising: bool
) -> None:
    spy = RunSpy(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        _seed(conn, _data(rising), progress=InterruptedProgress())
    conn.rollback()
    assert spy.runs
    assert conn.execute("SELECT count(*) FROM visits").fetchone() == (0,)  # session usable
    assert multiprocessing.active_children() == []
    assert not spy.left_behind()


def _chunks(*leaves: int) -> list[tuple[int, bytes]]:
    return [(leaf, f"{leaf}\n".encode() * 10) for leaf in leaves]


def test_run_planner_keeps_a_leafs_rows_together_and_bounds_what_it_holds() -> None:
    blocks = [_chunks(0, 1, 2) for _ in range(50)]
    planner = RunPlanner(held_bytes=100)
    written: list[tuple[int, bytes]] = []
    for block in blocks:
        written += planner.add(block)
        assert planner.buffered <= 100 + 60  # at most one block past the bound
    written += planner.finish()
    # every chunk once, and each leaf's in the order made
    for leaf in (0, 1, 2):
        made = [data for block in blocks for of, data in block if of == leaf]
        assert [data for of, data in written if of == leaf] == made
    runs = sum(1 for i, (leaf, _) in enumerate(written) if i == 0 or written[i - 1][0] != leaf)
    assert runs < len(written) / 3  # runs of several chunks, not one per chunk


def test_run_planner_makes_one_run_per_leaf_when_keys_rise() -> None:
    blocks = [_chunks(0)] * 5 + [_chunks(0, 1)] + [_chunks(1)] * 5 + [_chunks(2)] * 5
    planner = RunPlanner(held_bytes=1000)
    written = [chunk for block in blocks for chunk in planner.add(block)] + planner.finish()
    runs = [leaf for i, (leaf, _) in enumerate(written) if i == 0 or written[i - 1][0] != leaf]
    assert sorted(runs) == [0, 1, 2]
    assert len(written) == sum(len(block) for block in blocks)


def test_a_hungry_server_gets_held_rows_at_once() -> None:
    planner = RunPlanner(held_bytes=10_000)
    first = planner.add([(0, b"0" * 50), (1, b"1"), (2, b"2")])
    assert first == [(0, b"0" * 50)]  # the run under way: the block's largest; 1, 2 held
    second = planner.add([(0, b"0"), (1, b"1"), (2, b"2" * 9)], hungry=True)
    # every held leaf goes, a leaf's rows together, and the fullest last: it goes on
    assert second == [(0, b"0"), (1, b"1"), (1, b"1"), (2, b"2"), (2, b"2" * 9)]
    assert planner.current == 2
    assert planner.add([(0, b"0"), (2, b"2")]) == [(2, b"2")]


def test_rows_no_leaf_takes_go_through_the_parent_which_names_them(
    conn: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = RunSpy(monkeypatch)
    conn.execute("DROP TABLE visits_later")  # no DEFAULT partition now: 2023 has no leaf
    conn.commit()
    with pytest.raises(SeedError) as failure:
        _seed(conn, _data(rising=True))
    assert "no partition of relation" in str(failure.value)
    assert "Partition key of the failing row contains (at) = (2023-" in str(failure.value)
    assert spy.runs
    conn.rollback()
    assert conn.execute("SELECT count(*) FROM visits").fetchone() == (0,)
    assert multiprocessing.active_children() == []
    assert not spy.left_behind()
