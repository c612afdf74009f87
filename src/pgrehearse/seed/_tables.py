"""The generators of one table, ready to make its rows: referenced keys loaded, composite
unique keys and composite foreign keys coordinated, `after` columns linked, `sql` pools made
by the server."""

from __future__ import annotations

import dataclasses
import math
import zlib
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg import sql

from pgrehearse.scenario import AfterColumn, FakerColumn, RefColumn, RefsByColumn, SqlColumn
from pgrehearse.seed._binary import Field, binary_enabled, binary_field
from pgrehearse.seed._catalog import ColumnInfo
from pgrehearse.seed._differs import kept_apart_from, link_differs
from pgrehearse.seed._generators import (
    Column,
    Combination,
    Generator,
    GeneratorContext,
    UnsatisfiableUnique,
    build_generator,
    combination_domain,
    domain_size,
    link_after,
    link_refs_by,
    row_ref_generators,
)
from pgrehearse.seed._null_patterns import with_null_patterns, with_null_when
from pgrehearse.seed._plan_model import TablePlan

# each pool value gets its own random numbers r1, r2 (correlated with g.i so that they are
# drawn per row) and its number i, for expressions that need a value twice
_POOL = """
SELECT ({})::text
FROM generate_series(1, %s) AS g(i),
     LATERAL (SELECT random() + 0 * g.i AS r1, random() + 0 * g.i AS r2) AS v
"""


def sql_pool(conn: psycopg.Connection[Any], spec: SqlColumn, seed: int, key: str) -> list[str]:
    """`spec.pool` values of a sql generator, made by the server with random() seeded from
    the scenario's seed and the column, so the same seed gives the same pool."""
    salt = zlib.crc32(f"{seed}:{key}".encode()) / 0xFFFFFFFF
    with conn.transaction():
        conn.execute("SELECT setseed(%s)", (salt * 2 - 1,))
        rows = conn.execute(
            sql.SQL(_POOL).format(sql.SQL(spec.sql)),
            (spec.pool,),
        ).fetchall()
    values = [row[0] for row in rows if row[0] is not None]
    if not values:
        raise ValueError(f"the sql generator of {key} made only NULLs")
    return values


def table_columns(
    table_plan: TablePlan,
    seed: int,
    ref_keys: dict[str, npt.NDArray[Any]],
    pools: dict[str, list[str]],
) -> list[Column]:
    """The table's column generators; `after` columns linked to the columns they follow."""
    combinations, row_combinations = _combinations(table_plan, seed, ref_keys)
    pools = fit_faker_pools(table_plan, pools)

    def context(name: str) -> GeneratorContext:
        return GeneratorContext(
            seed, table_plan.name, name, table_plan.rows, ref_keys, pools, combinations.get(name)
        )

    specs = {planned.name: planned.spec for planned in table_plan.columns}
    shared: dict[str, Generator] = {}
    for columns, table, _referenced in table_plan.row_refs:
        key = row_key(table, columns)
        shared |= row_ref_generators(
            table_plan.name,
            columns,
            dict(zip(columns, ref_keys[key], strict=True)),
            seed,
            row_combinations.get(key),
        )
    generators = link_after(
        {
            name: shared.get(name) or build_generator(spec, context(name))
            for name, spec in specs.items()
            if not isinstance(spec, AfterColumn | RefsByColumn)
        },
        specs,
        context(""),
        {c.name for c in table_plan.info.columns.values() if c.base_type == "date"},
        _number_decimals(table_plan),
    )
    generators = link_refs_by(generators, specs, context(""))
    generators = link_differs(generators, specs, context(""), combinations)
    generators = with_null_when(table_plan, with_null_patterns(table_plan, generators, seed), seed)
    return [
        Column(
            planned.name,
            generators[planned.name],
            planned.spec.null_fraction,
            binary_form(table_plan.info.columns[planned.name], generators[planned.name]),
        )
        for planned in table_plan.columns
    ]


def binary_form(info: ColumnInfo, generator: Generator) -> Field | None:
    """The column's binary COPY form, if it has one and binary COPY is not turned off."""
    if not binary_enabled():
        return None
    return binary_field(info.base_type, info.category, info.is_array, generator.number_kind())


def fit_faker_pools(table_plan: TablePlan, pools: dict[str, list[str]]) -> dict[str, list[str]]:
    """Faker values longer than their column's `varchar(n)`/`char(n)` allows left out (a
    phone number with an extension in a varchar(20)), or cut to fit where most are too
    long; the plan's notes say so. The other pools as they are."""
    fitted = pools
    for planned in table_plan.columns:
        key = f"{table_plan.name}.{planned.name}"
        limit = table_plan.info.columns[planned.name].max_length
        pool = pools.get(key)
        if not isinstance(planned.spec, FakerColumn) or limit is None or pool is None:
            continue
        fitting = [value for value in pool if len(value) <= limit]
        if len(fitting) == len(pool):
            continue
        if fitting and len(fitting) * 2 >= len(pool):
            chosen, how = fitting, f"{len(pool) - len(fitting)} of its {len(pool)} values left out"
        else:
            chosen, how = [v[:limit].rstrip() or v[:limit] for v in pool], "its values cut"
        if planned.spec.unique:  # values cut alike must not repeat
            chosen = list(dict.fromkeys(chosen))
        if fitted is pools:
            fitted = dict(pools)
        fitted[key] = chosen
        note = (
            f"{planned.name}: Faker {planned.spec.faker} makes values longer than {limit} "
            f"characters: {how}"
        )
        if note not in table_plan.notes:
            table_plan.notes.append(note)
    return fitted


_INTEGER_TYPES = {"int2", "int4", "int8"}


