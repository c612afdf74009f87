"""Sensible generators for the columns a scenario does not mention: from the column's type,
its constraints (foreign keys, uniqueness, CHECKs, enums, domains) and its name."""

from __future__ import annotations

import datetime as dt
import math
import re
import string
from collections import Counter
from typing import Any, TypeVar

from pgrehearse.regex import python_regex
from pgrehearse.scenario import (
    ArrayColumn,
    BetweenColumn,
    BoolColumn,
    ChoiceColumn,
    ColumnSpec,
    FakerColumn,
    FloatColumn,
    IntColumn,
    PatternColumn,
    RangeColumn,
    RefColumn,
    SequenceColumn,
    SqlColumn,
    TextColumn,
    UuidColumn,
)
from pgrehearse.seed._catalog import ColumnInfo, TableInfo
from pgrehearse.seed._checks import ColumnFacts
from pgrehearse.seed._generators import GeneratorContext, faker_pool
from pgrehearse.seed._json_keys import json_object
from pgrehearse.seed._moment_bounds import WHOLE_DAY, moments_within
from pgrehearse.seed._names import (
    ADDRESS_PARTS,
    LONG_TEXT,
    NAMING_COLUMNS,
    PROVIDER_LENGTHS,
    RARELY_SET,
    RARELY_SET_NULLS,
    hinted_provider,
    integer_by_name,
    is_code,
    is_counter,
    is_creation_moment,
    is_flag,
    polymorphic_types,
    provider_in_table,
    snake_case,
    table_kind,
    text_labels,
    true_share,
)
from pgrehearse.seed._polymorphic import key_of
from pgrehearse.seed._server_values import UNIQUE_SHAPES, bytes_between, server_expression

_TEMPORAL_TYPES = {"date", "timestamp", "timestamptz"}
_INT_BOUNDS = {"int2": 32_767, "int4": 2_147_483_647, "int8": 9_223_372_036_854_775_807}

# an integer named as a moment (`created_at`, `available_at`, as Laravel's queue tables
# keep them) holds Unix seconds: 2015-01-01 to 2026-01-01
_MOMENT_NAME = re.compile(r"^(.*_)?(at|timestamp)$")
_EPOCH_SECONDS = (1_420_070_400, 1_767_225_600)


def infer_generator(
    column: ColumnInfo, info: TableInfo, catalog: dict[str, TableInfo], rows: int
) -> ColumnSpec | None:
    """A sensible generator from the column's type, constraints and name; None if unknown."""
    unique = column.name in info.unique
    foreign = info.foreign_keys.get(column.name)
    if foreign is not None:
        ref_table, ref_column = foreign
        target = catalog.get(ref_table)
        if target is not None and target.will_have_rows:
            return RefColumn(ref=f"{ref_table}.{ref_column}", unique=unique)
        return None
    if column.name in info.allowed_values:
        return ChoiceColumn(choice=info.allowed_values[column.name], unique=unique)
    models = polymorphic_types(
        column.name,
        info.columns,
        lambda: _most_referenced(catalog, info.name),
        column.max_length,
    )
    if models and column.category == "S" and not unique and not column.is_array:
        return ChoiceColumn(choice=models)
    if column.category == "S" and not unique and not column.is_array and not column.enum_labels:
        labelled = _labelled_text(column, info)
        if labelled is not None:
            return labelled
    if column.enum_labels:
        facts = info.checks.columns.get(column.name)
        excluded = (
            set(map(str, facts.not_equal)) if facts is not None and not column.is_array else set()
        )
        labels = [label for label in column.enum_labels if label not in excluded]  # `<> 'deleted'`
        spec: ColumnSpec = ChoiceColumn(choice=labels or list(column.enum_labels), unique=unique)
        return ArrayColumn(array=spec, length=(0, 3)) if column.is_array else spec
    facts = info.checks.columns.get(column.name)
    element = _infer_scalar(
        column,
        unique and not column.is_array,
        rows,
        info.name,
        info.unique_expressions.get(column.name),
        facts,
    )
    if element is None or not column.is_array:
        facts = info.checks.columns.get(column.name)
        if element is not None and _rarely_set(column) and not (facts and facts.not_null):
            element = element.model_copy(update={"null_fraction": RARELY_SET_NULLS})
        if element is None or facts is None:
            return element
        return honour_checks(element, facts, column.max_length, text=column.category == "S")
    return ArrayColumn(array=element, length=(0, 5))


