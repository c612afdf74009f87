"""Reading PostgreSQL's parse trees (pglast's JSON) of CHECK expressions and partition
bounds: columns, constants, operators."""

from __future__ import annotations

from typing import Any

Value = int | float | str
LENGTH_FUNCTIONS = {"length", "char_length", "character_length", "octet_length"}


def columns_in(nodes: Any) -> set[str]:
    """Every column an expression names."""
    found: set[str] = set()
    if isinstance(nodes, list):
        for node in nodes:
            found |= columns_in(node)
    elif isinstance(nodes, dict):
        column = column_of(nodes) if "ColumnRef" in nodes else None
        if column is not None:
            found.add(column)
        for value in nodes.values():
            found |= columns_in(value)
    return found


def null_tested(node: dict[str, Any], test: str) -> str | None:
    """The column of `column IS NULL` (test IS_NULL) or `IS NOT NULL` (IS_NOT_NULL)."""
    found = node.get("NullTest")
    if found is None or found["nulltesttype"] != test:
        return None
    return column_of(found["arg"])


def operator_of(expr: dict[str, Any]) -> str | None:
    names = expr.get("name") or []
    return names[-1]["String"]["sval"] if names else None


def strip_casts(node: Any) -> Any:
    while isinstance(node, dict) and "TypeCast" in node:
        node = node["TypeCast"]["arg"]
    return node


def column_of(node: Any) -> str | None:
    node = strip_casts(node)
    if not isinstance(node, dict) or "ColumnRef" not in node:
        return None
    fields = node["ColumnRef"]["fields"]
    last = fields[-1]
    return last["String"]["sval"] if "String" in last else None


def length_of(node: Any) -> str | None:
    node = strip_casts(node)
    if not isinstance(node, dict) or "FuncCall" not in node:
        return None
    call = node["FuncCall"]
    name = call["funcname"][-1]["String"]["sval"]
    args = call.get("args") or []
    if name not in LENGTH_FUNCTIONS or len(args) != 1:
        return None
    return column_of(args[0])


def constant(node: Any) -> Value | None:
    """The value of a constant node (casts around it ignored); None for anything else."""
    node = strip_casts(node)
    if not isinstance(node, dict) or "A_Const" not in node:
        return None
    const = node["A_Const"]
    if "ival" in const:
        return int(const["ival"].get("ival", 0))
    if "fval" in const:
        return float(const["fval"]["fval"])
    if "sval" in const:
        return str(const["sval"].get("sval", ""))
    return None  # NULL, booleans, bit strings


def constant_list(node: Any) -> list[Value] | None:
    node = strip_casts(node)
    if isinstance(node, dict) and "A_ArrayExpr" in node:
        elements = node["A_ArrayExpr"].get("elements") or []
    elif isinstance(node, dict) and "List" in node:  # IN (…) as written
        elements = node["List"].get("items") or []
    elif isinstance(node, list):
        elements = node
    else:
        return None
    values = [constant(element) for element in elements]
    return None if any(v is None for v in values) else [v for v in values if v is not None]
