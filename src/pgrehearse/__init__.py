"""pgrehearse: rehearse PostgreSQL schema migrations on throwaway, production-sized databases.

from pgrehearse import load_scenario, rehearse

result = rehearse(load_scenario("scenarios/orders_add_column"))
print(result.outcome, result.summary_path)

Names load on first use, so `import pgrehearse` (and the command line's `--help`) stays
fast; `tests/test_public_api.py` guards `__all__`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pgrehearse._version import __version__
from pgrehearse.lazy_imports import lazy_attributes

if TYPE_CHECKING:
    from pgrehearse.backends.choice import ServerOptions
    from pgrehearse.errors import (
        EnvironmentProblem,
        ExitCode,
        HistoryError,
        InputError,
        InternalError,
        Interrupted,
        PgRehearseError,
        Problem,
        ScenarioError,
    )
    from pgrehearse.rehearsal.plan import SeedingPlan, plan_seeding
    from pgrehearse.rehearsal.result import BudgetCheck, LoadSummary, PhaseResult, Rehearsal
    from pgrehearse.rehearsal.rounds import bench, measure_rounds
    from pgrehearse.rehearsal.run import rehearse
    from pgrehearse.rehearsal.seeded import (
        MigrationFailed,
        MigrationRunner,
        SeededDatabase,
        SeededServer,
    )
    from pgrehearse.scenario import Scenario, load_scenario
    from pgrehearse.timing.compare import Comparison, compare_histories, compare_records
    from pgrehearse.timing.history import append_record, read_records

_WHERE = {
    "BudgetCheck": "rehearsal.result",
    "Comparison": "timing.compare",
    "EnvironmentProblem": "errors",
    "ExitCode": "errors",
    "HistoryError": "errors",
    "InputError": "errors",
    "InternalError": "errors",
    "Interrupted": "errors",
    "LoadSummary": "rehearsal.result",
    "MigrationFailed": "rehearsal.seeded",
    "MigrationRunner": "rehearsal.seeded",
    "PgRehearseError": "errors",
    "PhaseResult": "rehearsal.result",
    "Problem": "errors",
    "Rehearsal": "rehearsal.result",
    "Scenario": "scenario",
    "ScenarioError": "errors",
    "SeededDatabase": "rehearsal.seeded",
    "SeededServer": "rehearsal.seeded",
    "SeedingPlan": "rehearsal.plan",
    "ServerOptions": "backends.choice",
    "append_record": "timing.history",
    "bench": "rehearsal.rounds",
    "compare_histories": "timing.compare",
    "compare_records": "timing.compare",
    "load_scenario": "scenario",
    "measure_rounds": "rehearsal.rounds",
    "plan_seeding": "rehearsal.plan",
    "read_records": "timing.history",
    "rehearse": "rehearsal.run",
}


__getattr__, __dir__ = lazy_attributes(__name__, _WHERE, globals())


__all__ = [
    "BudgetCheck",
    "Comparison",
    "EnvironmentProblem",
    "ExitCode",
    "HistoryError",
    "InputError",
    "InternalError",
    "Interrupted",
    "LoadSummary",
    "MigrationFailed",
    "MigrationRunner",
    "PgRehearseError",
    "PhaseResult",
    "Problem",
    "Rehearsal",
    "Scenario",
    "ScenarioError",
    "SeededDatabase",
    "SeededServer",
    "SeedingPlan",
    "ServerOptions",
    "__version__",
    "append_record",
    "bench",
    "compare_histories",
    "compare_records",
    "load_scenario",
    "measure_rounds",
    "plan_seeding",
    "read_records",
    "rehearse",
]
