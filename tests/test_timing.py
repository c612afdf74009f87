"""Timing history and the regression check: pure logic, no server."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from pgrehearse.errors import HistoryError
from pgrehearse.timing.compare import (
    compare_histories,
    compare_records,
    parse_threshold,
    split_latest,
)
from pgrehearse.timing.history import (
    append_record,
    read_records,
    record_from_summary,
    statement_key,
)


def _record(scenario: str, up: list[float], statement: list[float], **extra: Any) -> dict[str, Any]:
    key = statement_key("up", "ALTER TABLE t ADD COLUMN c int")
    return {
        "format": 1,
        "source": "rounds",
        "scenario": scenario,
        "run_id": extra.pop("run_id", "r"),
        "load": False,
        "rounds": [
            {"phases": {"up": u}, "statements": {key: s}}
            for u, s in zip(up, statement, strict=True)
        ],
        **extra,
    }


def test_slower_needs_an_interval_above_one_a_large_ratio_and_a_large_delta() -> None:
    # one outlier round on each side, among the 7 rounds the regression check takes
    base = _record("s", [1.0, 1.02, 0.98, 5.0, 1.01, 0.99, 1.0], [0.5] * 7)
    current = _record("s", [1.4, 1.42, 1.38, 1.41, 0.99, 1.39, 1.43], [0.5, 0.51] * 3 + [0.5])
    comparison = compare_records(base, current, threshold=0.25, min_delta_s=0.05)
    status = {c.item.split(":")[0]: c.status for c in comparison.changes}
    assert status == {"phase up": "slower", "statement up": "same"}
    assert comparison.regressed
    [change] = comparison.regressions
    assert change.interval is not None and change.interval[0] > 1 and change.rounds == (7, 7)
    described = comparison.describe()
    assert described.startswith("phase up: 1.400 s vs baseline 1.000 s (+40%, ×1.40, 95% interval")
    assert "over 7 and 7 rounds, limit +25%)" in described


def test_a_noisy_difference_is_not_called_slower() -> None:
    # the medians differ by 40 %, but the rounds overlap: the interval includes 1
    base = _record("s", [1.0, 1.0, 5.0], [0.5, 0.5, 0.5])
    current = _record("s", [1.4, 1.4, 0.9], [0.5, 0.51, 0.5])
    [phase, _] = compare_records(base, current, threshold=0.25, min_delta_s=0.05).changes
    assert phase.status == "same"
    assert phase.interval is not None and phase.interval[0] < 1 < phase.interval[1]


def test_lock_waits_are_kept_apart_and_reported_not_compared() -> None:
    base = _record("s", [1.0, 1.0, 1.0], [0.5, 0.5, 0.5])
    current = _record("s", [1.5, 1.5, 1.5], [0.5, 0.5, 0.5])
    for round_ in current["rounds"]:
        round_["phase_waits"] = {"up": 0.8}
    comparison = compare_records(base, current)
    [phase] = comparison.regressions
    assert phase.current_wait_s == 0.8 and phase.base_wait_s is None
    assert "waited for locks (not compared): 0.800 s vs baseline 0.000 s" in comparison.describe()


def test_small_absolute_changes_are_noise() -> None:
    base = _record("s", [0.010, 0.010, 0.010], [0.001, 0.001, 0.001])
    current = _record("s", [0.030, 0.030, 0.030], [0.004, 0.004, 0.004])  # 3x, but +20 ms
    assert not compare_records(base, current, min_delta_s=0.05).regressed
    assert compare_records(base, current, min_delta_s=0.01).regressed


def test_faster_new_and_gone() -> None:
    base = _record("s", [2.0], [1.0])
    current = _record("s", [1.0], [1.0])
    current["rounds"][0]["statements"] = {"up: CREATE INDEX i ON t (c)": 0.2}
    comparison = compare_records(base, current)
    status = {c.item: c.status for c in comparison.changes}
    assert status["phase up"] == "faster"
    assert status["statement up: ALTER TABLE t ADD COLUMN c int"] == "gone"
    assert status["statement up: CREATE INDEX i ON t (c)"] == "new"
    assert not comparison.regressed


def test_no_baseline_never_fails() -> None:
    comparison = compare_records(None, _record("s", [100.0], [100.0]))
    assert not comparison.regressed
    assert comparison.notes == ["no baseline for this scenario yet: nothing to compare"]


def test_histories_compare_latest_record_of_the_same_source() -> None:
    old = _record("s", [9.0], [0.1], run_id="old")
    base = _record("s", [1.0], [0.1], run_id="base")
    rehearsal = {**_record("s", [0.1], [0.1], run_id="rehearsal"), "source": "rehearsal"}
    current = _record("s", [2.0], [0.1], run_id="current")
    [comparison] = compare_histories([old, base, rehearsal], [current])
    assert comparison.base is not None and comparison.base["run_id"] == "base"
    assert comparison.regressed
    rest, latest = split_latest([old, base, current])
    assert [r["run_id"] for r in latest] == ["current"]
    assert [r["run_id"] for r in rest] == ["old", "base"]


def test_statement_key_ignores_whitespace_and_counts_repeats() -> None:
    summary = {
        "scenario": {"name": "s"},
        "run_id": "x",
        "phases": [{"name": "up", "status": "ok", "seconds": 0.5}],
        "statements": [
            {"phase": "up", "sql": "SELECT  1\n", "status": "ok", "seconds": 0.1},
            {"phase": "up", "sql": "SELECT 1", "status": "ok", "seconds": 0.2, "lock_wait_s": 0.15},
            {"phase": "up", "sql": "SELECT 2", "status": "error", "seconds": 0.3},
        ],
    }
    record = record_from_summary(summary)
    # execution times: the lock wait is taken out, and kept apart
    assert record["rounds"] == [
        {
            "phases": {"up": 0.35},
            "statements": {"up: SELECT 1": 0.1, "up: SELECT 1 (2)": 0.05},
            "phase_waits": {"up": 0.15},
            "statement_waits": {"up: SELECT 1": 0.0, "up: SELECT 1 (2)": 0.15},
        }
    ]


@pytest.mark.parametrize(
    ("text", "value"), [("25%", 0.25), ("0.1", 0.1), ("fast", None), ("-5%", None)]
)
def test_parse_threshold(text: str, value: float | None) -> None:
    if value is None:
        with pytest.raises(ValueError):
            parse_threshold(text)
    else:
        assert parse_threshold(text) == pytest.approx(value)


def test_history_file_errors_name_file_and_line(tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    history.write_text(json.dumps(_record("s", [1.0], [1.0])) + "\n{broken\n")
    with pytest.raises(HistoryError) as caught:
        read_records(history)
    assert f"{history}:2: not JSON" in str(caught.value)
    assert caught.value.exit_code == 2
    # a history file is not a scenario, and the heading must not say it is
    assert str(caught.value).startswith("invalid history file:")
    assert "scenario" not in str(caught.value)
    with pytest.raises(HistoryError, match="no such history file"):
        read_records(tmp_path / "missing.jsonl")


def test_parallel_appends_keep_lines_whole(tmp_path: Path) -> None:
    history = tmp_path / "h" / "history.jsonl"
    big = _record("s", [1.0] * 400, [0.5] * 400)  # ~40 KB per line: larger than a pipe buffer

    def write() -> None:
        for _ in range(10):
            append_record(history, big)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = read_records(history)
    assert len(records) == 40
    assert all(len(r["rounds"]) == 400 for r in records)
