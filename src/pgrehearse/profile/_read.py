"""Read a database's shape from its catalog and `pg_stats`, copying no rows.

Everything runs in one read-only, repeatable-read transaction with a statement timeout
and a lock timeout, and reads only catalog tables, `pg_stats` and size functions. The only
user-table reads are `count(*)` when exact counts are asked for, and a TABLESAMPLE of a
table ANALYZE never saw when `--sample-rows` asks for one.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Sequence
from typing import Any

import psycopg

from pgrehearse.profile._sample import pages_of, sample_table
from pgrehearse.seed import SCENARIO_NAME_SQL

# tables of the user's schemas: plain tables and partitioned parents (their leaves are
# seeded through them), not members of extensions
_TABLES = f"""
SELECT c.oid, c.oid::regclass::text, c.relkind = 'p',
       CASE WHEN c.relkind = 'p' THEN
            (SELECT COALESCE(sum(GREATEST(l.reltuples, 0)), 0) FROM pg_partition_tree(c.oid) t
             JOIN pg_class l ON l.oid = t.relid WHERE t.isleaf)
            ELSE GREATEST(c.reltuples, 0) END,
       CASE WHEN c.relkind = 'p' THEN
            (SELECT bool_and(l.reltuples >= 0) FROM pg_partition_tree(c.oid) t
             JOIN pg_class l ON l.oid = t.relid WHERE t.isleaf)
            ELSE c.reltuples >= 0 END,
       (SELECT COALESCE(sum(pg_relation_size(r)), 0) FROM unnest(m.members) r),
       (SELECT COALESCE(sum(pg_table_size(r) - pg_relation_size(r) - pg_relation_size(r, 'fsm')
                            - pg_relation_size(r, 'vm')), 0) FROM unnest(m.members) r),
       (SELECT COALESCE(sum(pg_indexes_size(r)), 0) FROM unnest(m.members) r),
       has_table_privilege(c.oid, 'SELECT'),
       {SCENARIO_NAME_SQL.format("c.oid")}
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
-- the table itself, or every member of its partition tree
CROSS JOIN LATERAL (SELECT array(SELECT c.oid UNION SELECT relid FROM pg_partition_tree(c.oid))
                    AS members) m
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 2
"""

# an array column's common values are arrays themselves: only their elements are read
_STATS = """
SELECT s.attname, s.null_frac, s.avg_width, s.n_distinct,
       CASE WHEN t.typcategory <> 'A' THEN s.most_common_vals::text::text[] END,
       CASE WHEN t.typcategory <> 'A' THEN s.most_common_freqs END,
       CASE WHEN t.typcategory <> 'A' THEN s.histogram_bounds::text::text[] END,
       s.correlation,
       s.most_common_elems::text::text[], s.most_common_elem_freqs, s.elem_count_histogram
FROM pg_stats s
JOIN pg_class c ON c.relname = s.tablename
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = s.schemaname
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = s.attname
JOIN pg_type t ON t.oid = a.atttypid
WHERE c.oid = %s AND s.inherited = %s
"""

_TYPES = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""

_REFERENCED = f"""
SELECT DISTINCT {SCENARIO_NAME_SQL.format("c.confrelid")} FROM pg_constraint c
WHERE c.contype = 'f' AND (c.conrelid = %(t)s
      OR c.conrelid IN (SELECT relid FROM pg_partition_tree(%(t)s)))
