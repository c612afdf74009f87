"""A partitioned table's rows written by the generating worker straight into its leaves.

The leaf path of `_leaves` relays every routed block through this process and sends each
leaf its share as `COPY … FROM STDIN`: the relay costs this process a fifth of a µs a row,
and the protocol path costs the server more than reading a file. Here, as for a plain
table (`_pipeline.stream_blocks`), the one worker writes the rows into named pipes the
server reads as files, one `COPY leaf FROM '<pipe>' FREEZE` per *run*: a stretch of rows
of one leaf. The worker decides the runs (`RunPlanner`) and announces each; this process
only starts each run's COPY, in order, on its session.

A range key that rises with the rows (as inferred range keys do) makes each leaf one run,
and so does, for each window of rows, a key in random order that `_leaf_order` dealt out in
leaf order. A key that stays in random order (tied to its row) makes runs of a leaf's rows
held meanwhile: at least 2 MB each when the server is the faster side, longer when it is
the slower (up to 64 MB are held in all).
"""

from __future__ import annotations

import contextlib
import fcntl
import multiprocessing
import os
import queue
import secrets
import struct
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from pgrehearse.seed._generators import (
    BLOCK_ROWS,
    Column,
    assemble_routed,
    copy_framing,
    is_binary,
)
from pgrehearse.seed._pipeline import FORKING, become_worker, block_count
from pgrehearse.seed._routing import TO_PARENT, LeafRouter
from pgrehearse.seed._sink import copy_options

# The worker holds up to this much of the rows it made and not yet written. The writer
# picks from them so that each leaf's rows go in few, long runs: each COPY costs the server
# 2-3 ms of CPU of its own (in PostgreSQL 15, a COPY's 1,000 buffered-row slots each pin
# the table's descriptor, at a cost quadratic in their number), so 1M rows in 100 COPYs
# instead of 7 cost it a sixth more. The generator waits only while this much is held.
_HELD_BYTES = 64 * 1024 * 1024
_SHORTEST_RUN = 2 * 1024 * 1024  # a new run starts for at least this much, or less per leaf
_F_SETPIPE_SZ = 1031
_PIPE_BYTES = 1 << 20
_MOST_PIECES = 512  # a writev takes at most IOV_MAX (1024 on Linux) buffers
_RUN = struct.Struct("<qq")  # leaf, run number
_PROGRESS = struct.Struct("<qq")  # rows, bytes
_SERVER_FAILURE_SECONDS = 1.0
_POLL_SECONDS = 0.2

Chunk = tuple[int, bytes]  # leaf, COPY rows
Piece = tuple[bytes, float]  # COPY rows, how many rows (a share of its block's)


