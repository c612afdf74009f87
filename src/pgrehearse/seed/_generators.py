"""Column generators: scenario column specs turned into text values, in bulk with numpy.

A generator returns raw text values (no COPY escaping) for a block of rows; the row
assembler escapes the columns that may need it and applies `null_fraction`. Generators are
deterministic: values depend only on the seed, the table, the column and the row numbers.

This module is over 500 lines on purpose: it holds one small class per generator kind of
the scenario format, all built by `build_generator`; splitting them apart would scatter one
table of the README over several files.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import itertools
import json
import math
import multiprocessing
import os
import signal
import sys
import uuid
import weakref
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

# Imported here, not by numpy on first use: a worker forked while another thread of ours was
# importing numpy.random would wait forever on that import's lock (seen with streams).
from numpy.random import default_rng

from pgrehearse.paths import cache_root
from pgrehearse.scenario import (
    AfterColumn,
    ArrayColumn,
    BetweenColumn,
    BoolColumn,
    ChoiceColumn,
    ColumnSpec,
    ConstantColumn,
    EmpiricalColumn,
    FakerColumn,
    FloatColumn,
    IntColumn,
    JsonColumn,
    PatternColumn,
    RangeColumn,
    RefColumn,
    RefsByColumn,
    SequenceColumn,
    SqlColumn,
    TextColumn,
    UuidColumn,
    moment_seconds,
)
from pgrehearse.seed._binary import (
    HEADER,
    TRAILER,
    Block,
    Field,
    NumberKind,
    Numbers,
    binary_rows,
    encode_block,
    fixed_first,
    table_numbers,
)
from pgrehearse.seed._distributions import sample, unique_offsets, zipf_ranks
from pgrehearse.seed._format import (
    copy_escape,
    format_consecutive,
    format_dates,
    format_fixed,
    format_ints,
    format_times_of_day,
    format_timestamps,
    needs_copy_escape,
    numbered_uuids,
    random_uuids,
    uuid_texts,
)
from pgrehearse.seed._numbered import NumberedText
from pgrehearse.seed._routing import (
    KeyKind,
    LeafRouter,
    encode_routed,
    group_by_leaf,
    text_rows,
)

NULL = "\\N"
BLOCK_ROWS = 20_000  # rows per block: each column has its own random stream per block
JsonKind = Literal["number", "string", "bool", "json"]


class UnsatisfiableUnique(ValueError):
    """A unique generator asked for more distinct values than it can make."""


@dataclass(frozen=True)
class Combination:
    """One column's share of a composite unique key: row i takes combination number
    `unique_offsets(i)` of the `span` the key's columns make together, and this column
    its digit `(number // divisor) % size` of it. Distinct rows, distinct combinations."""

    salt: int
    span: int  # the product of the sizes of the key's columns
    divisor: int  # the product of the sizes of the columns before this one
    size: int  # how many values this column can take
    # (divisor, size) of a part this one never equals (`CHECK (follower_id <> followee_id)`):
    # this column takes one of the size + 1 values, skipping the other's
    apart: tuple[int, int] | None = None

    def digits(self, first: int, count: int) -> npt.NDArray[np.int64]:
        number = unique_offsets(first, count, self.span, self.salt)
        digit = (number // self.divisor) % self.size
        if self.apart is None:
            return digit
        other = (number // self.apart[0]) % self.apart[1]
        return (other + 1 + digit) % (self.size + 1)


@dataclass(frozen=True)
class GeneratorContext:
    seed: int
    table: str
    column: str
    rows: int  # rows of the table being seeded (after scale)
    ref_keys: Mapping[str, npt.NDArray[Any]] = field(default_factory=dict)
    faker_pools: Mapping[str, list[str]] = field(default_factory=dict)  # "table.column" -> pool
    combination: Combination | None = None  # part of a composite unique key

    @property
    def salt(self) -> int:
        return zlib.crc32(f"{self.seed}:{self.table}.{self.column}".encode())

    def child(self, suffix: str) -> GeneratorContext:
        return GeneratorContext(
            self.seed,
            self.table,
            f"{self.column}.{suffix}",
            self.rows,
            self.ref_keys,
            self.faker_pools,
        )

    @property
    def key(self) -> str:
        return f"{self.table}.{self.column}"


class Generator(ABC):
    """Makes the values of one column for a block of rows."""

    escape = False  # may produce characters COPY's text format must escape
    json_kind: JsonKind = "string"

    @abstractmethod
    def values(self, first: int, count: int, rng: np.random.Generator) -> list[str]:
        """Raw text of rows first..first+count-1 (0-based row numbers)."""

    def null_rows(self, first: int, count: int) -> npt.NDArray[np.bool_] | None:
        """Which rows are NULL, for a generator that places its NULLs itself; None leaves
        them to the column's `null_fraction`, drawn at random."""
        return None

    def number_kind(self) -> tuple[NumberKind, int] | None:
        """What `numbers` gives (kind, decimals), for a generator whose values are numbers
        (binary COPY takes them without text); None for text only."""
        return None

    def numbers(self, first: int, count: int, rng: np.random.Generator) -> Numbers:
        """The values `values` makes, as numbers, from the same draws of `rng`."""
        raise NotImplementedError(type(self).__name__)

    def leaves(self, first: int, count: int) -> npt.NDArray[np.int64] | None:
        """Each row's leaf partition, for a partition key that knows it (`_leaf_order`)."""
        return None

    def exact_keys(
        self, first: int, count: int, rng: np.random.Generator, kind: KeyKind
    ) -> npt.NDArray[np.int64] | None:
        """The values as numbers, for routing rows to partitions: moments (epoch seconds)
        or integers; None where this generator makes neither (see `Column.exact_keys`)."""
        if kind == "moments" and isinstance(self, _BetweenGenerator | _AfterGenerator):
            moments = self.moments(first, count, rng)
            return moments * 86_400 if self.dates_only else moments
        if kind == "moments" or self.number_kind() != ("int", 0):
            return None
        return np.asarray(self.numbers(first, count, rng).values, dtype=np.int64)

    def json_values(self, first: int, count: int, rng: np.random.Generator) -> list[str]:
        raw = self.values(first, count, rng)
        if self.json_kind == "string":
            return [json.dumps(value, ensure_ascii=False) for value in raw]
        if self.json_kind == "bool":
            return ["true" if value == "t" else "false" for value in raw]
        return raw


