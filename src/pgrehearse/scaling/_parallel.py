"""Parallel index builds: PostgreSQL gives a CREATE INDEX workers by the table's size, so a
build that ran alone at a rehearsal's size may run with helpers at production's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_PAGE = 8192
_UNITS = {"kB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


def index_build_workers(table_bytes: float, settings: Mapping[str, Any]) -> int:
    """The workers `plan_create_index_workers` would plan for a table of this size (its
    `compute_parallel_worker`: none under min_parallel_table_scan_size, then one more each
    time the table triples, at most max_parallel_maintenance_workers)."""
    threshold = max(_size(settings.get("min_parallel_table_scan_size"), 8 * 1024**2) // _PAGE, 1)
    limit = int(settings.get("max_parallel_maintenance_workers") or 2)
    pages = table_bytes / _PAGE
    if pages < threshold or limit <= 0:
        return 0
    workers = 1
    while pages >= threshold * 3:
        workers += 1
        threshold *= 3
    return min(workers, limit)


def _size(value: Any, default: int) -> int:
    """A size setting as PostgreSQL reads it: a number of 8 kB pages, or with a unit."""
    if value in (None, ""):
        return default
    text = str(value).strip()
    for unit, factor in _UNITS.items():
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(float(text)) * _PAGE


# the planner's size thresholds for parallel work, with PostgreSQL's defaults in bytes
PARALLEL_THRESHOLDS = {
    "min_parallel_table_scan_size": 8 * 1024**2,
    "min_parallel_index_scan_size": 512 * 1024,
}


def scaled_thresholds(settings: Mapping[str, Any], factor: float) -> dict[str, str]:
    """The parallel-work thresholds multiplied by `factor` (a rehearsal's rows over the
    target's), so a small rehearsal plans parallel index builds and scans where the target
    size would: the workers a build gets depend on the table's size, not on its rows."""
    return {
        name: f"{max(int(_size(settings.get(name), default) * factor) // 1024, 0)}kB"
        for name, default in PARALLEL_THRESHOLDS.items()
    }
