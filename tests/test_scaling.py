"""The scale curve's pure parts: fits, model choice, statement kinds, quantities from a
summary, and budgets judged on the prediction."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pgrehearse import load_scenario
from pgrehearse.rehearsal.result import BudgetCheck
from pgrehearse.scaling import (
    Target,
    choose,
    fit,
    fit_curve,
    predicted_checks,
    preferred_model,
    quantities_of,
    rehearse_scales,
)
from pgrehearse.scaling._parallel import index_build_workers
from tests.helpers import processes_mentioning, write_scenario

ROWS = [10_000.0, 30_000.0, 100_000.0]


def test_linear_points_are_recovered_and_extrapolated() -> None:
    values = [0.004 + 2e-6 * r for r in ROWS]
    chosen = choose(ROWS, values, "linear").fit
    assert chosen is not None and chosen.model == "linear"
    assert chosen.predict(1_000_000) == pytest.approx(0.004 + 2.0, rel=1e-6)
    assert chosen.r2 == pytest.approx(1.0)


def test_the_interval_widens_with_noise_and_holds_the_truth() -> None:
    noisy = [v * f for v, f in zip([2e-6 * r for r in ROWS], [1.05, 0.96, 1.02], strict=True)]
    chosen = fit("linear", ROWS, noisy)
    low, high = chosen.interval(1_000_000) or (0.0, 0.0)
    assert low < 2.0 < high
    exact = fit("linear", ROWS, [2e-6 * r for r in ROWS])
    exact_low, exact_high = exact.interval(1_000_000) or (0.0, 0.0)
    assert high - low > exact_high - exact_low


def test_index_builds_prefer_n_log_n_and_keep_it_when_it_fits() -> None:
    values = [1e-7 * r * math.log(r) for r in ROWS]
    chosen = choose(ROWS, values, "nlogn").fit
    assert chosen is not None and chosen.model == "nlogn"
    assert chosen.predict(1e6) == pytest.approx(1e-7 * 1e6 * math.log(1e6), rel=1e-6)


def test_a_clearly_better_fit_replaces_the_kinds_model() -> None:
    """A backfill whose cost per row rises with size (measured: 50, 163, 632 ms for
    10k/30k/100k rows) is n·log n-like; a sort that stays in memory is linear."""
    rising = choose(
        ROWS,
        [1e-7 * r * math.log(r) * f for r, f in zip(ROWS, (1.0, 1.01, 0.99), strict=True)],
        "linear",
    )
    assert rising.fit is not None and rising.fit.model == "nlogn"
    assert rising.note is not None and "better than linear" in rising.note
    flat = choose(ROWS, [0.001 + 6e-7 * r for r in ROWS], "nlogn")
    assert flat.fit is not None and flat.fit.model == "linear"
    close = choose(
        ROWS, [2e-6 * r * f for r, f in zip(ROWS, (1.0, 1.03, 0.98), strict=True)], "linear"
    )
    assert close.fit is not None and close.fit.model == "linear" and close.note is None


def test_values_that_do_not_grow_are_a_constant() -> None:
    chosen = choose(ROWS, [0.0011, 0.0009, 0.0010], "linear").fit
    assert chosen is not None and chosen.model == "constant"
    assert chosen.predict(1e9) == pytest.approx(0.001, rel=0.1)


def test_points_that_fit_no_model_are_flagged_not_extrapolated() -> None:
    choice = choose(ROWS, [0.05, 0.01, 0.2], "linear")
    assert choice.fit is None
    assert choice.flag is not None and "fit no model" in choice.flag


def test_a_catalog_only_statement_whose_times_scatter_stays_a_constant() -> None:
    # the same three points that fit no growth model, from a statement that only changes
    # the catalog: a slow moment of the machine, not a trend
    choice = choose(ROWS, [0.05, 0.01, 0.2], "constant")
    assert choice.fit is not None and choice.fit.model == "constant"
    assert choice.note is not None and "noise" in choice.note


def test_two_sizes_cannot_choose_a_model() -> None:
    choice = choose(ROWS[:2], [0.01, 0.03], "linear")
    assert choice.fit is None and choice.flag is not None and "3 data sizes" in choice.flag


def test_a_catalog_only_statement_that_grows_says_so() -> None:
    choice = choose(ROWS, [2e-6 * r for r in ROWS], "constant")
    assert choice.fit is not None and choice.fit.model == "linear"
    assert choice.note is not None and "catalog" in choice.note


@pytest.mark.parametrize(
    ("sql", "rewrote", "model"),
    [
        ("CREATE INDEX i ON t (a)", False, "nlogn"),
        ("CREATE INDEX CONCURRENTLY i ON t (a)", False, "nlogn"),
        ("ALTER TABLE t ADD PRIMARY KEY (id)", False, "nlogn"),
        ("ALTER TABLE t ADD CONSTRAINT u UNIQUE USING INDEX i", False, "constant"),
        ("ALTER TABLE t VALIDATE CONSTRAINT c", False, "linear"),
        ("ALTER TABLE t ALTER COLUMN a TYPE bigint", False, "linear"),
        ("ALTER TABLE t ALTER COLUMN a SET NOT NULL", False, "linear"),
        (
            "ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES u NOT VALID",
            False,
            "constant",
        ),
        ("ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES u", False, "linear"),
        ("ALTER TABLE t ADD COLUMN b int DEFAULT 0", False, "constant"),
        ("ALTER TABLE t ADD COLUMN b float8 DEFAULT random()", True, "linear"),
        ("UPDATE t SET b = a WHERE id BETWEEN 1 AND 1000", False, "linear"),
        ("COMMENT ON TABLE t IS 'x'", False, "constant"),
        ("DO $$ BEGIN UPDATE t SET a = 1; END $$", False, "linear"),
        ("ALTER TABLE t RENAME COLUMN a TO b", False, "constant"),
    ],
)
def test_statement_kinds(sql: str, rewrote: bool, model: str) -> None:
    assert preferred_model(sql, rewrote) == model


def _summary(scale: float, rows: int, seconds: float, lock_ms: float) -> dict[str, Any]:
    """A summary as rehearse() writes it, reduced to what the curve reads."""
    return {
        "data": {"scale": scale},
        "tables": [{"name": "orders", "rows": rows}, {"name": "customers", "rows": rows // 10}],
        "phases": [{"name": "up", "status": "ok", "seconds": seconds + 0.001}],
        "statements": [
            {
                "phase": "up",
                "index": 1,
                "sql": "UPDATE orders SET note = 'x'",
                "status": "ok",
                "seconds": seconds + 0.5,
                "lock_wait_s": 0.5,  # waiting is not the statement's own time
                "in_transaction": True,
                "transaction_end_s": 9.0,
                "rewrites": [],
                "locks": [{"relation": "orders", "mode": "RowExclusiveLock"}],
            },
            {
                "phase": "up",
                "index": 2,
                "sql": "COMMENT ON TABLE customers IS 'c'",
                "status": "ok",
                "seconds": 0.0003,
                "in_transaction": True,
                "transaction_end_s": 9.0,
                "rewrites": [],
                "locks": [{"relation": "customers", "mode": "ShareUpdateExclusiveLock"}],
            },
        ],
        "locks": [
            {
                "relation": "orders",
                "mode": "AccessExclusiveLock",
                "holder_role": "migration",
                "new_relation": False,
                "phase": "up",
                "statement": 1,
                "held_ms": lock_ms,
                "blocks_reads": True,
                "blocks_writes": True,
            }
        ],
        "waits": [{"waiter_role": "load", "phase": "up", "wait_ms": lock_ms * 0.9}],
        "load": {"clients": 2, "phases": [{"phase": "up", "longest_stall_ms": lock_ms}]},
    }


def _summaries() -> list[tuple[float, dict[str, Any]]]:
    return [
        (scale, _summary(scale, int(1_000_000 * scale), 3e-6 * 1_000_000 * scale, 3e3 * scale))
        for scale in (0.01, 0.03, 0.1)
    ]


def test_quantities_take_execution_time_and_their_own_tables() -> None:
    found = {q.key: q for q in quantities_of(_summaries()[0][1])}
    update = found["up #1"]
    assert update.seconds == pytest.approx(0.03) and update.tables == {"orders"}
    assert update.preferred == "linear"
    assert found["up #2"].tables == {"customers"} and found["up #2"].preferred == "constant"
    lock = found["lock orders AccessExclusiveLock"]
    assert lock.blocks and lock.tables == {"orders", "customers"}  # its transaction's tables
    assert found["load max_wait"].seconds == pytest.approx(0.027)
    assert found["load stall"].seconds == pytest.approx(0.03)


def test_curve_predicts_every_quantity_at_the_target() -> None:
    curve = fit_curve(_summaries(), Target(scale=1.0))
    update = curve.find("up #1")
    assert update is not None and update.model == "linear"
    assert update.target_rows == pytest.approx(1_000_000)
    assert update.seconds == pytest.approx(3.0, rel=1e-3)
    comment = curve.find("up #2")
    assert comment is not None and comment.model == "constant"
    by_rows = fit_curve(_summaries(), Target(scale=None, rows={"orders": 2_000_000}))
    doubled = by_rows.find("up #1")
    assert doubled is not None and doubled.seconds == pytest.approx(6.0, rel=1e-3)


def test_budgets_at_predicted_fail_what_production_would_suffer() -> None:
    curve = fit_curve(_summaries(), Target(scale=1.0))
    measured = [
        BudgetCheck("max_lock_ms.AccessExclusiveLock", 2000.0, 300.0, True),
        BudgetCheck("max_wait_ms", 5000.0, 270.0, True),
        BudgetCheck("max_errors", 0, 0, True),
    ]
    judged = {c.budget: c for c in predicted_checks(measured, curve)}
    lock = judged["max_lock_ms.AccessExclusiveLock"]
    assert not lock.passed and lock.actual == pytest.approx(3000.0, rel=1e-3)
    assert lock.detail.startswith("predicted at 1×: 3 s")
    assert "fit from 0.01/0.03/0.1, R² 1.00" in lock.detail
    assert judged["max_wait_ms"].passed and judged["max_wait_ms"].actual == pytest.approx(
        2700, rel=1e-3
    )
    assert judged["max_errors"] is measured[2]


# ground truth: the second statement sleeps 0.1 ms per row, inside the lock's transaction
SLEEP_PER_ROW = 0.0002  # large beside a busy machine's noise in a statement's time
PER_ROW_UP = f"""
LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE;
SELECT pg_sleep(count(*) * {SLEEP_PER_ROW}) FROM accounts;
COMMENT ON TABLE accounts IS 'scaled';
"""


def test_rehearsals_at_three_scales_predict_a_fourth(tmp_path: Path, work_root: Path) -> None:
    scenario = load_scenario(
        write_scenario(tmp_path / "s", up=PER_ROW_UP, down=None, rows=1000, extra=_NO_ROUNDTRIP)
    )
    scaled = rehearse_scales(
        scenario,
        [1, 2, 4],
        Target(scale=8),
        report_dir=tmp_path / "reports",
        history=False,
        budgets={"max_lock_ms": {"AccessExclusiveLock": 1200}},
        budget_at="predicted",
        parallel_seeding=3,
    )
    assert [r.scale for r in scaled.rehearsals] == [1, 2, 4]
    # the three snapshots were seeded together beforehand; each rehearsal started from one
    assert all(r.cache is not None and r.cache.hit for r in scaled.rehearsals)
    curve = scaled.curve
    assert curve is not None
    sleep = curve.find("up #2")
    assert sleep is not None and sleep.model == "linear", sleep
    # what the client measured beyond each sleep bounds the error of the extrapolation
    overheads = [p.seconds - SLEEP_PER_ROW * p.rows for p in sleep.points]
    assert all(o >= -0.001 for o in overheads), overheads
    truth = SLEEP_PER_ROW * 8000
    assert sleep.seconds is not None
    assert abs(sleep.seconds - truth) <= 6 * max(overheads) + 0.005, (sleep, overheads)
    comment = curve.find("up #3")
    assert comment is not None and comment.model == "constant"
    # measured at 4× the lock passed its 1,200 ms budget; predicted at 8× it fails
    largest = scaled.largest
    lock = curve.find("lock accounts AccessExclusiveLock")
    assert lock is not None and lock.model is not None, lock
    assert largest.outcome == "failed" and not scaled.passed
    assert largest.failure is not None and "predicted at 8×" in largest.failure
    [check] = [b for b in largest.budgets if b.budget == "max_lock_ms.AccessExclusiveLock"]
    assert check.actual > 1200 and "fit from 1/2/4" in check.detail
    assert all(r.passed for r in scaled.rehearsals[:-1])
    assert largest.run_dir is not None
    summary = json.loads((largest.run_dir / "summary.json").read_text())
    assert summary["outcome"] == "failed"
    assert [p["scale"] for p in summary["prediction"]["predictions"][0]["points"]] == [1, 2, 4]
    markdown = (largest.run_dir / "summary.md").read_text()
    assert "Predicted at 8× from scales 1/2/4" in markdown


def _processes_with_env(name: str, value: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environ = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if f"{name}={value}".encode() in environ:
                found.append(int(entry.name))
    return found


# the scale curve with its three seeds run together (by default they are only on 4+ cores)
_SEED_TOGETHER = """
import sys
from pgrehearse import load_scenario
from pgrehearse._shell import signals_raise
from pgrehearse.errors import Interrupted
from pgrehearse.rehearsal.progress import SilentProgress
from pgrehearse.scaling import Target, rehearse_scales

