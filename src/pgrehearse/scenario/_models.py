"""The scenario file as typed, validated data (pydantic v2, unknown keys are errors).

This module is over 500 lines on purpose: it is the whole scenario format, one model per
section, in the order the README's format reference documents them.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from pgrehearse.errors import shown_path
from pgrehearse.regex import python_regex
from pgrehearse.scenario._durations import Duration
from pgrehearse.scenario._schema_source import SchemaPart, SchemaSource
from pgrehearse.tools import (
    PYTHON_TOOLS,
    Chain,
    FolderError,
    MigrationScript,
    build_chain,
    command_folder,
    read_folder,
    read_python_tool,
    with_variables,
)

SCENARIO_FORMAT_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --------------------------------------------------------------------------- SQL sources


class SqlSource(_Strict):
    """SQL given inline or as a file path relative to the scenario file.

    In YAML: a plain string ending in `.sql` (one line) is a file; any other string is SQL;
    `{file: path}` and `{sql: text}` say it explicitly.
    """

    file: Path | None = None
    sql: str | None = None

    _text: str = PrivateAttr(default="")
    _origin: Path | None = PrivateAttr(default=None)
    _first_line: int = PrivateAttr(default=1)
    _variables: tuple[tuple[str, str], ...] = PrivateAttr(default=())

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        if isinstance(value, str):
            stripped = value.strip()
            if stripped.endswith(".sql") and "\n" not in stripped and " " not in stripped:
                return {"file": stripped}
            return {"sql": value}
        return value

    @model_validator(mode="after")
    def _read(self, info: ValidationInfo) -> SqlSource:
        if (self.file is None) == (self.sql is None):
            raise ValueError("give exactly one of `file` and `sql`")
        if self.sql is not None:
            self._text = self.sql
            return self
        assert self.file is not None
        base = Path((info.context or {}).get("base_dir", "."))
        path = self.file if self.file.is_absolute() else base / self.file
        if not path.is_file():
            raise ValueError(f"SQL file not found: {shown_path(path)}")
        try:
            self._text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read SQL file {shown_path(path)}: {exc}") from exc
        self._origin = path
        return self

    @property
    def text(self) -> str:
        return self._text

    @property
    def origin(self) -> Path | None:
        """The file the SQL came from; None when inline (then it lives in the scenario)."""
        return self._origin

    @property
    def first_line(self) -> int:
        """Line, in `origin` or the scenario file, where the SQL text starts."""
        return self._first_line

    @property
    def variables(self) -> tuple[tuple[str, str], ...]:
        """psql's variables set before it runs (`migration.variables`)."""
        return self._variables

    def locate_inline(self, scenario_file: Path, first_line: int) -> None:
        """Anchor inline SQL at its line in the scenario file (set by the loader)."""
        if self._origin is None:
            self._origin = scenario_file
            self._first_line = first_line


# --------------------------------------------------------------------------- generators

Distribution = Literal["uniform", "normal", "lognormal", "zipf"]


class _GeneratorBase(_Strict):
    null_fraction: float = Field(default=0.0, ge=0.0, le=1.0)

    @property
    def kind(self) -> str:
        return GENERATOR_NAMES[type(self)]

    def written(self) -> dict[str, Any]:
        """The generator as a scenario would write it: its kind's key first and always
        (`{sequence: 1}`, not `{}`), then what differs from the defaults."""
        shown = self.model_dump(mode="json", exclude_defaults=True, by_alias=True)
        if self.kind not in shown:
            shown[self.kind] = self.model_dump(mode="json", by_alias=True).get(self.kind)
        return {self.kind: shown.pop(self.kind), **shown}  # the kind first, as one writes it


class _Distributed(_GeneratorBase):
    """Shared distribution options of numeric generators."""

    distribution: Distribution = "uniform"
    mean: float | None = None  # normal: centre (default: middle of the range)
    stddev: float | None = Field(default=None, gt=0)  # normal (default: range / 6)
    median: float | None = None  # lognormal: median (default: low + range / 10)
    sigma: float = Field(default=1.0, gt=0)  # lognormal: spread of the underlying normal
    skew: float = Field(default=1.1, gt=0)  # zipf: exponent; the low end is the hot end

    @model_validator(mode="after")
    def _options_fit_distribution(self) -> _Distributed:
        used = {
            "mean": self.mean is not None,
            "stddev": self.stddev is not None,
            "median": self.median is not None,
        }
        allowed = {
            "uniform": set(),
            "normal": {"mean", "stddev"},
            "lognormal": {"median"},
            "zipf": set(),
        }[self.distribution]
        stray = [name for name, given in used.items() if given and name not in allowed]
        if stray:
            raise ValueError(
                f"{', '.join(stray)} does not apply to distribution {self.distribution!r}"
            )
        return self


