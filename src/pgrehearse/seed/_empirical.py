"""The `empirical` generator: a column spread as production's `pg_stats` says.

Every non-NULL row takes a position `u` in [0, 1). Positions are laid out in value order:
each most common value owns a stretch as long as its share, and the rest of the values
fill the gaps, spread over the histogram's equal-mass buckets. The rest is cut into
`distinct - len(values)` equal steps, each one value, so the distinct count comes out as
production's. A random `u` gives production's frequencies; a `u` that rises with the row
number (blended with randomness as far as `correlation` asks, then made uniform again)
gives production's physical order too, without changing the frequencies.

Text values have no order that a fit could use: the most common ones keep their shares,
and the others are made from a Faker pool, numbered where the pool is too small to hold
`distinct` of them, and cut or padded to about `width` characters.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import numpy as np
import numpy.typing as npt

from pgrehearse.scenario import EmpiricalColumn
from pgrehearse.seed._binary import NumberKind, Numbers, table_numbers
from pgrehearse.seed._distributions import unique_offsets
from pgrehearse.seed._estimates import analyze_estimate, steps_behind_estimate
from pgrehearse.seed._format import format_dates, format_fixed, format_timestamps
from pgrehearse.seed._generators import Generator, JsonKind, UnsatisfiableUnique
from pgrehearse.seed._numbered import NumberedText, rising_heads

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_ORDERED = ("number", "date", "moment")
_NULL_SALT = 0x5BD1E995
_TOP = float(np.nextafter(1.0, 0.0))


def distinct_values(distinct: float, rows: int) -> int:
    """pg_stats' n_distinct as a count at `rows` rows: negative is a fraction of them."""
    count = -distinct * rows if distinct < 0 else distinct
    return max(1, min(rows, round(count))) if rows else 1


def as_number(kind: str, text: Any) -> float:
    """A statistics value as a number on the generator's axis: the number itself, days
    since the epoch (date) or seconds since the epoch (moment)."""
    if kind == "number":
        return float(text)
    if kind == "date":
        day = dt.date.fromisoformat(str(text)[:10])
        return float((day - dt.date(1970, 1, 1)).days)
    return _parse_moment(str(text)).timestamp()


def _parse_moment(text: str) -> dt.datetime:
    cleaned = text.strip().replace(" ", "T", 1)
    if len(cleaned) > 3 and cleaned[-3] in "+-" and cleaned[-3:].replace("+", "").isdigit():
        cleaned += ":00"  # pg_stats' "+00" as ISO's "+00:00"
    moment = dt.datetime.fromisoformat(cleaned)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


