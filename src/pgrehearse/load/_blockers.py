"""Blocker sessions: a transaction opened before the migration and held for a while, to
rehearse the lock queue (the migration waits for it, and every other query waits behind
the migration)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from pgrehearse.roles import SessionRole
from pgrehearse.scenario import BlockerSpec


@dataclass
class BlockerResult:
    name: str
    phase: str
    pid: int | None
    began_s: float | None  # its transaction opened
    ended_s: float | None  # its transaction ended
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "phase": self.phase,
            "pid": self.pid,
            "began_s": self.began_s,
            "ended_s": self.ended_s,
            "error": self.error,
        }


class Blocker:
    """Runs in a thread: wait `start`, BEGIN, run the SQL, stay open for `hold`, COMMIT."""

    def __init__(
        self, spec: BlockerSpec, connect_kwargs: dict[str, Any], now: Callable[[], float]
    ) -> None:
        self.spec = spec
        self.now = now
        self._kwargs = {
            **connect_kwargs,
            "application_name": SessionRole.BLOCKER.application_name(spec.name),
        }
        self._stop = threading.Event()
        self.result = BlockerResult(spec.name, spec.phase, None, None, None)
        self._thread = threading.Thread(target=self._run, name=f"blocker-{spec.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> BlockerResult:
        self._stop.set()
        self._thread.join(timeout=30)
        return self.result

    def _run(self) -> None:
        if self._stop.wait(self.spec.start):
            return
        try:
            with psycopg.connect(**self._kwargs, autocommit=True) as conn:
                self.result.pid = conn.info.backend_pid
                conn.execute("BEGIN")
                self.result.began_s = self.now()
                for statement in self.spec.statements:
                    conn.execute(statement)
                self._stop.wait(max(0.0, self.spec.hold - (self.now() - self.result.began_s)))
                conn.execute("COMMIT")
                self.result.ended_s = self.now()
        except psycopg.Error as exc:
            self.result.error = str(exc).strip()
            if self.result.began_s is not None and self.result.ended_s is None:
                self.result.ended_s = self.now()