def _labelled_text(column: ColumnInfo, info: TableInfo) -> ColumnSpec | None:
    """A status-like text column's few labels, or a `state` beside an address's columns as
    a state; None otherwise, and where a CHECK constrains the column (inference honours it)."""
    if column.name in info.checks.columns or column.base_type not in ("text", "varchar", "bpchar"):
        return None
    name = snake_case(column.name)
    if name == "state" and ADDRESS_PARTS & {snake_case(other) for other in info.columns}:
        limit = column.max_length
        if limit is None or limit >= 14:  # "South Carolina"
            return FakerColumn(faker="state")
        return FakerColumn(faker="state_abbr") if limit >= 2 else None
    if hinted_provider(name) is not None:  # `content_type` is a MIME type
        return None
    labels = text_labels(name, column.max_length)
    return ChoiceColumn(choice=labels) if labels else None


def _most_referenced(catalog: dict[str, TableInfo], table: str) -> list[str]:
    """The other tables that will have rows, the most referenced first: an application's
    main models (what a polymorphic reference most likely points at)."""
    referenced = Counter(
        target for other in catalog.values() for target, _ in other.foreign_keys.values()
    )
    others = [  # those a row can be referred to by a key of
        name
        for name, other in catalog.items()
        if other.will_have_rows and name != table and key_of(other) is not None
    ]
    return sorted(others, key=lambda name: (-referenced[name], name))


# a JSON array of 0-4 short tags, made by the server (`r1` is the pool row's random number)
def json_array(low: int = 0, high: int | None = None) -> str:
    """The server's SQL for JSON arrays of short tags, `low` to `high` of them (0-4 by
    default; at least `low`, and 4 more at most)."""
    top = min(high, max(low, 4)) if high is not None else max(low, 4)
    top = max(top, low)
    return (
        "(SELECT coalesce(jsonb_agg('tag' || floor(random() * 50)::int), '[]'::jsonb) "
        f"FROM generate_series(1, {low} + floor(r1 * {top - low + 1})::int))"
    )


_N = TypeVar("_N", int, float)


def _off_the_ends(low: _N, high: _N, excluded: list[Any], step: _N) -> tuple[_N, _N]:
    """A range without the values `CHECK (a <> 0)` excludes at its ends (an inferred range
    starts at 0); one inside it stays (the sample rows then show whether it is hit)."""
    while low < high and any(value == low for value in excluded):
        low += step
    while high > low and any(value == high for value in excluded):
        high -= step
    return low, high


def honour_checks(
    spec: ColumnSpec, facts: ColumnFacts, max_length: int | None = None, *, text: bool = False
) -> ColumnSpec:
    """`spec` narrowed to what the column's CHECK constraints allow (bounds, lengths, a
    regular expression); `max_length` is the column's own (varchar(n)), `text` whether
    it holds text (a unique one is numbered, and a pattern then numbers it instead)."""
    if (
        facts.case is not None
        and facts.pattern is None
        and isinstance(spec, TextColumn | FakerColumn)
    ):
        spec = _in_case(spec, facts, max_length)
    if facts.pattern is not None and (
        isinstance(spec, TextColumn | FakerColumn | PatternColumn)
        or (text and isinstance(spec, SequenceColumn))
    ):
        if isinstance(spec, FakerColumn) and _faker_matches(spec, facts.pattern):
            return spec  # an email column checked for an @: Faker's emails are realistic
        limits = [n for n in (max_length, facts.max_length) if n is not None]
        return PatternColumn(
            pattern=facts.pattern, unique=_unique_of(spec), longest=min(limits, default=None)
        )
    if isinstance(spec, IntColumn):
        low, high = spec.int_range
        if facts.low is not None and isinstance(facts.low.value, int | float):
            low = math.floor(facts.low.value) + (0 if facts.low.inclusive else 1)
        if facts.high is not None and isinstance(facts.high.value, int | float):
            high = math.ceil(facts.high.value) - (0 if facts.high.inclusive else 1)
        if facts.low is not None and facts.high is None and high < low:
            high = low + 100_000
        if facts.high is not None and facts.low is None and low > high:
            low = high - 100_000
        low, high = _off_the_ends(low, high, facts.not_equal, 1)
        return spec.model_copy(update={"int_range": (low, max(low, high))})
    if (
        isinstance(spec, SequenceColumn)
        and facts.low is not None
        and isinstance(facts.low.value, int | float)
    ):
        start = math.floor(facts.low.value) + (0 if facts.low.inclusive else 1)
        return spec.model_copy(update={"sequence": max(spec.sequence, start)})
    if isinstance(spec, FloatColumn):
        step = 10.0**-spec.decimals
        low_f, high_f = spec.float_range
        if facts.low is not None and isinstance(facts.low.value, int | float):
            low_f = facts.low.value + (0 if facts.low.inclusive else step)
        if facts.high is not None and isinstance(facts.high.value, int | float):
            high_f = facts.high.value - (0 if facts.high.inclusive else step)
        if high_f < low_f:
            high_f = low_f + 1_000 if facts.high is None else high_f
            low_f = high_f - 1_000 if facts.low is None else low_f
        low_f, high_f = _off_the_ends(low_f, high_f, facts.not_equal, step)
        return spec.model_copy(update={"float_range": (low_f, max(low_f, high_f))})
    if isinstance(spec, BetweenColumn):
        rising = {"distribution": "increasing"} if facts.rising and not spec.unique else {}
        return spec.model_copy(update={"between": moments_within(spec.between, facts), **rising})
    if (facts.min_length is not None or facts.max_length is not None) and isinstance(
        spec, TextColumn | FakerColumn
    ):
        return _within_lengths(spec, facts)
    return spec


