"""Compare two fingerprints into a readable, grouped diff and a round-trip verdict."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pgrehearse.verify._data import NOT_POPULATED, DataFingerprint
from pgrehearse.verify._schema import SchemaFingerprint, short_name

Severity = Literal["schema", "data", "cosmetic"]


@dataclass(frozen=True)
class Difference:
    severity: Severity
    object: str  # "column orders.note", "data orders", ...
    what: str  # the property or a sentence
    before: Any = None
    after: Any = None
    ignored: str | None = None  # the scenario's reason, when ignored

    def render(self) -> str:
        text = f"{self.object}: {self.what}"
        if self.before is not None or self.after is not None:
            text += f": {_show(self.before)} → {_show(self.after)}"
        if self.ignored:
            text += f" (ignored: {self.ignored})"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "object": self.object,
            "what": self.what,
            "before": self.before,
            "after": self.after,
            "ignored": self.ignored,
        }


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    text = str(value)
    return text if len(text) <= 120 else text[:117] + "…"


@dataclass
class RoundTrip:
    mode: str
    status: Literal["passed", "failed", "skipped"]
    differences: list[Difference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data_seconds: float | None = None
    data_rows: int | None = None

    @property
    def failing(self) -> list[Difference]:
        return [
            d
            for d in self.differences
            if d.ignored is None and (d.severity != "cosmetic" or self.mode == "strict")
        ]

    @property
    def warnings(self) -> list[Difference]:
        return [d for d in self.differences if d.ignored is None and d not in self.failing]

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "status": self.status,
            "failing": [d.to_dict() for d in self.failing],
            "warnings": [d.to_dict() for d in self.warnings],
            "ignored": [d.to_dict() for d in self.differences if d.ignored],
            "notes": self.notes,
            "data_seconds": self.data_seconds,
            "data_rows": self.data_rows,
        }

    def grouped(self) -> dict[str, list[str]]:
        """Failing differences grouped by object, for people."""
        groups: dict[str, list[str]] = {}
        for difference in self.failing:
            groups.setdefault(difference.object, []).append(difference.render())
        return groups


def schema_differences(before: SchemaFingerprint, after: SchemaFingerprint) -> list[Difference]:
    found: list[Difference] = []
    for key in sorted(set(before.objects) | set(after.objects)):
        old, new = before.objects.get(key), after.objects.get(key)
        if old == new:
            continue
        if old is None:
            found.append(Difference("schema", key, "added"))
        elif new is None:
            found.append(Difference("schema", key, "missing"))
        else:
            for prop in sorted(set(old) | set(new)):
                if old.get(prop) != new.get(prop):
                    found.append(Difference("schema", key, prop, old.get(prop), new.get(prop)))
    for table in sorted(set(before.column_order) & set(after.column_order)):
        old_order, new_order = before.column_order[table], after.column_order[table]
        if old_order != new_order and sorted(old_order) == sorted(new_order):
            found.append(
                Difference(
                    "cosmetic",
                    f"table {table}",
                    "column order changed",
                    ", ".join(old_order),
                    ", ".join(new_order),
                )
            )
    return found


def fold_partitions(
    found: Sequence[Difference], before: SchemaFingerprint, after: SchemaFingerprint
) -> list[Difference]:
    """`found` with a column or constraint change a partition shares with its parent told
    once, on the topmost table that has it: `column events.unit: added (and on its 12
    partitions)`. For reading (what up changed); comparisons keep every difference."""
    parents = {
        key.removeprefix("table "): short_name(str(props["partition_of"]))
        for fingerprint in (before, after)
        for key, props in fingerprint.objects.items()
        if key.startswith("table ") and props.get("partition_of")
    }
    changes = {(d.object, d.what, repr(d.before), repr(d.after)) for d in found}
    kept: list[Difference] = []
    folded: dict[tuple[str, str], int] = {}
    for difference in found:
        kind, _, name = difference.object.partition(" ")
        table, _, member = name.rpartition(".")
        change = (difference.what, repr(difference.before), repr(difference.after))
        top = table
        while (
            kind in ("column", "constraint")
            and (parent := parents.get(top)) is not None
            and (f"{kind} {parent}.{member}", *change) in changes
        ):
            top = parent
        if top == table:
            kept.append(difference)
            continue
        key = (f"{kind} {top}.{member}", difference.what)
        folded[key] = folded.get(key, 0) + 1
    return [
        replace(d, what=f"{d.what} (and on its {count} partitions)")
        if (count := folded.get((d.object, d.what)))
        else d
        for d in kept
    ]


def data_differences(
    before: DataFingerprint,
    after: DataFingerprint,
    written: Mapping[str, set[str] | None],
    notes: list[str],
) -> list[Difference]:
    """`written`: tables the load writes, with the columns it updates (None: it inserts or
    deletes rows); those are not compared, and a note says so."""
    found: list[Difference] = []
    for table in sorted(set(before.tables) & set(after.tables)):
        old, new = before.tables[table], after.tables[table]
        touched = written.get(table, set())
        if table in written and touched is None:
            notes.append(f"data of {table} not compared: the load inserts or deletes rows there")
            continue
        assert touched is not None
        populated = (old.row_sum != NOT_POPULATED, new.row_sum != NOT_POPULATED)
        if populated[0] != populated[1]:
            found.append(Difference("data", f"data {table}", "populated", *populated))
            continue
        if old.rows != new.rows:
            found.append(Difference("data", f"data {table}", "row count", old.rows, new.rows))
            continue
        every = "*" in touched  # a trigger the load fires may set any column
        changed = [
            column
            for column in sorted(set(old.columns) & set(new.columns))
            if not every and column not in touched and old.columns[column] != new.columns[column]
        ]
        for column in changed:
            found.append(Difference("data", f"data {table}.{column}", "values differ"))
        if every:
            continue  # the note naming the trigger says why
        if touched:
            notes.append(
                f"columns {', '.join(sorted(touched))} of {table} not compared: the load "
                "updates them"
            )
        elif not changed and old.row_sum != new.row_sum and set(old.columns) == set(new.columns):
            found.append(
                Difference(
                    "data",
                    f"data {table}",
                    "values moved between rows (same per-column values, different rows)",
                )
            )
    return found


def apply_ignores(
    differences: Sequence[Difference], ignores: Sequence[tuple[str, str]]
) -> list[Difference]:
    """Mark differences whose object matches an ignore pattern (fnmatch) with its reason."""
    marked = []
    for difference in differences:
        reason = next(
            (why for pattern, why in ignores if fnmatch.fnmatchcase(difference.object, pattern)),
            None,
        )
        if reason is not None:
            difference = Difference(
                difference.severity,
                difference.object,
                difference.what,
                difference.before,
                difference.after,
                reason,
            )
        marked.append(difference)
    return marked


def invalid_indexes(fingerprint: SchemaFingerprint) -> list[str]:
    return sorted(
        key.removeprefix("index ")
        for key, props in fingerprint.objects.items()
        if key.startswith("index ") and props.get("valid") is False
    )
