"""Turning numpy arrays into text fast: lookup tables instead of per-value formatting.

Formatting numbers and timestamps one by one costs 250–800 ns a value in Python; indexing
an object array of pre-built strings costs about 25 ns. So every formatter here builds small
tables once and indexes them.
"""

from __future__ import annotations

import operator
import re
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

LOOKUP_LIMIT = 1 << 18  # build a string table when a domain has at most this many values
_SECONDS_PER_DAY = 86_400
_EPOCH_DAY = np.datetime64("1970-01-01", "D")

IntArray = npt.NDArray[np.int64]
COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
SPECIAL = ("\\", "\t", "\n", "\r")


def needs_copy_escape(values: list[str] | npt.NDArray[Any]) -> bool:
    """Whether any value holds a character COPY's text format must escape."""
    return any(special in value for value in values for special in SPECIAL)


def copy_escape(values: list[str]) -> list[str]:
    """Escape for COPY text format; a single scan of the joined block finds the common case
    of nothing to escape (str.translate on every value would cost ~1.5 µs a value)."""
    joined = "".join(values)
    if not any(special in joined for special in SPECIAL):
        return values
    return [
        value.translate(COPY_ESCAPES) if any(s in value for s in SPECIAL) else value
        for value in values
    ]


_ESCAPED = re.compile(r"\\([\\tnr])")
_UNESCAPED = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}


def copy_unescape(value: str) -> str:
    """A value as it was before `copy_escape`."""
    if "\\" not in value:
        return value
    return _ESCAPED.sub(lambda found: _UNESCAPED[found.group(1)], value)


@lru_cache(maxsize=64)
def _int_table(low: int, high: int) -> npt.NDArray[Any]:
    return np.array(format_consecutive(low, high - low + 1), dtype=object)


def format_ints(values: IntArray, low: int, high: int) -> list[str]:
    """Integers known to lie in [low, high] as decimal strings."""
    if high - low < LOOKUP_LIMIT:
        table: list[str] = _int_table(low, high)[values - low].tolist()
        return table
    return list(map(str, values.tolist()))


_LOW_DIGITS = 4
_LOWS = [f"{low:0{_LOW_DIGITS}d}" for low in range(10**_LOW_DIGITS)]


def format_consecutive(begin: int, count: int) -> list[str]:
    """begin, begin + 1, ... as decimal strings: each run of 10,000 numbers is its shared
    high digits added to a table of the four low ones (about 60% of `map(str, range)`)."""
    if begin < 0:
        return list(map(str, range(begin, begin + count)))
    out: list[str] = []
    number, end = begin, begin + count
    while number < end:
        high, low = divmod(number, 10**_LOW_DIGITS)
        stop = min(end, (high + 1) * 10**_LOW_DIGITS)
        if high:
            out += map(str(high).__add__, _LOWS[low : low + stop - number])
        else:
            out += map(str, range(number, stop))
        number = stop
    return out


@lru_cache(maxsize=8)
def _fraction_table(decimals: int) -> npt.NDArray[Any]:
    return np.array([f".{v:0{decimals}d}" for v in range(10**decimals)], dtype=object)


def format_fixed(units: IntArray, decimals: int, low_units: int, high_units: int) -> list[str]:
    """Fixed-point numbers given as integer units of 10**-decimals (e.g. cents)."""
    if decimals == 0:
        return format_ints(units, low_units, high_units)
    if high_units - low_units < LOOKUP_LIMIT:
        fixed: list[str] = _fixed_table(low_units, high_units, decimals)[units - low_units].tolist()
        return fixed
    return _fixed_text(units, decimals)


