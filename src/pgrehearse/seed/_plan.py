"""Which generator fills which column: the scenario's choices, checked against the catalog,
and sensible generators inferred for the columns the scenario does not mention."""

from __future__ import annotations

import re
from typing import Any

from pgrehearse.scenario import (
    BoolColumn,
    ChoiceColumn,
    ColumnSpec,
    ConstantColumn,
    DataSpec,
    FakerColumn,
    IntColumn,
    RangeColumn,
    RefColumn,
    RefsByColumn,
    SequenceColumn,
    TextColumn,
    UuidColumn,
)
from pgrehearse.seed._catalog import ColumnInfo, Exclusion, TableInfo, mentions
from pgrehearse.seed._differs import keep_references_apart
from pgrehearse.seed._exclusions import make_slots
from pgrehearse.seed._implied_refs import implied_reference, refer_by_name
from pgrehearse.seed._infer import infer_generator
from pgrehearse.seed._names import is_flag, snake_case
from pgrehearse.seed._null_patterns import leave_null, plan_null_patterns, plan_null_when
from pgrehearse.seed._order import order_columns
from pgrehearse.seed._plan_checks import combination_problems, table_problems
from pgrehearse.seed._plan_model import PlanError, PlannedColumn, TablePlan
from pgrehearse.seed._polymorphic import tie_polymorphic_ids
from pgrehearse.seed._references import refer_to_own_rows, refer_to_rows, seeding_order

_NUMERIC_TYPES = {"int2", "int4", "int8", "numeric", "float4", "float8", "money", "oid"}
_TEMPORAL_TYPES = {"date", "timestamp", "timestamptz"}

# generator kind -> type categories (pg_type.typcategory) it can fill; None: anything
_FITS: dict[str, set[str] | None] = {
    "int": {"N", "S", "T"},
    "float": {"N", "S"},
    "sequence": {"N", "S"},
    "bool": {"B", "S"},
    "between": {"D", "S"},
    "after": {"D", "S"},
    "text": {"S"},
    "uuid": {"U", "S"},
    "json": {"U", "S"},
    "array": {"A"},
    "choice": None,
    "value": None,
    "faker": None,
    "ref": None,
    "refs": None,
    "sql": None,
    "range": {"R"},
    "pattern": {"S", "U"},  # text, and the text input of extension types (ltree, hstore)
    "empirical": None,  # values the column held in production; the sample check tries them
}
_MAKES = {
    "int": "integers",
    "float": "numbers",
    "sequence": "integers",
    "bool": "booleans",
    "between": "dates/timestamps",
    "after": "dates/timestamps",
    "text": "text",
    "uuid": "UUIDs",
    "json": "JSON objects",
    "array": "arrays",
    "range": "ranges",
    "pattern": "text",
}


def plan_tables(
    data: DataSpec, catalog: dict[str, TableInfo], rows: dict[str, int]
) -> list[TablePlan]:
    """Plans in seeding order (referenced tables first). Raises the first `PlanError`,
    holding every other problem of every table in its `more`."""
    plans, problems = plan_all_tables(data, catalog, rows)
    PlanError.raise_all(problems)
    return plans


def plan_all_tables(
    data: DataSpec, catalog: dict[str, TableInfo], rows: dict[str, int]
) -> tuple[list[TablePlan], list[PlanError]]:
    """Every table's plan as far as it goes, and every problem found on the way."""
    problems: list[PlanError] = []
    plans = {
        name: _plan_table(
            name, data.tables[name].columns, catalog[name], rows[name], catalog, problems
        )
        for name in data.tables
    }
    for plan in plans.values():
        try:
            refer_to_own_rows(plan)
        except PlanError as exc:
            problems.append(exc)
    problems += combination_problems(plans)
    try:
        order = seeding_order(plans)
    except PlanError as exc:
        problems.append(exc)
        order = list(plans)
    return [plans[name] for name in order], problems


