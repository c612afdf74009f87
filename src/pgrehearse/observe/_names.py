"""The name a person knows for each locked oid.

PostgreSQL locks more than the user's relations: a table's TOAST table and its index, the
transient copy a rewrite (VACUUM FULL, CLUSTER, ALTER COLUMN TYPE, SET UNLOGGED) builds and
drops before its transaction ends, indexes being rebuilt. Each is named after the user's
relation it belongs to, with the part in brackets (`orders (TOAST)`, `orders (rewrite
copy)`), and a renamed relation keeps, for each lock, the name it had when the statement
that took the lock started.
"""

from __future__ import annotations

from pgrehearse.observe._trace import LockTracer

TOAST = "TOAST"
REWRITE_COPY = "rewrite copy"
_TABLE_KINDS = ("r", "m", "p")


class RelationNames:
    def __init__(self, tracer: LockTracer | None) -> None:
        self.tracer = tracer

    def describe(
        self, oid: int | None, at_s: float, statement: tuple[str, int] | None = None
    ) -> tuple[str, str]:
        """(name, part) of `oid` as of `at_s`; `statement` is the migration statement that
        holds the lock, when known (a rewrite's transient copy is named after it)."""
        if oid is None:
            return "", ""
        tracer = self.tracer
        if tracer is None:
            return f"(oid {oid})", ""
        relation = tracer.relations.get(oid)
        if relation is not None and relation.owner is not None:
            return self.name_at(relation.owner, at_s), TOAST
        if relation is not None:
            return self.name_at(oid, at_s), ""
        rewritten = self._rewritten_tables(statement, at_s)
        if rewritten:
            return ", ".join(rewritten), REWRITE_COPY
        return f"(oid {oid})", ""

    def label(self, oid: int | None, at_s: float, statement: tuple[str, int] | None = None) -> str:
        """`describe` as one string: `orders`, `orders (TOAST)`."""
        name, part = self.describe(oid, at_s, statement)
        return f"{name} ({part})" if part else name

    def name_at(self, oid: int, at_s: float) -> str:
        """The relation's name when `at_s` came: before the first rename that started at or
        after it, else its name now."""
        assert self.tracer is not None
        for rename in sorted(self.tracer.renames, key=lambda r: r.started_s):
            if rename.relation == oid and rename.started_s >= at_s:
                return rename.old
        relation = self.tracer.relations.get(oid)
        return relation.label if relation is not None else f"(oid {oid})"

    def _rewritten_tables(self, statement: tuple[str, int] | None, at_s: float) -> list[str]:
        assert self.tracer is not None
        trace = self.tracer.by_statement.get(statement) if statement is not None else None
        if trace is None:
            return []
        names: list[str] = []
        for rewrite in trace.rewrites:
            relation = self.tracer.relations.get(rewrite.relation)
            if relation is None or relation.kind not in _TABLE_KINDS:
                continue
            name = self.name_at(rewrite.relation, at_s)
            if name not in names:
                names.append(name)
        return names
