"""Statistics of a table ANALYZE never saw, from a TABLESAMPLE of its rows.

`--sample-rows N` reads about N rows of such a table (`TABLESAMPLE SYSTEM`, whole pages,
repeatable) and computes what pg_stats would hold: the NULL share, the average width, the
distinct count (ANALYZE's own Haas-Stokes estimate), the most common values (those more
common than 1.25× the average, as ANALYZE keeps them, up to 100), 101 histogram bounds of
the others, and the correlation of values with physical order (the sample read in ctid
order). Nothing else of a user table is read.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import psycopg

from pgrehearse.seed import analyze_estimate

_ROWS_PER_PAGE_GUESS = 60  # to size the first sample; a second one corrects it
_MCV_LIMIT = 100
_HISTOGRAM_BOUNDS = 101
_NUMBER = re.compile(r"^(smallint|integer|bigint|numeric|real|double precision)\b")
_BLOCK = 8192


def sample_table(
    conn: psycopg.Connection[Any], name: str, types: dict[str, str], wanted: int, pages: int
) -> tuple[int, dict[str, dict[str, Any]]]:
    """About `wanted` rows of `name` through TABLESAMPLE: the table's estimated rows and each
    column's pg_stats-like statistics."""
    if pages <= 0 or wanted <= 0:
        return 0, {}
    columns = list(types)
    select = ", ".join(f"{_quoted(c)}::text" for c in columns)
    percent = min(100.0, 100.0 * wanted / (pages * _ROWS_PER_PAGE_GUESS))
    rows = _read(conn, name, select, percent)
    if len(rows) < wanted // 2 and percent < 100:  # fewer rows a page than guessed
        percent = min(100.0, percent * wanted / max(len(rows), 1))
        rows = _read(conn, name, select, percent)
    total = round(len(rows) * 100.0 / percent)
    if len(rows) > wanted:  # an even subset, physical order kept
        keep = np.sort(np.random.default_rng(7).choice(len(rows), wanted, replace=False))
        rows = [rows[i] for i in keep.tolist()]
    stats = {
        column: column_stats([row[i] for row in rows], _is_number(types[column]), total)
        for i, column in enumerate(columns)
    }
    return total, stats


def _read(
    conn: psycopg.Connection[Any], name: str, select: str, percent: float
) -> list[tuple[Any, ...]]:
    return conn.execute(
        f"SELECT {select} FROM {name} TABLESAMPLE SYSTEM ({percent:.6f}) REPEATABLE (42)"
        " ORDER BY ctid"
    ).fetchall()


def _quoted(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _is_number(type_text: str) -> bool:
    return _NUMBER.match(type_text) is not None


def column_stats(values: Sequence[str | None], numeric: bool, total_rows: int) -> dict[str, Any]:
    """pg_stats' columns for one column, from its sampled values in physical order."""
    present = [v for v in values if v is not None]
    count = len(values)
    stats: dict[str, Any] = {
        "null_frac": 1.0 - len(present) / count if count else 0.0,
        "avg_width": round(sum(len(v.encode()) + 1 for v in present) / len(present))
        if present
        else 0,
        "n_distinct": 0.0,
        "most_common_vals": None,
        "most_common_freqs": None,
        "histogram_bounds": None,
        "correlation": None,
    }
    if not present:
        return stats
    non_null_rows = max(1, round(total_rows * len(present) / count))
    codes = {value: code for code, value in enumerate(dict.fromkeys(present))}
    distinct = analyze_estimate(np.array([codes[v] for v in present]), non_null_rows)
    stats["n_distinct"] = (
        -round(distinct / max(total_rows, 1), 6)
        if distinct > 0.1 * total_rows
        else float(round(distinct))
    )
    counts = Counter(present)
    average = len(present) / len(counts)
    repeated = [(v, n) for v, n in counts.most_common() if n > 1]
    if len(counts) <= _MCV_LIMIT and len(repeated) == len(counts):
        common = repeated  # every value seen more than once: all of them are common
    else:
        common = [(v, n) for v, n in repeated if n > 1.25 * average][:_MCV_LIMIT]
    if common:
        stats["most_common_vals"] = [v for v, _ in common]
        stats["most_common_freqs"] = [round(n / count, 6) for _, n in common]
    key = (lambda v: float(v)) if numeric else (lambda v: v)
    try:
        ordered = sorted(counts, key=key)
    except ValueError:  # NaN, Infinity: compare as text
        ordered, key = sorted(counts), (lambda v: v)
    rank = {value: index for index, value in enumerate(ordered)}
    is_common = {v for v, _ in common}
    rest = sorted((v for v in present if v not in is_common), key=key)
    if len(set(rest)) >= 2:
        positions = np.linspace(0, len(rest) - 1, min(_HISTOGRAM_BOUNDS, len(rest)))
        stats["histogram_bounds"] = [rest[round(p)] for p in positions]
    if len(present) >= 2:
        ranks = np.array([rank[v] for v in present], dtype=np.float64)
        order = np.arange(len(present), dtype=np.float64)
        if ranks.std() > 0:
            value = float(np.corrcoef(order, ranks)[0, 1])
            stats["correlation"] = value if math.isfinite(value) else None
    return stats


def pages_of(conn: psycopg.Connection[Any], oid: int) -> int:
    row = conn.execute(
        "SELECT COALESCE(sum(pg_relation_size(r)), 0) FROM"
        " unnest(array(SELECT %s::oid UNION SELECT relid FROM pg_partition_tree(%s))) r",
        (oid, oid),
    ).fetchone()
    return int(row[0]) // _BLOCK if row else 0
