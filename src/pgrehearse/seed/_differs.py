"""A reference that never equals another column of its row: `CHECK (from_account <>
to_account)`, `CHECK (follower_id IS DISTINCT FROM followee_id)`. Where the two would be
equal, the reference is drawn again (from a stream of its own for the block), so every
other row keeps the values it had; the other column's values are made again from its own
stream for the block, as an `after` column's are. In a composite unique key of both, the
combinations skip the equal ones instead (`kept_apart_from`, read by the key's sizing)."""

from __future__ import annotations

import zlib
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from pgrehearse.scenario import ColumnSpec, RefColumn
from pgrehearse.seed._binary import NumberKind, Numbers
from pgrehearse.seed._catalog import TableInfo
from pgrehearse.seed._generators import BLOCK_ROWS, Generator, GeneratorContext, column_rng
from pgrehearse.seed._plan_model import PlannedColumn, TablePlan

_REDRAWS = 8  # with k keys, a row is still equal after them with chance k**-8


class DiffersFrom(Generator):
    def __init__(
        self,
        mine: Generator,
        other: Generator,
        column: str,
        other_column: str,
        context: GeneratorContext,
    ) -> None:
        self.mine = mine
        self.other = other
        self.other_column = other_column
        self.seed = context.seed
        self.table = context.table
        self.salt = zlib.crc32(f"{context.table}.{column}:differs".encode())
        self.json_kind = mine.json_kind
        self.escape = mine.escape

    def _redraw(self, first: int, attempt: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.salt, first // BLOCK_ROWS, attempt])

    def _theirs_rng(self, first: int) -> np.random.Generator:
        return column_rng(self.seed, self.table, self.other_column, first // BLOCK_ROWS)

    def values(self, first: int, count: int, rng: np.random.Generator) -> list[str]:
        mine = self.mine.values(first, count, rng)
        theirs = self.other.values(first, count, self._theirs_rng(first))
        same = [i for i in range(count) if mine[i] == theirs[i]]
        for attempt in range(1, _REDRAWS + 1):
            if not same:
                break
            again = self.mine.values(first, count, self._redraw(first, attempt))
            for i in same:
                mine[i] = again[i]
            same = [i for i in same if mine[i] == theirs[i]]
        for i in same:  # few keys: the next of the block's values that differs
            mine[i] = next((v for v in mine[i:] + mine[:i] if v != theirs[i]), mine[i])
        return mine

    def number_kind(self) -> tuple[NumberKind, int] | None:
        return self.mine.number_kind()

    def numbers(self, first: int, count: int, rng: np.random.Generator) -> Numbers:
        mine = self.mine.numbers(first, count, rng)
        theirs = self.other.numbers(first, count, self._theirs_rng(first)).values
        values = mine.values.copy()
        same = _equal_rows(values, theirs)
        for attempt in range(1, _REDRAWS + 1):
            if not same.any():
                break
            again = self.mine.numbers(first, count, self._redraw(first, attempt)).values
            values[same] = again[same]
            same &= _equal_rows(values, theirs)
        for i in np.flatnonzero(same).tolist():  # few keys: the next value that differs
            differing = np.flatnonzero(~_equal_rows(values, theirs[i : i + 1]))
            if len(differing):
                values[i] = values[differing[np.searchsorted(differing, i) % len(differing)]]
        return Numbers(mine.kind, values, mine.decimals)

    def null_rows(self, first: int, count: int) -> npt.NDArray[np.bool_] | None:
        return self.mine.null_rows(first, count)


def _equal_rows(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    """Row by row: a UUID is a row of 16 bytes."""
    equal: npt.NDArray[np.bool_] = (a == b) if a.ndim == 1 else (a == b).all(axis=1)
    return equal


def link_differs(
    generators: dict[str, Generator],
    specs: dict[str, ColumnSpec],
    context: GeneratorContext,
    combined: Collection[str],
) -> dict[str, Generator]:
    """Each reference that `differs_from` another column, wrapped to keep it so; not a part
    of a composite unique key (`combined`), whose combinations already skip the equal ones.
    A column kept apart from one that is itself drawn again is compared with its final
    values (`reviewer <> sender`, `sender <> recipient`)."""
    linked = dict(generators)
    pending = {
        name: spec.differs_from
        for name, spec in specs.items()
        if name not in combined and isinstance(spec, RefColumn) and spec.differs_from in generators
    }
    while pending:
        ready = [name for name, other in pending.items() if other not in pending]
        if not ready:  # a cycle the plan does not make: leave it to the CHECK
            break
        for name in ready:
            other = pending.pop(name)
            assert other is not None
            linked[name] = DiffersFrom(generators[name], linked[other], name, other, context)
    return linked


def kept_apart_from(
    specs: Mapping[str, ColumnSpec], name: str, group: list[str], held: set[str]
) -> str | None:
    """The other part of the key `name` `differs_from`, where both pick the same keys."""
    spec = specs[name]
    if not isinstance(spec, RefColumn) or spec.differs_from is None:
        return None
    other = spec.differs_from
    theirs = specs.get(other)
    if other not in group or other in held or other == name or not isinstance(theirs, RefColumn):
        return None
    return other if theirs.ref == spec.ref and not theirs.differs_from else None


def keep_references_apart(info: TableInfo, plan: TablePlan) -> set[str]:
    """`CHECK (from_account <> to_account)` over two references to the same keys: the
    second `differs_from` the first (drawn again where they would be equal; in a composite
    unique key of both, its combinations skip the equal ones). One part of a composite key
    and the other not is left to the CHECK's try on sample rows."""
    grouped = {column for group in info.unique_groups for column in group}
    together = {frozenset(group) for group in info.unique_groups}
    kept: set[str] = set()  # the CHECKs whose references are kept apart
    for (first, second), check in info.checks.differ.items():
        planned = {c.name: c for c in plan.columns}
        one, other = planned.get(first), planned.get(second)
        if (
            one is None
            or other is None
            or not isinstance(one.spec, RefColumn)
            or not isinstance(other.spec, RefColumn)
            or one.spec.ref != other.spec.ref
            or one.spec.unique
            or other.spec.unique
            or ({first, second} & grouped and not any({first, second} <= g for g in together))
        ):
            continue
        redrawn = _redrawn_side(plan, first, second)
        if redrawn is None:
            continue
        mine, theirs = redrawn
        column = planned[mine]
        assert isinstance(column.spec, RefColumn)
        apart = column.spec.model_copy(update={"differs_from": theirs})
        plan.columns[plan.columns.index(column)] = PlannedColumn(mine, apart, column.inferred)
        plan.notes.append(
            f"CHECK {check}: {mine} never takes the key {theirs} has in its row (drawn again"
            " where it would); the CHECK is tried on sample rows too"
        )
        kept.add(check)
    return kept


def _redrawn_side(plan: TablePlan, first: str, second: str) -> tuple[str, str] | None:
    """Which of the two is drawn again (the second, unless it already keeps apart from
    another column: a reference keeps apart from one column only), never closing a loop
    of columns each waiting for the other's values."""
    follows = {
        c.name: c.spec.differs_from
        for c in plan.columns
        if isinstance(c.spec, RefColumn) and c.spec.differs_from is not None
    }
    for mine, theirs in ((second, first), (first, second)):
        if mine in follows:
            continue
        step: str | None = theirs
        while step is not None and step != mine:
            step = follows.get(step)
        if step is None:
            return mine, theirs
    return None