class EmpiricalGenerator(Generator):
    """Makes a block of values; NULLs are the column's own business (`null_fraction`)."""

    def __init__(
        self, spec: EmpiricalColumn, rows: int, rest_pool: list[str] | None, salt: int = 0
    ) -> None:
        if spec.unique and spec.empirical != "text":
            raise UnsatisfiableUnique(
                f"`empirical: {spec.empirical}` cannot make unique values: leave the column "
                "to inference, or use empirical: text"
            )
        self.spec = spec
        self.kind = spec.empirical
        self.rows = rows
        self.salt = salt
        self.nulls = min(rows, round(spec.null_fraction * rows))
        non_null = max(1e-12, 1.0 - spec.null_fraction)
        shares = np.array(spec.freqs, dtype=np.float64) / non_null
        if spec.histogram or self.kind == "text":
            self.rest_mass = max(0.0, 1.0 - float(shares.sum()))
        else:  # nothing describes other values: the common ones are all there is
            self.rest_mass = 0.0
            shares = shares / shares.sum()
        self.common_text = [str(v) for v in spec.values]
        self.common_numbers = (
            np.array([as_number(self.kind, v) for v in spec.values], dtype=np.float64)
            if self.kind in _ORDERED
            else np.zeros(0)
        )
        self.blend = _blend_weight(spec.correlation)
        if spec.unique:  # every row its own step: scattered rows are a bijection, and so
            # are ranks, which then skip the NULL rows' numbers
            self.blend = 1.0 if abs(spec.correlation) >= 0.3 else 0.0
            self.rest_count = max(1, rows if self.blend == 1.0 else rows - self.nulls)
        else:
            self.rest_count = max(1, distinct_values(spec.distinct, rows) - len(spec.values))
        self._weave = self._rest_mass_weave(shares) if self.kind in _ORDERED else None
        self.common_cumulative = np.cumsum(shares)
        self.bounds: FloatArray | None = None
        if self.kind in _ORDERED and spec.histogram:
            self.bounds = np.array([as_number(self.kind, b) for b in spec.histogram])
        if not spec.unique:
            self.rest_count = steps_behind_estimate(
                distinct_values(spec.distinct, rows),
                shares * (1.0 - self.rest_mass) / max(float(shares.sum()), 1e-12),
                self.rest_mass,
                rows - self.nulls,
                self._rest_value_ids if self.kind in _ORDERED else None,
            )
            if self.blend == 1.0:  # consecutive rows share a step: some are all NULLs
                self.rest_count = _steps_for(self.rest_count, rows, spec.null_fraction)
        self.rest_text = self._rest_pool(rest_pool) if self.kind == "text" else None
        if self.kind == "number":
            self.json_kind: JsonKind = "number"
        self.escape = self.kind in ("text", "value")

    # ------------------------------------------------------------------ layout

    def _rest_mass_weave(self, shares: FloatArray) -> tuple[FloatArray, FloatArray, IntArray]:
        """Where each common value's stretch starts on the [0, 1) axis when the stretches
        are laid out in value order among the rest's mass; (starts, ends, value index)."""
        spec = self.spec
        numbers = self.common_numbers
        order = np.argsort(numbers, kind="stable")
        if spec.histogram:
            bounds = np.array([as_number(self.kind, b) for b in spec.histogram])
            levels = np.linspace(0.0, 1.0, len(bounds))
            rest_below = np.interp(numbers[order], bounds, levels) * self.rest_mass
        else:
            rest_below = np.zeros(len(order))
        sorted_shares = shares[order] if len(order) else shares
        common_below = np.concatenate(([0.0], np.cumsum(sorted_shares)[:-1]))
        starts = rest_below + common_below
        return starts, starts + sorted_shares, order.astype(np.int64)

    # ------------------------------------------------------------------ values

    def null_rows(self, first: int, count: int) -> npt.NDArray[np.bool_] | None:
        """Exactly `null_fraction` of the rows, spread over the table. Uncorrelated values
        use the same scrambling, so the non-NULL rows alone cover the axis evenly."""
        if not self.nulls:
            return None
        salt = self.salt if self.blend == 0.0 else self.salt ^ _NULL_SALT
        placed: npt.NDArray[np.bool_] = unique_offsets(first, count, self.rows, salt) < self.nulls
        return placed

    def positions(self, first: int, count: int, rng: np.random.Generator) -> FloatArray:
        """Each row's place on the [0, 1) axis: scattered, or rising with the row number.

        Scattered rows are stratified, not independent: row i takes stratum π(i) of a
        scrambled bijection, so `distinct` steps are each taken by some row, as in the
        table the statistics came from (independent draws would leave about a third of
        them out when there are as many steps as rows)."""
        rows = max(self.rows, 1)
        stratum = unique_offsets(first, count, rows, self.salt).astype(np.float64)
        if self.blend == 0.0:
            non_null = max(rows - self.nulls, 1)
            # the middle of each stratum: jitter would let neighbours share a step
            return np.clip((stratum - self.nulls + 0.5) / non_null, 0.0, _TOP)
        noise = (stratum + rng.random(count)) / rows
        rank = (np.arange(first, first + count, dtype=np.float64) + 0.5) / rows
        if self.spec.correlation < 0:
            rank = 1.0 - rank
        if self.blend == 1.0:
            return np.clip(rank, 0.0, _TOP)
        return _uniform_blend(rank, noise, self.blend)

    def values(self, first: int, count: int, rng: np.random.Generator) -> list[str]:
        u = self.positions(first, count, rng)
        if self.kind in _ORDERED:
            return self._format(self._ordered_numbers(u))
        return self._unordered_values(u)

    def number_kind(self) -> tuple[NumberKind, int] | None:
        if self.kind == "value":
            table = self._value_numbers
            return None if table is None else (table.kind, 0)
        if self.kind == "number":
            return ("units", self.spec.decimals)
        if self.kind in ("date", "moment"):
            return ("days" if self.kind == "date" else "seconds", 0)
        return None

    def numbers(self, first: int, count: int, rng: np.random.Generator) -> Numbers:
        if self.kind == "value":
            table = self._value_numbers
            assert table is not None
            steps = self._unordered_steps(self.positions(first, count, rng))
            return Numbers(table.kind, table.values[self._table_index(*steps)])
        numbers = self._ordered_numbers(self.positions(first, count, rng))
        if self.kind == "number":
            units = np.rint(numbers * 10**self.spec.decimals).astype(np.int64)
            return Numbers("units", units, self.spec.decimals)
        moments = np.rint(numbers).astype(np.int64)
        return Numbers("days" if self.kind == "date" else "seconds", moments)

    def _ordered_numbers(self, u: FloatArray) -> FloatArray:
        assert self._weave is not None
        starts, ends, order = self._weave
        inside = np.zeros(len(u), dtype=bool)
        common_before = np.zeros(len(u))
        slot = np.full(len(u), -1, dtype=np.int64)
        if len(starts):
            slot = np.searchsorted(starts, u, side="right") - 1  # the last stretch begun
            inside = (slot >= 0) & (u < ends[np.maximum(slot, 0)])
            covered = np.concatenate(([0.0], np.cumsum(ends - starts)))
            common_before = covered[slot + 1]  # the common mass passed (outside stretches)
        numbers = np.zeros(len(u), dtype=np.float64)
        if self.bounds is not None:
            rest = np.clip((u - common_before) / max(self.rest_mass, 1e-12), 0.0, 1.0)
            step = np.minimum(np.floor(rest * self.rest_count), self.rest_count - 1)
            numbers = self._rest_numbers(step, self.rest_count)
            self._step_off_common(numbers, ~inside)
        if inside.any():
            numbers[inside] = self.common_numbers[order[slot[inside]]]
        return numbers

    def _rest_numbers(self, steps: FloatArray, count: int) -> FloatArray:
        """The value of each step of `count`: its middle on the histogram's quantile curve."""
        assert self.bounds is not None
        level = (steps + 0.5) / count
        return np.interp(level, np.linspace(0.0, 1.0, len(self.bounds)), self.bounds)

    def _unit(self) -> float:
        return 10.0**self.spec.decimals if self.kind == "number" else 1.0

    def _rest_value_ids(self, steps: IntArray, count: int) -> IntArray:
        """Which distinct value each step becomes once rounded (narrow buckets make several
        steps one value)."""
        if self.bounds is None:
            return steps
        numbers = self._rest_numbers(steps.astype(np.float64), count)
        return np.rint(numbers * self._unit()).astype(np.int64)

    def _step_off_common(self, numbers: FloatArray, rest: npt.NDArray[np.bool_]) -> None:
        """Move the rest's values off the common values they round to (pg_stats counts the
        common values apart from the histogram, so they are not among the rest's)."""
        if not len(self.common_numbers) or not rest.any():
            return
        unit = self._unit()
        common = np.rint(self.common_numbers * unit)
        units = np.rint(numbers[rest] * unit)
        for _ in range(4):
            clash = np.isin(units, common)
            if not clash.any():
                break
            units[clash] += 1
        numbers[rest] = units / unit

    def _format(self, numbers: FloatArray) -> list[str]:
        if self.kind == "date":
            return format_dates(np.rint(numbers).astype(np.int64))
        if self.kind == "moment":
            return format_timestamps(np.rint(numbers).astype(np.int64))
        decimals = self.spec.decimals
        units = np.rint(numbers * 10**decimals).astype(np.int64)
        low, high = self._unit_range
        if units.size and (units.min() < low or units.max() > high):
            low, high = int(units.min()), int(units.max())
        return format_fixed(units, decimals, low, high)  # the same range: one cached table

    @functools.cached_property
    def _unit_range(self) -> tuple[int, int]:
        """Every value this column can take, in units (the rest moved off a common value
        by a few units at most)."""
        known = [as_number(self.kind, v) for v in [*self.spec.values, *self.spec.histogram]]
        unit = self._unit()
        return round(min(known, default=0) * unit) - 4, round(max(known, default=0) * unit) + 4

    def _unordered_values(self, u: FloatArray) -> list[str]:
        picked, rest, steps = self._unordered_steps(u)
        # one lookup a row: the rest's values and the common ones share a table
        if self.kind == "text" and self._numbered_text is not None:
            return self._numbered_text.values(steps, np.where(rest, -1, picked))
        values: list[str] = self._table_with_common[self._table_index(picked, rest, steps)].tolist()
        return values

    def _unordered_steps(self, u: FloatArray) -> tuple[IntArray, npt.NDArray[np.bool_], IntArray]:
        """Each row's common value (or none: `rest`) and its step among the rest."""
        common_total = float(self.common_cumulative[-1]) if len(self.common_cumulative) else 0.0
        picked = np.searchsorted(self.common_cumulative, u, side="right")
        rest = picked >= len(self.common_text)
        steps = np.zeros(len(u), dtype=np.int64)
        if rest.any():
            share = (u[rest] - common_total) / max(1.0 - common_total, 1e-12)
            steps[rest] = np.minimum(np.floor(share * self.rest_count), self.rest_count - 1)
        return picked, rest, steps

    def _table_index(
        self, picked: IntArray, rest: npt.NDArray[np.bool_], steps: IntArray
    ) -> IntArray:
        """Each row's value in `_table_with_common` (when not numbered text)."""
        rest_table = self._rest_table
        index: IntArray = np.where(
            rest, steps * len(rest_table) // self.rest_count, len(rest_table) + picked
        )
        return index

    @functools.cached_property
    def _value_numbers(self) -> Numbers | None:
        return table_numbers(self._table_with_common.tolist())

    @functools.cached_property
    def _rest_table(self) -> list[str]:
        """The rest's values when not numbered: histogram bounds (or the common values), or
        the text pool's heads, sorted, so a higher step is a later value and values rising
        with the row number (correlation) sort as they rise."""
        if self.kind == "value":
            return [str(b) for b in self.spec.histogram] or self.common_text
        assert self.rest_text is not None
        return list(self.rest_text[0])

    @functools.cached_property
    def _table_with_common(self) -> npt.NDArray[Any]:
        return np.array([*self._rest_table, *self.common_text], dtype=object)

    @functools.cached_property
    def _numbered_text(self) -> NumberedText | None:
        assert self.rest_text is not None
        heads, tails, numbered = self.rest_text
        if not numbered:
            return None
        return NumberedText(
            heads,
            tails,
            self.rest_count,
            rising_heads(len(heads), self.rest_count),
            fixed=self.common_text,
        )

    def _rest_pool(self, pool: list[str] | None) -> tuple[npt.NDArray[Any], npt.NDArray[Any], bool]:
        """The rest's text values as heads and tails around an optional number (an e-mail
        address gets it before the @), together about `width` characters long; and whether
        the number is added (the pool holds too few distinct values, or `unique`)."""
        width = self.spec.width
        unique = list(dict.fromkeys(v for v in (pool or ["value"]) if v)) or ["value"]
        numbered = self.spec.unique or len(unique) < self.rest_count
        digits = len(str(self.rest_count)) + 1 if numbered else 0
        heads, tails = [], []
        for index, value in enumerate(unique):
            local, at, domain = value.partition("@")
            tail = "@" + domain if at and numbered else ""
            text = local if at and numbered else value
            room = max(1, width - digits - len(tail))
            joint = "." if tail else " "  # no space in an e-mail address
            while len(text) < room:
                text += joint + unique[(index * 7 + len(text)) % len(unique)].partition("@")[0]
            text = text[:room].rstrip() or text[:room]
            heads.append(text + ("." if tail else "-") if numbered else text)
            tails.append(tail)
        if not numbered and len(set(heads)) < self.rest_count:
            return self._numbered_anyway(heads)
        order = sorted(range(len(heads)), key=heads.__getitem__)
        return (
            np.array([heads[i] for i in order], dtype=object),
            np.array([tails[i] for i in order], dtype=object),
            numbered,
        )

    def _numbered_anyway(self, heads: list[str]) -> tuple[npt.NDArray[Any], npt.NDArray[Any], bool]:
        """Cut to width, the pool's values became too few: number them after all."""
        kept = sorted(dict.fromkeys(h + "-" for h in heads))
        return np.array(kept, dtype=object), np.array([""] * len(kept), dtype=object), True


