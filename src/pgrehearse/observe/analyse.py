"""From traces and samples to intervals: who held which lock when, who waited, how long.

Migration locks taken inside a transaction come from the tracer (acquired when their
statement started, released when the transaction ended). Everything else, the locks of
statements that run alone (CREATE INDEX CONCURRENTLY, ...), of the application and of other
sessions, and every wait, comes from the sampler: a run of consecutive polls that saw the
same lock is one interval, bounded halfway to the neighbouring polls.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pgrehearse.migration import StatementResult
from pgrehearse.observe._attribution import statement_at, taker_of
from pgrehearse.observe._columns import LOCK_COLUMNS, WAIT_COLUMNS
from pgrehearse.observe._knowledge import (
    blocks_reads,
    blocks_writes,
    conflicts,
    effect,
)
from pgrehearse.observe._names import TOAST, RelationNames
from pgrehearse.observe._runs import sampled_runs as _runs
from pgrehearse.observe._sampler import Samples
from pgrehearse.observe._trace import LockTracer
from pgrehearse.observe._windows import PhaseWindow
from pgrehearse.roles import SessionRole


@dataclass
class LockAnalysis:
    locks: pd.DataFrame
    waits: pd.DataFrame
    queue: pd.DataFrame  # t_s, waiting (sessions waiting for a lock at each poll)
    summary: list[dict[str, Any]] = field(default_factory=list)

    @staticmethod
    def empty() -> LockAnalysis:
        return LockAnalysis(
            pd.DataFrame(columns=LOCK_COLUMNS),
            pd.DataFrame(columns=WAIT_COLUMNS),
            pd.DataFrame(columns=["t_s", "waiting"]),
        )


def analyse_locks(
    *,
    tracer: LockTracer | None,
    samples: Samples | None,
    statements: Sequence[StatementResult],
    phases: Sequence[PhaseWindow],
    migration_pids: Collection[int],
    end_s: float,
) -> LockAnalysis:
    names = RelationNames(tracer)
    traced = _traced_intervals(tracer, end_s)
    polls = np.asarray(samples.poll_times if samples else [], dtype=float)
    frame = _samples_frame(samples)
    sampled = _sampled_intervals(frame[frame["granted"]], polls)
    sampled = _drop_covered(sampled, traced)
    parts = [df for df in (traced, sampled) if not df.empty]
    locks = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=LOCK_COLUMNS)
    pids = set(migration_pids)
    _attribute(locks, statements, phases, pids, names)
    _within_alone_statements(locks, statements)
    _name_relations(locks, names, statements)
    _mark_new_relations(locks, tracer, statements, pids)
    locks["held_ms"] = ((locks["end_s"] - locks["start_s"]) * 1000).round(3)
    # a lock on a relation the migration itself created blocks nobody: no one can see it yet
    existing = ~locks["new_relation"].astype(bool)
    locks["blocks_reads"] = locks["mode"].map(blocks_reads).astype(bool) & existing
    locks["blocks_writes"] = locks["mode"].map(blocks_writes).astype(bool) & existing
    locks = locks[LOCK_COLUMNS].sort_values(["start_s", "relation", "mode"], ignore_index=True)

    roles = dict(zip(frame["pid"], frame["role"], strict=True))
    for pid in pids:
        roles[pid] = SessionRole.MIGRATION.value
    waits = _waits(frame[~frame["granted"]], polls, names, locks, phases, pids, roles)
    _start_when_granted(locks, waits, pids)
    waits = waits[WAIT_COLUMNS]
    queue = _queue(frame, polls)
    _annotate_statements(statements, locks, tracer, names)
    _lock_waits(statements, waits, pids)
    return LockAnalysis(locks, waits, queue, _summary(locks, waits))


def _start_when_granted(locks: pd.DataFrame, waits: pd.DataFrame, pids: set[int]) -> None:
    """A traced lock starts with its statement, but a statement that queued for the lock
    (behind the load, or autovacuum) only held it once granted: its hold starts when the
    migration's sampled wait for that relation and mode ended. The queued request did block
    the application meanwhile; the load's waits say so, and still name the statement."""
    if locks.empty or waits.empty:
        return
    mine = waits[waits["waiter_pid"].isin(pids)]
    if mine.empty:
        return
    traced = locks.index[locks["source"] == "trace"]
    for _, wait in mine.iterrows():
        for i in traced:
            lock = locks.loc[i]
            if (
                lock["holder_pid"] == wait["waiter_pid"]
                and lock["mode"] == wait["requested_mode"]
                and lock["relation_oid"] == wait["relation_oid"]
                and lock["start_s"] <= wait["end_s"] <= lock["end_s"]
            ):
                locks.loc[i, "start_s"] = max(lock["start_s"], wait["end_s"])
    locks["held_ms"] = ((locks["end_s"] - locks["start_s"]) * 1000).round(3)


