"""What the planner makes: a table's plan, its columns, and the errors it reports."""

from __future__ import annotations

from dataclasses import dataclass, field

from pgrehearse.scenario import ColumnSpec, RefColumn, RefsByColumn
from pgrehearse.seed._catalog import TableInfo
from pgrehearse.seed._checks import NullWhen


class PlanError(ValueError):
    """A column's generator cannot work; names the table and column for the error message.
    `more` holds the other problems found in the same pass (every one is reported at once)."""

    def __init__(self, table: str, column: str | None, message: str, hint: str | None = None):
        super().__init__(message)
        self.table = table
        self.column = column
        self.hint = hint
        self.more: list[PlanError] = []

    @staticmethod
    def raise_all(problems: list[PlanError]) -> None:
        if problems:
            first = problems[0]
            first.more = problems[1:]
            raise first


@dataclass(frozen=True)
class PlannedColumn:
    name: str
    spec: ColumnSpec
    inferred: bool

    @property
    def kind(self) -> str:
        return self.spec.kind


@dataclass(frozen=True)
class NullPatterns:
    """The generated columns of one or more overlapping NULL rules, the patterns a row may
    take (True where the column has a value) and the share of rows each pattern gets."""

    constraints: tuple[str, ...]
    columns: tuple[str, ...]
    patterns: tuple[tuple[bool, ...], ...]
    shares: tuple[float, ...]

    def share_with_value(self, column: str) -> float:
        position = self.columns.index(column)
        return sum(s for p, s in zip(self.patterns, self.shares, strict=True) if p[position])


@dataclass
class TablePlan:
    name: str
    rows: int
    columns: list[PlannedColumn]
    info: TableInfo
    left_to_database: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    combinations: list[list[str]] = field(default_factory=list)  # composite unique keys
    # composite foreign keys whose columns take the values of one referenced row together
    row_refs: list[tuple[list[str], str, list[str]]] = field(default_factory=list)
    null_patterns: list[NullPatterns] = field(default_factory=list)  # CHECKs over NULLs
    null_when: list[NullWhen] = field(default_factory=list)  # NULL as another column says
    # references only a column's name implies, and what the column would be otherwise
    implied_refs: dict[str, ColumnSpec] = field(default_factory=dict)

    def refs(self) -> set[str]:
        return {c.spec.table for c in self.columns if isinstance(c.spec, RefColumn)} | {
            target.table
            for c in self.columns
            if isinstance(c.spec, RefsByColumn)
            for target in c.spec.targets
        }
