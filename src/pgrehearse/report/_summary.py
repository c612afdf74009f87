"""`summary.json`: the versioned, documented machine-readable record of a rehearsal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pgrehearse._result import PhaseResult, Rehearsal
from pgrehearse._version import __version__
from pgrehearse.migration import StatementResult
from pgrehearse.seed import TableSeedResult

SUMMARY_SCHEMA_VERSION = 1
SUMMARY_FILE = "summary.json"


def summary_dict(rehearsal: Rehearsal) -> dict[str, Any]:
    """The summary as JSON-ready data (format documented in the README, `schema_version` 1)."""
    return {
        "schema_version": SUMMARY_SCHEMA_VERSION,
        "tool": {"name": "pgrehearse", "version": __version__},
        "run_id": rehearsal.run_id,
        "started_at": rehearsal.started_at.isoformat(),
        "finished_at": rehearsal.finished_at.isoformat() if rehearsal.finished_at else None,
        "outcome": rehearsal.outcome,
        "failure": rehearsal.failure,
        "scenario": {
            "name": rehearsal.scenario_name,
            "file": str(rehearsal.scenario_file) if rehearsal.scenario_file else None,
        },
        "data": {"seed": rehearsal.seed, "scale": rehearsal.scale},
        "cache": rehearsal.cache,
        "postgres": rehearsal.server,
        "settings": rehearsal.settings,
        "transaction": rehearsal.transaction,
        "phases": [_phase(p) for p in rehearsal.phases],
        "tables": [_table(t) for t in rehearsal.tables],
        "statements": [_statement(s) for s in rehearsal.statements],
    }


def _phase(phase: PhaseResult) -> dict[str, Any]:
    return {
        "name": phase.name,
        "status": phase.status,
        "started_s": _round(phase.started_s),
        "seconds": _round(phase.seconds),
        "note": phase.note,
    }


def _table(table: TableSeedResult) -> dict[str, Any]:
    return table.to_dict()


def _statement(statement: StatementResult) -> dict[str, Any]:
    error = statement.error
    return {
        "phase": statement.phase,
        "index": statement.index,
        "file": str(statement.file) if statement.file else None,
        "line": statement.line,
        "sql": statement.sql,
        "status": statement.status,
        "started_s": _round(statement.started_s),
        "seconds": _round(statement.seconds),
        "error": None
        if error is None
        else {
            "sqlstate": error.sqlstate,
            "message": error.message,
            "detail": error.detail,
            "hint": error.hint,
            "line": error.line,
        },
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def write_summary(rehearsal: Rehearsal, run_dir: Path) -> Path:
    """Write summary.json atomically (a reader never sees half a file)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / SUMMARY_FILE
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(summary_dict(rehearsal), indent=2) + "\n", encoding="utf-8")
    partial.replace(path)
    return path
