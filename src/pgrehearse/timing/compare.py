"""Regression check: is a phase or statement slower than in the baseline?

Each side's figure is the median over its rounds. A change counts as a regression only
when it is both relatively large (`threshold`, e.g. 0.25 = 25 % slower) and absolutely
large (`min_delta_s`), so sub-millisecond statements do not fail on scheduler noise.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

ChangeStatus = Literal["slower", "faster", "same", "new", "gone"]
DEFAULT_THRESHOLD = 0.25
DEFAULT_MIN_DELTA_S = 0.05


@dataclass(frozen=True)
class TimingChange:
    item: str  # "phase up" or "statement up: ALTER TABLE ..."
    base_s: float | None
    current_s: float | None
    status: ChangeStatus

    @property
    def ratio(self) -> float | None:
        if self.base_s is None or self.current_s is None or self.base_s <= 0:
            return None
        return self.current_s / self.base_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "base_s": self.base_s,
            "current_s": self.current_s,
            "ratio": None if self.ratio is None else round(self.ratio, 3),
            "status": self.status,
        }


@dataclass
class Comparison:
    scenario: str
    base: Mapping[str, Any] | None  # None: no baseline for this scenario
    current: Mapping[str, Any]
    threshold: float
    min_delta_s: float
    changes: list[TimingChange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[TimingChange]:
        return [c for c in self.changes if c.status == "slower"]

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "baseline_run": None if self.base is None else self.base.get("run_id"),
            "current_run": self.current.get("run_id"),
            "threshold": self.threshold,
            "min_delta_s": self.min_delta_s,
            "regressed": self.regressed,
            "notes": self.notes,
            "changes": [c.to_dict() for c in self.changes],
        }

    def describe(self) -> str:
        """One line per regression, for failure messages."""
        return "\n".join(
            f"{c.item}: {c.current_s:.3f} s vs baseline {c.base_s:.3f} s "
            f"({(c.ratio or 0) - 1:+.0%}, limit +{self.threshold:.0%})"
            for c in self.regressions
        )


def _medians(record: Mapping[str, Any]) -> dict[str, float]:
    samples: dict[str, list[float]] = {}
    for round_ in record["rounds"]:
        for name, seconds in round_.get("phases", {}).items():
            samples.setdefault(f"phase {name}", []).append(float(seconds))
        for key, seconds in round_.get("statements", {}).items():
            samples.setdefault(f"statement {key}", []).append(float(seconds))
    return {item: statistics.median(values) for item, values in samples.items()}


def compare_records(
    base: Mapping[str, Any] | None,
    current: Mapping[str, Any],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    min_delta_s: float = DEFAULT_MIN_DELTA_S,
) -> Comparison:
    """Compare `current` with `base` (None: no baseline yet, which never fails)."""
    comparison = Comparison(str(current["scenario"]), base, current, threshold, min_delta_s)
    if base is None:
        comparison.notes.append("no baseline for this scenario yet: nothing to compare")
        return comparison
    for key in ("source", "load", "scale", "postgres_version"):
        if base.get(key) != current.get(key):
            comparison.notes.append(
                f"{key} differs: baseline {base.get(key)!r}, current {current.get(key)!r}"
            )
    before, after = _medians(base), _medians(current)
    for item in [*before, *(i for i in after if i not in before)]:
        base_s, current_s = before.get(item), after.get(item)
        comparison.changes.append(
            TimingChange(
                item, base_s, current_s, _status(base_s, current_s, threshold, min_delta_s)
            )
        )
    return comparison


def _status(
    base_s: float | None, current_s: float | None, threshold: float, min_delta_s: float
) -> ChangeStatus:
    if base_s is None:
        return "new"
    if current_s is None:
        return "gone"
    if current_s - base_s > min_delta_s and current_s > base_s * (1 + threshold):
        return "slower"
    if base_s - current_s > min_delta_s and base_s > current_s * (1 + threshold):
        return "faster"
    return "same"


def latest_by_scenario(
    records: Sequence[Mapping[str, Any]], source: str | None = None
) -> dict[str, Mapping[str, Any]]:
    """The last record of each scenario (of `source` only, when given)."""
    latest: dict[str, Mapping[str, Any]] = {}
    for record in records:
        if source is None or record.get("source") == source:
            latest[str(record["scenario"])] = record
    return latest


def compare_histories(
    base: Sequence[Mapping[str, Any]],
    current: Sequence[Mapping[str, Any]],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    min_delta_s: float = DEFAULT_MIN_DELTA_S,
) -> list[Comparison]:
    """Each scenario's latest current record against the latest baseline record of the
    same scenario and source (rounds are compared with rounds, rehearsals with rehearsals)."""
    comparisons = []
    for scenario, record in latest_by_scenario(current).items():
        baseline = latest_by_scenario(base, str(record.get("source"))).get(scenario)
        comparisons.append(
            compare_records(baseline, record, threshold=threshold, min_delta_s=min_delta_s)
        )
    return comparisons


def split_latest(
    records: Sequence[Mapping[str, Any]],
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """(every record but each scenario's latest, the latest ones): one history file
    compared with itself, newest run against the ones before it."""
    latest = latest_by_scenario(records)
    newest = {id(record) for record in latest.values()}
    return [r for r in records if id(r) not in newest], list(latest.values())


def parse_threshold(text: str) -> float:
    """'25%' or '0.25' → 0.25. Raises ValueError for anything else."""
    raw = text.strip()
    value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    if value < 0:
        raise ValueError(f"threshold must not be negative: {text!r}")
    return value
