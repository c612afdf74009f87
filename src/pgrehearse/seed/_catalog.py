"""What the schema says about the tables to seed, read from the server's catalog."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

import psycopg

from pgrehearse.seed._checks import CheckFacts, read_checks
from pgrehearse.seed._partitions import UnshapedKey, partition_facts

_COLUMNS = """
SELECT a.attname,
       format_type(a.atttypid, a.atttypmod) AS type_text,
       -- a domain stands for its base type, an array (or a domain over one) for its element
       COALESCE(et.typname, bt.typname, t.typname) AS base_type,
       COALESCE(et.typcategory, bt.typcategory, t.typcategory) AS category,
       COALESCE(bt.typcategory, t.typcategory) = 'A' AS is_array,
       a.attnotnull OR (t.typtype = 'd' AND t.typnotnull) AS not_null,  -- or by its domain
       a.atthasdef,
       pg_get_expr(d.adbin, d.adrelid) AS default_expr,
       a.attidentity <> '' AS is_identity,
       a.attgenerated <> '' AS is_generated,
       information_schema._pg_char_max_length(value_type.oid, value_type.typmod) AS max_length,
       information_schema._pg_numeric_precision(value_type.oid, value_type.typmod)
         AS num_precision,
       information_schema._pg_numeric_scale(value_type.oid, value_type.typmod) AS num_scale,
       (SELECT array_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e
         WHERE e.enumtypid = COALESCE(et.oid, bt.oid, t.oid)) AS enum_labels,
       COALESCE(bt.typname, t.typname) AS domain_base,
       CASE WHEN t.typtype = 'd' THEN format_type(dom.base, dom.typmod)
            ELSE format_type(a.atttypid, a.atttypmod) END AS value_type,
       CASE WHEN t.typtype = 'c' THEN t.typrelid::bigint ELSE 0 END AS composite_of
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
-- a domain (over a domain, …) stands for the type at the end of its chain, with the
-- length, precision and scale the innermost domain gives it (varchar(8), numeric(12,2))
LEFT JOIN LATERAL (
    WITH RECURSIVE chain(base, typmod, depth) AS (
        SELECT t.typbasetype, t.typtypmod, 1 WHERE t.typtype = 'd'
        UNION ALL
        SELECT d.typbasetype, d.typtypmod, chain.depth + 1
        FROM chain JOIN pg_type d ON d.oid = chain.base AND d.typtype = 'd'
    )
    SELECT base, typmod FROM chain ORDER BY depth DESC LIMIT 1
) dom ON true
LEFT JOIN pg_type bt ON bt.oid = dom.base
-- an array's typmod is its elements' (numeric(5,2)[], varchar(20)[])
CROSS JOIN LATERAL (SELECT CASE WHEN COALESCE(bt.typcategory, t.typcategory) = 'A'
                                THEN COALESCE(bt.typelem, t.typelem)
                                ELSE COALESCE(bt.oid, t.oid) END AS oid,
                           CASE WHEN t.typtype = 'd' THEN dom.typmod ELSE a.atttypmod END
                             AS typmod) AS value_type
LEFT JOIN pg_type et ON et.oid = COALESCE(bt.typelem, t.typelem)
                    AND COALESCE(bt.typcategory, t.typcategory) = 'A'
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""

# every unique index's key columns (a partial index counts as unique outright, which is
# stronger than needed; an expression's columns are found in its text)
_UNIQUE = """
SELECT array_agg(a.attname ORDER BY k.ord) FILTER (WHERE a.attname IS NOT NULL),
       pg_get_expr(i.indexprs, i.indrelid)
FROM pg_index i
CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = %s::regclass AND i.indisunique AND k.ord <= i.indnkeyatts
GROUP BY i.indexrelid, i.indexprs, i.indrelid
"""

