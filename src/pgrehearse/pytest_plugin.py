"""pytest plugin: `*.rehearse.yaml` files are collected as test items; budgets are assertions.

Registered through the `pytest11` entry point. Every option is also an ini setting
(the command line wins):

    [pytest]
    pgrehearse_scale = 0.01
    pgrehearse_report_dir = reports
    pgrehearse_budgets = max_wait_ms=500
                         max_lock_ms.AccessExclusiveLock=200
    pgrehearse_baseline = baseline/history.jsonl
    pgrehearse_rounds = 5

Fixtures: `pgrehearse_database` and `pgrehearse_migration` (factories taking a scenario),
`pgrehearse_db` and `pgrehearse_runner` (ready-made, for the scenario named by
`@pytest.mark.pgrehearse("path")` or the `pgrehearse_scenario` ini setting),
`pgrehearse_rehearse` (a whole rehearsal) and `pgrehearse_benchmark` (pytest-benchmark
rounds of a migration phase, each on a fresh copy of the seeded data).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pgrehearse._pytest_migrations import MigrationItem
from pgrehearse._pytest_options import (
    OPTIONS,
    flag,
    regression_settings,
    server_options,
    setting,
    settings_of,
)
from pgrehearse.backends.choice import BACKEND_NAMES as BACKENDS
from pgrehearse.backends.choice import ServerOptions
from pgrehearse.errors import PgRehearseError
from pgrehearse.rehearsal.result import Rehearsal
from pgrehearse.rehearsal.rounds import measure_rounds
from pgrehearse.rehearsal.run import rehearse
from pgrehearse.rehearsal.seeded import MigrationRunner, SeededDatabase, SeededServer
from pgrehearse.scaling import rehearse_scales
from pgrehearse.scenario import Scenario, load_scenario
from pgrehearse.timing.compare import (
    Comparison,
    compare_records,
    latest_by_scenario,
)
from pgrehearse.timing.history import append_record, read_records

SUFFIXES = (".rehearse.yaml", ".rehearse.yml")
RESULTS = pytest.StashKey[list[Rehearsal]]()
COMPARISONS = pytest.StashKey[list[Comparison]]()
KEPT = pytest.StashKey[list[str]]()
BASELINE = pytest.StashKey[list[dict[str, Any]]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pgrehearse", "rehearse PostgreSQL migrations")
    for name, help_text, kind in OPTIONS:
        flag = "--pgrehearse-" + name.replace("_", "-")
        choices = ("true", "false") if kind == "bool" else BACKENDS if name == "backend" else None
        group.addoption(flag, action="store", default=None, choices=choices, help=help_text)
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
    config.addinivalue_line(
        "markers", "pgrehearse(scenario): the scenario of the pgrehearse_db/_runner fixtures"
    )
    config.stash[RESULTS] = []
    config.stash[COMPARISONS] = []
    config.stash[KEPT] = []
    baseline = setting(config, "baseline")
    # read before this session appends, so the baseline may be the history file itself
    config.stash[BASELINE] = read_records(baseline) if baseline and Path(baseline).exists() else []


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.name.endswith(SUFFIXES):
        return RehearsalFile.from_parent(parent, path=file_path)
    return None


class RehearsalFile(pytest.File):
    """A scenario file: one item for the rehearsal, and for a migration tool's folder one
    more per pending migration (`chain.rehearse.yaml::chain[0007_add_invoice_number]`),
    all answered by the one rehearsal of the chain."""

    _result: Rehearsal | None = None

    def collect(self) -> Iterator[pytest.Item]:
        name = self.path.name
        for suffix in SUFFIXES:
            name = name.removesuffix(suffix)
        yield RehearsalItem.from_parent(self, name=name)
        try:
            chain = load_scenario(self.path).migration.chain
        except PgRehearseError:
            return  # the rehearsal item reports it
        for migration in chain.pending if chain is not None else []:
            yield MigrationItem.from_parent(
                self, name=f"{name}[{migration.label}]", migration=migration.label
            )

    def rehearsal(self, config: pytest.Config) -> Rehearsal:
        """The rehearsal of this file, run once for all of its items."""
        if self._result is None:
            scenario = load_scenario(self.path)
            if scenario.predict is not None:  # the largest holds the prediction
                settings = {k: v for k, v in settings_of(config).items() if k != "keep_server"}
                self._result = rehearse_scales(
                    scenario, options=server_options(config), **settings
                ).telling
            else:
                self._result = rehearse(scenario, server_options(config), **settings_of(config))
            config.stash[RESULTS].append(self._result)
        return self._result


class RehearsalFailed(Exception):
    def __init__(self, result: Rehearsal) -> None:
        super().__init__(result.failure)
        self.result = result


class MigrationSlower(Exception):
    def __init__(self, comparison: Comparison) -> None:
        super().__init__(comparison.describe())
        self.comparison = comparison


class RehearsalItem(pytest.Item):
    """One scenario file: a rehearsal, then timing rounds when a baseline is configured."""

    def runtest(self) -> None:
        settings = settings_of(self.config)
        scenario = load_scenario(self.path)
        assert isinstance(self.parent, RehearsalFile)
        result = self.parent.rehearsal(self.config)
        self._add_properties(result)
        if result.kept_server is not None:
            self.config.stash[KEPT].append(f"{self.name}: {result.kept_server['psql']}")
            self.user_properties.append(("pgrehearse_kept", result.kept_server["psql"]))
        if not result.passed:
            raise RehearsalFailed(result)
        if setting(self.config, "baseline"):
            self._check_regression(scenario, settings["history"])

    def _add_properties(self, result: Rehearsal) -> None:
        self.user_properties.append(("outcome", result.outcome))
        if result.summary_path is not None:
            self.user_properties.append(("summary", str(result.summary_path)))
        for phase in ("up", "down"):
            measured = result.phase(phase)
            if measured is not None and measured.seconds is not None:
                self.user_properties.append((f"{phase}_seconds", f"{measured.seconds:.6f}"))
        for budget in result.budgets:
            self.user_properties.append(
                (
                    f"budget:{budget.budget}",
                    f"{budget.actual} (limit {budget.limit}, {budget.status})",
                )
            )

    def _check_regression(self, scenario: Scenario, history: Path) -> None:
        rounds, threshold, min_delta = regression_settings(self.config)
        with SeededServer.start(scenario, server_options(self.config)) as seeded:
            record = measure_rounds(seeded, rounds)
        append_record(history, record)
        baseline: list[dict[str, Any]] = self.config.stash[BASELINE]
        base = latest_by_scenario(baseline, "rounds").get(scenario.name)
        comparison = compare_records(base, record, threshold=threshold, min_delta_s=min_delta)
        self.config.stash[COMPARISONS].append(comparison)
        self.user_properties.append(("pgrehearse_regression", _verdict(comparison)))
        for change in comparison.changes:
            if change.item.startswith("phase ") and change.current_s is not None:
                name = change.item.removeprefix("phase ")
                self.user_properties.append((f"median_{name}_seconds", f"{change.current_s:.6f}"))
        if comparison.regressed:
            raise MigrationSlower(comparison)

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str:
        error = excinfo.value
        if isinstance(error, PgRehearseError):
            return f"{self.path}: {error}"
        if isinstance(error, MigrationSlower):
            comparison = error.comparison
            assert comparison.base is not None
            return (
                f"migration of {self.path} is slower than the baseline (run "
                f"{comparison.base.get('run_id')}, commit {comparison.base.get('commit')}), "
                f"medians of {len(comparison.current['rounds'])} rounds:\n  "
                + comparison.describe().replace("\n", "\n  ")
            )
        if not isinstance(error, RehearsalFailed):
            return str(super().repr_failure(excinfo, style=style))
        result = error.result
        lines = [f"rehearsal of {self.path} {result.outcome.upper()}: {result.failure}"]
        for budget in result.budgets:
            if not budget.passed:
                lines.append(
                    f"  budget {budget.budget}: {budget.actual} > {budget.limit}"
                    + _budget_line(self.path, budget.budget)
                )
        if result.run_dir is not None:
            lines.append(f"  report: {result.run_dir / 'report.html'}")
        if result.kept_server is not None:
            lines.append(f"  server kept: {result.kept_server['psql']}")
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


def _verdict(comparison: Comparison) -> str:
    if comparison.base is None:
        return "no baseline yet, timings recorded"
    return ("SLOWER" if comparison.regressed else "ok") + " against the baseline"


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Regression verdicts and kept servers, read from the test reports' properties so
    that they show under pytest-xdist too (workers' stashes never reach the controller)."""
    lines: list[str] = []
    for outcome in ("passed", "failed"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "when", "call") != "call":
                continue
            name = report.nodeid.rsplit("::", 1)[-1]
            for key, value in getattr(report, "user_properties", []):
                if key == "pgrehearse_regression":
                    lines.append(f"{name}: {value}")
                elif key == "pgrehearse_kept":
                    lines.append(f"server kept for {name}: {value}  (stop: pgrehearse cleanup)")
    lines += [
        f"server kept for {line}  (stop: pgrehearse cleanup)"
        for line in config.stash.get(KEPT, [])
        if not any(line.split(": ", 1)[-1] in known for known in lines)
    ]
    if lines:
        terminalreporter.section("pgrehearse")
        for line in lines:
            terminalreporter.line(line)


