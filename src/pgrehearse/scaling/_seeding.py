"""Seed every scale's snapshot at once, before any scale is measured.

Measuring two scales at the same time would make them share cores by amounts that differ
from scale to scale, which a fit cannot tell from growth; so the rehearsals stay one after
the other. Seeding is not measured, and small scales spend most of their seed waiting
(server start, schema, snapshot copy, restart), so the seeds of all scales run together in
child processes, and each rehearsal then starts from its scale's cached snapshot.

Each child turns SIGTERM into an exception, so its server and folders are removed as a
rehearsal's are; the parent sends SIGTERM to every child still seeding when it is itself
interrupted or fails, and waits for them.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import FrameType

from pgrehearse.backends import die_with_parent
from pgrehearse.backends.choice import ServerOptions
from pgrehearse.errors import ExitCode, Interrupted
from pgrehearse.rehearsal.progress import Progress
from pgrehearse.scenario import Scenario

_STOP_TIMEOUT_SECONDS = 60.0


@dataclass
class SeedJob:
    scale: float
    scenario: Scenario


def parallel_seeds(jobs: int, cores: int | None = None) -> int:
    """How many seeds to run at once by default: one per two cores (a seed keeps about two
    busy: the server's COPY and the generating workers), never more than there are jobs.
    On 2 cores that is 1, i.e. no seeding ahead: three scales seeded together there took
    1.09× as long as one after the other (benchmarks/scale_seeding.py)."""
    cores = cores or os.cpu_count() or 1
    return max(1, min(jobs, cores // 2))


def seed_scales(
    jobs: Sequence[SeedJob],
    options: ServerOptions,
    progress: Progress,
    width: int | None = None,
) -> None:
    """Seed the cached snapshot of each job's scale, `width` at a time (default
    `parallel_seeds`); nothing happens when that is 1, or the cache is off.

    A scale whose seed fails is left alone: its rehearsal seeds again and reports the
    problem the way a single rehearsal does.
    """
    width = min(len(jobs), width if width is not None else parallel_seeds(len(jobs)))
    if not options.cache or width < 2:
        return
    progress.note(
        "seeding the snapshots of scales "
        + ", ".join(f"{job.scale:g}" for job in jobs)
        + f" ({width} at a time; each scale is then measured on its own)"
    )
    context = multiprocessing.get_context("spawn")  # no fork of a threaded parent
    waiting = list(jobs)
    running: dict[Connection, tuple[BaseProcess, SeedJob, float]] = {}
    try:
        while waiting or running:
            while waiting and len(running) < width:
                job = waiting.pop(0)
                receiver, sender = context.Pipe(duplex=False)
                child: BaseProcess = context.Process(
                    target=_seed_child,
                    args=(job.scenario, options.but(scale=job.scale), sender),
                    name=f"pgrehearse-seed-{job.scale:g}",
                )
                child.start()
                sender.close()
                running[receiver] = (child, job, time.monotonic())
            for ready in wait(list(running)):
                assert isinstance(ready, Connection)
                done, job, started = running.pop(ready)
                outcome = _receive(ready)
                done.join()
                ready.close()
                seconds = time.monotonic() - started
                if outcome == "seeded":
                    progress.note(f"scale {job.scale:g}: seeded in {seconds:.1f} s")
                elif outcome != "cached":
                    progress.note(f"scale {job.scale:g}: not seeded ahead ({outcome})")
    finally:
        _stop(running)
    # the snapshots just written are still being flushed: let that finish before any
    # scale is measured, or its disk writes land in the first rehearsals' timings
    os.sync()


def _receive(connection: Connection) -> str:
    try:
        return str(connection.recv())
    except (EOFError, OSError):
        return "its seeding process ended without a word"


def _stop(running: dict[Connection, tuple[BaseProcess, SeedJob, float]]) -> None:
    for child, _job, _started in running.values():
        if child.is_alive() and child.pid is not None:
            os.kill(child.pid, signal.SIGTERM)
    for connection, (child, _job, _started) in running.items():
        child.join(_STOP_TIMEOUT_SECONDS)
        if child.is_alive():
            child.kill()
            child.join()
        connection.close()


def _seed_child(scenario: Scenario, options: ServerOptions, sender: Connection) -> None:
    """In the child: seed one scale's snapshot and say how it went."""

    def interrupted(signum: int, _frame: FrameType | None) -> None:
        # the first signal starts the cleanup; later ones (Ctrl-C reaches the whole
        # process group, then the parent's SIGTERM follows) must not cut it short
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        raise Interrupted(signal.Signals(signum).name, ExitCode.TERMINATED)

    try:  # a signal may come from the first line on: no traceback for it
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, interrupted)
        set_death_signal = die_with_parent(signal.SIGTERM)
        if set_death_signal is not None:
            set_death_signal()
        from pgrehearse.rehearsal.prepare import seed_snapshot  # a signal may come meanwhile

        outcome = "seeded" if seed_snapshot(scenario, options) else "cached"
    except Interrupted:
        outcome = "interrupted"
    except Exception as exc:
        outcome = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # done: say so, uncut
        signal.signal(sig, signal.SIG_IGN)
    with contextlib.suppress(OSError):  # the parent is gone
        sender.send(outcome)
    sender.close()
