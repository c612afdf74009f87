"""Problems of a table's plan as a whole, found before any row is made: numbers past
their column's type, unique columns and composite unique keys with fewer values than rows
(and so the most rows a table's keys allow), partition keys that inferred values would
miss."""

from __future__ import annotations

import math
from collections.abc import Mapping

from pgrehearse.scenario import (
    BoolColumn,
    ChoiceColumn,
    ColumnSpec,
    IntColumn,
    PatternColumn,
    RefColumn,
    SequenceColumn,
)
from pgrehearse.seed._catalog import TableInfo
from pgrehearse.seed._differs import kept_apart_from
from pgrehearse.seed._patterns import distinct_values
from pgrehearse.seed._plan_model import PlanError, PlannedColumn, TablePlan

_INT_BOUNDS = {"int2": 32_767, "int4": 2_147_483_647, "int8": 9_223_372_036_854_775_807}


def table_problems(plan: TablePlan) -> list[PlanError]:
    return (
        _past_the_type(plan)
        + _too_few_values(plan)
        + _sequences_run_out(plan)
        + _unshaped_partition_keys(plan)
    )


def _past_the_type(plan: TablePlan) -> list[PlanError]:
    """Numbers an integer column cannot hold: a sequence's last value (unique smallints of
    a large table), an int range's top."""
    found = []
    for planned in plan.columns:
        info = plan.info.columns[planned.name]
        bound = _INT_BOUNDS.get(info.base_type)
        spec = planned.spec
        if bound is None or info.is_array:
            continue
        if isinstance(spec, SequenceColumn):
            top = spec.sequence + spec.step * max(plan.rows - 1, 0)
        elif isinstance(spec, IntColumn):
            top = max(abs(spec.int_range[0]), abs(spec.int_range[1]))
        else:
            continue
        if top > bound:
            found.append(
                PlanError(
                    plan.name,
                    planned.name,
                    f"{plan.name}.{planned.name} ({info.type_text}) holds at most {bound:,}, "
                    f"but its generator reaches {top:,} at {plan.rows:,} rows",
                    hint="lower rows or --scale, narrow the generator, or widen the column",
                )
            )
    return found


