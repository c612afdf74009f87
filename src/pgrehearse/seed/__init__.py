"""Synthetic data: column generators and the COPY-based seeder."""

from pgrehearse.seed._generators import copy_text, faker_pool
from pgrehearse.seed._seeder import (
    SeedError,
    TableSeedResult,
    scaled_rows,
    seed_tables,
    seeding_order,
)

__all__ = [
    "SeedError",
    "TableSeedResult",
    "copy_text",
    "faker_pool",
    "scaled_rows",
    "seed_tables",
    "seeding_order",
]
