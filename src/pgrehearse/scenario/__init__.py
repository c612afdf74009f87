"""Scenario files: models and the line-aware YAML loader."""

from pgrehearse.scenario._durations import Duration, parse_duration, postgres_duration
from pgrehearse.scenario._loader import load_scenario, resolve_scenario_path
from pgrehearse.scenario._models import (
    GENERATOR_KEYS,
    BetweenColumn,
    ChoiceColumn,
    ColumnSpec,
    ConstantColumn,
    DataSpec,
    FakerColumn,
    IntColumn,
    MigrationSpec,
    PostgresSpec,
    RefColumn,
    Scenario,
    SqlSource,
    TableSpec,
    TransactionMode,
)

__all__ = [
    "GENERATOR_KEYS",
    "BetweenColumn",
    "ChoiceColumn",
    "ColumnSpec",
    "ConstantColumn",
    "DataSpec",
    "Duration",
    "FakerColumn",
    "IntColumn",
    "MigrationSpec",
    "PostgresSpec",
    "RefColumn",
    "Scenario",
    "SqlSource",
    "TableSpec",
    "TransactionMode",
    "load_scenario",
    "parse_duration",
    "postgres_duration",
    "resolve_scenario_path",
]
