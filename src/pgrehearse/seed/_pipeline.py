"""Blocks of COPY rows, made in worker processes while the server ingests earlier blocks.

Building rows in Python costs about as much CPU as the server's COPY of them, so the two
must overlap: workers (forked, so generators and pools need no pickling) make blocks
ahead, the main process streams them to the server in order. Each block's values depend
only on its number, so the data is the same whichever process made it.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import struct
import sys
import threading
import traceback
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from pgrehearse.backends import die_with_parent
from pgrehearse.seed._generators import (
    BLOCK_ROWS,
    Column,
    assemble_rows,
    binary_framing,
    child_signals,
)
from pgrehearse.seed._routing import LeafRouter

_BUFFERED_BLOCKS = 6
# Tables load side by side (`_streams`), each forking its workers: one fork at a time, so no
# worker inherits another table's pipe ends half set up (it would hold them open).
FORKING = threading.Lock()


def default_workers() -> int:
    """Worker processes for generation: one core stays with the server's COPY."""
    configured = os.environ.get("PGREHEARSE_SEED_WORKERS")
    if configured is not None:
        return max(0, int(configured))
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def block_count(rows: int) -> int:
    return (rows + BLOCK_ROWS - 1) // BLOCK_ROWS


def _block(
    columns: list[Column], rows: int, seed: int, table: str, block: int, router: LeafRouter | None
) -> bytes:
    first = block * BLOCK_ROWS
    count = min(BLOCK_ROWS, rows - first)
    data = assemble_rows(columns, first, count, block, seed, table, router)
    if router is not None:
        return data
    before, after = binary_framing(columns, block, block_count(rows))
    return before + data + after if before or after else data


def produce_blocks(
    columns: list[Column],
    rows: int,
    *,
    seed: int,
    table: str,
    workers: int | None = None,
    router: LeafRouter | None = None,
) -> Iterator[tuple[int, bytes]]:
    """Yield (rows in block, COPY text) for every block of the table, in order; with a
    router, each block's text is grouped by leaf partition (`_routing.decode_routed`)."""
    blocks = block_count(rows)
    workers = default_workers() if workers is None else workers
    if workers == 0 or blocks < 3 or not sys.platform.startswith("linux"):
        for block in range(blocks):
            data = _block(columns, rows, seed, table, block, router)
            yield min(BLOCK_ROWS, rows - block * BLOCK_ROWS), data
        return
    for count, made in _parallel(
        columns, rows, seed, table, blocks, min(workers, blocks), router, None
    ):
        assert isinstance(made, bytes)
        yield count, made


def streams_directly(rows: int, workers: int | None) -> bool:
    """Whether `stream_blocks` applies: exactly one worker makes the blocks, so it can
    write them to the server's pipe itself, in order, without passing through us."""
    workers = default_workers() if workers is None else workers
    return workers == 1 and block_count(rows) >= 3 and sys.platform.startswith("linux")


def stream_blocks(
    columns: list[Column], rows: int, *, seed: int, table: str, fifo: Path
) -> Iterator[tuple[int, int]]:
    """One worker writes every block into `fifo` (a pipe the server reads); yields (rows,
    bytes) of each block once written, for progress. See `streams_directly`."""
    for count, size in _parallel(columns, rows, seed, table, block_count(rows), 1, None, fifo):
        assert isinstance(size, int)
        yield count, size


