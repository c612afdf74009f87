"""What every backend provides: a running throwaway server the rehearsal can connect to."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

Settings = Mapping[str, str]


class Server(Protocol):
    """A PostgreSQL server pgrehearse may freely change, for the length of one rehearsal."""

    backend_name: str

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


class Backend(Protocol):
    name: str

    def start(self, settings: Settings) -> Server:
        """Start a server with `settings`. The caller must `close()` it."""
        ...