def distinct_capacity(planned: PlannedColumn, info: TableInfo) -> tuple[int, str] | None:
    """How many distinct values a column that must be unique can take, and what limits it
    (`its pattern ^[A-Z]{2}$ makes only 676 values`); None when it is not unique."""
    spec = planned.spec
    if isinstance(spec, PatternColumn) and spec.unique:
        distinct = distinct_values(spec)
        if distinct is not None:
            return distinct, f"its pattern {spec.pattern} makes only {distinct:,} values"
    if isinstance(spec, ChoiceColumn) and spec.unique:
        return len(spec.choice), f"it takes only {len(spec.choice):,} values"
    if isinstance(spec, BoolColumn) and planned.name in info.unique:
        return 2, "a boolean takes only 2 values"
    if isinstance(spec, SequenceColumn):  # `id smallint PRIMARY KEY CHECK (id BETWEEN 1 AND 4)`
        facts = info.checks.columns.get(planned.name)
        high = facts.high if facts is not None else None
        if high is not None and isinstance(high.value, int | float) and spec.step > 0:
            top = math.floor(high.value) - (0 if high.inclusive else 1)
            count = max(0, (top - spec.sequence) // spec.step + 1)
            return count, f"a CHECK stops it at {high.value}, so it takes only {count:,} values"
    return None


def row_capacity(plan: TablePlan) -> int | None:
    """The most rows the table's unique columns allow (a lookup table keyed by an enum, a
    char(2) code) and its sequences can number; None when they allow any number."""
    found = [distinct_capacity(c, plan.info) for c in plan.columns]
    found += [(left, "") for _, left, _ in _numbered_by_sequence(plan)]
    return min((capacity for capacity, _ in filter(None, found)), default=None)


def _numbered_by_sequence(plan: TablePlan) -> list[tuple[str, int, str]]:
    """The columns left to a sequence that stops (MAXVALUE, a smallserial's 32,767) or
    whose numbers a CHECK stops (`CHECK (id BETWEEN 1 AND 50)`), with how many more values
    it gives and what stops it."""
    found = []
    for name in plan.left_to_database:
        info = plan.info.columns.get(name)
        if info is None:
            continue
        stops = [(info.serial_left, "its MAXVALUE")] if info.serial_left is not None else []
        high = facts.high if (facts := plan.info.checks.columns.get(name)) else None
        start = info.next_serial[0] if info.next_serial and info.next_serial[1] == 1 else None
        if start is not None and high is not None and type(high.value) is int:
            last = high.value if high.inclusive else high.value - 1
            stops.append((max(last - start + 1, 0), f"a CHECK stops it at {last:,}"))
        if stops:
            left, why = min(stops)
            found.append((name, left, why))
    return found


def _sequences_run_out(plan: TablePlan) -> list[PlanError]:
    """A sequence that numbers the rows but stops before the last of them."""
    return [
        PlanError(
            plan.name,
            name,
            f"{plan.name}.{name} is numbered by a sequence that gives only {left:,} more "
            f"values ({why}), for {plan.rows:,} rows",
            hint=f"lower {plan.name}'s rows to {left:,} or fewer (or --scale), or let the "
            "sequence go further (its MAXVALUE; a smallserial stops at 32,767; the CHECK)",
        )
        for name, left, why in _numbered_by_sequence(plan)
        if left < plan.rows
    ]


def _too_few_values(plan: TablePlan) -> list[PlanError]:
    """A column that must be unique but has fewer distinct values than the table rows."""
    found = []
    for planned in plan.columns:
        capacity = distinct_capacity(planned, plan.info)
        if capacity is not None and capacity[0] < plan.rows:
            found.append(
                PlanError(
                    plan.name,
                    planned.name,
                    f"{plan.name}.{planned.name} must be unique, but {capacity[1]}, for "
                    f"{plan.rows:,} rows",
                    hint=f"lower its rows to {capacity[0]:,} or fewer (or --scale); or widen "
                    "the column, or give it a generator with more values",
                )
            )
    return found


def _unshaped_partition_keys(plan: TablePlan) -> list[PlanError]:
    """A partition key over several columns, or through an expression pgrehearse does not
    see through, gets values from the scenario: inferred ones would miss the partitions."""
    inferred = {c.name for c in plan.columns if c.inferred}
    found = []
    for key in plan.info.unshaped_keys:
        columns = [c for c in key.columns if c in plan.info.columns]
        guessed = [c for c in columns if c in inferred]
        if not guessed or plan.rows <= 0:
            continue
        found.append(
            PlanError(
                plan.name,
                guessed[0],
                f"{plan.name} is partitioned by ({key.key}), which pgrehearse does not make "
                f"values for: inferred values of {', '.join(guessed)} would miss its partitions "
                f"({'; '.join(key.bounds)}{'; …' if len(key.bounds) >= 4 else ''})",
                hint=f"give {', '.join(columns)} generators whose values fall in the bounds "
                f"under data.tables.{plan.name}.columns, or add a DEFAULT partition",
            )
        )
    return found


def combination_capacity(plan: TablePlan, rows_of: Mapping[str, int]) -> int | None:
    """The most rows a table's composite unique keys allow; None when they allow any
    number. `rows_of`: each table's rows."""
    capacities = [_group_capacity(plan, group, rows_of) for group in plan.combinations]
    return min((c for c in capacities if c is not None), default=None)


def combination_problems(plans: Mapping[str, TablePlan]) -> list[PlanError]:
    """Composite unique keys whose columns make fewer combinations than their table rows."""
    rows_of = {name: plan.rows for name, plan in plans.items()}
    found = []
    for plan in plans.values():
        for group in plan.combinations:
            capacity = _group_capacity(plan, group, rows_of)
            if capacity is None or capacity >= plan.rows:
                continue
            found.append(
                PlanError(
                    plan.name,
                    group[0],
                    f"({', '.join(group)}) is unique in the schema, but its columns can make "
                    f"only {capacity:,} distinct combinations for {plan.rows:,} rows",
                    hint=f"lower {plan.name}'s rows to {capacity:,} or fewer (or --scale), or "
                    + (
                        "give the tables it references more rows"
                        if _references(plan, group)
                        else "give its columns generators with more values"
                    ),
                )
            )
    return found


def _group_capacity(plan: TablePlan, group: list[str], rows_of: Mapping[str, int]) -> int | None:
    """The product of the values each column of a composite unique key takes (a
    referenced table's rows, a choice's values, an int range's span); None if unknown."""
    specs = {c.name: c.spec for c in plan.columns}
    sizes: list[int | None] = []
    held: set[str] = set()
    for columns, table, _ in plan.row_refs:  # a composite foreign key: one row of its table
        if set(columns) <= set(group):
            sizes.append(rows_of.get(table))
            held.update(columns)
    for c in group:
        taken = _values_taken(specs[c], rows_of) if c in specs and c not in held else None
        if taken is not None and kept_apart_from(specs, c, group, held) is not None:
            taken -= 1  # `CHECK (follower <> followee)`: never the other's key
        if c not in held:
            sizes.append(taken)
    known = [size for size in sizes if size is not None]
    return math.prod(known) if sizes and len(known) == len(sizes) else None


def _values_taken(spec: ColumnSpec, rows_of: Mapping[str, int]) -> int | None:
    if isinstance(spec, RefColumn):
        return rows_of.get(spec.table)
    if isinstance(spec, ChoiceColumn):
        return len(spec.choice)
    if isinstance(spec, IntColumn):
        return spec.int_range[1] - spec.int_range[0] + 1
    return None


def _references(plan: TablePlan, group: list[str]) -> bool:
    refs = {c.name for c in plan.columns if isinstance(c.spec, RefColumn)}
    return bool(refs & set(group)) or any(set(cs) <= set(group) for cs, _, _ in plan.row_refs)
