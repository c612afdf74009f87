"""`summary.json`: the versioned, documented machine-readable record of a rehearsal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from pgrehearse import __version__
from pgrehearse.migration import StatementResult
from pgrehearse.rehearsal.result import PhaseResult, Rehearsal
from pgrehearse.report import SUMMARY_FILE, facts
from pgrehearse.seed import TableSeedResult

SUMMARY_SCHEMA_VERSION = 1  # additions keep the version; removals or renames bump it


def summary_dict(rehearsal: Rehearsal) -> dict[str, Any]:
    """The summary as JSON-ready data (format documented in the README, `schema_version` 1):
    plain dicts, lists, strings and numbers only, exactly what summary.json holds. Every
    report, the terminal's included, is rendered from it."""
    return _plain_json(_summary(rehearsal))


def _summary(rehearsal: Rehearsal) -> dict[str, Any]:
    statements = [_statement(s) for s in rehearsal.statements]
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
        "schema_input": rehearsal.schema_input,
        "data": {"seed": rehearsal.seed, "scale": rehearsal.scale},
        "cache": rehearsal.cache.to_dict() if rehearsal.cache else None,
        "postgres": rehearsal.server,
        "settings": rehearsal.settings,
        "transaction": rehearsal.transaction,
        "phases": [_phase(p) for p in rehearsal.phases],
        "tables": [_table(t) for t in rehearsal.tables],
        "relations": rehearsal.relations,
        "statements": statements,
        "migrations": facts.per_migration(
            statements,
            _records(rehearsal.locks.waits) if rehearsal.locks else [],
            rehearsal.migration_files,
            rehearsal.step_roundtrips,
        ),
        "sampler": rehearsal.sampler,
        "budgets": [check.to_dict() for check in rehearsal.budgets],
        "prediction": rehearsal.prediction,
        "fidelity": rehearsal.fidelity,
        "roundtrip": rehearsal.roundtrip.to_dict() if rehearsal.roundtrip else None,
        "up_changes": rehearsal.up_changes,
        "invalid_indexes": rehearsal.invalid_indexes,
        "load": rehearsal.load.to_dict() if rehearsal.load else None,
        "blockers": rehearsal.blockers,
        "lock_summary": rehearsal.locks.summary if rehearsal.locks else [],
        "locks": _records(rehearsal.locks.locks) if rehearsal.locks else [],
        "waits": _records(rehearsal.locks.waits) if rehearsal.locks else [],
        "lock_queue": _queue(rehearsal.locks.queue) if rehearsal.locks else None,
    }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """DataFrame rows as JSON-ready dicts (NaN -> null, numpy scalars -> Python)."""
    cleaned = frame.astype(object).where(pd.notna(frame), None)
    return [
        {str(k): (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        for row in cleaned.to_dict(orient="records")
    ]


def _queue(queue: pd.DataFrame) -> dict[str, Any]:
    """Sessions waiting for a lock over time, as the points where the count changes."""
    if queue.empty:
        return {"max_waiting": 0, "t_s": [], "waiting": []}
    counts = queue["waiting"].to_numpy()
    changes = [0] + [i for i in range(1, len(counts)) if counts[i] != counts[i - 1]]
    return {
        "max_waiting": int(counts.max()),
        "t_s": [round(float(queue["t_s"].iloc[i]), 4) for i in changes],
        "waiting": [int(counts[i]) for i in changes],
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
        "line": statement.line or None,  # None: sent by a tool, read from the log
        "sql": statement.sql,
        "status": statement.status,
        "started_s": _round(statement.started_s),
        "seconds": _round(statement.seconds),
        "lock_wait_s": _round(statement.lock_wait_s),
        "attempt": statement.attempt,
        "in_transaction": statement.in_transaction,
        "transaction_end_s": _round(statement.transaction_end_s),
        "backend_pid": statement.pid,  # a statement a tool sent: the session that ran it
        "locks": statement.locks,
        "lock_note": statement.lock_note,
        "rewrites": statement.rewrites,
        "created": statement.created,
        "dropped": statement.dropped,
        "renamed": statement.renamed,
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


def write_summary(summary: dict[str, Any], run_dir: Path, *, name: str = SUMMARY_FILE) -> Path:
    """Write summary.json (from `summary_dict`) atomically: a reader never sees half a file."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / name
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    partial.replace(path)
    return path


def _plain_json(data: dict[str, Any]) -> dict[str, Any]:
    """numpy scalars, paths and NaN as JSON's own values (NaN and infinities become null)."""
    plain: dict[str, Any] = json.loads(
        json.dumps(data, default=_plain), parse_constant=lambda _constant: None
    )
    return plain


def _plain(value: Any) -> Any:
    """numpy scalars and other stragglers as plain JSON values."""
    if hasattr(value, "item"):
        return value.item()
    return str(value)