class Column:
    """A generator plus the column-level work: COPY escaping and NULLs."""

    def __init__(
        self,
        name: str,
        generator: Generator,
        null_fraction: float,
        binary: Field | None = None,
    ) -> None:
        self.name = name
        self.generator = generator
        self.null_fraction = null_fraction
        self.binary = binary  # its binary COPY form, where it has one

    def exact_keys(
        self, first: int, count: int, rng: np.random.Generator, kind: KeyKind
    ) -> npt.NDArray[np.int64] | None:
        """The values `render` gives for the same block and a fresh stream, as numbers,
        where no value is NULL and the generator makes `kind`: moments (as epoch seconds)
        or integers; else None. Routing then reads no text."""
        if self.null_fraction > 0 or self.generator.null_rows(first, count) is not None:
            return None
        return self.generator.exact_keys(first, count, rng, kind)

    def render(self, first: int, count: int, rng: np.random.Generator) -> list[str]:
        values = self.generator.values(first, count, rng)
        if self.generator.escape:
            values = copy_escape(values)
        nulls = self._nulls(first, count, rng)
        if nulls is not None:
            for index in np.flatnonzero(nulls).tolist():
                values[index] = NULL
        return values

    def render_binary(self, first: int, count: int, rng: np.random.Generator) -> Block:
        """The same values as `render`, as binary COPY fields (`binary` must be set)."""
        field = self.binary
        assert field is not None
        generator = self.generator
        if field.takes_numbers:
            block = field.encode(generator.numbers(first, count, rng), None, self.name)
        else:
            block = field.encode(None, generator.values(first, count, rng), self.name)
        nulls = self._nulls(first, count, rng)
        if nulls is not None and nulls.any():
            return field.with_nulls(block, nulls)
        return block

    def _nulls(
        self, first: int, count: int, rng: np.random.Generator
    ) -> npt.NDArray[np.bool_] | None:
        """Which rows are NULL, drawn after the values (so both renderings agree)."""
        placed = self.generator.null_rows(first, count)
        if placed is not None:
            return placed
        if self.null_fraction > 0:
            nulls: npt.NDArray[np.bool_] = rng.random(count) < self.null_fraction
            return nulls
        return None


def column_rng(seed: int, table: str, column: str, block: int) -> np.random.Generator:
    """The random source of one column in one block of rows: blocks can be made in any
    order, by any process, and still give the same data."""
    return default_rng([seed, zlib.crc32(f"{table}.{column}".encode()), block])


def python_text(value: Any) -> str:
    """A Python (YAML) value as PostgreSQL input text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


# --------------------------------------------------------------------------- generators


class _IntGenerator(Generator):
    json_kind = "number"

    def __init__(self, spec: IntColumn, context: GeneratorContext) -> None:
        self.spec = spec
        self.low, self.high = spec.int_range
        self.salt = context.salt
        span = self.high - self.low + 1
        if spec.unique and span < context.rows:
            raise UnsatisfiableUnique(
                f"unique integers in [{self.low}, {self.high}] cannot fill {context.rows:,} "
                "rows: widen the range"
            )

    def values(self, first: int, count: int, rng: np.random.Generator) -> list[str]:
        return format_ints(self.numbers(first, count, rng).values, self.low, self.high)

    def null_rows(self, first: int, count: int) -> npt.NDArray[np.bool_] | None:
        """An `earlier` reference's roots: the first row (no row is before it) and a
        `null_fraction` of the others, the same ones however the rows are cut in blocks."""
        if not self.spec.earlier or self.spec.null_fraction == 0:
            return None
        rows = np.arange(first, first + count, dtype=np.uint64)
        with np.errstate(over="ignore"):
            mixed = (rows + np.uint64(self.salt & 0xFFFFFFFF)) * np.uint64(0x9E3779B97F4A7C15)
        shares = (mixed >> np.uint64(11)).astype(np.float64) / float(1 << 53)
        roots: npt.NDArray[np.bool_] = (shares < self.spec.null_fraction) | (rows == 0)
        return roots

    def number_kind(self) -> tuple[NumberKind, int] | None:
        return ("int", 0)

    def numbers(self, first: int, count: int, rng: np.random.Generator) -> Numbers:
        if self.spec.earlier:  # row i: one of the i rows before it
            rows = np.arange(first, first + count, dtype=np.int64)
            picks = np.floor(rng.random(count) * rows).astype(np.int64)
            return Numbers("int", np.minimum(self.low + picks, self.high))
        if self.spec.unique:
            span = self.high - self.low + 1
            numbers = self.low + unique_offsets(first, count, span, self.salt)
        else:
            numbers = sample(
                self.spec.distribution,
                self.low,
                self.high,
                count,
                rng,
                mean=self.spec.mean,
                stddev=self.spec.stddev,
                median=self.spec.median,
                sigma=self.spec.sigma,
                skew=self.spec.skew,
                integers=True,
            ).astype(np.int64)
        return Numbers("int", numbers)


class _FloatGenerator(Generator):
    json_kind = "number"

    def __init__(self, spec: FloatColumn) -> None:
        self.spec = spec
        self.scale = 10**spec.decimals
        self.low_units = round(spec.float_range[0] * self.scale)
        self.high_units = round(spec.float_range[1] * self.scale)

    def values(self, first: int, count: int, rng: np.random.Generator) -> list[str]:
        units = self.numbers(first, count, rng).values
        return format_fixed(units, self.spec.decimals, self.low_units, self.high_units)

    def number_kind(self) -> tuple[NumberKind, int] | None:
        return ("units", self.spec.decimals)

    def numbers(self, first: int, count: int, rng: np.random.Generator) -> Numbers:
        low, high = self.spec.float_range
        numbers = sample(
            self.spec.distribution,
            low,
            high,
            count,
            rng,
            mean=self.spec.mean,
            stddev=self.spec.stddev,
            median=self.spec.median,
            sigma=self.spec.sigma,
            skew=self.spec.skew,
        )
        units = np.clip(
            np.rint(numbers * self.scale).astype(np.int64), self.low_units, self.high_units
        )
        return Numbers("units", units, self.spec.decimals)


class _SequenceGenerator(Generator):
    json_kind = "number"

    def __init__(self, spec: SequenceColumn, context: GeneratorContext) -> None:
        self.start, self.step = spec.sequence, spec.step
        self.last = self.start + self.step * max(context.rows - 1, 0)

    def values(self, first: int, count: int, rng: np.random.Generator) -> list[str]:
        begin = self.start + self.step * first
        if self.step == 1:
            return format_consecutive(begin, count)
        return list(map(str, range(begin, begin + self.step * count, self.step)))

    def number_kind(self) -> tuple[NumberKind, int] | None:
        return ("int", 0)

    def numbers(self, first: int, count: int, rng: np.random.Generator) -> Numbers:
        begin = self.start + self.step * first
        return Numbers("int", begin + self.step * np.arange(count, dtype=np.int64))


class _PoolGenerator(Generator):
    """Samples a fixed pool of strings (choices, Faker values)."""

    def __init__(
        self,
        pool: list[str],
        weights: npt.NDArray[np.float64] | None = None,
        *,
        unique: Literal["no", "permute", "number"] = "no",
        salt: int = 0,
        rows: int = 0,
        what: str = "values",
    ) -> None:
        self.pool = np.array(pool, dtype=object)
        self._json_pool: npt.NDArray[Any] | None = None
        self.escape = needs_copy_escape(pool)
        self.unique = unique
        self.salt = salt
        self.rows = rows
        self._numbered_text: NumberedText | None = None
        self.cumulative: npt.NDArray[np.float64] | None = None
        if weights is not None:
            cumulative = np.cumsum(weights / weights.sum())
            cumulative[-1] = 1.0
            self.cumulative = cumulative
        if unique == "permute" and len(pool) < rows:
            raise UnsatisfiableUnique(
                f"{len(pool):,} distinct {what} cannot fill {rows:,} unique rows"
            )

    def _indexes(self, first: int, count: int, rng: np.random.Generator) -> npt.NDArray[Any]:
        size = len(self.pool)
        if self.unique == "permute":
            return unique_offsets(first, count, size, self.salt)
        if self.cumulative is not None:
            return np.searchsorted(self.cumulative, rng.random(count), side="right")
        return rng.integers(0, size, count)

    def values(self, first: int, count: int, rng: np.random.Generator) -> list[str]:
        if self.unique == "number":
            if first + count <= self.rows:
                numbers = unique_offsets(first, count, self.rows, self.salt)
            else:  # more values than rows (an array's elements): numbered in order
                numbers = np.arange(first, first + count, dtype=np.int64)
            return self._numbered(first + count).values(numbers + 1)
        values: list[str] = self.pool[self._indexes(first, count, rng)].tolist()
        return values

    @functools.cached_property
    def _pool_numbers(self) -> Numbers | None:
        return None if self.unique == "number" else table_numbers(self.pool.tolist())

    def number_kind(self) -> tuple[NumberKind, int] | None:
        numbers = self._pool_numbers
        return None if numbers is None else (numbers.kind, 0)

    def numbers(self, first: int, count: int, rng: np.random.Generator) -> Numbers:
        table = self._pool_numbers
        assert table is not None
        return Numbers(table.kind, table.values[self._indexes(first, count, rng)])

    def _numbered(self, numbers: int) -> NumberedText:
        """Unique by construction: a number of its own woven into each row's pool value
        (`anna.17@example.org`, `Anna-17`); the numbers are the rows' scrambled, so the
        values that share a pool value (one group of numbers) are spread over the table.
        Made for numbers up to the table's rows, or twice `numbers` past them."""
        capacity = self.rows if numbers <= self.rows else 2 * numbers
        if self._numbered_text is None or self._numbered_text.count <= capacity:
            self._numbered_text = self._numbered_for(capacity + 1)
        return self._numbered_text

    def _numbered_for(self, count: int) -> NumberedText:
        starts, ends = [], []
        for value in self.pool.tolist():
            local, at, domain = value.partition("@")
            starts.append(local + "." if at else value + "-")
            ends.append("@" + domain if at else "")

        def head_of_group(groups: npt.NDArray[np.int64], unit: int) -> npt.NDArray[np.int64]:
            rng = np.random.default_rng([self.salt, len(groups)])
            if self.cumulative is not None:
                return np.searchsorted(self.cumulative, rng.random(len(groups)), side="right")
            return rng.integers(0, len(self.pool), len(groups))

        return NumberedText(
            np.array(starts, dtype=object),
            np.array(ends, dtype=object),
            count,
            head_of_group,
            padded=False,
        )

    def json_values(self, first: int, count: int, rng: np.random.Generator) -> list[str]:
        if self.unique == "number" or self.json_kind != "string":
            return super().json_values(first, count, rng)
        if self._json_pool is None:
            self._json_pool = np.array(
                [json.dumps(v, ensure_ascii=False) for v in self.pool.tolist()], dtype=object
            )
        quoted: list[str] = self._json_pool[self._indexes(first, count, rng)].tolist()
        return quoted


