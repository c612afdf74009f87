"""Which migration statement a sampled lock belongs to."""

from __future__ import annotations

import re
from collections.abc import Sequence

from pgrehearse.migration import StatementResult
from pgrehearse.observe._knowledge import strength

# log times are whole milliseconds, and mapped onto the rehearsal's clock by one round trip
_LOG_CLOCK_TOLERANCE_S = 0.02


def taker_of(
    statements: Sequence[StatementResult],
    start: float,
    end: float,
    pid: int,
    relation: str | None,
    mode: str,
) -> StatementResult | None:
    """For statements a tool sent (known by their backend pid), the one that took a lock
    seen from `start` to `end`. A sampled lock outlives its statement until the transaction
    ends, so the statement running when it was seen (a `pg_sleep`, say) need not have taken
    it: the taker is the latest statement of the open transaction started by then that could
    take the mode, preferring one that names the relation. (Log times are mapped onto the
    rehearsal's clock within a few milliseconds: a tolerance absorbs that.)"""
    tolerance = _LOG_CLOCK_TOLERANCE_S
    candidates = []
    for statement in statements:
        if statement.pid != pid or statement.started_s is None:
            continue
        finished = statement.transaction_end_s
        if finished is None and statement.seconds is not None:
            finished = statement.started_s + statement.seconds
        if statement.started_s > end + tolerance:
            continue
        if finished is not None and finished < start - tolerance:
            continue
        if _could_take(statement.sql, mode):
            candidates.append(statement)
    if relation and not relation.startswith("(oid"):
        bare = relation.rsplit(".", 1)[-1].strip('"')
        names_it = re.compile(rf"(?<![\w$]){re.escape(bare)}(?![\w$])", re.IGNORECASE)
        named = [s for s in candidates if names_it.search(s.sql)]
        candidates = named or candidates
    if not candidates:
        return None
    candidates.sort(key=lambda s: s.started_s or 0.0)
    before = [s for s in candidates if (s.started_s or 0.0) <= start + tolerance]
    return before[-1] if before else candidates[0]


def _could_take(sql_text: str, mode: str) -> bool:
    """Reads and writes of rows take at most RowExclusiveLock; DDL and LOCK anything."""
    first = sql_text.lstrip().split(None, 1)[0].upper() if sql_text.strip() else ""
    if first in _ROW_STATEMENTS:
        return strength(mode) <= strength("RowExclusiveLock")
    return True


_ROW_STATEMENTS = {"SELECT", "WITH", "INSERT", "UPDATE", "DELETE", "MERGE", "COPY", "TABLE"}


def statement_at(
    statements: Sequence[StatementResult], start: float, end: float, pid: int
) -> StatementResult | None:
    best, overlap = None, 0.0
    for statement in statements:
        if statement.started_s is None or statement.seconds is None:
            continue
        if statement.pid is not None and statement.pid != pid:
            continue
        shared = min(end, statement.started_s + statement.seconds) - max(start, statement.started_s)
        if shared > overlap:
            best, overlap = statement, shared
    return best
