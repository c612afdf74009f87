"""Timing history: one JSON line per run, with per-phase and per-statement seconds per round.

A record holds one or more rounds. A rehearsal gives one round (measured under the
scenario's load); `measure_rounds` gives several, each on a fresh copy of the seeded
database with no load, which is what regression checks compare.

    {"format": 1, "source": "rehearsal" | "rounds", "scenario": "orders_add_column",
     "run_id": "...", "recorded_at": "...", "postgres_version": "15.14", "scale": 1.0,
     "load": false, "outcome": "passed", "commit": "3f2c1ab",
     "rounds": [{"phases": {"up": 0.41, "down": 0.02},
                 "statements": {"up: ALTER TABLE orders ADD COLUMN note text": 0.001},
                 "phase_waits": {"up": 0.1}, "statement_waits": {...}}]}

Times are execution times: a rehearsal's lock waits (behind its load) are taken out and
kept apart in `phase_waits` and `statement_waits`, which older records lack.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import re
import subprocess
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pgrehearse.errors import HistoryError, Problem

HISTORY_FORMAT = 1
HISTORY_FILE = "history.jsonl"
MIGRATION_PHASES = ("up", "down")
_SPACE = re.compile(r"\s+")


def statement_key(phase: str, sql: str) -> str:
    """How a statement is recognised across runs: its phase and its text, spaces collapsed
    (so a statement inserted before it does not change its identity, as an index would)."""
    return f"{phase}: {_SPACE.sub(' ', sql).strip()}"


def statement_seconds(statements: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    seconds: dict[str, float] = {}
    seen: Counter[str] = Counter()
    for statement in statements:
        if statement.get("status") != "ok" or statement.get("seconds") is None:
            continue
        key = statement_key(statement["phase"], statement["sql"])
        seen[key] += 1
        if seen[key] > 1:
            key += f" ({seen[key]})"
        seconds[key] = float(statement["seconds"])
    return seconds


def statement_waits(statements: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Per statement (keyed as `statement_seconds`), its time waiting for locks."""
    waits: dict[str, float] = {}
    seen: Counter[str] = Counter()
    for statement in statements:
        if statement.get("status") != "ok" or statement.get("seconds") is None:
            continue
        key = statement_key(statement["phase"], statement["sql"])
        seen[key] += 1
        if seen[key] > 1:
            key += f" ({seen[key]})"
        waits[key] = float(statement.get("lock_wait_s") or 0.0)
    return waits


def record_from_summary(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The history record of one rehearsal, from its summary (`summary.json` data): the time
    each phase and statement spent executing, and apart, the time it waited for locks."""
    statements = summary["statements"]
    waits = statement_waits(statements)
    phase_waits = {
        phase: round(
            sum(
                float(s.get("lock_wait_s") or 0.0)
                for s in statements
                if s["phase"] == phase and s.get("status") == "ok"
            ),
            6,
        )
        for phase in MIGRATION_PHASES
    }
    phases = {
        p["name"]: round(max(0.0, p["seconds"] - phase_waits[p["name"]]), 6)
        for p in summary.get("phases", [])
        if p["name"] in MIGRATION_PHASES and p["status"] == "ok" and p["seconds"] is not None
    }
    executing = {
        key: round(max(0.0, seconds - waits.get(key, 0.0)), 6)
        for key, seconds in statement_seconds(statements).items()
    }
    return new_record(
        source="rehearsal",
        scenario=summary["scenario"]["name"],
        run_id=summary["run_id"],
        postgres_version=(summary.get("postgres") or {}).get("version"),
        scale=(summary.get("data") or {}).get("scale"),
        load=bool(summary.get("load")),
        outcome=summary.get("outcome"),
        rounds=[
            {
                "phases": phases,
                "statements": executing,
                "phase_waits": {p: w for p, w in phase_waits.items() if p in phases},
                "statement_waits": waits,
            }
        ],
    )


def new_record(**fields: Any) -> dict[str, Any]:
    return {
        "format": HISTORY_FORMAT,
        **fields,
        "recorded_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": _git_commit(),
    }


def _git_commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def append_record(path: str | Path, record: Mapping[str, Any]) -> Path:
    """Append `record` as one line; an exclusive lock keeps parallel writers' lines whole."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, sort_keys=True) + "\n"
    with target.open("a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            handle.write(line)
            handle.flush()
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    return target


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """The records of a history file, a run folder (its summary.json) or a summary.json.

    Invalid input raises `HistoryError` naming the file and line (exit code 2).
    """
    source = Path(path)
    if source.is_dir():
        source = source / "summary.json"
    if not source.is_file():
        raise HistoryError(
            [
                Problem(
                    "no such history file, run folder or summary.json",
                    file=source,
                    hint="give a history file (reports/history.jsonl), a run folder or a "
                    "summary.json",
                )
            ]
        )
    text = source.read_text(encoding="utf-8")
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        whole = None  # JSON lines, or broken: read line by line to point at the bad one
    if isinstance(whole, dict):
        return [_summary_or_record(source, 1, text)]
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            records.append(_summary_or_record(source, number, line))
    return records


def _summary_or_record(source: Path, line: int, text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _bad(source, line, f"not JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise _bad(source, line, "expected a JSON object")
    if "schema_version" in data and "statements" in data:
        return record_from_summary(data)
    if data.get("format") != HISTORY_FORMAT or not isinstance(data.get("rounds"), list):
        raise _bad(source, line, f"not a pgrehearse history record (format {HISTORY_FORMAT})")
    return data


def _bad(source: Path, line: int, message: str) -> HistoryError:
    return HistoryError(
        [
            Problem(
                message,
                file=source,
                line=line,
                hint="history files are written by `pgrehearse run` and `pgrehearse bench`",
            )
        ]
    )
