"""How tables that refer to each other, or to themselves, get valid keys: the seeding
order (referenced tables first), cycles broken by a NULL or by keys predicted before they
exist, a table's references to its own rows, and composite foreign keys taken row by row."""

from __future__ import annotations

import graphlib
import itertools

from pgrehearse.scenario import IntColumn, RefColumn, SequenceColumn, UuidColumn
from pgrehearse.seed._catalog import TableInfo
from pgrehearse.seed._implied_refs import drop_implied_reference
from pgrehearse.seed._null_patterns import leave_null
from pgrehearse.seed._plan_model import PlanError, PlannedColumn, TablePlan


def refer_to_rows(info: TableInfo, plan: TablePlan, catalog: dict[str, TableInfo]) -> None:
    """A foreign key over several columns: the columns the scenario leaves to inference
    take the values of one referenced row together (each referenced column's own values
    would make pairs that do not exist there)."""
    for columns, table, referenced in info.composite_foreign_keys:
        target = catalog.get(table)
        if target is None or not target.will_have_rows:
            continue
        planned = {c.name: c for c in plan.columns}
        if any(c in planned and not planned[c].inferred for c in columns):
            continue  # the scenario chose: its generators are its own to keep consistent
        if table == plan.name:
            _own_rows_over_columns(plan, columns, referenced)
            continue
        for column, ref_column in zip(columns, referenced, strict=True):
            spec = RefColumn(ref=f"{table}.{ref_column}")
            if column in planned:
                plan.columns[plan.columns.index(planned[column])] = PlannedColumn(
                    column, spec, inferred=True
                )
            else:
                plan.columns.append(PlannedColumn(column, spec, inferred=True))
                if column in plan.left_to_database:
                    plan.left_to_database.remove(column)
        plan.row_refs.append((list(columns), table, list(referenced)))


def _own_rows_over_columns(plan: TablePlan, columns: list[str], referenced: list[str]) -> None:
    """A foreign key over several columns to the table's own rows (a member invited by
    another member of the same tenant: `(tenant_id, invited_by)` to `(tenant_id, id)`):
    those rows' keys are not known while the table is seeded, so the columns that point at
    another row are left NULL, which the key then does not check (MATCH SIMPLE). The
    columns it shares with the row itself (`tenant_id`) keep their own generators."""
    pointing = [c for c, r in zip(columns, referenced, strict=True) if c != r]
    nullable = [c for c in pointing if not plan.info.columns[c].not_null]
    key = f"({', '.join(columns)})"
    if not nullable:
        raise PlanError(
            plan.name,
            columns[0],
            f"{plan.name}{key} refers to the table's own rows ({', '.join(referenced)}), whose "
            "keys are not known before they are made, and none of its columns can be NULL",
            hint=f"give {', '.join(pointing)} generators of keys the table's rows will hold",
        )
    for column in nullable:
        leave_null(
            plan,
            plan.info.columns[column],
            f"{column} left NULL: {key} refers to the table's own rows, whose keys are not "
            "known before they are made",
        )


def seeding_order(plans: dict[str, TablePlan]) -> list[str]:
    graph = {
        name: {t for t in plan.refs() if t in plans and t != name} for name, plan in plans.items()
    }
    while True:
        try:
            return list(graphlib.TopologicalSorter(graph).static_order())
        except graphlib.CycleError as exc:
            cycle: list[str] = exc.args[1]
            if not _break_cycle(cycle, plans, graph):
                raise PlanError(
                    cycle[0],
                    None,
                    "the tables reference each other in a cycle: " + " -> ".join(cycle),
                    hint="give one of the referencing columns a generator of valid keys that "
                    "does not read the other table (e.g. `int: [1, N]` over keys numbered 1..N), "
                    "or make it nullable so it can start empty",
                ) from None


def _break_cycle(cycle: list[str], plans: dict[str, TablePlan], graph: dict[str, set[str]]) -> bool:
    """Give a reference only a name implied its plain numbers back; else leave one nullable
    reference of the cycle NULL; else have one reference take the keys its table will be
    given before they exist. True when one of these was done."""
    return (
        drop_implied_reference(cycle, plans, graph)
        or _null_reference(cycle, plans, graph)
        or _predicted_reference(cycle, plans, graph)
    )


def _predicted_reference(
    cycle: list[str], plans: dict[str, TablePlan], graph: dict[str, set[str]]
) -> bool:
    """A reference to keys that are numbered one by one from a known start (a `sequence`
    generator, or an identity or serial the database fills from its sequence) becomes an
    `int` over the range they will take, so its table can be seeded first."""
    for referrer, referenced in itertools.pairwise(cycle):
        plan, target = plans[referrer], plans[referenced]
        for index, planned in enumerate(plan.columns):
            spec = planned.spec
            if not isinstance(spec, RefColumn) or spec.table != referenced:
                continue
            keys = _numbered_keys(target, spec.column)
            if keys is None:
                continue
            low, high = keys
            made = _keys_to_come(spec, low, high)
            plan.columns[index] = PlannedColumn(planned.name, made, planned.inferred)
            plan.notes.append(
                f"{planned.name} takes the keys {spec.ref} will be numbered with "
                f"({low:,}..{high:,}) before they exist, to break the reference cycle "
                + " -> ".join(cycle)
            )
            graph[referrer].discard(referenced)
            return True
    return False


def _keys_to_come(spec: RefColumn, low: int, high: int) -> IntColumn:
    """A reference as the numbers its keys will be given, low..high, before they exist."""
    return IntColumn.model_validate(
        {"int": [low, high], "unique": spec.unique, "null_fraction": spec.null_fraction}
    )


