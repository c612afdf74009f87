"""Fill the scenario's tables with synthetic rows, streamed to the server with COPY."""

from __future__ import annotations

import functools
import os
import re
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy.typing as npt
import psycopg
from psycopg import sql

from pgrehearse.scenario import (
    ChoiceColumn,
    ColumnSpec,
    ConstantColumn,
    DataSpec,
    FakerColumn,
    SqlColumn,
)
from pgrehearse.seed._catalog import MissingTable, TableInfo, read_table
from pgrehearse.seed._existing_rows import continue_after_existing_rows
from pgrehearse.seed._generators import (
    Column,
    GeneratorContext,
    UnsatisfiableUnique,
    build_faker_pools,
    faker_specs,
    in_binary_order,
    is_binary,
    python_text,
)
from pgrehearse.seed._leaves import load_partitioned
from pgrehearse.seed._pipeline import (
    default_workers,
    produce_blocks,
    stream_blocks,
    streams_directly,
)
from pgrehearse.seed._plan import plan_all_tables
from pgrehearse.seed._plan_model import TablePlan
from pgrehearse.seed._sample_checks import sampled_check_problems
from pgrehearse.seed._sink import Loading, copy_rows, pipe_folder
from pgrehearse.seed._streams import SharedProgress, run_in_streams, seed_streams
from pgrehearse.seed._tables import holds_rows, load_refs, qualified, sql_pool, table_columns


@dataclass(frozen=True)
class SeededColumn:
    name: str
    generator: str  # generator kind: faker, int, ref, ...
    inferred: bool  # chosen by pgrehearse from the column's type, not by the scenario
    parameters: dict[str, Any] | None = None  # the generator as the scenario would write it


@dataclass(frozen=True)
class TableSeedResult:
    table: str
    rows: int
    seconds: float
    heap_bytes: int = 0
    columns: list[SeededColumn] = field(default_factory=list)
    left_to_database: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    frozen: bool = False  # loaded with COPY FREEZE

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.table,
            "rows": self.rows,
            "seconds": round(self.seconds, 6),
            "heap_bytes": self.heap_bytes,
            "rows_per_second": round(self.rows_per_second),
            "frozen": self.frozen,
            "columns": [
                {
                    "name": c.name,
                    "generator": c.generator,
                    "inferred": c.inferred,
                    "parameters": c.parameters,
                }
                for c in self.columns
            ],
            "left_to_database": self.left_to_database,
            "notes": self.notes,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TableSeedResult:
        return cls(
            data["name"],
            int(data["rows"]),
            float(data["seconds"]),
            int(data.get("heap_bytes", 0)),
            [
                SeededColumn(c["name"], c["generator"], c["inferred"], c.get("parameters"))
                for c in data["columns"]
            ],
            list(data.get("left_to_database", [])),
            list(data.get("notes", [])),
            bool(data.get("frozen", False)),
        )

    @property
    def mb_per_second(self) -> float:
        return self.heap_bytes / 1e6 / self.seconds if self.seconds > 0 else 0.0


class SeedError(Exception):
    """Seeding a table failed; carries the table and column so the error can point at YAML."""

    def __init__(
        self,
        table: str,
        message: str,
        column: str | None = None,
        hint: str | None = None,
        sqlstate: str | None = None,
        row_bytes: float | None = None,
    ) -> None:
        super().__init__(message)
        self.table = table
        self.column = column
        self.hint = hint
        self.sqlstate = sqlstate  # the server's error code, when the server refused a row
        self.row_bytes = row_bytes  # mean COPY text bytes of the rows sent, when any were
        self.more: list[SeedError] = []  # the other problems found in the same pass


class SeedProgress(Protocol):
    def table_started(self, table: str, rows: int) -> None: ...

    def table_advanced(self, table: str, rows_done: int) -> None: ...

    def table_seeded(self, result: TableSeedResult) -> None: ...


def scaled_rows(rows: int, scale: float) -> int:
    return max(0, round(rows * scale))


