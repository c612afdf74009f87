"""Per-statement tracing of the migration session: the locks each statement took, and the
tables and indexes it rewrote.

After every statement, while the migration's transaction is still open, a separate
observer connection reads pg_locks for the migration's pid: locks that were not there
before belong to that statement, and they are held until the transaction ends (COMMIT or
ROLLBACK), which is when the tracer marks them released. Rewrites are found by comparing
relfilenodes, read in the migration session with pg_relation_filenode() over an array of
oids: a syscache lookup that leaves no lock behind, so the harness's own queries never
appear among the migration's locks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg

_RELATIONS = """
SELECT c.oid::bigint, n.nspname, c.relname, c.relkind::text, c.relfilenode::bigint
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid >= 16384 AND c.relkind IN ('r', 'i', 'm', 'p', 't')
  AND n.nspname <> 'information_schema'
"""

_HELD = """
SELECT locktype, relation::bigint, mode
FROM pg_locks
WHERE pid = %s AND granted AND locktype = 'relation' AND relation >= 16384
"""

_FILENODES = "SELECT o::bigint, pg_relation_filenode(o::oid)::bigint FROM unnest(%s::bigint[]) o"

KIND_NAMES = {
    "r": "table",
    "p": "partitioned table",
    "i": "index",
    "m": "materialized view",
    "t": "TOAST table",
}


@dataclass
class Relation:
    oid: int
    schema: str
    name: str
    kind: str  # pg_class.relkind

    @property
    def label(self) -> str:
        return self.name if self.schema == "public" else f"{self.schema}.{self.name}"


@dataclass
class TracedLock:
    phase: str
    statement: int  # index of the statement that first took it
    relation: int  # oid
    mode: str
    acquired_s: float
    released_s: float | None = None


@dataclass
class Rewrite:
    phase: str
    statement: int
    relation: int
    old_filenode: int
    new_filenode: int


@dataclass
class StatementTrace:
    locks: list[TracedLock] = field(default_factory=list)
    rewrites: list[Rewrite] = field(default_factory=list)
    created: list[int] = field(default_factory=list)  # oids of relations it created
    dropped: list[int] = field(default_factory=list)  # oids of relations it dropped


class LockTracer:
    """Attach to a migration connection; call the hooks from the statement runner."""

    def __init__(self, observer: psycopg.Connection[Any], migration: psycopg.Connection[Any]):
        self.observer = observer
        self.observer.autocommit = True
        self.migration = migration
        self.migration_pid = migration.info.backend_pid
        self.relations: dict[int, Relation] = {}
        self.filenodes: dict[int, int] = {}
        self.locks: list[TracedLock] = []
        self.rewrites: list[Rewrite] = []
        self.by_statement: dict[tuple[str, int], StatementTrace] = {}
        self.existing_at_start: dict[str, set[int]] = {}  # phase -> relations it started with
        self._held: set[tuple[int, str]] = set()
        self._open: list[TracedLock] = []

    # ------------------------------------------------------------------ hooks

    def begin_phase(self, phase: str | None = None) -> None:
        """Snapshot the committed relations before a migration phase (`phase` names it, so
        the analysis knows which relations existed when that phase began)."""
        self._snapshot()
        if phase is not None:
            self.existing_at_start[phase] = set(self.relations)

    def _snapshot(self) -> None:
        self.filenodes = {}
        for oid, schema, name, kind, filenode in self.observer.execute(_RELATIONS):
            self.relations[oid] = Relation(oid, schema, name, kind)
            if filenode:  # partitioned tables and indexes have no storage of their own
                self.filenodes[oid] = filenode

    def after_statement(self, phase: str, index: int, started_s: float) -> None:
        """Record what the statement just finished took, while its transaction is open."""
        trace = self.by_statement.setdefault((phase, index), StatementTrace())
        if self.migration.info.transaction_status in (
            psycopg.pq.TransactionStatus.INTRANS,
            psycopg.pq.TransactionStatus.INERROR,
        ):
            held = {
                (relation, mode)
                for _, relation, mode in self.observer.execute(_HELD, (self.migration_pid,))
            }
            for relation, mode in sorted(held - self._held):
                lock = TracedLock(phase, index, relation, mode, started_s)
                self.locks.append(lock)
                self._open.append(lock)
                trace.locks.append(lock)
                if relation not in self.relations and relation not in trace.created:
                    trace.created.append(relation)
            self._held = held
        self._check_rewrites(phase, index, trace)

    def transaction_ended(self, at_s: float) -> None:
        """COMMIT or ROLLBACK finished at `at_s`: every traced lock is released."""
        for lock in self._open:
            lock.released_s = at_s
        self._open = []
        self._held = set()

    def end_phase(self) -> None:
        """Learn the names of relations created during the phase (now committed)."""
        self._snapshot()

    # ------------------------------------------------------------------ internals

    def _check_rewrites(self, phase: str, index: int, trace: StatementTrace) -> None:
        if self.migration.info.transaction_status not in (
            psycopg.pq.TransactionStatus.INTRANS,
            psycopg.pq.TransactionStatus.IDLE,
        ):
            return
        oids = list(self.filenodes)
        if not oids:
            return
        rows = self.migration.execute(_FILENODES, (oids,)).fetchall()
        for oid, filenode in rows:
            old = self.filenodes.get(oid)
            if old is None or filenode == old:
                continue
            if filenode is None:
                trace.dropped.append(oid)
                del self.filenodes[oid]
                continue
            rewrite = Rewrite(phase, index, oid, old, filenode)
            self.rewrites.append(rewrite)
            trace.rewrites.append(rewrite)
            self.filenodes[oid] = filenode

    def relation_label(self, oid: int | None) -> str:
        if oid is None:
            return ""
        relation = self.relations.get(oid)
        return relation.label if relation else f"(oid {oid})"
