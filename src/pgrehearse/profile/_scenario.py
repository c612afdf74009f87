"""A profile's statistics as a scenario: rows per table, a generator for every column
the statistics describe, and the profile itself with private values replaced.

Columns whose values the schema must control are left to pgrehearse's inference, which
honours them: keys (identity, serial, unique and primary keys, composite keys), generated
columns, foreign keys over several columns, and text under a CHECK it does not list the
values of. A single-column foreign key becomes a `ref` whose skew (children per parent)
follows the referencing column's most common values.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pgrehearse.profile._privacy import TEXT_CATEGORIES, fake_like, is_pii
from pgrehearse.seed import (
    ColumnInfo,
    TableInfo,
    as_number,
    earlier_by_name,
    faker_provider_for,
    mentions,
)

_INTEGERS = {"int2", "int4", "int8", "oid"}
_DECIMALS = {"numeric", "float4", "float8"}
_MAX_DECIMALS = 6


@dataclass
class BuildOptions:
    scale: float = 1.0
    keep_values: bool = False
    pii: Sequence[str] = ()
    seed: int = 0


@dataclass
class Built:
    scenario: dict[str, Any]
    profile: dict[str, Any]  # what may be written: private values replaced
    notes: list[str] = field(default_factory=list)


def build_scenario(
    name: str,
    profile: Mapping[str, Any],
    catalog: Mapping[str, TableInfo],
    options: BuildOptions,
) -> Built:
    """The scenario (as YAML-ready data) and the profile fit to be written next to it."""
    safe = copy.deepcopy(dict(profile))
    notes: list[str] = []
    tables: dict[str, Any] = {}
    for table_name, table in safe["tables"].items():
        info = catalog.get(table_name)
        columns: dict[str, Any] = {}
        if info is not None:
            for column_name, column in info.columns.items():
                stats = table["columns"].get(column_name) or {}
                spec = _column_spec(table_name, info, column, stats, options)
                if spec is not None:
                    columns[column_name] = spec
                if stats:
                    stats["seeded_by"] = "statistics" if spec is not None else "inference"
            _order_moments(info, columns)
        for column_name, stats in table["columns"].items():
            _mask(table_name, column_name, stats, catalog.get(table_name), options, columns)
        entry: dict[str, Any] = {"rows": int(table["rows"])}
        if columns:
            entry["columns"] = columns
        tables[table_name] = entry
    scenario: dict[str, Any] = {
        "version": 1,
        "name": name,
        "description": (
            f"Profiled from database {safe['source'].get('database')!r} "
            f"(PostgreSQL {safe['source'].get('server_version')}) "
            f"on {safe['source'].get('taken_at')}."
        ),
        "schema": "schema.sql",
        "data": {"seed": options.seed, "scale": options.scale, "profile": "profile.json"},
        "migration": {"up": "up.sql", "down": "down.sql"},
    }
    scenario["data"]["tables"] = tables
    safe.setdefault("privacy", {})["values_kept"] = options.keep_values
    return Built(scenario, safe, notes)


# --------------------------------------------------------------------------- columns


def _left_to_inference(info: TableInfo, column: ColumnInfo, *, arrays: bool = False) -> bool:
    name = column.name
    default = column.default_expr or ""
    return (
        column.is_identity
        or column.is_generated
        or "nextval(" in default
        or (column.is_array and not arrays)
        or name in info.unique
        or any(name in group for group in info.unique_groups)
        or any(name in columns for columns, _, _ in info.composite_foreign_keys)
        or any(name in (a, b) for a, b, _ in info.checks.before)
        or any(mentions(d, name) for d in info.checks.definitions.values())
    )


def _column_spec(
    table: str,
    info: TableInfo,
    column: ColumnInfo,
    stats: Mapping[str, Any],
    options: BuildOptions,
) -> dict[str, Any] | None:
    if "null_frac" not in stats:
        return None
    if _unique_text(info, column):
        return _unique_text_spec(table, column, stats)
    if (
        column.is_array
        and stats.get("most_common_elems")
        and not _left_to_inference(info, column, arrays=True)
    ):
        return _array_spec(table, column, stats, options)
    if _left_to_inference(info, column):
        return None
    if column.name in info.foreign_keys:
        return _reference(info.foreign_keys[column.name], stats)
    if is_pii(table, column.name, options.pii):
        return None
    kind = _kind(column)
    if kind is None:
        return None
    facts = info.checks.columns.get(column.name)
    if kind == "text" and facts is not None:
        if facts.allowed is None:
            return None  # lengths or patterns a CHECK asks for: inference honours them
        kind = "value"  # values a CHECK lists are in the schema already: not private
    values = list(stats.get("most_common_vals") or [])
    freqs = list(stats.get("most_common_freqs") or [])
    histogram = list(stats.get("histogram_bounds") or [])
    if len(values) != len(freqs) or (not values and not histogram and kind != "text"):
        return None
    spec: dict[str, Any] = {"empirical": kind}
    try:
        if kind in ("number", "date", "moment"):
            for value in values + histogram:
                if not math.isfinite(as_number(kind, value)):
                    return None
    except ValueError:
        return None
    if kind == "number":
        decimals = _decimals(column, values + histogram)
        spec["decimals"] = decimals
        values = [_as_yaml_number(v, decimals) for v in values]
        histogram = [_as_yaml_number(v, decimals) for v in histogram]
    if kind == "text":
        spec.update(_text_options(table, column, stats, values, freqs, options))
        if not options.keep_values:
            values = fake_like(values, spec["like"], f"{table}.{column.name}")
        histogram = []
    if values:
        spec["values"] = values
        spec["freqs"] = [round(f, 6) for f in freqs]
    if histogram:
        spec["histogram"] = histogram
    spec["distinct"] = float(stats.get("n_distinct") or -1.0) or -1.0
    correlation = stats.get("correlation")
    if correlation is not None and abs(correlation) >= 0.05:
        spec["correlation"] = round(float(correlation), 4)
    if stats["null_frac"] > 0:
        spec["null_fraction"] = round(float(stats["null_frac"]), 6)
    return spec


def _unique_text(info: TableInfo, column: ColumnInfo) -> bool:
    """A text column unique by itself, and free of anything else inference must honour."""
    return (
        column.name in info.unique
        and column.category in TEXT_CATEGORIES
        and not column.is_array
        and not column.is_generated
        and not column.has_default
        and column.name not in info.foreign_keys
        and column.name not in info.checks.columns
        and not any(column.name in group for group in info.unique_groups)
    )


def _unique_text_spec(table: str, column: ColumnInfo, stats: Mapping[str, Any]) -> dict[str, Any]:
    """Numbered stand-ins of production's average length (an index on them then takes
    the room production's does)."""
    width = max(1.0, float(stats.get("avg_width") or 9) - 1.0)
    if column.max_length is not None:
        width = min(width, column.max_length)
    spec: dict[str, Any] = {
        "empirical": "text",
        "unique": True,
        "like": faker_provider_for(column.name, table),
        "width": max(1, round(width)),
        "distinct": -1.0,
    }
    correlation = stats.get("correlation")
    if correlation is not None and abs(correlation) >= 0.05:
        spec["correlation"] = round(float(correlation), 4)
    if stats.get("null_frac", 0) > 0:
        spec["null_fraction"] = round(float(stats["null_frac"]), 6)
    return spec


