"""Columns of one row that keep an order: `created_at ≤ updated_at`, `min_qty < max_qty`,
`opens < closes` (times of day).

A later column (by a `CHECK (a < b)`, or by its name: `updated_at`, `return_date`,
`max_price`) whose generator was inferred becomes `{after: earlier}`, so the order holds
by construction; an explicit `after` must name a column of its own kind.
"""

from __future__ import annotations

import re

from pgrehearse.scenario import (
    AfterColumn,
    BetweenColumn,
    FloatColumn,
    IntColumn,
    moment_seconds,
    time_of_day,
)
from pgrehearse.seed._catalog import TableInfo
from pgrehearse.seed._gaps import Gap
from pgrehearse.seed._plan_model import PlanError, PlannedColumn, TablePlan

# a later column's name token -> the earlier one's (return_date follows rental_date)
_LATER_THAN: dict[str, tuple[str, ...]] = {
    "updated": ("created", "inserted"),
    "modified": ("created", "inserted"),
    "changed": ("created", "inserted"),
    "deleted": ("created", "inserted"),
    "end": ("start",),
    "ends": ("starts",),
    "ended": ("started",),
    "finish": ("start",),
    "finished": ("started",),
    "completed": ("started",),
    "until": ("from",),
    "to": ("from",),
    "return": ("rental",),
    "returned": ("rented",),
    "closed": ("opened",),
    "shipped": ("ordered",),
    "delivered": ("shipped",),
    "due": ("issued", "created"),
    "expires": ("issued", "created"),
    "resolved": ("created",),
    "solved": ("created",),
    "published": ("created",),
    "approved": ("created", "submitted"),
    "rejected": ("created", "submitted"),
    "submitted": ("created",),
    "confirmed": ("created",),
    "verified": ("created",),
    "archived": ("created",),
    "cancelled": ("created",),
    "canceled": ("created",),
    "paid": ("created", "issued"),
    "last": ("first",),
    "max": ("min",),
    "maximum": ("minimum",),
    "upper": ("lower",),
}
# ...and of times of a day, not of numbers (a share closes below its opening price)
_LATER_IN_THE_DAY: dict[str, tuple[str, ...]] = {
    "closes": ("opens",),
    "close": ("open",),
    "closing": ("opening",),
}
# words of a name, however it is written: updated_at, updatedAt, UpdatedAt, UPDATED_AT
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+")
_NUMBER_TYPES = {"int2", "int4", "int8", "numeric", "float4", "float8"}
_TIME_TYPES = {"time", "timetz"}


def order_columns(name: str, info: TableInfo, plan: TablePlan, problems: list[PlanError]) -> None:
    planned = {c.name: c for c in plan.columns}
    moments = {n for n, c in planned.items() if isinstance(c.spec, BetweenColumn | AfterColumn)}
    moments -= {n for n in moments if info.columns[n].base_type in _NUMBER_TYPES}
    times = {n for n in moments if info.columns[n].base_type in _TIME_TYPES}
    moments -= times
    numbers = {
        n
        for n, c in planned.items()
        if info.columns[n].base_type in _NUMBER_TYPES
        and isinstance(c.spec, IntColumn | FloatColumn | AfterColumn)
    }
    _check_explicit_after(
        name, plan, {"moments": moments, "numbers": numbers, "times": times}, info, problems
    )
    earlier_of: dict[str, tuple[str, bool]] = {}
    for earlier, later, strict in info.checks.before:
        earlier_of.setdefault(later, (earlier, strict))
    for kind in (moments, numbers, times):
        for later in kind:
            candidate = earlier_by_name(later, kind, numbers=kind is numbers)
            if candidate is not None:
                earlier_of.setdefault(later, (candidate, False))
    for later, (earlier, strict) in earlier_of.items():
        found = planned.get(later)
        if found is None or not found.inferred:
            continue
        before = planned[earlier].spec if earlier in planned else None
        if isinstance(before, AfterColumn) and before.after == later:
            continue  # never a cycle
        gaps = [g for g in info.checks.gaps if (g.earlier, g.later) == (earlier, later)]
        if later in moments and earlier in moments:
            unit = 1.0 if info.columns[later].base_type != "date" else 86_400.0
            spec = AfterColumn(after=earlier, min_gap=unit if strict else 0.0)
            spec = _within_gaps(spec, gaps, unit, moments=True)
        elif later in numbers and earlier in numbers:
            spec = _number_after(earlier, later, strict, info, plan)
            unit = 1.0 if info.columns[later].base_type in ("int2", "int4", "int8") else 0.01
            spec = _within_gaps(spec, [g for g in gaps if g.plain], unit, moments=False)
        elif later in times and earlier in times:
            spec = _time_after(earlier, later, strict, plan)
        else:
            continue
        spec = spec.model_copy(update={"null_fraction": found.spec.null_fraction})
        plan.columns[plan.columns.index(found)] = PlannedColumn(later, spec, inferred=True)