def _within_lengths(spec: TextColumn | FakerColumn, facts: ColumnFacts) -> ColumnSpec:
    """Text as long as a CHECK allows. A limit is not a length: `char_length(body) <= 5000`
    keeps comments of a comment's length (inferred lengths cut to the CHECK's, Faker's values
    kept where they fit); only lengths the CHECK forbids are replaced."""
    shortest = max(facts.min_length or 0, 1)
    longest = facts.max_length
    if isinstance(spec, FakerColumn) and _faker_fits(spec, shortest, longest):
        return spec
    if isinstance(spec, TextColumn):
        low, high = max(spec.text[0], shortest), min(spec.text[1], longest or spec.text[1])
        if low <= high:
            return spec.model_copy(update={"text": (low, high)})
    top = longest if longest is not None else shortest + 30
    return TextColumn(text=(min(shortest, top), min(top, shortest + 200)), unique=_unique_of(spec))


def _faker_fits(spec: FakerColumn, shortest: int, longest: int | None) -> bool:
    room = 12 if spec.unique else 0  # a unique value gets its number woven in
    try:
        sample = faker_pool(spec.model_copy(update={"pool": 50}), GeneratorContext(0, "", "", 50))
    except ValueError:
        return False
    return all(
        shortest <= len(value) and (longest is None or len(value) + room <= longest)
        for value in sample
    )


def _in_case(spec: ColumnSpec, facts: ColumnFacts, max_length: int | None) -> ColumnSpec:
    """Text a CHECK wants in one case: Faker's values where they are (currency codes),
    else letters of that case, as long as the CHECK's lengths and the column allow."""
    upper = facts.case == "upper"
    letters = "A-Z" if upper else "a-z"
    other_case = "a-z" if upper else "A-Z"
    lengths = facts.min_length is not None or facts.max_length is not None
    if (
        isinstance(spec, FakerColumn)
        and not lengths
        and _faker_matches(spec, f"^[^{other_case}]*$")
    ):
        return spec
    longest = min(n for n in (facts.max_length, max_length, 12) if n is not None)
    shortest = min(max(facts.min_length or 1, 1), longest)
    unique = _unique_of(spec)
    return PatternColumn(pattern=f"^[{letters}]{{{shortest},{longest}}}$", unique=unique)


def _faker_matches(spec: FakerColumn, pattern: str) -> bool:
    """Whether a sample of the Faker provider's values all match the CHECK's expression, as
    a unique column holds them: with a number woven in (`anna.17@example.org`, `anna-17`)."""
    try:
        sample = faker_pool(spec.model_copy(update={"pool": 50}), GeneratorContext(0, "", "", 50))
        compiled = re.compile(python_regex(pattern))
    except (ValueError, re.error):
        return False
    if spec.unique:
        sample = [_as_numbered(value) for value in sample]
    return all(compiled.search(value) for value in sample)


def _as_numbered(value: str) -> str:
    local, at, domain = value.partition("@")
    return f"{local}.1234{at}{domain}" if at else f"{value}-1234"


