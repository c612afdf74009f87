"""External backend: a server someone else runs (staging, a restored snapshot, a cloud branch).

pgrehearse creates databases of its own there, named after the run (`pgrehearse_<run id>`
and `pgrehearse_<run id>_schema`), works only inside them, and drops them at the end,
after a failure and on Ctrl-C too. It creates, alters and drops nothing else. Server
settings cannot be changed on a server we do not own: the rehearsal runs with the server's
own configuration, which the summary records.

Passwords never leave this module: `redact` replaces them wherever a DSN is shown.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgrehearse.backends._base import Capabilities, CapabilityMissing, Settings
from pgrehearse.backends.binaries import PostgresBinaries, find_binaries
from pgrehearse.errors import EnvironmentProblem

MIN_SERVER_VERSION = 140000  # PostgreSQL 14
_PASSWORD_IN_URL = re.compile(r"(postgres(?:ql)?://[^:/@\s]*:)([^@\s]*)(@)")
_PASSWORD_KEYWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def redact(text: str, secret: str | None = None) -> str:
    """`text` with the password of any DSN in it (and `secret` itself) replaced by ***."""
    text = _PASSWORD_IN_URL.sub(r"\1***\3", text)
    text = _PASSWORD_KEYWORD.sub(r"\1***", text)
    if secret:
        text = text.replace(secret, "***")
    return text


class ExternalBackend:
    """Rehearses in private databases on an existing server reached through `dsn`."""

    name = "external"

    def __init__(self, dsn: str, *, run_name: str | None = None, in_place: bool = False) -> None:
        try:
            self.params = conninfo_to_dict(dsn)
        except psycopg.ProgrammingError as exc:
            raise EnvironmentProblem(f"invalid DSN {redact(dsn)!r}: {redact(str(exc))}") from None
        self.dsn = dsn
        self.run_name = run_name or secrets.token_hex(4)
        self.in_place = in_place
        self.capabilities = Capabilities(preloaded=in_place)
        database = str(self.params.get("dbname") or "")
        if in_place and database in ("", "postgres", "template0", "template1"):
            raise EnvironmentProblem(
                "clone mode rehearses in the DSN's own database, and this DSN names "
                f"{database or 'no database'!r}.\nfix: put the disposable clone's database "
                "name in the DSN (postgresql://user@host/clone_db)"
            )

    @property
    def swept(self) -> list[Path]:
        return []  # nothing of killed runs is swept on start (see `pgrehearse cleanup`)

    @property
    def major(self) -> None:
        return None  # known once connected

    def start(self, settings: Settings, *, snapshot: Path | None = None) -> ExternalServer:
        if snapshot is not None:
            raise CapabilityMissing("the external backend cannot start from a snapshot")
        server = ExternalServer(
            self.params, f"pgrehearse_{self.run_name}".lower(), in_place=self.in_place
        )
        server.open()
        return server


class ExternalServer:
    backend_name = "external"

    def __init__(self, params: dict[str, Any], prefix: str, *, in_place: bool = False) -> None:
        self.params = params
        self.prefix = re.sub(r"[^a-z0-9_]", "_", prefix)[:50]
        # clone mode: the DSN's database is the rehearsal database, already seeded
        self.preloaded = in_place
        self.capabilities = Capabilities(preloaded=in_place)
        self.target_db = str(params.get("dbname") or "postgres")
        self.maintenance_db = "postgres" if in_place else self.target_db
        self._version = ""
        self._major = 0
        self._binaries: PostgresBinaries | None = None
        self.settings: dict[str, str] = {}

    @property
    def password(self) -> str | None:
        value = self.params.get("password") or os.environ.get("PGPASSWORD")
        return str(value) if value else None

    def _admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(**self.connect_kwargs("postgres", "pgrehearse:harness"))

    def open(self) -> None:
        """Check the server and role, then create this run's databases."""
        try:
            with self._admin() as conn:
                row = conn.execute(
                    "SELECT current_setting('server_version_num')::int,"
                    " current_setting('server_version'), r.rolcreatedb OR r.rolsuper,"
                    " current_user FROM pg_roles r WHERE r.rolname = current_user"
                ).fetchone()
        except psycopg.Error as exc:
            raise EnvironmentProblem(
                f"cannot connect to the external server {self.where()}: "
                f"{redact(str(exc).strip(), self.password)}\n"
                "fix: check --dsn / PGREHEARSE_DSN (host, port, user, password, database)"
            ) from None
        assert row is not None
        number, version, can_create, user = row
        self._version = str(version).split()[0]
        self._major = int(number) // 10000
        if number < MIN_SERVER_VERSION:
            raise EnvironmentProblem(
                f"the external server runs PostgreSQL {self._version}; pgrehearse needs 14 or "
                "newer (DROP DATABASE … WITH (FORCE), pg_locks details)"
            )
        if not can_create:
            raise EnvironmentProblem(
                f"role {user!r} on {self.where()} may not create databases, and pgrehearse "
                "rehearses in a database of its own there (never in yours).\n"
                f"fix: ALTER ROLE {user} CREATEDB, or give a DSN of a role that has it"
            )

    def where(self) -> str:
        host = self.params.get("host") or "localhost"
        return f"{host}:{self.params.get('port') or 5432}/{self.maintenance_db}"

    # ------------------------------------------------------------------ Server protocol

    @property
    def version(self) -> str:
        return self._version

    @property
    def major(self) -> int:
        return self._major

    def database_name(self, logical: str) -> str:
        if logical == "postgres":
            return self.maintenance_db
        if logical == "rehearsal":
            return self.target_db if self.preloaded else self.prefix
        if logical.startswith("pgrehearse_"):
            return f"{self.prefix}_{logical.removeprefix('pgrehearse_')}"
        return logical

    def connect_kwargs(self, dbname: str, application_name: str) -> dict[str, Any]:
        return {
            **self.params,
            "dbname": self.database_name(dbname),
            "application_name": application_name,
            "connect_timeout": self.params.get("connect_timeout") or 10,
        }

    def client_program(self, name: str) -> Path:
        if self._binaries is None:
            # pg_dump must not be older than the server: same major, fetched if need be
            self._binaries = find_binaries(major=self._major)
        return self._binaries.program(name)

    def client_env(self, dbname: str) -> dict[str, str]:
        env = {**os.environ, "PGAPPNAME": "pgrehearse:harness", "PGCONNECT_TIMEOUT": "10"}
        env["PGDATABASE"] = self.database_name(dbname)
        for key, variable in (
            ("host", "PGHOST"),
            ("port", "PGPORT"),
            ("user", "PGUSER"),
            ("password", "PGPASSWORD"),
            ("sslmode", "PGSSLMODE"),
        ):
            if self.params.get(key):
                env[variable] = str(self.params[key])
        return env

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.backend_name,
            "version": self._version,
            "major": self._major,
            "host": self.params.get("host") or "localhost",
            "port": int(self.params.get("port") or 5432),
            "database": self.database_name("rehearsal"),
            "user": self.params.get("user"),
            "clone_mode": self.preloaded,
            "note": "the server's own settings (pgrehearse does not change them)",
        }

    def restart(self, settings: Settings) -> None:
        self.settings = dict(settings)  # not applied: the server is not ours to restart

    def failure(self, grace: float = 0.0) -> str | None:
        return None  # not watched: a lost connection surfaces as an error of its own

    def data_folder(self) -> Path | None:
        return None

    def keep(self, dbname: str) -> dict[str, str]:
        raise CapabilityMissing(f"{self.backend_name} servers cannot be kept")

    def stop_for_snapshot(self) -> Path:
        raise CapabilityMissing(f"{self.backend_name} servers cannot be snapshotted")

    def close(self) -> None:
        """Drop every database of this run (sessions in them are terminated first)."""
        with psycopg.connect(
            **self.connect_kwargs("postgres", "pgrehearse:harness"), autocommit=True
        ) as conn:
            names = [
                row[0]
                for row in conn.execute(
                    "SELECT datname FROM pg_database WHERE (datname = %s OR datname LIKE %s)"
                    " AND datname <> %s",
                    (self.prefix, self.prefix.replace("_", r"\_") + r"\_%", self.target_db),
                )
            ]
            for name in names:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


