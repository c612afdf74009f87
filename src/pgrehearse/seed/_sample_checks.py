"""CHECK constraints pgrehearse cannot build values for (a regular expression, a function
call), tried at plan time on a sample of what the column's generator makes, so that a
seed does not fail at row 3,000,000 on something 200 sample values already break."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from pgrehearse.scenario import ColumnSpec, RefColumn, SqlColumn
from pgrehearse.seed._generators import GeneratorContext, build_generator
from pgrehearse.seed._plan_model import TablePlan
from pgrehearse.seed._tables import sql_pool

SAMPLE_ROWS = 200


def sampled_check_problems(
    conn: psycopg.Connection[Any], table_plan: TablePlan
) -> list[tuple[str, str, str]]:
    """(column, check name, a value that breaks it) for each CHECK in a form pgrehearse
    does not build values for, over one generated column, that sample values break."""
    checks = table_plan.info.checks
    planned = {c.name: c.spec for c in table_plan.columns}
    found = []
    for name in checks.not_understood:
        definition = checks.definitions.get(name)
        if definition is None:
            continue
        columns = [c for c in table_plan.info.columns if _mentions(definition, c)]
        if len(columns) != 1 or columns[0] not in planned:
            continue
        column = columns[0]
        values = _sample(conn, planned[column], table_plan.name, column)
        if not values:
            continue
        type_text = table_plan.info.columns[column].type_text
        expression = _with_value(definition, column, type_text)
        query = sql.SQL("SELECT v FROM unnest(%s::text[]) AS v WHERE NOT ({}) LIMIT 1").format(
            sql.SQL(expression)
        )
        try:
            with conn.transaction():
                row = conn.execute(query, (values,)).fetchone()
        except psycopg.Error:
            continue  # the expression cannot be tried this way: the seed will tell
        if row is not None:
            found.append((column, name, str(row[0])))
    return found


def _sample(conn: psycopg.Connection[Any], spec: ColumnSpec, table: str, column: str) -> list[str]:
    if isinstance(spec, RefColumn):
        return []  # valid references: whatever the referenced table holds
    if isinstance(spec, SqlColumn):
        small = spec.model_copy(update={"pool": min(spec.pool, SAMPLE_ROWS)})
        try:
            return sql_pool(conn, small, 0, f"{table}.{column}")
        except (psycopg.Error, ValueError):
            return []  # reported by the sample check of the sql generator
    try:
        generator = build_generator(spec, GeneratorContext(0, table, column, SAMPLE_ROWS))
        return generator.values(0, SAMPLE_ROWS, np.random.default_rng(0))
    except (ValueError, TypeError):
        return []


def _mentions(expression: str, column: str) -> bool:
    pattern = r'(?<![\w"])"?' + re.escape(column) + r'"?(?![\w"])'
    return re.search(pattern, expression) is not None


def _with_value(expression: str, column: str, type_text: str) -> str:
    """The CHECK with the column replaced by the sampled value `v`, cast to its type."""
    pattern = r'(?<![\w"])"?' + re.escape(column) + r'"?(?![\w"])'
    return re.sub(pattern, f"(v::{type_text})", expression)