def earlier_by_name(later: str, candidates: set[str], *, numbers: bool = False) -> str | None:
    """The column of `candidates` that `later` follows by its name (`updated_at` follows
    `created_at`, `updatedAt` follows `createdAt`), written in the same style."""
    for word in _WORDS.finditer(later):
        lowered = word.group().lower()
        words = _LATER_THAN.get(lowered, ()) + (
            () if numbers else _LATER_IN_THE_DAY.get(lowered, ())
        )
        for earlier in words:
            candidate = later[: word.start()] + _styled(earlier, word.group()) + later[word.end() :]
            if candidate in candidates:
                return candidate
    return None if numbers else _last_event(later, candidates)


def _last_event(later: str, candidates: set[str]) -> str | None:
    """`last_seen_at`, `lastLoginAt`, `latest_activity_on`: the last time something
    happened to the row, after it was made (`created_at`, in the same style)."""
    words = list(_WORDS.finditer(later))
    if len(words) < 3 or words[0].group().lower() not in ("last", "latest"):
        return None
    first, last = words[0], words[-1]
    candidate = _styled("created", first.group()) + later[words[-2].end() :]
    if candidate in candidates and last.group().lower() in ("at", "on", "date", "time"):
        return candidate
    return None


def _styled(word: str, like: str) -> str:
    if len(like) > 1 and like.isupper():
        return word.upper()
    return word.capitalize() if like[0].isupper() else word


def _check_explicit_after(
    name: str,
    plan: TablePlan,
    kinds: dict[str, set[str]],
    info: TableInfo,
    problems: list[PlanError],
) -> None:
    made_by = {
        "numbers": ("number", "`int`, `float` or `after`"),
        "moments": ("date or timestamp", "`between` or `after`"),
        "times": ("time of day", "`between` or `after`"),
    }
    for column in plan.columns:
        if not isinstance(column.spec, AfterColumn):
            continue
        base = info.columns[column.name].base_type
        kind = "numbers" if base in _NUMBER_TYPES else "times" if base in _TIME_TYPES else "moments"
        if column.spec.after in kinds[kind]:
            continue
        what, generators = made_by[kind]
        problems.append(
            PlanError(
                name,
                column.name,
                f"{name}.{column.name} is `after: {column.spec.after}`, which is not a {what} "
                f"column of the table made by {generators}",
                hint=f"name one of: {', '.join(sorted(kinds[kind] - {column.name})) or '(none)'}",
            )
        )


