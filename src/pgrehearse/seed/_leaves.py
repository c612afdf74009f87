"""COPY of a partitioned table straight into its leaves, each frozen (see `_routing`)."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg import sql

from pgrehearse.scenario import SequenceColumn
from pgrehearse.seed._binary import HEADER, TRAILER
from pgrehearse.seed._generators import (
    Column,
    GeneratorContext,
    build_generator,
    in_binary_order,
    is_binary,
)
from pgrehearse.seed._leaf_order import in_leaf_order
from pgrehearse.seed._leaf_runs import load_leaf_runs
from pgrehearse.seed._pipeline import produce_blocks, streams_directly
from pgrehearse.seed._plan_model import TablePlan
from pgrehearse.seed._routing import (
    TO_PARENT,
    LeafRouter,
    ParentIdentity,
    build_router,
    decode_routed,
    identities_of_parent,
)
from pgrehearse.seed._sink import Loading, copy_rows
from pgrehearse.seed._tables import binary_form

# blocks are gathered per leaf until this much is buffered, then every leaf gets one COPY:
# few statements, and memory bounded whatever the number of partitions
_BATCH_BYTES = 8 * 1024 * 1024


def load_partitioned(
    conn: psycopg.Connection[Any],
    table_plan: TablePlan,
    parent: sql.Composable,
    columns: list[Column],
    seed: int,
    sent: Callable[[int, int], None],
    loading: Loading,
) -> bool:
    """Load an empty partitioned table leaf by leaf, frozen; False (nothing done) where its
    rows must go through the parent instead."""
    copied = [c.name for c in columns]
    identities = identities_of_parent(conn, table_plan.info.regclass, copied)
    if identities is None:
        return False
    numbered = in_binary_order(columns + [identity_column(i, table_plan, seed) for i in identities])
    router = build_router(conn, table_plan.info.regclass, [c.name for c in numbered])
    if router is None:
        return False
    numbered = in_leaf_order(numbered, router, table_plan, seed)
    rows = table_plan.rows
    load_leaves(conn, router, parent, numbered, (rows, seed, table_plan.name), sent, loading)
    for identity in identities:
        move_sequence_past(conn, parent, identity)
    return True


class _LeafCopier:
    """COPYs the batches it is given into leaves, on one session, in a thread of its own,
    so the server never waits for generation nor generation for the server."""

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        targets: Sequence[sql.Composable],
        parent: sql.Composable,
        names: sql.Composable,
        binary: bool,
    ) -> None:
        self.conn = conn
        self.binary = binary
        self.targets = targets
        self.parent = parent
        self.names = names
        self.batches: queue.Queue[dict[int, list[memoryview]] | None] = queue.Queue(maxsize=1)
        self.failure: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, name="pgrehearse-seed-leaves", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (batch := self.batches.get()) is not None:
            if self.failure:
                continue  # drain: the main thread stops at its next put
            try:
                for leaf, chunks in sorted(batch.items()):
                    self.copy(leaf, chunks)
            except BaseException as exc:  # re-raised in the main thread
                self.failure.append(exc)

    def copy(self, leaf: int, chunks: list[memoryview]) -> None:
        to_parent = leaf == TO_PARENT
        target = self.parent if to_parent else self.targets[leaf]
        freeze = not to_parent
        _copy_chunks(self.conn, target, self.names, chunks, freeze=freeze, binary=self.binary)

    def finish(self) -> None:
        self.batches.put(None)
        self.thread.join()


def load_leaves(
    conn: psycopg.Connection[Any],
    router: LeafRouter,
    parent: sql.Composable,
    columns: list[Column],
    what: tuple[int, int, str],  # rows, seed, table
    sent: Callable[[int, int], None],
    loading: Loading,
) -> None:
    """Load the table's rows leaf by leaf with COPY FREEZE. Rows no leaf takes go through
    the parent, which routes them or names the error.

    Where one worker makes the rows and the server reads pipes, the worker writes them
    into the leaves itself (`_leaf_runs`); otherwise this process relays them as below.

    On the caller's session and in its transaction; or, given `loading.connect` and more
    than one session, the leaves shared among that many sessions of their own, loading
    side by side and committed once all are loaded (rows for the parent then go through
    the caller's session: it could not route them into a leaf another session holds).
    """
    names = sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)
    leaves = [sql.SQL(leaf) for leaf in router.leaves]  # qualified and quoted by the server
    sessions = min(loading.sessions, len(leaves)) if loading.connect is not None else 1
    if sessions == 1 and loading.folder is not None and streams_directly(what[0], loading.workers):
        conn.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(leaves)))
        load_leaf_runs(conn, router, parent, columns, what, sent, loading.folder)
        return
    with contextlib.ExitStack() as stack:
        if sessions > 1 and loading.connect is not None:
            conn.commit()  # its locks on the leaves would stop the other sessions' TRUNCATE
            connections = [stack.enter_context(loading.connect()) for _ in range(sessions)]
        else:
            connections = [conn]
        for index, session in enumerate(connections):
            owned = leaves[index :: len(connections)]
            session.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(owned)))
        binary = is_binary(columns)
        copiers = [_LeafCopier(c, leaves, parent, names, binary) for c in connections]
        for_parent: list[memoryview] = []
        try:
            _generate_into(copiers, for_parent, router, columns, what, sent, loading.workers)
        finally:
            for copier in copiers:
                copier.finish()
        for copier in copiers:
            if copier.failure:
                raise copier.failure[0]
        if len(connections) > 1:
            for session in connections:
                session.commit()
        if for_parent:
            _copy_chunks(conn, parent, names, for_parent, freeze=False, binary=binary)


def _copy_chunks(
    conn: psycopg.Connection[Any],
    target: sql.Composable,
    names: sql.Composable,
    chunks: list[memoryview],
    *,
    freeze: bool,
    binary: bool,
) -> None:
    """COPY FROM STDIN, not through a pipe (`_sink`): a leaf takes a COPY per batch, and a
    pipe's setup per statement (a thread, the server opening the file) cost more than it
    saved on chunks of about a megabyte (measured: 477k against 523k rows/s)."""
    with copy_rows(conn, target, names, freeze=freeze, folder=None, binary=binary) as sink:
        if binary:
            sink.write(HEADER)
        for chunk in chunks:
            sink.write(chunk)
        if binary:
            sink.write(TRAILER)


def _generate_into(
    copiers: list[_LeafCopier],
    for_parent: list[memoryview],
    router: LeafRouter,
    columns: list[Column],
    what: tuple[int, int, str],
    sent: Callable[[int, int], None],
    workers: int | None,
) -> None:
    """Make the rows and hand them, a batch at a time, to the copier owning each leaf
    (leaf i: copier i mod copiers); with several copiers, the parent's rows are kept in
    `for_parent` for later."""
    rows, seed, table = what
    batch: dict[int, list[memoryview]] = {}
    buffered = 0

    def hand_over() -> None:
        parts: list[dict[int, list[memoryview]]] = [{} for _ in copiers]
        for leaf, chunks in batch.items():
            if leaf == TO_PARENT and len(copiers) > 1:
                for_parent.extend(chunks)
            else:
                parts[max(leaf, 0) % len(copiers)][leaf] = chunks
        for copier, part in zip(copiers, parts, strict=True):
            if part:
                copier.batches.put(part)

    for count, data in produce_blocks(
        columns, rows, seed=seed, table=table, workers=workers, router=router
    ):
        if any(copier.failure for copier in copiers):
            return
        for leaf, chunk in decode_routed(data):
            batch.setdefault(leaf, []).append(chunk)
        buffered += len(data)
        sent(count, len(data))
        if buffered >= _BATCH_BYTES:
            hand_over()
            batch, buffered = {}, 0
    if batch:
        hand_over()


def identity_column(identity: ParentIdentity, table_plan: TablePlan, seed: int) -> Column:
    """The rows numbered as the parent's identity would number them."""
    spec = SequenceColumn(sequence=identity.start, step=identity.step)
    context = GeneratorContext(seed, table_plan.name, identity.column, table_plan.rows)
    generator = build_generator(spec, context)
    info = table_plan.info.columns.get(identity.column)
    return Column(
        identity.column, generator, 0.0, None if info is None else binary_form(info, generator)
    )


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
