"""Production's shape without its rows: `pg_stats` and the catalog as a scenario, and the
clone's statistics compared with them after seeding."""

from pgrehearse.profile._fidelity import GOALS, compare_profiles
from pgrehearse.profile._init import InitResult, init_scenario
from pgrehearse.profile._read import PROFILE_FORMAT, begin_read_only, read_profile
from pgrehearse.profile._run import ProfileResult, profile_database
from pgrehearse.profile._scenario import BuildOptions, Built, build_scenario

__all__ = [
    "GOALS",
    "PROFILE_FORMAT",
    "BuildOptions",
    "Built",
    "InitResult",
    "ProfileResult",
    "begin_read_only",
    "build_scenario",
    "compare_profiles",
    "init_scenario",
    "profile_database",
    "read_profile",
]
