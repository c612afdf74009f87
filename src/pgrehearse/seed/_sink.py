"""Where the seeder's COPY rows go: a named pipe the server reads as a file, or COPY FROM STDIN.

The server ingests `COPY ... FROM '<file>'` faster than the same rows sent as CopyData
messages (measured on 2 cores: the protocol path costs it about a tenth of its speed, and
the client's libpq writes cost a core that generation needs). When the server runs on this
machine and may read server files (the local backend's superuser), the rows go through a
FIFO: the server opens it as a file, we write blocks into it. Elsewhere (Docker, `--dsn`,
a role that may not read files) COPY FROM STDIN is used, with the same rows.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from pgrehearse.backends.workdir import temp_root

Write = Callable[[bytes | memoryview], None]


@dataclass(frozen=True)
class Loading:
    """How a table's rows reach the server."""

    workers: int | None = None  # processes generating the rows (None: `default_workers`)
    folder: Path | None = None  # where the server reads pipes from (None: COPY FROM STDIN)
    connect: Callable[[], psycopg.Connection[Any]] | None = None  # new sessions, if allowed
    sessions: int = 1  # sessions a partitioned table's leaves may be shared among


@dataclass(frozen=True)
class Sink:
    write: Write
    fifo: Path | None  # the pipe the server reads, which another process may write too


_F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ, named in the fcntl module only from Python 3.10 on Linux
_PIPE_BYTES = 1 << 20  # fewer wake-ups of the server and of us than the default 64 KiB
# waiting for the server to open the pipe: it does within a millisecond, and a partitioned
# table makes a COPY per leaf per batch, so the first waits are short
_FIRST_POLL_SECONDS = 0.00005
_LAST_POLL_SECONDS = 0.005
# how long a failed write waits for the server's statement to end with the server's error
_SERVER_FAILURE_SECONDS = 1.0


def pipes_enabled() -> bool:
    return os.environ.get("PGREHEARSE_SEED_PIPE", "1") != "0"


@contextlib.contextmanager
def pipe_folder(conn: psycopg.Connection[Any]) -> Iterator[Path | None]:
    """A private folder for the seeder's FIFOs when the server can read files in it, else
    None. The folder is removed on the way out, whatever happens."""
    if not pipes_enabled() or not hasattr(os, "mkfifo"):
        yield None
        return
    folder = Path(tempfile.mkdtemp(prefix="pgrehearse-copy-", dir=temp_root()))
    try:
        folder.chmod(0o711)  # the server's user (postgres, under root) enters, cannot list
        yield folder if _server_sees(conn, folder) else None
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _server_sees(conn: psycopg.Connection[Any], folder: Path) -> bool:
    """Whether the server finds a file of a random name we made: it runs on this machine,
    sees our /tmp, and may read server files."""
    probe = folder / f"probe-{secrets.token_hex(8)}"
    probe.touch(mode=0o644)
    try:
        with conn.transaction():
            row = conn.execute("SELECT (pg_stat_file(%s, true)).size", (str(probe),)).fetchone()
    except psycopg.Error:
        return False  # not allowed (no superuser, no pg_read_server_files): STDIN it is
    finally:
        probe.unlink(missing_ok=True)
    return row is not None and row[0] is not None


@contextlib.contextmanager
def copy_rows(
    conn: psycopg.Connection[Any],
    target: sql.Composable,
    columns: sql.Composable,
    *,
    freeze: bool,
    folder: Path | None,
    binary: bool = False,
) -> Iterator[Sink]:
    """`COPY target (columns)` in the caller's transaction; the body writes the rows, in
    COPY text format (binary with `binary`), with the sink's `write`, or has another
    process write them to the sink's `fifo` (opened for writing before it returns, then
    closed when the COPY ends)."""
    options = copy_options(freeze=freeze, binary=binary)
    if folder is None:
        statement = sql.SQL("COPY {} ({}) FROM STDIN{}").format(target, columns, options)
        with conn.cursor() as cursor, cursor.copy(statement) as copy:
            yield Sink(copy.write, None)
        return
    fifo = folder / f"rows-{secrets.token_hex(8)}"
    os.mkfifo(fifo, 0o600)
    fifo.chmod(0o644)  # the server reads it as its own user; mkfifo's mode is umasked
    try:
        statement = sql.SQL("COPY {} ({}) FROM {}{}").format(
            target, columns, sql.Literal(str(fifo)), options
        )
        with _PipedCopy(conn, statement, fifo) as write:
            yield Sink(write, fifo)
    finally:
        fifo.unlink(missing_ok=True)


def copy_options(*, freeze: bool, binary: bool) -> sql.Composable:
    """A COPY's `WITH (…)`: FREEZE, binary format, both or neither."""
    chosen = [name for name, wanted in (("FREEZE", freeze), ("FORMAT binary", binary)) if wanted]
    return sql.SQL(f" WITH ({', '.join(chosen)})" if chosen else "")


class _PipedCopy:
    """The COPY statement runs in a thread while the caller writes into the FIFO it reads.

    The server's errors surface as the statement's psycopg error (with its diagnostics);
    an error on our side closes the pipe early (see `__exit__`).
    """

    def __init__(self, conn: psycopg.Connection[Any], statement: sql.Composed, fifo: Path):
        self.conn = conn
        self.statement = statement
        self.fifo = fifo
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="pgrehearse-seed-copy", daemon=True)
        self.fd: int | None = None

    def _run(self) -> None:
        try:
            self.conn.execute(self.statement)
        except BaseException as exc:  # re-raised in the caller's thread
            self.failure = exc

    def __enter__(self) -> Write:
        self.thread.start()
        self.fd = self._open_for_writing()
        return self._write

    def _open_for_writing(self) -> int | None:
        """Wait for the server to open its end; None if the statement ended without it."""
        pause = _FIRST_POLL_SECONDS
        while True:
            try:
                fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno != errno.ENXIO:  # ENXIO: no reader yet
                    raise
                if not self.thread.is_alive():
                    return None
                time.sleep(pause)
                pause = min(pause * 2, _LAST_POLL_SECONDS)
                continue
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
            with contextlib.suppress(OSError):  # a smaller pipe is only slower
                fcntl.fcntl(fd, _F_SETPIPE_SZ, _PIPE_BYTES)
            return fd

    def _write(self, data: bytes | memoryview) -> None:
        if self.fd is None:
            self._raise_statement_failure()
            raise RuntimeError("the server did not open the seeding pipe")
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self.fd, view) :]
        except BrokenPipeError:
            self._close()  # the server stopped reading: its error says why
            self.thread.join()
            self._raise_statement_failure()
            raise

    def _raise_statement_failure(self) -> None:
        self.thread.join()
        if self.failure is not None:
            raise self.failure

    def _close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:  # end of data: the server finishes the COPY, or says what is wrong
            self._close()
            self._raise_statement_failure()
            return
        if issubclass(kind, Exception):
            # A worker that could not write may have found the server's end closed: then
            # the server's error is the cause, and its statement ends at once. If it does
            # not end, the server is still reading, and our error is the cause.
            self.thread.join(_SERVER_FAILURE_SECONDS)
            if not self.thread.is_alive() and self.failure is not None:
                self._close()
                raise self.failure
        # Ours is the error (or Ctrl-C, SIGTERM): closing the pipe ends the COPY, perhaps on
        # a partial row, and the caller's rollback discards it; its error, a consequence,
        # is not reported. No cancel request: it could land on the session's next statement.
        self._close()
        self.thread.join()
