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
    pid: int,
    relation: str | None,
    mode: str,
) -> StatementResult | None:
    """For statements a tool sent (known by their backend pid), the one that took a lock
    first seen at `start`. A sampled lock outlives its statement until the transaction ends,
    so the statement running when it was seen (a `pg_sleep`, say) need not have taken it:
    the taker is the latest statement of the open transaction started by then that could
    take the mode, preferring one that names the relation."""
    candidates = []
    for statement in statements:
        if statement.pid != pid or statement.started_s is None:
            continue
        if statement.started_s > start + _LOG_CLOCK_TOLERANCE_S:
            continue
        end = statement.transaction_end_s
        if end is None and statement.seconds is not None:
            end = statement.started_s + statement.seconds
        if end is not None and end < start:
            continue
        if _could_take(statement.sql, mode):
            candidates.append(statement)
    if not candidates:
        return None
    candidates.sort(key=lambda s: s.started_s or 0.0)
    if relation and not relation.startswith("(oid"):
        bare = relation.rsplit(".", 1)[-1].strip('"')
        names_it = re.compile(rf"(?<![\w$]){re.escape(bare)}(?![\w$])", re.IGNORECASE)
        named = [s for s in candidates if names_it.search(s.sql)]
        if named:
            return named[-1]
    return candidates[-1]


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
