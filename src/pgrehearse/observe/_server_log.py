"""The server's csvlog, read through SQL (so it works wherever the server runs), and the
role settings that make a tool's sessions log every statement they send."""

from __future__ import annotations

import itertools
import time
from typing import Any

import psycopg
from psycopg import sql

from pgrehearse.observe._statement_log import (
    REWRITE_MARK,
    LoggedStatement,
    log_records,
    parse_statements,
)
from pgrehearse.roles import APP_PREFIX, SessionRole

# Started with these, the server writes a csvlog that `ServerLog` reads.
STATEMENT_LOG_SETTINGS: dict[str, str] = {
    "logging_collector": "on",
    "log_destination": "csvlog",
    "log_filename": "pgrehearse.log",
    "log_rotation_age": "0",
    "log_rotation_size": "0",
    "log_timezone": "UTC",
    "log_min_error_statement": "error",
}
_REWRITE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION pg_catalog.pgrehearse_rewrite_log() RETURNS event_trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE LOG '{REWRITE_MARK}%', pg_event_trigger_table_rewrite_oid();
END
$$
"""
_ROLE_SETTINGS = {"log_statement": "all", "log_min_duration_statement": "0"}
_MARK_WAIT_S = 10.0
_CALIBRATIONS = 5
_marks = itertools.count(1)


class ServerLogUnavailable(RuntimeError):
    """The server keeps no csvlog pgrehearse can read (the message says why)."""


class ServerLog:
    """New statements in the csvlog since the last read, up to a mark written just before."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn  # a superuser session of pgrehearse's, in autocommit
        try:
            row = conn.execute("SELECT pg_current_logfile('csvlog')").fetchone()
        except psycopg.Error as exc:
            raise ServerLogUnavailable(f"cannot find the server's log: {exc}") from None
        if row is None or row[0] is None:
            raise ServerLogUnavailable("the server writes no csvlog")
        self.file = str(row[0])
        self.offset = self._size()
        # server epoch minus this process's clock, for turning log times into ours
        self.clock_offset = 0.0

    def calibrate(self, now: Any) -> None:
        """Measure how the server's clock relates to `now()` (the rehearsal's clock)."""
        best: tuple[float, float] | None = None  # (round trip, offset)
        for _ in range(_CALIBRATIONS):  # the quickest round trip bounds the error best
            before = now()
            row = self.conn.execute(
                "SELECT extract(epoch FROM clock_timestamp())::float8"
            ).fetchone()
            after = now()
            assert row is not None
            sample = (after - before, float(row[0]) - (before + after) / 2)
            if best is None or sample[0] < best[0]:
                best = sample
        assert best is not None
        self.clock_offset = best[1]

    def log_statements_of(self, role: str, database: str, *, on: bool) -> None:
        """Make the role's new sessions in `database` log every statement (or stop)."""
        for name, value in _ROLE_SETTINGS.items():
            if on:
                statement = sql.SQL("ALTER ROLE {} IN DATABASE {} SET {} = {}").format(
                    sql.Identifier(role),
                    sql.Identifier(database),
                    sql.Identifier(name),
                    sql.Literal(value),
                )
            else:
                statement = sql.SQL("ALTER ROLE {} IN DATABASE {} RESET {}").format(
                    sql.Identifier(role), sql.Identifier(database), sql.Identifier(name)
                )
            self.conn.execute(statement)

    def watch_rewrites(self, *, on: bool) -> bool:
        """A `table_rewrite` event trigger that logs the oid of every table a statement
        rewrites, inside that statement's log records (so a rewrite is the statement's, not
        a guess). Its function lives in pg_catalog, outside every fingerprint. False when
        the role may not create it."""
        try:
            if on:
                self.conn.execute(_REWRITE_FUNCTION)
                self.conn.execute(
                    "CREATE EVENT TRIGGER pgrehearse_rewrites ON table_rewrite "
                    "EXECUTE FUNCTION pg_catalog.pgrehearse_rewrite_log()"
                )
            else:
                self.conn.execute("DROP EVENT TRIGGER IF EXISTS pgrehearse_rewrites")
                self.conn.execute("DROP FUNCTION IF EXISTS pg_catalog.pgrehearse_rewrite_log()")
        except psycopg.Error:
            return False
        return True

    def read(self) -> list[LoggedStatement]:
        """Statements logged since the last read by sessions that are not pgrehearse's own
        (a tool that names itself `pgrehearse:migration…` counts as the tool)."""
        text = self._read_to_mark()
        skipped = [
            f"{APP_PREFIX}:{role.value}" for role in SessionRole if role != SessionRole.MIGRATION
        ]
        return parse_statements(log_records(text), skipped)

    def _read_to_mark(self) -> str:
        mark = f"pgrehearse-mark-{next(_marks)}-{id(self)}"
        self.conn.execute(sql.SQL("DO $$ BEGIN RAISE LOG {}; END $$").format(sql.Literal(mark)))
        deadline = time.monotonic() + _MARK_WAIT_S
        while True:
            size = self._size()
            row = self.conn.execute(
                "SELECT pg_read_binary_file(%s, %s, %s)",
                (self.file, self.offset, max(0, size - self.offset)),
            ).fetchone()
            data = bytes(row[0]) if row is not None and row[0] is not None else b""
            at = data.find(mark.encode())
            if at >= 0:
                end = data.find(b"\n", at)
                end = len(data) if end < 0 else end + 1
                self.offset += end
                return data[:end].decode("utf-8", errors="replace")
            if time.monotonic() > deadline:
                raise ServerLogUnavailable(
                    f"the server's log ({self.file}) did not show pgrehearse's mark "
                    f"within {_MARK_WAIT_S:.0f} s"
                )
            time.sleep(0.02)

    def _size(self) -> int:
        row = self.conn.execute("SELECT (pg_stat_file(%s)).size", (self.file,)).fetchone()
        return int(row[0]) if row is not None else 0
