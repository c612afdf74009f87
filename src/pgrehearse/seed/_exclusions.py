"""EXCLUDE constraints over a range built from two columns of the row, the common form for
bookings and shifts: `EXCLUDE USING gist (room_id WITH =, tstzrange(starts_at, ends_at)
WITH &&)`. No two rows' ranges overlap when each row has a slot of time of its own: the
start rises with the rows, one slot apart, and the end comes within the slot."""

from __future__ import annotations

import datetime as dt
import re

from pgrehearse.scenario import AfterColumn, BetweenColumn, moment_seconds
from pgrehearse.seed._catalog import Exclusion
from pgrehearse.seed._plan_model import PlannedColumn, TablePlan

_IDENTIFIER = r'("(?:[^"]|"")+"|[A-Za-z_][\w$]*)'
_RANGE_OF_COLUMNS = re.compile(
    rf"(?:pg_catalog\.)?(?:tstzrange|tsrange|daterange)\(\s*{_IDENTIFIER}\s*,\s*{_IDENTIFIER}"
    r"\s*(?:,\s*'[\[(][\])]'(?:::text)?\s*)?\)",
    re.IGNORECASE,
)
_DAY = 86_400


def range_columns(definition: str) -> tuple[str, str] | None:
    """The start and end columns of a `tstzrange(start, end[, bounds])` (or tsrange,
    daterange) as pg_get_indexdef prints an index element; None for anything else."""
    found = _RANGE_OF_COLUMNS.fullmatch(definition.strip())
    if found is None:
        return None
    start, end = (_unquoted(name) for name in found.groups())
    return (start, end) if start != end else None


def _unquoted(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def make_slots(exclusion: Exclusion, plan: TablePlan) -> str | None:
    """Give the start and end columns of an `&&` over a range of two columns a slot per
    row, so no two rows overlap (whatever the constraint's other elements); the plan's
    note saying so, or None when the constraint has no such element or its columns'
    generators are not inferred moments that can take slots of at least two units."""
    planned = {c.name: c for c in plan.columns}
    for definition, operator in zip(exclusion.definitions, exclusion.operators, strict=True):
        pair = range_columns(definition) if operator == "&&" else None
        if pair is None:
            continue
        start, end = (planned.get(name) for name in pair)
        if start is None or end is None or not (start.inferred and end.inferred):
            return None
        if not isinstance(start.spec, BetweenColumn) or start.spec.unique:
            return None
        if start.spec.times_of_day:
            return None
        low, high = start.spec.between
        dates = not isinstance(low, dt.datetime) and not isinstance(high, dt.datetime)
        unit = _DAY if dates else 1
        span = (moment_seconds(high) - moment_seconds(low)) // unit
        slot = span // max(plan.rows - 1, 1)  # the starts are at least this far apart
        if slot < 2:
            return None
        rising = start.spec.model_copy(update={"distribution": "increasing"})
        within = AfterColumn(after=start.name, min_gap=unit, within=(slot - 1) * unit)
        plan.columns[plan.columns.index(start)] = PlannedColumn(start.name, rising, True)
        plan.columns[plan.columns.index(end)] = PlannedColumn(end.name, within, True)
        what = "days" if dates else "seconds"
        return (
            f"EXCLUDE {exclusion.name}: each row's {start.name}..{end.name} has a slot of "
            f"{slot:,} {what} of its own ({start.name} rises with the rows, {end.name} comes "
            f"1 to {slot - 1:,} {what} after it), so no two rows overlap"
        )
    return None
