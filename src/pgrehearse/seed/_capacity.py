"""The most rows each table's unique columns allow, read from its inferred plan: a lookup
table keyed by an enum of three labels holds three rows, one keyed by a char(2) code 1,296,
and a join table keyed by two references as many as their tables' rows multiply to.
`pgrehearse init` sizes its tables with it, so the scenario it writes plans as written."""

from __future__ import annotations

from typing import Any

import psycopg

from pgrehearse.scenario import DataSpec
from pgrehearse.seed._plan import plan_all_tables
from pgrehearse.seed._plan_checks import combination_capacity, row_capacity
from pgrehearse.seed._seeder import SeedError, read_catalog


def rows_the_keys_allow(conn: psycopg.Connection[Any], rows: dict[str, int]) -> dict[str, int]:
    """`rows` (per table), each lowered to what the table's unique columns allow."""
    data = DataSpec.model_validate({"tables": {name: {"rows": n} for name, n in rows.items()}})
    try:
        plans, _ = plan_all_tables(data, read_catalog(conn, data, rows), rows)
    except (ValueError, LookupError, SeedError, psycopg.Error):
        conn.rollback()
        return dict(rows)  # sizing is a nicety: `plan` names what stops the scenario
    allowed = dict(rows)
    for plan in plans:  # referenced tables first: a key of references counts their rows
        capacities = [row_capacity(plan), combination_capacity(plan, allowed)]
        for capacity in capacities:
            if capacity is not None and capacity < allowed[plan.name]:
                allowed[plan.name] = capacity
    return allowed
