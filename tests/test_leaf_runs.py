"""A partitioned table's rows written by the generating worker straight into its leaves."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
import pytest

from pgrehearse.backends import LocalServer
from pgrehearse.scenario import DataSpec
from pgrehearse.seed import SeedError, _generators, _leaf_runs, plan, seed_tables
from pgrehearse.seed._leaf_runs import RunPlanner
from pgrehearse.seed._routing import build_router
from tests.helpers import PipeFolders, connection_with, refusing_row

ROWS = 90_000  # five blocks of 20,000

SCHEMA = """
CREATE EXTENSION IF NOT EXISTS pg_visibility;
DROP TABLE IF EXISTS visits;
CREATE TABLE visits (
    id bigint NOT NULL, at timestamptz NOT NULL, n int NOT NULL, note text, seen timestamptz
) PARTITION BY RANGE (at);
CREATE TABLE visits_2020 PARTITION OF visits FOR VALUES FROM ('2020-01-01') TO ('2021-01-01');
CREATE TABLE visits_2021 PARTITION OF visits FOR VALUES FROM ('2021-01-01') TO ('2022-01-01');
CREATE TABLE visits_2022 PARTITION OF visits FOR VALUES FROM ('2022-01-01') TO ('2023-01-01');
CREATE TABLE visits_later PARTITION OF visits DEFAULT;
"""
LEAVES = ["visits_2020", "visits_2021", "visits_2022", "visits_later"]
CHECKSUM = "SELECT md5(string_agg(v::text, ',' ORDER BY v.id)) FROM visits v"


def _data(rising: bool, tied: bool = False) -> DataSpec:
    """`tied`: a column made from the key's value in its row (`after`), so the key stays
    in the order its generator made (`_leaf_order` moves it otherwise)."""
    at: dict[str, Any] = {"between": ["2020-01-01T00:00:00", "2023-06-30T00:00:00"]}
    if rising:
        at["distribution"] = "increasing"
    columns = {"id": {"sequence": 1}, "at": at, "n": {"int": [0, 1000]}, "note": {"faker": "word"}}
    if tied:
        columns["seen"] = {"after": "at", "within": "2d"}
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


@pytest.mark.parametrize(
    ("rising", "tied"),
    [(True, False), (False, False), (False, True)],
    ids=["rising-key", "random-key", "random-key-tied"],
)
def test_leaves_written_by_the_worker_hold_the_rows_stdin_loads_frozen(
    conn: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch, rising: bool, tied: bool
) -> None:
    spy = RunSpy(monkeypatch)
    # held rows released as the buffer fills, not only at the end (the worker is forked)
    monkeypatch.setattr(_leaf_runs, "_HELD_BYTES", 1 << 20)
    through_runs = _seed(conn, _data(rising, tied))
    facts = _leaf_facts(conn)
    assert all(rows > 0 and frozen for rows, frozen in facts.values()), facts
    assert spy.runs, "the leaves were not written through runs"
    if not tied:  # each leaf's rows come in one stretch (the rows fit in one window of
        # `_leaf_order`, if the key is not rising already): one COPY each
        assert len(spy.runs) == len(LEAVES)
    else:  # a leaf's rows come in every block, and 1 MB held cannot wait for them all;
        # how many runs more depends on which side is faster (a busy machine: fewer)
        assert len(spy.runs) > len(LEAVES)
    assert not spy.left_behind()
    monkeypatch.setenv("PGREHEARSE_SEED_PIPE", "0")
    spy.runs.clear()
    assert _seed(conn, _data(rising, tied)) == through_runs
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


Taken = list[tuple[int, list[bytes]]]


def _write_all(
    planner: RunPlanner,
    blocks: list[list[tuple[int, bytes]]],
    *,
    eager: bool,
    worth: list[int] | None = None,
) -> Taken:
    """What a writer takes from the planner as the blocks come: at once (`eager`, a server
    faster than the generator) or only when the buffer is full (a slower server); `worth`
    gets the run's worth at each take."""
    taken: Taken = []

    def take(last: bool = False) -> None:
        while eager or last or planner.full:
            shortest = planner.shortest_run
            if (run := planner.take(last=last)) is None:
                break
            taken.append((run[0], [data for data, _ in run[1]]))
            if worth is not None:
                worth.append(shortest)

    for block in blocks:
        planner.add(block, rows=10 * len(block))
        assert planner.buffered <= planner.held_bytes + 60  # at most one block past the bound
        take()
    take(last=True)
    assert planner.buffered == 0 and not planner.held
    return taken


def _runs(taken: Taken, worth: list[int] | None = None) -> list[tuple[int, int, int]]:
    """Each COPY's leaf, bytes, and the run's worth when it started: consecutive takes of
    one leaf go in one."""
    runs: list[tuple[int, int, int]] = []
    for index, (leaf, pieces) in enumerate(taken):
        size = sum(len(data) for data in pieces)
        if runs and runs[-1][0] == leaf:
            runs[-1] = (leaf, runs[-1][1] + size, runs[-1][2])
        else:
            runs.append((leaf, size, worth[index] if worth else 0))
    return runs


