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
import sys
import traceback
from collections.abc import Iterator
from typing import Any

from pgrehearse.backends._process import die_with_parent
from pgrehearse.seed._generators import Column, assemble_rows

BLOCK_ROWS = 20_000
_QUEUE_BLOCKS_PER_WORKER = 4
_WORKER_POLL_SECONDS = 1.0


def default_workers() -> int:
    """Worker processes for generation: one core stays with the server's COPY."""
    configured = os.environ.get("PGREHEARSE_SEED_WORKERS")
    if configured is not None:
        return max(0, int(configured))
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def block_count(rows: int) -> int:
    return (rows + BLOCK_ROWS - 1) // BLOCK_ROWS


def _block(columns: list[Column], rows: int, seed: int, table: str, block: int) -> bytes:
    first = block * BLOCK_ROWS
    count = min(BLOCK_ROWS, rows - first)
    return assemble_rows(columns, first, count, block, seed, table)


def produce_blocks(
    columns: list[Column], rows: int, *, seed: int, table: str, workers: int | None = None
) -> Iterator[tuple[int, bytes]]:
    """Yield (rows in block, COPY text) for every block of the table, in order."""
    blocks = block_count(rows)
    workers = default_workers() if workers is None else workers
    if workers == 0 or blocks < 3 or not sys.platform.startswith("linux"):
        for block in range(blocks):
            data = _block(columns, rows, seed, table, block)
            yield min(BLOCK_ROWS, rows - block * BLOCK_ROWS), data
        return
    yield from _parallel(columns, rows, seed, table, blocks, min(workers, blocks))


def _parallel(
    columns: list[Column], rows: int, seed: int, table: str, blocks: int, workers: int
) -> Iterator[tuple[int, bytes]]:
    context = multiprocessing.get_context("fork")
    results: Any = context.Queue(maxsize=_QUEUE_BLOCKS_PER_WORKER * workers)
    processes = [
        context.Process(
            target=_worker,
            args=(columns, rows, seed, table, blocks, index, workers, results),
            daemon=True,
            name=f"pgrehearse-seed-{index}",
        )
        for index in range(workers)
    ]
    for process in processes:
        process.start()
    pending: dict[int, bytes] = {}
    try:
        for wanted in range(blocks):
            while wanted not in pending:
                try:
                    block, data = results.get(timeout=_WORKER_POLL_SECONDS)
                except queue.Empty:
                    dead = [p for p in processes if p.exitcode not in (None, 0)]
                    if dead:
                        raise RuntimeError(
                            f"a seeding worker died (exit code {dead[0].exitcode})"
                        ) from None
                    continue
                if block < 0:
                    raise RuntimeError(f"a seeding worker failed:\n{data.decode()}")
                pending[block] = data
            data = pending.pop(wanted)
            yield min(BLOCK_ROWS, rows - wanted * BLOCK_ROWS), data
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
        for process in processes:
            process.join(timeout=5)
        results.cancel_join_thread()
        results.close()


def _worker(
    columns: list[Column],
    rows: int,
    seed: int,
    table: str,
    blocks: int,
    index: int,
    workers: int,
    results: Any,
) -> None:
    # the parent handles Ctrl-C and SIGTERM and then kills us; die if it dies
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    set_death_signal = die_with_parent(signal.SIGKILL)
    if set_death_signal is not None:
        set_death_signal()
    try:
        for block in range(index, blocks, workers):
            results.put((block, _block(columns, rows, seed, table, block)))
    except BaseException:
        results.put((-1, traceback.format_exc().encode()))
