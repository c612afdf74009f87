"""pgrehearse: rehearse PostgreSQL schema migrations on throwaway, production-sized databases.

from pgrehearse import load_scenario, rehearse

result = rehearse(load_scenario("scenarios/orders_add_column"))
print(result.outcome, result.summary_path)
"""

from pgrehearse._errors import (
    EnvironmentProblem,
    ExitCode,
    Interrupted,
    PgRehearseError,
    Problem,
    ScenarioError,
)
from pgrehearse._history import append_record, read_records
from pgrehearse._regression import Comparison, compare_histories, compare_records
from pgrehearse._rehearsal import rehearse
from pgrehearse._result import PhaseResult, Rehearsal
from pgrehearse._rounds import bench, measure_rounds
from pgrehearse._seeded import MigrationFailed, MigrationRunner, SeededDatabase, SeededServer
from pgrehearse._version import __version__
from pgrehearse.scenario import Scenario, load_scenario

__all__ = [
    "Comparison",
    "EnvironmentProblem",
    "ExitCode",
    "Interrupted",
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
    "__version__",
    "append_record",
    "bench",
    "compare_histories",
    "compare_records",
    "load_scenario",
    "measure_rounds",
    "read_records",
    "rehearse",
]