# ---------------------------------------------------------------------------- fixtures


def _scenario(config: pytest.Config, scenario: str | Path | Scenario) -> Scenario:
    """A scenario; relative paths are taken from the rootdir, as pytest shows them."""
    if isinstance(scenario, Scenario):
        return scenario
    path = Path(scenario)
    return load_scenario(path if path.is_absolute() else config.rootpath / path)


class _SeededServers:
    """Seeded servers shared by a session (one per xdist worker), one per scenario."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self._servers: dict[tuple[str, str], SeededServer] = {}

    def get(self, scenario: Scenario) -> SeededServer:
        key = (str(scenario.path), scenario.name)
        if key not in self._servers:
            self._servers[key] = SeededServer.start(scenario, server_options(self.config))
        return self._servers[key]

    def close(self) -> None:
        keep = flag(self.config, "keep_server", False)
        for seeded in self._servers.values():
            kept = seeded.keep() if keep else None
            if kept is None:
                seeded.close()
            else:
                self.config.stash[KEPT].append(f"{seeded.scenario.name}: {kept['psql']}")
        self._servers.clear()


@pytest.fixture(scope="session")
def pgrehearse_seeded_servers(request: pytest.FixtureRequest) -> Iterator[_SeededServers]:
    """The session's seeded servers, started on first use and stopped at the end."""
    servers = _SeededServers(request.config)
    try:
        yield servers
    finally:
        servers.close()


