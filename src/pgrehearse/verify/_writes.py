"""Which tables and columns the application load writes (their data cannot round-trip)."""

from __future__ import annotations

from typing import Any

from pglast import parser


def written_by(statements: list[str]) -> dict[str, set[str] | None]:
    """table -> columns the statements UPDATE, or None when they INSERT or DELETE rows."""
    written: dict[str, set[str] | None] = {}
    for text in statements:
        try:
            parsed = parser.parse_sql(text)
        except parser.ParseError:
            continue
        for raw in parsed:
            node: Any = raw.stmt
            kind = type(node).__name__
            if kind not in ("UpdateStmt", "InsertStmt", "DeleteStmt", "MergeStmt"):
                continue
            relation = node.relation
            name = (
                relation.relname
                if relation.schemaname in (None, "public")
                else (f"{relation.schemaname}.{relation.relname}")
            )
            if kind == "UpdateStmt" and written.get(name, set()) is not None:
                columns = written.setdefault(name, set())
                assert columns is not None
                columns.update(target.name for target in node.targetList or ())
            else:
                written[name] = None
    return written


def rows_inserted_by(statement: str) -> tuple[str, int] | None:
    """(table, rows) for an `INSERT … VALUES` of literal rows without `ON CONFLICT` (each
    successful run adds exactly that many rows); None for anything else."""
    try:
        parsed = parser.parse_sql(statement)
    except parser.ParseError:
        return None
    if len(parsed) != 1:
        return None
    node: Any = parsed[0].stmt
    if type(node).__name__ != "InsertStmt" or node.onConflictClause is not None:
        return None
    values = getattr(node.selectStmt, "valuesLists", None)
    if not values:
        return None
    relation = node.relation
    name = (
        relation.relname
        if relation.schemaname in (None, "public")
        else f"{relation.schemaname}.{relation.relname}"
    )
    return name, len(values)
