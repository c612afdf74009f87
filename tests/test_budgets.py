"""Budgets turn measurements into a verdict and an exit code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pgrehearse import ScenarioError, load_scenario, rehearse
from pgrehearse.cli import parse_budget_overrides
from tests.helpers import write_scenario

LOCK_HOLD = "LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE;\nSELECT pg_sleep(0.3);\n"


def test_lock_budget_fails_and_passes_on_the_measured_hold(tmp_path: Path, work_root: Path) -> None:
    scenario = load_scenario(write_scenario(tmp_path / "s", up=LOCK_HOLD, down=None))
    tight = rehearse(
        scenario, report_dir=None, budgets={"max_lock_ms": {"AccessExclusiveLock": 100}}
    )
    assert tight.outcome == "failed"
    assert tight.failure is not None and "max_lock_ms.AccessExclusiveLock" in tight.failure
    [check] = [b for b in tight.budgets if b.budget == "max_lock_ms.AccessExclusiveLock"]
    up = tight.phase("up")
    assert up is not None and up.seconds is not None
    # at least the sleep inside the lock's transaction, at most the whole phase (client clock)
    assert check.status == "fail" and 300 <= check.actual <= up.seconds * 1000
    loose = rehearse(scenario, report_dir=None, budgets={"max_lock_ms": {"conflicting": 1000}})
    assert loose.passed, loose.failure


def test_no_rewrite_budget(tmp_path: Path, work_root: Path) -> None:
    up = "ALTER TABLE accounts ALTER COLUMN balance TYPE bigint;"
    extra = "budgets:\n  no_rewrite: [accounts]\n  roundtrip: false\n"
    path = write_scenario(tmp_path / "s", up=up, down=None, extra=extra)
    result = rehearse(load_scenario(path), report_dir=None)
    assert result.outcome == "failed"
    [check] = [b for b in result.budgets if b.budget == "no_rewrite"]
    assert check.actual == ["accounts"] and check.status == "fail"


def test_bad_budget_override_is_invalid_input(tmp_path: Path, work_root: Path) -> None:
    scenario = load_scenario(write_scenario(tmp_path / "s"))
    with pytest.raises(ScenarioError, match="max_lock_ms"):
        rehearse(scenario, report_dir=None, budgets={"max_lock_ms": {"BigLock": 5}})


def test_budget_overrides_parse() -> None:
    assert parse_budget_overrides(
        ("max_wait_ms=500", "max_lock_ms.AccessExclusiveLock=200", "no_rewrite=[a, b]")
    ) == {"max_wait_ms": 500, "max_lock_ms": {"AccessExclusiveLock": 200}, "no_rewrite": ["a", "b"]}


def test_cli_budget_exit_codes(tmp_path: Path, work_root: Path) -> None:
    path = write_scenario(tmp_path / "s", up=LOCK_HOLD, down=None)
    command = [sys.executable, "-m", "pgrehearse", "run", str(path), "--report-dir", str(tmp_path)]
    over = subprocess.run(
        [*command, "--budget", "max_lock_ms.AccessExclusiveLock=50"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert over.returncode == 1 and "budget exceeded" in over.stdout
    bad = subprocess.run(
        [*command, "--budget", "max_wait_ms=soon"], capture_output=True, text=True, timeout=300
    )
    assert bad.returncode == 2 and "max_wait_ms" in bad.stderr
