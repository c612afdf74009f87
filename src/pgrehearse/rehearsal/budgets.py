"""Budgets: limits on what the migration may do to the application, turned into a verdict."""

from __future__ import annotations

from typing import Any

from pgrehearse.rehearsal.result import BudgetCheck, Rehearsal
from pgrehearse.roles import SessionRole


def evaluate(budgets: dict[str, Any], rehearsal: Rehearsal) -> list[BudgetCheck]:
    """Check every budget the scenario (or command line) set against what was measured."""
    checks: list[BudgetCheck] = []
    for name, limit in budgets.items():
        if limit is None:
            continue
        if name == "max_lock_ms":
            checks += _lock_checks(limit, rehearsal)
        elif name == "max_wait_ms":
            actual = _max_load_wait(rehearsal)
            checks.append(BudgetCheck(name, limit, actual, actual <= limit))
        elif name in ("max_p99_ms", "max_p99_ratio"):
            checks.append(_p99_check(name, limit, rehearsal))
        elif name == "max_errors":
            checks += _error_checks(limit, rehearsal)
        elif name == "max_migration_s":
            up = rehearsal.phase("up")
            actual = round(up.seconds, 3) if up and up.seconds is not None else 0.0
            checks.append(BudgetCheck(name, limit, actual, actual <= limit))
        elif name == "no_rewrite":
            rewritten = sorted(
                {
                    table
                    for s in rehearsal.statements
                    if s.phase == "up"
                    for table in s.rewrites
                    if table in limit
                }
            )
            checks.append(
                BudgetCheck(
                    name,
                    list(limit),
                    rewritten,
                    not rewritten,
                    "rewritten: " + ", ".join(rewritten) if rewritten else "",
                )
            )
        elif name == "roundtrip" and limit:
            result = rehearsal.roundtrip
            status = result.status if result else "skipped"
            detail = f"{len(result.failing)} difference(s)" if result and result.failing else ""
            checks.append(BudgetCheck(name, "restored", status, status != "failed", detail))
    return checks


def _lock_checks(limits: dict[str, float], rehearsal: Rehearsal) -> list[BudgetCheck]:
    locks = rehearsal.locks.locks if rehearsal.locks is not None else None
    checks = []
    for mode, limit in limits.items():
        actual = 0.0
        if locks is not None and not locks.empty:
            mine = locks[
                (locks["holder_role"] == SessionRole.MIGRATION)
                & ~locks["new_relation"].astype(bool)
            ]
            if mode == "conflicting":
                mine = mine[mine["blocks_reads"] | mine["blocks_writes"]]
            else:
                mine = mine[mine["mode"] == mode]
            if not mine.empty:
                actual = round(float(mine["held_ms"].max()), 3)
        checks.append(BudgetCheck(f"max_lock_ms.{mode}", limit, actual, actual <= limit))
    return checks


def _max_load_wait(rehearsal: Rehearsal) -> float:
    if rehearsal.locks is None or rehearsal.locks.waits.empty:
        return 0.0
    waits = rehearsal.locks.waits
    load = waits[waits["waiter_role"] == SessionRole.LOAD]
    return round(float(load["wait_ms"].max()), 3) if not load.empty else 0.0


def _phases(rehearsal: Rehearsal) -> dict[str, dict[str, Any]]:
    if rehearsal.load is None:
        return {}
    return {p["phase"]: p for p in rehearsal.load.phases}


def _p99_check(name: str, limit: float, rehearsal: Rehearsal) -> BudgetCheck:
    phases = _phases(rehearsal)
    during = [
        phases[p]["latency_ms"]["p99"]
        for p in ("up", "down")
        if p in phases and phases[p]["latency_ms"]["p99"] is not None
    ]
    worst = max(during) if during else 0.0
    if name == "max_p99_ms":
        return BudgetCheck(name, limit, worst, worst <= limit)
    baseline = phases.get("baseline", {}).get("latency_ms", {}).get("p99")
    if not baseline:
        return BudgetCheck(name, limit, None, True, "no baseline latency to compare with")
    ratio = round(worst / baseline, 3)
    return BudgetCheck(name, limit, ratio, ratio <= limit, f"p99 {worst} ms vs {baseline} ms")


def _error_checks(limit: int | dict[str, int], rehearsal: Rehearsal) -> list[BudgetCheck]:
    totals: dict[str, int] = {}
    for phase in _phases(rehearsal).values():
        for name, count in phase["errors"].items():
            totals[name] = totals.get(name, 0) + count
    if isinstance(limit, int):
        actual = sum(totals.values())
        return [BudgetCheck("max_errors", limit, actual, actual <= limit)]
    return [
        BudgetCheck(
            f"max_errors.{name}", allowed, totals.get(name, 0), totals.get(name, 0) <= allowed
        )
        for name, allowed in limit.items()
    ]