def _plan_table(
    name: str,
    explicit: dict[str, ColumnSpec],
    info: TableInfo,
    rows: int,
    catalog: dict[str, TableInfo],
    problems: list[PlanError],
) -> TablePlan:
    plan = TablePlan(name, rows, [], info)
    for column_name in explicit:
        if column_name not in info.columns:
            known = ", ".join(info.columns)
            problems.append(
                PlanError(
                    name,
                    column_name,
                    f"table {name!r} has no column {column_name!r}",
                    hint=f"its columns are: {known}",
                )
            )
    for column in info.columns.values():
        try:
            _plan_column(name, column, explicit.get(column.name), info, rows, catalog, plan)
        except PlanError as exc:
            problems.append(exc)
    tie_polymorphic_ids(plan, catalog)
    problems += table_problems(plan)
    refer_to_rows(info, plan, catalog)
    try:
        plan_null_patterns(plan)
        plan_null_when(plan)
    except PlanError as exc:
        problems.append(exc)
    order_columns(name, info, plan, problems)
    kept_apart = keep_references_apart(info, plan)
    for group in info.unique_groups:
        try:
            _honour_unique_group(name, group, info, plan)
        except PlanError as exc:
            problems.append(exc)
    for exclusion in info.exclusions:
        try:
            _honour_exclusion(name, exclusion, info, plan)
        except PlanError as exc:
            problems.append(exc)
    plan.notes += info.notes
    for check in info.checks.not_understood:
        if check in kept_apart:
            continue
        plan.notes.append(
            f"CHECK {check} is not a form pgrehearse builds values for (comparisons with "
            "constants or another column, IN lists, OR of equalities, lengths, regular "
            "expressions, LIKE, IS NULL combinations): it was tried on sample rows of the "
            "table's generators"
        )
    return plan


def _plan_column(
    name: str,
    column: ColumnInfo,
    spec: ColumnSpec | None,
    info: TableInfo,
    rows: int,
    catalog: dict[str, TableInfo],
    plan: TablePlan,
) -> None:
    facts = info.checks.columns.get(column.name)
    checked_not_null = facts is not None and facts.not_null and not column.not_null
    if spec is not None:
        _check_fits(name, column, spec)
        spec = _enforce_unique(name, column, spec, info)
        _check_reference(name, column, spec, info, catalog)
        if checked_not_null and spec.null_fraction > 0:
            raise PlanError(
                name,
                column.name,
                f"a CHECK of {name} requires {column.name} to have a value, but its generator "
                f"leaves {spec.null_fraction:.0%} of rows NULL",
                hint="remove its null_fraction",
            )
        plan.columns.append(PlannedColumn(column.name, spec, inferred=False))
        return
    if facts is not None and facts.always_null and not column.not_null:
        leave_null(
            plan,
            column,
            f"{column.name} left NULL: a CHECK holds where it is NULL, and its values would "
            f"have to follow other columns' (`… OR {column.name} IS NULL`); give it a "
            "generator to choose otherwise",
        )
        return
    if column.database_fills and not _worth_generating(column, info):
        plan.left_to_database.append(column.name)
        return
    inferred = infer_generator(column, info, catalog, rows)
    if inferred is None:
        if (column.not_null or checked_not_null) and rows > 0:  # an empty table needs none
            required = "NOT NULL" if column.not_null else "a CHECK requires a value"
            foreign = info.foreign_keys.get(column.name)
            if foreign is not None:  # its key would have to be a row of a table without any
                raise PlanError(
                    name,
                    column.name,
                    f"{name}.{column.name} ({required}) references {foreign[0]}.{foreign[1]}, "
                    f"which gets no rows",
                    hint=f"give {foreign[0]} rows under data.tables.{foreign[0]}.rows (or "
                    f"{column.name} a generator of keys it holds)",
                )
            raise PlanError(
                name,
                column.name,
                f"cannot infer a generator for {name}.{column.name} ({column.type_text}, "
                f"{required})",
                hint=f"give it one under data.tables.{name}.columns.{column.name}",
            )
        plan.left_to_database.append(column.name)
        if rows > 0:
            plan.notes.append(f"{column.name} ({column.type_text}) left NULL")
        return
    implied = None if isinstance(inferred, RefColumn) else implied_reference(column, info, catalog)
    if implied is not None:
        refer_by_name(plan, column.name, implied, inferred)
        return
    plan.columns.append(PlannedColumn(column.name, inferred, inferred=True))


_COMBINABLE = (RefColumn, ChoiceColumn, IntColumn)


def _honour_unique_group(name: str, group: list[str], info: TableInfo, plan: TablePlan) -> None:
    """A composite unique key: already unique through one of its columns; else every row
    gets a distinct combination of its refs, choices and ints; else one of its inferred
    columns is made unique by itself (stronger than needed, and always possible)."""
    planned = {c.name: c for c in plan.columns}
    for column in group:
        info_column = info.columns[column]
        if column not in planned and (
            info_column.is_identity or "nextval(" in (info_column.default_expr or "")
        ):
            return
        if column in planned and _makes_unique_values(planned[column].spec):
            return
    taken = {c for combination in plan.combinations for c in combination}
    # a composite foreign key's columns take one referenced row together: the key must
    # hold all of them to make that row its part
    split = {
        c for columns, _, _ in plan.row_refs if not set(columns) <= set(group) for c in columns
    }
    if all(
        c in planned and isinstance(planned[c].spec, _COMBINABLE) and c not in taken | split
        for c in group
    ):
        plan.combinations.append(list(group))
        return
    # an inferred column rather than one the scenario chose, and text last: made unique, it
    # carries a number, which a short column has little room for
    ranked = sorted(
        (planned[c] for c in group if c in planned),
        key=lambda c: (not c.inferred, isinstance(c.spec, TextColumn | FakerColumn)),
    )
    for candidate in ranked:
        column = candidate.name
        if isinstance(candidate.spec, RefColumn | ChoiceColumn | BoolColumn):
            continue
        if "unique" in type(candidate.spec).model_fields:
            index = plan.columns.index(candidate)
            spec = candidate.spec.model_copy(update={"unique": True})
            plan.columns[index] = PlannedColumn(column, spec, candidate.inferred)
            return
    raise PlanError(
        name,
        group[0],
        f"({', '.join(group)}) is unique in the schema, and pgrehearse cannot make the "
        "combinations distinct with these columns' generators",
        hint="give one of its columns a generator with unique: true, or refs, choices or "
        "int ranges for all of them",
    )