def _time_after(earlier: str, later: str, strict: bool, plan: TablePlan) -> AfterColumn:
    """`later` as a time of day after `earlier`'s in the same row (`opens < closes`): an
    inferred `earlier` keeps to the first half of what `later` can reach, so the gap fits
    before midnight."""
    min_gap = 1.0 if strict else 0.0
    later_high = _time_range(plan, later)[1]
    low, high = _time_range(plan, earlier)
    index = next(i for i, c in enumerate(plan.columns) if c.name == earlier)
    column = plan.columns[index]
    if column.inferred and isinstance(column.spec, BetweenColumn):
        high = max(low, min(high, low + (later_high - low) // 2))
        between = (time_of_day(low), time_of_day(high))
        plan.columns[index] = PlannedColumn(
            earlier, column.spec.model_copy(update={"between": between}), True
        )
    return AfterColumn(after=earlier, min_gap=min_gap, within=max(min_gap, later_high - high))


def _time_range(plan: TablePlan, column: str) -> tuple[int, int]:
    spec = next(c.spec for c in plan.columns if c.name == column)
    if isinstance(spec, BetweenColumn) and spec.times_of_day:
        low, high = (moment_seconds(t) for t in spec.between)
        return low, high
    if isinstance(spec, AfterColumn):
        low, high = _time_range(plan, spec.after)
        return min(low + int(spec.min_gap), _LAST_SECOND), min(
            high + int(spec.within), _LAST_SECOND
        )
    return 0, _LAST_SECOND


_LAST_SECOND = 86_399


def _number_after(
    earlier: str, later: str, strict: bool, info: TableInfo, plan: TablePlan
) -> AfterColumn:
    """`later` as the earlier column's value plus a gap that stays inside `later`'s own
    range; where the two ranges end together, the earlier one gives up its upper half."""
    scale = info.columns[later].num_scale
    unit = 1.0 if info.columns[later].base_type in ("int2", "int4", "int8") else 0.1 ** (scale or 2)
    min_gap = unit if strict else 0.0
    later_high = _range(plan, later)[1]
    earlier_low, earlier_high = _range(plan, earlier)
    room = later_high - earlier_high
    index = next(i for i, c in enumerate(plan.columns) if c.name == earlier)
    column = plan.columns[index]
    shrinkable = column.inferred and isinstance(column.spec, IntColumn | FloatColumn)
    if room < min_gap + unit and shrinkable:
        middle = earlier_low + (min(earlier_high, later_high) - earlier_low) / 2
        if isinstance(column.spec, IntColumn):
            middle = float(int(middle))
            update: dict[str, object] = {"int_range": (int(earlier_low), int(middle))}
        else:
            update = {"float_range": (earlier_low, middle)}
        plan.columns[index] = PlannedColumn(earlier, column.spec.model_copy(update=update), True)
        room = later_high - middle
    return AfterColumn(after=earlier, min_gap=min_gap, within=max(min_gap, room))


def _within_gaps(spec: AfterColumn, gaps: list[Gap], unit: float, *, moments: bool) -> AfterColumn:
    """`spec` with its gap kept to what CHECKs allow (`ends_at >= starts_at + interval '1
    hour'`: at least an hour; `due_on <= issued_on + 90`: 90 days at most)."""
    least, most = spec.min_gap, spec.within
    bounded = False
    for gap in gaps:
        low = gap.seconds(gap.least) if moments else gap.least
        high = gap.seconds(gap.most) if moments else gap.most
        if low is not None:
            least = max(least, low + (unit if gap.strict else 0.0))
        if high is not None:
            most = min(most, high - (unit if gap.strict else 0.0))
            bounded = True
    least = max(least, 0.0)  # never before the earlier column: stronger than the CHECK
    if most < least:
        most = least if bounded else least + spec.within  # a floor past the usual span
    return spec.model_copy(update={"min_gap": least, "within": most})


def _range(plan: TablePlan, column: str) -> tuple[float, float]:
    spec = next(c.spec for c in plan.columns if c.name == column)
    if isinstance(spec, IntColumn):
        return float(spec.int_range[0]), float(spec.int_range[1])
    if isinstance(spec, FloatColumn):
        return spec.float_range
    if isinstance(spec, AfterColumn):  # a chain: its own upper end is its earlier's plus gap
        low, high = _range(plan, spec.after)
        return low + spec.min_gap, high + spec.within
    return 0.0, 0.0
