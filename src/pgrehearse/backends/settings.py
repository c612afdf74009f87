"""Server settings of each phase: fast and unsafe for seeding, production-like when observed."""

from __future__ import annotations

from collections.abc import Mapping

# Seeding only builds data we could rebuild at any time: durability buys nothing there.
SEED_OVERRIDES: Mapping[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "archive_mode": "off",
    "autovacuum": "off",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "1h",
    "maintenance_work_mem": "512MB",
}

# The observed phases (migration up and down) run with production durability, so timings and
# lock holds are not flattered. The scenario's `postgres.settings` go on top.
REHEARSAL_DEFAULTS: Mapping[str, str] = {
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "wal_level": "replica",
    "autovacuum": "on",
}


def render(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def seed_settings(scenario_settings: Mapping[str, str | int | float | bool]) -> dict[str, str]:
    return {**{k: render(v) for k, v in scenario_settings.items()}, **SEED_OVERRIDES}


def rehearsal_settings(scenario_settings: Mapping[str, str | int | float | bool]) -> dict[str, str]:
    return {**REHEARSAL_DEFAULTS, **{k: render(v) for k, v in scenario_settings.items()}}