def _unique_of(spec: ColumnSpec) -> bool:
    return bool(getattr(spec, "unique", False))


def _infer_scalar(
    column: ColumnInfo,
    unique: bool,
    rows: int,
    table: str = "",
    unique_expression: str | None = None,
    facts: ColumnFacts | None = None,
) -> ColumnSpec | None:
    base = column.base_type
    name = snake_case(column.name)
    if base in ("int2", "int4", "int8"):
        if unique:
            return SequenceColumn(sequence=1)
        if is_flag(name):
            return IntColumn.model_validate({"int": [0, 1]})
        if is_counter(name):  # most rows small, a few large
            return IntColumn.model_validate({"int": [0, 1_000], "distribution": "zipf"})
        if is_code(name):  # a status or a kind: a few small codes
            return IntColumn.model_validate({"int": [0, 5]})
        if (measure := integer_by_name(name)) is not None:
            return IntColumn.model_validate(measure)
        if base != "int2" and _MOMENT_NAME.match(name):  # a moment as Unix seconds
            return IntColumn.model_validate({"int": list(_EPOCH_SECONDS)})
        high = 1_000 if base == "int2" else (1_000_000 if name.endswith("_id") else 100_000)
        return IntColumn.model_validate({"int": [0, min(high, _INT_BOUNDS[base])]})
    if base == "char":  # the one-byte "char": a letter, as a code or a flag holds
        return ChoiceColumn(choice=list(string.ascii_lowercase), unique=unique)
    if unique and base in ("numeric", "money", "float4", "float8", "interval"):
        return SequenceColumn(sequence=1)  # distinct by construction (an interval's seconds)
    if base in ("numeric", "money"):
        scale = column.num_scale if column.num_scale is not None else 2
        digits = (column.num_precision or 12) - scale
        high = min(10 ** min(digits, 9) - 1, 10_000)
        return FloatColumn.model_validate({"float": [0, high], "decimals": min(scale, 6)})
    if base in ("float4", "float8"):
        return FloatColumn.model_validate({"float": [0, 1000], "decimals": 3})
    if base == "bool":
        if unique:  # a key of two rows at most: each value once
            return ChoiceColumn(choice=["true", "false"], unique=True)
        return BoolColumn.model_validate({"bool": true_share(name)})
    if base in _TEMPORAL_TYPES:
        bounds: tuple[Any, Any] = (
            (dt.date(2015, 1, 1), dt.date(2026, 1, 1))
            if base == "date"
            else (dt.datetime(2015, 1, 1), dt.datetime(2026, 1, 1))
        )
        distribution = "increasing" if is_creation_moment(name) else "uniform"
        return BetweenColumn(between=bounds, distribution=distribution, unique=unique)
    if base in ("time", "timetz"):
        return BetweenColumn(between=WHOLE_DAY, unique=unique)
    if base == "interval":
        return IntColumn.model_validate({"int": [1, 86_400]})
    if base == "uuid":
        return UuidColumn(uuid="v4")
    if base in ("json", "jsonb"):
        if facts is not None and facts.json_type == "array":  # 0-4 short tags, or as a CHECK says
            return SqlColumn(sql=json_array(*facts.items), pool=1_000)
        keys = facts.json_keys if facts is not None else ()
        return json_object(unique_expression, unique=unique, keys=keys)
    if unique and base in UNIQUE_SHAPES:  # a pool of the server's values would repeat
        return PatternColumn(pattern=UNIQUE_SHAPES[base], unique=True)
    if base in ("inet", "cidr"):
        return FakerColumn(faker="ipv4", unique=False)
    if base in ("tsvector", "xml"):
        return TextColumn(text=(20, 200))  # words are valid input to both
    if base in _RANGES:
        return RangeColumn.model_validate({**_RANGES[base], "unique": unique})
    if base in _TEXT_SHAPES:  # extension types whose text input has a known shape
        return PatternColumn(pattern=_TEXT_SHAPES[base], unique=unique)
    if base == "bytea" and facts is not None and not unique and facts.max_length is not None:
        shortest = min(max(facts.min_length or 0, 0), facts.max_length)
        return SqlColumn(sql=bytes_between(shortest, facts.max_length))
    if base == "bytea" and facts is not None and not unique and facts.min_length is not None:
        return SqlColumn(sql=bytes_between(facts.min_length, facts.min_length + 112))
    made_by_server = server_expression(column)
    if made_by_server is not None:
        return SqlColumn(sql=made_by_server)
    if base in ("text", "varchar", "bpchar", "citext", "name") or column.category == "S":
        return _infer_text(column, unique, table, rows)
    return None


