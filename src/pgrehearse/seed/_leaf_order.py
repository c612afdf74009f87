"""A partitioned table's key dealt out in leaf order, a window of rows at a time.

Keys in random order scatter each leaf's rows over the whole table: the worker holds them
and writes them in runs (`_leaf_runs`), 40-odd COPYs for 1M rows over 7 leaves, each one
costing the server 2-3 ms and both sides a switch. Here the key's values for a window of
rows are made first, routed, and dealt out to the window's rows in leaf order (stably, so
each leaf's rows keep their order): every window gives each leaf one run, as a key rising
with the rows does.

Only the key moves. Every other column is made as it would be, and each key value is one
its generator made in the same window, so the key's distribution, uniqueness and
references stay. Where anything ties the key to the rest of its row (another column made
after it, by it or NULL by it, a CHECK over both, a composite key's digits, NULLs of its
own), the key is left where its generator put it.
"""

from __future__ import annotations

import os
import re
from typing import Any

import numpy as np
import numpy.typing as npt

from pgrehearse.seed._binary import NumberKind, Numbers
from pgrehearse.seed._generators import BLOCK_ROWS, Column, Generator, column_rng
from pgrehearse.seed._plan_model import TablePlan
from pgrehearse.seed._routing import KeyKind, LeafRouter

WINDOW_ROWS = 50 * BLOCK_ROWS  # 1M rows: a window's key is 8 MB as numbers
# the first window is short: the server waits for its key to be made (50 ms for 1M rows)
FIRST_WINDOW_ROWS = 5 * BLOCK_ROWS


def window_of(row: int) -> tuple[int, int]:
    """The first row of the window a row is in, and the window's length (before the end
    of the table)."""
    if row < FIRST_WINDOW_ROWS:
        return 0, FIRST_WINDOW_ROWS
    start = row - (row - FIRST_WINDOW_ROWS) % WINDOW_ROWS
    return start, WINDOW_ROWS


def in_leaf_order(
    columns: list[Column], router: LeafRouter, table_plan: TablePlan, seed: int
) -> list[Column]:
    """The columns, the partition key's dealt out in leaf order where nothing else in the
    row depends on it; else the columns as they are."""
    position = _movable_key(columns, router, table_plan)
    if position is None or os.environ.get("PGREHEARSE_LEAF_ORDER", "1") == "0":
        return columns
    key = columns[position]
    ordered = LeafOrdered(key, router, seed, table_plan.name, table_plan.rows)
    moved = Column(key.name, ordered, 0.0, key.binary)
    return [moved if index == position else column for index, column in enumerate(columns)]


def _movable_key(columns: list[Column], router: LeafRouter, table_plan: TablePlan) -> int | None:
    names = router.key_columns()
    if len(names) != 1:
        return None  # keys over several columns would have to move together
    (name,) = names
    found = [index for index, column in enumerate(columns) if column.name == name]
    if not found:
        return None
    key = columns[found[0]]
    if not _stands_alone(key.generator) or key.null_fraction > 0:
        return None
    if key.generator.null_rows(0, BLOCK_ROWS) is not None:
        return None
    others = [column.generator for column in columns if column is not key]
    if any(_follows(generator, key) for generator in others):
        return None
    return None if _checked_with_others(name, table_plan) else found[0]


def _stands_alone(generator: Generator) -> bool:
    """Whether a generator's values depend on nothing but its own stream and the row number:
    not on another column (`after`, `by`), not on a composite key's shared digits or rows,
    not on a physical order it was asked to keep (an empirical correlation)."""
    kind = type(generator).__name__
    if kind == "EmpiricalGenerator":  # blended with the row's rank: production's order
        return getattr(generator, "blend", None) == 0.0
    return kind in _ALONE and getattr(generator, "combination", None) is None


_ALONE = frozenset(
    {
        "_BetweenGenerator",
        "_IntGenerator",
        "_FloatGenerator",
        "_SequenceGenerator",
        "_PoolGenerator",
        "_BoolGenerator",
        "_UuidGenerator",
        "_RefGenerator",
    }
)


def _follows(generator: Generator, key: Column) -> bool:
    """Whether a generator makes its values from the key's (it holds the key's generator or
    names its column)."""
    for value in vars(generator).values():
        if value is key.generator or (isinstance(value, str) and value == key.name):
            return True
    return False


