"""Which generator fills which column: the scenario's choices, checked against the catalog,
and sensible generators inferred for the columns the scenario does not mention."""

from __future__ import annotations

import datetime as dt
import graphlib
import itertools
from dataclasses import dataclass, field
from typing import Any

from pgrehearse.scenario import (
    ArrayColumn,
    BetweenColumn,
    BoolColumn,
    ChoiceColumn,
    ColumnSpec,
    ConstantColumn,
    DataSpec,
    FakerColumn,
    FloatColumn,
    IntColumn,
    JsonColumn,
    RefColumn,
    SequenceColumn,
    TextColumn,
    UuidColumn,
)
from pgrehearse.seed._catalog import ColumnInfo, TableInfo

_NUMERIC_TYPES = {"int2", "int4", "int8", "numeric", "float4", "float8", "money", "oid"}
_TEMPORAL_TYPES = {"date", "timestamp", "timestamptz"}
_INT_BOUNDS = {"int2": 32_767, "int4": 2_147_483_647, "int8": 9_223_372_036_854_775_807}

# generator kind -> type categories (pg_type.typcategory) it can fill; None: anything
_FITS: dict[str, set[str] | None] = {
    "int": {"N", "S", "T"},
    "float": {"N", "S"},
    "sequence": {"N", "S"},
    "bool": {"B", "S"},
    "between": {"D", "S"},
    "text": {"S"},
    "uuid": {"U", "S"},
    "json": {"U", "S"},
    "array": {"A"},
    "choice": None,
    "value": None,
    "faker": None,
    "ref": None,
}
_MAKES = {
    "int": "integers",
    "float": "numbers",
    "sequence": "integers",
    "bool": "booleans",
    "between": "dates/timestamps",
    "text": "text",
    "uuid": "UUIDs",
    "json": "JSON objects",
    "array": "arrays",
}

# column-name hints for text columns the scenario does not mention
_NAME_HINTS: list[tuple[tuple[str, ...], str]] = [
    (("email", "e_mail", "mail"), "email"),
    (("first_name", "firstname", "given_name"), "first_name"),
    (("last_name", "lastname", "surname", "family_name"), "last_name"),
    (("username", "user_name", "login", "handle"), "user_name"),
    (("full_name", "name", "display_name", "customer_name", "contact"), "name"),
    (("phone", "phone_number", "mobile", "telephone"), "phone_number"),
    (("city", "town"), "city"),
    (("country",), "country"),
    (("country_code",), "country_code"),
    (("address", "street", "street_address", "address_line1"), "street_address"),
    (("zip", "zipcode", "zip_code", "postcode", "postal_code"), "postcode"),
    (("url", "website", "homepage", "link"), "url"),
    (("company", "company_name", "organisation", "organization"), "company"),
    (("title", "subject", "headline"), "sentence"),
    (("job", "job_title", "occupation"), "job"),
    (("currency", "currency_code"), "currency_code"),
    (("ip", "ip_address", "remote_addr"), "ipv4"),
    (("color", "colour"), "color_name"),
    (("slug",), "slug"),
    (("sku", "code", "reference"), "bothify"),
]
_LONG_TEXT = {
    "description",
    "body",
    "comment",
    "comments",
    "note",
    "notes",
    "bio",
    "content",
    "message",
    "text",
    "summary",
    "details",
    "remarks",
}
_CREATED = {"created_at", "inserted_at", "created", "created_on", "registered_at", "signup_at"}


class PlanError(ValueError):
    """A column's generator cannot work; names the table and column for the error message."""

    def __init__(self, table: str, column: str | None, message: str, hint: str | None = None):
        super().__init__(message)
        self.table = table
        self.column = column
        self.hint = hint


@dataclass(frozen=True)
class PlannedColumn:
    name: str
    spec: ColumnSpec
    inferred: bool

    @property
    def kind(self) -> str:
        return self.spec.kind


@dataclass
class TablePlan:
    name: str
    rows: int
    columns: list[PlannedColumn]
    info: TableInfo
    left_to_database: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def refs(self) -> set[str]:
        return {c.spec.table for c in self.columns if isinstance(c.spec, RefColumn)}


def plan_tables(
    data: DataSpec, catalog: dict[str, TableInfo], rows: dict[str, int]
) -> list[TablePlan]:
    """Plans in seeding order (referenced tables first)."""
    plans = {
        name: _plan_table(name, data.tables[name].columns, catalog[name], rows[name], catalog)
        for name in data.tables
    }
    return [plans[name] for name in _order(plans)]


def _plan_table(
    name: str,
    explicit: dict[str, ColumnSpec],
    info: TableInfo,
    rows: int,
    catalog: dict[str, TableInfo],
) -> TablePlan:
    plan = TablePlan(name, rows, [], info)
    for column_name in explicit:
        if column_name not in info.columns:
            known = ", ".join(info.columns)
            raise PlanError(
                name,
                column_name,
                f"table {name!r} has no column {column_name!r}",
                hint=f"its columns are: {known}",
            )
    for column in info.columns.values():
        spec = explicit.get(column.name)
        if spec is not None:
            _check_fits(name, column, spec)
            spec = _enforce_unique(name, column, spec, info)
            _check_reference(name, column, spec, info, catalog)
            plan.columns.append(PlannedColumn(column.name, spec, inferred=False))
            continue
        if column.database_fills:
            plan.left_to_database.append(column.name)
            continue
        inferred = infer_generator(column, info, catalog, rows)
        if inferred is None:
            if column.not_null:
                raise PlanError(
                    name,
                    column.name,
                    f"cannot infer a generator for {name}.{column.name} ({column.type_text}, "
                    "NOT NULL)",
                    hint=f"give it one under data.tables.{name}.columns.{column.name}",
                )
            plan.left_to_database.append(column.name)
            plan.notes.append(f"{column.name} ({column.type_text}) left NULL")
            continue
        plan.columns.append(PlannedColumn(column.name, inferred, inferred=True))
    return plan


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
    if isinstance(spec, SequenceColumn | UuidColumn):
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
    if isinstance(spec, RefColumn):
        target = catalog.get(spec.table)
        if target is not None and spec.column not in target.columns:
            raise PlanError(
                table,
                column.name,
                f"{spec.ref}: table {spec.table!r} has no column {spec.column!r}",
                hint=f"its columns are: {', '.join(target.columns)}",
            )
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


