"""One load client: its connection, its prepared statements, the parameters it draws, and
the transaction it has in flight, moved on by each result (see `_clients._drive`)."""

from __future__ import annotations

import contextlib
import select
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg import errors as pg_errors
from psycopg import pq

from pgrehearse.load._runner import OUTCOMES, LoadError, PreparedTransaction, classify
from pgrehearse.roles import SessionRole
from pgrehearse.scenario import LoadSpec, postgres_duration
from pgrehearse.seed import Generator, GeneratorContext, build_generator

_CACHED_PLAN_CHANGED = pg_errors.FeatureNotSupported.sqlstate
_OK = (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK, pq.ExecStatus.EMPTY_QUERY)
_BLOCK = 1024
_PARKED_POLL_MS = 5.0  # a client with nothing to run yet (only after-up transactions)
_CONNECTION_LOST = "08006"


@dataclass
class _ClientLog:
    start: array[float] = field(default_factory=lambda: array("d"))
    latency: array[float] = field(default_factory=lambda: array("d"))
    lateness: array[float] = field(default_factory=lambda: array("d"))
    transaction: array[int] = field(default_factory=lambda: array("h"))
    outcome: array[int] = field(default_factory=lambda: array("b"))
    sqlstate: list[str | None] = field(default_factory=list)


# --------------------------------------------------------------------------- child process