def _steps_for(distinct: int, rows: int, null_fraction: float) -> int:
    """How many steps give `distinct` values when consecutive rows share a step and each
    row is NULL with `null_fraction`: a step of r rows is lost with probability
    null_fraction^r, so solve steps·(1 - nf^(rows/steps)) = distinct."""
    if null_fraction <= 0 or distinct >= rows:
        return distinct
    low, high = distinct, rows
    while low < high:
        middle = (low + high) // 2
        if middle * (1 - null_fraction ** (rows / middle)) < distinct:
            low = middle + 1
        else:
            high = middle
    return low


def _blend_weight(correlation: float) -> float:
    """The weight w of the row's rank in w·rank + (1-w)·noise that gives this correlation
    between rank and the blend (0 when it is too weak to matter)."""
    c = abs(correlation)
    if c < 0.05:
        return 0.0
    if c > 0.995:
        return 1.0
    # corr(rank, w·rank + (1-w)·noise) = w / sqrt(w² + (1-w)²) for independent uniforms
    ratio = c / np.sqrt(1.0 - c * c)  # w / (1-w)
    return float(ratio / (1.0 + ratio))


def _uniform_blend(rank: FloatArray, noise: FloatArray, w: float) -> FloatArray:
    """w·rank + (1-w)·noise, made uniform on [0, 1) again through its own distribution
    function (the sum of two uniforms is trapezoidal), keeping its order."""
    a, b = sorted((w, 1.0 - w))
    s = w * rank + (1.0 - w) * noise
    low = s * s / (2 * a * b)
    middle = (2 * s - a) / (2 * b)
    high = 1.0 - (a + b - s) ** 2 / (2 * a * b)
    uniform = np.where(s < a, low, np.where(s < b, middle, high))
    return np.clip(uniform, 0.0, np.nextafter(1.0, 0.0))


def tail_parents(hot: FloatArray, parents: int, rows: int, target: int) -> int:
    """How many of the other parents the rows that do not point at the `hot` ones spread
    over, evenly, for ANALYZE to estimate `target` distinct values over `rows` non-NULL
    rows (the sample ANALYZE would take is simulated). Even over fewer parents rather
    than skewed: a skewed spread would give some other parent more than the hot ones."""
    spread = max(parents - len(hot), 1)
    sample = min(rows, 30_000)
    cumulative = np.cumsum(hot)

    def estimate(used: int) -> float:
        rng = np.random.default_rng(20_240_601)
        picked = np.searchsorted(cumulative, rng.random(sample), side="right").astype(np.int64)
        rest = picked >= len(hot)
        picked[rest] = len(hot) + rng.integers(0, used, int(rest.sum()))
        return analyze_estimate(picked, rows)

    low, high = 1, spread
    if estimate(high) <= target:
        return high
    while high - low > max(1, high // 200):
        middle = (low + high) // 2
        if estimate(middle) < target:
            low = middle + 1
        else:
            high = middle
    return high
