"""COPY of a partitioned table straight into its leaves, each frozen (see `_routing`)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from pgrehearse.scenario import SequenceColumn
from pgrehearse.seed._generators import Column, GeneratorContext, build_generator
from pgrehearse.seed._pipeline import produce_blocks
from pgrehearse.seed._plan_model import TablePlan
from pgrehearse.seed._routing import (
    TO_PARENT,
    LeafRouter,
    ParentIdentity,
    build_router,
    decode_routed,
    identities_of_parent,
)
from pgrehearse.seed._sink import copy_rows

# blocks are gathered per leaf until this much is buffered, then every leaf gets one COPY:
# few statements, and memory bounded whatever the number of partitions
_BATCH_BYTES = 8 * 1024 * 1024


def load_partitioned(
    conn: psycopg.Connection[Any],
    table_plan: TablePlan,
    parent: sql.Composable,
    columns: list[Column],
    seed: int,
    workers: int | None,
    sent: Callable[[int, int], None],
    folder: Path | None = None,
) -> bool:
    """Load an empty partitioned table leaf by leaf, frozen; False (nothing done) where its
    rows must go through the parent instead."""
    copied = [c.name for c in columns]
    identities = identities_of_parent(conn, table_plan.info.name, copied)
    if identities is None:
        return False
    numbered = columns + [identity_column(i, table_plan, seed) for i in identities]
    router = build_router(conn, table_plan.info.name, [c.name for c in numbered])
    if router is None:
        return False
    load_leaves(
        conn,
        router,
        parent,
        numbered,
        table_plan.rows,
        seed,
        table_plan.name,
        workers,
        sent,
        folder,
    )
    for identity in identities:
        move_sequence_past(conn, parent, identity)
    return True


def load_leaves(
    conn: psycopg.Connection[Any],
    router: LeafRouter,
    parent: sql.Composable,
    columns: list[Column],
    rows: int,
    seed: int,
    table: str,
    workers: int | None,
    sent: Callable[[int, int], None],
    folder: Path | None = None,
) -> None:
    """Load the table's rows leaf by leaf with COPY FREEZE, in the caller's transaction.
    Rows no leaf takes go through the parent, which routes them or names the error.

    A batch of blocks is copied (one COPY per leaf) by a thread while the next batch is
    made, so the server never waits for generation nor generation for the server.
    """
    names = sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)
    leaves = [sql.SQL(leaf) for leaf in router.leaves]  # qualified and quoted by the server
    conn.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(leaves)))
    batches: queue.Queue[dict[int, list[memoryview]] | None] = queue.Queue(maxsize=1)
    failure: list[BaseException] = []

    def copy_batches() -> None:
        while (batch := batches.get()) is not None:
            if failure:
                continue  # drain: the main thread stops at its next put
            try:
                for leaf, chunks in sorted(batch.items()):
                    to_parent = leaf == TO_PARENT
                    target = parent if to_parent else leaves[leaf]
                    with copy_rows(
                        conn, target, names, freeze=not to_parent, folder=folder
                    ) as sink:
                        for chunk in chunks:
                            sink.write(chunk)
            except BaseException as exc:  # re-raised in the main thread
                failure.append(exc)

    copier = threading.Thread(target=copy_batches, name="pgrehearse-seed-leaves", daemon=True)
    copier.start()
    batch: dict[int, list[memoryview]] = {}
    buffered = 0
    try:
        for count, data in produce_blocks(
            columns, rows, seed=seed, table=table, workers=workers, router=router
        ):
            if failure:
                break
            for leaf, chunk in decode_routed(data):
                batch.setdefault(leaf, []).append(chunk)
            buffered += len(data)
            sent(count, len(data))
            if buffered >= _BATCH_BYTES:
                batches.put(batch)
                batch, buffered = {}, 0
        if batch and not failure:
            batches.put(batch)
    finally:
        batches.put(None)
        copier.join()
    if failure:
        raise failure[0]


def identity_column(identity: ParentIdentity, table_plan: TablePlan, seed: int) -> Column:
    """The rows numbered as the parent's identity would number them."""
    spec = SequenceColumn(sequence=identity.start, step=identity.step)
    context = GeneratorContext(seed, table_plan.name, identity.column, table_plan.rows)
    return Column(identity.column, build_generator(spec, context), 0.0)


def move_sequence_past(
    conn: psycopg.Connection[Any], parent: sql.Composable, identity: ParentIdentity
) -> None:
    """Set the identity's sequence after the numbers the seeder used, as inserts would."""
    conn.execute(
        sql.SQL("SELECT setval(%s, max({}), true) FROM {} HAVING count(*) > 0").format(
            sql.Identifier(identity.column), parent
        ),
        (identity.sequence,),
    )
