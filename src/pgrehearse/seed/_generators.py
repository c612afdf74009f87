"""Column generators: scenario column specs turned into COPY-text values, in bulk with numpy.

Every generator returns a list of strings already escaped for COPY's text format, with
`\\N` for NULL, so a chunk of rows is a few `str.join` calls away from the wire.
"""

from __future__ import annotations

import datetime as dt
import json
import zlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from pgrehearse.scenario import (
    BetweenColumn,
    ChoiceColumn,
    ColumnSpec,
    ConstantColumn,
    FakerColumn,
    IntColumn,
    RefColumn,
)

NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})

Generate = Callable[[int, int, np.random.Generator], list[str]]
"""(first_row_number, count, rng) -> COPY-text values of rows first..first+count-1."""


def copy_text(value: Any) -> str:
    """One Python value as a COPY text-format field."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str).translate(_ESCAPES)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value).translate(_ESCAPES)


def column_rng(seed: int, table: str, column: str) -> np.random.Generator:
    """A generator of its own per column: adding a column never changes another's values."""
    return np.random.default_rng([seed, zlib.crc32(f"{table}.{column}".encode())])


def build_generator(
    spec: ColumnSpec,
    *,
    seed: int,
    table: str,
    column: str,
    ref_keys: Mapping[str, npt.NDArray[Any]],
) -> Generate:
    """The generate function of one column, nulls applied."""
    base = _base_generator(spec, seed=seed, table=table, column=column, ref_keys=ref_keys)
    if spec.null_fraction <= 0:
        return base
    fraction = spec.null_fraction

    def with_nulls(first: int, count: int, rng: np.random.Generator) -> list[str]:
        values = base(first, count, rng)
        for index in np.flatnonzero(rng.random(count) < fraction).tolist():
            values[index] = NULL
        return values

    return with_nulls


def _base_generator(
    spec: ColumnSpec,
    *,
    seed: int,
    table: str,
    column: str,
    ref_keys: Mapping[str, npt.NDArray[Any]],
) -> Generate:
    if isinstance(spec, IntColumn):
        low, high = spec.int_range
        return lambda _first, count, rng: rng.integers(low, high + 1, count).astype(str).tolist()
    if isinstance(spec, ChoiceColumn):
        return _choice(spec)
    if isinstance(spec, ConstantColumn):
        text = copy_text(spec.value)
        return lambda _first, count, _rng: [text] * count
    if isinstance(spec, BetweenColumn):
        return _between(spec)
    if isinstance(spec, FakerColumn):
        return _faker(spec, seed=seed, table=table, column=column)
    if isinstance(spec, RefColumn):
        keys = ref_keys[spec.ref]
        if len(keys) == 0:
            raise ValueError(f"{table}.{column} refers to {spec.ref}, which has no rows")
        key_text = np.array([copy_text(k) for k in keys.tolist()], dtype=object)
        return lambda _first, count, rng: key_text[rng.integers(0, len(key_text), count)].tolist()
    raise TypeError(f"no generator for {type(spec).__name__}")


def _choice(spec: ChoiceColumn) -> Generate:
    if isinstance(spec.choice, dict):
        values = [copy_text(v) for v in spec.choice]
        weights = np.array(list(spec.choice.values()), dtype=float)
    else:
        values = [copy_text(v) for v in spec.choice]
        weights = np.ones(len(values))
    cumulative = np.cumsum(weights / weights.sum())
    cumulative[-1] = 1.0
    table = np.array(values, dtype=object)

    def generate(_first: int, count: int, rng: np.random.Generator) -> list[str]:
        return list(table[np.searchsorted(cumulative, rng.random(count), side="right")])

    return generate


def _between(spec: BetweenColumn) -> Generate:
    low_value, high_value = spec.between
    dates_only = not isinstance(low_value, dt.datetime) and not isinstance(high_value, dt.datetime)
    low = _epoch_seconds(low_value)
    high = _epoch_seconds(high_value)
    if dates_only:
        low_day, high_day = low // 86_400, high // 86_400

        def days(_first: int, count: int, rng: np.random.Generator) -> list[str]:
            picked = rng.integers(low_day, high_day + 1, count).astype("datetime64[D]")
            return list(np.datetime_as_string(picked))

        return days

    def timestamps(_first: int, count: int, rng: np.random.Generator) -> list[str]:
        picked = rng.integers(low, high + 1, count).astype("datetime64[s]")
        return [text + "+00" for text in np.datetime_as_string(picked).tolist()]

    return timestamps


def _epoch_seconds(value: dt.date | dt.datetime) -> int:
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return int(aware.timestamp())
    return int(dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC).timestamp())


def _faker(spec: FakerColumn, *, seed: int, table: str, column: str) -> Generate:
    pool = faker_pool(spec, seed=seed, table=table, column=column)
    if spec.unique:
        return _unique_from_pool(pool)
    return lambda _first, count, rng: pool[rng.integers(0, len(pool), count)].tolist()


def faker_pool(spec: FakerColumn, *, seed: int, table: str, column: str) -> npt.NDArray[Any]:
    """Build `spec.pool` Faker values once; rows then sample this pool with numpy."""
    from faker import Faker

    fake = Faker(spec.locale) if spec.locale else Faker()
    fake.seed_instance(zlib.crc32(f"{seed}:{table}.{column}".encode()))
    provider = getattr(fake, spec.faker, None)
    if provider is None or not callable(provider):
        raise ValueError(f"Faker has no provider named {spec.faker!r}")
    values = [copy_text(provider(**spec.args)) for _ in range(spec.pool)]
    return np.array(values, dtype=object)


def _unique_from_pool(pool: npt.NDArray[Any]) -> Generate:
    """Unique by construction: the row number is woven into a pool value."""

    def generate(first: int, count: int, _rng: np.random.Generator) -> list[str]:
        rows = range(first, first + count)
        return [_with_number(pool[row % len(pool)], row) for row in rows]

    return generate


def _with_number(value: str, number: int) -> str:
    local, at, domain = value.partition("@")
    if at:
        return f"{local}.{number}@{domain}"
    return f"{value}-{number}"
