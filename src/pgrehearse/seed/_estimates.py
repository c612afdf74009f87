"""The distinct count ANALYZE would estimate for a table the empirical generators make.

pg_stats holds ANALYZE's estimate of a column's distinct values, not the truth; a clone
must be made so that its own ANALYZE estimates the same (see `steps_behind_estimate`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def steps_behind_estimate(
    estimate: int,
    common: FloatArray,
    rest_mass: float,
    rows: int,
    value_ids: Callable[[IntArray, int], IntArray] | None = None,
    sample: int = 30_000,
) -> int:
    """How many evenly used rest steps a table of `rows` non-NULL rows needs so that
    ANALYZE estimates `estimate` distinct values in all, the common values (with their
    shares `common`) included. `value_ids(steps, count)` says which value each of `count`
    steps becomes once rounded (default: each its own).

    ANALYZE counts the distinct values `d` of a sample of `n` rows, `f1` of them seen once,
    and estimates n·d / (n - f1 + f1·n/N) (Haas and Stokes), which falls well short of
    the truth when many values are rare. pg_stats holds that estimate, so taking it as the
    true count would make the clone's estimate short again: the sample is simulated
    instead, and the count found whose estimate is production's.
    """
    known = len(common)
    ids = value_ids or (lambda steps, _count: steps)
    if rest_mass <= 0 or rows <= 0:
        return max(1, estimate - known)

    def estimated(steps: int) -> float:
        if rows <= sample:  # ANALYZE reads every row, and every step has one
            return float(len(np.unique(ids(np.arange(steps, dtype=np.int64), steps))) + known)
        rng = np.random.default_rng(steps)
        if rows <= 20 * sample:  # a large share of the rows: sample them without replacement
            return _sampled_table_estimate(steps, common, rest_mass, rows, ids, sample, rng)
        u = rng.random(sample)
        rest = u >= 1.0 - rest_mass
        drawn = np.empty(sample, dtype=np.int64)
        drawn[~rest] = np.searchsorted(np.cumsum(common), u[~rest], side="right")
        values = ids(rng.integers(0, steps, int(rest.sum())), steps)
        drawn[rest] = known + np.unique(values, return_inverse=True)[1]
        return analyze_estimate(drawn, rows)

    low, high = 1, max(1, rows - known)
    if estimated(high) < estimate:
        return high
    while high - low > max(1, high // 200):  # 0.5% is finer than ANALYZE's own noise
        middle = (low + high) // 2
        if estimated(middle) < estimate:
            low = middle + 1
        else:
            high = middle
    return low


def _sampled_table_estimate(
    steps: int,
    common: FloatArray,
    rest_mass: float,
    rows: int,
    ids: Callable[[IntArray, int], IntArray],
    sample: int,
    rng: np.random.Generator,
) -> float:
    """ANALYZE's estimate from a sample without replacement of the table the generator
    makes: each common value its share of the rows, each step an even part of the rest."""
    rest_rows = round(rows * rest_mass)
    per_step = np.diff(np.floor(np.linspace(0, rest_rows, steps + 1))).astype(np.int64)
    table = np.concatenate((np.rint(common * rows).astype(np.int64), per_step))
    drawn = rng.multivariate_hypergeometric(
        table, min(sample, int(table.sum())), method="marginals"
    )
    value_of_step = np.unique(ids(np.arange(steps, dtype=np.int64), steps), return_inverse=True)[1]
    per_value = np.bincount(value_of_step, weights=drawn[len(common) :]).astype(np.int64)
    counts = np.concatenate((drawn[: len(common)], per_value))
    counts = counts[counts > 0]
    return _haas_stokes(counts, int(drawn.sum()), rows)


def analyze_estimate(sample: npt.NDArray[np.int64], rows: int) -> float:
    """The distinct count ANALYZE would estimate from these sampled (non-NULL) values of a
    table of `rows` non-NULL rows: the Haas-Stokes estimator of compute_scalar_stats."""
    return _haas_stokes(np.unique(sample, return_counts=True)[1], len(sample), rows)


def _haas_stokes(counts: npt.NDArray[np.int64], n: int, rows: int) -> float:
    d, f1 = len(counts), int((counts == 1).sum())
    if f1 == 0 or n >= rows:
        return float(d)
    if f1 == d:
        return float(rows)
    value = n * d / (n - f1 + f1 * n / rows)
    return float(min(max(value, d), rows))


__all__ = ["analyze_estimate", "steps_behind_estimate"]
