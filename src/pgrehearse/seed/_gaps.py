"""CHECKs that keep two moments (or numbers) of a row a gap apart: `ends_at >= starts_at +
interval '1 hour'`, `due_on <= issued_on + 90`, `arrives_at - leaves_at < '2 days'`. Each
is read as the earlier column, the later one, and the least or the most the later may
follow by, so that `{after: earlier, min_gap, within}` builds rows that keep it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pgrehearse.seed._expressions import (
    FLIPPED,
    column_of,
    constant,
    interval_seconds,
    operator_of,
)


@dataclass(frozen=True)
class Gap:
    earlier: str
    later: str
    least: float | None = None  # an interval's seconds, or a plain number (a date's days)
    most: float | None = None
    strict: bool = False  # `>` or `<`: one unit more (or less) than the bound
    plain: bool = False  # the offset is a plain number, not an interval

    def seconds(self, value: float | None) -> float | None:
        """A bound as seconds, for moments: a plain number is a date's days."""
        return None if value is None else value * 86_400 if self.plain else value


def gap_of(expr: dict[str, Any]) -> Gap | None:
    """The gap a comparison keeps between two columns; None for any other comparison."""
    op = operator_of(expr)
    if expr["kind"] != "AEXPR_OP" or op not in ("<", "<=", ">", ">="):
        return None
    left, right = expr["lexpr"], expr.get("rexpr")
    for this, other, here in ((left, right, op), (right, left, FLIPPED[op])):
        later = column_of(this)
        shifted = _shifted(other) if later is not None else None
        if later is not None and shifted is not None:  # later >= earlier + offset
            return _bounded(shifted[0], later, here, shifted[1])
        difference = _difference(this)
        by = _offset(other) if difference is not None else None
        if difference is not None and by is not None:  # later - earlier >= offset
            return _bounded(difference[1], difference[0], here, by)
    return None


def _bounded(earlier: str, later: str, op: str, offset: tuple[float, bool]) -> Gap | None:
    if earlier == later:
        return None
    value, plain = offset
    strict = op in ("<", ">")
    if op in (">", ">="):
        return Gap(earlier, later, least=value, strict=strict, plain=plain)
    return Gap(earlier, later, most=value, strict=strict, plain=plain)


def _shifted(node: Any) -> tuple[str, tuple[float, bool]] | None:
    """`starts_at + '01:00:00'::interval` (or `-`): the column and the signed offset."""
    if not isinstance(node, dict) or "A_Expr" not in node:
        return None
    expr = node["A_Expr"]
    sign = {"+": 1, "-": -1}.get(operator_of(expr) or "")
    column = column_of(expr["lexpr"])
    offset = _offset(expr.get("rexpr"))
    if sign is None or column is None or offset is None:
        return None
    return column, (sign * offset[0], offset[1])


def _difference(node: Any) -> tuple[str, str] | None:
    """`arrives_at - leaves_at`: (arrives_at, leaves_at)."""
    if not isinstance(node, dict) or "A_Expr" not in node:
        return None
    expr = node["A_Expr"]
    if expr["kind"] != "AEXPR_OP" or operator_of(expr) != "-":
        return None
    later, earlier = column_of(expr["lexpr"]), column_of(expr.get("rexpr"))
    return (later, earlier) if later is not None and earlier is not None else None


def _offset(node: Any) -> tuple[float, bool] | None:
    """An interval's seconds, or a plain number (what a date or a number is shifted by)."""
    plain = constant(node)
    if isinstance(plain, int | float) and not isinstance(plain, bool):
        return float(plain), True
    seconds = interval_seconds(node)
    return None if seconds is None else (seconds, False)
