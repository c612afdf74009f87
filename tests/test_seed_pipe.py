"""The seeder's rows through a named pipe the server reads as a file, against COPY FROM STDIN."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgrehearse.backends import LocalServer
from pgrehearse.scenario import DataSpec
from pgrehearse.seed import SeedError, _seeder, _sink, plan, seed_tables
from tests.helpers import PipeFolders, connection_with, refusing_row

ROWS = 70_000  # four blocks: enough for the worker processes to make them

SCHEMA = """
DROP TABLE IF EXISTS events, visits;
CREATE TABLE events (
    id bigint NOT NULL, who text NOT NULL, at timestamptz NOT NULL, n int NOT NULL
);
CREATE TABLE visits (
    id bigint NOT NULL, at timestamptz NOT NULL, n int NOT NULL
) PARTITION BY RANGE (at);
CREATE TABLE visits_2020 PARTITION OF visits FOR VALUES FROM ('2020-01-01') TO ('2021-01-01');
CREATE TABLE visits_2021 PARTITION OF visits FOR VALUES FROM ('2021-01-01') TO ('2022-01-01');
"""

COLUMNS: dict[str, Any] = {
    "id": {"sequence": 1},
    "at": {"between": ["2020-01-01T00:00:00", "2021-12-31T00:00:00"]},
    "n": {"int": [0, 1000]},
}
DATA = DataSpec.model_validate(
    {
        "seed": 7,
        "tables": {
            "events": {"rows": ROWS, "columns": {**COLUMNS, "who": {"faker": "name"}}},
            "visits": {"rows": ROWS, "columns": COLUMNS},
        },
    }
)
CHECKSUM = (
    "SELECT (SELECT md5(string_agg(e::text, ',' ORDER BY e.id)) FROM events e) || "
    "(SELECT md5(string_agg(v::text, ',' ORDER BY v.id)) FROM visits v)"
)


@pytest.fixture
def conn(server: LocalServer) -> Iterator[psycopg.Connection[Any]]:
    with connection_with(server, SCHEMA, "pipe-test") as connection:
        yield connection


class FolderSpy(PipeFolders):
    """Records which folder each plain table's COPY was given (None: COPY FROM STDIN); a
    partitioned table's leaves are written by the worker (`_leaf_runs`, tested there) or
    relayed as COPY FROM STDIN (`_leaves._copy_chunks`)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        super().__init__(monkeypatch)
        self.copies: list[Path | None] = []
        real_copy_rows = _sink.copy_rows

        def copy_rows(*args: Any, folder: Path | None, **kwargs: Any) -> Any:
            self.copies.append(folder)
            return real_copy_rows(*args, folder=folder, **kwargs)

        monkeypatch.setattr(_seeder, "copy_rows", copy_rows)  # where the seeder looks it up


def _seed(conn: psycopg.Connection[Any], workers: int | None = None) -> str:
    conn.execute("TRUNCATE events, visits")
    conn.commit()
    seed_tables(conn, plan(conn, DATA, 1.0), seed=DATA.seed, workers=workers)
    row = conn.execute(CHECKSUM).fetchone()
    assert row is not None and row[0]
    return str(row[0])


@pytest.mark.parametrize("workers", [1, 2, 0], ids=["worker-writes", "relayed", "in-process"])
def test_rows_through_the_pipe_are_the_rows_copy_from_stdin_loads(
    conn: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    spy = FolderSpy(monkeypatch)
    piped = _seed(conn, workers)
    assert spy.copies and all(folder is not None for folder in spy.copies)  # the pipe was used
    monkeypatch.setenv("PGREHEARSE_SEED_PIPE", "0")
    spy.copies.clear()
    assert _seed(conn, workers) == piped
    assert spy.copies and all(folder is None for folder in spy.copies)
    counts = conn.execute(
        "SELECT count(*) FROM visits_2020 UNION ALL SELECT count(*) FROM visits_2021"
    ).fetchall()
    assert all(count > 0 for (count,) in counts)
    assert not spy.left_behind()  # every pipe folder removed


def test_a_role_that_may_not_read_server_files_gets_copy_from_stdin(
    conn: psycopg.Connection[Any], server: LocalServer
) -> None:
    with _sink.pipe_folder(conn) as folder:
        assert folder is not None  # the suite's superuser on this machine: the pipe
    conn.execute("DROP ROLE IF EXISTS seeder; CREATE ROLE seeder LOGIN PASSWORD 'pw'")
    conn.execute("GRANT ALL ON events, visits TO seeder")
    conn.commit()
    kwargs = {**server.connect_kwargs("postgres", "pipe-test"), "user": "seeder", "password": "pw"}
    with psycopg.connect(**kwargs) as limited:
        with _sink.pipe_folder(limited) as folder:
            assert folder is None
        # and the probe left the session usable
        assert limited.execute("SELECT count(*) FROM events").fetchone() is not None


def test_an_error_the_server_raises_mid_stream_keeps_its_detail_and_loads_nothing(
    conn: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = FolderSpy(monkeypatch)
    with refusing_row(conn, "events", 65000):
        with pytest.raises(SeedError) as failure:
            _seed(conn, workers=1)
        assert "row 65000 refused" in str(failure.value)
        assert "the test refuses it" in str(failure.value)
        assert spy.copies and spy.copies[0] is not None
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (0,)
        assert not spy.left_behind()


def test_a_worker_that_fails_mid_stream_loads_nothing(
    conn: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pgrehearse.seed import _pipeline

    real_block = _pipeline._block

    def failing_block(*args: Any) -> bytes:
        if args[4] == 2:  # the third block: two are in the pipe already
            raise OSError("disk on fire")
        return real_block(*args)

    monkeypatch.setattr(_pipeline, "_block", failing_block)  # the workers are forked
    spy = FolderSpy(monkeypatch)
    with pytest.raises(RuntimeError, match="disk on fire"):
        _seed(conn, workers=1)
    conn.rollback()
    assert spy.copies and spy.copies[0] is not None
    assert conn.execute("SELECT count(*) FROM events").fetchone() == (0,)
    assert not spy.left_behind()
