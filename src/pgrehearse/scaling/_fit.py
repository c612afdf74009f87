"""Measured values against data size: fit a growth model, extrapolate with an interval.

Pure numpy, no I/O. The noise of a timing grows with the timing, so fits are weighted by
1/y²: they minimise relative, not absolute, residuals, and the interval is relative too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Model = Literal["constant", "linear", "nlogn"]
MODELS: tuple[Model, ...] = ("constant", "linear", "nlogn")

# below this, a timing is scheduling noise, not work that grows with rows
NOISE_FLOOR_S = 0.002
# a model whose weighted R² is below this does not describe the points
MIN_R2 = 0.9
# the fitted value at the most rows must exceed the one at the fewest by this factor
# before a statement is said to grow with rows
MIN_GROWTH = 1.3
# the other growth model replaces the kind's own when its residuals are this much smaller
_CLEARLY_BETTER = 0.7

# two-sided 95% Student t quantiles for 1..30 degrees of freedom
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t_quantile(dof: int) -> float:
    return _T975[dof - 1] if dof <= len(_T975) else 1.96


@dataclass(frozen=True)
class Fit:
    """One model fitted to (rows, seconds) points."""

    model: Model
    intercept: float
    slope: float  # per row (linear) or per row·ln(row) (nlogn); 0 for constant
    r2: float | None  # weighted; None for the constant model
    sigma: float  # relative residual standard error
    dof: int
    inverse_gram: tuple[tuple[float, ...], ...]  # (XᵀWX)⁻¹, for the interval

    def predict(self, rows: float) -> float:
        return self.intercept + self.slope * _feature(self.model, rows)

    def interval(self, rows: float) -> tuple[float, float] | None:
        """95% prediction interval of one new measurement at `rows`; None without spare
        degrees of freedom."""
        if self.dof < 1:
            return None
        value = self.predict(rows)
        x0 = np.array(_row(self.model, rows))
        gram = np.array(self.inverse_gram)
        variance = self.sigma**2 * (float(x0 @ gram @ x0) + value**2)
        half = t_quantile(self.dof) * math.sqrt(max(variance, 0.0))
        return max(value - half, 0.0), value + half


def _feature(model: Model, rows: float) -> float:
    if model == "constant":
        return 0.0
    if model == "linear":
        return rows
    return rows * math.log(max(rows, 2.0))


def _row(model: Model, rows: float) -> list[float]:
    return [1.0] if model == "constant" else [1.0, _feature(model, rows)]


def fit(model: Model, rows: Sequence[float], values: Sequence[float]) -> Fit:
    """Weighted least squares of `values` (seconds) on `rows` under `model`."""
    y = np.asarray(values, dtype=float)
    design = np.array([_row(model, r) for r in rows])
    weights = 1.0 / np.maximum(y, NOISE_FLOOR_S / 10) ** 2
    root = np.sqrt(weights)
    gram = design.T @ (design * weights[:, None])
    beta, *_ = np.linalg.lstsq(design * root[:, None], y * root, rcond=None)
    residuals = y - design @ beta
    dof = len(y) - design.shape[1]
    sse = float(np.sum(weights * residuals**2))
    sigma = math.sqrt(sse / dof) if dof > 0 else 0.0
    r2: float | None = None
    if model != "constant":
        mean = float(np.sum(weights * y) / np.sum(weights))
        sst = float(np.sum(weights * (y - mean) ** 2))
        r2 = 1.0 - sse / sst if sst > 0 else 0.0
    inverse = np.linalg.pinv(gram)
    return Fit(
        model=model,
        intercept=float(beta[0]),
        slope=float(beta[1]) if len(beta) > 1 else 0.0,
        r2=r2,
        sigma=sigma,
        dof=dof,
        inverse_gram=tuple(tuple(float(v) for v in line) for line in inverse),
    )


@dataclass(frozen=True)
class Choice:
    """The model chosen for a quantity, or why none was (`fit` None, `flag` set)."""

    fit: Fit | None
    flag: str | None = None
    note: str | None = None


def choose(rows: Sequence[float], values: Sequence[float], preferred: Model) -> Choice:
    """Pick the model for these points.

    Values that do not grow with rows (below the noise floor, or rising less than
    `MIN_GROWTH` times over the measured range) are a constant. Values that grow take
    the model the statement's kind implies (`preferred`) if it fits, unless the other
    growth model fits clearly better (residuals under `_CLEARLY_BETTER` of its own: a
    backfill whose cost per row rises with size is n·log n-like, an index build that
    sorts in memory nearly linear); otherwise nothing, and the quantity is flagged rather
    than extrapolated, unless its kind changes only the catalog: then a trendless spread is
    noise, and the constant stands.
    """
    if len(set(rows)) < 3:
        return Choice(None, "fewer than 3 data sizes: a model cannot be told from noise")
    low, high = min(rows), max(rows)
    linear = fit("linear", rows, values)
    grows = (
        max(values) >= NOISE_FLOOR_S
        and linear.slope > 0
        and linear.predict(high) >= MIN_GROWTH * max(linear.predict(low), NOISE_FLOOR_S / 10)
    )
    if not grows:
        return Choice(fit("constant", rows, values))
    nlogn = fit("nlogn", rows, values)
    fitting = {f.model: f for f in (linear, nlogn) if f.slope > 0 and (f.r2 or 0.0) >= MIN_R2}
    if fitting:
        best = min(fitting.values(), key=lambda f: f.sigma)
        kept = fitting.get(preferred)
        if preferred == "constant":
            return Choice(
                best, note="grew with rows although this kind of statement changes only the catalog"
            )
        if kept is None or best.sigma < _CLEARLY_BETTER * kept.sigma:
            note = None if kept is None else f"fits better than {preferred}, this kind's model"
            return Choice(best, note=note)
        return Choice(kept)
    if preferred == "constant":  # a catalog-only statement whose times vary without a trend
        return Choice(
            fit("constant", rows, values), note="varied between sizes without a trend: noise"
        )
    best = max((linear, nlogn), key=lambda f: f.r2 or 0.0)
    return Choice(
        None,
        f"the points fit no model (best: {best.model}, R² {best.r2 or 0.0:.2f} < {MIN_R2})",
    )
