"""`pgrehearse plan`: the schema on a throwaway server (no data), and what seeding would put
in every column, with every problem found in one pass. `rehearse` makes the same check
before it seeds, so a seed never fails after minutes on something a plan could see."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

from pgrehearse.backends import Backend, Server
from pgrehearse.backends.choice import ServerOptions, backend_for
from pgrehearse.backends.settings import rehearsal_settings
from pgrehearse.rehearsal.context import SCHEMA_DATABASE, RunContext, connect
from pgrehearse.rehearsal.progress import Progress, SilentProgress
from pgrehearse.rehearsal.provision import new_result, seed_problem
from pgrehearse.rehearsal.schema_apply import create_schema
from pgrehearse.rehearsal.tool_phase import run_baseline
from pgrehearse.roles import SessionRole
from pgrehearse.scenario import Scenario
from pgrehearse.seed import ColumnFacts, ColumnInfo, SeedError, TablePlan
from pgrehearse.seed import plan as plan_seed


@dataclass(frozen=True)
class ColumnPlan:
    """What seeding puts in one column, and why."""

    name: str
    type_text: str
    generator: dict[str, Any] | None  # the generator as the scenario would write it
    source: str  # "scenario line 12", "inferred: unique, text", "left to the database: …"


@dataclass
class TableSeedingPlan:
    name: str
    rows: int
    columns: list[ColumnPlan]
    notes: list[str] = field(default_factory=list)


@dataclass
class SeedingPlan:
    scenario: Scenario
    scale: float
    tables: list[TableSeedingPlan]
    schema_input: dict[str, Any]


def plan_seeding(
    scenario: Scenario,
    options: ServerOptions | None = None,
    *,
    progress: Progress | None = None,
    backend: Backend | None = None,
) -> SeedingPlan:
    """Create the schema on a throwaway server and plan every column's data. Raises
    `ScenarioError` listing every problem when seeding could not go ahead."""
    with (
        schema_only(scenario, options, progress=progress, backend=backend) as (ctx, server),
        ctx.phase("plan", "planning every column"),
        connect(server, SCHEMA_DATABASE, SessionRole.HARNESS) as conn,
    ):
        try:
            plans = plan_seed(conn, scenario.data, ctx.result.scale)
        except SeedError as exc:
            raise seed_problem(scenario, exc) from None
    return SeedingPlan(
        scenario,
        ctx.result.scale,
        [_describe(scenario, p) for p in plans],
        ctx.result.schema_input,
    )


@contextlib.contextmanager
def schema_only(
    scenario: Scenario,
    options: ServerOptions | None = None,
    *,
    progress: Progress | None = None,
    backend: Backend | None = None,
) -> Iterator[tuple[RunContext, Server]]:
    """A throwaway server holding the scenario's schema and no data, in the database
    `SCHEMA_DATABASE`; removed when the block ends."""
    options = options or ServerOptions()
    progress = progress or SilentProgress()
    result = new_result(scenario, options.scale, needs_schema=True)
    ctx = RunContext(scenario, result, progress)
    backend = backend or backend_for(options, scenario, progress=progress, run_id=result.run_id)
    with ctx.phase("provision", f"starting a throwaway PostgreSQL ({backend.name})"):
        server = backend.start(rehearsal_settings(scenario.postgres.settings))
    ctx.server = server
    try:
        with connect(server, "postgres", SessionRole.HARNESS) as admin:
            admin.autocommit = True
            name = sql.Identifier(server.database_name(SCHEMA_DATABASE))
            admin.execute(sql.SQL("CREATE DATABASE {}").format(name))
        with ctx.phase("schema", "creating the schema (no data)"):
            if scenario.schema_sql is not None:
                with connect(server, SCHEMA_DATABASE, SessionRole.HARNESS) as conn:
                    create_schema(ctx, conn, server, scenario.schema_sql)
            chain = scenario.migration.chain
            if chain is not None and chain.runs_itself and chain.baseline:
                run_baseline(ctx, server, chain, SCHEMA_DATABASE)
        yield ctx, server
    finally:
        server.close()


def _describe(scenario: Scenario, plan: TablePlan) -> TableSeedingPlan:
    planned = {c.name: c for c in plan.columns}
    columns = []
    for info in plan.info.columns.values():
        column = planned.get(info.name)
        if column is None:
            if info.name not in plan.left_to_database:
                continue
            columns.append(ColumnPlan(info.name, info.type_text, None, _left(info)))
            continue
        generator = column.spec.written()
        if column.inferred:
            source = "inferred: " + _why(plan, info)
        else:
            line = scenario.line_of("data", "tables", plan.name, "columns", info.name)
            source = f"scenario line {line}" if line else "scenario"
        columns.append(ColumnPlan(info.name, info.type_text, generator, source))
    return TableSeedingPlan(plan.name, plan.rows, columns, list(plan.notes))


def _left(info: ColumnInfo) -> str:
    if info.is_identity:
        return "left to the database: identity"
    if info.is_generated:
        return "left to the database: generated column"
    if info.has_default:
        return f"left to the database: default {info.default_expr}"
    return "left NULL"


def _check_summary(facts: ColumnFacts) -> str:
    parts = []
    if facts.allowed is not None:
        parts.append("in (" + ", ".join(map(str, facts.allowed)) + ")")
    if facts.low is not None:
        parts.append((">= " if facts.low.inclusive else "> ") + str(facts.low.value))
    if facts.high is not None:
        parts.append(("<= " if facts.high.inclusive else "< ") + str(facts.high.value))
    if facts.min_length is not None or facts.max_length is not None:
        parts.append(f"length {facts.min_length or 0}..{facts.max_length or '∞'}")
    if facts.pattern is not None:
        parts.append(f"matches {facts.pattern}")
    if facts.json_type is not None:
        parts.append(f"a JSON {facts.json_type}")
    if facts.not_null:
        parts.append("not null")
    if facts.always_null:
        parts.append("holds where NULL")
    return " and ".join(parts) or "(understood)"


def _why(plan: TablePlan, info: ColumnInfo) -> str:
    reasons = []
    if info.name in plan.info.foreign_keys:
        table, column = plan.info.foreign_keys[info.name]
        reasons.append(f"foreign key to {table}.{column}")
    if info.name in plan.info.unique:
        reasons.append("unique")
    facts = plan.info.checks.columns.get(info.name)
    if facts is not None:
        reasons.append("CHECK " + _check_summary(facts))
    if info.enum_labels:
        reasons.append(f"enum of {len(info.enum_labels)} values")
    reasons.append(f"type {info.type_text}")
    if info.not_null:
        reasons.append("NOT NULL")
    return ", ".join(reasons) + f", column name {info.name!r}"


__all__ = ["ColumnPlan", "SeedingPlan", "TableSeedingPlan", "plan_seeding"]
