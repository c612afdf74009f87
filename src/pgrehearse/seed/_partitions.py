"""A partitioned table's bounds, as what they require of its key columns.

Rows are copied into the partitioned table and PostgreSQL routes each to its partition, so
a key value outside every partition fails the seed ("no partition of relation … found for
row"). Each level's single-column key is read as a constraint: range partitions as the
range their union covers (the longest run without gaps, unless a DEFAULT partition takes
the rest), list partitions as the values they list. Every partition then gets rows as its
bounds imply. Hash partitions need nothing.
"""

from __future__ import annotations

import json
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
        if level.strategy == "l" and level.values and not level.has_default:
            column.allowed = list(dict.fromkeys(level.values))
        elif level.strategy == "r" and level.ranges and not level.has_default:
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
