"""A polymorphic reference's id tied to its type, row by row: `commentable_id` holds a key
of the table `commentable_type` names in the same row (as Rails and Laravel write them),
not numbers that match no row of any table."""

from __future__ import annotations

import re

from pgrehearse.scenario import ChoiceColumn, RefColumn, RefsByColumn
from pgrehearse.seed._catalog import TableInfo
from pgrehearse.seed._names import model_name, snake_case
from pgrehearse.seed._plan_model import PlannedColumn, TablePlan


def tie_polymorphic_ids(plan: TablePlan, catalog: dict[str, TableInfo]) -> None:
    """Each inferred `<name>_id` beside a `<name>_type` that chooses among model names
    becomes a key of the table each row's type names, where every choice names a table
    that will have rows and has a key of the id's kind."""
    planned = {c.name: c for c in plan.columns}
    by_snake = {snake_case(name): name for name in planned}
    for index, column in enumerate(plan.columns):
        name = snake_case(column.name)
        if not column.inferred or not name.endswith("_id"):
            continue
        if isinstance(column.spec, RefColumn | RefsByColumn):
            continue
        type_column = by_snake.get(name.removesuffix("_id") + "_type")
        kinds = planned[type_column].spec if type_column is not None else None
        if type_column is None or not isinstance(kinds, ChoiceColumn):
            continue
        refs = _tables_of([str(v) for v in kinds.choice], catalog, plan, column.name)
        if refs is None:
            continue
        spec = RefsByColumn(refs=refs, by=type_column, null_fraction=column.spec.null_fraction)
        plan.columns[index] = PlannedColumn(column.name, spec, inferred=True)
        plan.implied_refs[column.name] = column.spec  # what a cycle goes back to
        plan.notes.append(
            f"{column.name} takes a key of the table {type_column} names in its row "
            f"(a polymorphic reference: {', '.join(f'{m} → {r}' for m, r in refs.items())})"
        )


def _tables_of(
    models: list[str], catalog: dict[str, TableInfo], plan: TablePlan, column: str
) -> dict[str, str] | None:
    """`table.key` of each model, or None unless every model has one of the id's kind."""
    tables = {model_name(name): info for name, info in catalog.items() if info.will_have_rows}
    numeric = plan.info.columns[column].category == "N"
    refs = {}
    for model in models:
        # Laravel stores the class with its namespace (`App\Models\Post`), Rails a
        # module's (`Shop::Order`): the model is the last part
        info = tables.get(re.split(r"\\|::", model)[-1])
        key = key_of(info) if info is not None else None
        if info is None or key is None or (info.columns[key].category == "N") != numeric:
            return None
        refs[model] = f"{info.name}.{key}"
    return refs or None


def key_of(info: TableInfo) -> str | None:
    """The column a row is referred to by: `id`, else its one NOT NULL unique column."""
    keys = sorted(c for c in info.unique if info.columns[c].not_null)
    named_id = [c for c in keys if c.lower() == "id"]
    if named_id:
        return named_id[0]
    return keys[0] if len(keys) == 1 else None
