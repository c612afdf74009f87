"""What a table's CHECK constraints say about its JSON columns: the kind of JSON
(`jsonb_typeof(a) = 'array'`), an array's length (`jsonb_array_length(a) > 0`) and the keys
its objects hold (`a ? 'amount'`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pgrehearse.seed._expressions import (
    FLIPPED,
    called_on_column,
    column_of,
    constant,
    constant_list,
    operator_of,
)

if TYPE_CHECKING:
    from pgrehearse.seed._checks import CheckFacts


_JSON_TYPE_FUNCTIONS = {"jsonb_typeof", "json_typeof"}
_JSON_LENGTH_FUNCTIONS = {"jsonb_array_length", "json_array_length"}


def json_length(expr: dict[str, Any], facts: CheckFacts) -> bool:
    """`jsonb_array_length(a) > 0` (`>=`, `<`, `<=`, `=`, either way round): a holds a JSON
    array of that many elements."""
    op = operator_of(expr)
    if expr["kind"] != "AEXPR_OP" or op not in FLIPPED:
        return False
    for call, other, op_here in (
        (expr["lexpr"], expr.get("rexpr"), op),
        (expr.get("rexpr"), expr["lexpr"], FLIPPED[op]),
    ):
        called = called_on_column(call)
        count = constant(other)
        if called is None or called[0] not in _JSON_LENGTH_FUNCTIONS:
            continue
        if not isinstance(count, int) or isinstance(count, bool) or op_here == "<>":
            return False
        low = {">": count + 1, ">=": count, "=": count}.get(op_here, 0)
        high = {"<": count - 1, "<=": count, "=": count}.get(op_here)
        column = facts.of(called[1])
        column.json_type = "array"
        column.items = within(column.items, (low, high))
        return True
    return False


def within(a: tuple[int, int | None], b: tuple[int, int | None]) -> tuple[int, int | None]:
    """Both item ranges at once."""
    highs = [high for high in (a[1], b[1]) if high is not None]
    return max(a[0], b[0]), min(highs) if highs else None


def json_typed(expr: dict[str, Any], facts: CheckFacts) -> bool:
    """`jsonb_typeof(a) = 'array'` (or `json_typeof`, either way round): a holds that kind."""
    if expr["kind"] != "AEXPR_OP" or operator_of(expr) != "=":
        return False
    for call, other in ((expr["lexpr"], expr.get("rexpr")), (expr.get("rexpr"), expr["lexpr"])):
        called = called_on_column(call)
        kind = constant(other)
        if called is not None and called[0] in _JSON_TYPE_FUNCTIONS and isinstance(kind, str):
            facts.of(called[1]).json_type = kind
            return True
    return False


def json_keys(expr: dict[str, Any], facts: CheckFacts) -> bool:
    """`a ? 'amount'`, `a ?& ARRAY['amount', 'currency']` (all of them), `a ?| ARRAY[…]`
    (the first will do): the top-level keys a's objects hold."""
    op = operator_of(expr)
    if expr["kind"] != "AEXPR_OP" or op not in ("?", "?&", "?|"):
        return False
    column = column_of(expr["lexpr"])
    rexpr = expr.get("rexpr")
    keys = [constant(rexpr)] if op == "?" else constant_list(rexpr) or []
    if column is None or not keys or not all(isinstance(key, str) for key in keys):
        return False
    held = [str(key) for key in (keys[:1] if op == "?|" else keys)]
    mine = facts.of(column)
    mine.json_keys = tuple(dict.fromkeys(mine.json_keys + tuple(held)))
    return True
