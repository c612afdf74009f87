"""What the schema says about the tables to seed, read from the server's catalog."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import psycopg

_COLUMNS = """
SELECT a.attname,
       format_type(a.atttypid, a.atttypmod) AS type_text,
       COALESCE(et.typname, t.typname) AS base_type,
       COALESCE(et.typcategory, t.typcategory) AS category,
       t.typcategory = 'A' AS is_array,
       a.attnotnull,
       a.atthasdef,
       pg_get_expr(d.adbin, d.adrelid) AS default_expr,
       a.attidentity <> '' AS is_identity,
       a.attgenerated <> '' AS is_generated,
       information_schema._pg_char_max_length(a.atttypid, a.atttypmod) AS max_length,
       information_schema._pg_numeric_precision(a.atttypid, a.atttypmod) AS num_precision,
       information_schema._pg_numeric_scale(a.atttypid, a.atttypmod) AS num_scale,
       (SELECT array_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e
         WHERE e.enumtypid = COALESCE(bt.oid, t.oid)) AS enum_labels,
       COALESCE(bt.typname, t.typname) AS domain_base
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'
LEFT JOIN pg_type bt ON bt.oid = t.typbasetype AND t.typtype = 'd'
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""

_UNIQUE = """
SELECT DISTINCT a.attname
FROM pg_index i
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
WHERE i.indrelid = %s::regclass AND i.indisunique AND i.indnatts = 1
  AND i.indpred IS NULL AND i.indexprs IS NULL
"""

_FOREIGN_KEYS = """
SELECT a.attname, c.confrelid::regclass::text, fa.attname
FROM pg_constraint c
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
JOIN pg_attribute fa ON fa.attrelid = c.confrelid AND fa.attnum = c.confkey[1]
WHERE c.conrelid = %s::regclass AND c.contype = 'f' AND cardinality(c.conkey) = 1
"""

_CHECKS = """
SELECT pg_get_constraintdef(c.oid), a.attname
FROM pg_constraint c
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
WHERE c.conrelid = %s::regclass AND c.contype = 'c' AND cardinality(c.conkey) = 1
"""

_ANY_ARRAY = re.compile(r"= ANY \(+ARRAY\[(.*)\]\)")
_IN_LITERAL = re.compile(r"'((?:[^']|'')*)'")


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type_text: str  # as format_type prints it: "character varying(200)", "numeric(10,2)"
    base_type: str  # element type for arrays, e.g. "int4", "text", "timestamptz"
    category: str  # pg_type.typcategory of the (element) type: N S D B U E A ...
    is_array: bool
    not_null: bool
    has_default: bool
    default_expr: str | None
    is_identity: bool
    is_generated: bool
    max_length: int | None
    num_precision: int | None
    num_scale: int | None
    enum_labels: list[str] | None
    domain_base: str

    @property
    def database_fills(self) -> bool:
        """Identity, serial, generated and defaulted columns are left to the database."""
        return self.is_identity or self.is_generated or self.has_default


@dataclass
class TableInfo:
    name: str
    columns: dict[str, ColumnInfo]
    unique: set[str] = field(default_factory=set)
    foreign_keys: dict[str, tuple[str, str]] = field(default_factory=dict)  # col -> (table, col)
    allowed_values: dict[str, list[str]] = field(default_factory=dict)  # from CHECK (c IN ...)
    partitioned: bool = False
    will_have_rows: bool = False  # seeded with rows, or filled by the schema itself


class MissingTable(LookupError):
    pass


def read_table(conn: psycopg.Connection[Any], name: str) -> TableInfo:
    regclass = conn.execute("SELECT to_regclass(%s)::text, %s", (_quote_name(name), 0)).fetchone()
    if regclass is None or regclass[0] is None:
        raise MissingTable(name)
    relation = regclass[0]
    columns = {row[0]: ColumnInfo(*row) for row in conn.execute(_COLUMNS, (relation,)).fetchall()}
    info = TableInfo(name, columns)
    info.unique = {row[0] for row in conn.execute(_UNIQUE, (relation,))}
    for column, ref_table, ref_column in conn.execute(_FOREIGN_KEYS, (relation,)):
        info.foreign_keys[column] = (ref_table, ref_column)
    for definition, column in conn.execute(_CHECKS, (relation,)):
        values = _check_values(definition)
        if values:
            info.allowed_values[column] = values
    kind = conn.execute("SELECT relkind FROM pg_class WHERE oid = %s::regclass", (relation,))
    row = kind.fetchone()
    info.partitioned = row is not None and row[0] == "p"
    return info


def _check_values(definition: str) -> list[str] | None:
    """The literal list of `CHECK (col IN ('a', 'b'))` / `= ANY (ARRAY[...])`."""
    match = _ANY_ARRAY.search(definition)
    if not match:
        return None
    literals = _IN_LITERAL.findall(match.group(1))
    return [literal.replace("''", "'") for literal in literals] or None


def _quote_name(name: str) -> str:
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split("."))
