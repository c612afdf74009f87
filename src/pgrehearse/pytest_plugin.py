"""pytest plugin: `*.rehearse.yaml` files are collected as test items; budgets are assertions.

Registered through the `pytest11` entry point. Every option is also an ini setting:

    [pytest]
    pgrehearse_scale = 0.01
    pgrehearse_report_dir = reports
    pgrehearse_budgets = max_wait_ms=500
                         max_lock_ms.AccessExclusiveLock=200
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pgrehearse._errors import PgRehearseError
from pgrehearse._rehearsal import rehearse
from pgrehearse._result import Rehearsal
from pgrehearse.scenario import Scenario, load_scenario

SUFFIXES = (".rehearse.yaml", ".rehearse.yml")
RESULTS = pytest.StashKey[list[Rehearsal]]()

_OPTIONS: list[tuple[str, str, str]] = [
    ("scale", "multiply every table's row count", "string"),
    ("report_dir", "folder for rehearsal reports (default: reports)", "string"),
    ("pg_bin", "folder holding the PostgreSQL server binaries", "string"),
    ("cache", "reuse seeded snapshots between runs (default: true)", "bool"),
]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pgrehearse", "rehearse PostgreSQL migrations")
    for name, help_text, kind in _OPTIONS:
        flag = "--pgrehearse-" + name.replace("_", "-")
        if kind == "bool":
            group.addoption(
                flag, action="store", default=None, choices=("true", "false"), help=help_text
            )
        else:
            group.addoption(flag, action="store", default=None, help=help_text)
        parser.addini(f"pgrehearse_{name}", help_text, type=kind, default=None)  # type: ignore[arg-type]
    group.addoption(
        "--pgrehearse-budget",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a budget of every scenario (repeatable)",
    )
    parser.addini("pgrehearse_budgets", "budget overrides, KEY=VALUE per line", type="linelist")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[RESULTS] = []


def _setting(config: pytest.Config, name: str) -> Any:
    value = config.getoption("pgrehearse_" + name)
    if value is None:
        value = config.getini("pgrehearse_" + name)
    return value


def _settings(config: pytest.Config) -> dict[str, Any]:
    from pgrehearse.cli import parse_budget_overrides

    scale = _setting(config, "scale")
    cache = _setting(config, "cache")
    budgets = [*config.getini("pgrehearse_budgets"), *config.getoption("pgrehearse_budget")]
    return {
        "scale": float(scale) if scale not in (None, "") else None,
        "report_dir": Path(_setting(config, "report_dir") or "reports"),
        "pg_bin": _setting(config, "pg_bin") or None,
        "cache": cache not in ("false", False),
        "budgets": parse_budget_overrides(tuple(budgets)) or None,
    }


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.name.endswith(SUFFIXES):
        return RehearsalFile.from_parent(parent, path=file_path)
    return None


class RehearsalFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        name = self.path.name
        for suffix in SUFFIXES:
            name = name.removesuffix(suffix)
        yield RehearsalItem.from_parent(self, name=name)


class RehearsalFailed(Exception):
    def __init__(self, result: Rehearsal) -> None:
        super().__init__(result.failure)
        self.result = result


class RehearsalItem(pytest.Item):
    """One scenario file, one rehearsal."""

    def runtest(self) -> None:
        settings = _settings(self.config)
        scenario = load_scenario(self.path)
        result = rehearse(scenario, **settings)
        self.config.stash[RESULTS].append(result)
        self.user_properties.append(("outcome", result.outcome))
        if result.summary_path is not None:
            self.user_properties.append(("summary", str(result.summary_path)))
        up = result.phase("up")
        if up is not None and up.seconds is not None:
            self.user_properties.append(("up_seconds", f"{up.seconds:.6f}"))
        for budget in result.budgets:
            self.user_properties.append(
                (
                    f"budget:{budget['budget']}",
                    f"{budget['actual']} (limit {budget['limit']}, {budget['status']})",
                )
            )
        if not result.passed:
            raise RehearsalFailed(result)

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str:
        error = excinfo.value
        if isinstance(error, PgRehearseError):
            return f"{self.path}: {error}"
        if not isinstance(error, RehearsalFailed):
            return str(super().repr_failure(excinfo, style=style))
        result = error.result
        lines = [f"rehearsal of {self.path} {result.outcome.upper()}: {result.failure}"]
        for budget in result.budgets:
            if budget["status"] == "fail":
                lines.append(
                    f"  budget {budget['budget']}: {budget['actual']} > {budget['limit']}"
                    + _budget_line(self.path, budget["budget"])
                )
        if result.run_dir is not None:
            lines.append(f"  report: {result.run_dir / 'report.html'}")
        return "\n".join(lines)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, 0, f"rehearsal: {self.name}"


def _budget_line(path: Path, budget: str) -> str:
    try:
        scenario = load_scenario(path)
    except PgRehearseError:
        return ""
    line = scenario.line_of("budgets", *budget.split("."))
    return f" ({path}:{line})" if line else ""


@pytest.fixture
def pgrehearse_rehearse(request: pytest.FixtureRequest) -> Callable[..., Rehearsal]:
    """A function that rehearses a scenario file (or a loaded Scenario) with the session's
    pgrehearse settings; keyword arguments override them."""
    settings = _settings(request.config)

    def run(scenario: str | Path | Scenario, **overrides: Any) -> Rehearsal:
        loaded = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        result = rehearse(loaded, **{**settings, **overrides})
        request.config.stash[RESULTS].append(result)
        return result

    return run
