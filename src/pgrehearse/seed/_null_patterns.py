"""CHECKs over which columns are NULL together (`num_nonnulls(a, b) = 1`,
`a IS NOT NULL OR b IS NOT NULL`, `(a IS NULL) = (b IS NULL)`), true by construction: each
row draws one of the patterns the CHECKs allow (which of the columns have a value), weighted
by the `null_fraction` of the generators the scenario chose or a name implies (other
inferred ones have no say),
and each column's generator is NULL where the row's pattern says so."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from pgrehearse.scenario import ChoiceColumn, ConstantColumn
from pgrehearse.seed._binary import NumberKind, Numbers
from pgrehearse.seed._catalog import ColumnInfo
from pgrehearse.seed._checks import NullRule
from pgrehearse.seed._generators import (
    BLOCK_ROWS,
    NULL,
    Column,
    Generator,
    column_rng,
    python_text,
)
from pgrehearse.seed._plan_model import NullPatterns, PlanError, PlannedColumn, TablePlan

_MOST_COLUMNS = 12


def plan_null_patterns(plan: TablePlan) -> None:
    """The NULL patterns of the table's CHECKs, on `plan.null_patterns`, with a note each.
    Raises PlanError when the columns left to the database make a rule impossible."""
    for rules in _overlapping(plan.info.checks.null_rules):
        made = _patterns(plan, rules)
        if made is None:
            continue
        plan.null_patterns.append(made)
        shares = ", ".join(
            f"{column} has a value in {made.share_with_value(column):.0%} of rows"
            for column in made.columns
        )
        plan.notes.append(f"CHECK {', '.join(made.constraints)}: NULLs placed by row ({shares})")


def _overlapping(rules: list[NullRule]) -> list[list[NullRule]]:
    """Rules grouped where they share a column: a row's pattern must satisfy them all."""
    groups: list[list[NullRule]] = []
    for rule in rules:
        joined = [g for g in groups if any(set(r.columns) & set(rule.columns) for r in g)]
        merged = [rule, *itertools.chain.from_iterable(joined)]
        groups = [g for g in groups if g not in joined] + [merged]
    return groups


def _patterns(plan: TablePlan, rules: list[NullRule]) -> NullPatterns | None:
    columns = tuple(dict.fromkeys(c for rule in rules for c in rule.columns))
    names = tuple(rule.name for rule in rules)
    first = columns[0]
    if len(columns) > _MOST_COLUMNS:
        raise PlanError(
            plan.name,
            first,
            f"CHECK {', '.join(names)} ties the NULLs of {len(columns)} columns together: "
            f"more than the {_MOST_COLUMNS} pgrehearse places NULLs for",
            hint="give these columns generators whose NULLs you choose (null_fraction)",
        )
    planned = {c.name: c.spec for c in plan.columns}
    # a column whose NULLs another CHECK ties to another column's value: kept to what that
    # CHECK needs in every row (a value, or NULL)
    fixed: dict[str, bool] = {
        rule.column: rule.must == "value"
        for rule in plan.info.checks.null_when
        if rule.column in columns
    }
    for column in columns:
        if column in fixed:
            continue
        info = plan.info.columns.get(column)
        facts = plan.info.checks.columns.get(column)
        spec = planned.get(column)
        if spec is None:
            fixed[column] = info is not None and info.default_expr is not None
        elif isinstance(spec, ConstantColumn) and spec.value is None:
            fixed[column] = False
        elif (info is not None and info.not_null) or (facts is not None and facts.not_null):
            fixed[column] = True
    allowed = [
        pattern
        for pattern in itertools.product((False, True), repeat=len(columns))
        if all(_meets(rule, columns, pattern) for rule in rules)
        and all(pattern[columns.index(c)] == v for c, v in fixed.items())
    ]
    if not allowed:
        left = [c for c in columns if c not in planned]
        raise PlanError(
            plan.name,
            first,
            f"CHECK {', '.join(names)} cannot hold: "
            + (
                f"{', '.join(left)} left to the database (NULL, or its default)"
                if left
                else "no pattern of NULLs meets it with the columns' NOT NULLs"
            ),
            hint="give " + ", ".join(left or columns) + " a generator under data.tables."
            f"{plan.name}.columns",
        )
    generated = tuple(c for c in columns if c in planned)
    positions = [columns.index(c) for c in generated]
    patterns = tuple(dict.fromkeys(tuple(p[i] for i in positions) for p in allowed))
    if patterns == (tuple(True for _ in generated),) and all(
        planned[c].null_fraction == 0 for c in generated
    ):
        return None  # every row has every value, as the generators make them anyway
    # a generator the scenario chose says how often its column is NULL, and so does an
    # inferred one that is NULL by its name (deleted_at); other inferred ones have no say
    # (their null_fraction 0 is a default, not a wish)
    chosen = {
        c.name: c.spec.null_fraction
        for c in plan.columns
        if not c.inferred or c.spec.null_fraction > 0
    }
    fractions = [chosen.get(c) for c in generated]
    weights = [
        math.prod(
            1.0 if f is None else (1 - f) if present else f
            for present, f in zip(p, fractions, strict=True)
        )
        for p in patterns
    ]
    total = sum(weights)
    shares = (
        tuple(w / total for w in weights)
        if total > 0
        else tuple(1 / len(patterns) for _ in patterns)
    )
    return NullPatterns(names, generated, patterns, shares)


