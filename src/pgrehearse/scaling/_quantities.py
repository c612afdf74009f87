"""What a rehearsal measured that grows with data size, read from its summary.

Each quantity has a key that is the same at every scale (a statement's phase and number,
a lock's relation and mode), the tables whose rows it depends on, and the model its kind
implies. Pure: summary dicts in, quantities out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pgrehearse.scaling._fit import Model
from pgrehearse.scaling._kinds import preferred_model

QuantityKind = Literal["statement", "lock", "load", "phase"]


@dataclass(frozen=True)
class Quantity:
    key: str  # stable across scales: "up #2", "lock orders AccessExclusiveLock", ...
    kind: QuantityKind
    label: str  # what a reader recognises: the SQL, the relation and mode
    preferred: Model
    tables: frozenset[str]  # whose rows it depends on
    seconds: float
    blocks: bool = False  # a lock that blocks reads or writes


def quantities_of(summary: dict[str, Any]) -> list[Quantity]:
    """Every statement's execution time, each migration lock's longest hold per relation
    and mode, the load's longest lock wait and longest stall, and the up phase."""
    tables = {t["name"] for t in summary.get("tables", [])}
    statements = [s for s in summary.get("statements", []) if s.get("status") == "ok"]
    touched = {_statement_key(s): _tables_of(s, tables) for s in statements}
    everything = frozenset(t for group in touched.values() for t in group) or frozenset(tables)
    found: list[Quantity] = []
    for statement in statements:
        own = touched[_statement_key(statement)] or everything
        seconds = (statement.get("seconds") or 0.0) - (statement.get("lock_wait_s") or 0.0)
        found.append(
            Quantity(
                _statement_key(statement),
                "statement",
                " ".join(statement["sql"].split()),
                preferred_model(statement["sql"], bool(statement.get("rewrites"))),
                own,
                max(seconds, 0.0),
            )
        )
    found += _locks(summary, statements, touched, everything)
    waits = [
        w["wait_ms"]
        for w in summary.get("waits", [])
        if w.get("waiter_role") == "load" and w.get("phase") in ("up", "down")
    ]
    load = summary.get("load")
    if load is not None:
        found.append(
            Quantity(
                "load max_wait",
                "load",
                "longest lock wait of the load",
                "linear",
                everything,
                max(waits, default=0.0) / 1000,
            )
        )
        stalls = [
            p.get("longest_stall_ms") or 0.0
            for p in load.get("phases", [])
            if p.get("phase") in ("up", "down")
        ]
        found.append(
            Quantity(
                "load stall",
                "load",
                "longest stall of the load (no transaction finished)",
                "linear",
                everything,
                max(stalls, default=0.0) / 1000,
            )
        )
    up = next((p for p in summary.get("phases", []) if p["name"] == "up"), None)
    if up is not None and up.get("status") == "ok" and up.get("seconds") is not None:
        found.append(Quantity("phase up", "phase", "up phase", "linear", everything, up["seconds"]))
    return found


def _statement_key(statement: dict[str, Any]) -> str:
    return f"{statement['phase']} #{statement['index']}"


def _tables_of(statement: dict[str, Any], tables: set[str]) -> frozenset[str]:
    names = {lock["relation"] for lock in statement.get("locks", [])}
    names |= set(statement.get("rewrites", []))
    return frozenset(n for n in names if n in tables)


def _locks(
    summary: dict[str, Any],
    statements: list[dict[str, Any]],
    touched: dict[str, frozenset[str]],
    everything: frozenset[str],
) -> list[Quantity]:
    """A lock is held to the end of its transaction, so its hold depends on the rows of
    every table the transaction's statements touch."""
    by_index = {(s["phase"], s["index"]): s for s in statements}
    longest: dict[tuple[str, str], tuple[float, bool, frozenset[str]]] = {}
    for lock in summary.get("locks", []):
        if lock.get("holder_role") != "migration" or lock.get("new_relation"):
            continue
        if lock.get("phase") not in ("up", "down"):
            continue
        owner = by_index.get((lock["phase"], lock.get("statement")))
        involved = _transaction_tables(owner, statements, touched) if owner else everything
        key = (lock["relation"], lock["mode"])
        held = float(lock["held_ms"]) / 1000
        blocks = bool(lock.get("blocks_reads") or lock.get("blocks_writes"))
        if key not in longest or held > longest[key][0]:
            longest[key] = (held, blocks, involved or everything)
    return [
        Quantity(
            f"lock {relation} {mode}",
            "lock",
            f"{mode} on {relation}",
            "linear",
            involved,
            held,
            blocks,
        )
        for (relation, mode), (held, blocks, involved) in sorted(longest.items())
    ]


def _transaction_tables(
    owner: dict[str, Any],
    statements: list[dict[str, Any]],
    touched: dict[str, frozenset[str]],
) -> frozenset[str]:
    if not owner.get("in_transaction", True) or owner.get("transaction_end_s") is None:
        return touched[_statement_key(owner)]
    same = [
        s
        for s in statements
        if s["phase"] == owner["phase"]
        and s.get("transaction_end_s") == owner["transaction_end_s"]
        and s["index"] >= owner["index"]
    ]
    return frozenset(t for s in same for t in touched[_statement_key(s)])
