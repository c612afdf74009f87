"""Timing rounds: the migration alone, several times, each on a fresh seeded copy."""

from __future__ import annotations

from typing import Any

from pgrehearse.backends.choice import ServerOptions
from pgrehearse.migration import ScriptResult, StatementResult
from pgrehearse.rehearsal.progress import Progress, SilentProgress
from pgrehearse.rehearsal.seeded import SeededServer
from pgrehearse.scenario import Scenario
from pgrehearse.timing.history import new_record, statement_seconds


def measure_rounds(
    seeded: SeededServer, rounds: int, *, progress: Progress | None = None
) -> dict[str, Any]:
    """Time the migration `rounds` times, each on a fresh copy of the seeded database and
    without load. Every round runs up then down; a failing statement ends the measurement
    with `MigrationFailed`."""
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    progress = progress or SilentProgress()
    measured: list[dict[str, Any]] = []
    for number in range(1, rounds + 1):
        database = seeded.database(f"pgrehearse_round_{number}")
        try:
            runner = database.migration(fingerprint=False)
            phases = {"up": _seconds(runner.up())}
            if seeded.scenario.migration.down_script is not None:
                phases["down"] = _seconds(runner.down())
            statements = [_plain(s) for s in runner.statements]
        finally:
            database.drop()
        measured.append({"phases": phases, "statements": statement_seconds(statements)})
        progress.note(
            f"round {number} of {rounds}: "
            + ", ".join(f"{name} {seconds:.3f} s" for name, seconds in phases.items())
        )
    return new_record(
        source="rounds",
        scenario=seeded.scenario.name,
        run_id=seeded.provisioning.run_id,
        postgres_version=seeded.server.version,
        scale=seeded.provisioning.scale,
        load=False,
        outcome="passed",
        rounds=measured,
    )


# enough for the regression check's interval to shrug off one outlying round
DEFAULT_ROUNDS = 7


def bench(
    scenario: Scenario,
    rounds: int = DEFAULT_ROUNDS,
    options: ServerOptions | None = None,
    *,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Seed a server for `scenario` where `options` say, time its migration `rounds` times
    (see `measure_rounds`) and return the history record. Nothing is written."""
    with SeededServer.start(scenario, options, progress=progress) as seeded:
        return measure_rounds(seeded, rounds, progress=progress)


def _seconds(script: ScriptResult) -> float:
    """Time the phase's statements ran, COMMIT included; connection setup is not."""
    spent = sum(s.seconds or 0.0 for s in script.statements) + (script.commit_seconds or 0.0)
    return round(spent, 6)


def _plain(statement: StatementResult) -> dict[str, Any]:
    return {
        "phase": statement.phase,
        "sql": statement.sql,
        "status": statement.status,
        "seconds": statement.seconds,
    }
