"""The zero-downtime playbook in scenarios/: each unsafe way fails for the reason it is
unsafe (which budget, which lock), and its safe twin passes.

The safe twin is judged against the unsafe one's own measurement: its locks that block the
application must be held under a third of what the unsafe way held, on the same machine
in the same test (a busy disk can make any commit slow, so no absolute bound)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
SCALE = "0.5"  # a million orders: the unsafe ways block for hundreds of milliseconds

# (unsafe, safe, the lock the unsafe way blocks writes with)
PAIRS = [
    ("create_index_blocking", "create_index_concurrently", "ShareLock"),
    ("foreign_key_validating", "foreign_key_not_valid", "ShareRowExclusiveLock"),
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


@pytest.mark.parametrize(("unsafe", "safe", "mode"), PAIRS)
def test_the_unsafe_way_fails_for_its_reason_and_the_safe_way_passes(
    unsafe: str, safe: str, mode: str, tmp_path: Path, work_root: Path
) -> None:
    code, summary = _rehearse(unsafe, tmp_path / "reports")
    assert code == 1 and summary["outcome"] == "failed", summary["failure"]
    [budget] = [b for b in summary["budgets"] if b["status"] == "fail"]
    assert budget["budget"] == "max_lock_ms.conflicting", budget
    [statement] = [s for s in summary["statements"] if s["phase"] == "up"]
    blocking = [
        lock
        for lock in statement["locks"]
        if lock["relation"] == "orders" and lock["mode"] == mode and lock["blocks_writes"]
    ]
    assert blocking and blocking[0]["held_ms"] > 50, statement["locks"]
    held = float(budget["actual"])

    limit = f"max_lock_ms.conflicting={held / 3:.1f}"
    code, summary = _rehearse(safe, tmp_path / "reports", "--budget", limit)
    assert code == 0, (summary["failure"], summary["budgets"])
    assert summary["roundtrip"]["status"] == "passed"
    assert not summary["load"]["breaking"]
