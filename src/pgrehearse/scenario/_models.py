"""The scenario file as typed, validated data (pydantic v2, unknown keys are errors)."""

from __future__ import annotations

import datetime as dt
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

from pgrehearse.scenario._durations import Duration

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
            raise ValueError(f"SQL file not found: {path}")
        try:
            self._text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read SQL file {path}: {exc}") from exc
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

    def locate_inline(self, scenario_file: Path, first_line: int) -> None:
        """Anchor inline SQL at its line in the scenario file (set by the loader)."""
        if self._origin is None:
            self._origin = scenario_file
            self._first_line = first_line


# --------------------------------------------------------------------------- generators


class _GeneratorBase(_Strict):
    null_fraction: float = Field(default=0.0, ge=0.0, le=1.0)


class FakerColumn(_GeneratorBase):
    """Values from a Faker provider, drawn from a pool built once (`pool` values)."""

    faker: str
    args: dict[str, Any] = Field(default_factory=dict)
    locale: str | None = None
    pool: int = Field(default=5_000, ge=1, le=10_000_000)
    unique: bool = False


class IntColumn(_GeneratorBase):
    """Integers drawn uniformly from the inclusive range `[low, high]`."""

    int_range: tuple[int, int] = Field(alias="int")

    @field_validator("int_range")
    @classmethod
    def _ordered(cls, value: tuple[int, int]) -> tuple[int, int]:
        if value[0] > value[1]:
            raise ValueError(f"the range [{value[0]}, {value[1]}] is empty: write [low, high]")
        return value


class ChoiceColumn(_GeneratorBase):
    """Weighted choice: `{paid: 0.7, pending: 0.3}`, or a list for equal weights."""

    choice: dict[str, float] | list[Any]

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


class BetweenColumn(_GeneratorBase):
    """Dates or timestamps drawn uniformly between two bounds."""

    between: tuple[dt.date | dt.datetime, dt.date | dt.datetime]

    @field_validator("between")
    @classmethod
    def _ordered(
        cls, value: tuple[dt.date | dt.datetime, dt.date | dt.datetime]
    ) -> tuple[dt.date | dt.datetime, dt.date | dt.datetime]:
        low, high = (_as_datetime(v) for v in value)
        if low > high:
            raise ValueError("the first bound of `between` must not be after the second")
        return value


class ConstantColumn(_GeneratorBase):
    """The same value in every row."""

    value: Any


class RefColumn(_GeneratorBase):
    """A valid reference to `table.column` of another seeded table (a foreign key)."""

    ref: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*){1,2}$")

    @property
    def table(self) -> str:
        return self.ref.rsplit(".", 1)[0]

    @property
    def column(self) -> str:
        return self.ref.rsplit(".", 1)[1]


GENERATOR_KEYS: dict[str, type[_GeneratorBase]] = {
    "faker": FakerColumn,
    "int": IntColumn,
    "choice": ChoiceColumn,
    "between": BetweenColumn,
    "value": ConstantColumn,
    "ref": RefColumn,
}


def _generator_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        for key, model in GENERATOR_KEYS.items():
            if isinstance(value, model):
                return key
        return None
    if isinstance(value, dict):
        present = [key for key in GENERATOR_KEYS if key in value]
        if len(present) == 1:
            return present[0]
    return None


ColumnSpec = Annotated[
    Annotated[FakerColumn, Tag("faker")]
    | Annotated[IntColumn, Tag("int")]
    | Annotated[ChoiceColumn, Tag("choice")]
    | Annotated[BetweenColumn, Tag("between")]
    | Annotated[ConstantColumn, Tag("value")]
    | Annotated[RefColumn, Tag("ref")],
    Discriminator(
        _generator_kind,
        custom_error_type="generator_kind",
        custom_error_message=(
            "a column generator needs exactly one of: " + ", ".join(GENERATOR_KEYS)
        ),
    ),
]


def _as_datetime(value: dt.date | dt.datetime) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)


# --------------------------------------------------------------------------- sections


class PostgresSpec(_Strict):
    """Which PostgreSQL to rehearse on and with which server settings."""

    version: int | None = Field(default=None, ge=9, le=99)
    bin_dir: Path | None = None
    settings: dict[str, str | int | float | bool] = Field(default_factory=dict)


class TableSpec(_Strict):
    rows: int = Field(ge=0, le=10_000_000_000)
    columns: dict[str, ColumnSpec] = Field(default_factory=dict)


class DataSpec(_Strict):
    seed: int = 0
    scale: float = Field(default=1.0, gt=0, le=1000)
    tables: dict[str, TableSpec] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _refs_point_at_seeded_tables(self) -> DataSpec:
        for table_name, table in self.tables.items():
            for column_name, column in table.columns.items():
                if isinstance(column, RefColumn) and column.table not in self.tables:
                    raise ValueError(
                        f"{table_name}.{column_name} refers to {column.ref}, but table "
                        f"{column.table!r} is not under data.tables (seeded tables: "
                        f"{', '.join(self.tables) or 'none'})"
                    )
        return self


TransactionMode = Literal["file", "statement", "none"]


class MigrationSpec(_Strict):
    up: SqlSource
    down: SqlSource | None = None
    transaction: TransactionMode = "file"
    lock_timeout: Duration | None = None
    statement_timeout: Duration | None = None


class Scenario(_Strict):
    """A validated scenario. Build it with `pgrehearse.load_scenario(path)`."""

    version: Literal[1]
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
    description: str | None = None
    postgres: PostgresSpec = Field(default_factory=PostgresSpec)
    schema_sql: SqlSource = Field(alias="schema")
    data: DataSpec = Field(default_factory=DataSpec)
    migration: MigrationSpec

    _path: Path | None = PrivateAttr(default=None)
    _lines: dict[tuple[str, ...], int] = PrivateAttr(default_factory=dict)

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