_RANGE_TYPES = {"int4range", "int8range", "numrange", "daterange", "tsrange", "tstzrange"}


def _honour_exclusion(name: str, exclusion: Exclusion, info: TableInfo, plan: TablePlan) -> None:
    """An EXCLUDE constraint: with `&&` on a range column, that column's ranges are made
    disjoint (then no two rows conflict, whatever its other elements); with `=` alone, it
    is a unique key; any other form is a plan error, unless the scenario chose generators
    for all of its columns."""
    planned = {c.name: c for c in plan.columns}
    elements = list(zip(exclusion.columns, exclusion.operators, strict=True))
    for column, operator in elements:
        found = planned.get(column or "")
        if (
            operator == "&&"
            and found is not None
            and info.columns[found.name].base_type in _RANGE_TYPES
            and isinstance(found.spec, RangeColumn)
        ):
            if not found.spec.separate:
                spec = found.spec.model_copy(update={"disjoint": True})
                plan.columns[plan.columns.index(found)] = PlannedColumn(
                    found.name, spec, found.inferred
                )
            return
    named = [column for column, _ in elements if column is not None]
    if len(named) == len(elements) and all(operator == "=" for _, operator in elements):
        _honour_unique_group(name, named, info, plan)
        return
    slots = make_slots(exclusion, plan)
    if slots is not None:
        plan.notes.append(slots)
        return
    described = ", ".join(f"{c or 'an expression'} WITH {op}" for c, op in elements)
    if len(named) == len(elements) and all(c in planned and not planned[c].inferred for c in named):
        plan.notes.append(f"EXCLUDE {exclusion.name} ({described}) is left to your generators")
        return
    raise PlanError(
        name,
        named[0] if named else None,
        f"EXCLUDE constraint {exclusion.name} ({described}) is not a form pgrehearse builds "
        "values for (a range column WITH &&, a range of two timestamp or date columns "
        "WITH &&, or columns WITH =)",
        hint="give its columns generators whose rows never conflict (for a range, "
        "`range: [low, high], disjoint: true`)",
    )


def _makes_unique_values(spec: ColumnSpec) -> bool:
    if isinstance(spec, UuidColumn):
        return spec.of is None  # a parent's key repeats
    return bool(getattr(spec, "unique", False)) or isinstance(spec, SequenceColumn)


_RANDOM_UUID = re.compile(
    r"\b(gen_random_uuid|uuid_generate_v[14]|uuid_generate_v1mc|uuidv[47])\s*\(", re.IGNORECASE
)
_NOW = re.compile(
    r"\b(now\(\)|current_timestamp|current_date|localtimestamp|clock_timestamp\(\)|"
    r"statement_timestamp\(\)|transaction_timestamp\(\))",
    re.IGNORECASE,
)


# a zero or an empty string: what an ORM writes to make a column NOT NULL (`default: 0`,
# `default: ""`), not what production's rows hold (counters, totals, versions, hashes)
_PLACEHOLDER = re.compile(
    r"^\(?(0+(\.0+)?|'0+(\.0+)?'|'')\)?(::[a-z ]+(\(\d+(,\s*\d+)?\))?)?$", re.IGNORECASE
)