class _NullsOver(Generator):
    """Another generator's values (text or numbers), with NULLs where `null_rows` says."""

    inner: Generator

    def values(self, first: int, count: int, rng: np.random.Generator) -> list[str]:
        return self.inner.values(first, count, rng)

    def number_kind(self) -> tuple[NumberKind, int] | None:
        return self.inner.number_kind()

    def numbers(self, first: int, count: int, rng: np.random.Generator) -> Numbers:
        return self.inner.numbers(first, count, rng)


def _meets(rule: NullRule, columns: tuple[str, ...], pattern: tuple[bool, ...]) -> bool:
    return tuple(pattern[columns.index(c)] for c in rule.columns) in rule.allowed


class _PatternedNulls(_NullsOver):
    """A column's generator, NULL where the row's pattern leaves the column without a value.
    The columns of one rule draw the row's pattern from one shared stream."""

    def __init__(self, inner: Generator, made: NullPatterns, column: str, stream: str, seed: int):
        self.inner = inner
        self.escape = inner.escape
        self.json_kind = inner.json_kind
        self.cumulative = np.cumsum(made.shares)
        position = made.columns.index(column)
        self.without_value = np.array([not p[position] for p in made.patterns])
        self.stream = stream
        self.seed = seed

    def null_rows(self, first: int, count: int) -> npt.NDArray[np.bool_]:
        shared = column_rng(self.seed, self.stream, "patterns", first // BLOCK_ROWS)
        draws = shared.random(count) * self.cumulative[-1]
        chosen = np.minimum(
            np.searchsorted(self.cumulative, draws, side="right"), len(self.cumulative) - 1
        )
        nulls: npt.NDArray[np.bool_] = self.without_value[chosen]
        return nulls


def with_null_patterns(
    plan: TablePlan, generators: Mapping[str, Generator], seed: int
) -> dict[str, Generator]:
    """The table's generators, those of columns in a NULL rule wrapped to follow it."""
    wrapped = dict(generators)
    for made in plan.null_patterns:
        stream = f"{plan.name}:nulls:{'+'.join(made.columns)}"
        for column in made.columns:
            wrapped[column] = _PatternedNulls(generators[column], made, column, stream, seed)
    return wrapped


# --------------------------------------------------------------------------- NULL when


def plan_null_when(plan: TablePlan) -> None:
    """`status = 'cancelled' OR cancelled_at IS NULL`: cancelled_at has a value exactly in
    the rows whose status is cancelled, where status is a choice (an enum, a CHECK's list).
    Otherwise the CHECK is met through its NULL test alone: the column is left NULL
    (`… IS NULL`), or has a value in every row (`… IS NOT NULL`)."""
    planned = {c.name: c for c in plan.columns}
    patterned = {c for made in plan.null_patterns for c in made.columns}
    for rule in plan.info.checks.null_when:
        other, target = planned.get(rule.other), planned.get(rule.column)
        info = plan.info.columns[rule.column]
        if (
            other is not None
            and isinstance(other.spec, ChoiceColumn)
            and target is not None
            and rule.column not in patterned
            and not info.not_null
        ):
            plan.null_when.append(rule)
            listed = ", ".join(map(str, rule.values))
            where = f"{rule.other} {'is' if rule.inside else 'is not'} one of ({listed})"
            plan.notes.append(
                f"CHECK {rule.name}: {rule.column} has a value where {where}, NULL elsewhere"
            )
        elif rule.must == "null" and not info.not_null:
            leave_null(
                plan,
                info,
                f"{rule.column} left NULL so that CHECK {rule.name} holds whatever "
                f"{rule.other} is (give {rule.other} a choice generator for values where it "
                "allows them)",
            )
        elif rule.must == "value" and target is not None and target.spec.null_fraction > 0:
            raise PlanError(
                plan.name,
                rule.column,
                f"CHECK {rule.name} requires {rule.column} to have a value where "
                f"{rule.other} is not one of the values it lists, and its generator leaves "
                f"{target.spec.null_fraction:.0%} of rows NULL",
                hint=f"remove its null_fraction, or give {rule.other} a choice generator",
            )


def leave_null(plan: TablePlan, info: ColumnInfo, note: str) -> None:
    """The column NULL in every row (over its default, if it has one), with `note`."""
    plan.columns = [c for c in plan.columns if c.name != info.name]
    if info.name in plan.left_to_database:
        plan.left_to_database.remove(info.name)
    if info.default_expr is None:
        plan.left_to_database.append(info.name)
    else:
        null = ConstantColumn.model_validate({"value": None})
        plan.columns.append(PlannedColumn(info.name, null, True))
    if plan.rows > 0:
        plan.notes.append(note)


class _NullUnless(_NullsOver):
    """A column's generator, NULL except in the rows where another column's value is (or
    is not) one of some values: that column's values are made again, from its own stream."""

    def __init__(
        self, inner: Generator, other: Column, values: set[str], inside: bool, seed: int, table: str
    ) -> None:
        self.inner = inner
        self.escape = inner.escape
        self.json_kind = inner.json_kind
        self.other = other
        self.listed = values
        self.inside = inside
        self.seed = seed
        self.table = table

    def null_rows(self, first: int, count: int) -> npt.NDArray[np.bool_]:
        stream = column_rng(self.seed, self.table, self.other.name, first // BLOCK_ROWS)
        theirs = self.other.render(first, count, stream)
        listed = np.fromiter(
            (v != NULL and v in self.listed for v in theirs), dtype=bool, count=count
        )
        nulls: npt.NDArray[np.bool_] = listed != self.inside
        return nulls


def with_null_when(
    plan: TablePlan, generators: Mapping[str, Generator], seed: int
) -> dict[str, Generator]:
    """The table's generators, those of columns whose NULLs follow another's value wrapped."""
    wrapped = dict(generators)
    specs = {c.name: c.spec for c in plan.columns}
    for rule in plan.null_when:
        other = Column(rule.other, generators[rule.other], specs[rule.other].null_fraction)
        listed = {python_text(v) for v in rule.values}
        wrapped[rule.column] = _NullUnless(
            generators[rule.column], other, listed, rule.inside, seed, plan.name
        )
    return wrapped