def _lock_waits(statements: Sequence[StatementResult], waits: pd.DataFrame, pids: set[int]) -> None:
    """Each statement's time waiting for locks (sampled): the part of its time that is the
    application's doing, not the migration's work."""
    mine = waits[waits["waiter_pid"].isin(pids)] if not waits.empty else waits
    for statement in statements:
        if statement.started_s is None or statement.seconds is None:
            continue
        start, end = statement.started_s, statement.started_s + statement.seconds
        waited = 0.0
        for _, row in mine.iterrows():
            if statement.pid is not None and row["waiter_pid"] != statement.pid:
                continue
            waited += max(0.0, min(end, row["end_s"]) - max(start, row["start_s"]))
        statement.lock_wait_s = round(min(waited, statement.seconds), 6)


def _mark_new_relations(
    locks: pd.DataFrame,
    tracer: LockTracer | None,
    statements: Sequence[StatementResult],
    migration_pids: set[int],
) -> None:
    """A migration lock is on a new relation, which nobody else can see yet, when the
    relation did not exist as its phase began and was created by the lock's own statement,
    or by an earlier one whose transaction was still open when the lock was taken. What up
    created is an existing relation for down."""
    if tracer is None or locks.empty:
        return
    transaction_end = {(s.phase, s.index): s.transaction_end_s for s in statements}
    mine = locks[locks["holder_pid"].isin(migration_pids) & locks["statement"].notna()]
    creators: dict[tuple[str, int], tuple[int, float | None]] = {}
    for _, row in mine.sort_values(["statement", "start_s"]).iterrows():
        key = (row["phase"], int(row["relation_oid"]))
        existing = tracer.existing_at_start.get(row["phase"])
        if existing is None or key[1] in existing:
            continue
        statement = int(row["statement"])
        creators.setdefault(key, (statement, transaction_end.get((row["phase"], statement))))
    for index, row in mine.iterrows():
        creator = creators.get((row["phase"], int(row["relation_oid"])))
        if creator is None:
            continue
        made_by, committed_at = creator
        locks.at[index, "new_relation"] = int(row["statement"]) == made_by or (
            committed_at is None or committed_at > row["start_s"]
        )


NO_LOCK_OBSERVED = "no lock observed (statement shorter than the sampling interval)"
_LOCK_TARGETS = {
    "transactionid": "a row another transaction changed",
    "tuple": "a row",
    "virtualxid": "another transaction's end",
    "advisory": "an advisory lock",
    "object": "a catalog object",
}


def _what_else(locktype: str) -> str:
    """What a wait that is not for a relation waits for, in words."""
    return _LOCK_TARGETS.get(locktype, f"a {locktype} lock")


# --------------------------------------------------------------------------- intervals


def _traced_intervals(tracer: LockTracer | None, end_s: float) -> pd.DataFrame:
    if tracer is None or not tracer.locks:
        return pd.DataFrame(columns=LOCK_COLUMNS)
    rows = [
        {
            "relation": "",  # named by `_name_relations`
            "relation_part": "",
            "relation_oid": lock.relation,
            "new_relation": False,  # decided by `_mark_new_relations`
            "mode": lock.mode,
            "holder_role": SessionRole.MIGRATION.value,
            "holder_pid": tracer.migration_pid,
            "phase": lock.phase,
            "statement": lock.statement,
            "start_s": lock.acquired_s,
            "end_s": lock.released_s if lock.released_s is not None else end_s,
            "source": "trace",
        }
        for lock in tracer.locks
    ]
    return pd.DataFrame(rows)


