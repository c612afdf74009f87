"""The library end to end on a real server: `load_scenario` + `rehearse`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pgrehearse import Rehearsal, ScenarioError, ServerOptions, load_scenario, rehearse
from pgrehearse.backends import PostgresBinaries
from pgrehearse.report import SUMMARY_SCHEMA_VERSION
from tests.helpers import ProbingBackend, write_scenario

UP = """\
-- 0001: add a note
ALTER TABLE accounts ADD COLUMN note text;

UPDATE accounts SET note = 'x' WHERE id % 2 = 0;
"""


def _summary(result: Rehearsal) -> dict[str, Any]:
    assert result.summary_path is not None
    data: dict[str, Any] = json.loads(result.summary_path.read_text())
    return data


def test_successful_rehearsal_writes_summary(tmp_path: Path, work_root: Path) -> None:
    scenario = load_scenario(write_scenario(tmp_path / "s", up=UP, rows=500))
    result = rehearse(scenario, report_dir=tmp_path / "reports")

    assert result.outcome == "passed" and result.passed
    assert result.run_dir is not None
    assert result.run_dir.parent == tmp_path / "reports" / "t"
    assert [p.name for p in result.phases] == [
        "provision",
        "schema",
        "seed",
        "post_data",
        "snapshot",
        "restart",
        "fingerprint",
        "up",
        "down",
        "verify",
    ]
    assert all(p.status == "ok" and p.seconds is not None for p in result.phases)
    assert [t.rows for t in result.tables] == [500]

    up = result.statements_of("up")
    assert [(s.index, s.line, s.status) for s in up] == [(1, 2, "ok"), (2, 4, "ok")]
    assert up[0].file == tmp_path / "s" / "up.sql"
    assert all(s.seconds is not None and s.seconds > 0 for s in up)
    assert up[0].started_s is not None and up[1].started_s is not None
    assert up[1].started_s >= up[0].started_s + (up[0].seconds or 0)

    summary = _summary(result)
    assert summary["schema_version"] == SUMMARY_SCHEMA_VERSION
    assert summary["outcome"] == "passed"
    assert summary["scenario"] == {"name": "t", "file": str(tmp_path / "s" / "scenario.yaml")}
    postgres = summary["postgres"]
    assert isinstance(postgres, dict) and postgres["backend"] == "local"
    settings = summary["settings"]
    assert isinstance(settings, dict)
    assert settings["seed"]["fsync"] == "off" and settings["rehearsal"]["fsync"] == "on"
    statements = summary["statements"]
    assert isinstance(statements, list) and len(statements) == 3
    assert statements[1]["sql"] == "UPDATE accounts SET note = 'x' WHERE id % 2 = 0"
    assert statements[1]["line"] == 4 and statements[1]["error"] is None
    assert "password" not in result.summary_path.read_text()  # type: ignore[union-attr]


def test_failing_statement_fails_the_run_and_names_file_and_line(
    tmp_path: Path, work_root: Path
) -> None:
    up = (
        "ALTER TABLE accounts ADD COLUMN note text;\n\n"
        "ALTER TABLE accounts\n  ADD COLUMN x nosuchtype;\nSELECT 1;\n"
    )
    scenario = load_scenario(write_scenario(tmp_path / "s", up=up))
    result = rehearse(scenario, report_dir=tmp_path / "reports")

    assert result.outcome == "failed"
    failed = result.failed_statement
    assert failed is not None and failed.error is not None
    assert (failed.index, failed.line, failed.error.line) == (2, 3, 4)
    assert failed.error.sqlstate == "42704"  # undefined_object
    assert 'type "nosuchtype" does not exist' in failed.error.message
    assert [s.status for s in result.statements_of("up")] == ["ok", "error", "not_run"]
    assert result.phase("up").status == "failed"  # type: ignore[union-attr]
    down = result.phase("down")
    assert down is not None and down.status == "skipped"
    assert result.failure is not None and f"{tmp_path / 's' / 'up.sql'}:4" in result.failure

    summary = _summary(result)
    assert summary["outcome"] == "failed"
    assert list(work_root.iterdir()) == []


@pytest.mark.parametrize(
    ("up", "remedy"),
    [
        ("ALTER TABLE accounts ADD CHECK (email = 'one@example.org');", "NOT VALID"),
        ("CREATE UNIQUE INDEX accounts_one ON accounts ((1));", "remove the duplicates first"),
    ],
)
def test_a_constraint_the_seeded_rows_break_says_what_to_do(
    tmp_path: Path, work_root: Path, up: str, remedy: str
) -> None:
    scenario = load_scenario(write_scenario(tmp_path / "s", up=up, down=None))
    result = rehearse(scenario, report_dir=None)
    failed = result.failed_statement
    assert failed is not None and failed.error is not None and failed.error.hint is not None
    assert "the seeded rows of accounts break it" in failed.error.hint
    assert "data.tables.accounts.columns" in failed.error.hint and remedy in failed.error.hint


def test_file_transaction_rolls_back_the_whole_up_migration(
    tmp_path: Path, work_root: Path, pg_binaries: PostgresBinaries
) -> None:
    """In `file` mode a failure leaves nothing of the migration behind (checked in-server)."""
    up = "CREATE TABLE created_by_up (id int);\nSELECT 1/0;\n"
    probe = "SELECT to_regclass('created_by_up') IS NULL"
    for mode, vanished in (("file", True), ("statement", False)):
        folder = tmp_path / mode
        scenario = load_scenario(
            write_scenario(folder, up=up + f"-- {mode}\n", extra=f"  transaction: {mode}\n")
        )
        backend = ProbingBackend(pg_binaries, probe)
        result = rehearse(scenario, report_dir=None, backend=backend)
        assert result.outcome == "failed"
        assert result.transaction["up"] == mode
        assert backend.answer is vanished, mode


def test_script_with_its_own_transaction_runs_as_written(tmp_path: Path, work_root: Path) -> None:
    up = "BEGIN;\nALTER TABLE accounts ADD COLUMN note text;\nCOMMIT;\n"
    scenario = load_scenario(write_scenario(tmp_path / "s", up=up))
    result = rehearse(scenario, report_dir=None)
    assert result.passed
    assert result.transaction["up"] == "script"
    assert len(result.statements_of("up")) == 3


def test_lock_timeout_applies_to_the_migration(tmp_path: Path, work_root: Path) -> None:
    up = """
    DO $$ BEGIN
      IF current_setting('lock_timeout') <> '1500ms' THEN
        RAISE EXCEPTION 'lock_timeout is %', current_setting('lock_timeout');
      END IF;
    END $$;
    """
    scenario = load_scenario(
        write_scenario(tmp_path / "s", up=up, extra="  lock_timeout: 1500ms\n", down=None)
    )
    result = rehearse(scenario, report_dir=None)
    assert result.passed, result.failure
    assert result.phase("down").status == "skipped"  # type: ignore[union-attr]


def test_scale_multiplies_rows(tmp_path: Path, work_root: Path) -> None:
    scenario = load_scenario(write_scenario(tmp_path / "s", rows=1000))
    result = rehearse(scenario, ServerOptions(scale=0.25), report_dir=None)
    assert [t.rows for t in result.tables] == [250]
    assert result.scale == 0.25


def test_broken_schema_is_invalid_input_pointing_at_the_schema_line(
    tmp_path: Path, work_root: Path
) -> None:
    schema = "CREATE TABLE accounts (id int);\n\nCREATE TABLE broken (x nosuchtype);\n"
    scenario = load_scenario(write_scenario(tmp_path / "s", schema=schema))
    with pytest.raises(ScenarioError) as caught:
        rehearse(scenario, report_dir=tmp_path / "reports")
    [problem] = caught.value.problems
    assert problem.file == tmp_path / "s" / "schema.sql"
    assert problem.line == 3
    assert "nosuchtype" in problem.message
    assert list(work_root.iterdir()) == []


def test_not_null_column_of_unknown_type_without_generator_points_at_the_table(
    tmp_path: Path, work_root: Path
) -> None:
    schema = (
        "CREATE TABLE accounts (id bigint GENERATED ALWAYS AS IDENTITY, email text NOT NULL, "
        "balance int NOT NULL, owner pg_snapshot NOT NULL);\n"
    )
    path = write_scenario(tmp_path / "s", schema=schema)
    with pytest.raises(ScenarioError) as caught:
        rehearse(load_scenario(path), report_dir=None)
    [problem] = caught.value.problems
    assert problem.file == path and problem.line == 9  # `columns:` of accounts, where it goes
    assert "cannot infer a generator for accounts.owner (pg_snapshot, NOT NULL)" in problem.message
    assert problem.hint == "give it one under data.tables.accounts.columns.owner"


def test_seeded_data_is_deterministic_and_references_are_valid(
    tmp_path: Path, work_root: Path, pg_binaries: PostgresBinaries
) -> None:
    schema = """
    CREATE TABLE accounts (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                           email text NOT NULL UNIQUE, balance int NOT NULL);
    CREATE TABLE payments (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                           account_id bigint NOT NULL REFERENCES accounts (id),
                           kind text, paid_on date, paid_at timestamptz);
    """
    path = write_scenario(tmp_path / "s", schema=schema, rows=300)
    text = path.read_text().replace(
        "migration:",
        "    payments:\n"
        "      rows: 2000\n"
        "      columns:\n"
        "        account_id: {ref: accounts.id}\n"
        "        kind: {choice: {card: 0.9, cash: 0.1}, null_fraction: 0.5}\n"
        "        paid_on: {between: [2020-01-01, 2020-12-31]}\n"
        "        paid_at: {between: [2020-01-01T00:00:00, 2020-01-02T00:00:00]}\n"
        "migration:",
    )
    path.write_text(text)
    checksum = (
        "SELECT md5(string_agg(p::text, ',' ORDER BY p.id)) || md5(string_agg(a::text, ',' "
        "ORDER BY a.id)), count(*) FILTER (WHERE p.kind IS NULL), "
        "count(*) FILTER (WHERE p.kind = 'cash'), min(p.paid_on)::text, max(p.paid_on)::text, "
        "count(DISTINCT a.email) FROM payments p JOIN accounts a ON a.id = p.account_id"
    )
    answers = []
    for _ in range(2):
        backend = ProbingBackend(pg_binaries, f"SELECT row(x.*)::text FROM ({checksum}) x")
        result = rehearse(load_scenario(path), report_dir=None, backend=backend)
        assert result.passed
        answers.append(backend.answer)
    assert answers[0] == answers[1]  # same seed, same data
    fields = str(answers[0]).strip("()").split(",")
    nulls, cash = int(fields[1]), int(fields[2])
    assert 850 <= nulls <= 1150  # null_fraction 0.5 of 2000
    assert 40 <= cash <= 160  # 10% of the ~1000 non-null
    assert fields[3] >= "2020-01-01" and fields[4] <= "2020-12-31"


def test_lock_reports_are_written(tmp_path: Path, work_root: Path) -> None:
    up = "ALTER TABLE accounts ADD COLUMN note text;\nCREATE INDEX accounts_note ON accounts(note);"
    scenario = load_scenario(write_scenario(tmp_path / "s", up=up))
    result = rehearse(scenario, report_dir=tmp_path / "reports")
    assert result.passed and result.run_dir is not None and result.locks is not None
    import csv

    with (result.run_dir / "locks.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows and set(rows[0]) >= {"relation", "mode", "held_ms", "holder_role", "statement"}
    first = next(r for r in rows if r["statement"] == "1" and r["phase"] == "up")
    assert (first["relation"], first["mode"]) == ("accounts", "AccessExclusiveLock")
    with (result.run_dir / "statements.csv").open() as handle:
        statements = list(csv.DictReader(handle))
    assert [s["strongest_lock"] for s in statements[:2]] == ["AccessExclusiveLock", "ShareLock"]
    assert statements[1]["created"] == "accounts_note"
    assert (result.run_dir / "waits.csv").read_text().startswith("waiter_role,")
    summary = _summary(result)
    assert summary["sampler"]["polls"] > 0
    assert any(s["mode"] == "AccessExclusiveLock" for s in summary["lock_summary"])
    assert summary["statements"][0]["locks"][0]["mode"] == "AccessExclusiveLock"


def test_reports_that_cannot_be_written_at_the_end_lose_no_result(
    tmp_path: Path, work_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pgrehearse.report._html as html

    def disk_full(*_args: object, **_kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(html, "write_html", disk_full)
    scenario = load_scenario(write_scenario(tmp_path / "s", rows=20))
    result = rehearse(scenario, report_dir=tmp_path / "reports", history=False)
    assert result.passed and result.summary is not None
    assert result.report_error is not None
    assert "No space left on device" in result.report_error
    copy = Path(result.report_error.rsplit(" is in ", 1)[1])
    try:
        saved = json.loads(copy.read_text())
        assert saved["run_id"] == result.run_id and saved["outcome"] == "passed"
    finally:
        copy.unlink()