def _numbered(value: str, number: int, longest: int) -> str:
    """`value` made unique by its row's number, cut to stay within `longest` characters
    (the number in base 36 where even `-<number>` would not fit)."""
    suffix = f"-{number}"
    if len(suffix) > longest:
        suffix = np.base_repr(number, 36)
    return value[: max(0, longest - len(suffix))] + suffix


class _BoolGenerator(Generator):
    json_kind = "bool"
    _TEXT = np.array(["f", "t"], dtype=object)

    def __init__(self, spec: BoolColumn) -> None:
        self.probability = spec.bool_probability

    def values(self, first: int, count: int, rng: np.random.Generator) -> list[str]:
        picks: list[str] = self._TEXT[self.numbers(first, count, rng).values].tolist()
        return picks

    def number_kind(self) -> tuple[NumberKind, int] | None:
        return ("bool", 0)

    def numbers(self, first: int, count: int, rng: np.random.Generator) -> Numbers:
        return Numbers("bool", (rng.random(count) < self.probability).astype(np.int64))


class _ConstantGenerator(Generator):
    def __init__(self, spec: ConstantColumn) -> None:
        self.text = python_text(spec.value)
        self.escape = needs_copy_escape([self.text])
        self.json_kind = (
            "json"
            if isinstance(spec.value, dict | list)
            else (
                "number"
                if isinstance(spec.value, int | float) and not isinstance(spec.value, bool)
                else "bool"
                if isinstance(spec.value, bool)
                else "string"
            )
        )
        if isinstance(spec.value, bool):
            self.text = "t" if spec.value else "f"
        self.null = spec.value is None

    def values(self, first: int, count: int, rng: np.random.Generator) -> list[str]:
        return [self.text] * count

    def null_rows(self, first: int, count: int) -> npt.NDArray[np.bool_] | None:
        return np.ones(count, dtype=bool) if self.null else None