def _samples_frame(samples: Samples | None) -> pd.DataFrame:
    columns = ["t", "pid", "role", "locktype", "relation", "mode", "granted", "blockers", "query"]
    if samples is None or not samples.t:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns}).astype({"granted": bool})
    return pd.DataFrame({c: getattr(samples, c) for c in columns})


def _sampled_intervals(granted: pd.DataFrame, polls: np.ndarray[Any, Any]) -> pd.DataFrame:
    columns, runs = _runs(granted, polls, ["pid", "relation", "mode"])
    rows = [
        {
            "relation": "",
            "relation_part": "",
            "relation_oid": run.key[1],
            "new_relation": False,
            "mode": run.key[2],
            "holder_role": columns["role"][run.first],
            "holder_pid": int(run.key[0]),
            "phase": None,
            "statement": None,
            "start_s": run.start_s,
            "end_s": run.end_s,
            "source": "sampler",
        }
        for run in runs
    ]
    return pd.DataFrame(
        rows,
        columns=[c for c in LOCK_COLUMNS if c not in ("held_ms", "blocks_reads", "blocks_writes")],
    )


def _drop_covered(sampled: pd.DataFrame, traced: pd.DataFrame) -> pd.DataFrame:
    """The tracer already knows the migration's transactional locks, more precisely."""
    if sampled.empty or traced.empty:
        return sampled
    # only the traced session's own intervals can be covered: look at those alone (the
    # load's thousands of intervals are never the tracer's)
    candidates = sampled.index[sampled["holder_pid"].isin(set(traced["holder_pid"]))]
    covered = []
    for index in candidates:
        row = sampled.loc[index]
        same = traced[
            (traced["holder_pid"] == row["holder_pid"])
            & (traced["relation_oid"] == row["relation_oid"])
            & (traced["mode"] == row["mode"])
            & (traced["start_s"] <= row["end_s"])
            & (traced["end_s"] >= row["start_s"])
        ]
        if not same.empty:
            covered.append(index)
    return sampled.drop(index=covered)


def _attribute(
    locks: pd.DataFrame,
    statements: Sequence[StatementResult],
    phases: Sequence[PhaseWindow],
    migration_pids: set[int],
    names: RelationNames,
) -> None:
    """Phase of every interval; statement of the migration's sampled intervals."""
    for index, row in locks.iterrows():
        middle = (row["start_s"] + row["end_s"]) / 2
        if row["phase"] is None or pd.isna(row["phase"]):
            locks.at[index, "phase"] = _phase_at(phases, row["start_s"], middle)
        if row["source"] == "sampler" and row["holder_pid"] in migration_pids:
            oid = row["relation_oid"]
            relation = None if pd.isna(oid) else names.describe(int(oid), row["start_s"])[0]
            running = taker_of(
                statements,
                float(row["start_s"]),
                float(row["end_s"]),
                int(row["holder_pid"]),
                relation,
                row["mode"],
            ) or statement_at(statements, row["start_s"], row["end_s"], row["holder_pid"])
            if running is not None:
                locks.at[index, "phase"] = running.phase
                locks.at[index, "statement"] = running.index


def _within_alone_statements(locks: pd.DataFrame, statements: Sequence[StatementResult]) -> None:
    """A statement run alone (autocommit) releases its locks as it ends: a hold is cut to
    the statement's own time, which the polls around it can overrun on a busy machine (a
    hold of 5.1 ms was once seen for a statement the client timed at 1.9 ms)."""
    alone = {
        (s.phase, s.index): (s.started_s, s.started_s + s.seconds)
        for s in statements
        if not s.in_transaction and s.started_s is not None and s.seconds is not None
    }
    if not alone or locks.empty:
        return
    for index, row in locks.iterrows():
        if row["statement"] is None or pd.isna(row["statement"]):
            continue
        window = alone.get((str(row["phase"]), int(row["statement"])))
        if window is None:
            continue
        start, end = max(float(row["start_s"]), window[0]), min(float(row["end_s"]), window[1])
        if start <= end:
            locks.at[index, "start_s"], locks.at[index, "end_s"] = start, end


