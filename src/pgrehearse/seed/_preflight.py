"""Checks of the data spec that need no server: run before anything starts."""

from __future__ import annotations

from pgrehearse.scenario import (
    BetweenColumn,
    ChoiceColumn,
    DataSpec,
    IntColumn,
    RefColumn,
    moment_seconds,
)
from pgrehearse.seed._seeder import SeedError, scaled_rows

MAX_ROWS = 10_000_000_000


def preflight(data: DataSpec, scale: float) -> None:
    """Raise SeedError for row counts and unique generators that cannot work."""
    rows = {name: scaled_rows(table.rows, scale) for name, table in data.tables.items()}
    for name, table in data.tables.items():
        if rows[name] > MAX_ROWS:
            raise SeedError(
                name,
                f"{rows[name]:,} rows (rows x scale) is more than pgrehearse seeds ({MAX_ROWS:,})",
                hint="lower rows or --scale",
            )
        for column, spec in table.columns.items():
            capacity = _unique_capacity(spec, rows)
            if capacity is not None and capacity < rows[name]:
                raise SeedError(
                    name,
                    f"{name}.{column} must be unique, but its generator has only "
                    f"{capacity:,} distinct values for {rows[name]:,} rows",
                    column,
                    hint="widen the range / add values, lower rows or --scale, or drop unique",
                )


def _unique_capacity(spec: object, rows: dict[str, int]) -> int | None:
    if not getattr(spec, "unique", False):
        return None
    if isinstance(spec, ChoiceColumn):
        return len(spec.choice)
    if isinstance(spec, IntColumn):
        return spec.int_range[1] - spec.int_range[0] + 1
    if isinstance(spec, BetweenColumn):
        low, high = (moment_seconds(v) for v in spec.between)
        seconds = high - low
        dates_only = all(type(v).__name__ == "date" for v in spec.between)
        return seconds // 86_400 + 1 if dates_only else seconds + 1
    if isinstance(spec, RefColumn):
        return rows.get(spec.table)
    return None