def _array_spec(
    table: str, column: ColumnInfo, stats: Mapping[str, Any], options: BuildOptions
) -> dict[str, Any] | None:
    """An array of the most common elements, each as common as pg_stats says (the share
    of rows holding it), as long as the rows' distinct-element counts range."""
    elements = list(stats["most_common_elems"])
    shares = list(stats.get("most_common_elem_freqs") or [])[: len(elements)]
    counts = list(stats.get("elem_count_histogram") or [])[:-1]  # the last is their mean
    if len(shares) != len(elements) or not counts:
        return None
    if column.category in TEXT_CATEGORIES and not options.keep_values:
        elements = fake_like(elements, "word", f"{table}.{column.name}[]")
    if is_pii(table, column.name, options.pii):
        return None
    spec: dict[str, Any] = {
        "array": {
            "choice": {str(e): round(float(f), 6) for e, f in zip(elements, shares, strict=True)}
        },
        "length": [math.floor(min(counts)), math.ceil(max(counts))],
    }
    if stats.get("null_frac", 0) > 0:
        spec["null_fraction"] = round(float(stats["null_frac"]), 6)
    return spec


def _kind(column: ColumnInfo) -> str | None:
    base = column.base_type
    if base in _INTEGERS or base in _DECIMALS:
        return "number"
    if base == "date":
        return "date"
    if base in ("timestamp", "timestamptz"):
        return "moment"
    if column.category in TEXT_CATEGORIES:
        return "text"
    if column.category in ("E", "B"):  # enum labels and booleans are kept
        return "value"
    return None


def _decimals(column: ColumnInfo, texts: Sequence[Any]) -> int:
    if column.base_type in _INTEGERS:
        return 0
    if column.num_scale is not None and column.base_type == "numeric":
        return min(int(column.num_scale), _MAX_DECIMALS)
    seen = [len(str(t).partition(".")[2].rstrip("0")) for t in texts if "e" not in str(t).lower()]
    return min(max(seen, default=0), _MAX_DECIMALS)


