"""What the application suffered: per phase throughput, latency percentiles, errors by class,
stalls, and the lock waits behind each migration statement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pgrehearse.load._runner import BREAKING_CLASSES, OUTCOMES, LoadEvents
from pgrehearse.migration import StatementResult
from pgrehearse.roles import SessionRole

if TYPE_CHECKING:
    import pandas as pd

LATENCY_COLUMNS = [
    "start_s",
    "end_s",
    "transaction",
    "client",
    "client_pid",
    "latency_ms",
    "lateness_ms",
    "response_ms",
    "outcome",
    "sqlstate",
    "phase",
]


@dataclass(frozen=True)
class Window:
    name: str  # baseline | up | between | down | after
    start_s: float
    end_s: float

    @property
    def seconds(self) -> float:
        return max(self.end_s - self.start_s, 0.0)


def load_windows(
    started_s: float, stopped_s: float, migration: Sequence[tuple[str, float, float]]
) -> list[Window]:
    """Cut the load's run into baseline / up / between / down / after."""
    windows: list[Window] = []
    cursor = started_s
    gaps = iter(("baseline", "between"))
    for name, start, end in migration:
        windows.append(Window(next(gaps, "between"), cursor, start))
        windows.append(Window(name, start, end))
        cursor = end
    windows.append(Window("after", cursor, stopped_s))
    return [w for w in windows if w.seconds > 0 or w.name in ("up", "down")]


def events_frame(events: LoadEvents, windows: Sequence[Window]) -> pd.DataFrame:
    import pandas as pd  # imported when the phases are over, not on the way to them

    frame = pd.DataFrame(
        {
            "start_s": events.start_s,
            "end_s": events.start_s + events.latency_s,
            "transaction": np.array(events.transactions, dtype=object)[events.transaction]
            if len(events.transactions)
            else np.array([], dtype=object),
            "client": events.client,
            "client_pid": np.array(events.client_pids, dtype=np.int64)[events.client]
            if events.client_pids
            else np.array([], dtype=np.int64),
            "latency_ms": events.latency_s * 1000,
            "lateness_ms": events.lateness_s * 1000,
            "response_ms": (events.latency_s + events.lateness_s) * 1000,
            "outcome": np.array(OUTCOMES, dtype=object)[events.outcome],
            "sqlstate": events.sqlstate,
        }
    )
    frame["phase"] = _phase_of(frame["start_s"].to_numpy(), frame["end_s"].to_numpy(), windows)
    return frame[LATENCY_COLUMNS]


def _phase_of(
    starts: np.ndarray[Any, Any], ends: np.ndarray[Any, Any], windows: Sequence[Window]
) -> list[str]:
    """A transaction in flight at any moment of a migration phase belongs to that phase (it
    may have started just before and waited out the whole phase); others go by their start."""
    migration = [w for w in windows if w.name in ("up", "down")]
    names = []
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        name = next((w.name for w in migration if start < w.end_s and end > w.start_s), None)
        if name is None:
            name = windows[-1].name if windows else "after"
            for window in windows:
                if window.start_s <= start < window.end_s:
                    name = window.name
                    break
        names.append(name)
    return names


def _latency(values: pd.Series) -> dict[str, float | None]:
    if values.empty:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    quantiles = values.quantile([0.5, 0.95, 0.99]).to_numpy()
    return {
        "p50": round(float(quantiles[0]), 3),
        "p95": round(float(quantiles[1]), 3),
        "p99": round(float(quantiles[2]), 3),
        "max": round(float(values.max()), 3),
    }


def _longest_stall(completions: np.ndarray[Any, Any], window: Window) -> float:
    """Longest stretch of the window without a completed transaction, in ms."""
    inside = np.sort(completions[(completions >= window.start_s) & (completions < window.end_s)])
    edges = np.concatenate(([window.start_s], inside, [window.end_s]))
    return round(float(np.diff(edges).max()) * 1000, 3) if len(edges) > 1 else 0.0


def _block(
    frame: pd.DataFrame, window: Window, completions: np.ndarray[Any, Any]
) -> dict[str, Any]:
    ok = frame[frame["outcome"] == "ok"]
    errors = frame[frame["outcome"] != "ok"]["outcome"].value_counts()
    return {
        "transactions": len(frame),
        "ok": len(ok),
        "throughput_tps": round(len(ok) / window.seconds, 3) if window.seconds > 0 else None,
        "latency_ms": _latency(ok["response_ms"]),
        "errors": {name: int(errors.get(name, 0)) for name in OUTCOMES[1:]},
        "longest_stall_ms": _longest_stall(completions, window),
    }


