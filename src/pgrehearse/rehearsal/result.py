"""The result of one rehearsal: plain data, the source of every report."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pgrehearse.migration import StatementResult
from pgrehearse.seed import TableSeedResult
from pgrehearse.verify import RoundTrip

if TYPE_CHECKING:
    import pandas as pd

    from pgrehearse.observe.analyse import LockAnalysis

PhaseStatus = Literal["ok", "failed", "skipped", "interrupted"]
Outcome = Literal["passed", "failed", "interrupted", "error"]


@dataclass
class PhaseResult:
    name: str  # provision | schema | seed | restart | up | down
    status: PhaseStatus
    started_s: float | None = None  # seconds since the rehearsal's clock origin
    seconds: float | None = None
    note: str | None = None


@dataclass
class CacheUse:
    """What the seeded-snapshot cache did for this rehearsal."""

    key: str
    hit: bool = False  # started from a cached snapshot
    saved: bool = False  # seeded now and saved for later runs
    path: str | None = None
    damage: str | None = None  # a damaged entry was found (and removed) for this key

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "hit": self.hit,
            "saved": self.saved,
            "path": self.path,
            "damage": self.damage,
        }


@dataclass(frozen=True)
class BudgetCheck:
    """One budget compared with what was measured."""

    budget: str  # e.g. "max_lock_ms.AccessExclusiveLock"
    limit: Any
    actual: Any
    passed: bool
    detail: str = ""

    @property
    def status(self) -> Literal["pass", "fail"]:
        return "pass" if self.passed else "fail"

    def to_dict(self) -> dict[str, Any]:
        return {
            "budget": self.budget,
            "limit": self.limit,
            "actual": self.actual,
            "status": self.status,
            "detail": self.detail,
        }


@dataclass
class LoadSummary:
    """What the simulated application went through, per phase."""

    clients: int
    rate: float | None  # transactions per second asked for (open loop), None: closed loop
    transactions: list[str]
    client_pids: list[int]
    events: int  # load transactions recorded
    phases: list[dict[str, Any]]  # per phase: throughput, latency percentiles, errors, stalls
    errors: list[dict[str, Any]]  # each distinct error: class, SQLSTATE, first message, phase
    breaking: list[dict[str, Any]]  # errors meaning the migration breaks the running app
    allow_breaking: bool
    lock_waits: list[dict[str, Any]]  # per transaction: waits and the statement behind them

    def phase(self, name: str) -> dict[str, Any] | None:
        return next((p for p in self.phases if p["phase"] == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "clients": self.clients,
            "rate": self.rate,
            "transactions": self.transactions,
            "client_pids": self.client_pids,
            "events": self.events,
            "phases": self.phases,
            "errors": self.errors,
            "breaking": self.breaking,
            "allow_breaking": self.allow_breaking,
            "lock_waits": self.lock_waits,
        }


@dataclass
class Rehearsal:
    """Everything measured in one rehearsal. `summary.json` is this, serialised."""

    run_id: str
    scenario_name: str
    scenario_file: Path | None
    started_at: dt.datetime
    seed: int
    scale: float
    finished_at: dt.datetime | None = None
    outcome: Outcome = "error"
    failure: str | None = None
    server: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, dict[str, str]] = field(default_factory=dict)
    transaction: dict[str, str] = field(default_factory=dict)  # phase -> effective mode
    cache: CacheUse | None = None  # what the seeded-snapshot cache did
    phases: list[PhaseResult] = field(default_factory=list)
    tables: list[TableSeedResult] = field(default_factory=list)
    # how the schema was read: roles_created (NOLOGIN, named by a dump), notes
    schema_input: dict[str, Any] = field(default_factory=dict)
    migration_files: dict[str, str] = field(default_factory=dict)  # file -> migration (chains)
    # a chain: per migration, what its down left different from before its up (schema)
    step_roundtrips: dict[str, list[str]] = field(default_factory=dict)
    between_rows: dict[str, int] = field(default_factory=dict)  # rows `between` added per table
    statements: list[StatementResult] = field(default_factory=list)
    run_dir: Path | None = None
    locks: LockAnalysis | None = None  # lock intervals, waits, queue length, summary
    sampler: dict[str, Any] | None = None  # the sampler's achieved rate and CPU cost
    load: LoadSummary | None = None  # what the application suffered, per phase
    load_events: pd.DataFrame | None = None  # one row per load transaction (latency.csv)
    blockers: list[dict[str, Any]] = field(default_factory=list)
    roundtrip: RoundTrip | None = None  # did down restore schema and data?
    up_changes: list[dict[str, Any]] = field(default_factory=list)  # schema diff made by up
    invalid_indexes: list[str] = field(default_factory=list)  # left invalid by up
    budgets: list[BudgetCheck] = field(default_factory=list)
    relations: list[dict[str, Any]] = field(default_factory=list)  # {name, kind, bytes} before up
    kept_server: dict[str, Any] | None = None  # how to reach a server kept for debugging
    prediction: dict[str, Any] | None = None  # the scale curve, on the largest of its runs
    fidelity: dict[str, Any] | None = None  # the clone's statistics against data.profile
    summary: dict[str, Any] | None = None  # summary.json's data, computed once at the end
    report_error: str | None = None  # why the reports could not be written, if they could not

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"

    @property
    def summary_path(self) -> Path | None:
        return self.run_dir / "summary.json" if self.run_dir else None

    def phase(self, name: str) -> PhaseResult | None:
        return next((p for p in self.phases if p.name == name), None)

    def statements_of(self, phase: str) -> list[StatementResult]:
        return [s for s in self.statements if s.phase == phase]

    @property
    def failed_statement(self) -> StatementResult | None:
        return next((s for s in self.statements if s.status == "error"), None)
