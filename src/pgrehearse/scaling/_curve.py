"""Rehearsals at several data sizes → one prediction per quantity at a target size. Pure."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pgrehearse.scaling._fit import Choice, Model, choose
from pgrehearse.scaling._parallel import index_build_workers
from pgrehearse.scaling._quantities import Quantity, QuantityKind, quantities_of


@dataclass(frozen=True)
class Target:
    """The size to predict at: a scale of the scenario's rows, or rows per table (tables
    not named keep their rows at scale 1)."""

    scale: float | None = 1.0
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def label(self) -> str:
        if self.rows:
            return "the given row counts"
        return f"{self.scale:g}×"

    def rows_of(self, measured: dict[str, int], measured_scale: float) -> dict[str, float]:
        """Rows per table at the target, from the rows seeded at `measured_scale`."""
        factor = (self.scale if not self.rows and self.scale else 1.0) / measured_scale
        out = {name: rows * factor for name, rows in measured.items()}
        out.update({name: float(rows) for name, rows in self.rows.items()})
        return out


@dataclass(frozen=True)
class Point:
    scale: float
    rows: float
    seconds: float


@dataclass(frozen=True)
class Prediction:
    key: str
    kind: QuantityKind
    label: str
    tables: list[str]
    points: list[Point]
    target_rows: float
    preferred: Model
    model: Model | None  # None: flagged, not extrapolated
    r2: float | None
    seconds: float | None
    low: float | None  # 95% interval
    high: float | None
    flag: str | None
    note: str | None
    blocks: bool = False
    fitted: tuple[float, float] | None = None  # intercept, slope of the chosen model

    @property
    def measured(self) -> float:
        """The value at the largest scale rehearsed."""
        return max(self.points, key=lambda p: p.scale).seconds

    def fit_text(self, scales: Sequence[float]) -> str:
        fitted_on = "/".join(f"{s:g}" for s in scales)
        if self.model is None:
            return f"not extrapolated: {self.flag}"
        quality = f", R² {self.r2:.2f}" if self.r2 is not None else ""
        return f"{self.model} fit from {fitted_on}{quality}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "label": self.label,
            "tables": self.tables,
            "points": [
                {"scale": p.scale, "rows": round(p.rows), "seconds": round(p.seconds, 6)}
                for p in self.points
            ],
            "target_rows": round(self.target_rows),
            "preferred_model": self.preferred,
            "model": self.model,
            "r2": None if self.r2 is None else round(self.r2, 4),
            "measured_s": round(self.measured, 6),
            "predicted_s": _rounded(self.seconds),
            "low_s": _rounded(self.low),
            "high_s": _rounded(self.high),
            "flag": self.flag,
            "note": self.note,
            "blocks": self.blocks,
            "fitted": list(self.fitted) if self.fitted else None,
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


@dataclass(frozen=True)
class ScaleCurve:
    scales: list[float]
    target: Target
    predictions: list[Prediction]

    def find(self, key: str) -> Prediction | None:
        return next((p for p in self.predictions if p.key == key), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scales": self.scales,
            "target": {
                "label": self.target.label,
                "scale": self.target.scale,
                **({"rows": self.target.rows} if self.target.rows else {}),
            },
            "predictions": [p.to_dict() for p in self.predictions],
        }


def fit_curve(summaries: Sequence[tuple[float, dict[str, Any]]], target: Target) -> ScaleCurve:
    """Fit every quantity measured at the largest scale against the rows of its tables."""
    ordered = sorted(summaries, key=lambda item: item[0])
    scales = [scale for scale, _ in ordered]
    largest_scale, largest = ordered[-1]
    measured = [
        (scale, _rows_per_table(summary), {q.key: q for q in quantities_of(summary)})
        for scale, summary in ordered
    ]
    target_rows = target.rows_of(_rows_per_table(largest), largest_scale)
    predictions = []
    for quantity in quantities_of(largest):
        points = [
            Point(scale, _rows(quantity, rows), found[quantity.key].seconds)
            for scale, rows, found in measured
            if quantity.key in found
        ]
        prediction = _predict(quantity, points, _rows(quantity, target_rows))
        if quantity.kind == "statement" and quantity.preferred == "nlogn" and points:
            prediction = _parallel_note(prediction, largest, points[-1].rows)
        predictions.append(prediction)
    return ScaleCurve(scales, target, predictions)


def _parallel_note(prediction: Prediction, largest: dict[str, Any], rows: float) -> Prediction:
    """An index build that ran alone at the largest scale but would get workers at the
    target says so: the prediction then overstates the time, by how much depends on cores."""
    sizes = {r["name"]: r["bytes"] for r in largest.get("relations", []) if r["kind"] == "table"}
    measured_bytes = max((sizes.get(t, 0) for t in prediction.tables), default=0)
    if not measured_bytes or rows <= 0:
        return prediction
    settings = (largest.get("settings") or {}).get("rehearsal") or {}
    now = index_build_workers(measured_bytes, settings)
    then = index_build_workers(measured_bytes * prediction.target_rows / rows, settings)
    if then <= now:
        return prediction
    note = (
        f"at the target the build gets {then} parallel worker(s), at the largest scale {now}: "
        "expect it faster than predicted where the server has the cores"
    )
    return dataclasses.replace(
        prediction, note=f"{prediction.note}; {note}" if prediction.note else note
    )


def _rows_per_table(summary: dict[str, Any]) -> dict[str, int]:
    return {t["name"]: int(t["rows"]) for t in summary.get("tables", [])}


def _rows(quantity: Quantity, rows: dict[str, Any]) -> float:
    return float(sum(rows.get(t, 0) for t in quantity.tables))


def _predict(quantity: Quantity, points: list[Point], target_rows: float) -> Prediction:
    choice = (
        choose([p.rows for p in points], [p.seconds for p in points], quantity.preferred)
        if all(p.rows > 0 for p in points)
        else Choice(None, "no seeded table is involved, so its size cannot be varied")
    )
    chosen = choice.fit
    value = low = high = None
    if chosen is not None:
        value = max(chosen.predict(target_rows), 0.0)
        interval = chosen.interval(target_rows)
        if interval is not None:
            low, high = interval
    return Prediction(
        key=quantity.key,
        kind=quantity.kind,
        label=quantity.label,
        tables=sorted(quantity.tables),
        points=points,
        target_rows=target_rows,
        preferred=quantity.preferred,
        model=chosen.model if chosen else None,
        r2=chosen.r2 if chosen else None,
        seconds=value,
        low=low,
        high=high,
        flag=choice.flag,
        note=choice.note,
        blocks=quantity.blocks,
        fitted=(chosen.intercept, chosen.slope) if chosen else None,
    )
