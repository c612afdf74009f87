"""How a rehearsal tells its caller what it is doing (the CLI draws it; the library is silent)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pgrehearse.migration import StatementResult
    from pgrehearse.rehearsal.result import PhaseResult
    from pgrehearse.seed import TableSeedResult


class Progress(Protocol):
    def phase_started(self, phase: str, detail: str) -> None: ...

    def phase_finished(self, phase: PhaseResult) -> None: ...

    def table_started(self, table: str, rows: int) -> None: ...

    def table_advanced(self, table: str, rows_done: int) -> None: ...

    def table_seeded(self, result: TableSeedResult) -> None: ...

    def statement_finished(self, result: StatementResult) -> None: ...

    def note(self, text: str) -> None: ...


class SilentProgress:
    """The default: report nothing."""

    def phase_started(self, phase: str, detail: str) -> None:
        pass

    def phase_finished(self, phase: PhaseResult) -> None:
        pass

    def table_started(self, table: str, rows: int) -> None:
        pass

    def table_advanced(self, table: str, rows_done: int) -> None:
        pass

    def table_seeded(self, result: TableSeedResult) -> None:
        pass

    def statement_finished(self, result: StatementResult) -> None:
        pass

    def note(self, text: str) -> None:
        pass