def _as_yaml_number(text: Any, decimals: int) -> int | float:
    number = float(text)
    return round(number) if decimals == 0 else round(number, decimals)


def _text_options(
    table: str,
    column: ColumnInfo,
    stats: Mapping[str, Any],
    values: Sequence[str],
    freqs: Sequence[float],
    options: BuildOptions,
) -> dict[str, Any]:
    """`like` (the Faker provider for the rest) and `width`: the rest's mean length that
    keeps the column's average width (pg_stats' avg_width counts a 1-byte header)."""
    non_null = max(1e-9, 1.0 - float(stats.get("null_frac") or 0.0))
    mean_length = max(1.0, float(stats.get("avg_width") or 9) - 1.0)
    common_share = sum(freqs) / non_null
    common_length = sum(len(v) * f / non_null for v, f in zip(values, freqs, strict=True))
    rest_share = 1.0 - common_share
    width = (mean_length - common_length) / rest_share if rest_share > 0.01 else mean_length
    if column.max_length is not None:
        width = min(width, column.max_length)
    return {"like": faker_provider_for(column.name, table), "width": max(1, round(width))}


def _reference(target: tuple[str, str], stats: Mapping[str, Any]) -> dict[str, Any]:
    """A foreign key's ref; zipf when the referencing column's most common values show
    some parents with far more children than others."""
    ref_table, ref_column = target
    spec: dict[str, Any] = {"ref": f"{ref_table}.{ref_column}"}
    non_null = max(1e-9, 1.0 - float(stats.get("null_frac") or 0.0))
    shares = sorted((f / non_null for f in stats.get("most_common_freqs") or []), reverse=True)
    if shares:  # the busiest parents keep their shares of the children
        spec["hot"] = [round(share, 6) for share in shares]
    # the others spread so that ANALYZE finds production's distinct count, at any scale
    spec["distinct"] = float(stats["n_distinct"])
    if stats.get("null_frac", 0) > 0:
        spec["null_fraction"] = round(float(stats["null_frac"]), 6)
    return spec


def _order_moments(info: TableInfo, columns: dict[str, Any]) -> None:
    """A later moment (updated_at, return_date) after its earlier one, within the gap the
    two columns' medians show, so a row's moments keep their order as in production."""
    moments = {n for n, c in columns.items() if c.get("empirical") in ("date", "moment")}
    for later in sorted(moments):
        earlier = earlier_by_name(later, moments)
        if earlier is None or columns[earlier].get("after") == later:
            continue
        gap = _median_gap(columns[earlier], columns[later])
        spec: dict[str, Any] = {"after": earlier, "within": f"{max(3600, int(gap * 2))}s"}
        if "null_fraction" in columns[later]:
            spec["null_fraction"] = columns[later]["null_fraction"]
        columns[later] = spec


def _median_gap(earlier: Mapping[str, Any], later: Mapping[str, Any]) -> float:
    def median(spec: Mapping[str, Any]) -> float | None:
        bounds = spec.get("histogram") or spec.get("values") or []
        if not bounds:
            return None
        middle = as_number(spec["empirical"], bounds[len(bounds) // 2])
        return middle * (86_400 if spec["empirical"] == "date" else 1)

    low, high = median(earlier), median(later)
    return max(0.0, high - low) if low is not None and high is not None else 86_400.0


# --------------------------------------------------------------------------- privacy


def _mask(
    table: str,
    column: str,
    stats: dict[str, Any],
    info: TableInfo | None,
    options: BuildOptions,
    columns: Mapping[str, Any],
) -> None:
    """Replace the column's private values in the profile that will be written: with the
    scenario's fakes for text (so the two files agree), dropped under --pii."""
    if is_pii(table, column, options.pii):
        for key in ("most_common_vals", "histogram_bounds", "most_common_elems"):
            stats[key] = None
        return
    facts = info.checks.columns.get(column) if info is not None else None
    category = info.columns[column].category if info and column in info.columns else "S"
    if options.keep_values or category not in TEXT_CATEGORIES:
        return
    if facts is not None and facts.allowed is not None:
        return  # the CHECK lists them in the schema
    spec = columns.get(column) or {}
    values = stats.get("most_common_vals")
    if values:
        fakes = spec.get("values") if spec.get("empirical") == "text" else None
        stats["most_common_vals"] = fakes or fake_like(values, "word", f"{table}.{column}")
    stats["histogram_bounds"] = None
    stats["most_common_elems"] = None
