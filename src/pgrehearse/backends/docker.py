"""Docker backend: a throwaway `postgres:<major>` container through testcontainers.

The container gets the same superuser, password style and per-phase settings as a local
server (applied with ALTER SYSTEM and a container restart, since command-line `-c` values
would override later changes), labels naming the run, and testcontainers' Ryuk sidecar,
which removes it even when pgrehearse is killed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from pgrehearse.backends._base import Capabilities, Settings, SnapshotUnusable
from pgrehearse.backends._process import is_alive, process_start_time
from pgrehearse.backends.binaries import PostgresBinaries, find_binaries
from pgrehearse.backends.workdir import create_workdir, remove_workdir, sweep_leftovers, temp_root
from pgrehearse.errors import EnvironmentProblem
from pgrehearse.paths import cache_root
from pgrehearse.roles import SessionRole

SUPERUSER = "pgrehearse"
_READY_TIMEOUT_SECONDS = 120.0
_SNAPSHOT_TIMEOUT_SECONDS = 60.0
_PGDATA = "/var/lib/postgresql/data"
_SNAPSHOT_PASSWORD = "pgrehearse-password"  # beside a snapshot's data, for its next start
ROLE_LABEL = "org.pgrehearse.role=throwaway-server"
OWNER_LABEL = "org.pgrehearse.owner"  # host:pid:start time of the run that started it
UID_LABEL = "org.pgrehearse.uid"  # the user whose run started it


def owner_label() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{process_start_time(pid) or ''}"


def kept_containers_dir() -> Path:
    """Containers kept with --keep-server: one folder each, named after the container,
    holding its pgpass file; later runs leave them alone, `pgrehearse cleanup` removes them."""
    return cache_root() / "kept-containers"


def sweep_containers(*, kept: bool = False, everyone: bool = False) -> list[str]:
    """Remove the throwaway containers of this user's runs of this host that are gone
    (killed with SIGKILL while Ryuk, the reaper, was off), and with `kept` those kept for
    debugging; names of those removed. Containers of live runs, of other hosts, and of
    other users (unless `everyone`: their kept ones too) are left alone. Nothing happens
    when Docker does not answer."""
    try:
        from docker.errors import DockerException
    except ImportError:  # no docker extra: no containers of ours either
        return []
    try:
        client = docker_client()
        # sparse: no inspection of each, which races with containers other runs remove
        found = client.containers.list(all=True, sparse=True, filters={"label": ROLE_LABEL})
    except (DockerUnavailable, DockerException):
        return []
    removed = []
    for container in found:
        labels = container.attrs.get("Labels") or {}
        names = container.attrs.get("Names") or [container.id[:12]]
        name = str(names[0]).lstrip("/")
        host, _, rest = str(labels.get(OWNER_LABEL, "")).partition(":")
        pid_text, _, started = rest.partition(":")
        if host != socket.gethostname() or not pid_text.isdigit():
            continue
        uid = str(labels.get(UID_LABEL, os.getuid()))
        mine = uid == str(os.getuid())
        if not mine and not everyone:
            continue  # another user's: its kept record is in that user's cache, not ours
        record = kept_containers_dir() / name
        if record.is_dir() and not kept:
            continue
        if not record.is_dir() and mine and is_alive(int(pid_text), started or None):
            continue
        if not mine and is_alive(int(pid_text), started or None):
            continue
        try:
            container.remove(force=True, v=True)
        except DockerException:
            continue  # gone meanwhile, or being removed by its own run
        shutil.rmtree(record, ignore_errors=True)
        removed.append(name)
    return removed


class DockerUnavailable(EnvironmentProblem):
    """No Docker engine answers (the client could not be built)."""


@dataclass(frozen=True)
class ContainerConfig:
    """Everything the container is started with; pure data, testable without Docker."""

    image: str
    major: int
    username: str
    password: str
    dbname: str = "postgres"
    labels: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)


def container_config(
    major: int, *, image: str | None = None, run_name: str = "", scenario: str = ""
) -> ContainerConfig:
    return ContainerConfig(
        image=image or f"postgres:{major}",
        major=major,
        username=SUPERUSER,
        password=secrets.token_urlsafe(24),
        labels={
            "org.pgrehearse.run": run_name,
            "org.pgrehearse.scenario": scenario,
            "org.pgrehearse.role": "throwaway-server",
            OWNER_LABEL: owner_label(),
            UID_LABEL: str(os.getuid()),
        },
        env={"POSTGRES_INITDB_ARGS": "--encoding=UTF8 --locale=C --auth=scram-sha-256"},
    )


def docker_client() -> Any:
    """A Docker client, or `DockerUnavailable` saying why there is none."""
    try:
        import docker
        import testcontainers  # noqa: F401  (the backend's container handling)
        from docker.errors import DockerException
    except ImportError as exc:
        raise DockerUnavailable(
            f"the Docker backend needs the docker extra ({exc.name} is not installed)\n"
            "fix: pip install 'pgrehearse[docker]'"
        ) from None
    try:
        client = docker.from_env()
        client.ping()
    except DockerException as exc:
        raise DockerUnavailable(
            f"Docker is not reachable: {exc}\n"
            "fix: start Docker (or set DOCKER_HOST), or use --backend local"
        ) from None
    return client


class DockerBackend:
    name = "docker"
    capabilities = Capabilities(own_cluster=True, keep=True, snapshot=True)

    def __init__(self, config: ContainerConfig) -> None:
        docker_client()  # fail early, before anything else is prepared
        self.config = config
        self.swept_containers = sweep_containers()  # what killed runs left, as local does
        self.swept_folders = sweep_leftovers(temp_root())  # and their snapshot copies

    @property
    def swept(self) -> list[Path]:
        """Folders killed runs left: the snapshot copies taken out of their containers."""
        return self.swept_folders

    @property
    def major(self) -> int:
        return self.config.major

    def start(self, settings: Settings, *, snapshot: Path | None = None) -> DockerServer:
        """A new container: a fresh cluster, or one holding a copy of the stopped data
        directory `snapshot` (then `SnapshotUnusable` when it does not come up)."""
        server = DockerServer(self.config)
        try:
            if snapshot is None:
                server.start(settings)
            else:
                server.adopt(snapshot, settings)
        except BaseException:
            server.close()
            raise
        return server


class DockerServer:
    backend_name = "docker"
    capabilities = DockerBackend.capabilities

    def __init__(self, config: ContainerConfig) -> None:
        self.config = config
        self._container: Any = None  # the Docker SDK's container
        self._version = ""
        self._major: int | None = None  # the server's, once it answered (the image decides)
        self._binaries: PostgresBinaries | None = None
        self._address: tuple[str, int] | None = None
        self._scratch: Path | None = None  # a snapshot's copy, taken out of the container
        self.settings: dict[str, str] = {}

    def start(self, settings: Settings) -> None:
        from testcontainers.community.postgres import PostgresContainer

        container = PostgresContainer(
            self.config.image,
            username=self.config.username,
            password=self.config.password,
            dbname=self.config.dbname,
            driver=None,
        )
        for key, value in self.config.env.items():
            container.with_env(key, value)
        container.with_kwargs(labels=self.config.labels)
        try:
            container.start()
        finally:
            with contextlib.suppress(Exception):
                self._container = container.get_wrapped_container()
        self._refresh_address()
        self.restart(settings)

    def adopt(self, snapshot: Path, settings: Settings) -> None:
        """A container over a copy of a stopped data directory: created, given the copy,
        started; the snapshot's password (kept beside its data) is changed to this run's."""
        client = docker_client()
        self._container = client.containers.create(
            self.config.image,
            environment={
                "POSTGRES_USER": self.config.username,
                "POSTGRES_PASSWORD": self.config.password,
                **self.config.env,
            },
            labels=self.config.labels,
            ports={"5432/tcp": None},
        )
        with tempfile.TemporaryFile() as archive:
            with tarfile.open(fileobj=archive, mode="w") as tar:
                tar.add(snapshot, arcname="data")
            archive.seek(0)
            self._container.put_archive("/var/lib/postgresql", archive)
        self._container.start()
        self._refresh_address()
        password = (snapshot / _SNAPSHOT_PASSWORD).read_text()
        try:
            self._wait_ready(password=password, timeout=_SNAPSHOT_TIMEOUT_SECONDS)
        except EnvironmentProblem as exc:
            raise SnapshotUnusable(str(exc)) from None
        with psycopg.connect(
            **{
                **self.connect_kwargs("postgres", SessionRole.HARNESS.application_name()),
                "password": password,
            },
            autocommit=True,
        ) as conn:
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(self.config.username), sql.Literal(self.config.password)
                )
            )
        self.restart(settings)

    def _refresh_address(self) -> None:
        """Host and mapped port, asked of Docker once per (re)start: a restart may remap."""
        assert self._container is not None
        self._container.reload()
        ports = self._container.attrs["NetworkSettings"]["Ports"].get("5432/tcp") or []
        if not ports:
            raise EnvironmentProblem("the container publishes no port for PostgreSQL")
        host = os.environ.get("TESTCONTAINERS_HOST_OVERRIDE") or "localhost"
        self._address = (host, int(ports[0]["HostPort"]))

    @property
    def version(self) -> str:
        return self._version

    @property
    def major(self) -> int:
        """The major the container runs: an image (PGREHEARSE_DOCKER_IMAGE) may carry another
        one than the major asked for, and client tools must match the server's."""
        return self._major or self.config.major

    def database_name(self, logical: str) -> str:
        return logical

    def connect_kwargs(self, dbname: str, application_name: str) -> dict[str, Any]:
        assert self._address is not None
        return {
            "host": self._address[0],
            "port": self._address[1],
            "user": self.config.username,
            "password": self.config.password,
            "dbname": dbname,
            "application_name": application_name,
            "connect_timeout": 10,
        }

    def client_program(self, name: str) -> Path:
        if self._binaries is None:
            self._binaries = find_binaries(major=self.major)
        return self._binaries.program(name)

    def client_env(self, dbname: str) -> dict[str, str]:
        kwargs = self.connect_kwargs(dbname, SessionRole.HARNESS.application_name())
        return {
            **os.environ,
            "PGHOST": str(kwargs["host"]),
            "PGPORT": str(kwargs["port"]),
            "PGUSER": self.config.username,
            "PGPASSWORD": self.config.password,
            "PGDATABASE": dbname,
            "PGAPPNAME": SessionRole.HARNESS.application_name(),
        }

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.backend_name,
            "version": self._version,
            "major": self.major,
            "image": self.config.image,
            "host": self._address[0] if self._address else None,
            "port": self._address[1] if self._address else None,
        }

    def restart(self, settings: Settings) -> None:
        """Apply `settings` with ALTER SYSTEM, then restart the container (started first
        when a snapshot stopped it)."""
        assert self._container is not None
        self._container.reload()
        if self._container.status != "running":
            self._container.start()
            self._refresh_address()
            self._wait_ready()
        with psycopg.connect(
            **self.connect_kwargs("postgres", SessionRole.HARNESS.application_name()),
            autocommit=True,
        ) as conn:
            conn.execute("ALTER SYSTEM RESET ALL")
            for key, value in settings.items():
                conn.execute(
                    sql.SQL("ALTER SYSTEM SET {} = {}").format(
                        sql.Identifier(key), sql.Literal(value)
                    )
                )
        self._container.restart()
        self._refresh_address()
        self._wait_ready()
        self.settings = dict(settings)

    def _wait_ready(
        self, *, password: str | None = None, timeout: float = _READY_TIMEOUT_SECONDS
    ) -> None:
        deadline = time.monotonic() + timeout
        kwargs = self.connect_kwargs("postgres", SessionRole.PROBE.application_name())
        if password is not None:
            kwargs["password"] = password
        while True:
            try:
                with psycopg.connect(**kwargs) as c:
                    row = c.execute(
                        "SELECT current_setting('server_version'), "
                        "current_setting('server_version_num')::int / 10000"
                    ).fetchone()
                    assert row is not None
                    self._version = str(row[0]).split()[0]
                    self._major = int(row[1])
                    return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise EnvironmentProblem(f"the container did not come back: {exc}") from None
                time.sleep(0.2)

    def failure(self, grace: float = 0.0) -> str | None:
        return None  # not watched: a lost connection surfaces as an error of its own

    def data_folder(self) -> Path | None:
        return None

    def keep(self, dbname: str = "rehearsal") -> dict[str, str]:
        """Leave the container running after pgrehearse exits, for debugging: recorded under
        `kept_containers_dir()` (the password in a pgpass file there, never on the
        terminal), so later runs leave it alone; `pgrehearse cleanup` removes it."""
        assert self._container is not None and self._address is not None
        name = str(self._container.name)
        record = kept_containers_dir() / name
        record.mkdir(parents=True, exist_ok=True)
        pgpass = record / "pgpass"
        host, port = self._address
        pgpass.write_text(f"*:{port}:*:{self.config.username}:{self.config.password}\n")
        pgpass.chmod(0o600)
        self._container = None  # close() must not stop it now
        self._remove_scratch()  # the snapshot's copy: in the cache, if it was saved
        conninfo = f"host={host} port={port} user={self.config.username} dbname={dbname}"
        return {
            "container": name,
            "conninfo": conninfo,
            "pgpass": str(pgpass),
            "psql": f"PGPASSFILE={pgpass} psql '{conninfo}'",
        }

    def stop_for_snapshot(self) -> Path:
        """Stop PostgreSQL cleanly and copy its data directory out of the container, with
        the superuser's password beside it (a later run's container needs it once)."""
        assert self._container is not None
        self._container.stop(timeout=120)
        # swept as the local backend's folders are, should this process be killed
        self._scratch = create_workdir(temp_root(), None, kind="docker-snapshot")
        with tempfile.TemporaryFile() as archive:
            stream, _ = self._container.get_archive(_PGDATA)
            for chunk in stream:
                archive.write(chunk)
            archive.seek(0)
            with tarfile.open(fileobj=archive) as tar:
                tar.extractall(self._scratch, filter="tar")
        data = self._scratch / Path(_PGDATA).name
        (data / _SNAPSHOT_PASSWORD).write_text(self.config.password)
        (data / _SNAPSHOT_PASSWORD).chmod(0o600)
        return data

    def close(self) -> None:
        container, self._container = self._container, None
        if container is not None:
            with contextlib.suppress(Exception):
                container.remove(force=True, v=True)
        self._remove_scratch()

    def _remove_scratch(self) -> None:
        if self._scratch is not None:
            remove_workdir(self._scratch)
            self._scratch = None
