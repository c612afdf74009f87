"""PostgreSQL's table-level lock modes, what conflicts with what, and what that means for an
application (PostgreSQL documentation, "Explicit Locking", table-level locks)."""

from __future__ import annotations

from dataclasses import dataclass

# weakest first, as the documentation lists them
MODES = (
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
)

_CONFLICTS: dict[str, frozenset[str]] = {
    "AccessShareLock": frozenset({"AccessExclusiveLock"}),
    "RowShareLock": frozenset({"ExclusiveLock", "AccessExclusiveLock"}),
    "RowExclusiveLock": frozenset(
        {"ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"}
    ),
    "ShareUpdateExclusiveLock": frozenset(
        {
            "ShareUpdateExclusiveLock",
            "ShareLock",
            "ShareRowExclusiveLock",
            "ExclusiveLock",
            "AccessExclusiveLock",
        }
    ),
    "ShareLock": frozenset(
        {
            "RowExclusiveLock",
            "ShareUpdateExclusiveLock",
            "ShareRowExclusiveLock",
            "ExclusiveLock",
            "AccessExclusiveLock",
        }
    ),
    "ShareRowExclusiveLock": frozenset(
        {
            "RowExclusiveLock",
            "ShareUpdateExclusiveLock",
            "ShareLock",
            "ShareRowExclusiveLock",
            "ExclusiveLock",
            "AccessExclusiveLock",
        }
    ),
    "ExclusiveLock": frozenset(MODES[1:]),
    "AccessExclusiveLock": frozenset(MODES),
}


@dataclass(frozen=True)
class ModeInfo:
    mode: str
    sql_name: str  # as LOCK TABLE spells it
    effect: str  # in plain words, for an application
    taken_by: str  # typical commands (documentation)


MODE_INFO: dict[str, ModeInfo] = {
    info.mode: info
    for info in (
        ModeInfo(
            "AccessShareLock",
            "ACCESS SHARE",
            "blocks only ACCESS EXCLUSIVE (schema changes that rewrite or drop)",
            "SELECT",
        ),
        ModeInfo(
            "RowShareLock",
            "ROW SHARE",
            "blocks EXCLUSIVE and ACCESS EXCLUSIVE",
            "SELECT ... FOR UPDATE / FOR SHARE",
        ),
        ModeInfo(
            "RowExclusiveLock",
            "ROW EXCLUSIVE",
            "blocks other schema changes that need SHARE or stronger (normal for writes)",
            "INSERT, UPDATE, DELETE, MERGE",
        ),
        ModeInfo(
            "ShareUpdateExclusiveLock",
            "SHARE UPDATE EXCLUSIVE",
            "blocks other schema changes and VACUUM; reads and writes go on",
            "VACUUM, ANALYZE, CREATE INDEX CONCURRENTLY, ALTER TABLE VALIDATE CONSTRAINT, "
            "ALTER TABLE SET (storage parameter), COMMENT ON",
        ),
        ModeInfo(
            "ShareLock",
            "SHARE",
            "blocks writes; reads go on",
            "CREATE INDEX (without CONCURRENTLY)",
        ),
        ModeInfo(
            "ShareRowExclusiveLock",
            "SHARE ROW EXCLUSIVE",
            "blocks writes and other schema changes; reads go on",
            "CREATE TRIGGER, ALTER TABLE ADD FOREIGN KEY (on both tables)",
        ),
        ModeInfo(
            "ExclusiveLock",
            "EXCLUSIVE",
            "blocks writes and SELECT ... FOR UPDATE; plain reads go on",
            "REFRESH MATERIALIZED VIEW CONCURRENTLY",
        ),
        ModeInfo(
            "AccessExclusiveLock",
            "ACCESS EXCLUSIVE",
            "blocks reads and writes",
            "most ALTER TABLE forms, DROP TABLE, TRUNCATE, REINDEX, CLUSTER, VACUUM FULL, "
            "LOCK TABLE",
        ),
    )
}


def conflicts(held: str, requested: str) -> bool:
    """Whether a lock in mode `requested` must wait for one held in mode `held`."""
    return requested in _CONFLICTS.get(held, frozenset())


def blocks_reads(mode: str) -> bool:
    """A plain SELECT (AccessShareLock) waits for this mode."""
    return conflicts(mode, "AccessShareLock")


def blocks_writes(mode: str) -> bool:
    """INSERT/UPDATE/DELETE (RowExclusiveLock) wait for this mode."""
    return conflicts(mode, "RowExclusiveLock")


def effect(mode: str) -> str:
    """What holding `mode` does to an application, in plain words."""
    info = MODE_INFO.get(mode)
    return info.effect if info else "not a table lock mode"


def strength(mode: str) -> int:
    return MODES.index(mode) if mode in MODES else -1
