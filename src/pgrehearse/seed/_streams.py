"""Several tables seeded at once, each by a session of its own, where cores allow.

One table's load keeps about two cores busy: the server's COPY and the worker making its
rows. With more cores, tables that do not depend on each other (no reference from one to
the other, directly or not) load side by side: the plan's order is cut into waves, each
wave's tables only reference tables of earlier waves, which are committed by then.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import Any, Protocol, TypeVar

import psycopg

from pgrehearse.seed._plan_model import TablePlan
from pgrehearse.seed._tables import referenced_tables

Result = TypeVar("Result")


class _Progress(Protocol):
    def table_started(self, table: str, rows: int) -> None: ...

    def table_advanced(self, table: str, rows_done: int) -> None: ...

    def table_seeded(self, result: Any) -> None: ...


def seed_streams() -> int:
    """How many tables load at once: `PGREHEARSE_SEED_STREAMS`, else one per two cores."""
    configured = os.environ.get("PGREHEARSE_SEED_STREAMS")
    if configured is not None:
        return max(1, int(configured))
    return max(1, (os.cpu_count() or 2) // 2)


def dependency_waves(plans: Sequence[TablePlan]) -> list[list[int]]:
    """The plans' positions cut into waves: a table goes one wave after the latest of the
    planned tables it references. Within a wave, the plan's order is kept."""
    position = {plan.name: index for index, plan in enumerate(plans)}
    wave_of: list[int] = []
    for plan in plans:
        parents = [position[t] for t in referenced_tables(plan) if t in position]
        earlier = [wave_of[p] for p in parents if p < len(wave_of)]
        wave_of.append(1 + max(earlier) if earlier else 0)
    waves: list[list[int]] = [[] for _ in range(max(wave_of, default=-1) + 1)]
    for index, wave in enumerate(wave_of):
        waves[wave].append(index)
    return waves


def run_in_streams(
    plans: Sequence[TablePlan],
    streams: int,
    connect: Callable[[], psycopg.Connection[Any]],
    seed_one: Callable[[psycopg.Connection[Any], TablePlan, int], Result],
) -> list[Result]:
    """`seed_one(connection, plan, share)` for every plan, up to `streams` at once, wave
    after wave, each call on a connection of its own, `share` the streams each table of the
    wave may use (all of them for a table alone in its wave); the results in the plans'
    order. Once a table fails, the others of its wave are cancelled; the first failure (in
    plan order) of those that failed by themselves is raised once the wave has stopped."""
    results: dict[int, Result] = {}
    live: set[psycopg.Connection[Any]] = set()
    guard = threading.Lock()

    def one(index: int, share: int) -> Result:
        with connect() as conn:
            with guard:
                live.add(conn)
            try:
                return seed_one(conn, plans[index], share)
            finally:
                with guard:
                    live.discard(conn)

    with ThreadPoolExecutor(streams, thread_name_prefix="pgrehearse-seed-stream") as pool:
        for wave in dependency_waves(plans):
            share = max(1, streams // len(wave))
            futures: dict[int, Future[Result]] = {i: pool.submit(one, i, share) for i in wave}
            try:
                wait(futures.values(), return_when=FIRST_EXCEPTION)
            except BaseException:  # Ctrl-C, SIGTERM: stop the other tables' statements
                _cancel(live, guard)
                raise
            # the tables that failed by themselves, before the others were cancelled
            failed = [i for i in wave if futures[i].done() and futures[i].exception()]
            if failed:
                _cancel(live, guard)  # the run fails: the other loads are wasted work
            wait(futures.values())
            if failed:  # its failure, not the cancellation it caused in an earlier table
                futures[failed[0]].result()
            for index in wave:
                results[index] = futures[index].result()
    return [results[i] for i in range(len(plans))]


def _cancel(live: set[psycopg.Connection[Any]], guard: threading.Lock) -> None:
    with guard:
        for conn in live:
            with contextlib.suppress(psycopg.Error, OSError):  # it ended meanwhile
                conn.cancel_safe()


class SharedProgress:
    """One table's progress shown at a time, for a display made for one: the first table
    started owns it; the others' ends are shown when the owner ends, and the next running
    table takes it over."""

    def __init__(self, inner: _Progress) -> None:
        self.inner = inner
        self.lock = threading.Lock()
        self.owner: str | None = None
        self.running: dict[str, list[int]] = {}  # table -> [rows, rows done]
        self.finished: list[Any] = []

    def table_started(self, table: str, rows: int) -> None:
        with self.lock:
            self.running[table] = [rows, 0]
            if self.owner is None:
                self.owner = table
                self.inner.table_started(table, rows)

    def table_advanced(self, table: str, rows_done: int) -> None:
        with self.lock:
            self.running[table][1] = rows_done
            if self.owner == table:
                self.inner.table_advanced(table, rows_done)

    def table_seeded(self, result: Any) -> None:
        with self.lock:
            self.running.pop(result.table, None)
            if self.owner != result.table:
                self.finished.append(result)
                return
            self.inner.table_seeded(result)
            for other in self.finished:
                self.inner.table_seeded(other)
            self.finished.clear()
            self.owner = next(iter(self.running), None)
            if self.owner is not None:
                rows, done = self.running[self.owner]
                self.inner.table_started(self.owner, rows)
                self.inner.table_advanced(self.owner, done)
