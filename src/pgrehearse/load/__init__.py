"""Application load during the migration: clients, blockers, and what they suffered."""

from pgrehearse.load._blockers import Blocker, BlockerResult
from pgrehearse.load._metrics import (
    LATENCY_COLUMNS,
    Window,
    breaking_errors,
    events_frame,
    load_errors,
    load_windows,
    phase_metrics,
    waits_by_transaction,
)
from pgrehearse.load._pgbench import PgbenchScript, PgbenchScriptError, parse_pgbench
from pgrehearse.load._prepare import prepare_transactions
from pgrehearse.load._runner import (
    BREAKING_CLASSES,
    OUTCOMES,
    LoadChild,
    LoadError,
    LoadEvents,
    LoadProcess,
    PreparedTransaction,
    classify,
)

__all__ = [
    "BREAKING_CLASSES",
    "LATENCY_COLUMNS",
    "OUTCOMES",
    "Blocker",
    "BlockerResult",
    "LoadChild",
    "LoadError",
    "LoadEvents",
    "LoadProcess",
    "PgbenchScript",
    "PgbenchScriptError",
    "PreparedTransaction",
    "Window",
    "breaking_errors",
    "classify",
    "events_frame",
    "load_errors",
    "load_windows",
    "parse_pgbench",
    "phase_metrics",
    "prepare_transactions",
    "waits_by_transaction",
]