def read_catalog(
    conn: psycopg.Connection[Any], data: DataSpec, rows: dict[str, int]
) -> dict[str, TableInfo]:
    """Catalog facts of the seeded tables and of the tables their foreign keys point at."""
    catalog: dict[str, TableInfo] = {}
    for name in data.tables:
        try:
            catalog[name] = read_table(conn, name)
        except MissingTable:
            raise SeedError(
                name,
                f"the schema has no table {name!r}",
                hint="check the name under data.tables (schema-qualify it if needed)",
            ) from None
        # seeded, or kept as the schema filled it (`rows: 0` on reference rows)
        catalog[name].will_have_rows = rows[name] > 0 or holds_rows(conn, name)
    for info in list(catalog.values()):
        for ref_table, _ in info.foreign_keys.values():
            if ref_table not in catalog:
                target = read_table(conn, ref_table)
                target.will_have_rows = holds_rows(conn, ref_table)
                catalog[ref_table] = target
    return catalog


def plan(conn: psycopg.Connection[Any], data: DataSpec, scale: float) -> list[TablePlan]:
    rows = {name: scaled_rows(table.rows, scale) for name, table in data.tables.items()}
    catalog = read_catalog(conn, data, rows)
    plans, found = plan_all_tables(data, catalog, rows)
    continue_after_existing_rows(conn, plans)
    problems = [SeedError(e.table, str(e), e.column, e.hint) for e in found]
    for table_plan in plans:
        for planned in table_plan.columns:
            if not planned.inferred or isinstance(planned.spec, SqlColumn):
                try:
                    _check_samples(conn, table_plan, planned.name, planned.spec)
                except SeedError as exc:
                    problems.append(exc)
    for table_plan in plans:
        for columns, check, value in sampled_check_problems(conn, table_plan):
            if len(columns) == 1:
                what = f"values the generator of {columns[0]} makes, e.g. {value}"
                hint = (
                    "give the column a generator whose values satisfy the CHECK (a choice, a "
                    "Faker provider, a pattern, or sql: an expression the server evaluates)"
                )
            else:
                what = f"rows the generators of {', '.join(columns)} make, e.g. {value}"
                hint = (
                    "give these columns generators that satisfy it together (`after: column` "
                    "with `within:` for moments and numbers that follow another)"
                )
            problems.append(
                SeedError(
                    table_plan.name,
                    f"CHECK {check} of {table_plan.name} refuses {what}",
                    columns[0],
                    hint=hint,
                )
            )
    if problems:
        problems[0].more = problems[1:]
        raise problems[0]
    return plans


_SAMPLES = 5


def _samples(spec: ColumnSpec) -> list[str]:
    """A few values the column's generator would write, for generators whose values can be
    of any type (Faker providers, choices, constants)."""
    if isinstance(spec, FakerColumn):
        from faker import Faker

        fake = Faker(spec.locale) if spec.locale else Faker()
        fake.seed_instance(0)
        provider = getattr(fake, spec.faker)
        try:
            return [python_text(provider(**spec.args)) for _ in range(_SAMPLES)]
        except (TypeError, ValueError, AttributeError):
            return []  # reported with its own message when the pool is built
    if isinstance(spec, ChoiceColumn):
        return [python_text(v) for v in spec.choice][:_SAMPLES]
    if isinstance(spec, ConstantColumn) and spec.value is not None:
        return [python_text(spec.value)]
    return []


def _check_samples(
    conn: psycopg.Connection[Any], table_plan: TablePlan, column: str, spec: ColumnSpec
) -> None:
    """Ask the server whether sampled values fit the column's type, before any row is
    loaded: `{faker: name}` on an integer column is refused here, not at row 1."""
    type_text = table_plan.info.columns[column].type_text
    if isinstance(spec, SqlColumn):
        try:
            with conn.transaction():
                conn.execute(
                    sql.SQL(
                        "SELECT ({})::{} FROM (SELECT 1 AS i, 0.5 AS r1, 0.5 AS r2) AS v"
                    ).format(sql.SQL(spec.sql), sql.SQL(type_text))
                )
        except psycopg.Error as exc:
            raise SeedError(
                table_plan.name,
                f"{table_plan.name}.{column} ({type_text}): its sql generator fails: "
                f"{exc.diag.message_primary or exc}",
                column,
                hint="write an expression the server can evaluate to a value of the column's "
                "type, e.g. point(random(), random())",
            ) from None
        return
    values = _samples(spec)
    if not values:
        return
    for value in values:
        try:
            with conn.transaction():
                conn.execute(sql.SQL("SELECT %s::{}").format(sql.SQL(type_text)), (value,))
        except psycopg.DataError as exc:
            message = exc.diag.message_primary or str(exc)
            raise SeedError(
                table_plan.name,
                f"{table_plan.name}.{column} ({type_text}) cannot hold the values its "
                f"generator makes: {message}",
                column,
                hint=f"give it a generator that makes {type_text} values",
            ) from None


