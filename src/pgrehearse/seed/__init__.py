"""Synthetic data: column generators, the plan of what fills each column, the COPY seeder."""

from pgrehearse.seed._generators import (
    Column,
    Generator,
    GeneratorContext,
    UnsatisfiableUnique,
    assemble_rows,
    build_generator,
    child_signals,
    faker_pool,
)
from pgrehearse.seed._pipeline import BLOCK_ROWS, default_workers, produce_blocks
from pgrehearse.seed._plan import PlanError, TablePlan, infer_generator, plan_tables
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
    "Column",
    "Generator",
    "GeneratorContext",
    "PlanError",
    "RestoreError",
    "SchemaDump",
    "SeedError",
    "SeedProgress",
    "SeededColumn",
    "TablePlan",
    "TableSeedResult",
    "UnsatisfiableUnique",
    "assemble_rows",
    "build_generator",
    "child_signals",
    "default_workers",
    "faker_pool",
    "infer_generator",
    "plan",
    "plan_tables",
    "preflight",
    "produce_blocks",
    "scaled_rows",
    "seed_tables",
]