def _name_relations(
    locks: pd.DataFrame, names: RelationNames, statements: Sequence[StatementResult]
) -> None:
    """Each lock under the name its relation had when the lock's statement (or, for other
    sessions, the lock) started; TOAST tables and a rewrite's copy under their table's."""
    started = {(s.phase, s.index): s.started_s for s in statements}
    for index, row in locks.iterrows():
        statement = None
        at = float(row["start_s"])
        if row["statement"] is not None and not pd.isna(row["statement"]):
            statement = (str(row["phase"]), int(row["statement"]))
            at = started.get(statement) or at
        name, part = names.describe(int(row["relation_oid"]), at, statement)
        locks.at[index, "relation"] = f"{name} ({part})" if part else name
        locks.at[index, "relation_part"] = part


def _phase_at(phases: Sequence[PhaseWindow], start: float, middle: float) -> str:
    for window in phases:
        if window.start_s <= middle <= window.end_s:
            return window.name
    for window in phases:
        if window.start_s <= start <= window.end_s:
            return window.name
    return "between"


# --------------------------------------------------------------------------- waits, queue


def _waits(
    waiting: pd.DataFrame,
    polls: np.ndarray[Any, Any],
    names: RelationNames,
    locks: pd.DataFrame,
    phases: Sequence[PhaseWindow],
    migration_pids: set[int],
    roles: dict[Any, Any],
) -> pd.DataFrame:
    rows = []
    columns, runs = _runs(waiting, polls, ["pid", "locktype", "relation", "mode"])
    for run in runs:
        pid, locktype, relation, mode = run.key
        start, end = run.start_s, run.end_s
        blocking = columns["blockers"][run.first : run.last]
        blockers = sorted({b for item in blocking if item for b in item})
        oid = None if pd.isna(relation) else int(relation)
        relation_label = names.label(oid, float(start)) or _what_else(str(locktype))
        rows.append(
            {
                "waiter_role": columns["role"][run.first],
                "waiter_pid": int(pid),
                "relation": relation_label,
                "relation_oid": oid,
                "locktype": locktype,
                "requested_mode": mode,
                "start_s": float(start),
                "end_s": float(end),
                "wait_ms": round((end - start) * 1000, 3),
                "blocking_pids": " ".join(map(str, blockers)),
                "blocking_roles": " ".join(sorted({roles.get(b, "other") for b in blockers})),
                "blocking_statement": _blocking_statement(
                    locks, blockers, oid, mode, (float(start), float(end)), migration_pids
                ),
                "phase": _phase_at(phases, start, (start + end) / 2),
                "query": next((q for q in columns["query"][run.first : run.last] if q), None),
            }
        )
    return pd.DataFrame(rows, columns=[*WAIT_COLUMNS, "relation_oid"])


def _blocking_statement(
    locks: pd.DataFrame,
    blockers: list[int],
    relation: int | None,
    requested: str,
    wait: tuple[float, float],
    migration_pids: set[int],
) -> str | None:
    """`up #2` when a migration statement's lock is what the waiter waits for: one held as
    the wait began or, when the waiter queued behind the statement's own queued request,
    the one granted during the wait (the waiter's turn comes only after it)."""
    if not migration_pids.intersection(blockers) or locks.empty or relation is None:
        return None
    began, ended = wait
    held = locks[
        locks["holder_pid"].isin(migration_pids.intersection(blockers))
        & (locks["relation_oid"] == relation)
        & (locks["start_s"] <= ended + 0.05)
        & (locks["end_s"] >= began)
    ]
    for _, row in held.sort_values("start_s").iterrows():
        if conflicts(row["mode"], requested) and row["statement"] is not None:
            return f"{row['phase']} #{int(row['statement'])}"
    return None


