"""Durations as people write them in YAML: `5s`, `250ms`, `2min`, `1h`, or a number of seconds."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator

_UNITS = {
    "us": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "min": 60.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86_400.0,
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|min|m|h|d)?\s*$")


def parse_duration(value: object) -> float:
    """Return seconds. Bare numbers are seconds; strings take a unit suffix."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string such as '5s' or '250ms'")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNITS[match.group(2) or "s"]
    raise ValueError(
        f"{value!r} is not a duration: write a number of seconds or a string such as "
        "'5s', '250ms', '2min'"
    )


Duration = Annotated[float, BeforeValidator(parse_duration)]
"""A duration in seconds, parsed from `5s` / `250ms` / `2min` / `1h` / a number."""


def postgres_duration(seconds: float) -> str:
    """Render seconds as a PostgreSQL GUC value in milliseconds (e.g. for lock_timeout)."""
    return f"{round(seconds * 1000)}ms"
