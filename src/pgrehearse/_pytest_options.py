"""The pytest plugin's options: each a command-line option and an ini setting of the same
name (`--pgrehearse-scale` / `pgrehearse_scale`), read into the library's arguments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pgrehearse.backends.choice import BACKEND_NAMES as BACKENDS
from pgrehearse.backends.choice import ServerOptions
from pgrehearse.rehearsal.rounds import DEFAULT_ROUNDS
from pgrehearse.timing.compare import DEFAULT_MIN_DELTA_S, DEFAULT_THRESHOLD, parse_threshold
from pgrehearse.timing.history import HISTORY_FILE

OPTIONS: list[tuple[str, str, str]] = [
    ("backend", f"where servers run: {' | '.join(BACKENDS)} (default: auto)", "string"),
    ("dsn", "an existing server for the external backend (better: PGREHEARSE_DSN)", "string"),
    ("scale", "multiply every table's row count", "string"),
    ("report_dir", "folder for rehearsal reports (default: reports)", "string"),
    ("pg_bin", "folder holding the PostgreSQL server binaries", "string"),
    ("pg_version", "PostgreSQL major, 14-18 (default: each scenario's postgres.version)", "string"),
    ("cache", "reuse seeded snapshots between runs (default: true)", "bool"),
    ("keep_server", "leave servers running for debugging (default: false)", "bool"),
    ("history", "timing history file (default: <report dir>/history.jsonl)", "string"),
    ("baseline", "history file to compare migration times with (enables the check)", "string"),
    ("rounds", "timing rounds per scenario for the regression check (default: 7)", "string"),
    ("threshold", "allowed slowdown of a median, e.g. 25% (default: 25%)", "string"),
    ("min_delta", "seconds a median must also grow by to fail (default: 0.05)", "string"),
    ("scenario", "scenario of the pgrehearse_db / pgrehearse_runner fixtures", "string"),
]


def setting(config: pytest.Config, name: str) -> Any:
    value = config.getoption("pgrehearse_" + name)
    if value is None:
        value = config.getini("pgrehearse_" + name)
    return value


def flag(config: pytest.Config, name: str, default: bool) -> bool:
    value = setting(config, name)
    if value in (None, ""):
        return default
    return value in ("true", True)


def server_options(config: pytest.Config) -> ServerOptions:
    """Where servers run and on what data size, from the options and ini settings."""
    scale = setting(config, "scale")
    version = setting(config, "pg_version")
    return ServerOptions(
        backend=setting(config, "backend") or "auto",
        pg_bin=Path(pg_bin) if (pg_bin := setting(config, "pg_bin")) else None,
        pg_version=int(version) if version else None,
        dsn=setting(config, "dsn") or None,
        scale=float(scale) if scale not in (None, "") else None,
        cache=flag(config, "cache", True),
    )


def settings_of(config: pytest.Config) -> dict[str, Any]:
    """Keyword arguments of `rehearse` besides the scenario and the server options."""
    from pgrehearse.cli import parse_budget_overrides

    budgets = [*config.getini("pgrehearse_budgets"), *config.getoption("pgrehearse_budget")]
    report_dir = Path(setting(config, "report_dir") or "reports")
    return {
        "report_dir": report_dir,
        "budgets": parse_budget_overrides(tuple(budgets)) or None,
        "keep_server": flag(config, "keep_server", False),
        "history": Path(setting(config, "history") or report_dir / HISTORY_FILE),
    }


def regression_settings(config: pytest.Config) -> tuple[int, float, float]:
    rounds = int(setting(config, "rounds") or DEFAULT_ROUNDS)
    threshold = parse_threshold(str(setting(config, "threshold") or DEFAULT_THRESHOLD))
    min_delta = float(setting(config, "min_delta") or DEFAULT_MIN_DELTA_S)
    return rounds, threshold, min_delta
