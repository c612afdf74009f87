"""The pytest items of a chain's migrations: one per pending migration, answered by the
one rehearsal of its scenario file (`pytest_plugin.RehearsalFile.rehearsal`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import pytest

from pgrehearse.errors import PgRehearseError
from pgrehearse.rehearsal.result import Rehearsal


class _RehearsedFile(Protocol):
    def rehearsal(self, config: pytest.Config) -> Rehearsal: ...


class MigrationStepFailed(Exception):
    """A migration of a chain failed in up or down."""


class MigrationItem(pytest.Item):
    """One pending migration of a chain: passes when its up and its down ran without an
    error; skipped when an earlier failure kept it from running."""

    def __init__(self, *, migration: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.migration = migration

    def runtest(self) -> None:
        parent: _RehearsedFile = self.parent  # type: ignore[assignment]
        result = parent.rehearsal(self.config)
        assert result.summary is not None
        rows = [
            m
            for m in result.summary["migrations"]
            if m["migration"] == self.migration and m["status"] != "not_run"
        ]
        if not rows:
            pytest.skip(f"{self.migration} did not run: {result.failure or 'an earlier step'}")
        for row in rows:
            self.user_properties.append((f"{row['phase']}_seconds", f"{row['seconds']:.6f}"))
            if row.get("strongest_lock"):
                self.user_properties.append(
                    (f"{row['phase']}_lock", f"{row['strongest_lock']} {row['held_ms']} ms")
                )
        failed = [row for row in rows if row["status"] != "ok"]
        if failed:
            errors = [
                _error_line(statement)
                for statement in result.summary["statements"]
                if statement["status"] == "error"
                and result.migration_files.get(str(statement["file"])) == self.migration
            ]
            reason = "; ".join(errors) or f"{self.migration}: {failed[0]['status']}"
            raise MigrationStepFailed(reason)

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str:
        if isinstance(excinfo.value, MigrationStepFailed):
            return f"migration {self.migration} of {self.path} failed: {excinfo.value}"
        if isinstance(excinfo.value, PgRehearseError):
            return f"{self.path}: {excinfo.value}"
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, 0, f"migration: {self.migration}"


def _error_line(statement: dict[str, Any]) -> str:
    error = statement.get("error") or {}
    line = error.get("line") or statement["line"]
    where = Path(statement["file"]).name + (f":{line}" if line else "")
    return f"{statement['phase']} {where}: {error.get('message')}"