_RUN_DATABASE = re.compile(r"^pgrehearse_(\d{8}t\d{6}z)_[0-9a-f]{4}(?:_[a-z0-9_]+)?$")


def sweep_databases(dsn: str, older_than: dt.timedelta) -> list[str]:
    """Drop databases that runs killed with SIGKILL left on an external server: only names
    of the form `pgrehearse_<run id>[_...]` whose run started more than `older_than` ago
    and in which nobody is connected. Returns the dropped names."""
    params: dict[str, Any] = dict(ExternalBackend(dsn).params)
    now = dt.datetime.now(dt.UTC)
    dropped: list[str] = []
    try:
        with psycopg.connect(
            **{**params, "application_name": "pgrehearse:cleanup"}, autocommit=True
        ) as conn:
            busy = {r[0] for r in conn.execute("SELECT DISTINCT datname FROM pg_stat_activity")}
            for (name,) in conn.execute("SELECT datname FROM pg_database ORDER BY 1").fetchall():
                match = _RUN_DATABASE.match(name)
                if match is None or name in busy:
                    continue
                started = dt.datetime.strptime(match.group(1), "%Y%m%dt%H%M%Sz")
                if now - started.replace(tzinfo=dt.UTC) < older_than:
                    continue
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
                dropped.append(name)
    except psycopg.Error as exc:
        raise EnvironmentProblem(
            f"cleanup on {dsn_for_display(dsn)} failed: {redact(str(exc).strip())}"
        ) from None
    return dropped


def dsn_for_display(dsn: str) -> str:
    """A DSN safe to print: the password replaced, everything else kept."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return redact(dsn)
    if "password" in params:
        params["password"] = "***"
    return make_conninfo("", **params)