def _order(plans: dict[str, TablePlan]) -> list[str]:
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
                    hint="make one of the referencing columns nullable, so it can start empty",
                ) from None


def _break_cycle(cycle: list[str], plans: dict[str, TablePlan], graph: dict[str, set[str]]) -> bool:
    """Leave one nullable reference of the cycle NULL. True when one was found."""
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


# --------------------------------------------------------------------------- inference


def infer_generator(
    column: ColumnInfo, info: TableInfo, catalog: dict[str, TableInfo], rows: int
) -> ColumnSpec | None:
    """A sensible generator from the column's type, constraints and name; None if unknown."""
    unique = column.name in info.unique
    foreign = info.foreign_keys.get(column.name)
    if foreign is not None:
        ref_table, ref_column = foreign
        target = catalog.get(ref_table)
        if target is not None and target.will_have_rows:
            return RefColumn(ref=f"{ref_table}.{ref_column}", unique=unique)
        return None
    if column.name in info.allowed_values:
        return ChoiceColumn(choice=info.allowed_values[column.name], unique=unique)
    if column.enum_labels:
        spec: ColumnSpec = ChoiceColumn(choice=list(column.enum_labels), unique=unique)
        return ArrayColumn(array=spec, length=(0, 3)) if column.is_array else spec
    element = _infer_scalar(column, unique and not column.is_array, rows)
    if element is None or not column.is_array:
        return element
    return ArrayColumn(array=element, length=(0, 5))


def _infer_scalar(column: ColumnInfo, unique: bool, rows: int) -> ColumnSpec | None:
    base = column.base_type
    name = column.name.lower()
    if base in ("int2", "int4", "int8"):
        if unique:
            return SequenceColumn(sequence=1)
        high = 1_000 if base == "int2" else (1_000_000 if name.endswith("_id") else 100_000)
        return IntColumn.model_validate({"int": [0, min(high, _INT_BOUNDS[base])]})
    if base in ("numeric", "money"):
        scale = column.num_scale if column.num_scale is not None else 2
        digits = (column.num_precision or 12) - scale
        high = min(10 ** min(digits, 9) - 1, 10_000)
        return FloatColumn.model_validate({"float": [0, high], "decimals": min(scale, 6)})
    if base in ("float4", "float8"):
        return FloatColumn.model_validate({"float": [0, 1000], "decimals": 3})
    if base == "bool":
        return BoolColumn.model_validate({"bool": 0.5})
    if base in _TEMPORAL_TYPES:
        bounds: tuple[Any, Any] = (
            (dt.date(2015, 1, 1), dt.date(2026, 1, 1))
            if base == "date"
            else (dt.datetime(2015, 1, 1), dt.datetime(2026, 1, 1))
        )
        distribution = "increasing" if name in _CREATED else "uniform"
        return BetweenColumn(between=bounds, distribution=distribution, unique=unique)
    if base in ("time", "timetz"):
        return FakerColumn(faker="time", pool=2_000)
    if base == "interval":
        return IntColumn.model_validate({"int": [1, 86_400]})
    if base == "uuid":
        return UuidColumn(uuid="v4")
    if base in ("json", "jsonb"):
        return JsonColumn.model_validate(
            {"json": {"id": {"int": [1, 1000]}, "tag": {"choice": ["a", "b", "c"]}}}
        )
    if base in ("inet", "cidr"):
        return FakerColumn(faker="ipv4", unique=False)
    if base == "bytea":
        return ConstantColumn(value="\\x00")
    if base in ("text", "varchar", "bpchar", "citext", "name") or column.category == "S":
        return _infer_text(column, unique)
    return None


def _infer_text(column: ColumnInfo, unique: bool) -> ColumnSpec:
    name = column.name.lower()
    limit = column.max_length
    if column.base_type == "bpchar" and limit is not None:
        return TextColumn(text=(limit, limit), unique=False) if not unique else SequenceColumn()
    for names, provider in _NAME_HINTS:
        if name in names or any(name.endswith("_" + n) for n in names):
            if limit is not None and limit < (30 if unique else 12):
                break
            args = {"text": "??-#####"} if provider == "bothify" else {}
            return FakerColumn(faker=provider, unique=unique, args=args)
    if unique:
        return (
            SequenceColumn()
            if limit is not None and limit < 20
            else TextColumn(text=(5, min(limit - 12, 30) if limit else 30), unique=True)
        )
    if name in _LONG_TEXT:
        return TextColumn(text=(20, min(limit or 200, 200)))
    top = min(limit or 40, 40)
    return TextColumn(text=(min(5, top), top))