@dataclass
class RunPlanner:
    """Which held rows to write next, so that a leaf's rows go in few, long runs while the
    server is never kept waiting when rows are held. Pure logic: no I/O, no threads.

    The run under way goes on while its leaf holds a run's worth. Else the fullest leaf
    starts the next run once it holds that much; else the run under way goes on with what
    its leaf holds. When the buffer is full, or no more rows will come, the fullest leaf
    goes whatever it holds. A rising key thus makes one run per leaf, and random keys make
    runs of about `held_bytes` over the leaf count when the server is the slower side, and
    of `shortest_run` or more when it is the faster."""

    held_bytes: int = _HELD_BYTES
    leaf_count: int = 1
    current: int | None = None  # the leaf of the run being written
    held: dict[int, list[Piece]] = field(default_factory=dict)
    sizes: dict[int, int] = field(default_factory=dict)
    buffered: int = 0
    made: int = 0  # bytes added so far

    @property
    def shortest_run(self) -> int:
        """A run's worth: `_SHORTEST_RUN`, or less per leaf with many leaves; and, while
        the first rows come, half a leaf's share of all made so far, so the server is not
        kept waiting for the first leaf to fill (measured, 1M rows: 0.16 s of 1.5)."""
        per_leaf = 2 * max(self.leaf_count, 1)
        return max(1, min(_SHORTEST_RUN, self.held_bytes // per_leaf, self.made // per_leaf))

    @property
    def full(self) -> bool:
        return self.buffered >= self.held_bytes

    def add(self, groups: Sequence[Chunk], rows: int) -> None:
        """One block's pieces, a piece per leaf, and the block's row count."""
        size = sum(len(data) for _, data in groups)
        for leaf, data in groups:
            self.held.setdefault(leaf, []).append((data, rows * len(data) / max(size, 1)))
            self.sizes[leaf] = self.sizes.get(leaf, 0) + len(data)
        self.buffered += size
        self.made += size

    def take(self, *, last: bool = False) -> tuple[int, list[Piece]] | None:
        """The leaf to write next and its held pieces, in the order made; None: wait for
        more rows. `last`: no more will come."""
        if not self.sizes:
            return None
        fullest = max(self.sizes, key=self.sizes.__getitem__)
        worth = self.sizes[fullest] >= self.shortest_run
        current = self.sizes.get(self.current, 0) if self.current is not None else 0
        leaf: int
        if self.current is not None and current and (current >= self.shortest_run or not worth):
            leaf = self.current  # no new COPY
        elif worth or last or self.full or self.current is None:
            leaf = fullest
        else:
            return None  # nothing worth a new COPY yet
        self.current = leaf
        self.buffered -= self.sizes.pop(leaf)
        return leaf, self.held.pop(leaf)


class HeldRows:
    """The `RunPlanner` shared by the worker's generating thread (`put`, which waits while
    the buffer is full) and its writing thread (`take`, which waits for rows)."""

    def __init__(self, planner: RunPlanner) -> None:
        self.planner = planner
        self.writing = 0  # bytes taken and not yet written: they count as held
        self.last = False
        self.stopped = False
        self.changed = threading.Condition()

    def put(self, groups: Sequence[Chunk], rows: int) -> None:
        with self.changed:
            while self.planner.buffered + self.writing >= self.planner.held_bytes:
                if self.stopped:
                    return
                self.changed.wait(_POLL_SECONDS)
            self.planner.add(groups, rows)
            self.changed.notify_all()

    def take(self) -> tuple[int, list[Piece]] | None:
        """The next leaf and pieces to write; None once every row is taken (or stopped)."""
        with self.changed:
            while not self.stopped:
                taken = self.planner.take(last=self.last)
                if taken is not None:
                    self.writing += sum(len(data) for data, _ in taken[1])
                    return taken
                if self.last:
                    return None
                self.changed.wait(_POLL_SECONDS)
            return None

    def written(self, size: int) -> None:
        with self.changed:
            self.writing -= size
            self.changed.notify_all()

    def close(self) -> None:
        """No more rows will come."""
        with self.changed:
            self.last = True
            self.changed.notify_all()

    def stop(self) -> None:
        with self.changed:
            self.stopped = True
            self.changed.notify_all()


def run_path(folder: Path, token: str, run: int) -> Path:
    return folder / f"run-{token}-{run}"


def load_leaf_runs(
    conn: psycopg.Connection[Any],
    router: LeafRouter,
    parent: sql.Composable,
    columns: list[Column],
    what: tuple[int, int, str],  # rows, seed, table
    sent: Callable[[int, int], None],
    folder: Path,
) -> None:
    """Load every row into its leaf (frozen; the leaves are truncated in this transaction)
    or, for rows no leaf takes, through the parent; in the caller's transaction."""
    names = sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)
    leaves = [sql.SQL(leaf) for leaf in router.leaves]  # qualified and quoted by the server
    token = secrets.token_hex(8)
    copier = _RunCopier(conn, leaves, parent, names, folder, token, is_binary(columns))
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    with FORKING:
        worker = context.Process(
            target=_worker,
            args=(columns, what, router, folder, token, sender),
            daemon=True,
            name="pgrehearse-seed-runs",
        )
        worker.start()
    sender.close()
    try:
        _follow(receiver, worker, copier, sent)
        copier.finish()
    finally:
        if worker.is_alive():
            worker.kill()
        worker.join(timeout=5)
        receiver.close()
        copier.abandon()


def _follow(
    receiver: Connection,
    worker: Any,
    copier: _RunCopier,
    sent: Callable[[int, int], None],
) -> None:
    """Start each run's COPY as the worker announces it, until it says it is done."""
    done_rows = done_bytes = 0
    while True:
        copier.raise_failure()
        if not receiver.poll(_POLL_SECONDS):
            continue
        try:
            message = receiver.recv_bytes()
        except (EOFError, OSError) as exc:
            copier.raise_failure(wait=_SERVER_FAILURE_SECONDS)
            raise RuntimeError(f"a seeding worker died ({exc!r})") from None
        kind, body = message[:1], message[1:]
        if kind == b"O":
            copier.runs.put(_RUN.unpack(body))
        elif kind == b"S":
            rows, size = _PROGRESS.unpack(body)
            done_rows, done_bytes = done_rows + rows, done_bytes + size
            sent(done_rows, done_bytes)
        elif kind == b"D":
            return
        else:  # the server's error, if it stopped reading, says more than the worker's
            copier.raise_failure(wait=_SERVER_FAILURE_SECONDS)
            raise RuntimeError("a seeding worker failed:\n" + body.decode())


class _RunCopier:
    """Runs each announced run's COPY in turn, on the caller's session, in a thread of its
    own (this process keeps following the worker meanwhile)."""

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        leaves: Sequence[sql.Composable],
        parent: sql.Composable,
        names: sql.Composable,
        folder: Path,
        token: str,
        binary: bool,
    ) -> None:
        self.conn = conn
        self.binary = binary
        self.leaves = leaves
        self.parent = parent
        self.names = names
        self.folder = folder
        self.token = token
        self.runs: queue.Queue[tuple[int, int] | None] = queue.Queue()
        self.failure: BaseException | None = None
        self.stopping = threading.Event()
        self.reading: Path | None = None  # the pipe of the COPY under way
        self.thread = threading.Thread(target=self._run, name="pgrehearse-seed-runs", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (run := self.runs.get()) is not None and not self.stopping.is_set():
            leaf, number = run
            path = run_path(self.folder, self.token, number)
            to_parent = leaf == TO_PARENT
            statement = sql.SQL("COPY {} ({}) FROM {}{}").format(
                self.parent if to_parent else self.leaves[leaf],
                self.names,
                sql.Literal(str(path)),
                copy_options(freeze=not to_parent, binary=self.binary),
            )
            self.reading = path
            try:
                self.conn.execute(statement)
            except BaseException as exc:  # re-raised by the following thread
                self.failure = exc
                return
            finally:
                self.reading = None
                path.unlink(missing_ok=True)

    def raise_failure(self, wait: float = 0.0) -> None:
        if wait:
            self.thread.join(wait)
        if self.failure is not None:
            raise self.failure

    def finish(self) -> None:
        self.runs.put(None)
        self.thread.join()
        self.raise_failure()

    def abandon(self) -> None:
        """After a failure, Ctrl-C or SIGTERM: start no more runs, and end the one under
        way. The worker is gone, so its pipe has no writer; a server still waiting to open
        it gets one here that writes nothing. The caller's rollback discards the rows."""
        self.stopping.set()
        self.runs.put(None)
        while self.thread.is_alive():
            path = self.reading
            if path is not None:
                with contextlib.suppress(OSError):  # ENXIO: not open yet; ENOENT: ended
                    os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            self.thread.join(0.01)


def _worker(
    columns: list[Column],
    what: tuple[int, int, str],
    router: LeafRouter,
    folder: Path,
    token: str,
    sender: Connection,
) -> None:
    become_worker()
    rows, seed, table = what
    planner = RunPlanner(_HELD_BYTES, leaf_count=len(router.leaves))
    writer = _RunWriter(HeldRows(planner), folder, token, sender, copy_framing(columns))
    try:
        for block in range(block_count(rows)):
            first = block * BLOCK_ROWS
            count = min(BLOCK_ROWS, rows - first)
            writer.put(assemble_routed(columns, first, count, block, seed, table, router), count)
        writer.finish()
        sender.send_bytes(b"D")
    except BaseException:
        writer.stop()  # before the report: the two threads share the parent's pipe
        with contextlib.suppress(OSError):
            sender.send_bytes(b"E" + traceback.format_exc().encode())
    finally:
        sender.close()


class _RunWriter:
    """In the worker: writes the held rows into the runs' pipes from a thread, while the
    next blocks are made (a pipe holds far less than a block)."""

    def __init__(
        self,
        held: HeldRows,
        folder: Path,
        token: str,
        sender: Connection,
        framing: tuple[bytes, bytes],
    ) -> None:
        self.header, self.trailer = framing  # around each run's rows (binary COPY)
        self.held = held
        self.folder = folder
        self.token = token
        self.sender = sender
        self.failure: BaseException | None = None
        self.leaf: int | None = None
        self.runs = 0
        self.fd: int | None = None
        self.thread = threading.Thread(target=self._run, name="pgrehearse-seed-writer", daemon=True)
        self.thread.start()

    def put(self, groups: list[Chunk], rows: int) -> None:
        self.held.put(groups, rows)
        if self.failure is not None:
            raise self.failure

    def finish(self) -> None:
        self.held.close()
        self.thread.join()
        if self.failure is not None:
            raise self.failure

    def stop(self) -> None:
        self.held.stop()
        self.thread.join(_SERVER_FAILURE_SECONDS)

    def _run(self) -> None:
        try:
            written = 0.0  # rows, a share of each block's: whole once every row is written
            reported = 0
            while (taken := self.held.take()) is not None:
                leaf, pieces = taken
                self._write(leaf, [data for data, _ in pieces])
                size = sum(len(data) for data, _ in pieces)
                self.held.written(size)
                written += sum(rows for _, rows in pieces)
                rows, reported = round(written) - reported, round(written)
                self.sender.send_bytes(b"S" + _PROGRESS.pack(rows, size))
            self._close()
        except BaseException as exc:  # re-raised by the generating thread
            self.failure = exc
            self.held.stop()

    def _write(self, leaf: int, pieces: list[bytes]) -> None:
        """Write a leaf's pieces in one system call where the pipe takes them: each return
        from a write waits for this thread to get the GIL back from generation, up to its
        switch interval (5 ms), so a write per piece starved the server."""
        if leaf != self.leaf or self.fd is None:
            self._close()  # the server ends that run's COPY
            self.runs += 1
            path = run_path(self.folder, self.token, self.runs)
            os.mkfifo(path, 0o600)
            path.chmod(0o644)  # the server reads it as its own user; mkfifo's mode is umasked
            self.sender.send_bytes(b"O" + _RUN.pack(leaf, self.runs))
            self.fd = _open_when_read(path)
            self.leaf = leaf
            if self.header:
                pieces = [self.header, *pieces]
        views = [memoryview(piece) for piece in pieces]
        while views:
            written = os.writev(self.fd, views[:_MOST_PIECES])
            while views and written >= len(views[0]):
                written -= len(views.pop(0))
            if written:
                views[0] = views[0][written:]

    def _close(self) -> None:
        """End the run under way: its trailer, then EOF, after which the server ends its
        COPY."""
        if self.fd is not None:
            if self.trailer:
                os.write(self.fd, self.trailer)
            os.close(self.fd)
            self.fd = None


def _open_when_read(path: Path) -> int:
    """Open a run's pipe for writing once the server has opened it for reading. Blocking:
    the parent kills this process if the server never comes."""
    fd = os.open(path, os.O_WRONLY)
    with contextlib.suppress(OSError):  # a smaller pipe is only slower
        fcntl.fcntl(fd, _F_SETPIPE_SZ, _PIPE_BYTES)
    return fd