def _number_decimals(table_plan: TablePlan) -> dict[str, int]:
    """The `after` columns that are numbers, with the decimal places each keeps."""
    found = {}
    for planned in table_plan.columns:
        info = table_plan.info.columns.get(planned.name)
        if not isinstance(planned.spec, AfterColumn) or info is None:
            continue
        if info.base_type not in _INTEGER_TYPES | {"numeric", "float4", "float8"}:
            continue
        if info.base_type in _INTEGER_TYPES:
            found[planned.name] = 0
        else:
            found[planned.name] = min(info.num_scale if info.num_scale is not None else 2, 6)
    return found


def _combinations(
    table_plan: TablePlan, seed: int, ref_keys: dict[str, npt.NDArray[Any]]
) -> tuple[dict[str, Combination], dict[str, Combination]]:
    """Each composite unique key's parts, sized from what they can take (the referenced
    keys, the choices, the range), so that every row gets a distinct combination: per
    column, and per composite foreign key the key holds whole (its part is the referenced
    row, so its columns stay one row's values)."""
    specs = {c.name: c.spec for c in table_plan.columns}
    by_column: dict[str, Combination] = {}
    by_row_ref: dict[str, Combination] = {}
    for group in table_plan.combinations:
        parts: list[tuple[str, bool, int]] = []  # name, whether a row reference, size
        held = set()
        for columns, table, _referenced in table_plan.row_refs:
            if set(columns) <= set(group):
                key = row_key(table, columns)
                parts.append((key, True, len(ref_keys[key][0])))
                held.update(columns)
        apart: dict[str, str] = {}  # a part -> the part it never equals
        for name in group:
            if name in held:
                continue
            context = GeneratorContext(seed, table_plan.name, name, table_plan.rows, ref_keys)
            domain = combination_domain(specs[name], context)
            size = 0 if domain is None else domain_size(domain)
            other = kept_apart_from(specs, name, group, held)
            if other is not None and size > 1:
                apart[name], size = other, size - 1  # the other's value is skipped
            parts.append((name, False, size))
        span = math.prod(size for _, _, size in parts)
        if span < table_plan.rows:
            raise UnsatisfiableUnique(
                f"({', '.join(group)}) is unique in the schema, but its columns can make "
                f"only {span:,} distinct combinations for {table_plan.rows:,} rows"
            )
        salt = zlib.crc32(f"{seed}:{table_plan.name}:{'+'.join(group)}".encode())
        divisor = 1
        for name, row_ref, size in parts:
            (by_row_ref if row_ref else by_column)[name] = Combination(salt, span, divisor, size)
            divisor *= size
        for name, other in apart.items():
            them = by_column[other]
            by_column[name] = dataclasses.replace(by_column[name], apart=(them.divisor, them.size))
    return by_column, by_row_ref


def row_key(table: str, columns: list[str]) -> str:
    return f"{table}({','.join(columns)})"


def load_refs(
    conn: psycopg.Connection[Any], table_plan: TablePlan, ref_keys: dict[str, npt.NDArray[Any]]
) -> None:
    for columns, table, referenced in table_plan.row_refs:
        query = sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY {}").format(
            sql.SQL(", ").join(map(sql.Identifier, referenced)),
            qualified(table),
            sql.SQL(" AND ").join(
                sql.SQL("{} IS NOT NULL").format(sql.Identifier(c)) for c in referenced
            ),
            sql.SQL(", ").join(map(sql.Identifier, referenced)),
        )
        rows = conn.execute(query).fetchall()
        if not rows:
            raise ValueError(f"{table} has no rows for the foreign key ({', '.join(columns)})")
        ref_keys[row_key(table, columns)] = np.array(
            [np.array([row[i] for row in rows], dtype=object) for i in range(len(referenced))],
            dtype=object,
        )
    for planned in table_plan.columns:
        for spec in _refs_in(planned.spec):
            if spec.ref in ref_keys:
                continue
            query = sql.SQL("SELECT {} FROM {} WHERE {} IS NOT NULL ORDER BY 1").format(
                sql.Identifier(spec.column), qualified(spec.table), sql.Identifier(spec.column)
            )
            keys = [row[0] for row in conn.execute(query)]
            integer = all(isinstance(k, int) for k in keys[:100])
            ref_keys[spec.ref] = np.array(keys, dtype=np.int64 if integer else object)


def referenced_tables(table_plan: TablePlan) -> set[str]:
    """The tables whose keys this table's rows take: they must be loaded first."""
    found = {table for _, table, _ in table_plan.row_refs}
    for planned in table_plan.columns:
        found.update(spec.table for spec in _refs_in(planned.spec))
    return found


def _refs_in(spec: Any) -> list[RefColumn]:
    if isinstance(spec, RefColumn):
        return [spec]
    if isinstance(spec, RefsByColumn):
        return spec.targets
    found: list[RefColumn] = []
    for attribute in ("array",):
        inner = getattr(spec, attribute, None)
        if inner is not None and not isinstance(inner, str | int | float | tuple | list | dict):
            found += _refs_in(inner)
    json_object = getattr(spec, "json_object", None)
    if isinstance(json_object, dict):
        for inner in json_object.values():
            found += _refs_in(inner)
    return found


def qualified(name: str) -> sql.Composable:
    return sql.Identifier(*name.split("."))


def holds_rows(conn: psycopg.Connection[Any], table: str) -> bool:
    """Whether the table (a scenario's name for it) holds a row already."""
    query = sql.SQL("SELECT EXISTS (SELECT FROM {})").format(qualified(table))
    exists = conn.execute(query).fetchone()
    return bool(exists and exists[0])
