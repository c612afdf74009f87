"""The rehearsal pipeline decides each thing once: retries, round trip, verdict, strongest lock."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest

from pgrehearse import ServerOptions, load_scenario, rehearse
from pgrehearse.backends import PostgresBinaries
from pgrehearse.rehearsal.seeded import SeededServer
from pgrehearse.rehearsal.verdict import decide
from pgrehearse.report import render_markdown, statements_frame, summary_dict
from pgrehearse.report.facts import budget_lines, lock_text, strongest_lock
from pgrehearse.scenario import BudgetsSpec
from tests.helpers import write_scenario


def _hold_lock(kwargs: dict[str, object], held: threading.Event, seconds: float) -> None:
    with psycopg.connect(**kwargs) as conn:  # type: ignore[arg-type]
        conn.execute("LOCK TABLE accounts IN ACCESS SHARE MODE")
        held.set()
        conn.execute("SELECT pg_sleep(%s)", (seconds,))


def test_step_wise_runner_retries_after_lock_timeout(
    tmp_path: Path, work_root: Path, pg_binaries: PostgresBinaries
) -> None:
    retries = "  lock_timeout: 100ms\n  retries: 8\n  retry_backoff: 0.1s\n"
    scenario = load_scenario(write_scenario(tmp_path / "s", rows=50, extra=retries))
    with SeededServer.start(scenario, ServerOptions(pg_bin=pg_binaries.bin_dir)) as seeded:
        database = seeded.database()
        held = threading.Event()
        holder = threading.Thread(
            target=_hold_lock, args=(database.connect_kwargs("blocker"), held, 0.6)
        )
        holder.start()
        try:
            assert held.wait(10)
            runner = database.migration(fingerprint=False)
            script = runner.up()  # raised MigrationFailed before retries were shared
        finally:
            holder.join()
        statuses = [s.status for s in runner.statements]
        assert script.ok and statuses[-1] == "ok"
        assert "retried" in statuses and set(statuses[:-1]) == {"retried"}
        assert runner.statements[-1].attempt == len(statuses)
        database.drop()


def test_budgets_roundtrip_false_waives_a_failed_round_trip(
    tmp_path: Path, work_root: Path
) -> None:
    waived = "budgets:\n  roundtrip: false\n"
    path = write_scenario(tmp_path / "s", rows=50, down="SELECT 1;", extra=waived)
    result = rehearse(load_scenario(path), report_dir=None)
    assert result.roundtrip is not None and result.roundtrip.status == "failed"
    assert result.passed, result.failure
    assert any("budgets.roundtrip" in note for note in result.roundtrip.notes)

    decide(result, BudgetsSpec())  # the default: the round trip must hold
    assert result.outcome == "failed"
    assert result.failure is not None and "does not restore" in result.failure
    [check] = [b for b in result.budgets if b.budget == "roundtrip"]
    assert (check.limit, check.actual, check.passed) == ("restored", "failed", False)
    [line] = [line for line in budget_lines(summary_dict(result)) if "roundtrip" in line]
    assert "limit restored" in line and "(limit passed)" not in line


def _statement(locks: list[dict[str, object]]) -> dict[str, object]:
    return {
        "phase": "up",
        "index": 1,
        "file": "up.sql",
        "line": 1,
        "sql": "CREATE INDEX CONCURRENTLY t_email_idx ON t (email)",
        "status": "ok",
        "started_s": 0.0,
        "seconds": 0.5,
        "locks": locks,
        "rewrites": [],
        "created": ["t_email_idx"],
        "dropped": [],
        "error": None,
    }


def _lock(relation: str, mode: str, held_ms: float, *, new: bool) -> dict[str, object]:
    blocks = mode == "AccessExclusiveLock"
    return {
        "relation": relation,
        "mode": mode,
        "held_ms": held_ms,
        "effect": "new relation" if new else "blocks nothing",
        "new_relation": new,
        "blocks_reads": blocks and not new,
        "blocks_writes": blocks and not new,
    }


@pytest.mark.parametrize(
    ("locks", "expected"),
    [
        # the index being built is new: its lock blocks nobody; the table's lock is the one
        (
            [
                _lock("t_email_idx", "AccessExclusiveLock", 480, new=True),
                _lock("t", "ShareUpdateExclusiveLock", 500, new=False),
            ],
            ("ShareUpdateExclusiveLock", "t"),
        ),
        # a lock that blocks no query is still the strongest lock taken
        ([_lock("t", "ShareUpdateExclusiveLock", 3, new=False)], ("ShareUpdateExclusiveLock", "t")),
        # equal modes: the longer hold wins
        (
            [
                _lock("a", "AccessExclusiveLock", 2, new=False),
                _lock("b", "AccessExclusiveLock", 9, new=False),
            ],
            ("AccessExclusiveLock", "b"),
        ),
    ],
)
def test_every_report_names_the_same_strongest_lock(
    locks: list[dict[str, object]], expected: tuple[str, str]
) -> None:
    statement = _statement(locks)
    top = strongest_lock(locks)
    assert top is not None and (top["mode"], top["relation"]) == expected
    mode, relation = expected
    assert lock_text(statement).startswith(f"{mode} on {relation} ")
    [row] = statements_frame([statement]).to_dict(orient="records")
    assert (row["strongest_lock"], row["strongest_lock_relation"]) == expected
    summary = {
        "scenario": {"name": "s"},
        "outcome": "passed",
        "data": {"seed": 1, "scale": 1},
        "run_id": "r",
        "statements": [statement],
    }
    assert f"{mode} on `{relation}`" in render_markdown(summary)


def test_a_quick_statement_run_alone_says_no_lock_was_observed() -> None:
    from pgrehearse.migration import StatementResult
    from pgrehearse.observe import PhaseWindow
    from pgrehearse.observe.analyse import NO_LOCK_OBSERVED, analyse_locks

    quick = StatementResult(
        "down", 1, None, 1, "DROP INDEX CONCURRENTLY t_n", "ok", 0.0, 0.004, in_transaction=False
    )
    analyse_locks(
        tracer=None,
        samples=None,
        statements=[quick],
        phases=[PhaseWindow("down", 0.0, 0.004)],
        migration_pids={1},
        end_s=0.004,
    )
    assert quick.locks == [] and quick.lock_note == NO_LOCK_OBSERVED
    summary = _statement([])
    summary["lock_note"] = quick.lock_note
    assert lock_text(summary) == NO_LOCK_OBSERVED
    [row] = statements_frame([summary]).to_dict(orient="records")
    assert row["lock_note"] == NO_LOCK_OBSERVED