def _parallel(
    columns: list[Column],
    rows: int,
    seed: int,
    table: str,
    blocks: int,
    workers: int,
    router: LeafRouter | None,
    fifo: Path | None,
) -> Iterator[tuple[int, bytes | int]]:
    """Worker w makes blocks w, w + workers, ... and writes each to its own pipe; a reader
    thread collects them in block order into a small buffer; we stream from the buffer.

    Raw pipes rather than a multiprocessing.Queue: no pickling and no feeder thread
    fighting the worker's generation for its GIL (measured: a Queue cost a third of the
    throughput). With `fifo` (one worker), the worker writes the blocks there and sends us
    only their sizes: on 2 cores, the hop through this process cost the server a tenth of
    a core.
    """
    context = multiprocessing.get_context("fork")
    with FORKING:
        what = (rows, seed, table)
        pipes, processes = _start_workers(context, columns, what, blocks, workers, router, fifo)
    buffer: queue.Queue[bytes | int | BaseException] = queue.Queue(maxsize=_BUFFERED_BLOCKS)
    stop = threading.Event()

    def read_in_order() -> None:
        try:
            for block in range(blocks):
                message = pipes[block % workers][0].recv_bytes()
                item: bytes | int | BaseException
                if message[:1] == b"D":
                    item = message[1:]
                elif message[:1] == b"S":
                    item = struct.unpack("<Q", message[1:])[0]
                else:
                    item = RuntimeError("a seeding worker failed:\n" + message[1:].decode())
                while not stop.is_set():
                    try:
                        buffer.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if isinstance(item, BaseException):
                    return
        except (EOFError, OSError) as exc:
            if not stop.is_set():
                buffer.put(RuntimeError(f"a seeding worker died ({exc!r})"))

    reader = threading.Thread(target=read_in_order, name="pgrehearse-seed-reader", daemon=True)
    reader.start()
    try:
        for block in range(blocks):
            item = buffer.get()
            if isinstance(item, BaseException):
                raise item
            yield min(BLOCK_ROWS, rows - block * BLOCK_ROWS), item
    finally:
        stop.set()
        for process in processes:
            if process.is_alive():
                process.kill()
        for process in processes:
            process.join(timeout=5)
        for receiver, _ in pipes:
            receiver.close()
        reader.join(timeout=5)


def _start_workers(
    context: Any,
    columns: list[Column],
    what: tuple[int, int, str],  # rows, seed, table
    blocks: int,
    workers: int,
    router: LeafRouter | None,
    fifo: Path | None,
) -> tuple[list[tuple[Connection, Connection]], list[Any]]:
    pipes = [context.Pipe(duplex=False) for _ in range(workers)]
    processes = [
        context.Process(
            target=_worker,
            args=(columns, what, (blocks, index, workers), pipes[index][1], router, fifo),
            daemon=True,
            name=f"pgrehearse-seed-{index}",
        )
        for index in range(workers)
    ]
    for process in processes:
        process.start()
    for _, sender in pipes:
        sender.close()
    return pipes, processes


def _write_ahead(blocks: Iterator[bytes], fifo: Path, sender: Connection) -> None:
    """Write the blocks into the server's pipe from a thread while the next ones are made
    (a pipe holds far less than a block, so writing in line would stall generation)."""
    ready: queue.Queue[bytes | None] = queue.Queue(maxsize=_BUFFERED_BLOCKS)
    failure: list[BaseException] = []

    def write() -> None:
        try:
            with fifo.open("wb") as server:
                while (data := ready.get()) is not None:
                    server.write(data)
                    server.flush()
                    sender.send_bytes(b"S" + struct.pack("<Q", len(data)))
        except BaseException as exc:  # re-raised by the generating thread
            failure.append(exc)

    writer = threading.Thread(target=write, name="pgrehearse-seed-writer", daemon=True)
    writer.start()
    try:
        for data in blocks:
            while not failure:
                try:
                    ready.put(data, timeout=0.2)
                    break
                except queue.Full:
                    continue
            if failure:
                break
    finally:
        while writer.is_alive() and not failure:
            try:
                ready.put(None, timeout=0.2)
                break
            except queue.Full:
                continue
        writer.join()
    if failure:
        raise failure[0]


def become_worker() -> None:
    """First thing in a forked seeding worker: the parent handles Ctrl-C and SIGTERM (and
    then kills us), and we die with it."""
    child_signals()
    set_death_signal = die_with_parent(signal.SIGKILL)
    if set_death_signal is not None:
        set_death_signal()


def _worker(
    columns: list[Column],
    what: tuple[int, int, str],  # rows, seed, table
    share: tuple[int, int, int],  # blocks in all, this worker's index, workers in all
    sender: Connection,
    router: LeafRouter | None,
    fifo: Path | None,
) -> None:
    become_worker()
    rows, seed, table = what
    blocks, index, workers = share
    try:
        if fifo is not None:
            made = (
                _block(columns, rows, seed, table, block, router)
                for block in range(index, blocks, workers)
            )
            _write_ahead(made, fifo, sender)
            return
        for block in range(index, blocks, workers):
            sender.send_bytes(b"D" + _block(columns, rows, seed, table, block, router))
    except BrokenPipeError:
        pass  # the parent stopped reading: it is shutting us down
    except BaseException:
        sender.send_bytes(b"E" + traceback.format_exc().encode())
    finally:
        sender.close()
