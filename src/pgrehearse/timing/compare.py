"""Regression check: is a phase or statement slower than in the baseline?

Each side's figure is the median over its rounds of the time spent executing: time spent
waiting for locks (behind the application's load, say) is recorded apart, and reported on
its own line, not compared. A change counts as a regression only when it is

- statistically sound: with several rounds on each side, the 95 % bootstrap interval of the
  ratio of medians (current / baseline) lies wholly above 1 (below 1 for "faster");
- relatively large: the ratio exceeds 1 + `threshold` (e.g. 0.25 = 25 % slower);
- absolutely large: by more than `min_delta_s`, so sub-millisecond statements do not fail
  on scheduler noise.

With one round on either side there is no interval, and the last two rules decide.
"""

from __future__ import annotations

import statistics
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

ChangeStatus = Literal["slower", "faster", "same", "new", "gone"]
DEFAULT_THRESHOLD = 0.25
DEFAULT_MIN_DELTA_S = 0.05
_RESAMPLES = 4000
_LEVEL = 0.95


@dataclass(frozen=True)
class TimingChange:
    item: str  # "phase up" or "statement up: ALTER TABLE ..."
    base_s: float | None  # median execution time over the rounds
    current_s: float | None
    status: ChangeStatus
    interval: tuple[float, float] | None = None  # 95 % bootstrap interval of the ratio
    rounds: tuple[int, int] = (0, 0)  # (baseline, current)
    base_wait_s: float | None = None  # median time waiting for locks (not compared)
    current_wait_s: float | None = None

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
            "interval": None if self.interval is None else [round(v, 3) for v in self.interval],
            "rounds": list(self.rounds),
            "base_wait_s": self.base_wait_s,
            "current_wait_s": self.current_wait_s,
            "status": self.status,
        }

    def explain(self, threshold: float) -> str:
        """`phase up: 0.132 s vs baseline 0.065 s (×2.03, 95 % interval 1.85–2.21, over
        5 and 5 rounds; limit +25%)`, and the lock waits on a line of their own."""
        ratio = self.ratio or 0.0
        text = (
            f"{self.item}: {self.current_s:.3f} s vs baseline {self.base_s:.3f} s ({ratio - 1:+.0%}"
        )
        if self.interval is not None:
            low, high = self.interval
            text += (
                f", ×{ratio:.2f}, 95% interval ×{low:.2f}–×{high:.2f} over "
                f"{self.rounds[0]} and {self.rounds[1]} rounds"
            )
        text += f", limit +{threshold:.0%})"
        if self.base_wait_s or self.current_wait_s:
            text += (
                f"\n  waited for locks (not compared): {self.current_wait_s or 0:.3f} s vs "
                f"baseline {self.base_wait_s or 0:.3f} s"
            )
        return text


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
        return "\n".join(c.explain(self.threshold) for c in self.regressions)


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
    before, after = round_values(base), round_values(current)
    waits_before, waits_after = round_waits(base), round_waits(current)
    for item in [*before, *(i for i in after if i not in before)]:
        comparison.changes.append(
            judge(
                item,
                before.get(item),
                after.get(item),
                threshold,
                min_delta_s,
                waits=(waits_before.get(item), waits_after.get(item)),
            )
        )
    return comparison


def round_values(record: Mapping[str, Any]) -> dict[str, list[float]]:
    """Per item (`phase up`, `statement up: …`), its execution time in each round."""
    return _per_item(record, "phases", "statements")


def round_waits(record: Mapping[str, Any]) -> dict[str, list[float]]:
    """Per item, its time waiting for locks in each round (absent in older records)."""
    return _per_item(record, "phase_waits", "statement_waits")


def _per_item(record: Mapping[str, Any], phases: str, statements: str) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {}
    for round_ in record["rounds"]:
        for name, seconds in round_.get(phases, {}).items():
            samples.setdefault(f"phase {name}", []).append(float(seconds))
        for key, seconds in round_.get(statements, {}).items():
            samples.setdefault(f"statement {key}", []).append(float(seconds))
    return samples


def judge(
    item: str,
    base: Sequence[float] | None,
    current: Sequence[float] | None,
    threshold: float,
    min_delta_s: float,
    *,
    waits: tuple[Sequence[float] | None, Sequence[float] | None] = (None, None),
) -> TimingChange:
    """One item's verdict over its rounds (see the module's rules)."""
    base_wait, current_wait = (statistics.median(w) if w else None for w in waits)
    if not base:
        return TimingChange(item, None, _median(current), "new", current_wait_s=current_wait)
    if not current:
        return TimingChange(item, _median(base), None, "gone", base_wait_s=base_wait)
    base_s, current_s = statistics.median(base), statistics.median(current)
    interval = None
    if len(base) >= 2 and len(current) >= 2:
        interval = ratio_interval(base, current, seed=zlib.crc32(item.encode()))
    status: ChangeStatus = "same"
    if (
        current_s - base_s > min_delta_s
        and current_s > base_s * (1 + threshold)
        and (interval is None or interval[0] > 1)
    ):
        status = "slower"
    elif (
        base_s - current_s > min_delta_s
        and base_s > current_s * (1 + threshold)
        and (interval is None or interval[1] < 1)
    ):
        status = "faster"
    return TimingChange(
        item,
        base_s,
        current_s,
        status,
        interval,
        (len(base), len(current)),
        base_wait,
        current_wait,
    )


def ratio_interval(
    base: Sequence[float], current: Sequence[float], *, seed: int = 0
) -> tuple[float, float]:
    """The 95 % percentile-bootstrap interval of median(current) / median(base)."""
    rng = np.random.default_rng(seed)
    before = np.asarray(base, dtype=float)
    after = np.asarray(current, dtype=float)
    resampled_before = np.median(
        before[rng.integers(0, len(before), (_RESAMPLES, len(before)))], axis=1
    )
    resampled_after = np.median(
        after[rng.integers(0, len(after), (_RESAMPLES, len(after)))], axis=1
    )
    ratios = resampled_after / np.maximum(resampled_before, 1e-9)
    tail = (1 - _LEVEL) / 2
    low, high = np.quantile(ratios, [tail, 1 - tail])
    return float(low), float(high)


def _median(values: Sequence[float] | None) -> float | None:
    return statistics.median(values) if values else None


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