_TEXT_SHAPES = {
    "ltree": r"^(top|shop|docs|teams|regions)\.[a-z]{3,8}\.[a-z]{3,8}$",
    "hstore": r'^"(color|size|brand|origin)"=>"[a-z]{3,8}", "(weight|rank)"=>"[0-9]{1,4}"$',
}

_RANGES: dict[str, dict[str, Any]] = {
    "int4range": {"range": [0, 100_000], "length": [1, 100]},
    "int8range": {"range": [0, 100_000], "length": [1, 100]},
    "numrange": {"range": [0.0, 1000.0], "length": [0.01, 100]},
    "daterange": {"range": [dt.date(2015, 1, 1), dt.date(2026, 1, 1)], "length": ["1d", "30d"]},
    "tsrange": {
        "range": [dt.datetime(2015, 1, 1), dt.datetime(2026, 1, 1)],
        "length": ["1h", "3d"],
    },
    "tstzrange": {
        "range": [dt.datetime(2015, 1, 1), dt.datetime(2026, 1, 1)],
        "length": ["1h", "3d"],
    },
}


def _rarely_set(column: ColumnInfo) -> bool:
    return (
        not column.not_null
        and column.base_type in _TEMPORAL_TYPES
        and RARELY_SET.match(snake_case(column.name)) is not None
    )


def _code(limit: int, rows: int) -> PatternColumn:
    """Unique short text (an airport's `char(3)`, a booking's `char(6)` reference): capital
    letters, with digits too where letters alone have too few values for the rows."""
    characters = "A-Z" if 26**limit >= rows else "A-Z0-9"
    return PatternColumn(pattern=f"^[{characters}]{{{limit}}}$", unique=True)


# Faker providers of codes of a few characters: ISO 4217, ISO 3166-1 alpha-2
_SHORT_CODES = {"currency_code": 3, "country_code": 2}

_PASSWORD_HASHES = {
    "encrypted_password", "password", "password_digest", "password_hash", "hashed_password",
}  # fmt: skip


def _infer_text(column: ColumnInfo, unique: bool, table: str = "", rows: int = 0) -> ColumnSpec:
    name = snake_case(column.name)
    limit = column.max_length
    in_context = table_kind(table) if name in NAMING_COLUMNS else provider_in_table(name, table)
    if in_context is not None and (limit is None or limit >= (30 if unique else 12)):
        return FakerColumn(faker=in_context, unique=unique)  # char(n) pads them
    if (name in ("id", "uuid", "guid") or name.endswith(("_uuid", "_guid"))) and (
        limit is None or limit >= 36
    ):  # a key the application makes (Prisma's, a UUID kept as text): UUID-shaped
        return UuidColumn(uuid="numbered" if unique else "v4")
    if unique and limit is not None and limit < 20:
        return _code(limit, rows)
    provider = hinted_provider(name)
    if provider in _SHORT_CODES and limit is not None and limit >= _SHORT_CODES[provider]:
        return FakerColumn(faker=provider)  # `currency char(3)`: ISO codes, not letters
    if column.base_type == "bpchar" and limit is not None and not unique:
        return TextColumn(text=(limit, limit), unique=False)
    if name in _PASSWORD_HASHES and not unique and (limit is None or limit >= 60):
        return PatternColumn(pattern=r"^\$2a\$12\$[./A-Za-z0-9]{53}$")  # bcrypt's shape
    digits = PROVIDER_LENGTHS.get(provider or "")
    if unique and digits is not None and (limit is None or limit >= digits):
        return PatternColumn(pattern=f"^[0-9a-f]{{{digits}}}$", unique=True)  # a unique hash
    room = max(PROVIDER_LENGTHS.get(provider or "", 0) + (12 if unique else 0), 12)
    if provider is not None and (limit is None or limit >= max(room, 30 if unique else 12)):
        args = {"text": "??-#####"} if provider == "bothify" else {}
        return FakerColumn(faker=provider, unique=unique, args=args)
    if unique:
        return TextColumn(text=(5, min(limit - 12, 30) if limit else 30), unique=True)
    if name in LONG_TEXT:
        return TextColumn(text=(20, min(limit or 200, 200)))
    top = min(limit or 40, 40)
    return TextColumn(text=(min(5, top), top))