def seed_tables(
    conn: psycopg.Connection[Any],
    plans: list[TablePlan],
    *,
    seed: int,
    progress: SeedProgress | None = None,
    workers: int | None = None,
    connect: Callable[[], psycopg.Connection[Any]] | None = None,
) -> list[TableSeedResult]:
    """Load every planned table, each in a transaction of its own: in order on `conn`, or,
    given `connect` (new sessions to the same database) and cores enough, tables that do
    not depend on each other side by side (see `_streams`)."""
    results: list[TableSeedResult] = []
    ref_keys: dict[str, npt.NDArray[Any]] = {}
    wanted = [
        found
        for table_plan in plans
        for planned in table_plan.columns
        for found in faker_specs(
            planned.spec, GeneratorContext(seed, table_plan.name, planned.name, table_plan.rows)
        )
    ]
    pools = build_faker_pools(wanted, os.cpu_count() or 1)
    for table_plan in plans:
        for planned in table_plan.columns:
            if isinstance(planned.spec, SqlColumn):
                key = f"{table_plan.name}.{planned.name}"
                try:
                    pools[key] = sql_pool(conn, planned.spec, seed, key)
                except (psycopg.Error, ValueError) as exc:
                    conn.rollback()
                    reason = exc.diag.message_primary if isinstance(exc, psycopg.Error) else None
                    raise SeedError(
                        table_plan.name,
                        f"the sql generator of {key} fails: {reason or exc}",
                        planned.name,
                    ) from None
    streams = seed_streams() if connect is not None else 1
    with pipe_folder(conn) as folder:
        if streams > 1 and connect is not None:
            shared = SharedProgress(progress) if progress is not None else None
            total = default_workers() if workers is None else workers
            conn.commit()  # the sessions below must not wait on anything this one holds

            def seed_one(
                session: psycopg.Connection[Any], table_plan: TablePlan, share: int
            ) -> TableSeedResult:
                # a table alone in its wave gets every stream for its leaves, if it has any
                loading = Loading(max(1, total * share // streams), folder, connect, share)
                return _seed_table(session, table_plan, seed, ref_keys, pools, loading, shared)

            return run_in_streams(plans, streams, connect, seed_one)
        loading = Loading(workers, folder)
        for table_plan in plans:
            results.append(_seed_table(conn, table_plan, seed, ref_keys, pools, loading, progress))
    return results


def _seed_table(
    conn: psycopg.Connection[Any],
    table_plan: TablePlan,
    seed: int,
    ref_keys: dict[str, npt.NDArray[Any]],
    pools: dict[str, list[str]],
    loading: Loading,
    progress: SeedProgress | None,
) -> TableSeedResult:
    if progress:
        progress.table_started(table_plan.name, table_plan.rows)
    started = time.perf_counter()
    try:
        load_refs(conn, table_plan, ref_keys)
        columns = table_columns(table_plan, seed, ref_keys, pools)
        advanced = _advancer(progress, table_plan.name)
        sent = _Sent()
        frozen = _copy_table(conn, table_plan, columns, seed, advanced, sent, loading)
    except UnsatisfiableUnique as exc:
        conn.rollback()
        raise SeedError(table_plan.name, str(exc)) from None
    except psycopg.Error as exc:
        conn.rollback()
        diag = exc.diag
        message = diag.message_primary or str(exc)
        if diag.constraint_name and diag.constraint_name not in message:
            message += f" (constraint {diag.constraint_name})"
        if diag.message_detail:
            message += f"\n{diag.message_detail}"
        raise SeedError(
            table_plan.name,
            message,
            failing_column(diag.column_name, diag.context, table_plan.info.columns),
            sqlstate=diag.sqlstate,
            row_bytes=sent.bytes / sent.rows if sent.rows else None,
        ) from exc
    except ValueError as exc:
        conn.rollback()
        raise SeedError(table_plan.name, str(exc)) from exc
    seconds = time.perf_counter() - started
    relation = table_plan.info.regclass
    size = conn.execute(  # a partitioned table's rows are in its partitions (a plain
        # table is not in a partition tree of its own)
        "SELECT COALESCE(sum(pg_table_size(relid)), pg_table_size(%s::regclass))"
        " FROM pg_partition_tree(%s::regclass)",
        (relation, relation),
    ).fetchone()
    conn.commit()
    result = TableSeedResult(
        table_plan.name,
        table_plan.rows,
        seconds,
        int(size[0]) if size and size[0] is not None else 0,
        [
            SeededColumn(
                c.name,
                c.kind,
                c.inferred,
                c.spec.written(),
            )
            for c in table_plan.columns
        ],
        table_plan.left_to_database,
        table_plan.notes,
        frozen,
    )
    if progress:
        progress.table_seeded(result)
    return result


# COPY's error context: `COPY post, line 3, column code: "ABCDEFGHIJ"` (or `: null input`,
# or nothing after the name in binary)
_COPY_CONTEXT = re.compile(r"^COPY .*?, line \d+, column (.+?)(?:: (?:\".*|null input))?$", re.M)


def failing_column(named: str | None, context: str | None, columns: Collection[str]) -> str | None:
    """The column of a row the server refused: the one its error names, else the one its
    COPY context names (a value too long, of the wrong syntax, out of range)."""
    if named:
        return named
    for found in _COPY_CONTEXT.finditer(context or ""):
        if found.group(1) in columns:
            return found.group(1)
    return None


def _advancer(progress: SeedProgress | None, table: str) -> Callable[[int], None]:
    if progress is None:
        return lambda _done: None
    return lambda done: progress.table_advanced(table, done)


@dataclass
class _Sent:
    rows: int = 0
    bytes: int = 0


def _sent_and_advanced(sent: _Sent, advanced: Callable[[int], None], rows: int, size: int) -> None:
    sent.rows += rows
    sent.bytes += size
    advanced(sent.rows)


def _copy_table(
    conn: psycopg.Connection[Any],
    table_plan: TablePlan,
    columns: list[Column],
    seed: int,
    advanced: Callable[[int], None],
    sent: _Sent,
    loading: Loading,
) -> bool:
    """COPY the rows in one transaction; returns whether COPY FREEZE could be used."""
    name = table_plan.name
    if table_plan.rows == 0:
        return False
    target = qualified(name)
    empty = conn.execute(sql.SQL("SELECT NOT EXISTS (SELECT FROM {})").format(target)).fetchone()
    # FREEZE needs the table truncated in this transaction; only safe when it is empty
    freeze = bool(empty and empty[0]) and not table_plan.info.partitioned
    if freeze:
        conn.execute(sql.SQL("TRUNCATE {}").format(target))
    if table_plan.info.partitioned and columns and empty and empty[0]:
        report = functools.partial(_sent_and_advanced, sent, advanced)
        if load_partitioned(conn, table_plan, target, columns, seed, report, loading):
            return True
    if not columns:
        # every column takes its default (identity, serial, DEFAULT, or NULL)
        conn.execute(
            sql.SQL("INSERT INTO {} SELECT FROM generate_series(1, %s)").format(target),
            (table_plan.rows,),
        )
        advanced(table_plan.rows)
        return False
    binary = is_binary(columns)
    columns = in_binary_order(columns)
    names = sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)
    done = 0
    workers = loading.workers
    with copy_rows(
        conn, target, names, freeze=freeze, folder=loading.folder, binary=binary
    ) as sink:
        if sink.fifo is not None and streams_directly(table_plan.rows, workers):
            for count, size in stream_blocks(
                columns, table_plan.rows, seed=seed, table=name, fifo=sink.fifo
            ):
                done += count
                sent.rows, sent.bytes = done, sent.bytes + size
                advanced(done)
            return freeze
        for count, data in produce_blocks(
            columns, table_plan.rows, seed=seed, table=name, workers=workers
        ):
            sink.write(data)
            done += count
            sent.rows, sent.bytes = done, sent.bytes + len(data)
            advanced(done)
    return freeze
