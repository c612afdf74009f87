"""CHECK constraints tried at plan time on sample rows made by the table's own generators,
so that a seed does not fail at row 3,000,000 on something 200 sample rows already break:
those pgrehearse cannot build values for (a function call, an expression over several
columns), and those it builds values for, whose generators the scenario may have given.

The sample rows are the table's generators' first rows (NULLs placed, `after` columns
linked, NULL patterns followed), with references to made-up keys 1..200: a CHECK over a
reference compares it with constants or other columns, never with the referenced table.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg import sql

from pgrehearse.scenario import FakerColumn, RefColumn, RefsByColumn, SqlColumn
from pgrehearse.seed._catalog import mentions
from pgrehearse.seed._format import copy_unescape
from pgrehearse.seed._generators import NULL, Column, column_rng
from pgrehearse.seed._plan_model import TablePlan
from pgrehearse.seed._tables import row_key, sql_pool, table_columns

SAMPLE_ROWS = 200


def sampled_check_problems(
    conn: psycopg.Connection[Any], table_plan: TablePlan
) -> list[tuple[list[str], str, str]]:
    """(its columns, check name, values that break it) for each CHECK over generated
    columns that sample rows break: those in a form pgrehearse does not build values for,
    and those it does (a generator given in the scenario need not keep to them, and an
    inferred one that missed one is caught here, not at row 3,000,000)."""
    checks = table_plan.info.checks
    planned = {c.name for c in table_plan.columns}
    wanted = []
    for name, definition in checks.every.items():
        columns = [c for c in table_plan.info.columns if definition and mentions(definition, c)]
        if definition and columns and all(c in planned for c in columns):
            wanted.append((name, definition, columns))
    if not wanted or table_plan.rows == 0:
        return []
    rows = _sample_rows(conn, table_plan)
    if rows is None:
        return []
    found: list[tuple[list[str], str, str]] = []
    for name, definition, columns in wanted:
        broken = _first_breaking(conn, table_plan, definition, columns, rows)
        if broken is not None:
            shown = ", ".join(f"{c}={v!r}" for c, v in broken.items())
            found.append((columns, name, repr(broken[columns[0]]) if len(columns) == 1 else shown))
    return found


def _sample_rows(
    conn: psycopg.Connection[Any], table_plan: TablePlan
) -> dict[str, list[str | None]] | None:
    """Each generated column's values in the sample rows; None when they cannot be made
    before the seed (the seed then tells)."""
    count = min(SAMPLE_ROWS, table_plan.rows)  # a table of 4 rows makes only 4
    # Faker's pools as small as the sample: 5,000 names take half a second to make
    small = [
        dataclasses.replace(c, spec=c.spec.model_copy(update={"pool": min(c.spec.pool, count)}))
        if isinstance(c.spec, FakerColumn)
        else c
        for c in table_plan.columns
    ]
    sample = dataclasses.replace(
        table_plan, rows=count, columns=small, notes=list(table_plan.notes)
    )
    keys: npt.NDArray[np.int64] = np.arange(1, count + 1, dtype=np.int64)
    ref_keys: dict[str, npt.NDArray[Any]] = {}
    for columns, table, _referenced in table_plan.row_refs:
        ref_keys[row_key(table, columns)] = np.array(
            [keys.astype(object) for _ in columns], dtype=object
        )
    pools: dict[str, list[str]] = {}
    for planned in table_plan.columns:
        key = f"{table_plan.name}.{planned.name}"
        if isinstance(planned.spec, RefColumn):
            ref_keys[planned.spec.ref] = keys
        elif isinstance(planned.spec, RefsByColumn):
            ref_keys.update((target.ref, keys) for target in planned.spec.targets)
        elif isinstance(planned.spec, SqlColumn):
            fewer = planned.spec.model_copy(update={"pool": min(planned.spec.pool, count)})
            try:
                pools[key] = sql_pool(conn, fewer, 0, key)
            except (psycopg.Error, ValueError):
                return None  # reported by the sample check of the sql generator
    try:
        made = table_columns(sample, 0, ref_keys, pools)
    except (ValueError, TypeError, KeyError):
        return None
    return {column.name: _rendered(column, table_plan.name, count) for column in made}


def _rendered(column: Column, table: str, count: int) -> list[str | None]:
    values = column.render(0, count, column_rng(0, table, column.name, 0))
    return [None if v == NULL else copy_unescape(v) for v in values]  # the values as sent


def _first_breaking(
    conn: psycopg.Connection[Any],
    table_plan: TablePlan,
    definition: str,
    columns: list[str],
    rows: dict[str, list[str | None]],
) -> dict[str, str | None] | None:
    """The first sample row (its values of `columns`) for which the CHECK is false."""
    names = [f"v{i}" for i in range(len(columns))]
    typed = sql.SQL(", ").join(
        sql.SQL("{}::{} AS {}").format(
            sql.Identifier(name),
            # a domain's base type: a value breaking one of its CHECKs is found, not raised
            sql.SQL(table_plan.info.columns[column].value_type),
            sql.Identifier(column),
        )
        for name, column in zip(names, columns, strict=True)
    )
    query = sql.SQL(
        "SELECT * FROM (SELECT {} FROM unnest({}) AS s({})) AS t WHERE NOT ({}) LIMIT 1"
    ).format(
        typed,
        sql.SQL(", ").join(sql.SQL("%s::text[]") for _ in columns),
        sql.SQL(", ").join(map(sql.Identifier, names)),
        sql.SQL(definition),
    )
    try:
        with conn.transaction():
            row = conn.execute(query, [rows[c] for c in columns]).fetchone()
    except psycopg.Error:
        return None  # the expression cannot be tried this way: the seed will tell
    if row is None:
        return None
    return {c: _shown(v) for c, v in zip(columns, row, strict=True)}


def _shown(value: Any) -> str | None:
    """A value the server gave back, as its text (JSON as JSON, not as Python's repr)."""
    if value is None:
        return None
    if isinstance(value, bytes | memoryview):
        return "\\x" + bytes(value).hex()  # as bytea's own text
    return json.dumps(value) if isinstance(value, dict | list) else str(value)
