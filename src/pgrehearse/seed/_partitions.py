"""A partitioned table's bounds, as what they require of its key columns.

Rows are copied into the partitioned table and PostgreSQL routes each to its partition, so
a key value outside every partition fails the seed ("no partition of relation … found for
row"). Each level's single-column key is read as a constraint: range partitions as the
range their union covers (the longest run without gaps; with a DEFAULT partition, from the
lowest bound to the highest, gaps going to DEFAULT), list partitions as the values they
list (and, with a DEFAULT partition, one value none lists, where its kind can be told).
Every partition then gets rows as its bounds imply. Hash partitions need nothing. A key
that is an order-keeping expression of one column (`date_trunc('month', at)`, `lower(code)`)
shapes that column with the bounds as they are; other keys (several columns, other
expressions) are reported as unshaped, for the plan to ask for generators.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import string
from dataclasses import dataclass, field
from typing import Any

import psycopg
from pglast import parser
from pglast.parser import ParseError

from pgrehearse.seed._checks import Bound, CheckFacts
from pgrehearse.seed._expressions import Value, constant

# every partition of the tree (leaves and inner ones), its parent's key (plain columns,
# with NULL where an expression stands; the expressions) and its bound
_TREE = """
SELECT t.level, pt.partstrat,
       (SELECT array_agg(a.attname ORDER BY k.ord)
        FROM unnest(pt.partattrs::int2[]) WITH ORDINALITY AS k(attnum, ord)
        LEFT JOIN pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = k.attnum),
       pg_get_expr(pt.partexprs, pt.partrelid),
       pg_get_partkeydef(pt.partrelid),
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
    column: str | None  # None: several columns, or an expression not read (not shaped)
    key: str  # as pg_get_partkeydef prints it
    mentioned: list[str]  # the columns the key is made of
    ranges: list[tuple[Value | None, Value | None]] = field(default_factory=list)
    values: list[Value] = field(default_factory=list)
    has_default: bool = False
    bounds: list[str] = field(default_factory=list)  # as written, for a hint


@dataclass(frozen=True)
class UnshapedKey:
    """A partition key pgrehearse does not make values for: several columns, or an
    expression it cannot see through. Inferred values would miss the partitions."""

    key: str
    columns: tuple[str, ...]
    bounds: tuple[str, ...]


def partition_facts(
    conn: psycopg.Connection[Any], relation: str
) -> tuple[CheckFacts, list[str], list[UnshapedKey]]:
    """What the partition bounds require of each key column, notes for the plan, and the
    keys whose values are not shaped."""
    levels: dict[int, _Level] = {}
    for level, strategy, names, expressions, key, bound in conn.execute(_TREE, (relation,)):
        current = levels.get(level)
        if current is None:
            current = levels[level] = _key_level(strategy, names or [], expressions, key)
        _read_bound(current, bound or "")
    facts, notes, unshaped = CheckFacts(), [], []
    for level in levels.values():
        if level.strategy == "h":
            continue  # every value has a partition (remainders missing fail the schema)
        if level.column is None:
            if not level.has_default:
                unshaped.append(
                    UnshapedKey(level.key, tuple(level.mentioned), tuple(level.bounds[:4]))
                )
            continue
        if level.key != level.column:
            notes.append(
                f"partition key {level.key}: its values follow {level.column}'s, which takes "
                "the bounds as they are"
            )
        column = facts.of(level.column)
        # rows arrive in the key's order (events, logs): each leaf then takes a run of rows
        column.rising = column.rising or level.strategy == "r"
        if level.strategy == "l" and level.values:
            column.allowed = list(dict.fromkeys(level.values))
            unlisted = _unlisted(column.allowed) if level.has_default else None
            if unlisted is not None:  # a value no partition lists, for the DEFAULT one
                column.allowed.append(unlisted)
        elif level.strategy == "r" and level.ranges and level.has_default:
            # from the lowest bound to the highest: what falls in a gap goes to DEFAULT;
            # without gaps, a twentieth past the highest (rows no partition was made for yet)
            low, high = _span(level.ranges)
            if not _longest_run(level.ranges)[1]:
                high = _past(low, high)
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
    return facts, notes, unshaped


