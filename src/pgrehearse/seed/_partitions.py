"""A partitioned table's bounds, as what they require of its key columns.

Rows are copied into the partitioned table and PostgreSQL routes each to its partition, so
a key value outside every partition fails the seed ("no partition of relation … found for
row"). Each level's single-column key is read as a constraint: range partitions as the
range their union covers (the longest run without gaps; with a DEFAULT partition, from the
lowest bound to the highest, gaps going to DEFAULT), list partitions as the values they
list (and, with a DEFAULT partition, one value none lists, where its kind can be told).
Every partition then gets rows as its bounds imply. Hash partitions need nothing.
"""

from __future__ import annotations

import itertools
import json
import re
import string
from dataclasses import dataclass, field
from typing import Any

import psycopg
from pglast import parser
from pglast.parser import ParseError

from pgrehearse.seed._checks import Bound, CheckFacts, Value, constant

# every partition of the tree (leaves and inner ones), its parent's key and its bound
_TREE = """
SELECT t.level, pt.partstrat,
       (SELECT array_agg(a.attname ORDER BY k.ord)
        FROM unnest(pt.partattrs::int2[]) WITH ORDINALITY AS k(attnum, ord)
        JOIN pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = k.attnum),
       pg_get_expr(c.relpartbound, c.oid)
FROM pg_partition_tree(%s::regclass) t
JOIN pg_class c ON c.oid = t.relid
JOIN pg_partitioned_table pt ON pt.partrelid = t.parentrelid
WHERE t.parentrelid IS NOT NULL
ORDER BY t.level
"""


@dataclass
class _Level:
    strategy: str  # r(ange), l(ist), h(ash)
    column: str | None  # None: an expression or several columns (not shaped)
    ranges: list[tuple[Value | None, Value | None]] = field(default_factory=list)
    values: list[Value] = field(default_factory=list)
    has_default: bool = False


def partition_facts(conn: psycopg.Connection[Any], relation: str) -> tuple[CheckFacts, list[str]]:
    """What the partition bounds require of each key column, and notes for the plan."""
    levels: dict[int, _Level] = {}
    for level, strategy, key, bound in conn.execute(_TREE, (relation,)):
        column = key[0] if key and len(key) == 1 else None
        current = levels.setdefault(level, _Level(strategy, column))
        _read_bound(current, bound or "")
    facts, notes = CheckFacts(), []
    for level in levels.values():
        if level.column is None or level.strategy == "h":
            continue
        column = facts.of(level.column)
        if level.strategy == "l" and level.values:
            column.allowed = list(dict.fromkeys(level.values))
            unlisted = _unlisted(column.allowed) if level.has_default else None
            if unlisted is not None:  # a value no partition lists, for the DEFAULT one
                column.allowed.append(unlisted)
        elif level.strategy == "r" and level.ranges and level.has_default:
            # from the lowest bound to the highest: what falls in a gap goes to DEFAULT
            low, high = _span(level.ranges)
            if low is not None:
                column.low = Bound(low, True)
            if high is not None:
                column.high = Bound(high, False)
        elif level.strategy == "r" and level.ranges:
            run, gaps = _longest_run(level.ranges)
            if gaps:
                notes.append(
                    f"partitions of {level.column} leave gaps between their ranges and there is "
                    "no DEFAULT partition: only the longest gap-free run of them gets rows"
                )
            low, high = run
            if low is not None:
                column.low = Bound(low, True)
            if high is not None:
                column.high = Bound(high, False)
    return facts, notes


def _read_bound(level: _Level, bound: str) -> None:
    text = bound.strip()
    if text.upper() == "DEFAULT":
        level.has_default = True
        return
    if text.upper().startswith("FOR VALUES IN"):
        level.values += [v for v in constants_of(text[len("FOR VALUES IN") :]) if v is not None]
        return
    upper = text.upper()
    if upper.startswith("FOR VALUES FROM") and " TO " in upper:
        cut = upper.index(" TO ")
        low = constants_of(text[len("FOR VALUES FROM") : cut])
        high = constants_of(text[cut + len(" TO ") :])
        if len(low) == 1 and len(high) == 1:
            level.ranges.append((low[0], high[0]))


def constants_of(text: str) -> list[Value | None]:
    """The constants of `( 'a', 1, MINVALUE )`; None for MINVALUE, MAXVALUE and NULL."""
    inner = text.strip().removeprefix("(").removesuffix(")")
    swapped = inner.replace("MINVALUE", "NULL").replace("MAXVALUE", "NULL")
    try:
        tree = json.loads(parser.parse_sql_json(f"SELECT {swapped}"))
        targets = tree["stmts"][0]["stmt"]["SelectStmt"]["targetList"]
    except (ParseError, KeyError, IndexError, ValueError):
        return []
    return [constant(target["ResTarget"]["val"]) for target in targets]


def _unlisted(values: list[Value]) -> Value | None:
    """A value of the same kind as `values` that none of them is: a number, or letters as
    many as the shortest value has (a char(2) country code stays 2 letters); None for other
    text (dates, codes), whose kind cannot be told from the values."""
    if all(isinstance(v, int) for v in values):
        return max(int(v) for v in values) + 1
    if all(isinstance(v, int | float) for v in values):
        return max(float(v) for v in values) + 1.0
    texts = [str(v) for v in values]
    if not all(re.fullmatch(r"[A-Za-z][A-Za-z_\- ]*", t) for t in texts):
        return None
    letters = string.ascii_uppercase if all(t.isupper() for t in texts) else string.ascii_lowercase
    length = min(len(t) for t in texts)
    for candidate in itertools.product(letters[::-1], repeat=length):
        if "".join(candidate) not in texts:
            return "".join(candidate)
    return None


def _span(
    ranges: list[tuple[Value | None, Value | None]],
) -> tuple[Value | None, Value | None]:
    """The lowest lower bound and the highest upper one (None where one is open)."""
    lows = [low for low, _ in ranges]
    highs = [high for _, high in ranges]
    low = None if None in lows else min(lows, key=_sortable)
    high = None if None in highs else max(highs, key=_sortable)
    return low, high


def _longest_run(
    ranges: list[tuple[Value | None, Value | None]],
) -> tuple[tuple[Value | None, Value | None], bool]:
    """The longest chain of ranges each starting where the last ended; whether any gap
    was left out. Open ends (MINVALUE/MAXVALUE) stay open."""
    ordered = sorted(ranges, key=lambda r: (r[0] is not None, _sortable(r[0])))
    runs: list[list[tuple[Value | None, Value | None]]] = []
    for item in ordered:
        if runs and runs[-1][-1][1] == item[0]:
            runs[-1].append(item)
        else:
            runs.append([item])
    best = max(runs, key=len)
    return (best[0][0], best[-1][1]), len(runs) > 1


def _sortable(value: Value | None) -> Any:
    if value is None:
        return ""
    return (0, value, "") if isinstance(value, int | float) else (1, 0, str(value))
