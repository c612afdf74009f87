"""What the steps of one rehearsal share: the scenario, the result being filled, the clock,
progress, and the bookkeeping of phases (each timed, its status set on the way out)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg

from pgrehearse.backends import Server
from pgrehearse.errors import EnvironmentProblem, Interrupted
from pgrehearse.load import LoadChild, LoadProcess
from pgrehearse.migration import Clock
from pgrehearse.rehearsal.progress import Progress
from pgrehearse.rehearsal.result import PhaseResult, Rehearsal
from pgrehearse.report import EarlyReports
from pgrehearse.roles import SessionRole
from pgrehearse.scenario import Scenario

DATABASE = "rehearsal"  # logical name of the seeded database the migration runs on
SCHEMA_DATABASE = "pgrehearse_schema"  # scratch database the schema is first applied to


@dataclass
class RunContext:
    scenario: Scenario
    result: Rehearsal
    progress: Progress
    clock: Clock = field(default_factory=Clock)
    started_server: bool = False  # a server was started, so there is something to report
    server: Server | None = None  # the running server, watched during pauses
    load_child: LoadChild | None = None  # the load's interpreter, started with the server
    load_process: LoadProcess | None = None  # the load, prepared while the schema is read
    report_imports: threading.Thread | None = None  # reporting's imports, made meanwhile
    figures: EarlyReports | None = None  # figures and latency.csv, made during verify

    @contextmanager
    def phase(self, name: str, detail: str) -> Iterator[PhaseResult]:
        """Time a phase and record it in the result; failures and interrupts mark it."""
        phase = PhaseResult(name, "ok", started_s=self.clock.now())
        self.result.phases.append(phase)
        self.progress.phase_started(name, detail)
        began = time.perf_counter()
        try:
            yield phase
        except (KeyboardInterrupt, Interrupted):
            phase.status = "interrupted"
            raise
        except BaseException:
            phase.status = "failed"
            raise
        finally:
            phase.seconds = time.perf_counter() - began
            self.progress.phase_finished(phase)

    def skip(self, name: str, note: str) -> None:
        phase = PhaseResult(name, "skipped", note=note)
        self.result.phases.append(phase)
        self.progress.phase_finished(phase)

    def pause(self, name: str, seconds: float, detail: str) -> None:
        """A phase that only lets time pass (warmup, cooldown), watching the server."""
        if seconds <= 0:
            return
        with self.phase(name, f"{detail} ({seconds:g} s)"):
            deadline = time.monotonic() + seconds
            while (left := deadline - time.monotonic()) > 0:
                time.sleep(min(left, 0.1))
                self.check_server()

    def check_server(self) -> None:
        """Raise at once if the server died under us."""
        if self.server is not None and (died := self.server.failure()) is not None:
            raise ServerDied(died)


class ServerDied(EnvironmentProblem):
    """The server stopped without being asked to (killed, crashed, out of disk). Exit 3."""


def death_of(server: Server, exc: BaseException) -> ServerDied | None:
    """A `ServerDied` when `exc` came from the server dying under us, else None."""
    if isinstance(exc, ServerDied):
        return exc
    if isinstance(exc, (KeyboardInterrupt, Interrupted)):
        return None
    # a lost connection may be the first sign of a server going down: give it a moment
    grace = 1.0 if isinstance(exc, psycopg.OperationalError) or _caused_by_lost_server(exc) else 0
    died = server.failure(grace)
    return ServerDied(died) if died is not None else None


def _caused_by_lost_server(exc: BaseException) -> bool:
    """An error we raised from a psycopg error (seeding, load), when that error was a lost
    connection."""
    seen: BaseException | None = exc
    for _ in range(5):  # the chain: our error, the SeedError, the driver's error
        seen = seen.__cause__ or seen.__context__ if seen is not None else None
        if isinstance(seen, psycopg.OperationalError):
            return True
    return False


def connect(server: Server, dbname: str, role: SessionRole) -> psycopg.Connection[Any]:
    """A connection to a logical database of `server`, named after its role."""
    return psycopg.connect(**server.connect_kwargs(dbname, role.application_name()))
