"""Range values (int4range … tstzrange): a start between two bounds and a length; or, for
ranges that must not overlap (`EXCLUDE … WITH &&`, unique), one slot of the bounds per row.

Everything is computed in whole units (integers, hundredths, days or seconds) so that
slots that touch never overlap after formatting.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt

from pgrehearse.scenario import RangeColumn, as_datetime
from pgrehearse.seed._distributions import unique_offsets
from pgrehearse.seed._format import format_dates, format_fixed, format_ints, format_timestamps
from pgrehearse.seed._generators import Generator, GeneratorContext, UnsatisfiableUnique

_SECONDS_PER_DAY = 86_400
_HUNDREDTHS = 100


class RangeGenerator(Generator):
    def __init__(self, spec: RangeColumn, context: GeneratorContext) -> None:
        low, high = spec.starts
        minimum, maximum = spec.length
        if isinstance(low, dt.date) and isinstance(high, dt.date):
            seconds = [int(as_datetime(v).timestamp()) for v in (low, high)]
            if isinstance(low, dt.datetime) or isinstance(high, dt.datetime):
                self.unit, scale = "second", 1.0
                self.low, self.high = seconds
            else:
                self.unit, scale = "day", 1 / _SECONDS_PER_DAY
                self.low, self.high = (s // _SECONDS_PER_DAY for s in seconds)
        elif isinstance(low, int) and isinstance(high, int):
            self.unit, scale = "integer", 1.0
            self.low, self.high = low, high
        else:
            self.unit, scale = "hundredth", float(_HUNDREDTHS)
            self.low, self.high = (round(float(v) * _HUNDREDTHS) for v in (low, high))  # type: ignore[arg-type]
        self.shortest = max(1, round(minimum * scale))
        self.longest = max(self.shortest, round(maximum * scale))
        self.separate = spec.separate
        self.rows = context.rows
        self.salt = context.salt
        if self.separate and self.high - self.low < context.rows:
            raise UnsatisfiableUnique(
                f"the range bounds hold {self.high - self.low:,} {self.unit}s, too few for "
                f"{context.rows:,} ranges that do not overlap (one {self.unit} each at least)"
            )

    def values(self, first: int, count: int, rng: np.random.Generator) -> list[str]:
        lengths = rng.integers(self.shortest, self.longest + 1, count)
        if self.separate:
            slot = unique_offsets(first, count, self.rows, self.salt).astype(np.float64)
            width = (self.high - self.low) / self.rows
            starts = self.low + np.floor(slot * width).astype(np.int64)
            ends = self.low + np.floor((slot + 1) * width).astype(np.int64)
            uppers = np.minimum(starts + lengths, ends)
        else:
            starts = rng.integers(self.low, self.high + 1, count)
            uppers = starts + lengths
        return [f"[{a},{b})" for a, b in zip(self._text(starts), self._text(uppers), strict=True)]

    def _text(self, values: npt.NDArray[np.int64]) -> list[str]:
        if self.unit == "second":
            return ['"' + text + '"' for text in format_timestamps(values)]
        if self.unit == "day":
            return format_dates(values)
        low, high = int(values.min(initial=0)), int(values.max(initial=0))
        if self.unit == "hundredth":
            return format_fixed(values, 2, low, high)
        return format_ints(values, low, high)
