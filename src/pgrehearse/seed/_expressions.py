"""Reading PostgreSQL's parse trees (pglast's JSON) of CHECK expressions and partition
bounds: columns, constants, operators."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from typing import Any

Value = int | float | str
LENGTH_FUNCTIONS = {"length", "char_length", "character_length", "octet_length"}

_ELEMENT = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|([^",{}]*?))\s*(?:,|$)')
_INTEGER_TYPES = {"int2", "int4", "int8", "smallint", "integer", "bigint", "int"}
_DECIMAL_TYPES = {"numeric", "decimal", "float4", "float8", "real"}


def _array_literal(node: Any) -> list[Value] | None:
    """The elements of an array written as text and cast to an array type
    (`'{free,pro}'::text[]`, as `= ANY ('{…}'::text[])` holds them); None for anything
    else, and for one holding NULL or a nested array."""
    if not isinstance(node, dict) or "TypeCast" not in node:
        return None
    cast = node["TypeCast"]
    if not cast["typeName"].get("arrayBounds"):
        return None
    text = constant(cast["arg"])
    if not isinstance(text, str):
        return None
    inner = text.strip()
    if not (inner.startswith("{") and inner.endswith("}")) or "{" in inner[1:-1]:
        return None
    body = inner[1:-1]
    elements: list[str] = []
    at = 0
    while at < len(body):
        found = _ELEMENT.match(body, at)
        if found is None or found.end() == at:
            return None
        quoted, bare = found.groups()
        if bare is not None and bare.upper() == "NULL":
            return None
        elements.append(re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare)
        at = found.end()
    kind = cast["typeName"]["names"][-1]["String"]["sval"]
    try:
        if kind in _INTEGER_TYPES:
            return [int(e) for e in elements]
        if kind in _DECIMAL_TYPES:
            return [float(e) for e in elements]
    except ValueError:
        return None
    return list(elements)


# a comparison read the other way round: `0 < a` is `a > 0`
FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "<>": "<>"}


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


def called_on_column(node: Any) -> tuple[str, str] | None:
    """`(function, column)` of a call of one argument that is a column (`upper(email)`,
    `jsonb_typeof(tags)`, casts around either ignored); None for anything else."""
    call = strip_casts(node)
    if not isinstance(call, dict) or "FuncCall" not in call:
        return None
    args = call["FuncCall"].get("args") or []
    column = column_of(args[0]) if len(args) == 1 else None
    if column is None:
        return None
    return call["FuncCall"]["funcname"][-1]["String"]["sval"], column


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
    literal = _array_literal(node)
    if literal is not None:
        return literal
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


# the moment `now()` is for a bound values must stay below: the end of the span inferred
# moments take (`_infer`), so that rows keep to a CHECK such as `hired <= now()` on any later
# day; a bound they must stay above (`expires > now()`) is the real tomorrow instead
SYNTHETIC_NOW = dt.datetime(2026, 1, 1)
_CURRENT_MOMENTS = {"now", "statement_timestamp", "transaction_timestamp", "clock_timestamp"}
_INTERVAL_PART = re.compile(
    r"\s*([+-]?\d+)\s*(years?|mons?|months?|weeks?|days?|hours?|minutes?|mins?|seconds?|secs?)",
    re.IGNORECASE,
)


_CLOCK = re.compile(r"\s*([+-]?)(\d+):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s*")


def moment(node: Any, *, upper: bool) -> str | None:
    """`now()`, `CURRENT_DATE`, `CURRENT_TIMESTAMP` (…), or one of them plus or minus an
    interval or days (`now() - '18 years'::interval`, `current_date - 30`), as the ISO text
    of a bound: an `upper` bound (values below it) or a lower one; None for anything else."""
    node = strip_casts(node)
    if not isinstance(node, dict):
        return None
    if "A_Expr" in node:
        expr = node["A_Expr"]
        sign = {"+": 1, "-": -1}.get(operator_of(expr) or "")
        start = moment(expr.get("lexpr"), upper=upper)
        step = _interval(expr.get("rexpr"))
        if sign is None or start is None or step is None:
            return None
        return _iso(_shifted(dt.datetime.fromisoformat(start), step, sign))
    if not _is_current(node):
        return None
    now = min(SYNTHETIC_NOW, dt.datetime.now()) if upper else dt.datetime.now() + dt.timedelta(1)
    return _iso(now.replace(hour=0, minute=0, second=0, microsecond=0))


def _is_current(node: dict[str, Any]) -> bool:
    if "SQLValueFunction" in node:
        return str(node["SQLValueFunction"]["op"]).startswith(
            ("SVFOP_CURRENT_DATE", "SVFOP_CURRENT_TIMESTAMP", "SVFOP_LOCALTIMESTAMP")
        )
    if "FuncCall" in node:
        call = node["FuncCall"]
        return call["funcname"][-1]["String"]["sval"] in _CURRENT_MOMENTS and not call.get("args")
    return False


def _interval(node: Any) -> tuple[int, int, int] | None:
    """(months, days, seconds) of `'18 years'::interval` or of a number of days."""
    value = constant(node)
    if isinstance(value, int):
        return 0, value, 0
    if not isinstance(value, str):
        return None
    months = days = seconds = 0
    position = 0
    for part in _INTERVAL_PART.finditer(value):
        if part.start() != position:
            return None
        position = part.end()
        amount, unit = int(part[1]), part[2].lower()
        if unit.startswith("y"):
            months += 12 * amount
        elif unit.startswith("mon"):
            months += amount
        elif unit.startswith("w"):
            days += 7 * amount
        elif unit.startswith("d"):
            days += amount
        elif unit.startswith("h"):
            seconds += 3600 * amount
        elif unit.startswith("min"):
            seconds += 60 * amount
        else:
            seconds += amount
    clock = _CLOCK.fullmatch(value[position:])  # `'1 day 02:00:00'`, `'01:30:00'`
    if clock is not None:
        sign = -1 if clock[1] == "-" else 1
        hours, minutes, whole = int(clock[2]), int(clock[3]), int(clock[4] or 0)
        seconds += sign * (3600 * hours + 60 * minutes + whole)
        position = len(value)
    if position == 0 or value[position:].strip():
        return None
    return months, days, seconds


def interval_seconds(node: Any) -> float | None:
    """The length of `'01:00:00'::interval`, `'2 days'`, or a number of days (a date plus
    an integer), in seconds, a month counted as 30 days; None for anything else."""
    parts = _interval(node)
    if parts is None:
        return None
    months, days, seconds = parts
    return float((months * 30 + days) * 86_400 + seconds)


def _shifted(start: dt.datetime, step: tuple[int, int, int], sign: int) -> dt.datetime:
    months, days, seconds = (sign * part for part in step)
    total = start.year * 12 + start.month - 1 + months
    year, month = divmod(total, 12)
    day = min(start.day, calendar.monthrange(year, month + 1)[1])  # the 31st falls back
    moved = start.replace(year=year, month=month + 1, day=day)
    return moved + dt.timedelta(days=days, seconds=seconds)


def _iso(moment_: dt.datetime) -> str:
    if moment_.time() == dt.time():
        return moment_.date().isoformat()
    return moment_.isoformat(sep=" ")