# EXCLUDE constraints: each element's column (NULL for an expression) and operator
_EXCLUSIONS = """
SELECT c.conname, array_agg(a.attname ORDER BY k.ord), array_agg(o.oprname::text ORDER BY k.ord),
       array_agg(pg_get_indexdef(c.conindid, k.ord::int, true) ORDER BY k.ord)
FROM pg_constraint c
CROSS JOIN LATERAL unnest(c.conkey, c.conexclop) WITH ORDINALITY AS k(attnum, op, ord)
LEFT JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
JOIN pg_operator o ON o.oid = k.op
WHERE c.conrelid = %s::regclass AND c.contype = 'x'
GROUP BY c.oid, c.conname
ORDER BY c.conname
"""

# a table's name as the scenario writes it: `name` (`schema.name` off the search path),
# each part as it is spelled, unquoted; regclass's text would quote "MixedCase" names
SCENARIO_NAME_SQL = """(SELECT CASE WHEN pg_table_is_visible(k.oid) THEN k.relname::text
        ELSE kn.nspname || '.' || k.relname END
        FROM pg_class k JOIN pg_namespace kn ON kn.oid = k.relnamespace WHERE k.oid = {})"""

_FOREIGN_KEYS = f"""
SELECT a.attname, {SCENARIO_NAME_SQL.format("c.confrelid")}, fa.attname
FROM pg_constraint c
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
JOIN pg_attribute fa ON fa.attrelid = c.confrelid AND fa.attnum = c.confkey[1]
WHERE (c.conrelid = %(t)s::regclass  -- and those declared on its partitions
       OR c.conrelid IN (SELECT relid FROM pg_partition_tree(%(t)s::regclass)))
  AND c.contype = 'f' AND cardinality(c.conkey) = 1
"""

# foreign keys over several columns: (columns, referenced table, referenced columns)
_COMPOSITE_FOREIGN_KEYS = f"""
SELECT DISTINCT
       (SELECT array_agg(a.attname ORDER BY k.ord) FROM unnest(c.conkey) WITH ORDINALITY k(n, ord)
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n),
       {SCENARIO_NAME_SQL.format("c.confrelid")},
       (SELECT array_agg(a.attname ORDER BY k.ord) FROM unnest(c.confkey) WITH ORDINALITY k(n, ord)
        JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n)
FROM pg_constraint c
WHERE (c.conrelid = %(t)s::regclass
       OR c.conrelid IN (SELECT relid FROM pg_partition_tree(%(t)s::regclass)))
  AND c.contype = 'f' AND cardinality(c.conkey) > 1
"""

# the table's CHECK constraints, and those of its columns' domains (VALUE: the column)
_CHECKS = """
SELECT c.conname, pg_get_constraintdef(c.oid), NULL::name
FROM pg_constraint c
WHERE c.conrelid = %s::regclass AND c.contype = 'c'
UNION ALL
SELECT format('%%s (domain %%s)', c.conname, t.typname), pg_get_constraintdef(c.oid), a.attname
FROM pg_attribute a
-- the CHECKs of every domain of the chain (a domain over a domain keeps its base's)
CROSS JOIN LATERAL (
    WITH RECURSIVE chain(oid) AS (
        SELECT a.atttypid
        UNION ALL
        SELECT d.typbasetype FROM chain JOIN pg_type d ON d.oid = chain.oid AND d.typtype = 'd'
    )
    SELECT oid FROM chain
) AS chain
JOIN pg_type t ON t.oid = chain.oid AND t.typtype = 'd'
JOIN pg_constraint c ON c.contypid = t.oid AND c.contype = 'c'
WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
"""


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
    value_type: str  # the type as format_type prints it; a domain's base type for a domain
    composite_of: int  # a composite type's relation (its fields), 0 for other types
    # for an identity or a `nextval(...)` default: the next value the sequence gives and its
    # increment (the keys the database numbers the seeded rows with)
    next_serial: tuple[int, int] | None = None
    # how many more values that sequence gives before its MAXVALUE (MINVALUE going down);
    # None: no sequence, or one that cycles
    serial_left: int | None = None
    # a composite type's fields: (name, base type name), in order
    fields: tuple[tuple[str, str], ...] = ()

    @property
    def database_fills(self) -> bool:
        """Identity, serial, generated and defaulted columns are left to the database."""
        return self.is_identity or self.is_generated or self.has_default


