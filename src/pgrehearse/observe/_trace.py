"""Per-statement tracing of the migration session: the locks each statement took, and the
tables and indexes it rewrote.

After every statement, while the migration's transaction is still open, a separate
observer connection reads pg_locks for the migration's pid: locks that were not there
before belong to that statement, and they are held until the transaction ends (COMMIT or
ROLLBACK), which is when the tracer marks them released. Rewrites are found by comparing
relfilenodes, read in the migration session with pg_relation_filenode() over an array of
oids: a syscache lookup that leaves no lock behind, so the harness's own queries never
appear among the migration's locks. Renames are found the same way, from each relation's
schema-qualified name (pg_identify_object_as_address, also a syscache lookup), so every
lock can be reported under the name its relation had when the statement started.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg

# the owner of a TOAST table or of its index is the user's table it belongs to
_RELATIONS = """
SELECT c.oid::bigint, n.nspname, c.relname, c.relkind::text, c.relfilenode::bigint,
       o.oid::bigint
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_index x ON x.indexrelid = c.oid AND n.nspname = 'pg_toast'
LEFT JOIN pg_class o ON o.reltoastrelid <> 0
     AND o.reltoastrelid = CASE WHEN c.relkind = 't' THEN c.oid ELSE x.indrelid END
WHERE c.oid >= 16384 AND c.relkind IN ('r', 'i', 'm', 'p', 't', 'I')
  AND n.nspname <> 'information_schema'
"""

_HELD = """
SELECT locktype, relation::bigint, mode
FROM pg_locks
WHERE pid = %s AND granted AND locktype = 'relation' AND relation >= 16384
"""

_INDEX_TABLES = """
SELECT indexrelid::bigint, indrelid::bigint FROM pg_index WHERE indexrelid = ANY(%s::oid[])
"""
_CATALOG = """
SELECT o::bigint, pg_relation_filenode(o::oid)::bigint,
       (pg_identify_object_as_address('pg_class'::regclass, o::oid, 0)).object_names
