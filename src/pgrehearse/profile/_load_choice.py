"""Which tables the load of a scenario `init` writes reads: the ones the pending migration
names first (the application meets the migration's locks there), then the largest, then
the most referenced by foreign keys (a schema's central tables: its users, its orders)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from pglast import parser
from pglast.parser import ParseError

from pgrehearse.psql import PsqlCommandError, psql_pieces
from pgrehearse.seed import SCENARIO_NAME_SQL

_REFERENCED = f"""
SELECT {SCENARIO_NAME_SQL.format("c.confrelid")}, count(*)
FROM pg_constraint c WHERE c.contype = 'f' GROUP BY c.confrelid
"""
# a relation by the name a statement wrote (a partition stands for its partitioned table)
_RESOLVED = f"""
SELECT {SCENARIO_NAME_SQL.format("coalesce(pg_partition_root(r), r)")}
FROM (SELECT to_regclass(%s) AS r) named WHERE r IS NOT NULL
"""
# statements end with `;` at a line's end, for a migration that does not parse as a whole
_STATEMENT_END = re.compile(r";[ \t]*$", re.MULTILINE)
_META_COMMAND = re.compile(r"^[ \t]*\\.*$", re.MULTILINE)


def relations_named(sql: str) -> list[str]:
    """The relations the statements of `sql` name (`"schema"."table"` as written), first
    named first."""
    try:  # as psql sends it: meta-commands blanked, variables replaced
        sql = "\n".join(piece.text for piece in psql_pieces(sql, None))
    except PsqlCommandError:  # one psql could not run either: the rest still counts
        sql = _META_COMMAND.sub("", sql)
    try:
        trees = [json.loads(parser.parse_sql_json(sql))]
    except (ParseError, ValueError):
        trees = []
        for piece in _STATEMENT_END.split(sql):
            try:
                trees.append(json.loads(parser.parse_sql_json(piece)))
            except (ParseError, ValueError):
                continue
    found: list[str] = []
    for tree in trees:
        _range_vars(tree, found)
    return list(dict.fromkeys(found))


def _range_vars(node: Any, found: list[str]) -> None:
    if isinstance(node, dict):
        # a RangeVar: wrapped where any node may stand, bare in a field that holds one
        if "relname" in node and "relpersistence" in node:
            parts = [p for p in (node.get("schemaname"), node["relname"]) if p]
            found.append(".".join('"' + p.replace('"', '""') + '"' for p in parts))
        for value in node.values():
            _range_vars(value, found)
    elif isinstance(node, list):
        for value in node:
            _range_vars(value, found)


def tables_to_load(
    conn: psycopg.Connection[Any],
    rows: Mapping[str, int],
    keys: Mapping[str, str],
    pending_sql: str,
    count: int,
) -> list[str]:
    """Up to `count` tables with rows and a one-column primary key, in the order above."""
    named: list[str] = []
    for relation in relations_named(pending_sql):
        found = conn.execute(_RESOLVED, (relation,)).fetchone()
        if found is not None and found[0] not in named:
            named.append(str(found[0]))
    referenced = {str(t): int(n) for t, n in conn.execute(_REFERENCED).fetchall()}
    candidates = [t for t in rows if t in keys and rows[t] > 0]
    return sorted(candidates, key=lambda t: _rank(t, named, rows, referenced))[:count]


def _rank(
    table: str, named: Sequence[str], rows: Mapping[str, int], referenced: Mapping[str, int]
) -> tuple[int, int, int, str]:
    position = named.index(table) if table in named else len(named)
    return position, -rows[table], -referenced.get(table, 0), table