@dataclass(frozen=True)
class Exclusion:
    """An EXCLUDE constraint: no two rows may match on all of its (column, operator)."""

    name: str
    columns: list[str | None]  # None: an expression
    operators: list[str]
    definitions: list[str] = field(default_factory=list)  # each element as the index has it


@dataclass
class TableInfo:
    name: str
    columns: dict[str, ColumnInfo]
    unique: set[str] = field(default_factory=set)
    unique_expressions: dict[str, str] = field(default_factory=dict)  # an index's, by column
    unique_groups: list[list[str]] = field(default_factory=list)  # composite unique keys
    exclusions: list[Exclusion] = field(default_factory=list)
    foreign_keys: dict[str, tuple[str, str]] = field(default_factory=dict)  # col -> (table, col)
    # foreign keys over several columns: (columns, referenced table, referenced columns)
    composite_foreign_keys: list[tuple[list[str], str, list[str]]] = field(default_factory=list)
    allowed_values: dict[str, list[str]] = field(default_factory=dict)  # from CHECK (c IN ...)
    checks: CheckFacts = field(default_factory=CheckFacts)  # what CHECKs require per column
    partitioned: bool = False
    notes: list[str] = field(default_factory=list)  # what the plan should tell about it
    unshaped_keys: list[UnshapedKey] = field(default_factory=list)  # partition keys
    will_have_rows: bool = False  # seeded with rows, or filled by the schema itself
    relation: str = ""  # the name as regclass prints it (quoted where needed), for SQL

    @property
    def regclass(self) -> str:
        """Text that `::regclass` reads as this table, whatever the case of its name."""
        return self.relation or quoted_name(self.name)


class MissingTable(LookupError):
    pass


def read_table(conn: psycopg.Connection[Any], name: str) -> TableInfo:
    regclass = conn.execute("SELECT to_regclass(%s)::text, %s", (quoted_name(name), 0)).fetchone()
    if regclass is None or regclass[0] is None:
        raise MissingTable(name)
    relation = regclass[0]
    columns = {row[0]: ColumnInfo(*row) for row in conn.execute(_COLUMNS, (relation,)).fetchall()}
    columns = {
        column_name: dataclasses.replace(
            column,
            **_serial(conn, relation, column),
            fields=_fields(conn, column.composite_of),
        )
        for column_name, column in columns.items()
    }
    info = TableInfo(name, columns, relation=relation)
    for key_columns, expressions in conn.execute(_UNIQUE, (relation,)):
        named = list(key_columns or [])
        if expressions:
            named += [c for c in columns if c not in named and mentions(expressions, c)]
        if len(named) == 1:
            info.unique.add(named[0])
            if expressions:
                info.unique_expressions[named[0]] = expressions
        elif named and named not in info.unique_groups:
            info.unique_groups.append(named)
    for constraint, elements, operators, definitions in conn.execute(_EXCLUSIONS, (relation,)):
        info.exclusions.append(
            Exclusion(constraint, list(elements), list(operators), list(definitions))
        )
    for column, ref_table, ref_column in conn.execute(_FOREIGN_KEYS, {"t": relation}):
        info.foreign_keys[column] = (ref_table, ref_column)
    for columns_of, ref_table, ref_columns in conn.execute(
        _COMPOSITE_FOREIGN_KEYS, {"t": relation}
    ):
        info.composite_foreign_keys.append((list(columns_of), ref_table, list(ref_columns)))
    table_checks, domain_checks = [], []
    for name, definition, column in conn.execute(_CHECKS, (relation, relation)):
        if column is None:
            table_checks.append((name, definition))
        else:  # a domain's VALUE is the column
            domain_checks.append((name, _value_as(definition, column)))
    info.checks = read_checks(table_checks + domain_checks)
    kind = conn.execute("SELECT relkind FROM pg_class WHERE oid = %s::regclass", (relation,))
    row = kind.fetchone()
    info.partitioned = row is not None and row[0] == "p"
    if info.partitioned:
        bounds, info.notes, info.unshaped_keys = partition_facts(conn, relation)
        info.checks.merge(bounds)
    for column, facts in info.checks.columns.items():
        if facts.allowed is not None:
            info.allowed_values[column] = [str(v) for v in facts.allowed]
    return info


