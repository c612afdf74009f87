"""The load generator's own process: one connection per client, each running the
scenario's transactions as prepared statements through libpq, all driven by one thread.

One thread waits on every client's socket and sends each client's next statement as soon as
the previous one's result is in, as pgbench does. A thread per client spent most of its
CPU handing the GIL over between threads (measured: 30-40 µs of client CPU a transaction
against 15 µs for the loop, on the same SQL), and that CPU is taken from the server.
"""

from __future__ import annotations

import math
import select
import signal
import threading
import time
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import psycopg

from pgrehearse.load._client import Client
from pgrehearse.load._runner import (
    LoadError,
    LoadEvents,
    PreparedTransaction,
    read_message,
    write_message,
)
from pgrehearse.roles import SessionRole
from pgrehearse.scenario import LoadSpec, RefColumn

_STOP_GRACE_SECONDS = 5.0  # transactions in flight at the stop may finish this long
_CANCEL_WAIT_SECONDS = 5.0  # then they are cancelled, and their results awaited this long
_IDLE_POLL_MS = 100.0
_SWITCH_WAIT_SECONDS = 5.0  # clients finishing their transaction before the shape switches


def child_main(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """Entry point of the load process (see pgrehearse.load._child)."""
    from pgrehearse.backends import die_with_parent
    from pgrehearse.seed import child_signals

    child_signals()
    set_death_signal = die_with_parent(signal.SIGKILL)
    if set_death_signal is not None:
        set_death_signal()
    config = read_message(stdin)
    if config is None:  # started ahead of need, and not needed after all
        return
    spec: LoadSpec = config["spec"]
    transactions: list[PreparedTransaction] = config["transactions"]
    clock_origin: float = config["clock_origin"]

    def now() -> float:
        return time.perf_counter() - clock_origin

    try:
        ref_keys = _load_ref_keys(transactions, config["connect_kwargs"])
        clients = [
            Client(
                index, spec, transactions, config["connect_kwargs"], config["seed"], ref_keys, now
            )
            for index in range(spec.clients)
        ]
    except Exception as exc:  # reported to the parent as a clear message
        write_message(stdout, {"error": str(exc)})
        return
    # connected and prepared; the transactions start on the parent's go (G), which may
    # come seconds later: the preparation overlaps the parent's work on the schema
    write_message(stdout, {"prepared": True})
    if stdin.read(1) != b"G":
        for client in clients:
            client.close()
        return
    started = now()
    control = _Control()
    driver = threading.Thread(
        target=_drive, args=(clients, started, control), name="pgrehearse-load", daemon=True
    )
    driver.start()
    write_message(stdout, {"ready": True})
    while True:  # the parent writes one byte per command (or dies: EOF)
        command = stdin.read(1)
        if command not in (b"U", b"D"):
            break
        for client in clients:
            client.new_shape = command == b"U"
        deadline = time.monotonic() + _SWITCH_WAIT_SECONDS
        while time.monotonic() < deadline and any(
            c.shape_in_use != c.new_shape and not c.dead for c in clients
        ):
            time.sleep(0.001)
        write_message(stdout, {"shape": command == b"U"})
    stopped = now()
    control.stopped_at = stopped
    driver.join(timeout=_STOP_GRACE_SECONDS + _CANCEL_WAIT_SECONDS + 1)
    events = _merge(clients, transactions, started, stopped)
    for client in clients:
        client.close()
    write_message(stdout, {"events": events})


def _load_ref_keys(
    transactions: list[PreparedTransaction], connect_kwargs: dict[str, Any]
) -> dict[str, npt.NDArray[Any]]:
    refs = {
        spec.ref: spec
        for tx in transactions
        for spec in tx.params.values()
        if isinstance(spec, RefColumn)
    }
    keys: dict[str, npt.NDArray[Any]] = {}
    if not refs:
        return keys
    with psycopg.connect(
        **{**connect_kwargs, "application_name": SessionRole.HARNESS.application_name()}
    ) as conn:
        for ref, spec in refs.items():
            table = psycopg.sql.Identifier(*spec.table.split("."))
            column = psycopg.sql.Identifier(spec.column)
            query = psycopg.sql.SQL("SELECT {} FROM {} WHERE {} IS NOT NULL ORDER BY 1").format(
                column, table, column
            )
            values = [row[0] for row in conn.execute(query)]
            if not values:
                raise LoadError(f"parameter source {ref} has no rows")
            integer = all(isinstance(v, int) for v in values[:100])
            keys[ref] = np.array(values, dtype=np.int64 if integer else object)
    return keys


@dataclass
class _Control:
    """Set by the process's main thread, read by the loop."""

    stopped_at: float | None = None  # the stop was asked for at this time (now())


def _drive(clients: list[Client], started: float, control: _Control) -> None:
    """Run every client's transactions until the stop, then let those in flight finish (or
    cancel them after the grace time)."""
    if not clients or not clients[0].transactions:
        return
    spec = clients[0].spec
    interval = spec.clients / spec.rate if spec.rate else None
    now = clients[0].now
    poller = select.poll()
    by_socket: dict[int, Client] = {}
    for client in clients:
        client.pgconn.nonblocking = 1
        by_socket[client.pgconn.socket] = client
        poller.register(client.pgconn.socket, select.POLLIN)
        if interval is not None:
            client.scheduled = started + (client.index / len(clients)) * interval
    cancelled = False
    while True:
        timeout = _IDLE_POLL_MS
        if control.stopped_at is not None:
            busy = [c for c in clients if c.busy and not c.dead]
            waited = now() - control.stopped_at
            if not busy or waited > _STOP_GRACE_SECONDS + _CANCEL_WAIT_SECONDS:
                return
            if not cancelled and waited > _STOP_GRACE_SECONDS:
                cancelled = True
                for client in busy:
                    client.cancel()  # still waiting on the server (a lock, most likely)
        else:
            for client in clients:
                if client.busy or client.dead:
                    continue
                wait = client.ready_in(interval, now)
                if wait is None:
                    client.begin(interval)
                else:
                    timeout = min(timeout, wait * 1000)
        for socket, _ in poller.poll(max(0, math.ceil(timeout))):
            client = by_socket[socket]
            if not client.busy:
                continue
            if client.on_readable():
                if client.dead:
                    poller.unregister(socket)
                elif control.stopped_at is None and client.ready_in(interval, now) is None:
                    client.begin(interval)  # closed loop: the next one right away


def _merge(
    clients: list[Client],
    transactions: list[PreparedTransaction],
    started: float,
    stopped: float,
) -> LoadEvents:
    def joined(attribute: str, dtype: Any) -> npt.NDArray[Any]:
        parts = [np.frombuffer(getattr(c.log, attribute), dtype=dtype) for c in clients]
        return np.concatenate(parts) if parts else np.array([], dtype=dtype)

    first_errors: dict[tuple[str, str], dict[str, Any]] = {}
    for client in clients:
        for key, first in client.first_errors.items():
            if key not in first_errors or first["at_s"] < first_errors[key]["at_s"]:
                first_errors[key] = first
    return LoadEvents(
        transactions=[tx.name for tx in transactions],
        start_s=joined("start", np.float64),
        latency_s=joined("latency", np.float64),
        lateness_s=joined("lateness", np.float64),
        transaction=joined("transaction", np.int16),
        client=np.concatenate([np.full(len(c.log.start), c.index, dtype=np.int16) for c in clients])
        if clients
        else np.array([], dtype=np.int16),
        outcome=joined("outcome", np.int8),
        sqlstate=[s for c in clients for s in c.log.sqlstate],
        first_errors=first_errors,
        client_pids=[c.pid for c in clients],
        started_s=started,
        stopped_s=stopped,
    )