class _BetweenGenerator(Generator):
    def __init__(self, spec: BetweenColumn, context: GeneratorContext) -> None:
        self.spec = spec
        low_value, high_value = spec.between
        self.times_of_day = spec.times_of_day
        self.dates_only = not isinstance(low_value, dt.datetime | dt.time) and not isinstance(
            high_value, dt.datetime | dt.time
        )
        unit = 86_400 if self.dates_only else 1
        self.low = moment_seconds(low_value) // unit
        self.high = moment_seconds(high_value) // unit
        self.rows = context.rows
        self.salt = context.salt
        if spec.unique and self.high - self.low + 1 < context.rows:
            what = "days" if self.dates_only else "seconds"
            raise UnsatisfiableUnique(
                f"the bounds hold {self.high - self.low + 1:,} {what}, too few for "
                f"{context.rows:,} unique rows"
            )

    def values(self, first: int, count: int, rng: np.random.Generator) -> list[str]:
        return _moment_texts(self, self.moments(first, count, rng))

    def number_kind(self) -> tuple[NumberKind, int] | None:
        return _moment_kind(self)

    def numbers(self, first: int, count: int, rng: np.random.Generator) -> Numbers:
        return Numbers("days" if self.dates_only else "seconds", self.moments(first, count, rng))

    def moments(self, first: int, count: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
        """The values as days (dates) or seconds (timestamps) since the epoch, or seconds
        since midnight (times of day)."""
        span = self.high - self.low
        if self.spec.unique:
            picked = self.low + unique_offsets(first, count, span + 1, self.salt)
        elif self.spec.distribution == "increasing":
            rows = np.arange(first, first + count, dtype=np.float64)
            picked = self.low + np.floor(rows * span / max(self.rows - 1, 1)).astype(np.int64)
        else:
            picked = sample(
                self.spec.distribution, self.low, self.high, count, rng, integers=True
            ).astype(np.int64)
        return picked


class _AfterGenerator(Generator):
    """A date or timestamp a gap after another column's value in the same row. The other
    column's values are made again from its own random stream for the same block, so both
    agree without passing rows around (blocks are made in any order, by any process)."""

    def __init__(
        self,
        spec: AfterColumn,
        earlier: _BetweenGenerator | _AfterGenerator,
        context: GeneratorContext,
        dates_only: bool,
    ) -> None:
        self.earlier = earlier
        self.earlier_column = spec.after
        self.seed = context.seed
        self.table = context.table
        self.dates_only = dates_only
        unit = 86_400 if dates_only else 1
        self.min_gap = int(spec.min_gap // unit)
        self.max_gap = max(self.min_gap, int(spec.within // unit))
        self.unit_of_earlier = 86_400 if earlier.dates_only else 1
        self.times_of_day: bool = earlier.times_of_day

    def moments(self, first: int, count: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
        block = first // BLOCK_ROWS
        earlier_rng = column_rng(self.seed, self.table, self.earlier_column, block)
        base = self.earlier.moments(first, count, earlier_rng) * self.unit_of_earlier
        base = base // (86_400 if self.dates_only else 1)
        gaps = rng.integers(self.min_gap, self.max_gap + 1, count)
        if self.times_of_day:  # a day has no later second than 23:59:59
            later: npt.NDArray[np.int64] = np.minimum(base + gaps, _LAST_SECOND_OF_DAY)
            return later.astype(np.int64)
        return (base + gaps).astype(np.int64)

    def values(self, first: int, count: int, rng: np.random.Generator) -> list[str]:
        return _moment_texts(self, self.moments(first, count, rng))

    def number_kind(self) -> tuple[NumberKind, int] | None:
        return _moment_kind(self)

    def numbers(self, first: int, count: int, rng: np.random.Generator) -> Numbers:
        return Numbers("days" if self.dates_only else "seconds", self.moments(first, count, rng))


_LAST_SECOND_OF_DAY = 86_399


def _moment_texts(
    generator: _BetweenGenerator | _AfterGenerator, picked: npt.NDArray[np.int64]
) -> list[str]:
    if generator.times_of_day:
        return format_times_of_day(picked)
    return format_dates(picked) if generator.dates_only else format_timestamps(picked)


def _moment_kind(generator: _BetweenGenerator | _AfterGenerator) -> tuple[NumberKind, int] | None:
    if generator.times_of_day:  # not a moment COPY's binary format or a gap could use
        return None
    return ("days", 0) if generator.dates_only else ("seconds", 0)


class _NumberAfterGenerator(Generator):
    """A number at least (or above) another numeric column of the same row: its value plus a
    gap drawn uniformly from `[min_gap, within]`, in the column's own precision. The other
    column's values are made again from its own stream for the block, as for moments."""

    json_kind = "number"

    def __init__(
        self, spec: AfterColumn, earlier: Generator, context: GeneratorContext, decimals: int
    ) -> None:
        self.earlier = earlier
        self.earlier_column = spec.after
        self.seed = context.seed
        self.table = context.table
        self.decimals = decimals
        self.scale = 10**decimals
        self.min_gap = math.ceil(spec.min_gap * self.scale - 1e-9)
        self.max_gap = max(self.min_gap, math.floor(spec.within * self.scale + 1e-9))

    def units(self, first: int, count: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
        """This column's values in units of its last decimal place."""
        earlier_rng = column_rng(self.seed, self.table, self.earlier_column, first // BLOCK_ROWS)
        if isinstance(self.earlier, _NumberAfterGenerator):
            base = self.earlier.units(first, count, earlier_rng) / self.earlier.scale
        else:
            base = np.asarray(self.earlier.values(first, count, earlier_rng), dtype=np.float64)
        # the tolerance keeps a decimal string's float error from adding a whole unit
        base_units = np.ceil(base * self.scale - 1e-6).astype(np.int64)
        gaps = rng.integers(self.min_gap, self.max_gap + 1, count)
        units: npt.NDArray[np.int64] = (base_units + gaps).astype(np.int64)
        return units

    def number_kind(self) -> tuple[NumberKind, int] | None:
        return ("units", self.decimals)

    def numbers(self, first: int, count: int, rng: np.random.Generator) -> Numbers:
        return Numbers("units", self.units(first, count, rng), self.decimals)

    def values(self, first: int, count: int, rng: np.random.Generator) -> list[str]:
        units = self.units(first, count, rng).tolist()
        if self.decimals == 0:
            return list(map(str, units))
        return [f"{value / self.scale:.{self.decimals}f}" for value in units]


class _RefsByGenerator(Generator):
    """A key of the table the row's `by` column names (a polymorphic reference). The `by`
    column's values are made again from its own stream for the block, as `after` does, so
    both agree without passing rows around."""

    def __init__(self, spec: RefsByColumn, by: Generator, context: GeneratorContext) -> None:
        self.by = by
        self.by_column = spec.by
        self.seed = context.seed
        self.table = context.table
        self.keys = {
            value: context.ref_keys[ref]
            for value, ref in spec.refs.items()
            if ref in context.ref_keys and len(context.ref_keys[ref])
        }
        self.integer = bool(self.keys) and all(k.dtype == np.int64 for k in self.keys.values())

    def _named(self, first: int, count: int) -> npt.NDArray[Any]:
        rng = column_rng(self.seed, self.table, self.by_column, first // BLOCK_ROWS)
        return np.asarray(self.by.values(first, count, rng), dtype=object)

    def _picked(self, first: int, count: int, rng: np.random.Generator) -> npt.NDArray[Any]:
        named = self._named(first, count)
        picked = np.zeros(count, dtype=np.int64 if self.integer else object)
        for value, keys in self.keys.items():
            rows = np.flatnonzero(named == value)
            if len(rows):
                picked[rows] = keys[rng.integers(0, len(keys), len(rows))]
        return picked

    def null_rows(self, first: int, count: int) -> npt.NDArray[np.bool_] | None:
        return ~np.isin(self._named(first, count), list(self.keys))

    def values(self, first: int, count: int, rng: np.random.Generator) -> list[str]:
        return [str(key) for key in self._picked(first, count, rng).tolist()]

    def number_kind(self) -> tuple[NumberKind, int] | None:
        return ("int", 0) if self.integer else None

    def numbers(self, first: int, count: int, rng: np.random.Generator) -> Numbers:
        return Numbers("int", self._picked(first, count, rng).astype(np.int64))


def link_refs_by(
    generators: Mapping[str, Generator],
    specs: Mapping[str, ColumnSpec],
    context: GeneratorContext,
) -> dict[str, Generator]:
    """Generators of `refs` columns, linked to the generator of the column that names the
    table of each row's key; `generators` holds every other column's."""
    linked = dict(generators)
    for name, spec in specs.items():
        if not isinstance(spec, RefsByColumn):
            continue
        by = generators.get(spec.by)
        if by is None or spec.by == name:
            raise ValueError(
                f"{context.table}.{name}: `by` must name another column of the same table, "
                f"not {spec.by!r}"
            )
        linked[name] = _RefsByGenerator(spec, by, replace(context, column=name))
    return linked


class _PicksFromTable(Generator):
    """Each row one value of a table, chosen by `_index`: as text from `texts`, or as a
    number from `table_numbers` where the values are numbers (binary COPY)."""

    texts: npt.NDArray[Any]
    table_numbers: Numbers | None

    def _index(self, first: int, count: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
        raise NotImplementedError

    def values(self, first: int, count: int, rng: np.random.Generator) -> list[str]:
        picks: list[str] = self.texts[self._index(first, count, rng)].tolist()
        return picks

    def number_kind(self) -> tuple[NumberKind, int] | None:
        return None if self.table_numbers is None else (self.table_numbers.kind, 0)

    def numbers(self, first: int, count: int, rng: np.random.Generator) -> Numbers:
        table = self.table_numbers
        assert table is not None
        return Numbers(table.kind, table.values[self._index(first, count, rng)])


class _RowRefGenerator(_PicksFromTable):
    """One column of a composite foreign key: the value of a referenced row that the key's
    other columns take from the same row (they draw the row from one shared stream, or take
    it as their digit of a composite unique key that holds the whole foreign key)."""

    def __init__(
        self, values: npt.NDArray[Any], seed: int, group: str, combination: Combination | None
    ) -> None:
        self.texts = np.array(list(map(str, values.tolist())), dtype=object)
        self.table_numbers = _key_numbers(values)
        self.escape = needs_copy_escape(self.texts[:1000].tolist())
        self.seed = seed
        self.group = group
        self.combination = combination

    def _index(self, first: int, count: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
        if self.combination is not None:
            return self.combination.digits(first, count)
        shared = column_rng(self.seed, self.group, "rows", first // BLOCK_ROWS)
        return shared.integers(0, len(self.texts), count)


def row_ref_generators(
    table: str,
    columns: list[str],
    rows: Mapping[str, npt.NDArray[Any]],
    seed: int,
    combination: Combination | None = None,
) -> dict[str, Generator]:
    """Generators for the columns of one composite foreign key, given the referenced rows'
    values per column (all in the same row order)."""
    group = f"{table}({','.join(columns)})"
    return {column: _RowRefGenerator(rows[column], seed, group, combination) for column in columns}


_MOMENTS = (_BetweenGenerator, _AfterGenerator)
_NUMBERS = (_IntGenerator, _FloatGenerator, _NumberAfterGenerator)


def link_after(
    generators: Mapping[str, Generator],
    specs: Mapping[str, ColumnSpec],
    context: GeneratorContext,
    date_columns: set[str],
    number_decimals: Mapping[str, int] | None = None,
) -> dict[str, Generator]:
    """Generators of `after` columns, linked to the generator of the column each follows
    (in dependency order, so chains work); `generators` holds every other column's. A
    moment follows a moment; a number (its decimals in `number_decimals`) follows a number.
    """
    decimals = number_decimals or {}
    linked = dict(generators)
    pending = {name: spec for name, spec in specs.items() if isinstance(spec, AfterColumn)}
    while pending:
        ready = {
            name: spec
            for name, spec in pending.items()
            if isinstance(linked.get(spec.after), _NUMBERS if name in decimals else _MOMENTS)
        }
        if not ready:
            raise ValueError(
                "`after` must name a column of the same table of the same kind: a date or "
                "timestamp made by `between` or `after`, or a number made by `int`, `float` "
                "or `after`: " + ", ".join(f"{n} after {spec.after}" for n, spec in pending.items())
            )
        for name, spec in ready.items():
            earlier = linked[spec.after]
            own = replace(context, column=name)
            if name in decimals:
                linked[name] = _NumberAfterGenerator(spec, earlier, own, decimals[name])
            else:
                assert isinstance(earlier, _BetweenGenerator | _AfterGenerator)
                linked[name] = _AfterGenerator(spec, earlier, own, name in date_columns)
            del pending[name]
    return linked


_LOREM = [
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua",
    "enim",
    "ad",
    "minim",
    "veniam",
    "quis",
    "nostrud",
    "exercitation",
    "ullamco",
    "laboris",
    "nisi",
    "aliquip",
    "ex",
    "ea",
    "commodo",
    "consequat",
    "duis",
    "aute",
    "irure",
    "in",
    "reprehenderit",
    "voluptate",
    "velit",
    "esse",
    "cillum",
    "fugiat",
    "nulla",
    "pariatur",
    "excepteur",
    "sint",
    "occaecat",
    "cupidatat",
    "non",
    "proident",
    "sunt",
    "culpa",
    "qui",
    "officia",
    "deserunt",
    "mollit",
    "anim",
    "id",
    "est",
    "laborum",
]


class _TextGenerator(Generator):
    """Slices of a long random word stream: cheap, with the requested lengths."""

    def __init__(self, spec: TextColumn, context: GeneratorContext) -> None:
        self.spec = spec
        words_rng = np.random.default_rng(context.salt)
        needed = max(spec.text[1] * 2, 65_536)
        words: list[str] = []
        length = 0
        while length < needed:
            batch = np.array(_LOREM, dtype=object)[words_rng.integers(0, len(_LOREM), 4096)]
            words.extend(batch.tolist())
            length += sum(len(w) + 1 for w in batch.tolist())
        self.corpus = " ".join(words)
        starts = np.flatnonzero(np.frombuffer(self.corpus.encode(), dtype=np.uint8) == 32) + 1
        self.starts = starts[starts < len(self.corpus) - spec.text[1] - 1]
        if spec.unique and 36 ** spec.text[1] < context.rows:
            raise UnsatisfiableUnique(
                f"{context.key}: text of at most {spec.text[1]} characters has too few "
                f"distinct values for {context.rows:,} unique rows"
            )

    def values(self, first: int, count: int, rng: np.random.Generator) -> list[str]:
        low, high = self.spec.text
        lengths = sample(self.spec.distribution, low, high, count, rng, integers=True)
        begins = self.starts[rng.integers(0, len(self.starts), count)]
        ends = begins + lengths.astype(np.int64)
        corpus = self.corpus
        # a slice ending between two words ends in a letter instead, so every length holds
        texts = [
            text[:-1] + "s" if text.endswith(" ") else text
            for text in (corpus[b:e] for b, e in zip(begins.tolist(), ends.tolist(), strict=True))
        ]
        if self.spec.unique:
            numbers = range(first + 1, first + count + 1)
            return [_numbered(t, n, high) for t, n in zip(texts, numbers, strict=True)]
        return texts


class _UuidGenerator(Generator):
    def values(self, first: int, count: int, rng: np.random.Generator) -> list[str]:
        return uuid_texts(random_uuids(rng, count))

    def number_kind(self) -> tuple[NumberKind, int] | None:
        return ("uuid", 0)

    def numbers(self, first: int, count: int, rng: np.random.Generator) -> Numbers:
        return Numbers("uuid", random_uuids(rng, count))


class _NumberedUuidGenerator(Generator):
    """Row i's UUID is a function of i (`numbered_uuids`); with `parent` set, each row
    takes the UUID of an earlier row of that key (row 0 its own)."""

    def __init__(self, salt: int, parent: str | None) -> None:
        self.salt = salt
        self.parent = parent

    def values(self, first: int, count: int, rng: np.random.Generator) -> list[str]:
        return uuid_texts(self.numbers(first, count, rng).values)

    def number_kind(self) -> tuple[NumberKind, int] | None:
        return ("uuid", 0)

    def numbers(self, first: int, count: int, rng: np.random.Generator) -> Numbers:
        rows = np.arange(first, first + count, dtype=np.int64)
        if self.parent is not None:
            rows = np.floor(rng.random(count) * rows).astype(np.int64)
        return Numbers("uuid", numbered_uuids(rows, self.salt))


class _JsonGenerator(Generator):
    json_kind = "json"

    def __init__(self, spec: JsonColumn, context: GeneratorContext) -> None:
        self.fields = [
            (key, build_generator(sub, context.child(key)), sub.null_fraction)
            for key, sub in spec.json_object.items()
        ]
        keys = [json.dumps(key) for key, _, _ in self.fields]
        # the text between the values: `{"a": `, `, "b": `, ..., `}`
        self.pieces = ["{" + (keys[0] + ": " if keys else "")]
        self.pieces += [f", {key}: " for key in keys[1:]] + ["}"]
        self.escape = True

    def values(self, first: int, count: int, rng: np.random.Generator) -> list[str]:
        columns = []
        for _key, generator, null_fraction in self.fields:
            values = generator.json_values(first, count, rng)
            if null_fraction > 0:
                for index in np.flatnonzero(rng.random(count) < null_fraction).tolist():
                    values[index] = "null"
            columns.append(values)
        if not columns:
            return ["{}"] * count
        # one join a row over the pieces and values interleaved: half the time of `%`
        interleaved: list[Iterable[str]] = [itertools.repeat(self.pieces[0])]
        for values, piece in zip(columns, self.pieces[1:], strict=True):
            interleaved += [values, itertools.repeat(piece)]
        return list(map("".join, zip(*interleaved, strict=False)))  # the repeats are endless


class _ArrayGenerator(Generator):
    json_kind = "json"

    def __init__(self, spec: ArrayColumn, context: GeneratorContext) -> None:
        self.spec = spec
        self.element = build_generator(spec.array, context.child("element"))
        self.escape = True

    def values(self, first: int, count: int, rng: np.random.Generator) -> list[str]:
        low, high = self.spec.length
        lengths = rng.integers(low, high + 1, count)
        total = int(lengths.sum())
        elements = self.element.values(first, total, rng) if total else []
        if self.element.json_kind != "number":
            elements = ['"' + e.replace("\\", "\\\\").replace('"', '\\"') + '"' for e in elements]
        if self.spec.array.null_fraction > 0 and total:
            for index in np.flatnonzero(rng.random(total) < self.spec.array.null_fraction):
                elements[int(index)] = "NULL"
        bounds = np.concatenate(([0], np.cumsum(lengths))).tolist()
        return ["{" + ",".join(elements[bounds[i] : bounds[i + 1]]) + "}" for i in range(count)]

    def json_values(self, first: int, count: int, rng: np.random.Generator) -> list[str]:
        low, high = self.spec.length
        lengths = rng.integers(low, high + 1, count)
        total = int(lengths.sum())
        elements = self.element.json_values(first, total, rng) if total else []
        bounds = np.concatenate(([0], np.cumsum(lengths))).tolist()
        return ["[" + ", ".join(elements[bounds[i] : bounds[i + 1]]) + "]" for i in range(count)]


_KEY_TEXTS: dict[int, npt.NDArray[Any]] = {}


def _key_texts(keys: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """The referenced keys as text, made once per key array and kept while it lives: every
    generator that refers to the same table shares them (a load client has one per
    parameter)."""
    texts = _KEY_TEXTS.get(id(keys))
    if texts is None:
        texts = _KEY_TEXTS[id(keys)] = np.array(list(map(str, keys.tolist())), dtype=object)
        weakref.finalize(keys, _KEY_TEXTS.pop, id(keys), None)
    return texts


def _key_numbers(keys: npt.NDArray[Any]) -> Numbers | None:
    """Referenced keys as integers, or UUIDs as rows of 16 bytes; None for other keys."""
    if keys.dtype.kind in "iu":
        return Numbers("int", keys.astype(np.int64))
    listed = keys.tolist()
    if not listed:
        return None
    if all(isinstance(key, int) and not isinstance(key, bool) for key in listed):
        try:
            return Numbers("int", np.array(listed, dtype=np.int64))
        except OverflowError:  # numeric keys past bigint
            return None
    if all(isinstance(key, uuid.UUID) for key in listed):
        raw = b"".join(key.bytes for key in listed)
        return Numbers("uuid", np.frombuffer(raw, dtype=np.uint8).reshape(-1, 16))
    return None


class _RefGenerator(_PicksFromTable):
    def __init__(self, spec: RefColumn, context: GeneratorContext) -> None:
        keys = context.ref_keys.get(spec.ref)
        if keys is None or len(keys) == 0:
            raise ValueError(
                f"{context.table}.{context.column} refers to {spec.ref}, which has no rows"
            )
        self.spec = spec
        self.salt = context.salt
        if spec.unique and len(keys) < context.rows:
            raise UnsatisfiableUnique(
                f"{spec.ref} has {len(keys):,} rows, too few for {context.rows:,} rows that "
                "each reference a different one (unique)"
            )
        self.texts = _key_texts(keys)
        self.table_numbers = _key_numbers(keys)
        self.escape = needs_copy_escape(self.texts[:1000].tolist())
        self.tail_size: int | None = None  # the other rows spread evenly over this many
        if spec.hot and spec.distinct is not None:
            from pgrehearse.seed._empirical import distinct_values, tail_parents

            non_null = round(context.rows * (1.0 - spec.null_fraction))
            wanted = distinct_values(spec.distinct, context.rows)
            hot = np.array(spec.hot[: len(keys)], dtype=np.float64)
            self.tail_size = tail_parents(hot, len(keys), max(non_null, 1), wanted)
        self.json_kind = "number" if keys.dtype.kind in "iu" else "string"

    def _index(self, first: int, count: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
        size = len(self.texts)
        if self.spec.unique:
            return unique_offsets(first, count, size, self.salt)
        if self.spec.hot:
            return self._hot_or_not(size, count, rng)
        return self._spread(size, count, rng)

    def _spread(self, size: int, count: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
        if self.tail_size is not None:
            return rng.integers(0, min(size, self.tail_size), count)
        if self.spec.distribution == "zipf":
            return zipf_ranks(size, self.spec.skew, count, rng)
        return rng.integers(0, size, count)

    def _hot_or_not(self, size: int, count: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
        """The first keys take their `hot` shares; the other rows spread over the rest."""
        hot = np.array(self.spec.hot[:size], dtype=np.float64)
        picked = np.searchsorted(np.cumsum(hot), rng.random(count), side="right")
        others = picked >= len(hot)
        left = size - len(hot)
        if others.any():
            spread = self._spread(max(left, 1), int(others.sum()), rng)
            picked[others] = (len(hot) if left > 0 else 0) + spread
        return picked.astype(np.int64)


# --------------------------------------------------------------------------- factory


class _CombinationGenerator(Generator):
    """A column of a composite unique key: its digit of each row's combination number,
    looked up in its values, or added to the low end of its integer range."""

    def __init__(self, domain: Domain, combination: Combination) -> None:
        self.domain = domain
        self.combination = combination
        if isinstance(domain, np.ndarray):
            self.escape = needs_copy_escape(domain[:1000].tolist())

    def values(self, first: int, count: int, rng: np.random.Generator) -> list[str]:
        digits = self.combination.digits(first, count)
        if isinstance(self.domain, np.ndarray):
            picks: list[str] = self.domain[digits].tolist()
            return picks
        low, size = self.domain
        return format_ints(digits + low, low, low + size - 1)

    @functools.cached_property
    def _domain_numbers(self) -> Numbers | None:
        """The listed values as numbers, where they are (an int range is not listed)."""
        return table_numbers(self.domain.tolist()) if isinstance(self.domain, np.ndarray) else None

    def number_kind(self) -> tuple[NumberKind, int] | None:
        if not isinstance(self.domain, np.ndarray):
            return ("int", 0)
        numbers = self._domain_numbers
        return None if numbers is None else (numbers.kind, 0)

    def numbers(self, first: int, count: int, rng: np.random.Generator) -> Numbers:
        digits = self.combination.digits(first, count)
        if not isinstance(self.domain, np.ndarray):
            return Numbers("int", digits + self.domain[0])
        numbers = self._domain_numbers
        assert numbers is not None
        return Numbers(numbers.kind, numbers.values[digits])


# the values a column of a composite key can take: text values, or an int range (low, size)
Domain = npt.NDArray[Any] | tuple[int, int]


def combination_domain(spec: ColumnSpec, context: GeneratorContext) -> Domain | None:
    """The values a ref, choice or int column can take; None for other kinds."""
    if isinstance(spec, RefColumn):
        keys = context.ref_keys.get(spec.ref)
        return None if keys is None else np.array(list(map(str, keys.tolist())), dtype=object)
    if isinstance(spec, ChoiceColumn):
        return np.array([python_text(v) for v in spec.choice], dtype=object)
    if isinstance(spec, IntColumn):
        low, high = spec.int_range
        return (low, high - low + 1)
    return None


def domain_size(domain: Domain) -> int:
    return len(domain) if isinstance(domain, np.ndarray) else domain[1]


def build_generator(spec: ColumnSpec, context: GeneratorContext) -> Generator:
    """The generator for one column spec (pools and tables are built here, once)."""
    if context.combination is not None:
        domain = combination_domain(spec, context)
        if domain is not None:
            return _CombinationGenerator(domain, context.combination)
    if isinstance(spec, IntColumn):
        return _IntGenerator(spec, context)
    if isinstance(spec, FloatColumn):
        return _FloatGenerator(spec)
    if isinstance(spec, SequenceColumn):
        return _SequenceGenerator(spec, context)
    if isinstance(spec, ChoiceColumn):
        return _choice(spec, context)
    if isinstance(spec, BoolColumn):
        return _BoolGenerator(spec)
    if isinstance(spec, ConstantColumn):
        return _ConstantGenerator(spec)
    if isinstance(spec, BetweenColumn):
        return _BetweenGenerator(spec, context)
    if isinstance(spec, TextColumn):
        return _TextGenerator(spec, context)
    if isinstance(spec, UuidColumn):
        if spec.uuid == "numbered":
            key = spec.of or context.key
            return _NumberedUuidGenerator(zlib.crc32(f"{context.seed}:{key}".encode()), spec.of)
        return _UuidGenerator()
    if isinstance(spec, JsonColumn):
        return _JsonGenerator(spec, context)
    if isinstance(spec, ArrayColumn):
        return _ArrayGenerator(spec, context)
    if isinstance(spec, FakerColumn):
        pool = context.faker_pools.get(context.key) or faker_pool(spec, context)
        if spec.unique:
            return _PoolGenerator(pool, unique="number", salt=context.salt, rows=context.rows)
        return _PoolGenerator(pool)
    if isinstance(spec, RefColumn):
        return _RefGenerator(spec, context)
    if isinstance(spec, AfterColumn):
        raise ValueError(f"{context.key}: `after` works on a table's own columns only")
    if isinstance(spec, RefsByColumn):
        raise ValueError(f"{context.key}: `refs` with `by` works on a table's own columns only")
    if isinstance(spec, EmpiricalColumn):
        from pgrehearse.seed._empirical import EmpiricalGenerator

        rest_pool = context.faker_pools.get(context.child("rest").key)
        return EmpiricalGenerator(spec, context.rows, rest_pool, context.salt)
    if isinstance(spec, RangeColumn):
        from pgrehearse.seed._ranges import RangeGenerator

        return RangeGenerator(spec, context)
    if isinstance(spec, PatternColumn):
        from pgrehearse.seed._patterns import PatternGenerator

        return PatternGenerator(spec, context)
    if isinstance(spec, SqlColumn):
        sql_pool = context.faker_pools.get(context.key)
        if sql_pool is None:
            raise ValueError(f"{context.key}: the values of its sql generator were not made")
        generator = _PoolGenerator(sql_pool, unique="no")
        generator.escape = True
        return generator
    raise TypeError(f"no generator for {type(spec).__name__}")


def _choice(spec: ChoiceColumn, context: GeneratorContext) -> Generator:
    values = [python_text(v) for v in spec.choice]
    weights = None
    if isinstance(spec.choice, dict):
        weights = np.array(list(spec.choice.values()), dtype=np.float64)
    generator = _PoolGenerator(
        values,
        weights,
        unique="permute" if spec.unique else "no",
        salt=context.salt,
        rows=context.rows,
        what="choices",
    )
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in spec.choice):
        generator.json_kind = "number"
    return generator


def faker_pool(spec: FakerColumn, context: GeneratorContext) -> list[str]:
    """Build `spec.pool` Faker values once; rows then sample this pool with numpy."""
    from faker import Faker

    fake = Faker(spec.locale) if spec.locale else Faker()
    fake.seed_instance(_pool_salt(spec, context))
    provider = getattr(fake, spec.faker, None)
    if provider is None or not callable(provider):
        raise ValueError(f"Faker has no provider named {spec.faker!r}")
    try:
        return [python_text(provider(**spec.args)) for _ in range(spec.pool)]
    except (TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"faker {spec.faker!r} with args {spec.args}: {exc}") from exc


def _pool_salt(spec: FakerColumn, context: GeneratorContext) -> int:
    """What a Faker pool is seeded with: the data's seed and the spec, not the column, so
    that columns asking for the same values share one pool (each samples it with its own
    stream). A schema of 1,500 tables with a `name` each built 1,500 pools: five minutes."""
    material = json.dumps(
        [context.seed, spec.faker, spec.args, spec.locale, spec.pool], default=str
    )
    return zlib.crc32(material.encode())


def faker_specs(
    spec: ColumnSpec, context: GeneratorContext
) -> list[tuple[FakerColumn, GeneratorContext]]:
    """Every Faker generator inside a column spec (nested in json/array too)."""
    if isinstance(spec, FakerColumn):
        return [(spec, context)]
    if isinstance(spec, JsonColumn):
        return [
            found
            for key, sub in spec.json_object.items()
            for found in faker_specs(sub, context.child(key))
        ]
    if isinstance(spec, ArrayColumn):
        return faker_specs(spec.array, context.child("element"))
    if isinstance(spec, EmpiricalColumn) and spec.empirical == "text":
        return [(FakerColumn(faker=spec.like, pool=2_000), context.child("rest"))]
    return []


def child_signals() -> None:
    """In a forked helper process: leave Ctrl-C to the parent, die quietly on SIGTERM
    (the parent's handlers, inherited through fork, would raise in the child)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def build_faker_pools(
    wanted: list[tuple[FakerColumn, GeneratorContext]], workers: int
) -> dict[str, list[str]]:
    """Build the Faker pools of many columns at once, in parallel processes (Faker makes
    only ~10k values a second, so pools dominate the cost of small tables)."""
    shared: dict[Path, list[str]] = {}  # columns asking for the same values share a pool
    missing: dict[Path, tuple[FakerColumn, GeneratorContext]] = {}
    for spec, context in wanted:
        path = _pool_path(spec, context)
        if path in shared or path in missing:
            continue
        cached = _read_pool(spec, context)
        if cached is None:
            missing[path] = (spec, context)
        else:
            shared[path] = cached
    building = list(missing.values())
    if workers <= 1 or len(building) <= 1 or not sys.platform.startswith("linux"):
        built = [faker_pool(spec, context) for spec, context in building]
    else:
        context_fork = multiprocessing.get_context("fork")
        with context_fork.Pool(min(workers, len(building)), initializer=child_signals) as pool:
            built = pool.starmap(faker_pool, building)
    for (path, (spec, context)), values in zip(missing.items(), built, strict=True):
        shared[path] = values
        _write_pool(spec, context, values)
    return {context.key: shared[_pool_path(spec, context)] for spec, context in wanted}


def _pool_path(spec: FakerColumn, context: GeneratorContext) -> Path:
    from faker import VERSION

    material = json.dumps(
        [VERSION, spec.faker, spec.args, spec.locale, spec.pool, _pool_salt(spec, context)],
        sort_keys=True,
        default=str,
    )
    return cache_root() / "faker" / (hashlib.sha256(material.encode()).hexdigest()[:32] + ".json")


def _read_pool(spec: FakerColumn, context: GeneratorContext) -> list[str] | None:
    """A pool built by an earlier run (Faker pools are pure functions of their inputs)."""
    try:
        values = json.loads(_pool_path(spec, context).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(values, list) or len(values) != spec.pool:
        return None
    return [str(v) for v in values]


def _write_pool(spec: FakerColumn, context: GeneratorContext, values: list[str]) -> None:
    path = _pool_path(spec, context)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.partial")
        partial.write_text(json.dumps(values))
        partial.replace(path)
    except OSError:
        pass  # a cache that cannot be written only costs time


def assemble_rows(
    columns: list[Column],
    first: int,
    count: int,
    block: int,
    seed: int,
    table: str,
    router: LeafRouter | None = None,
) -> bytes:
    """One block of rows in COPY text format, or binary where every column has a binary
    form (`is_binary`); with a router, grouped by leaf partition (`_routing.encode_routed`)."""
    if router is not None:
        rows, leaves = _rows_and_leaves(columns, first, count, block, seed, table, router)
        return encode_routed(rows, leaves, binary=is_binary(columns))
    if is_binary(columns):
        return encode_block(_binary_blocks(columns, first, count, block, seed, table))
    rendered = _rendered(columns, first, count, block, seed, table)
    if len(rendered) == 1:
        return ("\n".join(rendered[0]) + "\n").encode()
    return ("\n".join(map("\t".join, zip(*rendered, strict=True))) + "\n").encode()


def is_binary(columns: list[Column]) -> bool:
    """Whether the table's rows go as binary COPY: every column has a binary form."""
    return bool(columns) and all(column.binary is not None for column in columns)


def in_binary_order(columns: list[Column]) -> list[Column]:
    """The columns in the order their binary rows are cheapest to build (`fixed_first`);
    as they are for text. The COPY names them in this order."""
    if not is_binary(columns):
        return columns
    fields = [column.binary for column in columns if column.binary is not None]
    nullable = [
        column.null_fraction > 0 or column.generator.null_rows(0, 1) is not None
        for column in columns
    ]
    return [columns[position] for position in fixed_first(fields, nullable)]


def binary_framing(columns: list[Column], block: int, blocks: int) -> tuple[bytes, bytes]:
    """What goes before and after a block of binary COPY: the header before the first, the
    trailer after the last; nothing for text."""
    if not is_binary(columns):
        return b"", b""
    return (HEADER if block == 0 else b""), (TRAILER if block == blocks - 1 else b"")


def copy_framing(columns: list[Column]) -> tuple[bytes, bytes]:
    """What goes before and after the rows of each COPY statement: binary's header and
    trailer, or nothing for text."""
    return (HEADER, TRAILER) if is_binary(columns) else (b"", b"")


def _rendered(
    columns: list[Column], first: int, count: int, block: int, seed: int, table: str
) -> list[list[str]]:
    """Each column's COPY text for the block's rows, from the column's own random stream."""
    return [
        column.render(first, count, column_rng(seed, table, column.name, block))
        for column in columns
    ]


def _binary_blocks(
    columns: list[Column], first: int, count: int, block: int, seed: int, table: str
) -> list[Block]:
    """Each column's binary COPY fields for the block's rows (from the same streams)."""
    return [
        column.render_binary(first, count, column_rng(seed, table, column.name, block))
        for column in columns
    ]


def assemble_routed(
    columns: list[Column],
    first: int,
    count: int,
    block: int,
    seed: int,
    table: str,
    router: LeafRouter,
) -> list[tuple[int, bytes]]:
    """One block of rows (COPY text, or binary as `assemble_rows`), a piece per leaf
    partition, in leaf order."""
    rows, leaves = _rows_and_leaves(columns, first, count, block, seed, table, router)
    return group_by_leaf(rows, leaves, binary=is_binary(columns))


def _rows_and_leaves(
    columns: list[Column],
    first: int,
    count: int,
    block: int,
    seed: int,
    table: str,
    router: LeafRouter,
) -> tuple[list[str], npt.NDArray[np.int64]]:
    """The block's rows (text lines, or binary rows as latin-1 characters) and each row's
    leaf. Binary rows are routed on their key columns' text, made for those alone."""

    def stream(position: int) -> np.random.Generator:
        return column_rng(seed, table, columns[position].name, block)

    def exact(position: int, kind: KeyKind) -> npt.NDArray[np.int64] | None:
        return columns[position].exact_keys(first, count, stream(position), kind)

    known = next((k for c in columns if (k := c.generator.leaves(first, count)) is not None), None)
    if is_binary(columns):
        rows = binary_rows(_binary_blocks(columns, first, count, block, seed, table))
        if known is not None:
            return rows, known
        texts: dict[int, list[str]] = {}

        def text_of(position: int) -> list[str]:
            if position not in texts:
                texts[position] = columns[position].render(first, count, stream(position))
            return texts[position]

        return rows, router.route(text_of, count, exact)
    rendered = _rendered(columns, first, count, block, seed, table)
    if known is not None:
        return text_rows(rendered), known
    return text_rows(rendered), router.route(rendered.__getitem__, count, exact)


__all__ = [
    "Column",
    "Generator",
    "GeneratorContext",
    "UnsatisfiableUnique",
    "assemble_routed",
    "assemble_rows",
    "binary_framing",
    "build_generator",
    "copy_framing",
    "faker_pool",
    "in_binary_order",
    "is_binary",
]
