"""CSV reports: one row per lock interval, per wait, per statement. Units are in the names."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pgrehearse._result import Rehearsal
from pgrehearse.analyse import LOCK_COLUMNS, WAIT_COLUMNS

STATEMENT_COLUMNS = [
    "phase",
    "index",
    "file",
    "line",
    "status",
    "started_s",
    "duration_ms",
    "in_transaction",
    "transaction_end_s",
    "locks",
    "strongest_lock",
    "max_held_ms",
    "blocks_reads",
    "blocks_writes",
    "rewrote",
    "rewritten",
    "created",
    "dropped",
    "sqlstate",
    "error",
    "sql",
]


def statements_frame(rehearsal: Rehearsal) -> pd.DataFrame:
    from pgrehearse.observe import strength

    rows = []
    for s in rehearsal.statements:
        modes = [lock["mode"] for lock in s.locks if not lock["new_relation"]]
        strongest = max(modes, key=strength) if modes else None
        rows.append(
            {
                "phase": s.phase,
                "index": s.index,
                "file": str(s.file) if s.file else None,
                "line": s.line,
                "status": s.status,
                "started_s": s.started_s,
                "duration_ms": None if s.seconds is None else round(s.seconds * 1000, 3),
                "in_transaction": s.in_transaction,
                "transaction_end_s": s.transaction_end_s,
                "locks": "; ".join(f"{lock['relation']}:{lock['mode']}" for lock in s.locks),
                "strongest_lock": strongest,
                "max_held_ms": max((lock["held_ms"] for lock in s.locks), default=None),
                "blocks_reads": any(lock["blocks_reads"] for lock in s.locks),
                "blocks_writes": any(lock["blocks_writes"] for lock in s.locks),
                "rewrote": bool(s.rewrites),
                "rewritten": "; ".join(s.rewrites),
                "created": "; ".join(s.created),
                "dropped": "; ".join(s.dropped),
                "sqlstate": s.error.sqlstate if s.error else None,
                "error": s.error.message if s.error else None,
                "sql": s.sql,
            }
        )
    return pd.DataFrame(rows, columns=STATEMENT_COLUMNS)


def write_csvs(rehearsal: Rehearsal, run_dir: Path) -> list[Path]:
    """locks.csv, waits.csv and statements.csv in `run_dir`."""
    run_dir.mkdir(parents=True, exist_ok=True)
    written = []
    analysis = rehearsal.locks
    locks = analysis.locks if analysis is not None else pd.DataFrame(columns=LOCK_COLUMNS)
    waits = analysis.waits if analysis is not None else pd.DataFrame(columns=WAIT_COLUMNS)
    for name, frame in (
        ("locks.csv", locks),
        ("waits.csv", waits),
        ("statements.csv", statements_frame(rehearsal)),
    ):
        path = run_dir / name
        frame.to_csv(path, index=False, float_format="%.6g")
        written.append(path)
    if rehearsal.load_events is not None:
        path = run_dir / "latency.csv"
        rehearsal.load_events.to_csv(path, index=False, float_format="%.6g")
        written.append(path)
    return written
