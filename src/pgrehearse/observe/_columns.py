"""The columns of the lock analysis' tables (locks.csv, waits.csv), apart from the
analysis so the reports can name them without importing it."""

LOCK_COLUMNS = [
    "relation",
    "relation_part",
    "relation_oid",
    "new_relation",
    "mode",
    "holder_role",
    "holder_pid",
    "phase",
    "statement",
    "start_s",
    "end_s",
    "held_ms",
    "blocks_reads",
    "blocks_writes",
    "source",
]
WAIT_COLUMNS = [
    "waiter_role",
    "waiter_pid",
    "relation",
    "locktype",
    "requested_mode",
    "start_s",
    "end_s",
    "wait_ms",
    "blocking_pids",
    "blocking_roles",
    "blocking_statement",
    "phase",
    "query",
]
