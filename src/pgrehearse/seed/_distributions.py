"""Sampling numbers from the scenario's distributions, in bulk, within bounds."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
_ZIPF_TABLE_LIMIT = 1 << 20


def sample(
    distribution: str,
    low: float,
    high: float,
    count: int,
    rng: np.random.Generator,
    *,
    mean: float | None = None,
    stddev: float | None = None,
    median: float | None = None,
    sigma: float = 1.0,
    skew: float = 1.1,
    integers: bool = False,
) -> FloatArray:
    """`count` values in [low, high] following `distribution` (clamped to the bounds)."""
    span = high - low
    if distribution == "uniform":
        if integers:
            return rng.integers(int(low), int(high) + 1, count).astype(np.float64)
        return rng.uniform(low, high, count) if span > 0 else np.full(count, low)
    if distribution == "normal":
        centre = (low + high) / 2 if mean is None else mean
        spread = (span / 6 if span > 0 else 1.0) if stddev is None else stddev
        values = rng.normal(centre, spread, count)
    elif distribution == "lognormal":
        middle = low + span / 10 if median is None else median
        scale = max(middle - low, 1e-9)
        values = low + scale * np.exp(sigma * rng.standard_normal(count))
    elif distribution == "zipf":
        ranks = zipf_ranks(int(span) + 1 if integers else max(int(span), 1), skew, count, rng)
        values = low + ranks.astype(np.float64)
    else:
        raise ValueError(f"unknown distribution {distribution!r}")
    if integers:
        values = np.rint(values)
    return np.clip(values, low, high)


def zipf_ranks(size: int, skew: float, count: int, rng: np.random.Generator) -> IntArray:
    """Ranks 0..size-1 where rank k is drawn with probability ∝ 1 / (k + 1) ** skew."""
    if size <= 1:
        return np.zeros(count, dtype=np.int64)
    if size <= _ZIPF_TABLE_LIMIT:
        cumulative = _zipf_cdf(size, round(skew, 6))
        ranks: IntArray = np.searchsorted(cumulative, rng.random(count), side="right")
        return np.minimum(ranks, size - 1).astype(np.int64)
    # continuous approximation of the bounded power law, by inverting its CDF
    u = rng.random(count)
    if math.isclose(skew, 1.0):
        x = np.power(float(size), u)
    else:
        exponent = 1.0 - skew
        x = np.power((size**exponent - 1.0) * u + 1.0, 1.0 / exponent)
    return np.clip(np.floor(x).astype(np.int64) - 1, 0, size - 1)


@lru_cache(maxsize=16)
def _zipf_cdf(size: int, skew: float) -> FloatArray:
    weights = 1.0 / np.power(np.arange(1, size + 1, dtype=np.float64), skew)
    cumulative = np.cumsum(weights)
    cumulative /= cumulative[-1]
    return cumulative


def unique_offsets(first: int, count: int, span: int, salt: int) -> IntArray:
    """Distinct values in [0, span) for rows first..first+count-1 (a scrambled bijection).

    Row i maps to (i * stride + offset) mod span with stride coprime to span, so any
    `span` consecutive rows get distinct values, in an order that looks random.
    """
    stride = _coprime_stride(span, salt)
    rows = np.arange(first, first + count, dtype=np.int64)
    offset = salt % span
    # keep the products within int64: reduce the row number first
    return (
        ((rows % span) * stride % span + offset) % span
        if span < (1 << 31)
        else ((rows + offset) % span)
    )


def _coprime_stride(span: int, salt: int) -> int:
    if span <= 2:
        return 1
    stride = int(span * 0.6180339887) | 1
    stride += salt % 97 * 2
    while math.gcd(stride, span) != 1:
        stride += 1
    return stride % span or 1
