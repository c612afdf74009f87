"""A fingerprint of the data: per table a row count, a row checksum and per-column checksums,
all order-independent and computed in the server.

Each value is hashed with `hashtextextended()` (64 bits) and the hashes are summed as
numeric, so the result does not depend on row order. The row checksum hashes each row's
values in column-name order (column order does not matter, a value moved to another row
does); the per-column sums say which column changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

_TABLES = """
SELECT n.nspname, c.relname,
       array_agg(a.attname::text ORDER BY a.attname) AS columns,
       c.relkind <> 'm' OR c.relispopulated AS readable
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p', 'm') AND NOT c.relispartition  -- partitions via parents
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
GROUP BY 1, 2, 4
"""
NOT_POPULATED = "materialized view not populated"


@dataclass
class TableChecksum:
    rows: int
    row_sum: str  # numeric as text: exact
    columns: dict[str, str] = field(default_factory=dict)


@dataclass
class DataFingerprint:
    tables: dict[str, TableChecksum] = field(default_factory=dict)
    seconds: float = 0.0
    rows: int = 0


def data_fingerprint(conn: psycopg.Connection[Any]) -> DataFingerprint:
    """Checksums of every user table (partitioned tables through their parents)."""
    import time

    began = time.perf_counter()
    fingerprint = DataFingerprint()
    for schema, table, columns, readable in conn.execute(_TABLES).fetchall():
        name = table if schema == "public" else f"{schema}.{table}"
        if not readable:  # WITH NO DATA: reading it is an error, its state is the fact
            fingerprint.tables[name] = TableChecksum(0, NOT_POPULATED)
            continue
        identifiers = [sql.Identifier(c) for c in columns]
        row_text = sql.SQL("ROW({})::text").format(sql.SQL(", ").join(identifiers))
        parts = [
            sql.SQL("count(*)"),
            sql.SQL("COALESCE(sum(hashtextextended({}, 0)::numeric), 0)").format(row_text),
        ]
        parts += [
            sql.SQL("COALESCE(sum(hashtextextended({}::text, 1)::numeric), 0)").format(column)
            for column in identifiers
        ]
        query = sql.SQL("SELECT {} FROM {}").format(
            sql.SQL(", ").join(parts), sql.Identifier(schema, table)
        )
        row = conn.execute(query).fetchone()
        assert row is not None
        fingerprint.tables[name] = TableChecksum(
            int(row[0]), str(row[1]), {c: str(v) for c, v in zip(columns, row[2:], strict=True)}
        )
        fingerprint.rows += int(row[0])
    fingerprint.seconds = time.perf_counter() - began
    return fingerprint
