"""The zero-downtime playbook in scenarios/: each unsafe way fails for the reason it is
unsafe (which budget, which lock), and its safe twin passes.

The safe twin is judged against the unsafe one's own measurement: on the budget the unsafe
way fails (how long a lock blocked the application, or how long a transaction of the load
waited), it must stay under a third of what the unsafe way measured, on the same machine
in the same test (a busy disk can make any commit slow, so no absolute bound)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
SCALE = "0.25"  # half a million orders: the unsafe ways block for hundreds of milliseconds

# (unsafe, safe, the budget the unsafe way fails, the lock on orders it blocks writes with:
# None where it blocks rows, not the table)
PAIRS = [
    ("create_index_blocking", "create_index_concurrently", "max_lock_ms.conflicting", "ShareLock"),
    (
        "foreign_key_validating",
        "foreign_key_not_valid",
        "max_lock_ms.conflicting",
        "ShareRowExclusiveLock",
    ),
    (
        "unique_constraint_direct",
        "unique_index_concurrently",
        "max_lock_ms.conflicting",
        "AccessExclusiveLock",
    ),
    ("backfill_one_update", "backfill_in_batches", "max_wait_ms", None),
    (
        "not_null_column_direct",
        "not_null_column_safe",
        "max_lock_ms.conflicting",
        "AccessExclusiveLock",
    ),
    ("lock_queue_no_timeout", "lock_queue_timeout_retries", "max_wait_ms", None),
    (
        "int_to_bigint_rewrite",
        "int_to_bigint_new_column",
        "max_lock_ms.conflicting",
        "AccessExclusiveLock",
    ),
]


def _rehearse(scenario: str, reports: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    options = ["--scale", SCALE, "--report-dir", str(reports), "--no-history", "-q", *extra]
    done = subprocess.run(
        [sys.executable, "-m", "pgrehearse", "run", str(SCENARIOS / scenario), *options],
        capture_output=True,
        text=True,
        timeout=600,
    )
    [summary] = (reports / scenario).glob("*/summary.json")
    return done.returncode, json.loads(summary.read_text())


@pytest.mark.parametrize(("unsafe", "safe", "budget_name", "mode"), PAIRS)
def test_the_unsafe_way_fails_for_its_reason_and_the_safe_way_passes(
    unsafe: str, safe: str, budget_name: str, mode: str | None, tmp_path: Path, work_root: Path
) -> None:
    code, summary = _rehearse(unsafe, tmp_path / "reports")
    assert code == 1 and summary["outcome"] == "failed", summary["failure"]
    [budget] = [b for b in summary["budgets"] if b["status"] == "fail"]
    assert budget["budget"] == budget_name, budget
    if mode is not None:  # a table lock that stops the writes
        [statement] = [s for s in summary["statements"] if s["phase"] == "up"][:1]
        blocking = [
            lock
            for lock in statement["locks"]
            if lock["relation"] == "orders" and lock["mode"] == mode and lock["blocks_writes"]
        ]
        assert blocking and blocking[0]["held_ms"] > 50, statement["locks"]
    else:  # row locks, or the lock queue: the application waits behind the migration
        waits = summary["load"]["lock_waits"]
        assert waits and max(w["longest_wait_ms"] for w in waits) > 200, waits
    measured = float(budget["actual"])

    limit = f"{budget_name}={measured / 3:.1f}"
    code, summary = _rehearse(safe, tmp_path / "reports", "--budget", limit)
    assert code == 0, (summary["failure"], summary["budgets"])
    assert summary["roundtrip"]["status"] == "passed"
    assert not summary["load"]["breaking"]


def test_renaming_in_place_breaks_the_application_and_expanding_does_not(
    tmp_path: Path, work_root: Path
) -> None:
    code, summary = _rehearse("orders_rename_column", tmp_path / "reports")
    assert code == 1 and "breaks the running application" in summary["failure"]
    assert {e["sqlstate"] for e in summary["load"]["breaking"]} == {"42703"}  # no such column
    code, summary = _rehearse("rename_expand_contract", tmp_path / "reports")
    assert code == 0, summary["failure"]
    assert not summary["load"]["breaking"] and summary["roundtrip"]["status"] == "passed"
