"""What a table's CHECK constraints say about each column, read with PostgreSQL's parser.

The common forms are understood, so inferred generators satisfy them by construction:
- a column compared with constants: `a > 0`, `a <= 100`, `0 < a`, `d >= '2020-01-01'`
  (BETWEEN is stored as two comparisons);
- a list of allowed values: `a IN (…)`, `a = ANY (ARRAY[…])`, `a = 1 OR a = 2`;
- a length: `length(a) <= 20`, `char_length(a) = 3`, `octet_length(a) > 0`;
- `a IS NOT NULL`;
- an order between two columns: `starts_at < ends_at`;
and AND of any of these. Anything else leaves the constraint `understood=False`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pglast import parser
from pglast.parser import ParseError

_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "<>": "<>"}
_LENGTH_FUNCTIONS = {"length", "char_length", "character_length", "octet_length"}

Value = int | float | str


@dataclass
class Bound:
    value: Value
    inclusive: bool


@dataclass
class ColumnFacts:
    allowed: list[Value] | None = None
    low: Bound | None = None
    high: Bound | None = None
    min_length: int | None = None
    max_length: int | None = None
    not_null: bool = False
    not_equal: list[Value] = field(default_factory=list)


@dataclass
class CheckFacts:
    """Per column, what every understood CHECK requires; and what was not understood."""

    columns: dict[str, ColumnFacts] = field(default_factory=dict)
    before: list[tuple[str, str, bool]] = field(default_factory=list)  # (a, b, strict): a < b
    not_understood: list[str] = field(default_factory=list)  # constraint names
    definitions: dict[str, str] = field(default_factory=dict)  # of those not understood

    def of(self, column: str) -> ColumnFacts:
        return self.columns.setdefault(column, ColumnFacts())

    def merge(self, other: CheckFacts) -> None:
        """Add what `other` requires too (both must hold: allowed values intersect)."""
        for name, theirs in other.columns.items():
            mine = self.of(name)
            if theirs.allowed is not None:
                _allow(mine, theirs.allowed)
            if theirs.low is not None and (mine.low is None or _above(theirs.low, mine.low)):
                mine.low = theirs.low
            if theirs.high is not None and (mine.high is None or _above(mine.high, theirs.high)):
                mine.high = theirs.high
            mine.not_null = mine.not_null or theirs.not_null
        self.before += other.before
        self.not_understood += other.not_understood
        self.definitions |= other.definitions


def read_checks(definitions: list[tuple[str, str]]) -> CheckFacts:
    """Facts from `(constraint name, pg_get_constraintdef)` pairs."""
    facts = CheckFacts()
    for name, definition in definitions:
        expression = definition.strip()
        if expression.upper().startswith("CHECK"):
            expression = expression[5:].strip()
        expression = expression.removesuffix("NOT VALID").strip()
        try:
            tree = json.loads(parser.parse_sql_json("SELECT " + expression))
            node = tree["stmts"][0]["stmt"]["SelectStmt"]["targetList"][0]["ResTarget"]["val"]
        except (ParseError, KeyError, IndexError, ValueError):
            facts.not_understood.append(name)
            facts.definitions[name] = expression
            continue
        if not _conjunct(node, facts):
            facts.not_understood.append(name)
            facts.definitions[name] = expression
    return facts


def _conjunct(node: dict[str, Any], facts: CheckFacts) -> bool:
    """Record what `node` requires; False when (part of) it is not a form we know."""
    if "BoolExpr" in node:
        boolean = node["BoolExpr"]
        if boolean["boolop"] == "AND_EXPR":
            understood = [_conjunct(arg, facts) for arg in boolean["args"]]  # record them all
            return all(understood)
        if boolean["boolop"] == "OR_EXPR":
            return _alternatives(boolean["args"], facts)
        return False
    if "NullTest" in node:
        test = node["NullTest"]
        column = _column(test["arg"])
        if column is None or test["nulltesttype"] != "IS_NOT_NULL":
            return False
        facts.of(column).not_null = True
        return True
    if "A_Expr" in node:
        return _comparison(node["A_Expr"], facts)
    return False


def _alternatives(args: list[dict[str, Any]], facts: CheckFacts) -> bool:
    """`a = 1 OR a = 2 OR a IN (3, 4)`: the allowed values of one column."""
    column_seen: str | None = None
    values: list[Value] = []
    for arg in args:
        expr = arg.get("A_Expr")
        if expr is None:
            return False
        column, allowed = _equality(expr)
        if column is None or allowed is None or column_seen not in (None, column):
            return False
        column_seen = column
        values += allowed
    if column_seen is None:
        return False
    _allow(facts.of(column_seen), values)
    return True


def _equality(expr: dict[str, Any]) -> tuple[str | None, list[Value] | None]:
    op = _operator(expr)
    if expr["kind"] in ("AEXPR_OP_ANY", "AEXPR_IN") and op == "=":
        return _column(expr["lexpr"]), _constants(expr["rexpr"])
    if expr["kind"] == "AEXPR_OP" and op == "=":
        column, value = _column(expr["lexpr"]), constant(expr.get("rexpr"))
        if column is None:
            column, value = _column(expr.get("rexpr")), constant(expr["lexpr"])
        return column, None if value is None else [value]
    return None, None


def _comparison(expr: dict[str, Any], facts: CheckFacts) -> bool:
    column, allowed = _equality(expr)
    if column is not None and allowed is not None:
        _allow(facts.of(column), allowed)
        return True
    if expr["kind"] != "AEXPR_OP":
        return False
    op = _operator(expr)
    if op not in _FLIP:
        return False
    left, right = expr["lexpr"], expr.get("rexpr")
    left_column, right_column = _column(left), _column(right)
    if left_column is not None and right_column is not None:
        if op in ("<", "<="):
            facts.before.append((left_column, right_column, op == "<"))
            return True
        if op in (">", ">="):
            facts.before.append((right_column, left_column, op == ">"))
            return True
        return False
    if left_column is None and right_column is not None:
        left, right, op = right, left, _FLIP[op]
    length_of = _length_of(left)
    value = constant(right)
    if value is None:
        return False
    if length_of is not None and isinstance(value, int):
        return _length(facts.of(length_of), op, value)
    column = _column(left)
    if column is None:
        return False
    _bound(facts.of(column), op, value)
    return True


def _above(a: Bound, b: Bound) -> bool:
    """Whether bound `a` lies above `b` (values of one kind compare; others: keep `b`)."""
    try:
        return bool(a.value > b.value)  # type: ignore[operator]
    except TypeError:
        return False


def _allow(column: ColumnFacts, values: list[Value]) -> None:
    if column.allowed is None:
        column.allowed = list(values)
    else:
        column.allowed = [v for v in column.allowed if v in values]


def _bound(column: ColumnFacts, op: str, value: Value) -> None:
    if op == "<>":
        column.not_equal.append(value)
    if op in (">", ">="):
        column.low = Bound(value, op == ">=")
    if op in ("<", "<="):
        column.high = Bound(value, op == "<=")


def _length(column: ColumnFacts, op: str, value: int) -> bool:
    low = {">": value + 1, ">=": value, "=": value}.get(op)
    high = {"<": value - 1, "<=": value, "=": value}.get(op)
    if low is None and high is None:
        return op == "<>"
    if low is not None:
        column.min_length = max(column.min_length or 0, low)
    if high is not None:
        column.max_length = high if column.max_length is None else min(column.max_length, high)
    return True


def _operator(expr: dict[str, Any]) -> str | None:
    names = expr.get("name") or []
    return names[-1]["String"]["sval"] if names else None


def _strip_casts(node: Any) -> Any:
    while isinstance(node, dict) and "TypeCast" in node:
        node = node["TypeCast"]["arg"]
    return node


def _column(node: Any) -> str | None:
    node = _strip_casts(node)
    if not isinstance(node, dict) or "ColumnRef" not in node:
        return None
    fields = node["ColumnRef"]["fields"]
    last = fields[-1]
    return last["String"]["sval"] if "String" in last else None


def _length_of(node: Any) -> str | None:
    node = _strip_casts(node)
    if not isinstance(node, dict) or "FuncCall" not in node:
        return None
    call = node["FuncCall"]
    name = call["funcname"][-1]["String"]["sval"]
    args = call.get("args") or []
    if name not in _LENGTH_FUNCTIONS or len(args) != 1:
        return None
    return _column(args[0])


def constant(node: Any) -> Value | None:
    """The value of a constant node (casts around it ignored); None for anything else."""
    node = _strip_casts(node)
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


def _constants(node: Any) -> list[Value] | None:
    node = _strip_casts(node)
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
