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
from pgrehearse._rehearsal import rehearse
from pgrehearse._result import PhaseResult, Rehearsal
from pgrehearse._version import __version__
from pgrehearse.scenario import Scenario, load_scenario

__all__ = [
    "EnvironmentProblem",
    "ExitCode",
    "Interrupted",
    "PgRehearseError",
    "PhaseResult",
    "Problem",
    "Rehearsal",
    "Scenario",
    "ScenarioError",
    "__version__",
    "load_scenario",
    "rehearse",
]
