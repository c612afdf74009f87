"""Synthetic data: column generators, the plan of what fills each column, the COPY seeder."""

from pgrehearse.seed._catalog import ColumnInfo, TableInfo
from pgrehearse.seed._checks import CheckFacts, ColumnFacts, read_checks
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

__all__ = [
    "BLOCK_ROWS",
    "CheckFacts",
    "Column",
    "ColumnFacts",
    "ColumnInfo",
    "Combination",
    "Generator",
    "GeneratorContext",
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
    "assemble_rows",
    "build_generator",
    "child_signals",
    "default_workers",
    "faker_pool",
    "honour_checks",
    "infer_generator",
    "plan",
    "plan_tables",
    "preflight",
    "produce_blocks",
    "read_checks",
    "scaled_rows",
    "seed_tables",
]