def _fixed_text(units: IntArray, decimals: int) -> list[str]:
    scale = 10**decimals
    negative = units < 0
    magnitude = np.abs(units)
    whole = format_ints(magnitude // scale, 0, int(magnitude.max(initial=0)) // scale)
    fraction = _fraction_table(decimals)[magnitude % scale].tolist()
    text = list(map(operator.add, whole, fraction))
    if negative.any():
        for index in np.flatnonzero(negative).tolist():
            text[index] = "-" + text[index]
    return text


@lru_cache(maxsize=16)
def _fixed_table(low_units: int, high_units: int, decimals: int) -> npt.NDArray[Any]:
    """Every value of the range as text. Made from whole and fraction parts where the
    fractions are few (formatting each value took 0.14 s for 110,000 values, paid by every
    worker process on its first block while the server waited)."""
    if decimals <= 4:
        units = np.arange(low_units, high_units + 1, dtype=np.int64)
        return np.array(_fixed_text(units, decimals), dtype=object)
    scale = 10**decimals
    values = []
    for units_value in range(low_units, high_units + 1):
        sign = "-" if units_value < 0 else ""
        whole, fraction = divmod(abs(units_value), scale)
        values.append(f"{sign}{whole}.{fraction:0{decimals}d}")
    return np.array(values, dtype=object)


@lru_cache(maxsize=1)
def _time_table() -> npt.NDArray[Any]:
    """` HH:MM:SS+00` for each second of a day. Made from its parts: formatting each second
    took 0.1 s, paid by every worker process on its first block while the server waited."""
    two_digits = [f"{n:02d}" for n in range(60)]
    minutes_seconds = [f":{m}:{s}+00" for m in two_digits for s in two_digits]
    times = [f" {h}{rest}" for h in two_digits[:24] for rest in minutes_seconds]
    assert len(times) == _SECONDS_PER_DAY
    return np.array(times, dtype=object)


def format_times_of_day(seconds_of_day: IntArray) -> list[str]:
    """`HH:MM:SS` for seconds since midnight (0 to 86,399)."""
    return _clock_table()[seconds_of_day].tolist()  # type: ignore[no-any-return]


@lru_cache(maxsize=1)
def _clock_table() -> npt.NDArray[Any]:
    return np.array([t[1:9] for t in _time_table().tolist()], dtype=object)


@lru_cache(maxsize=16)
def _day_table(first_day: int, last_day: int) -> npt.NDArray[Any]:
    days = np.arange(first_day, last_day + 1).astype("datetime64[D]")
    return np.array(np.datetime_as_string(days).tolist(), dtype=object)


_DAY_SPAN = 1 << 12  # day tables cover aligned spans of ~11 years: few tables, all cached


def format_dates(epoch_days: IntArray) -> list[str]:
    if not epoch_days.size:
        return []
    low = int(epoch_days.min()) // _DAY_SPAN * _DAY_SPAN
    high = (int(epoch_days.max()) // _DAY_SPAN + 1) * _DAY_SPAN - 1
    if high - low < LOOKUP_LIMIT:
        days: list[str] = _day_table(low, high)[epoch_days - low].tolist()
        return days
    return np.datetime_as_string(epoch_days.astype("datetime64[D]")).tolist()  # type: ignore[no-any-return]


def format_timestamps(epoch_seconds: IntArray) -> list[str]:
    """UTC timestamps with a time zone (`2024-05-01 13:45:12+00`), valid for timestamptz,
    timestamp and date columns."""
    days = epoch_seconds // _SECONDS_PER_DAY
    seconds = epoch_seconds - days * _SECONDS_PER_DAY
    day_text = format_dates(days)
    time_text = _time_table()[seconds].tolist()
    return list(map(operator.add, day_text, time_text))


def random_uuids(rng: np.random.Generator, count: int) -> npt.NDArray[np.uint8]:
    """Random version-4 UUIDs (a row of 16 bytes each), deterministic for a given
    generator state."""
    return _version_4(rng.integers(0, 256, size=(count, 16), dtype=np.uint8))


_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd: row * _MIX is a bijection modulo 2^64


def numbered_uuids(rows: npt.NDArray[np.int64], salt: int) -> npt.NDArray[np.uint8]:
    """The version-4 UUID of each row number: the first half a scramble of the number,
    the second a bijection of it (so distinct rows have distinct UUIDs), both keyed by
    `salt`."""
    with np.errstate(over="ignore"):
        numbers = rows.astype(np.uint64)
        head = (numbers ^ np.uint64(salt & 0xFFFFFFFFFFFFFFFF)) * _MIX
        head ^= head >> np.uint64(31)
        head *= np.uint64(0xBF58476D1CE4E5B9)
        head ^= head >> np.uint64(29)
        tail = numbers * _MIX + np.uint64((salt * 2654435761) & 0xFFFFFFFFFFFFFFFF)
    raw = np.empty((len(rows), 16), dtype=np.uint8)
    raw[:, :8] = head.astype(">u8").view(np.uint8).reshape(-1, 8)
    raw[:, 8:] = tail.astype(">u8").view(np.uint8).reshape(-1, 8)
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # the variant's 2 bits: 62 of the bijection's kept
    return _version_4(raw)


def _version_4(raw: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    return raw


def uuid_texts(raw: npt.NDArray[np.uint8]) -> list[str]:
    """UUIDs given as rows of 16 bytes, as text."""
    count = len(raw)
    hexed = raw.tobytes().hex()
    return [
        f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
        for h in (hexed[i : i + 32] for i in range(0, 32 * count, 32))
    ]