def _earlier_keys(spec: RefColumn, low: int, high: int, nullable: bool) -> IntColumn:
    """A reference to the table's own rows as the number of an earlier row: a tree, with
    no row its own parent (`CHECK (parent_id <> id)`) and no cycle for a recursive query
    to loop on; where it may be NULL, the first row and a share of the others are roots."""
    shares = spec.null_fraction or (ROOTS if nullable else 0.0)
    return IntColumn.model_validate({"int": [low, high], "earlier": True, "null_fraction": shares})


def refer_to_own_rows(plan: TablePlan) -> None:
    """A reference to the table's own rows (a parent, a predecessor): its keys do not
    exist while the table is seeded, so it takes the numbers they will be given, or the
    UUIDs of earlier rows (a uuid key is then made as UUIDs numbered by row); a nullable
    one whose keys cannot be known beforehand is left NULL."""
    for index, planned in reversed(list(enumerate(plan.columns))):
        spec = planned.spec
        if not isinstance(spec, RefColumn) or spec.table != plan.name:
            continue
        keys = _numbered_keys(plan, spec.column)
        nullable = not plan.info.columns[planned.name].not_null
        if keys is not None:
            low, high = keys
            if spec.unique or spec.hot:  # a successor, one each; or the hot few
                made = _keys_to_come(spec, low, high)
                what = f"the keys {spec.ref} will be numbered with ({low:,}..{high:,})"
            else:
                made = _earlier_keys(spec, low, high, nullable)
                what = f"an earlier row's key ({spec.ref} is numbered {low:,}..{high:,})"
                if made.null_fraction:
                    what += f"; the first row and {made.null_fraction:.0%} of rows are roots (NULL)"
            plan.columns[index] = PlannedColumn(planned.name, made, planned.inferred)
            plan.notes.append(f"{planned.name} refers to the table's own rows: it takes {what}")
        elif _uuids_numbered(plan, spec.column):
            made_uuid = UuidColumn.model_validate(
                {
                    "uuid": "numbered",
                    "of": spec.ref,
                    "null_fraction": spec.null_fraction or (ROOTS if nullable else 0.0),
                }
            )
            plan.columns[index] = PlannedColumn(planned.name, made_uuid, planned.inferred)
            plan.notes.append(
                f"{planned.name} refers to the table's own rows: it takes the key of an "
                f"earlier row ({spec.column} is made as UUIDs numbered by row, known before "
                "the rows are)" + (f"; {ROOTS:.0%} of rows are roots (NULL)" if nullable else "")
            )
        elif not plan.info.columns[planned.name].not_null:
            del plan.columns[index]
            plan.left_to_database.append(planned.name)
            plan.notes.append(
                f"{planned.name} left NULL: it refers to the table's own rows, whose keys "
                f"({spec.ref}) are not known before they are made"
            )
        else:
            raise PlanError(
                plan.name,
                planned.name,
                f"{plan.name}.{planned.name} refers to the table's own rows ({spec.ref}), "
                "whose keys are not known before they are made, and it cannot be NULL",
                hint=f"give {spec.column} a `sequence` generator (its keys are then known), or "
                f"{planned.name} a generator of keys {spec.column} will hold",
            )


ROOTS = 0.2  # of a nullable self-reference over UUIDs: rows with no parent


def _uuids_numbered(plan: TablePlan, column: str) -> bool:
    """Whether the table's uuid key `column` is (or can be made) numbered UUIDs: inferred,
    or left to a default such as gen_random_uuid(), which pgrehearse then fills instead."""
    info = plan.info.columns.get(column)
    if info is None or info.base_type != "uuid" or info.is_array or plan.rows <= 0:
        return False
    numbered = UuidColumn.model_validate({"uuid": "numbered"})
    for index, planned in enumerate(plan.columns):
        if planned.name != column:
            continue
        if isinstance(planned.spec, UuidColumn) and planned.spec.uuid == "numbered":
            return True
        if not planned.inferred or not isinstance(planned.spec, UuidColumn):
            return False
        plan.columns[index] = PlannedColumn(column, numbered, True)
        return True
    if column not in plan.left_to_database or info.is_generated or info.is_identity:
        return False
    plan.left_to_database.remove(column)
    plan.columns.append(PlannedColumn(column, numbered, True))
    return True


def _numbered_keys(target: TablePlan, column: str) -> tuple[int, int] | None:
    """The first and last key of `column` once `target` is seeded, where they are
    consecutive numbers known before: None otherwise."""
    if target.rows <= 0:
        return None
    planned = next((c for c in target.columns if c.name == column), None)
    if planned is not None:
        spec = planned.spec
        if isinstance(spec, SequenceColumn) and spec.step == 1 and not spec.null_fraction:
            return spec.sequence, spec.sequence + target.rows - 1
        return None
    info = target.info.columns.get(column)
    if column not in target.left_to_database or info is None or info.next_serial is None:
        return None
    start, increment = info.next_serial
    return (start, start + target.rows - 1) if increment == 1 else None


def _null_reference(
    cycle: list[str], plans: dict[str, TablePlan], graph: dict[str, set[str]]
) -> bool:
    for referrer, referenced in itertools.pairwise(cycle):
        plan = plans[referrer]
        for planned in plan.columns:
            spec = planned.spec
            column = plan.info.columns[planned.name]
            if isinstance(spec, RefColumn) and spec.table == referenced and not column.not_null:
                plan.columns.remove(planned)
                plan.left_to_database.append(planned.name)
                plan.notes.append(
                    f"{planned.name} left NULL to break the reference cycle {' -> '.join(cycle)}"
                )
                graph[referrer].discard(referenced)
                return True
    return False
