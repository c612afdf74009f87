"""References a schema does not declare: `user_id` beside a `users` table with an `id` key.

Many applications keep their references in the code alone (Rails before `add_foreign_key`,
Laravel, most schemas grown by hand). Such a column's values were numbers of no row, so the
application's joins found nothing. Where its name names exactly one table of the scenario,
seeded with rows and keyed by `id` of a fitting type, it now takes that table's keys. This
never makes a plan fail that would have passed: columns under a CHECK, a partition's bounds
or a unique key are left alone, and in a cycle of references such a column goes back to its
plain numbers first.
"""

from __future__ import annotations

import itertools

from pgrehearse.scenario import ColumnSpec, RefColumn, RefsByColumn
from pgrehearse.seed._catalog import ColumnInfo, TableInfo
from pgrehearse.seed._names import singular, snake_case
from pgrehearse.seed._plan_model import PlannedColumn, TablePlan

_INTEGER_WIDTH = {"int2": 2, "int4": 4, "int8": 8}


def implied_reference(
    column: ColumnInfo, info: TableInfo, catalog: dict[str, TableInfo]
) -> str | None:
    """`table.id` where the column's name says it refers to that table's keys, else None."""
    name = snake_case(column.name)
    if not name.endswith("_id") or column.is_array or column.name in info.foreign_keys:
        return None
    if column.name in info.unique or column.name in info.checks.columns:
        return None
    if any(column.name in group for group in info.unique_groups):
        return None
    thing = name.removesuffix("_id")
    found = [
        table
        for key, table in catalog.items()
        if key != info.name and thing in (singular(key), key.rsplit(".", 1)[-1].lower())
    ]
    if len(found) != 1:
        return None
    [target] = found
    key = target.columns.get("id")
    if key is None or "id" not in target.unique or not target.will_have_rows:
        return None
    return f"{target.name}.id" if _fits(column.base_type, key.base_type) else None


def _fits(column_type: str, key_type: str) -> bool:
    """Whether the key's values fit the column: the same kind, and an integer column of
    four bytes or more (keys numbered from 1 stay far below 2^31)."""
    if column_type == "uuid" or key_type == "uuid":
        return column_type == key_type
    width, key_width = _INTEGER_WIDTH.get(column_type), _INTEGER_WIDTH.get(key_type)
    if width is None or key_width is None:
        return False
    return width >= 4 or key_width <= width


def refer_by_name(plan: TablePlan, column: str, ref: str, numbers: ColumnSpec) -> None:
    """Plan `column` as a reference to `ref`, keeping `numbers` (what inference made of it
    otherwise) for a cycle to go back to."""
    spec = RefColumn(ref=ref, null_fraction=numbers.null_fraction)  # a rarely set one stays so
    plan.columns.append(PlannedColumn(column, spec, inferred=True))
    plan.implied_refs[column] = numbers
    plan.notes.append(f"{column} refers to {ref} by its name (no foreign key declares it)")


def drop_implied_reference(
    cycle: list[str], plans: dict[str, TablePlan], graph: dict[str, set[str]]
) -> bool:
    """Break a cycle at a reference only a name implied: that column goes back to the
    numbers inference would have made. True when one was."""
    for referrer, referenced in itertools.pairwise(cycle):
        plan = plans[referrer]
        for index, planned in enumerate(plan.columns):
            numbers = plan.implied_refs.get(planned.name)
            spec = planned.spec
            targets = [spec] if isinstance(spec, RefColumn) else []
            targets += spec.targets if isinstance(spec, RefsByColumn) else []
            if numbers is None or referenced not in {target.table for target in targets}:
                continue
            plan.columns[index] = PlannedColumn(planned.name, numbers, inferred=True)
            del plan.implied_refs[planned.name]
            said = (f"{planned.name} refers to", f"{planned.name} takes a key")
            plan.notes = [n for n in plan.notes if not n.startswith(said)]
            plan.notes.append(
                f"{planned.name} keeps plain numbers: taken as a reference to "
                f"{', '.join(t.ref for t in targets)} by its name, it would close the "
                "reference cycle " + " -> ".join(cycle)
            )
            graph[referrer] = {t for t in plan.refs() if t in plans and t != referrer}
            return True
    return False
