"""CSV reports: one row per lock interval, per wait, per statement. Units are in the names."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from pgrehearse.observe import LOCK_COLUMNS, WAIT_COLUMNS
from pgrehearse.report import LATENCY_FILE
from pgrehearse.report.facts import strongest_lock

if TYPE_CHECKING:
    from pgrehearse.rehearsal.result import Rehearsal

STATEMENT_COLUMNS = [
    "phase",
    "index",
    "file",
    "line",
    "status",
    "started_s",
    "duration_ms",
    "lock_wait_ms",
    "in_transaction",
    "transaction_end_s",
    "locks",
    "strongest_lock",
    "strongest_lock_relation",
    "lock_note",
    "max_held_ms",
    "blocks_reads",
    "blocks_writes",
    "rewrote",
    "rewritten",
    "created",
    "dropped",
    "renamed",
    "sqlstate",
    "error",
    "sql",
]


def statements_frame(statements: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per statement, from summary.json's `statements`."""
    rows = []
    for s in statements:
        locks = s.get("locks", [])
        top = strongest_lock(locks)
        error = s.get("error") or {}
        rows.append(
            {
                "phase": s["phase"],
                "index": s["index"],
                "file": s["file"],
                "line": s["line"],
                "status": s["status"],
                "started_s": s["started_s"],
                "duration_ms": None if s["seconds"] is None else round(s["seconds"] * 1000, 3),
                "lock_wait_ms": None
                if s.get("lock_wait_s") is None
                else round(s["lock_wait_s"] * 1000, 3),
                "in_transaction": s.get("in_transaction"),
                "transaction_end_s": s.get("transaction_end_s"),
                "locks": "; ".join(f"{lock['relation']}:{lock['mode']}" for lock in locks),
                "strongest_lock": top["mode"] if top is not None else None,
                "strongest_lock_relation": top["relation"] if top is not None else None,
                "lock_note": s.get("lock_note"),
                "max_held_ms": max((lock["held_ms"] for lock in locks), default=None),
                "blocks_reads": any(lock.get("blocks_reads") for lock in locks),
                "blocks_writes": any(lock.get("blocks_writes") for lock in locks),
                "rewrote": bool(s.get("rewrites")),
                "rewritten": "; ".join(s.get("rewrites", [])),
                "created": "; ".join(s.get("created", [])),
                "dropped": "; ".join(s.get("dropped", [])),
                "renamed": "; ".join(s.get("renamed", [])),
                "sqlstate": error.get("sqlstate"),
                "error": error.get("message"),
                "sql": s["sql"],
            }
        )
    return pd.DataFrame(rows, columns=STATEMENT_COLUMNS)


def write_csvs(summary: dict[str, Any], run_dir: Path) -> list[Path]:
    """locks.csv, waits.csv and statements.csv in `run_dir`, from summary.json's data."""
    run_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in (
        ("locks.csv", pd.DataFrame(summary.get("locks") or [], columns=LOCK_COLUMNS)),
        ("waits.csv", pd.DataFrame(summary.get("waits") or [], columns=WAIT_COLUMNS)),
        ("statements.csv", statements_frame(summary["statements"])),
    ):
        path = run_dir / name
        frame.to_csv(path, index=False, float_format="%.6g")
        written.append(path)
    return written


def write_latency(rehearsal: Rehearsal, run_dir: Path) -> Path | None:
    """latency.csv: the raw load events (data, not a report: only a rehearsal writes it)."""
    if rehearsal.load_events is None:
        return None
    path = run_dir / LATENCY_FILE
    write_frame_csv(rehearsal.load_events, path)
    return path


def write_frame_csv(frame: pd.DataFrame, path: Path) -> None:
    """`frame.to_csv(path, index=False, float_format="%.6g")`, the same text at twice its
    speed: a column at a time to strings, then the csv module's writer (one row a load
    transaction makes this file the largest of a run)."""
    columns: list[list[Any]] = []
    for name in frame.columns:
        values = frame[name]
        if values.dtype.kind == "f":
            columns.append(["" if v != v else f"{v:.6g}" for v in values.tolist()])
        else:
            columns.append(["" if v is None or v != v else v for v in values.tolist()])
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(frame.columns)
        writer.writerows(zip(*columns, strict=True))