class FakerColumn(_GeneratorBase):
    """Values from a Faker provider, drawn from a pool built once (`pool` values)."""

    faker: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    args: dict[str, Any] = Field(default_factory=dict)
    locale: str | None = None
    pool: int = Field(default=5_000, ge=1, le=1_000_000)
    unique: bool = False

    @field_validator("faker")
    @classmethod
    def _provider_exists(cls, value: str) -> str:
        from pgrehearse.scenario._faker_names import faker_providers

        providers = faker_providers()
        if value not in providers:
            import difflib

            close = difflib.get_close_matches(value, providers, n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ValueError(f"Faker has no provider named {value!r}{hint}")
        return value


class IntColumn(_Distributed):
    """Integers in the inclusive range `[low, high]`; with `earlier`, row i's value is one
    of low..low+i-1, the key an earlier row of a table numbered from `low` holds (a tree's
    parent): the first row, and a `null_fraction` of the others, are roots (NULL)."""

    int_range: tuple[int, int] = Field(alias="int")
    unique: bool = False
    earlier: bool = False

    @model_validator(mode="after")
    def _earlier_alone(self) -> IntColumn:
        if self.earlier and (self.unique or self.distribution != "uniform"):
            raise ValueError("`earlier` goes with neither `unique` nor a `distribution`")
        return self

    @field_validator("int_range")
    @classmethod
    def _ordered(cls, value: tuple[int, int]) -> tuple[int, int]:
        if value[0] > value[1]:
            raise ValueError(f"the range [{value[0]}, {value[1]}] is empty: write [low, high]")
        return value


class FloatColumn(_Distributed):
    """Numbers in `[low, high]`, rounded to `decimals` places (numeric, real, double)."""

    float_range: tuple[float, float] = Field(alias="float")
    decimals: int = Field(default=2, ge=0, le=6)

    @field_validator("float_range")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if value[0] > value[1]:
            raise ValueError(f"the range [{value[0]}, {value[1]}] is empty: write [low, high]")
        return value


class SequenceColumn(_GeneratorBase):
    """Consecutive integers: `start`, `start + step`, ... (explicit ids)."""

    sequence: int = 1
    step: int = Field(default=1, ge=1)


class ChoiceColumn(_GeneratorBase):
    """Weighted choice: `{paid: 0.7, pending: 0.3}`, or a list for equal weights."""

    choice: dict[str, float] | list[Any]
    unique: bool = False

    @field_validator("choice")
    @classmethod
    def _not_empty(cls, value: dict[str, float] | list[Any]) -> dict[str, float] | list[Any]:
        if not value:
            raise ValueError("a choice needs at least one value")
        if isinstance(value, dict):
            if any(weight < 0 for weight in value.values()):
                raise ValueError("choice weights cannot be negative")
            if sum(value.values()) <= 0:
                raise ValueError("choice weights must add up to more than 0")
        return value


class BoolColumn(_GeneratorBase):
    """Booleans, true with probability `bool`."""

    bool_probability: float = Field(alias="bool", ge=0.0, le=1.0)


def _text_times_as_datetimes(value: Any) -> Any:
    """`"2024-01-01T00:00:00"` given as text (JSON, Python) is a timestamp at midnight, not a
    date: pydantic would take the first type of the union that accepts it. `"08:30"` is a
    time of day."""
    if isinstance(value, list | tuple):
        return [_text_moment(v) for v in value]
    return value


def _text_moment(value: Any) -> Any:
    if isinstance(value, str) and len(value.strip()) > 10:
        return dt.datetime.fromisoformat(value)
    if isinstance(value, str) and _TIME_OF_DAY.fullmatch(value.strip()):
        return dt.time.fromisoformat(value.strip())
    return value


_TIME_OF_DAY = re.compile(r"\d{2}:\d{2}(:\d{2}(\.\d+)?)?")


class BetweenColumn(_GeneratorBase):
    """Dates, timestamps or times of day between two bounds: uniform, normal (around the
    middle), or `increasing` with the row number (created_at grows with id)."""

    between: tuple[dt.date | dt.datetime | dt.time, dt.date | dt.datetime | dt.time]
    distribution: Literal["uniform", "normal", "increasing"] = "uniform"
    unique: bool = False

    @field_validator("between", mode="before")
    @classmethod
    def _times_stay_times(cls, value: Any) -> Any:
        return _text_times_as_datetimes(value)

    @field_validator("between")
    @classmethod
    def _ordered(
        cls, value: tuple[dt.date | dt.datetime | dt.time, dt.date | dt.datetime | dt.time]
    ) -> tuple[dt.date | dt.datetime | dt.time, dt.date | dt.datetime | dt.time]:
        if sum(isinstance(v, dt.time) for v in value) == 1:
            raise ValueError("`between` takes two times of day, or two dates or timestamps")
        low, high = (moment_seconds(v) for v in value)
        if low > high:
            raise ValueError("the first bound of `between` must not be after the second")
        return value

    @property
    def times_of_day(self) -> bool:
        return isinstance(self.between[0], dt.time)


class AfterColumn(_GeneratorBase):
    """A date or timestamp no earlier than another column of the same row, by a gap drawn
    uniformly from `[min_gap, within]`: `{after: created_at, within: 30d}`."""

    after: str = Field(min_length=1)
    within: Duration = 30 * 86_400.0
    min_gap: Duration = 0.0

    @model_validator(mode="after")
    def _gap_fits(self) -> AfterColumn:
        if self.min_gap > self.within:
            raise ValueError("min_gap must not exceed within")
        return self


class ConstantColumn(_GeneratorBase):
    """The same value in every row."""

    value: Any


class SqlColumn(_GeneratorBase):
    """Values a SQL expression makes on the rehearsal server: a pool of `pool` of them is
    built once (random() seeded from data.seed, so the same seed gives the same pool) and
    sampled per row. For types no other generator makes: `{sql: "point(random(), random())"}`.
    """

    sql: str = Field(min_length=1, max_length=10_000)
    pool: int = Field(default=2_000, ge=1, le=1_000_000)


class TextColumn(_GeneratorBase):
    """Lorem-ipsum words, `text: [min_length, max_length]` characters long."""

    text: tuple[int, int]
    distribution: Literal["uniform", "normal"] = "uniform"
    unique: bool = False

    @field_validator("text")
    @classmethod
    def _lengths(cls, value: tuple[int, int]) -> tuple[int, int]:
        if value[0] < 0 or value[0] > value[1]:
            raise ValueError("write text: [min_length, max_length] with 0 <= min <= max")
        if value[1] > 1_000_000:
            raise ValueError("text longer than 1,000,000 characters is not supported")
        return value


class PatternColumn(_GeneratorBase):
    """Text that matches a regular expression (PostgreSQL's syntax, as a CHECK writes it):
    `pattern: '^[A-Z]{3}-[0-9]{4}$'`. A pool of matching values is made once and sampled;
    `unique: true` makes as many distinct values as rows."""

    pattern: str = Field(min_length=1, max_length=1_000)
    unique: bool = False
    longest: int | None = Field(default=None, ge=1)  # characters (a varchar(n), a length CHECK)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(python_regex(value))
        except re.error as exc:
            raise ValueError(
                f"not a regular expression pgrehearse can make values for: {exc}"
            ) from None
        return value


class UuidColumn(_GeneratorBase):
    """Version-4 UUIDs: `v4` random (unique for all practical purposes); `numbered` made
    from the row's number, distinct by construction and known before the row exists;
    with `of: table.column` (a `numbered` key of the same table), the key of an earlier
    row: a tree's parent, the first row its own."""

    uuid: Literal["v4", "numbered"]
    of: str | None = Field(default=None, pattern=r"^[^.]+(\.[^.]+)*\.[^.]+$")

    @model_validator(mode="after")
    def _of_is_numbered(self) -> UuidColumn:
        if self.of is not None and self.uuid != "numbered":
            raise ValueError("`of` goes with uuid: numbered")
        return self


class JsonColumn(_GeneratorBase):
    """A JSON object whose keys are filled by generators: `{json: {id: {int: [1, 9]}}}`."""

    json_object: dict[str, ColumnSpec] = Field(alias="json")

    def written(self) -> dict[str, Any]:
        return {**super().written(), "json": {k: v.written() for k, v in self.json_object.items()}}


class ArrayColumn(_GeneratorBase):
    """A PostgreSQL array of `length: [min, max]` elements made by another generator."""

    array: ColumnSpec
    length: tuple[int, int] = (0, 5)

    def written(self) -> dict[str, Any]:
        return {**super().written(), "array": self.array.written()}

    @field_validator("length")
    @classmethod
    def _lengths(cls, value: tuple[int, int]) -> tuple[int, int]:
        if value[0] < 0 or value[0] > value[1] or value[1] > 10_000:
            raise ValueError("write length: [min, max] with 0 <= min <= max <= 10000")
        return value


RangePoint = int | float | dt.date | dt.datetime


class RangeColumn(_GeneratorBase):
    """Ranges (int4range, int8range, numrange, daterange, tsrange, tstzrange) that start
    between two bounds and are `length` long: `{range: [2024-01-01, 2025-01-01], length:
    [1h, 3d]}`. Lengths are numbers for number ranges, durations for dates (whole days) and
    timestamps (whole seconds). `disjoint: true` (or `unique: true`) gives each row a slot of
    its own, so that no two rows' ranges overlap (what `EXCLUDE … WITH &&` asks)."""

    starts: tuple[RangePoint, RangePoint] = Field(alias="range")
    length: tuple[Duration, Duration] = (1.0, 100.0)
    disjoint: bool = False
    unique: bool = False

    @field_validator("starts", mode="before")
    @classmethod
    def _times_stay_times(cls, value: Any) -> Any:
        return _text_times_as_datetimes(value)

    @model_validator(mode="after")
    def _consistent(self) -> RangeColumn:
        low, high = self.starts
        moments = [isinstance(v, dt.date) for v in (low, high)]
        if moments[0] != moments[1]:
            raise ValueError("write range: [low, high] as two numbers, or two dates/timestamps")
        if (as_datetime(low) > as_datetime(high)) if moments[0] else (low > high):  # type: ignore[arg-type, operator]
            raise ValueError("the first bound of `range` must not be after the second")
        if self.length[0] > self.length[1]:
            raise ValueError("write length: [min, max] with min <= max")
        return self

    @property
    def separate(self) -> bool:
        """Whether no two rows' ranges may overlap."""
        return self.disjoint or self.unique


# [schema.]table.column, each part as spelled: a quoted name may hold spaces, not dots
_REF_PATTERN = r"^[^.]+(\.[^.]+){1,2}$"


class RefColumn(_GeneratorBase):
    """A valid reference to `table.column` of another seeded table (a foreign key)."""

    ref: str = Field(pattern=_REF_PATTERN)
    distribution: Literal["uniform", "zipf"] = "uniform"
    skew: float = Field(default=1.1, gt=0)
    unique: bool = False  # one-to-one: each referenced key at most once
    # shares of the rows that point at the most referenced keys, busiest first; the other
    # rows spread over the other keys by `distribution` (`pgrehearse profile` writes these)
    hot: list[float] = Field(default_factory=list, max_length=10_000)
    # pg_stats' n_distinct of the column (negative: a fraction of the rows): the other
    # rows then spread evenly over as many keys as make ANALYZE find that many
    distinct: float | None = Field(default=None, allow_inf_nan=False)
    # another column of the row this one never equals (`CHECK (from_account <> to_account)`)
    differs_from: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _hot_shares(self) -> RefColumn:
        if any(share < 0 for share in self.hot) or sum(self.hot) > 1.0 + 1e-6:
            raise ValueError("hot shares are fractions of the rows: each >= 0, 1 at most in all")
        if self.hot and self.unique:
            raise ValueError("hot keys are referenced many times: they do not go with unique")
        return self

    @property
    def table(self) -> str:
        return self.ref.rsplit(".", 1)[0]

    @property
    def column(self) -> str:
        return self.ref.rsplit(".", 1)[1]


class RefsByColumn(_GeneratorBase):
    """A reference to one of several tables: the one the row's `by` column names. A
    polymorphic reference, as Rails and Laravel write them: `commentable_id` keyed by
    `commentable_type`, `{refs: {Post: posts.id, Photo: photos.id}, by: commentable_type}`.
    A row whose `by` is none of the `refs` keys gets NULL."""

    refs: dict[str, Annotated[str, Field(pattern=_REF_PATTERN)]] = Field(min_length=1)
    by: str = Field(min_length=1)

    @property
    def targets(self) -> list[RefColumn]:
        """Each referenced `table.column`, as a plain reference."""
        return [RefColumn(ref=ref) for ref in dict.fromkeys(self.refs.values())]


EmpiricalKind = Literal["number", "date", "moment", "text", "value"]


class EmpiricalColumn(_GeneratorBase):
    """Values spread as a production column's statistics say (`pgrehearse profile` writes
    these from `pg_stats`): the most common `values` with their `freqs` (shares of all
    rows, NULLs included, as pg_stats gives them), and the other values spread evenly over
    the `histogram` buckets, `distinct` of them in all (negative: a fraction of the rows,
    so it grows with the scale; positive: a count). `correlation` near 1 or -1 makes
    values rise or fall with insertion order. How values between two bounds are made is
    the `empirical` kind: `number` (`decimals` places), `date`, `moment` (timestamps),
    `text` (`like` a Faker provider, about `width` characters), or `value` (the bounds
    themselves, for enums, booleans and other types).
    """

    empirical: EmpiricalKind
    values: list[Any] = Field(default_factory=list)
    freqs: list[float] = Field(default_factory=list)
    histogram: list[Any] = Field(default_factory=list)
    distinct: float = Field(default=-1.0, allow_inf_nan=False)
    correlation: float = Field(default=0.0, ge=-1.0, le=1.0)
    decimals: int = Field(default=0, ge=0, le=6)
    width: int = Field(default=8, ge=1, le=100_000)
    like: str = Field(default="word", pattern=r"^[a-z_][a-z0-9_]*$")
    unique: bool = False  # text only: every value numbered, each row its own

    @model_validator(mode="after")
    def _consistent(self) -> EmpiricalColumn:
        if self.unique and (self.empirical != "text" or self.values):
            raise ValueError(
                "unique works with `empirical: text` and no common values; leave a unique "
                "column of another type to inference"
            )
        if len(self.values) != len(self.freqs):
            raise ValueError(
                f"{len(self.values)} values but {len(self.freqs)} freqs: give one freq per value"
            )
        if any(f < 0 for f in self.freqs) or sum(self.freqs) + self.null_fraction > 1.001:
            raise ValueError("freqs (and null_fraction) are shares of the rows: 0 to 1 in all")
        if len(self.histogram) == 1:
            raise ValueError("a histogram needs at least two bounds")
        if not self.values and not self.histogram and self.empirical != "text":
            raise ValueError("give the most common values, a histogram, or both")
        if self.distinct == 0 or self.distinct < -1:
            raise ValueError("distinct is a count above 0, or a fraction of rows in [-1, 0)")
        return self


GENERATOR_KEYS: dict[str, type[_GeneratorBase]] = {
    "faker": FakerColumn,
    "int": IntColumn,
    "float": FloatColumn,
    "sequence": SequenceColumn,
    "choice": ChoiceColumn,
    "bool": BoolColumn,
    "between": BetweenColumn,
    "after": AfterColumn,
    "value": ConstantColumn,
    "text": TextColumn,
    "uuid": UuidColumn,
    "json": JsonColumn,
    "array": ArrayColumn,
    "ref": RefColumn,
    "refs": RefsByColumn,
    "sql": SqlColumn,
    "range": RangeColumn,
    "pattern": PatternColumn,
    "empirical": EmpiricalColumn,
}
GENERATOR_NAMES = {model: key for key, model in GENERATOR_KEYS.items()}


def _generator_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return next((k for k, m in GENERATOR_KEYS.items() if type(value) is m), None)
    if isinstance(value, dict):
        present = [key for key in GENERATOR_KEYS if key in value]
        if len(present) == 1:
            return present[0]
    return None


ColumnSpec = Annotated[
    Annotated[FakerColumn, Tag("faker")]
    | Annotated[IntColumn, Tag("int")]
    | Annotated[FloatColumn, Tag("float")]
    | Annotated[SequenceColumn, Tag("sequence")]
    | Annotated[ChoiceColumn, Tag("choice")]
    | Annotated[BoolColumn, Tag("bool")]
    | Annotated[BetweenColumn, Tag("between")]
    | Annotated[AfterColumn, Tag("after")]
    | Annotated[ConstantColumn, Tag("value")]
    | Annotated[TextColumn, Tag("text")]
    | Annotated[UuidColumn, Tag("uuid")]
    | Annotated[JsonColumn, Tag("json")]
    | Annotated[ArrayColumn, Tag("array")]
    | Annotated[RefColumn, Tag("ref")]
    | Annotated[RefsByColumn, Tag("refs")]
    | Annotated[SqlColumn, Tag("sql")]
    | Annotated[RangeColumn, Tag("range")]
    | Annotated[PatternColumn, Tag("pattern")]
    | Annotated[EmpiricalColumn, Tag("empirical")],
    Discriminator(
        _generator_kind,
        custom_error_type="generator_kind",
        custom_error_message=(
            "a column generator needs exactly one of: " + ", ".join(GENERATOR_KEYS)
        ),
    ),
]

JsonColumn.model_rebuild()
ArrayColumn.model_rebuild()


def moment_seconds(value: dt.date | dt.datetime | dt.time) -> int:
    """Seconds since the epoch (a date or timestamp) or since midnight (a time of day)."""
    if isinstance(value, dt.time):
        return value.hour * 3600 + value.minute * 60 + value.second
    return int(as_datetime(value).timestamp())


def time_of_day(seconds: int) -> dt.time:
    return dt.time(seconds // 3600, seconds // 60 % 60, seconds % 60)


def as_datetime(value: dt.date | dt.datetime) -> dt.datetime:
    """A date or naive timestamp as an aware UTC timestamp."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)


# --------------------------------------------------------------------------- sections


class PostgresSpec(_Strict):
    """Which PostgreSQL to rehearse on and with which server settings."""

    version: int | None = Field(default=None, ge=14, le=18)  # supported majors
    bin_dir: Path | None = None
    settings: dict[str, str | int | float | bool] = Field(default_factory=dict)


class TableSpec(_Strict):
    rows: int = Field(ge=0, le=10_000_000_000)
    columns: dict[str, ColumnSpec] = Field(default_factory=dict)


class DataSpec(_Strict):
    seed: int = 0
    scale: float = Field(default=1.0, gt=0, le=1000, allow_inf_nan=False)
    # profile.json written by `pgrehearse profile`: the clone's statistics are compared
    # with it after seeding (relative to the scenario file)
    profile: Path | None = None
    tables: dict[str, TableSpec] = Field(default_factory=dict)

    def unseeded_refs(self) -> list[tuple[str, str, str]]:
        """(table, column, ref) of every ref to a table that is not seeded."""
        return [
            (table_name, column_name, column.ref)
            for table_name, table in self.tables.items()
            for column_name, column in table.columns.items()
            if isinstance(column, RefColumn) and column.table not in self.tables
        ]


TransactionMode = Literal["file", "statement", "none"]


class RoundtripIgnore(_Strict):
    object: str = Field(min_length=1)  # fnmatch pattern over "kind name", e.g. "type mood"
    reason: str = Field(min_length=3)


class RoundtripSpec(_Strict):
    """How strictly the down migration must restore the database."""

    mode: Literal["exact", "strict", "schema", "skip"] = "exact"
    ignore: list[RoundtripIgnore] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"mode": value} if isinstance(value, str) else value


LockBudgetKey = Literal[
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
    "conflicting",
]
ErrorClass = Literal[
    "lock_timeout",
    "statement_timeout",
    "deadlock",
    "serialization",
    "undefined",
    "breaks_app",
    "other",
]


class BudgetsSpec(_Strict):
    """Limits; a rehearsal that exceeds one fails (exit code 1)."""

    max_lock_ms: dict[LockBudgetKey, float] | None = None  # longest hold per mode
    max_wait_ms: float | None = Field(default=None, ge=0)  # longest wait of a load query
    max_p99_ms: float | None = Field(default=None, ge=0)  # load p99 during up/down
    max_p99_ratio: float | None = Field(default=None, gt=0)  # ... relative to the baseline
    max_errors: int | dict[ErrorClass, int] | None = None  # load errors, in all or per class
    max_migration_s: Duration | None = None  # duration of the up migration
    no_rewrite: list[str] | None = None  # tables up must not rewrite
    roundtrip: bool = True  # the down migration must restore the database
    # measured: judge what this rehearsal measured; predicted: judge lock holds, load
    # waits and the up phase as predicted at `predict.at` from rehearsals at `predict.scales`
    at: Literal["measured", "predicted"] = "measured"


class PredictSpec(_Strict):
    """Rehearse at several data sizes and predict at a larger one (`run --scales`)."""

    scales: list[float] = Field(min_length=3, max_length=12)
    at: float | dict[str, int] = 1.0  # a scale of the scenario's rows, or rows per table

    @field_validator("scales")
    @classmethod
    def _distinct_positive(cls, scales: list[float]) -> list[float]:
        if any(not 0 < s <= 1000 for s in scales):
            raise ValueError("every scale must be above 0 and at most 1000")
        if len(set(scales)) != len(scales):
            raise ValueError("scales must be distinct")
        return sorted(scales)

    @field_validator("at")
    @classmethod
    def _positive_target(cls, at: float | dict[str, int]) -> float | dict[str, int]:
        values = list(at.values()) if isinstance(at, dict) else [at]
        if not values or any(v <= 0 for v in values):
            raise ValueError("the size to predict at must be above 0")
        return at


class ObserveSpec(_Strict):
    """How closely the migration is watched."""

    sample_interval: Duration = Field(default=0.010, gt=0, le=10)
    trace: bool = True  # per-statement lock and rewrite tracing of the migration session


MigrationTool = Literal[
    "auto",
    "golang-migrate",
    "goose",
    "dbmate",
    "flyway",
    "dirs",
    "prisma",
    "popx",
    "sqitch",
    "sql-migrate",
    "tern",
    "yoyo",
    "liquibase",
    "node-pg-migrate",
    "postgrator",
    "db-migrate",
    "play",
    "mybatis",
    "rambler",
    "shmig",
    "sql-files",
    "alembic",
    "django",
]


class CommandSpec(_Strict):
    """A migration run by a command of the team's own (`make migrate-up`), with
    `DATABASE_URL` and `PG*` naming the throwaway database."""

    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")  # in a list
    up: str = Field(min_length=1)
    down: str | None = None
    cwd: Path | None = None  # relative to the scenario; default: the scenario's folder


def _folder(base: Path, path: Path | None) -> Path:
    """A folder the scenario names, relative to the scenario's own (default: that one)."""
    if path is None:
        return base
    return path if path.is_absolute() else base / path


def _psql_value(value: Any) -> str:
    """A YAML value as psql's text (`true`, not Python's `True`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class MigrationSpec(_Strict):
    """The migration: `up`/`down` SQL, or a migration tool's folder (`dir`, `tool`, and
    `from`/`to` versions: migrations up to `from` are part of the schema, those after it
    up to `to` are rehearsed, ups in order and downs in reverse)."""

    up: SqlSource | None = None
    down: SqlSource | None = None
    # what the application writes after up, in the new shape: the down must keep it
    between: SqlSource | None = None
    tool: MigrationTool | None = None
    dir: Path | None = None
    settings: str | None = None  # Django's settings module (default: the one manage.py names)
    command: CommandSpec | list[CommandSpec] | None = None  # a list: one step each
    from_version: str | None = Field(default=None, alias="from")
    to: str | None = None
    on_failure: Literal["rollback", "stop"] = "rollback"  # a chain's up failed: run the
    # downs of the migrations applied before it, or stop there
    transaction: TransactionMode = "file"
    lock_timeout: Duration | None = None
    statement_timeout: Duration | None = None
    retries: int = Field(default=0, ge=0, le=100)  # after a lock_timeout failure
    retry_backoff: Duration = Field(default=1.0, ge=0)  # first pause; doubles each retry
    # psql's variables for the migration's SQL, as `psql -v name=value` sets them (over a
    # tool's own: sqitch.conf's)
    variables: dict[str, str] = Field(default_factory=dict)

    _chain: Chain | None = PrivateAttr(default=None)

    @field_validator("variables", mode="before")
    @classmethod
    def _variable_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): _psql_value(v) for k, v in value.items()}
        return value

    @field_validator("from_version", "to", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @model_validator(mode="after")
    def _one_source(self, info: ValidationInfo) -> MigrationSpec:
        sources = [self.up is not None, self.dir is not None, self.command is not None]
        if sum(sources) != 1:
            raise ValueError(
                "give `up` (and `down`), a migration tool's folder as `dir`, or a `command`"
            )
        base = Path((info.context or {}).get("base_dir", "."))
        given = tuple(self.variables.items())
        for source in (self.up, self.down, self.between):
            if source is not None:
                source._variables = given
        if self.command is not None:
            if self.tool or self.down is not None or self.settings:
                raise ValueError("`command` takes its own `up` and `down`: remove the others")
            origin = Path((info.context or {}).get("path", base / "scenario.yaml"))
            steps = self.command if isinstance(self.command, list) else [self.command]
            if isinstance(self.command, list) and not all(step.name for step in steps):
                raise ValueError("each step of a `command` list needs a `name`")
            try:
                found = command_folder(
                    [
                        (step.name or "command", step.up, step.down, _folder(base, step.cwd))
                        for step in steps
                    ],
                    origin,
                )
                self._chain = build_chain(found, self.from_version, self.to)
            except FolderError as exc:
                raise ValueError(str(exc)) from None
            return self
        if self.dir is None:
            if self.tool or self.from_version or self.to or self.settings:
                raise ValueError("`tool`, `settings`, `from` and `to` go with `dir`")
            return self
        if self.down is not None:
            raise ValueError("with `dir`, the downs come from the folder: remove `down`")
        if self.settings and self.tool != "django":
            raise ValueError("`settings` is Django's settings module: it goes with `tool: django`")
        folder = self.dir if self.dir.is_absolute() else base / self.dir
        try:
            if self.tool in PYTHON_TOOLS:
                found = read_python_tool(folder.resolve(), self.tool, self.settings)
            else:
                found = with_variables(read_folder(folder, self.tool or "auto"), given)
            self._chain = build_chain(found, self.from_version, self.to)
        except FolderError as exc:
            raise ValueError(str(exc)) from None
        return self

    @property
    def chain(self) -> Chain | None:
        """The migrations read from `dir`, when the migration is a tool's folder."""
        return self._chain

    @property
    def runs_itself(self) -> bool:
        """Alembic, Django or a command runs the migration, not pgrehearse."""
        return self._chain is not None and self._chain.runs_itself

    @property
    def up_script(self) -> SqlSource | MigrationScript:
        if self._chain is not None:
            return self._chain.up
        assert self.up is not None
        return self.up

    @property
    def down_script(self) -> SqlSource | MigrationScript | None:
        return self._chain.down if self._chain is not None else self.down

    @property
    def no_down_reason(self) -> str | None:
        """Why there is no down to run: the scenario gives none, or the tool wrote none."""
        if self._chain is not None:
            return self._chain.down_missing
        return None if self.down is not None else "the scenario has no down migration"


class TransactionSpec(_Strict):
    """One kind of application transaction: SQL with `:name` parameters, or a pgbench
    script file."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    weight: float = Field(default=1.0, gt=0)
    sql: str | list[str] | None = None
    pgbench: Path | None = None
    params: dict[str, ColumnSpec] = Field(default_factory=dict)
    # `up`: the new application's transaction, in the new shape: it runs from the end of up
    # to the start of down, and the rows it inserts must survive down
    after: Literal["up"] | None = None

    @model_validator(mode="after")
    def _one_source(self, info: ValidationInfo) -> TransactionSpec:
        if (self.sql is None) == (self.pgbench is None):
            raise ValueError(f"transaction {self.name!r}: give exactly one of `sql` and `pgbench`")
        if self.pgbench is not None and not self.pgbench.is_absolute():
            base = Path((info.context or {}).get("base_dir", "."))
            object.__setattr__(self, "pgbench", base / self.pgbench)
        if self.pgbench is not None and not self.pgbench.is_file():
            raise ValueError(f"pgbench script not found: {self.pgbench}")
        return self

    @property
    def statements(self) -> list[str]:
        if self.sql is None:
            return []
        return [self.sql] if isinstance(self.sql, str) else list(self.sql)


class BlockerSpec(_Strict):
    """A session that takes a lock (or just sits in an open transaction) before the
    migration, to rehearse the lock queue."""

    name: str = Field(default="blocker", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    sql: str | list[str]
    hold: Duration  # how long its transaction stays open
    start: Duration = 0.0  # after the load (and its warmup) start
    phase: Literal["up", "down"] = "up"

    @property
    def statements(self) -> list[str]:
        return [self.sql] if isinstance(self.sql, str) else list(self.sql)


class LoadSpec(_Strict):
    """Application load that runs through the whole observed window."""

    clients: int = Field(default=4, ge=1, le=256)
    rate: float | None = Field(default=None, gt=0)  # transactions/s in all; None: closed loop
    warmup: Duration = 2.0
    cooldown: Duration = 2.0
    lock_timeout: Duration | None = None  # the application's own session settings
    statement_timeout: Duration | None = None
    transactions: list[TransactionSpec] = Field(default_factory=list)
    blockers: list[BlockerSpec] = Field(default_factory=list)
    allow_breaking: bool = False  # errors from vanished columns/tables do not fail the run

    @model_validator(mode="after")
    def _unique_names(self) -> LoadSpec:
        names = [t.name for t in self.transactions]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"transaction names must be unique: {', '.join(duplicated)}")
        if not self.transactions and not self.blockers:
            raise ValueError("a load needs at least one transaction or blocker")
        return self


def _add_baseline(scenario: Scenario) -> None:
    """A tool folder's migrations up to `from` are part of the schema, after `schema`. (The
    tools that run themselves run their baseline as the schema is built.)"""
    chain = scenario.migration.chain
    if chain is not None and chain.baseline and not chain.runs_itself:
        parts = [
            SchemaPart(m.up.file, m.up.text, None, m.up.first_line, m.up.variables)
            for m in chain.baseline
        ]
        given = scenario.schema_sql.parts if scenario.schema_sql is not None else []
        object.__setattr__(scenario, "schema_sql", SchemaSource.from_parts([*given, *parts]))


class Scenario(_Strict):
    """A validated scenario. Build it with `pgrehearse.load_scenario(path)`."""

    version: Literal[1]
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
    description: str | None = None
    postgres: PostgresSpec = Field(default_factory=PostgresSpec)
    schema_sql: SchemaSource | None = Field(default=None, alias="schema")  # None: clone mode only
    data: DataSpec = Field(default_factory=DataSpec)
    migration: MigrationSpec
    load: LoadSpec | None = None
    roundtrip: RoundtripSpec = Field(default_factory=RoundtripSpec)
    budgets: BudgetsSpec = Field(default_factory=BudgetsSpec)
    predict: PredictSpec | None = None
    observe: ObserveSpec = Field(default_factory=ObserveSpec)

    _path: Path | None = PrivateAttr(default=None)
    _lines: dict[tuple[str, ...], int] = PrivateAttr(default_factory=dict)
    _own_schema: SchemaSource | None = PrivateAttr(default=None)  # `schema`, before a baseline

    @model_validator(mode="after")
    def _baseline_is_schema(self) -> Scenario:
        self._own_schema = self.schema_sql
        _add_baseline(self)
        return self

    def with_migration_folder(
        self,
        folder: Path,
        tool: str = "auto",
        start: str | None = None,
        end: str | None = None,
    ) -> Scenario:
        """This scenario (its data, load and budgets) rehearsing a tool's migration folder
        instead of its own migration (`run --migrations DIR`). Raises `ValueError` with the
        reason when the folder cannot be read."""
        kept = self.migration.model_dump(
            by_alias=True,
            exclude_none=True,
            exclude={"up", "down", "dir", "tool", "from_version", "to", "command"},
        )
        options = {"dir": str(folder.resolve()), "tool": tool, "from": start, "to": end}
        migration = MigrationSpec.model_validate(
            {**kept, **{k: v for k, v in options.items() if v is not None}}
        )
        changed = self.model_copy(update={"migration": migration, "schema_sql": self._own_schema})
        _add_baseline(changed)
        return changed

    @property
    def path(self) -> Path | None:
        """The scenario file this was loaded from (None when built in Python)."""
        return self._path

    def line_of(self, *keys: str) -> int | None:
        """Line of the deepest key of `keys` present in the scenario file, e.g.
        `line_of("data", "tables", "orders")`; None when built in Python."""
        for depth in range(len(keys), 0, -1):
            line = self._lines.get(tuple(keys[:depth]))
            if line is not None:
                return line
        return None
