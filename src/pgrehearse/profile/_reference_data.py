"""Reference data: a table the schema (or a migration) fills with rows that name their own
keys (`INSERT INTO order_status VALUES (1, 'NEW'), (2, 'PAID')`). `init` gives it
`rows: 0`, which keeps those rows and adds none: twenty thousand order statuses would
spread every order over statuses no application knows."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import psycopg

from pgrehearse.seed import SCENARIO_NAME_SQL, holds_rows

# tables whose primary key has no default and is not a type an application makes its own
# keys in (a uuid, a bigint): the rows the schema inserts are all there are
_SELF_KEYED = f"""
SELECT {SCENARIO_NAME_SQL.format("c.conrelid")}
FROM pg_constraint c
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
WHERE c.contype = 'p'
GROUP BY c.conrelid
HAVING bool_and(NOT a.atthasdef AND a.attidentity = '' AND a.attgenerated = ''
                AND a.atttypid NOT IN ('uuid'::regtype, 'int8'::regtype))
"""


def reference_tables(conn: psycopg.Connection[Any], tables: Collection[str]) -> list[str]:
    """Of `tables`, those that hold rows already and name their own keys."""
    self_keyed = [str(t) for (t,) in conn.execute(_SELF_KEYED).fetchall()]
    return sorted(t for t in self_keyed if t in tables and holds_rows(conn, t))
