"""Budgets judged on the prediction: the limits that grow with data size (lock holds, the
load's waits, the up phase) compare with the value predicted at the target size."""

from __future__ import annotations

from pgrehearse.rehearsal.result import BudgetCheck
from pgrehearse.scaling._curve import Prediction, ScaleCurve


def predicted_checks(measured: list[BudgetCheck], curve: ScaleCurve) -> list[BudgetCheck]:
    """`measured` with every size-dependent check replaced by its predicted counterpart;
    checks that do not depend on size (errors, rewrites, the round trip) are kept."""
    judged = []
    for check in measured:
        name = check.budget
        if name.startswith("max_lock_ms."):
            mode = name.split(".", 1)[1]
            found = [
                p
                for p in curve.predictions
                if p.kind == "lock"
                and (p.blocks if mode == "conflicting" else p.key.endswith(f" {mode}"))
            ]
            judged.append(_judge(check, found, curve, milliseconds=True))
        elif name == "max_wait_ms":
            judged.append(_judge(check, _found(curve, "load max_wait"), curve, milliseconds=True))
        elif name == "max_migration_s":
            judged.append(_judge(check, _found(curve, "phase up"), curve, milliseconds=False))
        else:
            judged.append(check)
    return judged


def _found(curve: ScaleCurve, key: str) -> list[Prediction]:
    prediction = curve.find(key)
    return [prediction] if prediction is not None else []


def _judge(
    check: BudgetCheck, found: list[Prediction], curve: ScaleCurve, *, milliseconds: bool
) -> BudgetCheck:
    """The worst predicted value among `found`; a flagged quantity counts with its value
    at the largest scale and says that it was not extrapolated."""
    if not found:
        return BudgetCheck(check.budget, check.limit, 0.0, True, "nothing of this kind measured")
    unit = 1000.0 if milliseconds else 1.0

    def value(p: Prediction) -> float:
        return p.seconds if p.seconds is not None else p.measured

    worst = max(found, key=value)
    actual = round(value(worst) * unit, 3)
    largest = max(curve.scales)
    if worst.seconds is None:
        detail = (
            f"measured at {largest:g}: {_duration(worst.measured)} ({worst.label}); "
            f"{worst.fit_text(curve.scales)}"
        )
    else:
        interval = (
            f", 95% {_duration(worst.low or 0.0)}–{_duration(worst.high)}"
            if worst.high is not None
            else ""
        )
        detail = (
            f"predicted at {curve.target.label}: {_duration(worst.seconds)}{interval} "
            f"({worst.fit_text(curve.scales)}; {worst.label}; "
            f"measured {_duration(worst.measured)} at {largest:g})"
        )
    return BudgetCheck(check.budget, check.limit, actual, actual <= check.limit, detail)


def _duration(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.3g} s"
    return f"{seconds * 1000:.3g} ms"
