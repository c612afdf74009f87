"""Synthetic data: column generators, the plan of what fills each column, the COPY seeder."""

from pgrehearse.seed._capacity import rows_the_keys_allow
from pgrehearse.seed._catalog import (
    SCENARIO_NAME_SQL,
    ColumnInfo,
    MissingTable,
    TableInfo,
    mentions,
    quoted_name,
    read_table,
)
from pgrehearse.seed._checks import CheckFacts, ColumnFacts, read_checks
from pgrehearse.seed._distributions import zipf_ranks
from pgrehearse.seed._empirical import as_number, distinct_values
from pgrehearse.seed._estimates import analyze_estimate
from pgrehearse.seed._generators import (
    BLOCK_ROWS,
    Column,
    Combination,
    Generator,
    GeneratorContext,
    UnsatisfiableUnique,
    assemble_rows,
    build_generator,
    child_signals,
    faker_pool,
)
from pgrehearse.seed._infer import honour_checks, infer_generator
from pgrehearse.seed._names import faker_provider_for
from pgrehearse.seed._order import earlier_by_name
from pgrehearse.seed._pipeline import default_workers, produce_blocks
from pgrehearse.seed._plan import plan_tables
from pgrehearse.seed._plan_model import PlanError, TablePlan
from pgrehearse.seed._preflight import preflight
from pgrehearse.seed._schema_split import RestoreError, SchemaDump
from pgrehearse.seed._seeder import (
    SeededColumn,
    SeedError,
    SeedProgress,
    TableSeedResult,
    plan,
    scaled_rows,
    seed_tables,
)
from pgrehearse.seed._tables import holds_rows

__all__ = [
    "BLOCK_ROWS",
    "SCENARIO_NAME_SQL",
    "CheckFacts",
    "Column",
    "ColumnFacts",
    "ColumnInfo",
    "Combination",
    "Generator",
    "GeneratorContext",
    "MissingTable",
    "PlanError",
    "RestoreError",
    "SchemaDump",
    "SeedError",
    "SeedProgress",
    "SeededColumn",
    "TableInfo",
    "TablePlan",
    "TableSeedResult",
    "UnsatisfiableUnique",
    "analyze_estimate",
    "as_number",
    "assemble_rows",
    "build_generator",
    "child_signals",
    "default_workers",
    "distinct_values",
    "earlier_by_name",
    "faker_pool",
    "faker_provider_for",
    "holds_rows",
    "honour_checks",
    "infer_generator",
    "mentions",
    "plan",
    "plan_tables",
    "preflight",
    "produce_blocks",
    "quoted_name",
    "read_checks",
    "read_table",
    "rows_the_keys_allow",
    "scaled_rows",
    "seed_tables",
    "zipf_ranks",
]