def _checked_with_others(name: str, table_plan: TablePlan) -> bool:
    """Whether a CHECK or a NULL rule ties the key to another column of its row."""
    checks = table_plan.info.checks
    if any(name in (a, b) for a, b, _ in checks.before):
        return True
    if any(name in rule.columns for rule in checks.null_rules):
        return True
    if any(name in (rule.column, rule.other) for rule in checks.null_when):
        return True
    named = re.compile(rf'(?<![\w"]){re.escape(name)}(?![\w"])|"{re.escape(name)}"')
    return any(named.search(definition) for definition in checks.definitions.values())


class LeafOrdered(Generator):
    """The key's values, each window's dealt out to its rows in leaf order. Blocks are
    asked for in order by one process (or in a stride by several): one window is kept."""

    def __init__(self, key: Column, router: LeafRouter, seed: int, table: str, rows: int):
        self.key = key
        self.inner = key.generator
        self.escape = self.inner.escape
        self.json_kind = self.inner.json_kind
        self.router = router
        self.seed = seed
        self.table = table
        self.rows = rows
        self.window = -1  # the first row of the window kept
        self.order: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self.sorted_leaves: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self.made: dict[str, Any] = {}  # the window's values, by how they were asked for

    def _blocks(self) -> list[tuple[int, int, np.random.Generator]]:
        first, size = window_of(self.window)
        last = min(first + size, self.rows)
        return [
            (start, min(BLOCK_ROWS, last - start), self._stream(start))
            for start in range(first, last, BLOCK_ROWS)
        ]

    def _stream(self, first: int) -> np.random.Generator:
        return column_rng(self.seed, self.table, self.key.name, first // BLOCK_ROWS)

    def _made(self, how: str) -> Any:
        """The window's values in the generator's own order: text, numbers or exact keys."""
        if how not in self.made:
            blocks = self._blocks()
            if how == "text":
                texts = [v for b in blocks for v in self.inner.values(*b)]
                self.made[how] = np.array(texts, dtype=object)
            elif how == "numbers":
                parts = [self.inner.numbers(*b) for b in blocks]
                values = np.concatenate([part.values for part in parts])
                self.made[how] = Numbers(parts[0].kind, values, parts[0].decimals)
            else:
                kind: KeyKind = "moments" if how == "moments" else "integers"
                exact = [self.key.exact_keys(*b, kind) for b in blocks]
                found = [part for part in exact if part is not None]
                self.made[how] = np.concatenate(found) if len(found) == len(exact) else None
        return self.made[how]

    def _rows(self, first: int, count: int) -> npt.NDArray[np.int64]:
        """Which of the window's values rows first..first+count-1 take."""
        window, size = window_of(first)
        if window != self.window:
            self.window, self.made = window, {}
            size = min(size, self.rows - window)
            leaves = self.router.route(self._text, size, self._exact)
            # a stable sort of 16-bit numbers is a radix sort: a third of the time
            narrow = leaves.astype(np.int16) if len(self.router.leaves) < 2**15 else leaves
            self.order = np.argsort(narrow, kind="stable")
            self.sorted_leaves = leaves[self.order]
        offset = first - window
        return self.order[offset : offset + count]

    def _text(self, position: int) -> list[str]:
        rendered: list[str] = []
        for first, count, stream in self._blocks():
            rendered.extend(self.key.render(first, count, stream))
        return rendered

    def _exact(self, position: int, kind: KeyKind) -> npt.NDArray[np.int64] | None:
        found: npt.NDArray[np.int64] | None = self._made(kind)
        return found

    def leaves(self, first: int, count: int) -> npt.NDArray[np.int64]:
        self._rows(first, count)
        offset = first - self.window
        return self.sorted_leaves[offset : offset + count]

    def values(self, first: int, count: int, rng: np.random.Generator) -> list[str]:
        rows = self._rows(first, count)
        picked: list[str] = self._made("text")[rows].tolist()
        return picked

    def number_kind(self) -> tuple[NumberKind, int] | None:
        return self.inner.number_kind()

    def numbers(self, first: int, count: int, rng: np.random.Generator) -> Numbers:
        rows = self._rows(first, count)
        made: Numbers = self._made("numbers")
        return Numbers(made.kind, made.values[rows], made.decimals)

    def exact_keys(
        self, first: int, count: int, rng: np.random.Generator, kind: KeyKind
    ) -> npt.NDArray[np.int64] | None:
        rows = self._rows(first, count)
        made: npt.NDArray[np.int64] | None = self._made(kind)
        return None if made is None else made[rows]