def phase_metrics(frame: pd.DataFrame, windows: Sequence[Window]) -> list[dict[str, Any]]:
    """Per phase: throughput, p50/p95/p99/max latency (from the scheduled start when the load
    has a target rate), errors by class and the longest stall, overall and per transaction."""
    result = []
    ok = frame[frame["outcome"] == "ok"]
    for window in windows:
        inside = frame[frame["phase"] == window.name]
        entry = {
            "phase": window.name,
            "start_s": round(window.start_s, 6),
            "seconds": round(window.seconds, 6),
            **_block(inside, window, ok["end_s"].to_numpy()),
            "by_transaction": {},
        }
        for name in sorted(frame["transaction"].unique()):
            mine = inside[inside["transaction"] == name]
            done = ok[ok["transaction"] == name]["end_s"].to_numpy()
            entry["by_transaction"][name] = _block(mine, window, done)
        result.append(entry)
    return result


def load_errors(
    frame: pd.DataFrame, events: LoadEvents, statements: Sequence[StatementResult]
) -> list[dict[str, Any]]:
    """Every distinct error of the load (transaction, SQLSTATE): its class, its first
    message, how often, in which phase first, and the migration statement before it."""
    failed = frame[frame["outcome"] != "ok"]
    found = []
    for (name, sqlstate), group in failed.groupby(["transaction", "sqlstate"], sort=True):
        first = events.first_errors.get((str(name), str(sqlstate)), {})
        # a query may start before the DDL, wait for its lock, and fail when it commits
        failed_at = float(group["end_s"].min())
        found.append(
            {
                "transaction": name,
                "sqlstate": sqlstate,
                "class": group["outcome"].iloc[0],
                "message": first.get("message"),
                "count": len(group),
                "first_at_s": round(float(group["start_s"].min()), 6),
                "phase": group.sort_values("start_s")["phase"].iloc[0],
                "after_statement": _statement_before(statements, failed_at),
            }
        )
    return sorted(found, key=lambda e: e["first_at_s"])


def breaking_errors(errors: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The load errors that mean the migration breaks the running application."""
    return [error for error in errors if error["class"] in BREAKING_CLASSES]


def _statement_before(statements: Sequence[StatementResult], at: float) -> str | None:
    before = [
        s for s in statements if s.started_s is not None and s.started_s <= at and s.status == "ok"
    ]
    if not before:
        return None
    last = max(before, key=lambda s: s.started_s or 0.0)
    return f"{last.phase} #{last.index}"


def waits_by_transaction(
    frame: pd.DataFrame, waits: pd.DataFrame, statements: Sequence[StatementResult]
) -> list[dict[str, Any]]:
    """Join lock waits of load sessions with the transaction each was running:
    'insert_order waited up to 1.8 s behind `ALTER TABLE orders …` (AccessExclusiveLock)'."""
    if waits.empty or frame.empty:
        return []
    load_waits = waits[waits["waiter_role"] == SessionRole.LOAD]
    by_sql = {f"{s.phase} #{s.index}": s for s in statements}
    rows = []
    for _, wait in load_waits.iterrows():
        events = frame[
            (frame["client_pid"] == wait["waiter_pid"])
            & (frame["start_s"] <= wait["start_s"] + 0.02)
            & (frame["end_s"] >= wait["start_s"])
        ]
        if events.empty:
            rows.append(("?", wait))
            continue
        # the transaction that waited spans the whole wait; one that began as it ended
        # (the client's next) only touches it
        overlap = events["end_s"].clip(upper=wait["end_s"]) - events["start_s"].clip(
            lower=wait["start_s"]
        )
        rows.append((events["transaction"].loc[overlap.idxmax()], wait))
    result = []
    for name in sorted({name for name, _ in rows}):
        mine = [wait for n, wait in rows if n == name]
        worst = max(mine, key=lambda w: w["wait_ms"])
        blocking = worst["blocking_statement"]
        statement = by_sql.get(blocking) if isinstance(blocking, str) else None
        blocker = (
            f"`{' '.join(statement.sql.split())[:80]}`"
            if statement is not None
            else (worst["blocking_roles"] or "another session")
        )
        held = _held_mode(statement, worst["relation"])
        sentence = f"{name} waited up to {worst['wait_ms'] / 1000:.2f} s behind {blocker}"
        if held:
            sentence += f" ({held} on {worst['relation']})"
        result.append(
            {
                "transaction": name,
                "waits": len(mine),
                "longest_wait_ms": round(float(worst["wait_ms"]), 3),
                "relation": worst["relation"],
                "requested_mode": worst["requested_mode"],
                "blocking_statement": blocking if isinstance(blocking, str) else None,
                "blocking_mode": held,
                "sentence": sentence,
            }
        )
    return sorted(result, key=lambda r: -r["longest_wait_ms"])


def _held_mode(statement: StatementResult | None, relation: str) -> str | None:
    if statement is None:
        return None
    from pgrehearse.observe import strength

    modes = [lock["mode"] for lock in statement.locks if lock["relation"] == relation]
    return max(modes, key=strength) if modes else None
