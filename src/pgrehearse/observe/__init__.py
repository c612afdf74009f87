"""Watching the server while the migration runs: lock knowledge, sampler, statement tracer.

Submodules load on first use: the reports name a lock's strength without importing the
sampler (and through it psycopg and the scenario models).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pgrehearse.lazy_imports import lazy_attributes

if TYPE_CHECKING:
    from pgrehearse.observe._columns import LOCK_COLUMNS, WAIT_COLUMNS
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

_WHERE = {
    "LOCK_COLUMNS": "_columns",
    "LockTracer": "_trace",
    "LoggedStatement": "_statement_log",
    "MODES": "_knowledge",
    "MODE_INFO": "_knowledge",
    "ModeInfo": "_knowledge",
    "PhaseWindow": "_windows",
    "Relation": "_trace",
    "Rewrite": "_trace",
    "STATEMENT_LOG_SETTINGS": "_server_log",
    "Sampler": "_sampler",
    "SamplerStats": "_sampler",
    "Samples": "_sampler",
    "ServerLog": "_server_log",
    "ServerLogUnavailable": "_server_log",
    "StatementTrace": "_trace",
    "StepStatement": "_trace",
    "TracedLock": "_trace",
    "WAIT_COLUMNS": "_columns",
    "blocks_reads": "_knowledge",
    "blocks_writes": "_knowledge",
    "conflicts": "_knowledge",
    "effect": "_knowledge",
    "log_records": "_statement_log",
    "parse_statements": "_statement_log",
    "role_of": "_sampler",
    "strength": "_knowledge",
}


__getattr__, __dir__ = lazy_attributes(__name__, _WHERE, globals())


__all__ = [
    "LOCK_COLUMNS",
    "MODES",
    "MODE_INFO",
    "STATEMENT_LOG_SETTINGS",
    "WAIT_COLUMNS",
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