class Notes(SilentProgress):
    def note(self, text):
        print(text, file=sys.stderr, flush=True)

try:
    with signals_raise():
        rehearse_scales(load_scenario(sys.argv[1]), [0.5, 1, 2], Target(scale=4),
                        report_dir=None, progress=Notes(), parallel_seeding=3)
except Interrupted as exc:
    print("interrupted by", exc.signal_name, file=sys.stderr)
    sys.exit(exc.exit_code)
"""


def test_sigterm_while_the_scales_seed_together_leaves_nothing(
    tmp_path: Path, work_root: Path
) -> None:
    path = write_scenario(tmp_path / "s", rows=400_000, down=None, extra=_NO_ROUNDTRIP)
    run = subprocess.Popen(
        [sys.executable, "-c", _SEED_TOGETHER, str(path)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert run.stderr is not None
    seen = []
    for line in run.stderr:
        seen.append(line)
        if "seeding the snapshots of scales 0.5, 1, 2" in line:
            break
    else:
        pytest.fail("the scales were not seeded together:\n" + "".join(seen))
    # wait until every scale's server is up and seeding, then stop the run
    deadline = time.monotonic() + 60
    while len(list(work_root.glob("pgrehearse-server-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    run.send_signal(signal.SIGTERM)
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 143, "".join(seen) + stderr
    assert "interrupted by SIGTERM" in stderr
    assert "Traceback" not in stderr
    assert processes_mentioning(str(work_root)) == []
    assert _processes_with_env("PGREHEARSE_TMPDIR", str(work_root)) == []


def test_cli_refuses_a_curve_of_two_scales(tmp_path: Path) -> None:
    path = write_scenario(tmp_path / "s")
    command = [sys.executable, "-m", "pgrehearse", "run", str(path), "--report-dir", str(tmp_path)]
    two = subprocess.run([*command, "--scales", "0.5,1"], capture_output=True, text=True)
    assert two.returncode == 2, two.stderr
    assert "at least 3 distinct scales" in two.stderr and "Traceback" not in two.stderr
    bad = subprocess.run(
        [*command, "--scales", "1,2,4", "--predict-at", "orders=lots"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "TABLE=ROWS" in bad.stderr, bad.stderr


# no fsync at commit: a busy disk once made one commit 65 ms, noise in a lock's hold
_NO_ROUNDTRIP = "roundtrip:\n  mode: skip\npostgres:\n  settings:\n    synchronous_commit: 'off'\n"


def test_parallel_index_build_workers_follow_postgres_rules() -> None:
    mb = 1024**2
    assert index_build_workers(7 * mb, {}) == 0  # under min_parallel_table_scan_size
    assert index_build_workers(8 * mb, {}) == 1
    assert index_build_workers(24 * mb, {}) == 2
    assert index_build_workers(1024 * mb, {}) == 2  # max_parallel_maintenance_workers
    assert index_build_workers(1024 * mb, {"max_parallel_maintenance_workers": "4"}) == 4
    assert index_build_workers(10 * mb, {"min_parallel_table_scan_size": "16MB"}) == 0
    assert index_build_workers(10 * mb, {"max_parallel_maintenance_workers": "0"}) == 0


def test_an_index_build_that_will_run_in_parallel_says_so() -> None:
    summaries = []
    for scale in (0.01, 0.03, 0.1):
        rows = int(1_000_000 * scale)
        summary = _summary(scale, rows, 3e-6 * rows, 10.0)
        summary["statements"][0]["sql"] = "CREATE INDEX orders_a ON orders (a)"
        summary["relations"] = [{"name": "orders", "kind": "table", "bytes": rows * 70}]
        summaries.append((scale, summary))
    build = fit_curve(summaries, Target(scale=1.0)).find("up #1")
    assert build is not None and build.note is not None
    assert "2 parallel worker(s), at the largest scale 0" in build.note
    small = fit_curve(summaries, Target(scale=0.1)).find("up #1")
    assert small is not None and "parallel" not in (small.note or "")
