"""How closely a seeded clone's statistics match the production profile it was made from.

Both sides are `pg_stats` and catalog figures (the clone is analyzed after seeding), and
the profile's sizes are scaled by the rehearsal's scale. Text values were replaced by
stand-ins, so the most common values are compared by rank: the i-th largest frequency
against the i-th largest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pgrehearse.seed import distinct_values

GOALS = {
    "rows": 0.01,  # relative
    "heap bytes": 0.10,  # relative
    "index bytes": 0.15,  # relative
    "null_frac": 0.02,  # absolute
    "n_distinct": 0.10,  # relative, as counts at the clone's rows
    "top-10 MCV freqs": 0.02,  # absolute, each
}
_CORRELATION_SHOWN = 0.3  # below this the sign of a correlation is noise


def compare_profiles(
    reference: Mapping[str, Any], clone: Mapping[str, Any], scale: float
) -> dict[str, Any]:
    """Every check of the clone against the reference profile, per table; `passed` when all
    are within their goals. A check is {what, column, expected, actual, error, goal, passed}.
    Columns the profile left to inference (keys, constrained text) are listed, not judged:
    their values were never meant to follow the statistics."""
    tables = []
    inferred: list[str] = []  # keys and constrained columns: not made from the statistics
    for name, wanted in reference.get("tables", {}).items():
        got = clone.get("tables", {}).get(name)
        if got is None:
            continue
        checks: list[dict[str, Any]] = []
        rows = max(1, round(float(wanted["rows"]) * scale)) if wanted["rows"] else 0
        _relative(checks, "rows", None, rows, got["rows"])
        _relative(checks, "heap bytes", None, wanted["heap_bytes"] * scale, got["heap_bytes"])
        if wanted.get("index_bytes"):
            _relative(
                checks, "index bytes", None, wanted["index_bytes"] * scale, got["index_bytes"]
            )
        for column, stats in wanted.get("columns", {}).items():
            if stats.get("seeded_by") == "inference":
                inferred.append(f"{name}.{column}")
                continue
            mine = got.get("columns", {}).get(column) or {}
            if "null_frac" in stats and "null_frac" in mine:
                _column_checks(checks, column, stats, mine, rows, int(got["rows"]))
        tables.append({"table": name, "checks": checks})
    every = [c for t in tables for c in t["checks"]]
    return {
        "goals": GOALS,
        "tables": tables,
        "checks": len(every),
        "failed": sum(1 for c in every if not c["passed"]),
        "passed": all(c["passed"] for c in every),
        "inferred_columns": inferred,
    }


def _column_checks(
    checks: list[dict[str, Any]],
    column: str,
    wanted: Mapping[str, Any],
    got: Mapping[str, Any],
    rows: int,
    clone_rows: int,
) -> None:
    _absolute(checks, "null_frac", column, wanted["null_frac"], got["null_frac"])
    if str(wanted.get("type", "")).endswith("]"):
        return  # an array: its elements are generated, not whole arrays' counts
    if wanted["null_frac"] < 1.0 and rows:
        _relative(
            checks,
            "n_distinct",
            column,
            distinct_values(float(wanted["n_distinct"]), rows),
            distinct_values(float(got["n_distinct"]), max(clone_rows, 1)),
        )
    top = sorted(wanted.get("most_common_freqs") or [], reverse=True)[:10]
    if top:
        mine = sorted(got.get("most_common_freqs") or [], reverse=True)[:10]
        mine += [0.0] * (len(top) - len(mine))
        worst = max(range(len(top)), key=lambda i: abs(top[i] - mine[i]))
        _absolute(checks, "top-10 MCV freqs", column, top[worst], mine[worst])
    correlation = wanted.get("correlation")
    if correlation is not None and abs(correlation) >= _CORRELATION_SHOWN:
        actual = got.get("correlation")
        checks.append(
            {
                "what": "correlation sign",
                "column": column,
                "expected": round(float(correlation), 3),
                "actual": round(float(actual), 3) if actual is not None else None,
                "error": None,
                "goal": "same sign",
                "passed": actual is not None and (actual > 0) == (correlation > 0),
            }
        )


def _relative(
    checks: list[dict[str, Any]], what: str, column: str | None, expected: float, actual: float
) -> None:
    error = (actual - expected) / expected if expected else (0.0 if not actual else 1.0)
    goal = GOALS[what]
    checks.append(
        {
            "what": what,
            "column": column,
            "expected": round(float(expected), 3),
            "actual": round(float(actual), 3),
            "error": round(error, 4),
            "goal": f"±{goal:.0%}",
            "passed": abs(error) <= goal,
        }
    )


def _absolute(
    checks: list[dict[str, Any]], what: str, column: str, expected: float, actual: float
) -> None:
    error = float(actual) - float(expected)
    goal = GOALS[what]
    checks.append(
        {
            "what": what,
            "column": column,
            "expected": round(float(expected), 4),
            "actual": round(float(actual), 4),
            "error": round(error, 4),
            "goal": f"±{goal:g}",
            "passed": abs(error) <= goal + 1e-9,
        }
    )