def _worth_generating(column: ColumnInfo, info: TableInfo) -> bool:
    """A defaulted column gets generated values when its default would make it dull or
    wrong: an enum (one value for every row), a column a CHECK constrains (the default
    may not even pass it), a date or timestamp defaulting to now (every row made in the
    same instant, after its own `updated_at`), or a placeholder zero or empty string that
    is not a flag's (every order's total 0, every password '') nor tied to other columns by
    a CHECK values are not built for; a part of a composite unique key (`UNIQUE (user_id,
    kind)` with `kind DEFAULT 'home'`: one address per user); or not the same from one
    run to the next: a random UUID (`gen_random_uuid()`), which the seed does not
    govern. Other constants (`'EUR'`, `false`, `'{}'`) are what most production rows hold
    too, and stay. Identity, serial and generated columns stay the database's."""
    if column.is_identity or column.is_generated:
        return False
    default = (column.default_expr or "").strip()
    if "nextval(" in default:
        return False
    if column.base_type == "uuid" and _RANDOM_UUID.search(default):
        return True  # the same seed must give the same rows, and the rows referring to them
    if column.base_type in _TEMPORAL_TYPES and _NOW.search(default):
        return True  # every row would be made at the moment of seeding
    if (
        _PLACEHOLDER.match(default)
        and not is_flag(snake_case(column.name))
        and not _checked_with_others(column, info)
    ):
        return True
    if any(column.name in group for group in info.unique_groups):
        return True  # one value in every row would leave the key to its other columns
    return bool(column.enum_labels) or column.name in info.checks.columns


def _checked_with_others(column: ColumnInfo, info: TableInfo) -> bool:
    """Whether a CHECK in a form values are not built for ties the column to another:
    `discount <= quantity * unit_price` with `discount DEFAULT 0` holds for the default the
    schema's author chose, not for any discount."""
    return any(
        mentions(definition, column.name)
        and any(mentions(definition, other) for other in info.columns if other != column.name)
        for definition in info.checks.definitions.values()
    )


_TAKES_WORDS = {"tsvector", "xml", "citext"}  # text input of words is valid for them


def _check_fits(table: str, column: ColumnInfo, spec: ColumnSpec) -> None:
    if column.is_generated:
        raise PlanError(
            table,
            column.name,
            f"{table}.{column.name} is a generated column: the database computes it",
            hint="remove its generator",
        )
    kind = spec.kind
    fits = _FITS[kind]
    category = "A" if column.is_array else column.category
    if kind == "text" and column.base_type in _TAKES_WORDS and not column.is_array:
        return
    if fits is None or category in fits:
        if kind in ("uuid", "json") and category == "U" and not _is_uuid_or_json(kind, column):
            pass  # falls through to the error below
        else:
            return
    raise PlanError(
        table,
        column.name,
        f"generator `{kind}` makes {_MAKES.get(kind, 'values')}, which do not fit "
        f"{table}.{column.name} ({column.type_text})",
        hint=_suggest(column),
    )


def _is_uuid_or_json(kind: str, column: ColumnInfo) -> bool:
    if kind == "uuid":
        return column.base_type == "uuid"
    return column.base_type in ("json", "jsonb")


def _suggest(column: ColumnInfo) -> str:
    suggestion = infer_generator(column, TableInfo("", {}), {}, 1)
    if suggestion is None:
        return f"choose a generator that makes {column.type_text} values"
    return f"for {column.type_text}, try `{suggestion.kind}`"


def _enforce_unique(table: str, column: ColumnInfo, spec: ColumnSpec, info: TableInfo) -> Any:
    if column.name not in info.unique:
        return spec
    if isinstance(spec, SequenceColumn) or (isinstance(spec, UuidColumn) and spec.of is None):
        return spec
    if "unique" in type(spec).model_fields:
        return spec if getattr(spec, "unique", False) else spec.model_copy(update={"unique": True})
    raise PlanError(
        table,
        column.name,
        f"{table}.{column.name} is unique in the schema, but generator `{spec.kind}` cannot "
        "make unique values",
        hint="use sequence, uuid, int/faker/choice/text/between with unique: true, or a ref",
    )


def _check_reference(
    table: str,
    column: ColumnInfo,
    spec: ColumnSpec,
    info: TableInfo,
    catalog: dict[str, TableInfo],
) -> None:
    if isinstance(spec, RefsByColumn) and (spec.by == column.name or spec.by not in info.columns):
        raise PlanError(
            table,
            column.name,
            f"`by: {spec.by}` must name another column of {table}",
            hint=f"its columns are: {', '.join(info.columns)}",
        )
    for ref in spec.targets if isinstance(spec, RefsByColumn) else [spec]:
        if not isinstance(ref, RefColumn):
            continue
        target = catalog.get(ref.table)
        if target is not None and ref.column not in target.columns:
            raise PlanError(
                table,
                column.name,
                f"{ref.ref}: table {ref.table!r} has no column {ref.column!r}",
                hint=f"its columns are: {', '.join(target.columns)}",
            )
    if isinstance(spec, RefColumn):
        return
    foreign = info.foreign_keys.get(column.name)
    if foreign is not None and not (isinstance(spec, ConstantColumn) and spec.value is None):
        ref_table, ref_column = foreign
        raise PlanError(
            table,
            column.name,
            f"{table}.{column.name} references {ref_table}({ref_column}), but generator "
            f"`{spec.kind}` does not make valid references",
            hint=f"use {{ref: {ref_table}.{ref_column}}}",
        )