@pytest.fixture
def pgrehearse_database(
    request: pytest.FixtureRequest, pgrehearse_seeded_servers: _SeededServers
) -> Iterator[Callable[..., SeededDatabase]]:
    """A factory: `pgrehearse_database("scenarios/x/scenario.yaml")` gives a fresh copy of
    that scenario's seeded database, dropped after the test.

    The copy comes from a server the session shares; a scenario whose migration changes
    roles, databases or server settings gets a server of its own instead.
    """
    keep = flag(request.config, "keep_server", False)
    databases: list[SeededDatabase] = []
    own_servers: list[SeededServer] = []

    def make(scenario: str | Path | Scenario) -> SeededDatabase:
        loaded = _scenario(request.config, scenario)
        seeded = pgrehearse_seeded_servers.get(loaded)
        if not seeded.shareable:
            seeded = SeededServer.start(loaded, server_options(request.config))
            own_servers.append(seeded)
        database = seeded.database(f"pgrehearse_{os.getpid()}_{len(databases) + 1}")
        databases.append(database)
        return database

    try:
        yield make
    finally:
        if not keep:
            for database in databases:
                database.drop()
        for server in own_servers:
            server.close()


@pytest.fixture
def pgrehearse_migration(
    pgrehearse_database: Callable[..., SeededDatabase],
) -> Callable[..., MigrationRunner]:
    """A factory: `pgrehearse_migration(scenario)` gives a step-wise runner of the
    scenario's migration on a fresh seeded copy: `up()`, your assertions, `down()`,
    `roundtrip()`."""

    def make(scenario: str | Path | Scenario) -> MigrationRunner:
        return pgrehearse_database(scenario).migration()

    return make