class Client:
    def __init__(
        self,
        index: int,
        spec: LoadSpec,
        transactions: list[PreparedTransaction],
        connect_kwargs: dict[str, Any],
        seed: int,
        ref_keys: dict[str, npt.NDArray[Any]],
        now: Callable[[], float],
    ) -> None:
        self.index = index
        self.spec = spec
        self.transactions = transactions
        self.now = now
        self.stopping = False
        self.log = _ClientLog()
        self.first_errors: dict[tuple[str, str], dict[str, Any]] = {}
        options = []
        if spec.lock_timeout is not None:
            options.append(f"-c lock_timeout={postgres_duration(spec.lock_timeout)}")
        if spec.statement_timeout is not None:
            options.append(f"-c statement_timeout={postgres_duration(spec.statement_timeout)}")
        kwargs = {**connect_kwargs, "application_name": SessionRole.LOAD.application_name(index)}
        if options:
            kwargs["options"] = " ".join(options)
        self.conn = psycopg.connect(**kwargs, autocommit=True)
        self.pgconn = self.conn.pgconn
        self.pid = self.conn.info.backend_pid
        self.rng = np.random.default_rng([seed, 7919, index])
        self.generators: list[dict[str, Generator]] = []
        self.null_fractions: list[dict[str, float]] = []
        for number, tx in enumerate(transactions):
            for position, (sql, _) in enumerate(tx.statements):
                if tx.after_up:
                    break  # prepared after up, on the new shape
                result = self.pgconn.prepare(f"t{number}s{position}".encode(), sql.encode())
                if result.status not in _OK:
                    message = _primary(result)
                    raise LoadError(
                        f"load transaction {tx.name!r} does not work on the schema before the "
                        f"migration: {message}"
                    )
            context = GeneratorContext(seed, "load", tx.name, rows=1, ref_keys=ref_keys)
            self.generators.append(
                {
                    name: build_generator(param, context.child(name))
                    for name, param in tx.params.items()
                }
            )
            self.null_fractions.append({n: p.null_fraction for n, p in tx.params.items()})
        self.new_shape = False  # set by the main thread: the after-up transactions run
        self.shape_in_use = False
        self._prepared_after_up = False
        self._after_ready: set[int] = set()
        self._usable = [not tx.after_up for tx in transactions]
        self.cumulative = np.ones(len(transactions))
        self._choices: list[int] = []
        self._weigh()
        self._values: list[dict[str, list[bytes | None]]] = [{} for _ in transactions]
        self._drawn = 0
        self._statement_names = [
            [f"t{number}s{position}".encode() for position in range(len(tx.statements))]
            for number, tx in enumerate(transactions)
        ]
        # the transaction in flight (see begin)
        self.busy = False
        self.dead = False
        self.scheduled = 0.0
        self._chosen = 0
        self._params: dict[str, bytes | None] = {}
        self._began = 0.0
        self._lateness = 0.0
        self._several = False
        self._position = 0
        self._ending = False
        self._failure: tuple[str, str] | None = None
        self._reprepare = False
        self._result_status: int | None = None
        self._result_error: tuple[str, str] | None = None

    def _weigh(self) -> None:
        """Pick among the transactions in use: old-shape ones, plus the after-up ones while
        they run (and once they prepared)."""
        weights = np.array(
            [
                tx.weight if use else 0.0
                for tx, use in zip(self.transactions, self._usable, strict=True)
            ],
            dtype=np.float64,
        )
        total = weights.sum()
        self.cumulative = np.cumsum(weights / total) if total > 0 else np.zeros(len(weights))
        if total > 0:
            self.cumulative[-1] = 1.0
        self._choices = []

    def _switch_shape(self) -> None:
        """Called in the client's own thread (its connection is not shared). The first time
        the after-up transactions are wanted, they are prepared on the new shape; one whose
        SQL does not fit it is recorded as failing once and left out."""
        wanted = self.new_shape
        self.shape_in_use = wanted
        if wanted and not self._prepared_after_up:
            self._prepared_after_up = True
            for number, tx in enumerate(self.transactions):
                if tx.after_up and self._prepare(number):
                    self._after_ready.add(number)
        self._usable = [
            (not tx.after_up) or (wanted and number in self._after_ready)
            for number, tx in enumerate(self.transactions)
        ]
        self._weigh()

    def _prepare(self, number: int) -> bool:
        for position, (sql, _) in enumerate(self.transactions[number].statements):
            result = self.pgconn.prepare(f"t{number}s{position}".encode(), sql.encode())
            if result.status not in _OK:
                sqlstate = result.error_field(pq.DiagnosticField.SQLSTATE)
                self._record_failure(
                    number, sqlstate.decode() if sqlstate else "XX000", _primary(result)
                )
                return False
        return True

    def _record_failure(self, chosen: int, sqlstate: str, message: str) -> None:
        now = self.now()
        log = self.log
        log.start.append(now)
        log.latency.append(0.0)
        log.lateness.append(0.0)
        log.transaction.append(chosen)
        log.outcome.append(OUTCOMES.index(classify(sqlstate)))
        log.sqlstate.append(sqlstate)
        key = (self.transactions[chosen].name, sqlstate)
        self.first_errors.setdefault(key, {"at_s": now, "message": message})

    def ready_in(self, interval: float | None, now: Callable[[], float]) -> float | None:
        """None when the client should start a transaction now; else the seconds to wait
        (its schedule, or nothing to run yet). Switches the shape first when asked to."""
        if self.new_shape != self.shape_in_use:
            self._switch_shape()
        if not any(self._usable):  # only after-up transactions, and up has not ended
            return _PARKED_POLL_MS / 1000
        if interval is not None:
            wait = self.scheduled - now()
            if wait > 0:
                return wait
        return None

    def _next_transaction(self) -> int:
        if not self._choices:
            picks = np.searchsorted(self.cumulative, self.rng.random(_BLOCK), side="right")
            self._choices = picks.tolist()[::-1]
        return self._choices.pop()

    def _next_params(self, chosen: int) -> dict[str, bytes | None]:
        pools = self._values[chosen]
        values: dict[str, bytes | None] = {}
        for name, generator in self.generators[chosen].items():
            pool = pools.get(name)
            if not pool:
                raw = generator.values(self._drawn, _BLOCK, self.rng)
                self._drawn += _BLOCK
                encoded: list[bytes | None] = [v.encode() for v in raw]
                fraction = self.null_fractions[chosen][name]
                if fraction > 0:
                    for i in np.flatnonzero(self.rng.random(_BLOCK) < fraction).tolist():
                        encoded[i] = None
                pool = pools[name] = encoded[::-1]
            values[name] = pool.pop()
        return values

    # ---------------------------------------------------------------- one transaction
    # begin() sends its first command; each result (on_readable) sends the next: BEGIN, the
    # statements, COMMIT; or ROLLBACK after a failure. The transaction is logged at its end.

    def begin(self, interval: float | None) -> None:
        chosen = self._next_transaction()
        self._params = self._next_params(chosen)
        self._began = self.now()
        self._lateness = 0.0
        if interval is not None:
            self._lateness = max(0.0, self._began - self.scheduled)
            self.scheduled += interval
        self._chosen = chosen
        self._several = len(self.transactions[chosen].statements) > 1
        self._position = 0
        self._ending = False
        self._failure = None
        self._reprepare = False
        self.busy = True
        if self._several:
            self._send(b"BEGIN")
        else:
            self._send_statement()

    def _send(self, command: bytes) -> None:
        self.pgconn.send_query(command)
        self._flush()

    def _send_statement(self) -> None:
        names = self.transactions[self._chosen].statements[self._position][1]
        values: list[Any] = [self._params[name] for name in names]  # None is SQL NULL
        self.pgconn.send_query_prepared(self._statement_names[self._chosen][self._position], values)
        self._position += 1
        self._flush()

    def _flush(self) -> None:
        while self.pgconn.flush() == 1:  # a large parameter: wait until the socket takes it
            select.select([], [self.pgconn.socket], [], 1.0)

    def on_readable(self) -> bool:
        """Read what the server sent; True when it finished the transaction."""
        pg = self.pgconn
        try:
            pg.consume_input()
            while not pg.is_busy():
                result = pg.get_result()
                if result is None:
                    return self._advance()
                self._keep(result)
        except psycopg.OperationalError as exc:
            self._lost(str(exc))
            return True
        return False

    def _keep(self, result: pq.abc.PGresult) -> None:
        if self._result_status is not None and self._result_status not in _OK:
            return  # the first error counts
        self._result_status = result.status
        if result.status not in _OK:
            sqlstate = result.error_field(pq.DiagnosticField.SQLSTATE)
            self._result_error = (sqlstate.decode() if sqlstate else "XX000", _primary(result))

    def _advance(self) -> bool:
        """The command's result is complete: send the next command, or end."""
        failed = self._result_status is None or self._result_status not in _OK
        error = self._result_error or ("XX000", "no result")
        self._result_status = None
        self._result_error = None
        if failed and self._failure is None:
            self._failure = error
            self._reprepare = error[0] == _CACHED_PLAN_CHANGED
        if self._ending:
            return self._end()
        if failed:
            if self._several:
                self._ending = True
                self._send(b"ROLLBACK")
                return False
            return self._end()
        if self._position < len(self.transactions[self._chosen].statements):
            self._send_statement()
            return False
        if self._several:
            self._ending = True
            self._send(b"COMMIT")
            return False
        return self._end()

    def _end(self) -> bool:
        ended = self.now()
        sqlstate, message = self._failure if self._failure is not None else (None, "")
        log = self.log
        log.start.append(self._began)
        log.latency.append(ended - self._began)
        log.lateness.append(self._lateness)
        log.transaction.append(self._chosen)
        log.outcome.append(OUTCOMES.index(classify(sqlstate)))
        log.sqlstate.append(sqlstate)
        if sqlstate is not None:
            key = (self.transactions[self._chosen].name, sqlstate)
            if key not in self.first_errors:
                self.first_errors[key] = {"at_s": self._began, "message": message}
        if self._reprepare:
            self._prepare_again(self._chosen)
        self.busy = False
        return True

    def _lost(self, message: str) -> None:
        """The connection is gone (the server stopped): logged once, the client stops."""
        if self.busy:
            self._failure = (_CONNECTION_LOST, message)
            self._reprepare = False
            self._end()
        self.dead = True

    def _prepare_again(self, chosen: int) -> None:
        """Re-prepare a transaction's statements after the schema changed their result type,
        as drivers do: the schema change costs each client one error, not one per call."""
        for position, (sql, _) in enumerate(self.transactions[chosen].statements):
            name = f"t{chosen}s{position}".encode()
            self.pgconn.exec_(b"DEALLOCATE " + name)
            self.pgconn.prepare(name, sql.encode())

    def cancel(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self.pgconn.get_cancel().cancel()

    def close(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self.conn.close()


def _primary(result: pq.abc.PGresult) -> str:
    """The server's primary error message, without severity and position decorations."""
    primary = result.error_field(pq.DiagnosticField.MESSAGE_PRIMARY)
    if primary:
        return primary.decode(errors="replace")
    return (result.error_message or b"").decode(errors="replace").strip()
