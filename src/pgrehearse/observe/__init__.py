"""Watching the server while the migration runs: lock knowledge, sampler, statement tracer."""

from pgrehearse.observe._knowledge import (
    MODE_INFO,
    MODES,
    ModeInfo,
    blocks_reads,
    blocks_writes,
    conflicts,
    effect,
    strength,
)
from pgrehearse.observe._sampler import Sampler, SamplerStats, Samples, role_of
from pgrehearse.observe._server_log import (
    STATEMENT_LOG_SETTINGS,
    ServerLog,
    ServerLogUnavailable,
)
from pgrehearse.observe._statement_log import LoggedStatement, log_records, parse_statements
from pgrehearse.observe._trace import (
    LockTracer,
    Relation,
    Rewrite,
    StatementTrace,
    StepStatement,
    TracedLock,
)
from pgrehearse.observe._windows import PhaseWindow

__all__ = [
    "MODES",
    "MODE_INFO",
    "STATEMENT_LOG_SETTINGS",
    "LockTracer",
    "LoggedStatement",
    "ModeInfo",
    "PhaseWindow",
    "Relation",
    "Rewrite",
    "Sampler",
    "SamplerStats",
    "Samples",
    "ServerLog",
    "ServerLogUnavailable",
    "StatementTrace",
    "StepStatement",
    "TracedLock",
    "blocks_reads",
    "blocks_writes",
    "conflicts",
    "effect",
    "log_records",
    "parse_statements",
    "role_of",
    "strength",
]
