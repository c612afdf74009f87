"""The verdict of a finished rehearsal, decided once: budgets are checked first, then every
reason to fail is gathered from typed results. The first reason is the headline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from pgrehearse.errors import Problem, ScenarioError
from pgrehearse.rehearsal.budgets import evaluate
from pgrehearse.rehearsal.result import BudgetCheck, Rehearsal
from pgrehearse.rehearsal.steps import describe_failure
from pgrehearse.scenario import BudgetsSpec, Scenario


def merged_budgets(scenario: Scenario, overrides: dict[str, Any] | None) -> BudgetsSpec:
    """The scenario's budgets with `overrides` on top (nested keys merge)."""
    if not overrides:
        return scenario.budgets
    merged = scenario.budgets.model_dump(exclude_none=True)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    try:
        return BudgetsSpec.model_validate(merged)
    except ValidationError as exc:
        problems = [
            Problem(f"budget {'.'.join(map(str, e['loc']))}: {e['msg']}") for e in exc.errors()
        ]
        raise ScenarioError(problems) from None


def failure_reasons(result: Rehearsal, budgets: BudgetsSpec) -> list[str]:
    """Why `result` fails, most fundamental first; empty when it passes."""
    reasons: list[str] = []
    failed = result.failed_statement
    if failed is not None:
        reasons.append(describe_failure(failed))
    if result.invalid_indexes:
        reasons.append(
            "the up migration left invalid indexes: " + ", ".join(result.invalid_indexes)
        )
    roundtrip = result.roundtrip
    if roundtrip is not None and roundtrip.status == "failed" and budgets.roundtrip:
        failing = roundtrip.failing
        reasons.append(
            f"the down migration does not restore the database: {len(failing)} "
            f"difference(s), first: {failing[0].render()}"
        )
    load = result.load
    if load is not None and load.breaking and not load.allow_breaking:
        first = load.breaking[0]
        reasons.append(
            f"the migration breaks the running application: transaction "
            f"{first['transaction']!r} failed with {first['sqlstate']} "
            f"({first['message']}) after {first['after_statement']}"
        )
    over = [check for check in result.budgets if not check.passed and check.budget != "roundtrip"]
    if over:
        reasons.append(
            "budget exceeded: "
            + "; ".join(
                f"{c.budget} {c.actual} > {c.limit}" + (f" ({c.detail})" if c.detail else "")
                for c in over
            )
        )
    return reasons


def decide(
    result: Rehearsal,
    budgets: BudgetsSpec,
    judge: Callable[[list[BudgetCheck]], list[BudgetCheck]] | None = None,
) -> None:
    """Check the budgets, then set the outcome and the headline failure. `judge` may
    replace checks (budgets judged on a prediction rather than on what was measured)."""
    result.budgets = evaluate(budgets.model_dump(exclude_none=True), result)
    if judge is not None:
        result.budgets = judge(result.budgets)
    roundtrip = result.roundtrip
    if roundtrip is not None and roundtrip.status == "failed" and not budgets.roundtrip:
        roundtrip.notes.append("not a failure: the scenario sets budgets.roundtrip to false")
    reasons = failure_reasons(result, budgets)
    result.outcome = "failed" if reasons else "passed"
    result.failure = reasons[0] if reasons else None
