"""Local backend: initdb + postgres in a private temporary folder, removed afterwards.

The server listens on 127.0.0.1 (a free port) and on a unix socket in its own folder, with a
random scram-sha-256 password. When pgrehearse runs as root, the server runs as an
unprivileged user, since initdb and postgres refuse root.

The postmaster is our own child process, started in a session of its own so that a Ctrl-C
on the terminal reaches pgrehearse, which then stops the server in order; with a
parent-death signal, so a SIGKILLed pgrehearse does not leave a server running.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from pgrehearse.backends._base import Capabilities, Settings, SnapshotUnusable
from pgrehearse.backends._copy import copy_tree
from pgrehearse.backends._process import die_with_parent, signals_deferred, stop_process
from pgrehearse.backends.binaries import PostgresBinaries
from pgrehearse.backends.workdir import (
    RunAs,
    create_workdir,
    mark_kept,
    remove_workdir,
    sweep_leftovers,
    temp_root,
)
from pgrehearse.errors import EnvironmentProblem

SUPERUSER = "pgrehearse"
DEFAULT_SERVER_USER = "postgres"
_START_TIMEOUT_SECONDS = 60.0
_PORT_ATTEMPTS = 5


def resolve_run_as(user: str | None = None) -> RunAs | None:
    """The account to run the server as: None unless we are root."""
    if os.geteuid() != 0:
        return None
    name = user or os.environ.get("PGREHEARSE_SERVER_USER") or DEFAULT_SERVER_USER
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise EnvironmentProblem(
            f"pgrehearse runs as root, and PostgreSQL refuses to run as root, so the server "
            f"must run as an unprivileged user; user {name!r} does not exist.\n"
            f"fix: create it (`useradd --system {name}`) or set PGREHEARSE_SERVER_USER to "
            "an existing unprivileged user"
        ) from None
    groups = frozenset(g.gr_gid for g in grp.getgrall() if name in g.gr_mem)
    return RunAs(name, entry.pw_uid, entry.pw_gid, groups | {entry.pw_gid})


def _check_reachable(bin_dir: Path, run_as: RunAs) -> None:
    """The server's user must pass through every folder above its binaries (fetched ones
    under /root would not do)."""
    for path in (bin_dir, *bin_dir.parents):
        try:
            info = path.stat()
        except OSError:
            continue
        if info.st_uid == run_as.uid:
            passes = info.st_mode & 0o100
        elif info.st_gid in run_as.groups:
            passes = info.st_mode & 0o010
        else:
            passes = info.st_mode & 0o001
        if not passes:
            raise EnvironmentProblem(
                f"the server runs as {run_as.user} (PostgreSQL refuses root), who cannot pass "
                f"through {path} (mode {info.st_mode & 0o777:o}) to reach the binaries in "
                f"{bin_dir}\n"
                "fix: keep the binaries where that user can reach them: set "
                "PGREHEARSE_BINARIES_DIR (or PGREHEARSE_CACHE_DIR) outside that folder, or "
                "give --pg-bin a folder outside it"
            )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalBackend:
    """Starts throwaway servers from local PostgreSQL binaries."""

    name = "local"
    capabilities = Capabilities(keep=True, snapshot=True, cpu_measurement=True, own_cluster=True)

    def __init__(
        self,
        binaries: PostgresBinaries,
        *,
        server_user: str | None = None,
        work_root: Path | None = None,
    ) -> None:
        self.binaries = binaries
        self.run_as = resolve_run_as(server_user)
        if self.run_as is not None:
            _check_reachable(binaries.bin_dir, self.run_as)
        self.work_root = work_root or temp_root()
        self.swept: list[Path] = []

    @property
    def major(self) -> int:
        return self.binaries.major

    def start(self, settings: Settings, *, snapshot: Path | None = None) -> LocalServer:
        """A new server: a fresh cluster, or a copy of a stopped data directory `snapshot`.

        Raises `SnapshotUnusable` when the snapshot's server does not come up.
        """
        self.swept = sweep_leftovers(self.work_root)
        server = LocalServer(self.binaries, self.run_as, self.work_root)
        try:
            if snapshot is None:
                server.initialize()
                server.restart(settings)
            else:
                server.adopt(snapshot, settings)
        except BaseException:
            server.close()
            raise
        return server


def _run_as_group(
    command: list[str], timeout: float, **options: Any
) -> subprocess.CompletedProcess[str]:
    """`subprocess.run` in a process group of its own, the whole group killed if we are
    interrupted: initdb's own `postgres` children would otherwise go on writing into the
    folder being removed (a SIGTERM during initdb left the folder behind)."""
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **options,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
        return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


class LocalServer:
    """One initdb'd cluster in a private folder. Always `close()` it."""

    backend_name = "local"
    capabilities = LocalBackend.capabilities

    def __init__(self, binaries: PostgresBinaries, run_as: RunAs | None, work_root: Path) -> None:
        self.binaries = binaries
        self.run_as = run_as
        self.workdir = create_workdir(work_root, run_as)
        self.data_dir = self.workdir / "data"
        self.socket_dir = self.workdir / "sock"
        self.log_file = self.workdir / "server.log"
        self.password = secrets.token_urlsafe(24)
        self.settings: dict[str, str] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._version = binaries.version
        self._closed = False
        try:
            self.port = free_port()
        except BaseException:  # a signal before `start` can close us: the folder goes now
            remove_workdir(self.workdir)
            raise

    # ------------------------------------------------------------------ Server protocol

    @property
    def version(self) -> str:
        return self._version

    @property
    def major(self) -> int:
        return self.binaries.major

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def connect_kwargs(self, dbname: str, application_name: str) -> dict[str, Any]:
        return {
            "host": str(self.socket_dir),
            "port": self.port,
            "user": SUPERUSER,
            "password": self.password,
            "dbname": dbname,
            "application_name": application_name,
            "connect_timeout": 10,
        }

    def database_name(self, logical: str) -> str:
        return logical

    def client_program(self, name: str) -> Path:
        return self.binaries.program(name)

    def client_env(self, dbname: str) -> dict[str, str]:
        return {
            **os.environ,
            "PGHOST": str(self.socket_dir),
            "PGPORT": str(self.port),
            "PGUSER": SUPERUSER,
            "PGPASSWORD": self.password,
            "PGDATABASE": dbname,
            "PGAPPNAME": "pgrehearse:harness",
            "PGCONNECT_TIMEOUT": "10",
        }

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.backend_name,
            "version": self._version,
            "major": self.major,
            "bin_dir": str(self.binaries.bin_dir),
            "binaries_found_via": self.binaries.found_via,
            "host": "127.0.0.1",
            "port": self.port,
            "server_user": self.run_as.user if self.run_as else None,
        }

    def _make_socket_dir(self) -> None:
        self.socket_dir.mkdir(mode=0o700)
        if self.run_as:
            os.chown(self.socket_dir, self.run_as.uid, self.run_as.gid)

    def initialize(self) -> None:
        self._make_socket_dir()
        pwfile = self.workdir / "pwfile"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        if self.run_as:
            os.chown(pwfile, self.run_as.uid, self.run_as.gid)
        command = [
            str(self.binaries.program("initdb")),
            "--pgdata",
            str(self.data_dir),
            "--username",
            SUPERUSER,
            "--auth",
            "scram-sha-256",
            "--pwfile",
            str(pwfile),
            "--encoding",
            "UTF8",
            "--locale",
            "C",
            "--no-sync",
            "--no-instructions",
        ]
        try:
            result = _run_as_group(command, 120, cwd=self.workdir, **self._as_server_user())
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise EnvironmentProblem(
                f"initdb failed (exit {result.returncode}):\n{_tail(result.stderr)}"
            )

    def adopt(self, snapshot: Path, settings: Settings) -> None:
        """Start on a copy of a stopped data directory, under a new password.

        The copy still holds the old password's verifier, so the server starts with a
        pg_hba.conf that trusts our role on the unix socket only (its folder is private to
        the server's user), sets the new password, then requires it everywhere again.
        """
        self._make_socket_dir()
        copy_tree(snapshot, self.data_dir)
        if self.run_as:
            _chown_tree(self.data_dir, self.run_as)
        self.data_dir.chmod(0o700)
        self._write_hba(local_method="trust")
        try:
            self.restart(settings)
            with psycopg.connect(
                **{**self.connect_kwargs("postgres", "pgrehearse:harness"), "password": None}
            ) as conn:
                conn.execute(
                    sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                        sql.Identifier(SUPERUSER), sql.Literal(self.password)
                    )
                )
                self._write_hba(local_method="scram-sha-256")
                conn.execute("SELECT pg_reload_conf()")
        except EnvironmentProblem as exc:
            raise SnapshotUnusable(str(exc)) from exc

    def _write_hba(self, *, local_method: str) -> None:
        hba = self.data_dir / "pg_hba.conf"
        hba.write_text(
            f"local all {SUPERUSER} {local_method}\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
            "host all all ::1/128 scram-sha-256\n"
        )
        if self.run_as:
            os.chown(hba, self.run_as.uid, self.run_as.gid)

    def stop(self) -> None:
        """Stop the postmaster cleanly (fast shutdown), keeping the data directory."""
        self._stop_postmaster()

    def failure(self, grace: float = 0.0) -> str | None:
        process = self._process
        if process is None or self._closed:
            return None
        try:
            # a dying postmaster closes its sockets and pipes a moment before it can be
            # reaped: a connection error may arrive first, so the caller may give it `grace`
            code = process.wait(timeout=grace) if grace > 0 else process.poll()
        except subprocess.TimeoutExpired:
            return None
        if code is None:
            return None
        how = f"signal {-code}" if code < 0 else f"exit code {code}"
        tail = "\n".join(self._read_log().splitlines()[-8:])
        return (
            f"the PostgreSQL server stopped unexpectedly ({how}); the end of its log "
            f"({self.log_file}):\n{tail}"
        )

    def data_folder(self) -> Path:
        return self.data_dir

    def stop_for_snapshot(self) -> Path:
        self.stop()
        return self.data_dir

    def restart(self, settings: Settings) -> None:
        """(Re)start the postmaster with the base settings plus `settings`."""
        self._stop_postmaster()
        for _attempt in range(_PORT_ATTEMPTS):
            self.settings = {**self._base_settings(), **settings}
            self._spawn()
            failure = self._wait_ready()
            if failure is None:
                self._version = self._query_version()
                return
            self._stop_postmaster()
            if "could not bind" in failure or "Address already in use" in failure:
                self.port = free_port()  # lost a race for the port: try another one
                continue
            raise EnvironmentProblem(f"the PostgreSQL server did not start:\n{failure}")
        raise EnvironmentProblem(
            f"the PostgreSQL server could not bind a free port in {_PORT_ATTEMPTS} attempts"
        )

    def keep(self, dbname: str = "rehearsal") -> dict[str, str]:
        """Leave the server running after pgrehearse exits, for debugging.

        The postmaster is restarted without the parent-death signal and the folder is marked
        as kept, so later runs leave it alone; `pgrehearse cleanup` stops it. The password goes
        to a pgpass file in the folder, never to the terminal.
        """
        pgpass = self.workdir / "pgpass"
        pgpass.write_text(f"*:{self.port}:*:{SUPERUSER}:{self.password}\n")
        pgpass.chmod(0o600)
        self._stop_postmaster()
        self._spawn(die_with_parent_process=False)
        failure = self._wait_ready()
        if failure is not None:
            raise EnvironmentProblem(f"the kept server did not restart:\n{failure}")
        mark_kept(self.workdir)
        self._closed = True
        self._process = None
        conninfo = f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={dbname}"
        return {
            "folder": str(self.workdir),
            "conninfo": conninfo,
            "pgpass": str(pgpass),
            "psql": f"PGPASSFILE={pgpass} psql '{conninfo}'",
        }

    def close(self) -> None:
        if self._closed:
            return
        with signals_deferred():
            self._stop_postmaster()
            remove_workdir(self.workdir)
            self._closed = True

    # ------------------------------------------------------------------ internals

    def _base_settings(self) -> dict[str, str]:
        return {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            "unix_socket_permissions": "0700",
            "logging_collector": "off",
            "log_min_messages": "warning",
            "dynamic_shared_memory_type": "posix",
        }

    def _spawn(self, *, die_with_parent_process: bool = True) -> None:
        command = [str(self.binaries.program("postgres")), "-D", str(self.data_dir)]
        for key, value in self.settings.items():
            command += ["-c", f"{key}={value}"]
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,
                preexec_fn=die_with_parent() if die_with_parent_process else None,
                **self._as_server_user(),
            )

    def _wait_ready(self) -> str | None:
        """None when the server accepts connections, else what went wrong."""
        assert self._process is not None
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return _tail(self._read_log())
            try:
                with psycopg.connect(**self.connect_kwargs("postgres", "pgrehearse:probe")):
                    return None
            except psycopg.OperationalError:
                time.sleep(0.02)
        return f"not ready after {_START_TIMEOUT_SECONDS:.0f} s:\n{_tail(self._read_log())}"

    def _query_version(self) -> str:
        with psycopg.connect(**self.connect_kwargs("postgres", "pgrehearse:probe")) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        assert row is not None
        return str(row[0]).split()[0]

    def _stop_postmaster(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        # SIGINT is PostgreSQL's "fast" shutdown: roll back sessions, checkpoint, exit
        stop_process(process.pid, graceful=signal.SIGINT, grace_seconds=30.0)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _as_server_user(self) -> Mapping[str, Any]:
        if self.run_as is None:
            return {}
        return {"user": self.run_as.uid, "group": self.run_as.gid, "extra_groups": []}

    def _read_log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""


def _chown_tree(root: Path, run_as: RunAs) -> None:
    os.chown(root, run_as.uid, run_as.gid)
    for directory, folders, files in os.walk(root):
        for name in folders + files:
            os.chown(Path(directory) / name, run_as.uid, run_as.gid, follow_symlinks=False)


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join("    " + line for line in text.strip().splitlines()[-lines:])
