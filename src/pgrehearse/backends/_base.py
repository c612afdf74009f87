"""What every backend provides: a running throwaway server the rehearsal can connect to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pgrehearse.errors import EnvironmentProblem

Settings = Mapping[str, str]


class SnapshotUnusable(EnvironmentProblem):
    """A cached data directory did not give a working server."""


@dataclass(frozen=True)
class Capabilities:
    """What a backend's servers can do beyond the protocol's basics. The pipeline asks
    these, never which class a server is."""

    keep: bool = False  # `keep()`: stay up after the run, for debugging
    snapshot: bool = False  # `stop_for_snapshot()` + `Backend.start(snapshot=...)`: the cache
    cpu_measurement: bool = False  # its backend processes are local: their CPU can be read
    preloaded: bool = False  # already holds the data (clone mode): no schema, no seeding
    own_cluster: bool = False  # a cluster of our own: cluster-wide objects (roles) may be made


class CapabilityMissing(RuntimeError):
    """A capability method was called on a server that lacks it (a bug in the caller)."""


class Server(Protocol):
    """A PostgreSQL server pgrehearse may freely change, for the length of one rehearsal."""

    backend_name: str
    capabilities: Capabilities

    @property
    def version(self) -> str:
        """Server version as reported by the server, e.g. '15.18'."""
        ...

    @property
    def major(self) -> int: ...

    def connect_kwargs(self, dbname: str, application_name: str) -> dict[str, Any]:
        """Keyword arguments for `psycopg.connect` (includes credentials; never log them).

        `dbname` is a logical name (`postgres`, `rehearsal`, ...), see `database_name`."""
        ...

    def database_name(self, logical: str) -> str:
        """The real name of a logical database: the same on a throwaway server; on a shared
        one, names private to this run (and `postgres` = the maintenance database)."""
        ...

    def client_program(self, name: str) -> Path:
        """A client program (pg_dump, pg_restore, psql) able to talk to this server."""
        ...

    def client_env(self, dbname: str) -> dict[str, str]:
        """Environment for client programs: PGHOST, PGPORT, PGUSER, PGPASSWORD, ..."""
        ...

    def describe(self) -> dict[str, Any]:
        """Facts for the summary: backend, version, address. No credentials."""
        ...

    def restart(self, settings: Settings) -> None:
        """Restart the server with these settings on top of the backend's base settings."""
        ...

    def close(self) -> None:
        """Stop the server and remove everything the backend created. Idempotent."""
        ...

    def failure(self, grace: float = 0.0) -> str | None:
        """Why the server stopped when nobody asked it to (with the end of its log), or
        None while it runs or when the backend cannot tell. `grace`: seconds to wait for a
        server that is going down to be gone (after a connection error)."""
        ...

    def data_folder(self) -> Path | None:
        """Where the server keeps its data on this machine, when it is local."""
        ...

    def keep(self, dbname: str) -> dict[str, str]:
        """Leave the server running after pgrehearse exits (`capabilities.keep`); returns
        how to reach it, without the password."""
        ...

    def stop_for_snapshot(self) -> Path:
        """Stop the server cleanly and return its data directory (`capabilities.snapshot`)."""
        ...


class Backend(Protocol):
    name: str
    capabilities: Capabilities

    @property
    def major(self) -> int | None:
        """The PostgreSQL major its servers will run, when known before starting one."""
        ...

    @property
    def swept(self) -> list[Path]:
        """Folders left by killed runs that the last `start` removed."""
        ...

    def start(self, settings: Settings, *, snapshot: Path | None = None) -> Server:
        """Start a server with `settings` (from a stopped data directory `snapshot` when
        `capabilities.snapshot`). The caller must `close()` it."""
        ...