_FIELDS = """
SELECT a.attname, COALESCE(bt.typname, t.typname)
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type bt ON bt.oid = t.typbasetype AND t.typtype = 'd'
-- a domain's length, precision and scale are its base type's (varchar(8), numeric(12,2))
CROSS JOIN LATERAL (SELECT COALESCE(bt.oid, t.oid) AS oid,
                           CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END
                             AS typmod) AS value_type
WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""


def _fields(conn: psycopg.Connection[Any], composite_of: int) -> tuple[tuple[str, str], ...]:
    if not composite_of:
        return ()
    return tuple((str(n), str(t)) for n, t in conn.execute(_FIELDS, (composite_of,)).fetchall())


_NEXTVAL = re.compile(r"nextval\('((?:[^']|'')+)'(?:::regclass)?\)")

# the next value a sequence gives, its increment, its bounds and whether it cycles
_SEQUENCE_NEXT = """
SELECT COALESCE(pg_sequence_last_value(s.seqrelid) + s.seqincrement, s.seqstart), s.seqincrement,
       s.seqmin, s.seqmax, s.seqcycle
FROM pg_sequence s WHERE s.seqrelid = %s::regclass
"""


def _serial(conn: psycopg.Connection[Any], relation: str, column: ColumnInfo) -> dict[str, Any]:
    """`next_serial` and `serial_left` of a column a sequence numbers."""
    found = _next_serial(conn, relation, column)
    if found is None:
        return {"next_serial": None, "serial_left": None}
    start, increment, low, high, cycles = found
    left = (high - start) // increment + 1 if increment > 0 else (start - low) // -increment + 1
    return {"next_serial": (start, increment), "serial_left": None if cycles else max(left, 0)}


def _next_serial(
    conn: psycopg.Connection[Any], relation: str, column: ColumnInfo
) -> tuple[int, int, int, int, bool] | None:
    if column.is_identity:
        found = conn.execute(
            "SELECT pg_get_serial_sequence(%s, %s)", (relation, column.name)
        ).fetchone()
        sequence = found[0] if found else None
    else:
        named = _NEXTVAL.fullmatch((column.default_expr or "").strip())
        sequence = named.group(1).replace("''", "'") if named else None
    if sequence is None:
        return None
    row = conn.execute(_SEQUENCE_NEXT, (sequence,)).fetchone()
    return (int(row[0]), int(row[1]), int(row[2]), int(row[3]), bool(row[4])) if row else None


def mentions(expression: str, column: str) -> bool:
    """Whether `expression` names `column` (not inside a string: `payload ->> 'id'`)."""
    code = _STRING.sub("''", expression)
    return re.search(r'(?<![\w"])"?' + re.escape(column) + r'"?(?![\w"])', code) is not None


_STRING = re.compile(r"'(?:[^']|'')*'")


def _value_as(definition: str, column: str) -> str:
    """A domain CHECK with VALUE standing for `column`."""
    quoted = '"' + column.replace('"', '""') + '"'
    return re.sub(r"\bVALUE\b", quoted, definition)


def quoted_name(name: str) -> str:
    """A scenario's table name (`name`, `schema.name`, each part as spelled) as SQL text."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split("."))
