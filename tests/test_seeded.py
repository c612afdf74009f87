"""Seeded copies for tests, the step-wise migration runner and timing rounds (real server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pgrehearse import ServerOptions, load_scenario
from pgrehearse.backends import PostgresBinaries
from pgrehearse.rehearsal.rounds import measure_rounds
from pgrehearse.rehearsal.seeded import MigrationFailed, SeededServer
from tests.helpers import processes_mentioning, write_scenario


@pytest.fixture
def seeded(
    tmp_path: Path, work_root: Path, pg_binaries: PostgresBinaries
) -> Iterator[SeededServer]:
    scenario = load_scenario(
        write_scenario(
            tmp_path / "s",
            up="ALTER TABLE accounts ADD COLUMN note text DEFAULT 'x';\n"
            "UPDATE accounts SET balance = balance + 1;\n",
            down="ALTER TABLE accounts DROP COLUMN note;\n",
            rows=300,
        )
    )
    with SeededServer.start(scenario, ServerOptions(pg_bin=pg_binaries.bin_dir)) as server:
        yield server


def _count(conn: psycopg.Connection[tuple[int]], query: str) -> int:
    row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


def test_copies_are_seeded_and_independent(seeded: SeededServer) -> None:
    first, second = seeded.database(), seeded.database()
    with first.connect() as conn:
        assert _count(conn, "SELECT count(*) FROM accounts") == 300
        conn.execute("DELETE FROM accounts")
    with second.connect() as conn:
        assert _count(conn, "SELECT count(*) FROM accounts") == 300
    first.drop()
    second.drop()
    with psycopg.connect(**seeded.server.connect_kwargs("postgres", "t")) as admin:
        names = [r[0] for r in admin.execute("SELECT datname FROM pg_database")]
    assert first.name not in names and second.name not in names
    assert "rehearsal" in names  # the template stays


def test_runner_up_assert_down_roundtrip(seeded: SeededServer) -> None:
    database = seeded.database()
    runner = database.migration()
    up = runner.up()
    assert [s.status for s in up.statements] == ["ok", "ok"]
    with database.connect() as conn:
        assert _count(conn, "SELECT count(*) FROM accounts WHERE note = 'x'") == 300
    runner.down()
    differences = runner.roundtrip()
    # the down script does not undo the UPDATE: the data fingerprint catches it
    assert [d.object for d in differences] == ["data accounts.balance"]
    database.drop()


def test_runner_raises_with_file_and_line(tmp_path: Path, seeded: SeededServer) -> None:
    database = seeded.database()
    runner = database.migration(fingerprint=False)
    runner.up()
    with pytest.raises(MigrationFailed) as caught:
        runner.up()  # the column exists now
    assert "up statement 1 failed at" in str(caught.value)
    assert "up.sql:1" in str(caught.value)
    assert "already exists" in str(caught.value)
    assert runner.up(check=False).error is not None
    database.drop()


def test_cluster_wide_migrations_are_not_shareable(tmp_path: Path) -> None:
    scenario = load_scenario(
        write_scenario(tmp_path / "roles", up="CREATE ROLE reporting;", down="DROP ROLE reporting;")
    )
    assert not SeededServer(scenario, server=None, provisioning=None).shareable  # type: ignore[arg-type]


def test_rounds_each_run_on_a_fresh_copy(seeded: SeededServer) -> None:
    # ADD COLUMN fails on a database that already went through up: every round must not
    record = measure_rounds(seeded, 3)
    assert record["source"] == "rounds" and record["load"] is False
    assert len(record["rounds"]) == 3
    for round_ in record["rounds"]:
        assert set(round_["phases"]) == {"up", "down"}
        statements_s = sum(v for k, v in round_["statements"].items() if k.startswith("up:"))
        assert round_["phases"]["up"] >= statements_s - 1e-6  # COMMIT is part of the phase
        assert "up: UPDATE accounts SET balance = balance + 1" in round_["statements"]


def test_server_gone_after_close(
    tmp_path: Path, work_root: Path, pg_binaries: PostgresBinaries
) -> None:
    scenario = load_scenario(write_scenario(tmp_path / "s"))
    seeded = SeededServer.start(scenario, ServerOptions(pg_bin=pg_binaries.bin_dir))
    folder = str(work_root)
    assert processes_mentioning(folder)
    seeded.close()
    assert not processes_mentioning(folder)