@pytest.mark.parametrize("eager", [True, False], ids=["fast-server", "slow-server"])
def test_run_planner_keeps_a_leafs_rows_together_and_bounds_what_it_holds(eager: bool) -> None:
    blocks = [_chunks(0, 1, 2) for _ in range(50)]
    planner = RunPlanner(held_bytes=240, leaf_count=3)  # a run's worth: 40 bytes, 2 chunks
    worth: list[int] = []
    taken = _write_all(planner, blocks, eager=eager, worth=worth)
    for leaf in (0, 1, 2):  # every chunk once, and each leaf's in the order made
        made = [data for block in blocks for of, data in block if of == leaf]
        assert [data for of, pieces in taken if of == leaf for data in pieces] == made
    runs = _runs(taken, worth)
    # past the first run (at once) and the last few (what is left), a run's worth at least
    assert all(size >= shortest for _, size, shortest in runs[1:-3]), runs
    assert [shortest for _, _, shortest in runs][-4:] == [40] * 4  # in full once rows came
    if not eager:  # a full buffer of three leaves: each run about a third of it
        assert sum(size for _, size, _ in runs) / len(runs) >= 240 / 3 * 0.75, runs


@pytest.mark.parametrize("eager", [True, False], ids=["fast-server", "slow-server"])
def test_run_planner_makes_one_run_per_leaf_when_keys_rise(eager: bool) -> None:
    blocks = [_chunks(0)] * 5 + [_chunks(0, 1)] + [_chunks(1)] * 5 + [_chunks(2)] * 5
    taken = _write_all(RunPlanner(held_bytes=1000, leaf_count=3), blocks, eager=eager)
    assert [leaf for leaf, _, _ in _runs(taken)] == [0, 1, 2]
    assert sum(len(pieces) for _, pieces in taken) == sum(len(block) for block in blocks)


def test_run_planner_starts_at_once_then_waits_for_a_runs_worth() -> None:
    planner = RunPlanner(held_bytes=10_000, leaf_count=2)  # a run's worth: up to 2,500 bytes
    shares: list[float] = []

    def take(last: bool = False) -> tuple[int, list[bytes]] | None:
        taken = planner.take(last=last)
        if taken is None:
            return None
        shares.extend(rows for _, rows in taken[1])
        return taken[0], [data for data, _ in taken[1]]

    planner.add([(0, b"0" * 60), (1, b"1" * 40)], rows=10)
    assert take() == (0, [b"0" * 60])  # the server never waits for the first rows
    # while rows are few, a run's worth is half a leaf's share of them (25 bytes here)
    assert planner.shortest_run == 25
    assert take() == (1, [b"1" * 40])
    planner.add([(0, b"0" * 9000), (1, b"1" * 1000)], rows=100)
    assert planner.shortest_run == 2500  # 10,100 bytes made: a run's worth is whole
    # leaf 1's run holds less than a run's worth, leaf 0 more: a new COPY pays
    assert take() == (0, [b"0" * 9000])
    assert take() is None  # 1,000 bytes are not worth a COPY of their own
    planner.add([(0, b"0" * 9), (1, b"1" * 1499)], rows=10)
    assert take() == (0, [b"0" * 9])  # the run under way goes on
    planner.add([(0, b"0"), (1, b"1")], rows=2)
    assert take() == (1, [b"1" * 1000, b"1" * 1499, b"1"])
    assert take() is None
    assert take(last=True) == (0, [b"0"])
    assert take(last=True) is None
    assert sum(shares) == pytest.approx(10 + 100 + 10 + 2)  # each row counted once


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


TALLY = """
DROP TABLE IF EXISTS tally;
CREATE TABLE tally (id bigint NOT NULL, n integer NOT NULL) PARTITION BY HASH (id);
CREATE TABLE tally_0 PARTITION OF tally FOR VALUES WITH (MODULUS 2, REMAINDER 0)
    PARTITION BY RANGE (n);
CREATE TABLE tally_0_low PARTITION OF tally_0 FOR VALUES FROM (MINVALUE) TO (0);
CREATE TABLE tally_0_high PARTITION OF tally_0 FOR VALUES FROM (0) TO (MAXVALUE);
CREATE TABLE tally_1 PARTITION OF tally FOR VALUES WITH (MODULUS 4, REMAINDER 1);
CREATE TABLE tally_3 PARTITION OF tally FOR VALUES WITH (MODULUS 4, REMAINDER 3);
"""


def test_integer_keys_from_their_generator_route_rows_where_the_server_puts_them(
    server: LocalServer,
) -> None:
    rng = np.random.default_rng(7)
    keys = [
        rng.integers(-(2**62), 2**62, 3000, dtype=np.int64),  # id: hashed
        rng.integers(-1000, 1000, 3000, dtype=np.int64),  # n: a range
    ]
    asked: list[tuple[int, str]] = []

    def exact(position: int, kind: str) -> npt.NDArray[np.int64] | None:
        asked.append((position, kind))
        return keys[position] if kind == "integers" else None

    def text_of(position: int) -> list[str]:
        return [str(key) for key in keys[position].tolist()]

    with connection_with(server, TALLY, "leaf-runs-test") as conn:
        router = build_router(conn, "tally", ["id", "n"])
        assert router is not None
        from_numbers = router.route(text_of, 3000, exact)
        assert (0, "integers") in asked and (1, "integers") in asked
        assert from_numbers.tolist() == router.route(text_of, 3000, lambda *_: None).tolist()
        with conn.cursor().copy("COPY tally (id, n) FROM STDIN") as copy:
            for id_, n in zip(keys[0].tolist(), keys[1].tolist(), strict=True):
                copy.write_row((id_, n))
        placed = dict(
            conn.execute(
                "SELECT t.id, format('%I.%I', n.nspname, c.relname) FROM tally t"
                " JOIN pg_class c ON c.oid = t.tableoid"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
            ).fetchall()
        )
        conn.execute("DROP TABLE tally")
        conn.commit()
    assert [router.leaves[leaf] for leaf in from_numbers.tolist()] == [
        placed[key] for key in keys[0].tolist()
    ]
