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
from pgrehearse.observe._trace import LockTracer, Relation, Rewrite, StatementTrace, TracedLock

__all__ = [
    "MODES",
    "MODE_INFO",
    "LockTracer",
    "ModeInfo",
    "Relation",
    "Rewrite",
    "Sampler",
    "SamplerStats",
    "Samples",
    "StatementTrace",
    "TracedLock",
    "blocks_reads",
    "blocks_writes",
    "conflicts",
    "effect",
    "role_of",
    "strength",
]
