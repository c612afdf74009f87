"""Materialized views the schema left empty, filled after seeding."""

from __future__ import annotations

from typing import Any

import psycopg

from pgrehearse.rehearsal.context import RunContext

_EMPTY_VIEWS = """
SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'm' AND NOT c.relispopulated ORDER BY c.oid
"""


def refresh_materialized_views(ctx: RunContext, conn: Any) -> None:
    """Fill materialized views the schema left empty (WITH NO DATA), so they hold data
    like production's and take part in the round trip. Views over other views are retried
    until nothing more can be filled."""
    pending = [row[0] for row in conn.execute(_EMPTY_VIEWS)]
    while pending:
        failed = []
        for view in pending:
            try:
                conn.execute(f"REFRESH MATERIALIZED VIEW {view}")
            except psycopg.Error:
                failed.append(view)
        if len(failed) == len(pending):
            ctx.progress.note("materialized views left empty: " + ", ".join(failed))
            return
        pending = failed
    return