def _queue(frame: pd.DataFrame, polls: np.ndarray[Any, Any]) -> pd.DataFrame:
    if len(polls) == 0:
        return pd.DataFrame(columns=["t_s", "waiting"])
    waiting = frame[~frame["granted"]].groupby("t")["pid"].nunique()
    counts = waiting.reindex(polls, fill_value=0)
    return pd.DataFrame({"t_s": polls, "waiting": counts.to_numpy().astype(int)})


# --------------------------------------------------------------------------- summaries


def _summary(locks: pd.DataFrame, waits: pd.DataFrame) -> list[dict[str, Any]]:
    """Per relation and mode: longest hold, time blocking the app, who waited."""
    if locks.empty:
        return []
    result = []
    for (relation, mode_key), group in locks.groupby(["relation", "mode"], sort=True):
        mode = str(mode_key)
        conflicting = bool(group["blocks_reads"].any() or group["blocks_writes"].any())
        related = waits[(waits["relation"] == relation)] if not waits.empty else waits
        waited = (
            related[[conflicts(mode, str(wanted)) for wanted in related["requested_mode"]]]
            if not related.empty
            else related
        )
        result.append(
            {
                "relation": relation,
                "mode": mode,
                "effect": effect(mode),
                "holders": sorted(set(group["holder_role"])),
                "intervals": len(group),
                "longest_hold_ms": round(float(group["held_ms"].max()), 3),
                "total_conflicting_ms": round(float(group["held_ms"].sum()), 3)
                if conflicting
                else 0.0,
                "sessions_waited": int(waited["waiter_pid"].nunique()) if not waited.empty else 0,
                "longest_wait_ms": round(float(waited["wait_ms"].max()), 3)
                if not waited.empty
                else 0.0,
            }
        )
    return result


def _annotate_statements(
    statements: Sequence[StatementResult],
    locks: pd.DataFrame,
    tracer: LockTracer | None,
    names: RelationNames,
) -> None:
    for statement in statements:
        mine = locks[
            (locks["holder_role"] == SessionRole.MIGRATION)
            & (locks["phase"] == statement.phase)
            & (locks["statement"] == statement.index)
        ]
        statement.locks = [
            {
                "relation": row["relation"],
                "part": row["relation_part"],
                "mode": row["mode"],
                "held_ms": row["held_ms"],
                "effect": effect(row["mode"]) if not row["new_relation"] else "new relation",
                "new_relation": bool(row["new_relation"]),
                "blocks_reads": bool(row["blocks_reads"]),
                "blocks_writes": bool(row["blocks_writes"]),
            }
            for _, row in mine.iterrows()
        ]
        if not statement.locks and not statement.in_transaction and statement.status == "ok":
            statement.lock_note = NO_LOCK_OBSERVED
        if tracer is None:
            continue
        trace = tracer.by_statement.get((statement.phase, statement.index))
        if trace is None:
            continue
        at = statement.started_s or 0.0
        rewrites = _unique(names.label(r.relation, at) for r in trace.rewrites)
        # a rewritten table's TOAST table is rewritten with it: not worth a second mention
        rewrites = [
            r
            for r in rewrites
            if r.removesuffix(f" ({TOAST})") not in rewrites or r == r.removesuffix(f" ({TOAST})")
        ]
        # relations that vanished before commit (a rewrite's transient heap) are not news
        created = [names.label(o, at) for o in trace.created if o in tracer.relations]
        dropped = [names.label(o, at) for o in trace.dropped]
        statement.renamed = [f"{r.old} → {r.new}" for r in trace.renamed]
        # an index dropped and created again under its name was rebuilt (ALTER COLUMN TYPE)
        rebuilt = [name for name in created if name in dropped]
        statement.rewrites = rewrites + [name for name in rebuilt if name not in rewrites]
        statement.created = [name for name in created if name not in rebuilt]
        statement.dropped = [name for name in dropped if name not in rebuilt]


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _toast_of_one_of(label: str, labels: list[str]) -> bool:
    table = label.removesuffix(f" ({TOAST})")
    return table != label and table in labels
