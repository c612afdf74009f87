"""CHECKs made only of NULL tests (AND/OR/NOT, `=`/`<>` between them, num_nulls and
num_nonnulls compared with numbers), read as the patterns of NULLs they allow: which of the
columns have values."""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Mapping
from typing import Any

from pgrehearse.seed._expressions import column_of, constant, operator_of

Pattern = Mapping[str, bool]  # column -> has a value
_Logic = Callable[[Pattern], int]
_COMPARE: dict[str, Callable[[int, int], bool]] = {
    "=": operator.eq,
    "<>": operator.ne,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_MOST_COLUMNS = 12  # 4,096 patterns to try


def _null_logic(node: Any, columns: list[str]) -> _Logic | None:
    """`node` as a function of which columns have values (a truth value, or a count for
    num_nulls/num_nonnulls and numbers); None when it depends on anything else."""
    if not isinstance(node, dict):
        return None
    if "NullTest" in node:
        column = column_of(node["NullTest"]["arg"])
        if column is None:
            return None
        if column not in columns:
            columns.append(column)
        if node["NullTest"]["nulltesttype"] == "IS_NULL":
            return lambda pattern: int(not pattern[column])
        return lambda pattern: int(pattern[column])
    if "BoolExpr" in node:
        parts = [_null_logic(arg, columns) for arg in node["BoolExpr"]["args"]]
        if any(part is None for part in parts):
            return None
        known = [part for part in parts if part is not None]
        boolop = node["BoolExpr"]["boolop"]
        if boolop == "AND_EXPR":
            return lambda pattern: int(all(part(pattern) for part in known))
        if boolop == "OR_EXPR":
            return lambda pattern: int(any(part(pattern) for part in known))
        return lambda pattern: int(not known[0](pattern))
    if "FuncCall" in node:
        return _null_count(node["FuncCall"], columns)
    if "A_Expr" in node:
        expr = node["A_Expr"]
        compare = _COMPARE.get(operator_of(expr) or "")
        if expr["kind"] != "AEXPR_OP" or compare is None:
            return None
        left = _null_logic(expr["lexpr"], columns)
        right = _null_logic(expr.get("rexpr"), columns)
        if left is None or right is None:
            return None
        return lambda pattern: int(compare(left(pattern), right(pattern)))
    value = constant(node)
    if isinstance(value, int):
        return lambda pattern: value
    return None


def _null_count(call: dict[str, Any], columns: list[str]) -> _Logic | None:
    function = call["funcname"][-1]["String"]["sval"]
    if function not in ("num_nulls", "num_nonnulls"):
        return None
    counted = [column_of(arg) for arg in call.get("args") or []]
    if not counted or any(column is None for column in counted):
        return None
    names = [column for column in counted if column is not None]
    columns.extend(column for column in dict.fromkeys(names) if column not in columns)
    present = function == "num_nonnulls"
    return lambda pattern: sum(pattern[column] == present for column in names)


def null_patterns(node: Any) -> tuple[list[str], frozenset[tuple[bool, ...]]] | None:
    """The columns a CHECK made only of NULL tests is about, and the patterns (True where a
    column has a value) it allows; None for any other CHECK, or one over too many columns."""
    columns: list[str] = []
    logic = _null_logic(node, columns)
    if logic is None or not columns or len(columns) > _MOST_COLUMNS:
        return None
    allowed = frozenset(
        pattern
        for pattern in itertools.product((False, True), repeat=len(columns))
        if logic(dict(zip(columns, pattern, strict=True)))
    )
    return columns, allowed