def _marked_scenario(request: pytest.FixtureRequest) -> str:
    marker = request.node.get_closest_marker("pgrehearse")
    if marker is not None and marker.args:
        return str(marker.args[0])
    configured = setting(request.config, "scenario")
    if configured:
        return str(configured)
    raise pytest.UsageError(
        f"{request.node.nodeid}: {request.fixturename} needs a scenario: mark the test "
        '@pytest.mark.pgrehearse("scenarios/x/scenario.yaml") or set pgrehearse_scenario'
    )


@pytest.fixture
def pgrehearse_db(
    request: pytest.FixtureRequest, pgrehearse_database: Callable[..., SeededDatabase]
) -> SeededDatabase:
    """A fresh seeded copy of the marked (or configured) scenario's database."""
    return pgrehearse_database(_marked_scenario(request))


@pytest.fixture
def pgrehearse_runner(
    request: pytest.FixtureRequest, pgrehearse_migration: Callable[..., MigrationRunner]
) -> MigrationRunner:
    """A step-wise migration runner for the marked (or configured) scenario."""
    return pgrehearse_migration(_marked_scenario(request))


@pytest.fixture
def pgrehearse_rehearse(request: pytest.FixtureRequest) -> Callable[..., Rehearsal]:
    """A function that rehearses a scenario file (or a loaded Scenario) with the session's
    pgrehearse settings; keyword arguments override them: those of `ServerOptions`
    (`scale=0.01`, `backend=…`) and those of `rehearse` (`budgets=…`, `report_dir=…`)."""
    settings = settings_of(request.config)
    options = server_options(request.config)
    server_fields = {f.name for f in dataclasses.fields(ServerOptions)}

    def run(scenario: str | Path | Scenario, **overrides: Any) -> Rehearsal:
        server = {k: v for k, v in overrides.items() if k in server_fields}
        others = {k: v for k, v in overrides.items() if k not in server_fields}
        result: Rehearsal = rehearse(
            _scenario(request.config, scenario),
            options.but(**server) if server else options,
            **{**settings, **others},
        )
        request.config.stash[RESULTS].append(result)
        return result

    return run


@pytest.fixture
def pgrehearse_benchmark(
    request: pytest.FixtureRequest, pgrehearse_seeded_servers: _SeededServers
) -> Callable[..., None]:
    """`pgrehearse_benchmark(scenario, phase="up", rounds=5)` times a migration phase with
    pytest-benchmark's `benchmark.pedantic`: every round gets a fresh copy of the seeded
    database (and, for `down`, an untimed `up` first), so rounds do not see each other's
    changes. Results go to pytest-benchmark's JSON and compare workflow."""
    if not request.config.pluginmanager.hasplugin("benchmark"):
        raise pytest.UsageError(
            "pgrehearse_benchmark needs pytest-benchmark: pip install 'pgrehearse[benchmark]'"
        )
    benchmark = request.getfixturevalue("benchmark")

    def run(scenario: str | Path | Scenario, phase: str = "up", rounds: int = 5) -> None:
        if phase not in ("up", "down"):
            raise ValueError(f"phase must be 'up' or 'down', not {phase!r}")
        seeded = pgrehearse_seeded_servers.get(_scenario(request.config, scenario))
        current: list[MigrationRunner] = []
        numbers = itertools.count(1)

        def setup() -> None:
            # a name per round: pytest-benchmark skips `teardown` when benchmarks are
            # disabled (--benchmark-disable, xdist) and when the target raises, so a round
            # must never depend on the previous round's copy having been dropped
            name = f"pgrehearse_bench_{os.getpid()}_{next(numbers)}"
            runner = seeded.database(name).migration(fingerprint=False)
            current.append(runner)
            if phase == "down":
                runner.up()

        def target() -> None:
            getattr(current[-1], phase)()

        def teardown() -> None:
            current.pop().database.drop()

        benchmark.extra_info["pgrehearse_scenario"] = seeded.scenario.name
        benchmark.extra_info["pgrehearse_phase"] = phase
        try:
            benchmark.pedantic(target, setup=setup, teardown=teardown, rounds=rounds, iterations=1)
        finally:
            while current:  # copies whose teardown pytest-benchmark did not call
                current.pop().database.drop()

    return run