FROM unnest(%s::bigint[]) o
"""

KIND_NAMES = {
    "r": "table",
    "p": "partitioned table",
    "i": "index",
    "m": "materialized view",
    "t": "TOAST table",
    "I": "partitioned index",
}


def label_of(schema: str, name: str) -> str:
    """How reports name a relation: bare in `public`, schema-qualified elsewhere."""
    return name if schema == "public" else f"{schema}.{name}"


@dataclass
class Relation:
    oid: int
    schema: str
    name: str
    kind: str  # pg_class.relkind
    owner: int | None = None  # a TOAST table's (or its index's) user table

    @property
    def label(self) -> str:
        return label_of(self.schema, self.name)


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


@dataclass(frozen=True)
class Rename:
    phase: str
    statement: int
    started_s: float
    relation: int
    old: str  # labels
    new: str


@dataclass
class StatementTrace:
    locks: list[TracedLock] = field(default_factory=list)
    rewrites: list[Rewrite] = field(default_factory=list)
    created: list[int] = field(default_factory=list)  # oids of relations it created
    dropped: list[int] = field(default_factory=list)  # oids of relations it dropped
    renamed: list[Rename] = field(default_factory=list)


_CHANGES = ("ALTER", "CREATE", "DROP", "CLUSTER", "VACUUM", "REINDEX", "TRUNCATE", "REFRESH")


@dataclass(frozen=True)
class StepStatement:
    """A statement of a step a tool ran, as the log told it."""

    index: int
    sql: str
    started_s: float
    seconds: float
    rewritten: tuple[int, ...] = ()  # tables its table_rewrite events named


def statement_naming(
    statements: Sequence[StepStatement], names: Sequence[str]
) -> tuple[int, float]:
    """The statement that most likely changed a relation: the longest statement that
    names it and can change relations (a rewrite takes time in proportion to the table),
    else the longest naming it, else the longest that can change relations, else the
    first."""
    patterns = [
        re.compile(rf"(?<![\w$]){re.escape(name)}(?![\w$])", re.IGNORECASE) for name in names
    ]

    def changes(sql: str) -> bool:
        return sql.lstrip().upper().startswith(_CHANGES)

    naming = [s for s in statements if any(p.search(s.sql) for p in patterns)]
    for group in (
        [s for s in naming if changes(s.sql)],
        naming,
        [s for s in statements if changes(s.sql)],
    ):
        if group:
            chosen = max(group, key=lambda s: s.seconds)
            return chosen.index, chosen.started_s
    return statements[0].index, statements[0].started_s


class _BurstPoller:
    """Polls one backend's relation locks as fast as the server answers, for the first
    `BURST_S` of a statement that runs outside a transaction. Such a statement's locks are
    gone by the time it returns, and a statement of a few milliseconds can fall between two
    polls of the regular sampler; after the burst, the sampler alone watches."""

    BURST_S = 0.5
    PAUSE_S = 0.0002

    def __init__(self, conn: psycopg.Connection[Any], pid: int, now: Callable[[], float]):
        self.conn = conn
        self.pid = pid
        self.now = now
        self.seen: dict[tuple[int, str], list[float]] = {}  # (oid, mode) -> [first, last]
        self._stop = threading.Event()
        self._polling = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pgrehearse-burst", daemon=True)
        self._thread.start()
        # the statement starts once the poller runs: its first milliseconds are watched too
        self._polling.wait(timeout=1.0)

    def _run(self) -> None:
        began = self.now()
        try:
            while not self._stop.is_set() and self.now() - began < self.BURST_S:
                rows = self.conn.execute(_HELD, (self.pid,)).fetchall()
                self._polling.set()
                at = self.now()
                for _, relation, mode in rows:
                    self.seen.setdefault((relation, mode), [at, at])[1] = at
                self._stop.wait(self.PAUSE_S)
        except psycopg.Error:
            pass  # the server went away: the rehearsal notices and says so
        finally:
            self._polling.set()

    def stop(self) -> dict[tuple[int, str], list[float]]:
        self._stop.set()
        self._thread.join(timeout=30)
        return self.seen


class LockTracer:
    """Attach to a migration connection; call the hooks from the statement runner. With
    `now` (the rehearsal's clock), statements outside a transaction are polled in a burst
    while they run, so even a quick one keeps its locks."""

    def __init__(
        self,
        observer: psycopg.Connection[Any],
        migration: psycopg.Connection[Any],
        now: Callable[[], float] | None = None,
    ):
        self.now = now
        self._burst: _BurstPoller | None = None
        self.observer = observer
        self.observer.autocommit = True
        self.migration = migration
        self.migration_pid = migration.info.backend_pid
        self.relations: dict[int, Relation] = {}
        self.filenodes: dict[int, int] = {}
        self.locks: list[TracedLock] = []
        self.rewrites: list[Rewrite] = []
        self.renames: list[Rename] = []
        self._names: dict[int, tuple[str, str]] = {}  # oid -> (schema, name) as last seen
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
        self._names = {}
        for oid, schema, name, kind, filenode, owner in self.observer.execute(_RELATIONS):
            self.relations[oid] = Relation(oid, schema, name, kind, owner)
            if filenode:  # partitioned tables and indexes have no storage of their own
                self.filenodes[oid] = filenode
            if kind != "t" and schema != "pg_toast":
                self._names[oid] = (schema, name)

    def before_statement(self, phase: str, index: int, *, in_transaction: bool) -> None:
        if not in_transaction and self.now is not None:
            self._burst = _BurstPoller(self.observer, self.migration_pid, self.now)

    def after_statement(self, phase: str, index: int, started_s: float) -> None:
        """Record what the statement just finished took, while its transaction is open."""
        trace = self.by_statement.setdefault((phase, index), StatementTrace())
        if self._burst is not None:
            for (relation, mode), (first, last) in sorted(self._burst.stop().items()):
                lock = TracedLock(phase, index, relation, mode, first, last)
                self.locks.append(lock)
                trace.locks.append(lock)
                if relation not in self.relations and relation not in trace.created:
                    trace.created.append(relation)
            self._burst = None
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
        self._check_catalog(phase, index, started_s, trace)

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

    def _check_catalog(
        self, phase: str, index: int, started_s: float, trace: StatementTrace
    ) -> None:
        """Rewrites, drops and renames the statement made, seen from its own session."""
        if self.migration.info.transaction_status not in (
            psycopg.pq.TransactionStatus.INTRANS,
            psycopg.pq.TransactionStatus.IDLE,
        ):
            return
        oids = sorted(set(self.filenodes) | set(self._names))
        if not oids:
            return
        rows = self.migration.execute(_CATALOG, (oids,)).fetchall()
        for oid, filenode, names in rows:
            self._check_name(oid, names, Rename(phase, index, started_s, oid, "", ""), trace)
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

    def _check_name(
        self, oid: int, names: list[str] | None, rename: Rename, trace: StatementTrace
    ) -> None:
        known = self._names.get(oid)
        if known is not None and names is None:  # dropped
            del self._names[oid]
            if oid not in self.filenodes:  # relations with storage: see the filenode check
                trace.dropped.append(oid)
            return
        if known is None or names is None or len(names) != 2 or tuple(names) == known:
            return
        schema, name = names
        rename = replace(rename, old=label_of(*known), new=label_of(schema, name))
        self.renames.append(rename)
        trace.renamed.append(rename)
        self._names[oid] = (schema, name)

    def step_finished(self, phase: str, statements: Sequence[StepStatement]) -> None:
        """After a step a tool ran itself (its statements read from the log): the rewrites,
        drops, renames and new relations it made. A table rewrite the server's event
        trigger reported is its statement's (and so are its indexes' and TOAST's); anything
        else goes to the statement most likely to have made it (see `statement_naming`).
        Then the new relations' names are learnt."""
        if not statements:
            self._snapshot()
            return
        known = set(self.relations)
        oids = sorted(set(self.filenodes) | set(self._names))
        rows = self.observer.execute(_CATALOG, (oids,)).fetchall() if oids else []
        tables = dict(self.observer.execute(_INDEX_TABLES, (oids,)).fetchall()) if oids else {}
        reported: set[int] = set()
        for statement in statements:  # exact: the server named them as they happened
            trace = self.by_statement.setdefault((phase, statement.index), StatementTrace())
            for rewritten in statement.rewritten:
                reported.add(rewritten)
                indexes = sorted(i for i, t in tables.items() if t == rewritten)
                for oid in [rewritten, *indexes]:
                    rewrite = Rewrite(phase, statement.index, oid, 0, 0)
                    self.rewrites.append(rewrite)
                    trace.rewrites.append(rewrite)
        for oid, filenode, names in rows:
            relation = self.relations.get(oid)
            table: int | None = tables.get(oid) or (
                relation.owner if relation is not None else None
            )
            index, started = statement_naming(statements, self._words_for(oid))
            trace = self.by_statement.setdefault((phase, index), StatementTrace())
            self._check_name(oid, names, Rename(phase, index, started, oid, "", ""), trace)
            old = self.filenodes.get(oid)
            if old is None or filenode == old:
                continue
            if filenode is None:
                trace.dropped.append(oid)
                continue
            if oid in reported or table in reported:
                continue  # recorded above, under the statement that did it
            rewrite = Rewrite(phase, index, oid, old, filenode)
            self.rewrites.append(rewrite)
            trace.rewrites.append(rewrite)
        self._snapshot()
        for oid in sorted(set(self.relations) - known):
            relation = self.relations[oid]
            if relation.kind == "t" or relation.owner is not None:
                continue  # a TOAST table comes with its table
            index, _ = statement_naming(statements, self._words_for(oid))
            self.by_statement.setdefault((phase, index), StatementTrace()).created.append(oid)

    def _words_for(self, oid: int) -> list[str]:
        """Names a statement would use for the relation: its own, or its table's (TOAST)."""
        relation = self.relations.get(oid)
        if relation is None:
            return []
        owner = self.relations.get(relation.owner) if relation.owner is not None else None
        return [r.name for r in (relation, owner) if r is not None]

    def relation_label(self, oid: int | None) -> str:
        if oid is None:
            return ""
        relation = self.relations.get(oid)
        return relation.label if relation else f"(oid {oid})"
