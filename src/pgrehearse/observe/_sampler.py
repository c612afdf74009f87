"""A thread that polls pg_locks ⨝ pg_stat_activity on its own connection, every ~10 ms.

Each poll keeps relation locks on user objects plus every lock still waiting, and asks
pg_blocking_pids() only for the waiting ones (the expensive part). Times are on the
rehearsal's clock, taken at the middle of the poll.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from pgrehearse.migration import Clock
from pgrehearse.roles import SessionRole

FIRST_USER_OID = 16384

POLL = """
SELECT COALESCE(a.leader_pid, l.pid),  -- parallel workers count as their leader
       a.application_name, l.locktype, l.relation::bigint, l.mode, l.granted,
       CASE WHEN l.granted THEN NULL ELSE pg_blocking_pids(l.pid) END,
       CASE WHEN l.granted THEN NULL ELSE left(a.query, 300) END,
       a.backend_type
FROM pg_locks l
JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.pid <> pg_backend_pid()
  AND a.datname = current_database()
  AND (NOT l.granted OR (l.locktype = 'relation' AND l.relation >= 16384))
  AND a.application_name NOT LIKE 'pgrehearse:harness%'
  AND a.application_name NOT LIKE 'pgrehearse:probe%'
"""


def role_of(application_name: str | None, backend_type: str | None = None) -> SessionRole:
    """Who a session is, from its application_name (and, for the server's own workers, its
    backend type)."""
    role = SessionRole.of(application_name)
    if role is SessionRole.OTHER and backend_type == "autovacuum worker":
        return SessionRole.AUTOVACUUM
    return role


@dataclass
class Samples:
    """Column-oriented poll results: one entry per (poll, lock row)."""

    t: list[float] = field(default_factory=list)
    pid: list[int] = field(default_factory=list)
    role: list[str] = field(default_factory=list)
    locktype: list[str] = field(default_factory=list)
    relation: list[int | None] = field(default_factory=list)
    mode: list[str] = field(default_factory=list)
    granted: list[bool] = field(default_factory=list)
    blockers: list[list[int] | None] = field(default_factory=list)
    query: list[str | None] = field(default_factory=list)
    poll_times: list[float] = field(default_factory=list)  # one per poll, rows or not


@dataclass(frozen=True)
class SamplerStats:
    interval_ms: float
    polls: int
    seconds: float
    achieved_hz: float
    mean_poll_ms: float
    client_cpu_share: float  # of one core, the sampler thread
    server_cpu_share: float | None  # of one core, the sampler's backend (local servers)

    def to_dict(self) -> dict[str, Any]:
        return {
            "interval_ms": self.interval_ms,
            "polls": self.polls,
            "seconds": round(self.seconds, 3),
            "achieved_hz": round(self.achieved_hz, 1),
            "mean_poll_ms": round(self.mean_poll_ms, 3),
            "client_cpu_share": round(self.client_cpu_share, 4),
            "server_cpu_share": None
            if self.server_cpu_share is None
            else round(self.server_cpu_share, 4),
        }


class Sampler:
    """Start it before the observed window, stop it after; then read `samples`."""

    def __init__(
        self,
        connect_kwargs: dict[str, Any],
        clock: Clock,
        interval: float = 0.010,
        *,
        measure_server_cpu: bool = False,
    ) -> None:
        self.measure_server_cpu = measure_server_cpu
        self._kwargs = {
            **connect_kwargs,
            "application_name": SessionRole.SAMPLER.application_name(),
        }
        self.clock = clock
        self.interval = interval
        self.samples = Samples()
        self.stats: SamplerStats | None = None
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pgrehearse-sampler", daemon=True)
        self._poll_seconds = 0.0

    def __enter__(self) -> Sampler:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(timeout=30)
        if self.error is not None:
            raise self.error

    def stop(self) -> SamplerStats | None:
        self._stop.set()
        self._thread.join(timeout=30)
        return self.stats

    def _run(self) -> None:
        try:
            with psycopg.connect(**self._kwargs, autocommit=True) as conn:
                backend_pid = conn.info.backend_pid
                server_cpu_before = (
                    _process_cpu_seconds(backend_pid) if self.measure_server_cpu else None
                )
                cpu_before = time.thread_time()
                began = self.clock.now()
                self._ready.set()
                self._loop(conn)
                seconds = max(self.clock.now() - began, 1e-9)
                server_cpu_after = (
                    _process_cpu_seconds(backend_pid) if self.measure_server_cpu else None
                )
                times = self.samples.poll_times
                polls = len(times)
                span = times[-1] - times[0] if polls > 1 else 0.0
                self.stats = SamplerStats(
                    interval_ms=self.interval * 1000,
                    polls=polls,
                    seconds=seconds,
                    achieved_hz=(polls - 1) / span if span > 0 else 0.0,
                    mean_poll_ms=self._poll_seconds / max(polls, 1) * 1000,
                    client_cpu_share=(time.thread_time() - cpu_before) / seconds,
                    server_cpu_share=None
                    if server_cpu_before is None or server_cpu_after is None
                    else (server_cpu_after - server_cpu_before) / seconds,
                )
        except BaseException as exc:  # reported by start() or to the caller via .error
            self.error = exc
            self._ready.set()

    def _loop(self, conn: psycopg.Connection[Any]) -> None:
        cursor = conn.cursor()
        samples = self.samples
        next_poll = self.clock.now()
        while not self._stop.is_set():
            before = self.clock.now()
            cursor.execute(POLL, prepare=True)
            rows = cursor.fetchall()
            after = self.clock.now()
            self._poll_seconds += after - before
            t = (before + after) / 2
            samples.poll_times.append(t)
            for pid, app, locktype, relation, mode, granted, blockers, query, kind in rows:
                samples.t.append(t)
                samples.pid.append(pid)
                samples.role.append(role_of(app, kind).value)
                samples.locktype.append(locktype)
                samples.relation.append(relation)
                samples.mode.append(mode)
                samples.granted.append(granted)
                samples.blockers.append(sorted(set(blockers)) if blockers else None)
                samples.query.append(query)
            next_poll += self.interval
            delay = next_poll - self.clock.now()
            if delay > 0:
                self._stop.wait(delay)
            else:
                next_poll = self.clock.now()  # fell behind: do not try to catch up


def _process_cpu_seconds(pid: int) -> float | None:
    """utime + stime of a local process (the sampler's server backend), if readable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks
