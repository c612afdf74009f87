"""Dates, timestamps and times of day inside the bounds a CHECK gives a column
(`starts_on >= '2020-01-01'`, `opens >= '06:00'`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pgrehearse.scenario import moment_seconds, time_of_day
from pgrehearse.seed._checks import ColumnFacts


def moments_within(bounds: tuple[Any, Any], facts: ColumnFacts) -> tuple[Any, Any]:
    """Date or timestamp bounds moved inside the CHECK's (ten years when one is open)."""
    start, end = bounds
    if isinstance(start, dt.time):
        return _times_between(start, end, facts)
    low = _as_moment(facts.low.value, start) if facts.low is not None else None
    high = _as_moment(facts.high.value, end) if facts.high is not None else None
    if low is not None and facts.low is not None:
        start = low if facts.low.inclusive else low + _smallest_step(low)
    if high is not None and facts.high is not None:
        end = high if facts.high.inclusive else high - _smallest_step(high)
    if end <= start:
        if high is None:
            end = start + dt.timedelta(days=3650)
        else:
            start = end - dt.timedelta(days=3650)
    return start, end


WHOLE_DAY = (dt.time(0, 0), dt.time(23, 59, 59))


def _times_between(start: dt.time, end: dt.time, facts: ColumnFacts) -> tuple[dt.time, dt.time]:
    """Times of day moved inside the CHECK's bounds (`opens >= '06:00'`)."""
    first, last = moment_seconds(start), moment_seconds(end)
    low = _as_time(facts.low.value) if facts.low is not None else None
    high = _as_time(facts.high.value) if facts.high is not None else None
    if low is not None and facts.low is not None:
        first = max(first, moment_seconds(low) + (0 if facts.low.inclusive else 1))
    if high is not None and facts.high is not None:
        last = min(last, moment_seconds(high) - (0 if facts.high.inclusive else 1))
    if last < first:
        return start, end
    return time_of_day(first), time_of_day(last)


def _as_time(value: object) -> dt.time | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.time.fromisoformat(value.strip())
    except ValueError:
        return None


def _smallest_step(moment: dt.date | dt.datetime) -> dt.timedelta:
    return dt.timedelta(seconds=1) if isinstance(moment, dt.datetime) else dt.timedelta(days=1)


def _as_moment(value: object, like: dt.date | dt.datetime) -> dt.date | dt.datetime | None:
    """A CHECK's date or timestamp constant, of the kind of `like`."""
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if isinstance(like, dt.datetime):
        return moment.replace(tzinfo=None)
    return moment.date()
