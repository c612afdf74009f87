"""The application load: clients in a process of their own, recording every transaction.

Each client has its own connection (application_name `pgrehearse:load:<n>`) and runs
prepared statements straight through libpq (psycopg's low-level `pgconn`), in non-blocking
mode, one thread waiting on all their sockets: the Python work per transaction stays about
15 µs, so the load generator takes little of the CPU the server needs. The process is
separate from the rehearsal's so the load's Python work cannot delay the lock sampler.
Times are on the rehearsal's clock (CLOCK_MONOTONIC is shared by processes on one machine).

Events are kept per client in typed arrays (`array`), merged into numpy arrays at the end.
"""

from __future__ import annotations

import contextlib
import pickle
import select
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import numpy.typing as npt
from psycopg import errors as pg_errors

from pgrehearse.scenario import ColumnSpec, LoadSpec

OUTCOMES = (
    "ok",
    "lock_timeout",
    "statement_timeout",
    "deadlock",
    "serialization",
    "undefined",
    "breaks_app",
    "other",
)
_CLASS_BY_SQLSTATE = {
    pg_errors.LockNotAvailable.sqlstate: "lock_timeout",
    pg_errors.QueryCanceled.sqlstate: "statement_timeout",
    pg_errors.DeadlockDetected.sqlstate: "deadlock",
    pg_errors.SerializationFailure.sqlstate: "serialization",
    pg_errors.UndefinedColumn.sqlstate: "undefined",
    pg_errors.UndefinedTable.sqlstate: "undefined",
    pg_errors.UndefinedFunction.sqlstate: "undefined",
    pg_errors.UndefinedObject.sqlstate: "undefined",
    # the old application's statements no longer fit the new schema
    pg_errors.FeatureNotSupported.sqlstate: "breaks_app",  # cached plan must not change type
    pg_errors.NotNullViolation.sqlstate: "breaks_app",
    pg_errors.CheckViolation.sqlstate: "breaks_app",
    pg_errors.UniqueViolation.sqlstate: "breaks_app",
    pg_errors.ForeignKeyViolation.sqlstate: "breaks_app",
    pg_errors.DatatypeMismatch.sqlstate: "breaks_app",
    pg_errors.InvalidTextRepresentation.sqlstate: "breaks_app",
}
# errors that mean the migration broke the running application (counted as breaking)
BREAKING_CLASSES = ("undefined", "breaks_app")


def classify(sqlstate: str | None) -> str:
    if sqlstate is None:
        return "ok"
    return _CLASS_BY_SQLSTATE.get(sqlstate, "other")


class LoadError(RuntimeError):
    """The load could not start (bad SQL for the schema before the migration, ...)."""


@dataclass(frozen=True)
class PreparedTransaction:
    name: str
    weight: float
    statements: list[tuple[str, list[str]]]  # ($n SQL, parameter name of each position)
    params: dict[str, ColumnSpec]
    after_up: bool = False  # the new application: runs from the end of up to the start of down


@dataclass
class LoadEvents:
    """Every transaction the clients ran, as numpy arrays of equal length."""

    transactions: list[str]
    start_s: npt.NDArray[np.float64]
    latency_s: npt.NDArray[np.float64]
    lateness_s: npt.NDArray[np.float64]
    transaction: npt.NDArray[np.int16]  # index into `transactions`
    client: npt.NDArray[np.int16]
    outcome: npt.NDArray[np.int8]  # index into OUTCOMES
    sqlstate: list[str | None]
    first_errors: dict[tuple[str, str], dict[str, Any]]  # (transaction, sqlstate) -> first
    client_pids: list[int]
    started_s: float
    stopped_s: float


class LoadChild:
    """The load generator's interpreter (`python -m pgrehearse.load._child`), started ahead
    of need: its imports (psycopg, numpy) then overlap the server's start, and it waits on
    stdin for its configuration. Kill it in every case; killing twice is harmless."""

    def __init__(self) -> None:
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process
        self.process: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-m", "pgrehearse.load._child"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
        )

    def kill(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self.stderr.close()


class LoadProcess:
    """Start before the observed window, stop after it; `stop()` returns the events.

    The clients run in a fresh interpreter (`LoadChild`), talked to over its stdin and
    stdout: no fork of a process that has threads, and no re-import of the caller's main
    module (which multiprocessing's spawn would do). Give it a child started earlier to
    save the interpreter's start-up; otherwise it starts one.
    """

    def __init__(
        self,
        spec: LoadSpec,
        transactions: list[PreparedTransaction],
        connect_kwargs: dict[str, Any],
        clock_origin: float,
        seed: int,
        child: LoadChild | None = None,
    ) -> None:
        self._config = {
            "spec": spec,
            "transactions": transactions,
            "connect_kwargs": connect_kwargs,
            "clock_origin": clock_origin,
            "seed": seed,
        }
        self._child = child
        self._sent = False  # the configuration went to the child

    @property
    def _process(self) -> subprocess.Popen[bytes] | None:
        return self._child.process if self._child is not None else None

    def prepare(self) -> None:
        """Have the clients connect and prepare their statements, and return at once: they
        run nothing until `start`, so the schema and data can still be read undisturbed."""
        if self._sent:
            return
        if self._process is None:
            self._child = LoadChild()
        assert self._process is not None and self._process.stdin is not None
        write_message(self._process.stdin, self._config)
        self._sent = True

    def start(self, timeout: float = 60.0) -> None:
        """Run the transactions. Raises LoadError when the SQL does not fit the schema."""
        self.prepare()
        assert self._process is not None and self._process.stdin is not None
        message = self._receive(timeout)  # prepared, or why not
        if message.get("error"):
            self.kill()
            raise LoadError(message["error"])
        self._process.stdin.write(b"G")
        self._process.stdin.flush()
        self._receive(timeout)

    def new_shape(self, running: bool, timeout: float = 60.0) -> None:
        """Start (or stop) the transactions that run only after up; returns once every
        client switched (a client stuck in a transaction gets a few seconds)."""
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write(b"U" if running else b"D")
        self._process.stdin.flush()
        self._receive(timeout)

    def stop(self, timeout: float = 60.0) -> LoadEvents:
        assert self._process is not None and self._process.stdin is not None
        try:
            self._process.stdin.write(b"S")
            self._process.stdin.flush()
            message = self._receive(timeout)
        finally:
            self.kill()
        if message.get("error"):
            raise LoadError(message["error"])
        events: LoadEvents = message["events"]
        return events

    def _receive(self, timeout: float) -> dict[str, Any]:
        assert self._process is not None and self._process.stdout is not None
        ready, _, _ = select.select([self._process.stdout], [], [], timeout)
        message = read_message(self._process.stdout) if ready else None
        if message is None:
            tail = self._stderr_tail()
            self.kill()
            raise LoadError("the load generator stopped unexpectedly" + tail)
        result: dict[str, Any] = message
        return result

    def _stderr_tail(self) -> str:
        if self._child is None:
            return ""
        self._child.stderr.seek(0)
        text = self._child.stderr.read().decode(errors="replace").strip()
        return ":\n" + "\n".join(text.splitlines()[-10:]) if text else ""

    def kill(self) -> None:
        if self._child is not None:
            self._child.kill()


def write_message(stream: IO[bytes], message: Any) -> None:
    data = pickle.dumps(message)
    stream.write(struct.pack("!Q", len(data)) + data)
    stream.flush()


def read_message(stream: IO[bytes]) -> Any:
    header = stream.read(8)
    if len(header) < 8:
        return None
    (length,) = struct.unpack("!Q", header)
    data = stream.read(length)
    if len(data) < length:
        return None
    return pickle.loads(data)