"""

_INDEXES = """
SELECT i.indexrelid::regclass::text, pg_relation_size(i.indexrelid)
FROM pg_index i WHERE i.indrelid = %s ORDER BY 1
"""

PROFILE_FORMAT = 1
_NO_ELEMENTS = {
    "most_common_elems": None,
    "most_common_elem_freqs": None,
    "elem_count_histogram": None,
}


class ProfileAccessError(Exception):
    """The role cannot read what a profile needs."""


def begin_read_only(conn: psycopg.Connection[Any], timeout_s: float = 60.0) -> None:
    """One read-only snapshot: nothing the profile does can write, or wait long on a lock."""
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    conn.execute("SELECT set_config('statement_timeout', %s, true)", (f"{int(timeout_s)}s",))
    conn.execute("SELECT set_config('lock_timeout', '5s', true)")
    conn.execute("SELECT set_config('search_path', 'public', true)")
    conn.execute("SELECT set_config('TimeZone', 'UTC', true)")
    conn.execute("SELECT set_config('DateStyle', 'ISO, YMD', true)")
    conn.execute("SELECT set_config('extra_float_digits', '1', true)")


def matching_tables(all_tables: Sequence[str], patterns: Sequence[str]) -> list[str]:
    """The tables whose name, or unqualified name, matches any of the shell-style
    patterns (every table when there are none)."""
    if not patterns:
        return list(all_tables)
    return [
        table
        for table in all_tables
        if any(
            fnmatch.fnmatchcase(table, p) or fnmatch.fnmatchcase(table.rsplit(".", 1)[-1], p)
            for p in patterns
        )
    ]


def read_profile(
    conn: psycopg.Connection[Any],
    patterns: Sequence[str] = (),
    *,
    exact_counts: bool = False,
    tables: Sequence[str] | None = None,
    sample_rows: int = 0,
) -> dict[str, Any]:
    """The profile of the tables matching `patterns` (or exactly `tables`), and of every
    table their foreign keys reach, read inside the caller's read-only transaction. A
    table ANALYZE never saw is sampled (`sample_rows` rows, TABLESAMPLE) when asked."""
    # keyed by the name as the scenario spells it; SQL uses regclass's (quoted) text
    found = {row[-1]: row for row in conn.execute(_TABLES).fetchall()}
    wanted = list(tables) if tables is not None else matching_tables(list(found), patterns)
    if tables is None:
        wanted = _with_referenced(conn, found, wanted)
    version = conn.execute("SHOW server_version").fetchone()
    profile: dict[str, Any] = {
        "format": PROFILE_FORMAT,
        "source": {
            "server_version": str(version[0]).split()[0] if version else "",
            "database": conn.info.dbname,
            "taken_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "exact_counts": exact_counts,
        },
        "tables": {},
        "warnings": [],
    }
    for name in wanted:
        if name not in found:
            continue
        oid, relation, partitioned, reltuples, counted, heap, toast, index_bytes, readable, _ = (
            found[name]
        )
        table: dict[str, Any] = {
            "rows": round(float(reltuples)),
            "rows_exact": False,
            "partitioned": bool(partitioned),
            "heap_bytes": int(heap),
            "toast_bytes": int(toast),
            "index_bytes": int(index_bytes),
            "indexes": dict(conn.execute(_INDEXES, (oid,)).fetchall()),
            "analyzed": False,
            "stats_visible": bool(readable),
            "columns": {},
        }
        if exact_counts and readable:
            row = conn.execute(f"SELECT count(*) FROM {relation}").fetchone()
            table["rows"], table["rows_exact"] = int(row[0]) if row else 0, True
        types = dict(conn.execute(_TYPES, (oid,)).fetchall())
        stats = {row[0]: row for row in conn.execute(_STATS, (oid, bool(partitioned)))}
        table["analyzed"] = bool(stats) or (bool(counted) and table["rows"] == 0)
        for column, type_text in types.items():
            table["columns"][column] = _column(type_text, stats.get(column))
        never_analyzed = not stats and (table["rows"] > 0 or not counted)
        if not readable:
            profile["warnings"].append(
                f"{name}: this role cannot read the table, so pg_stats hides its columns; "
                "its values are inferred (grant SELECT on it, or profile as its owner)"
            )
        elif never_analyzed and sample_rows > 0:
            total, sampled = sample_table(conn, relation, types, sample_rows, pages_of(conn, oid))
            if not table["rows_exact"]:
                table["rows"] = total
            table["sampled"] = True
            for column, type_text in types.items():
                table["columns"][column] = {"type": type_text, **_NO_ELEMENTS, **sampled[column]}
        elif never_analyzed:
            profile["warnings"].append(
                f"{name}: no statistics (never analyzed); its values are inferred and its "
                f"rows are {table['rows']:,} (run ANALYZE {relation} on the source first, or "
                "pass --sample-rows N)"
            )
        profile["tables"][name] = table
    return profile


def _with_referenced(
    conn: psycopg.Connection[Any], found: dict[str, Any], wanted: list[str]
) -> list[str]:
    """`wanted` plus the tables their foreign keys reach, transitively: a child's rows need
    parents to point at."""
    result = list(wanted)
    pending = list(wanted)
    while pending:
        name = pending.pop()
        if name not in found:
            continue
        for (target,) in conn.execute(_REFERENCED, {"t": found[name][0]}).fetchall():
            if target in found and target not in result:
                result.append(target)
                pending.append(target)
    return result


def _column(type_text: str, row: Sequence[Any] | None) -> dict[str, Any]:
    column: dict[str, Any] = {"type": type_text}
    if row is None:
        return column
    (
        _,
        null_frac,
        avg_width,
        n_distinct,
        mcv,
        mcf,
        histogram,
        correlation,
        mce,
        mcef,
        elem_counts,
    ) = row
    column.update(
        null_frac=float(null_frac),
        avg_width=int(avg_width),
        n_distinct=float(n_distinct),
        most_common_vals=list(mcv) if mcv is not None else None,
        most_common_freqs=[float(f) for f in mcf] if mcf is not None else None,
        histogram_bounds=list(histogram) if histogram is not None else None,
        correlation=float(correlation) if correlation is not None else None,
        most_common_elems=list(mce) if mce is not None else None,
        most_common_elem_freqs=[float(f) for f in mcef] if mcef is not None else None,
        elem_count_histogram=[float(f) for f in elem_counts] if elem_counts is not None else None,
    )
    return column
