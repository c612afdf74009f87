"""Proving the down migration: schema and data fingerprints and their comparison."""

from pgrehearse.verify._compare import (
    Difference,
    RoundTrip,
    apply_ignores,
    data_differences,
    fold_partitions,
    invalid_indexes,
    schema_differences,
)
from pgrehearse.verify._data import DataFingerprint, TableChecksum, data_fingerprint
from pgrehearse.verify._dump import DumpFailed, DumpTarget, SchemaDump, dump_disagreement
from pgrehearse.verify._load_effects import ALL_COLUMNS, LoadEffects, load_effects, relax_sequences
from pgrehearse.verify._schema import SchemaFingerprint, schema_fingerprint
from pgrehearse.verify._writes import rows_inserted_by, written_by

__all__ = [
    "ALL_COLUMNS",
    "DataFingerprint",
    "Difference",
    "DumpFailed",
    "DumpTarget",
    "LoadEffects",
    "RoundTrip",
    "SchemaDump",
    "SchemaFingerprint",
    "TableChecksum",
    "apply_ignores",
    "data_differences",
    "data_fingerprint",
    "dump_disagreement",
    "fold_partitions",
    "invalid_indexes",
    "load_effects",
    "relax_sequences",
    "rows_inserted_by",
    "schema_differences",
    "schema_fingerprint",
    "written_by",
]
