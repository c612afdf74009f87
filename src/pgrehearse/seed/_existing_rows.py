"""A seeded table that the schema already filled (reference rows a migration inserts:
`INSERT INTO order_status VALUES (1, 'NEW'), …`) keeps those rows; a numbered unique column
continues after their largest value, so that no seeded row repeats one of their keys."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from pgrehearse.scenario import SequenceColumn
from pgrehearse.seed._plan_model import PlannedColumn, TablePlan
from pgrehearse.seed._tables import qualified


def continue_after_existing_rows(conn: psycopg.Connection[Any], plans: list[TablePlan]) -> None:
    for table_plan in plans:
        numbered = [c for c in table_plan.columns if isinstance(c.spec, SequenceColumn)]
        if not numbered or table_plan.rows == 0:
            continue
        query = sql.SQL("SELECT count(*), {} FROM {}").format(
            sql.SQL(", ").join(sql.SQL("max({})").format(sql.Identifier(c.name)) for c in numbered),
            qualified(table_plan.name),
        )
        found = conn.execute(query).fetchone()
        if found is None or not found[0]:
            continue
        for column, largest in zip(numbered, found[1:], strict=True):
            assert isinstance(column.spec, SequenceColumn)
            if largest is None or int(largest) < column.spec.sequence:
                continue
            start = int(largest) + 1
            spec = column.spec.model_copy(update={"sequence": start})
            index = table_plan.columns.index(column)
            table_plan.columns[index] = PlannedColumn(column.name, spec, column.inferred)
            table_plan.notes.append(
                f"the schema already put {found[0]:,} row(s) in {table_plan.name}, which stay: "
                f"{column.name} continues from {start:,}, after their largest"
            )