def _key_level(strategy: str, names: list[str | None], expressions: str | None, key: str) -> _Level:
    """A level of the tree: its key's one column where it has one, read through an
    order-keeping expression of one column (`date_trunc('month', at)`, `at::date`,
    `lower(code)`, `at AT TIME ZONE 'UTC'`)."""
    key_text = key.split("(", 1)[1].rsplit(")", 1)[0] if "(" in key else key
    plain = [n for n in names if n is not None]
    if len(names) == 1 and plain:
        return _Level(strategy, plain[0], key_text, plain)
    mentioned = plain + (_columns_of(expressions) if expressions else [])
    column = None
    if len(names) == 1 and expressions:
        column = _through_expression(expressions, strategy)
    return _Level(strategy, column, key_text, list(dict.fromkeys(mentioned)))


_KEEPS_ORDER = {"date_trunc", "timezone", "date"}  # timestamps in, the same order out
_KEEPS_VALUES = {"lower", "upper", "btrim", "trim"}  # values listed already fit them
_CAST_TYPES = {"date", "timestamp", "timestamptz", "text", "varchar"}


def _through_expression(expression: str, strategy: str) -> str | None:
    """The column an expression key is an order-keeping function of, when its bounds can
    be taken as the column's own; None otherwise."""
    try:
        tree = json.loads(parser.parse_sql_json(f"SELECT {expression}"))
        node = tree["stmts"][0]["stmt"]["SelectStmt"]["targetList"][0]["ResTarget"]["val"]
    except (ParseError, KeyError, IndexError, ValueError):
        return None
    allowed = _KEEPS_ORDER if strategy == "r" else _KEEPS_VALUES
    while True:
        if "ColumnRef" in node:
            fields = node["ColumnRef"]["fields"]
            return fields[-1]["String"]["sval"] if "String" in fields[-1] else None
        if "TypeCast" in node:
            names = node["TypeCast"]["typeName"]["names"]
            if names[-1]["String"]["sval"] not in _CAST_TYPES:
                return None
            node = node["TypeCast"]["arg"]
        elif "FuncCall" in node:
            call = node["FuncCall"]
            args = call.get("args") or []
            if call["funcname"][-1]["String"]["sval"] not in allowed or not args:
                return None
            node = args[-1]  # date_trunc(unit, x), timezone(zone, x), lower(x)
        else:
            return None


def _columns_of(expression: str) -> list[str]:
    return re.findall(r'(?<![\w."\'])"?([A-Za-z_][A-Za-z0-9_$]*)"?(?![\w"(\'])', expression)


def _read_bound(level: _Level, bound: str) -> None:
    text = bound.strip()
    level.bounds.append(text)
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


def _past(low: Value | None, high: Value | None) -> Value | None:
    """A twentieth of [low, high) past high: numbers, or dates and timestamps as the bounds
    write them; `high` itself where that cannot be told."""
    if low is None or high is None:
        return high
    if isinstance(low, int) and isinstance(high, int):
        return high + max(1, (high - low) // 20)
    if isinstance(low, int | float) and isinstance(high, int | float):
        return high + (high - low) / 20
    try:
        start, end = (_moment(str(low)), _moment(str(high)))
    except ValueError:
        return high
    later = end + (end - start) / 20
    if len(str(high)) == 10:  # a date
        return later.date().isoformat()
    return later.isoformat(sep=" ")


def _moment(text: str) -> dt.datetime:
    cleaned = text.strip()
    if re.search(r"[+-]\d\d$", cleaned):
        cleaned += ":00"  # PostgreSQL's +00 as ISO's +00:00
    return dt.datetime.fromisoformat(cleaned)


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
