"""Fill the scenario's tables with synthetic rows, streamed to the server with COPY."""

from __future__ import annotations

import graphlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg import sql

from pgrehearse.scenario import DataSpec, RefColumn, TableSpec
from pgrehearse.seed._generators import Generate, build_generator, column_rng

CHUNK_ROWS = 50_000


@dataclass(frozen=True)
class TableSeedResult:
    table: str
    rows: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


class SeedError(Exception):
    """Seeding a table failed; carries the table and column so the error can point at YAML."""

    def __init__(self, table: str, message: str, column: str | None = None) -> None:
        super().__init__(message)
        self.table = table
        self.column = column


def scaled_rows(rows: int, scale: float) -> int:
    return max(0, round(rows * scale))


def seeding_order(data: DataSpec) -> list[str]:
    """Tables ordered so that every referenced table is seeded before its referrers."""
    graph: dict[str, set[str]] = {name: set() for name in data.tables}
    for name, table in data.tables.items():
        for column_name, column in table.columns.items():
            if isinstance(column, RefColumn):
                if column.table == name:
                    raise SeedError(
                        name,
                        f"{name}.{column_name} refers to its own table; self references are "
                        "not supported yet",
                        column_name,
                    )
                graph[name].add(column.table)
    try:
        return list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        raise SeedError(
            exc.args[1][0], f"the tables reference each other in a cycle: {cycle}"
        ) from None


def seed_tables(
    conn: psycopg.Connection[Any],
    data: DataSpec,
    *,
    scale: float,
    on_table: Callable[[TableSeedResult], None] = lambda _result: None,
) -> list[TableSeedResult]:
    results: list[TableSeedResult] = []
    ref_keys: dict[str, npt.NDArray[Any]] = {}
    for name in seeding_order(data):
        table = data.tables[name]
        started = time.perf_counter()
        rows = scaled_rows(table.rows, scale)
        try:
            _load_refs(conn, table, ref_keys)
            _seed_table(conn, name, table, rows, data.seed, ref_keys)
        except psycopg.Error as exc:
            diag = exc.diag
            message = diag.message_primary or str(exc)
            raise SeedError(name, message, diag.column_name) from exc
        except ValueError as exc:
            raise SeedError(name, str(exc)) from exc
        result = TableSeedResult(name, rows, time.perf_counter() - started)
        results.append(result)
        on_table(result)
    return results


def _load_refs(
    conn: psycopg.Connection[Any], table: TableSpec, ref_keys: dict[str, npt.NDArray[Any]]
) -> None:
    for column in table.columns.values():
        if isinstance(column, RefColumn) and column.ref not in ref_keys:
            query = sql.SQL("SELECT {} FROM {} ORDER BY 1").format(
                sql.Identifier(column.column), _qualified(column.table)
            )
            ref_keys[column.ref] = np.array([row[0] for row in conn.execute(query)], dtype=object)


def _seed_table(
    conn: psycopg.Connection[Any],
    name: str,
    table: TableSpec,
    rows: int,
    seed: int,
    ref_keys: dict[str, npt.NDArray[Any]],
) -> None:
    if rows == 0:
        return
    if not table.columns:
        # every column takes its default (identity, serial, DEFAULT, or NULL)
        conn.execute(
            sql.SQL("INSERT INTO {} SELECT FROM generate_series(1, %s)").format(_qualified(name)),
            (rows,),
        )
        return
    names = list(table.columns)
    generators: list[tuple[Generate, np.random.Generator]] = [
        (
            build_generator(spec, seed=seed, table=name, column=column, ref_keys=ref_keys),
            column_rng(seed, name, column),
        )
        for column, spec in table.columns.items()
    ]
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        _qualified(name), sql.SQL(", ").join(sql.Identifier(c) for c in names)
    )
    with conn.cursor() as cursor, cursor.copy(statement) as copy:
        for first in range(0, rows, CHUNK_ROWS):
            count = min(CHUNK_ROWS, rows - first)
            columns = [generate(first + 1, count, rng) for generate, rng in generators]
            copy.write("\n".join(map("\t".join, zip(*columns, strict=True))) + "\n")


def _qualified(name: str) -> sql.Composable:
    return sql.Identifier(*name.split("."))
