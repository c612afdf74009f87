"""A partitioned table's rows written by the generating worker straight into its leaves.

The leaf path of `_leaves` relays every routed block through this process and sends each
leaf its share as `COPY … FROM STDIN`: the relay costs this process a fifth of a µs a row,
and the protocol path costs the server more than reading a file. Here, as for a plain
table (`_pipeline.stream_blocks`), the one worker writes the rows into named pipes the
server reads as files, one `COPY leaf FROM '<pipe>' FREEZE` per *run*: a stretch of rows
of one leaf. The worker decides the runs (`RunPlanner`) and announces each; this process
only starts each run's COPY, in order, on its session.

A range key that rises with the rows (as inferred range keys do) makes each leaf one run.
Keys in random order make a run of each leaf's rows buffered meanwhile, a few megabytes.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import multiprocessing
import operator
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

# Rows of leaves other than the current run's are held back until this much is buffered
# (or the server runs short of rows); then each held leaf gets a run, the fullest last, and
# it goes on as the current run. Bounds memory whatever the leaf count. Each COPY costs the
# server about 3 ms of CPU of its own (84 COPYs of 1M rows from files against 7: +17%), so
# fewer, longer runs pay: 1M rows in 7 yearly leaves, random keys, against the plain table,
# 8 MB: 0.67×, 16: 0.72×, 32: 0.75×, 64: 0.78× (the server's own COPY of each leaf's file:
# 0.77×); 8 hash leaves, 8 MB: 0.64×, 64: 0.72×, 128: 0.64× (the server alone at the end).
_HELD_BYTES = 64 * 1024 * 1024
_QUEUED_WRITES = 6  # chunks made ahead of the writer thread (as `_pipeline._BUFFERED_BLOCKS`)
_F_SETPIPE_SZ = 1031
_PIPE_BYTES = 1 << 20
_MOST_PIECES = 512  # a writev takes at most IOV_MAX (1024 on Linux) buffers
_RUN = struct.Struct("<qq")  # leaf, run number
_PROGRESS = struct.Struct("<qq")  # rows, bytes
_SERVER_FAILURE_SECONDS = 1.0
_POLL_SECONDS = 0.2

Chunk = tuple[int, bytes]  # leaf, COPY text


@dataclass
class RunPlanner:
    """Which chunks to write now, and in what order, so that consecutive chunks of one
    leaf form one COPY. Pure logic: no I/O."""

    held_bytes: int = _HELD_BYTES
    current: int | None = None  # the leaf of the run being written
    held: dict[int, list[bytes]] = field(default_factory=dict)
    sizes: dict[int, int] = field(default_factory=dict)
    buffered: int = 0

    def add(self, groups: Sequence[Chunk], *, hungry: bool = False) -> list[Chunk]:
        """One block's pieces in; the chunks to write now out, in order. `hungry`: the
        server is about to run out of rows, so held rows go now rather than when the
        buffer is full (else a slow start would leave it idle)."""
        if self.current is None and groups:
            self.current = max(groups, key=lambda group: len(group[1]))[0]
        now: list[Chunk] = []
        for leaf, data in groups:
            if leaf == self.current:
                now.append((leaf, data))
                continue
            self.held.setdefault(leaf, []).append(data)
            self.sizes[leaf] = self.sizes.get(leaf, 0) + len(data)
            self.buffered += len(data)
        if self.held and (hungry or self.buffered > self.held_bytes):
            now.extend(self.finish())
        return now

    def finish(self) -> list[Chunk]:
        """Every chunk held, a leaf's together; the fullest leaf last, as it goes on as the
        current run (the next blocks' rows of it go straight after)."""
        order = sorted(self.sizes, key=self.sizes.__getitem__)
        if order:
            self.current = order[-1]
        return [chunk for leaf in order for chunk in self._release(leaf)]

    def _release(self, leaf: int) -> list[Chunk]:
        self.buffered -= self.sizes.pop(leaf)
        return [(leaf, data) for data in self.held.pop(leaf)]


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
    writer = _RunWriter(folder, token, sender, copy_framing(columns))
    try:
        planner = RunPlanner(_HELD_BYTES)
        for block in range(block_count(rows)):
            first = block * BLOCK_ROWS
            count = min(BLOCK_ROWS, rows - first)
            groups = assemble_routed(columns, first, count, block, seed, table, router)
            chunks = planner.add(groups, hungry=writer.ready.empty())
            writer.put(chunks, count, sum(len(data) for _, data in groups))
        writer.put(planner.finish(), 0, 0)
        writer.finish()
        sender.send_bytes(b"D")
    except BaseException:
        writer.stop()  # before the report: the two threads share the parent's pipe
        with contextlib.suppress(OSError):
            sender.send_bytes(b"E" + traceback.format_exc().encode())
    finally:
        sender.close()


class _RunWriter:
    """In the worker: writes the chunks into the runs' pipes from a thread, while the next
    blocks are made (a pipe holds far less than a block)."""

    def __init__(
        self, folder: Path, token: str, sender: Connection, framing: tuple[bytes, bytes]
    ) -> None:
        self.header, self.trailer = framing  # around each run's rows (binary COPY)
        self.folder = folder
        self.token = token
        self.sender = sender
        self.ready: queue.Queue[tuple[list[Chunk], int, int] | None] = queue.Queue(
            maxsize=_QUEUED_WRITES
        )
        self.failure: BaseException | None = None
        self.leaf: int | None = None
        self.runs = 0
        self.fd: int | None = None
        self.abandoned = threading.Event()
        self.thread = threading.Thread(target=self._run, name="pgrehearse-seed-writer", daemon=True)
        self.thread.start()

    def put(self, chunks: list[Chunk], rows: int, size: int) -> None:
        while self.failure is None:
            try:
                self.ready.put((chunks, rows, size), timeout=_POLL_SECONDS)
                return
            except queue.Full:
                continue
        raise self.failure

    def finish(self) -> None:
        self.put([], 0, 0)  # raises the writer's failure, if any
        self.ready.put(None)
        self.thread.join()
        if self.failure is not None:
            raise self.failure

    def stop(self) -> None:
        self.abandoned.set()
        with contextlib.suppress(queue.Full):
            self.ready.put_nowait(None)
        self.thread.join(_SERVER_FAILURE_SECONDS)

    def _run(self) -> None:
        try:
            while (item := self.ready.get()) is not None and not self.abandoned.is_set():
                chunks, rows, size = item
                for leaf, group in itertools.groupby(chunks, key=operator.itemgetter(0)):
                    self._write(leaf, [data for _, data in group])
                if rows:
                    self.sender.send_bytes(b"S" + _PROGRESS.pack(rows, size))
            self._close()
        except BaseException as exc:  # re-raised by the generating thread
            self.failure = exc

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
