"""Values of types no plain generator makes, as SQL the rehearsal server evaluates into a
pool (`sql` generators); and the shapes of those types' text where a unique key needs
values that never repeat, which a pool cannot give."""

from __future__ import annotations

from pgrehearse.seed._catalog import ColumnInfo

_OCTET = "(1[0-9]{2}|2[0-4][0-9])"
# text patterns whose values a unique `pattern` numbers, so none repeats
UNIQUE_SHAPES = {
    "inet": rf"^{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}$",
    "cidr": rf"^{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}$",
    "macaddr": "^[0-9a-f]{2}(:[0-9a-f]{2}){5}$",
    "macaddr8": "^[0-9a-f]{2}(:[0-9a-f]{2}){7}$",
    "bytea": r"^\\x[0-9a-f]{64}$",  # 32 bytes, as a SHA-256 digest's, in bytea's hex input
}

# Expressions the server evaluates once per pool value; r1 and r2 are that value's own
# random numbers in [0, 1) (a sub-SELECT would be evaluated only once for the whole pool)
_SPOT = "point(random() * 100, random() * 100)"
_DAYS = "r1 * interval '4000 days'"
_HOURS = "interval '1 hour' + r2 * interval '3 days'"
_SERVER_EXPRESSIONS = {
    # random lengths, 16 to 128 bytes
    "bytea": "decode(repeat(md5(r1::text), 1 + (r2 * 7)::int), 'hex')",
    "point": "point(round((r1 * 360 - 180)::numeric, 5), round((r2 * 180 - 90)::numeric, 5))",
    "box": f"box({_SPOT}, {_SPOT})",
    "lseg": f"lseg({_SPOT}, {_SPOT})",
    "line": "line(point(r1, r2), point(2 + r2, 2 + r1))",
    "circle": f"circle({_SPOT}, random() * 10)",
    "polygon": f"polygon(box({_SPOT}, {_SPOT}))",
    "path": f"path(polygon(box({_SPOT}, {_SPOT})))",
    "macaddr": "substr(md5(r1::text), 1, 12)::macaddr",
    "macaddr8": "substr(md5(r1::text), 1, 16)::macaddr8",
    "tsquery": "(substr(md5(r1::text), 1, 6) || ' & ' || substr(md5(r2::text), 1, 6))::tsquery",
    "oid": "(16384 + r1 * 4000000000)::bigint::oid",  # above the system's own oids
    "pg_lsn": "(to_hex((r1 * 255)::int) || '/' || to_hex((r2 * 4e9)::bigint))::pg_lsn",
    "xid8": "(1000 + r1 * 1e9)::bigint::text::xid8",
    **{
        f"{kind}multirange": f"{kind}multirange({kind}range({low}, {low} + {length}))"
        for kind, (low, length) in {
            "int4": ("(r1 * 1e5)::int", "1 + (r2 * 100)::int"),
            "int8": ("(r1 * 1e5)::int8", "1 + (r2 * 100)::int8"),
            "num": ("round((r1 * 1e3)::numeric, 2)", "round((1 + r2 * 99)::numeric, 2)"),
            "date": ("date '2015-01-01' + (r1 * 4000)::int", "1 + (r2 * 30)::int"),
            "ts": (f"timestamp '2015-01-01' + {_DAYS}", _HOURS),
            "tstz": (f"timestamptz '2015-01-01 00:00+00' + {_DAYS}", _HOURS),
        }.items()
    },
}


# a composite type's fields, by their base type: each from the pool value's own r1/r2
_FIELD_EXPRESSIONS = {
    "text": "substr(md5(r1::text || '{name}'), 1, 10)",
    "varchar": "substr(md5(r1::text || '{name}'), 1, 10)",
    "bpchar": "substr(md5(r1::text || '{name}'), 1, 1)",
    "citext": "substr(md5(r1::text || '{name}'), 1, 10)",
    "int2": "(r1 * 1000)::int",
    "int4": "(r1 * 100000)::int",
    "int8": "(r1 * 100000)::bigint",
    "numeric": "round((r2 * 1000)::numeric, 2)",
    "float4": "r2 * 1000",
    "float8": "r2 * 1000",
    "bool": "r1 < 0.5",
    "date": "date '2015-01-01' + (r1 * 4000)::int",
    "timestamp": "timestamp '2015-01-01' + r2 * interval '4000 days'",
    "timestamptz": "timestamptz '2015-01-01 00:00:00+00' + r2 * interval '4000 days'",
    "uuid": "md5(r1::text || '{name}')::uuid",
}


def _composite(column: ColumnInfo) -> str | None:
    """`ROW(…)::type` with a value of each field's type (NULL for fields of other types)."""
    if not column.fields or column.is_array:
        return None
    values = [
        _FIELD_EXPRESSIONS.get(base, "NULL").format(name=name.replace("'", "''"))
        for name, base in column.fields
    ]
    return f"ROW({', '.join(values)})::{column.type_text}"


def server_expression(column: ColumnInfo) -> str | None:
    """A SQL expression the server turns into realistic values of a type no other
    generator makes."""
    if column.fields:
        return _composite(column)
    base = column.base_type
    if base in ("bit", "varbit"):
        bits = column.max_length or 8
        copies = bits // 128 + 1  # md5 gives 128 bits
        length = str(bits) if base == "bit" else f"1 + (r2 * {bits - 1})::int"
        return (
            f"substring(('x' || repeat(md5(r1::text), {copies}))::varbit "
            f"from 1 for {length})::{column.type_text}"
        )
    return _SERVER_EXPRESSIONS.get(base)


def bytes_between(shortest: int, longest: int) -> str:
    """bytea values of `shortest` to `longest` bytes (`CHECK (octet_length(hash) = 32)`)."""
    copies = longest // 16 + 1  # md5 gives 16 bytes
    return (
        f"substring(decode(repeat(md5(r1::text), {copies}), 'hex') "
        f"from 1 for {shortest} + floor(r2 * {longest - shortest + 1})::int)"
    )
