"""What the application load changes besides the rows it writes: columns its writes make
triggers set, tables those triggers write, and sequences its inserts advance. None of that
can round-trip, and none of it is the migration's doing, so the round trip leaves it out
and says so.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pgrehearse.verify._compare import Difference
from pgrehearse.verify._schema import SchemaFingerprint

ALL_COLUMNS = "*"  # in a written table's column set: every column may change

_TRIGGER = re.compile(
    r"CREATE (?:CONSTRAINT )?TRIGGER (?P<name>\S+) (?P<when>BEFORE|AFTER|INSTEAD OF) "
    r"(?P<events>.+?) ON (?P<table>\S+) .*?(?P<level>FOR EACH (?:ROW|STATEMENT))?.*?"
    r"EXECUTE (?:FUNCTION|PROCEDURE) (?P<function>[^\s(]+)\(",
    re.IGNORECASE | re.DOTALL,
)
_WRITES = re.compile(
    r"\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+(?:ONLY\s+)?(?P<table>[A-Za-z_][\w.\"]*)",
    re.IGNORECASE,
)


@dataclass
class LoadEffects:
    written: dict[str, set[str] | None]  # table -> columns changed (None: rows change)
    notes: list[str] = field(default_factory=list)


def _short(name: str) -> str:
    return name.replace('"', "").removeprefix("public.")


def load_effects(written: Mapping[str, set[str] | None], schema: SchemaFingerprint) -> LoadEffects:
    """The load's direct writes widened by the triggers they fire (one level deep)."""
    effects = LoadEffects(
        {table: (None if cols is None else set(cols)) for table, cols in written.items()}
    )
    functions = {
        key.removeprefix("function ").split("(", 1)[0]: props.get("definition", "")
        for key, props in schema.objects.items()
        if key.startswith("function ")
    }
    for key, props in schema.objects.items():
        if not key.startswith("trigger "):
            continue
        match = _TRIGGER.search(str(props.get("definition", "")))
        if match is None or _short(match["table"]) not in written:
            continue
        table, trigger = _short(match["table"]), match["name"]
        if match["when"].upper() == "BEFORE" and (match["level"] or "").upper().endswith("ROW"):
            columns = effects.written.get(table)
            if columns is not None:
                columns.add(ALL_COLUMNS)
                effects.notes.append(
                    f"columns of {table} not compared: the load's writes fire trigger "
                    f"{trigger}, which may set any of them"
                )
        body = functions.get(_short(match["function"]), "")
        for target in sorted({_short(m["table"]) for m in _WRITES.finditer(body)}):
            if target != table or effects.written.get(target) is not None:
                effects.written[target] = None
                effects.notes.append(
                    f"data of {target} not compared: trigger {trigger} on {table} writes it "
                    "when the load writes there"
                )
    return effects


def relax_sequences(
    differences: Sequence[Difference],
    schema: SchemaFingerprint,
    written: Mapping[str, set[str] | None],
    notes: list[str],
) -> list[Difference]:
    """A sequence of a table the load writes may only move forward: compare it as "not
    moved backwards" instead of "unchanged"."""
    kept = []
    for difference in differences:
        props = schema.objects.get(difference.object, {})
        users = {_short(str(props.get("owned_by", "")))} | {
            _short(str(t)) for t in props.get("default_of") or []
        }
        advanced = (
            difference.object.startswith("sequence ")
            and difference.what in ("last_value", "is_called")
            and users & set(written)
        )
        if not advanced:
            kept.append(difference)
            continue
        before, after = difference.before, difference.after
        if difference.what == "last_value" and None not in (before, after) and after < before:
            kept.append(Difference("data", difference.object, "moved backwards", before, after))
            continue
        notes.append(
            f"{difference.object} {difference.what} {before} → {after}: advanced by inserts "
            "(no down can take a sequence back), compared as not moved backwards"
        )
    return kept
