"""The result of one rehearsal: plain data, the source of every report."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from pgrehearse.analyse import LockAnalysis
from pgrehearse.migration import StatementResult
from pgrehearse.seed import TableSeedResult
from pgrehearse.verify import RoundTrip

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
    cache: dict[str, Any] | None = None  # seeded-snapshot cache: key, hit, saved, path
    phases: list[PhaseResult] = field(default_factory=list)
    tables: list[TableSeedResult] = field(default_factory=list)
    statements: list[StatementResult] = field(default_factory=list)
    run_dir: Path | None = None
    locks: LockAnalysis | None = None  # lock intervals, waits, queue length, summary
    sampler: dict[str, Any] | None = None  # the sampler's achieved rate and CPU cost
    load: dict[str, Any] | None = None  # what the application suffered, per phase
    load_events: pd.DataFrame | None = None  # one row per load transaction (latency.csv)
    blockers: list[dict[str, Any]] = field(default_factory=list)
    roundtrip: RoundTrip | None = None  # did down restore schema and data?
    up_changes: list[dict[str, Any]] = field(default_factory=list)  # schema diff made by up
    invalid_indexes: list[str] = field(default_factory=list)  # left invalid by up
    budgets: list[dict[str, Any]] = field(default_factory=list)  # {budget, limit, actual, status}
    relations: list[dict[str, Any]] = field(default_factory=list)  # {name, kind, bytes} before up
    kept_server: dict[str, Any] | None = None  # how to reach a server kept for debugging

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
