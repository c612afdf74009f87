"""Statements a migration tool sent itself, read back from the server's csvlog.

While a tool runs, its role logs every statement as it starts (`log_statement = all`) and
its duration as it ends (`log_min_duration_statement = 0`); errors are logged with the
statement that raised them. `parse_statements` pairs these records per backend into
statements with a start, a duration, an error and the transaction they ran in.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

# csvlog columns (PostgreSQL 13+; later majors only append)
_TIME, _USER, _DATABASE, _PID, _SESSION_LINE, _TAG = 0, 1, 2, 3, 6, 7
_SEVERITY, _SQLSTATE, _MESSAGE, _DETAIL, _HINT, _QUERY, _APP = 11, 12, 13, 14, 15, 19, 22

# logged by pgrehearse's table_rewrite event trigger (see ServerLog.watch_rewrites)
REWRITE_MARK = "pgrehearse-rewrite "
_STARTED = re.compile(r"^(?:statement|execute [^:]*): (.*)$", re.DOTALL)
_DURATION = re.compile(
    r"^duration: ([0-9.]+) ms(?:  (statement|execute|parse|bind)[^:]*: (.*))?$", re.DOTALL
)
_ENDS_TRANSACTION = re.compile(r"^\s*(COMMIT|END|ROLLBACK|ABORT)\b", re.IGNORECASE)
_BOOKKEEPING = re.compile(
    r"^\s*(BEGIN|START\s+TRANSACTION|COMMIT|END|ROLLBACK|ABORT|SET|SHOW|RESET|DISCARD|"
    r"DEALLOCATE|SAVEPOINT|RELEASE|LISTEN|UNLISTEN)\b",
    re.IGNORECASE,
)
# a tool looking at the catalog (its own introspection), not changing anything
_INTROSPECTION = re.compile(
    r"\b(pg_catalog\.|information_schema\.|pg_(class|attribute|namespace|constraint|index|"
    r"indexes|tables|type|proc|depend|description|trigger|sequences?|settings|roles|database|"
    r"am|attrdef|inherits|collation|extension|enum|stat_\w+)\b|version\(\)|current_schema|"
    r"set_config\(|current_setting\()",
    re.IGNORECASE,
)
_READS_ONLY = re.compile(r"^\s*(SELECT|WITH|SHOW|TABLE|VALUES)\b", re.IGNORECASE)


@dataclass
class LoggedStatement:
    pid: int
    application_name: str
    sql: str
    started_at: float  # the server's epoch seconds
    seconds: float | None = None
    sqlstate: str | None = None
    error: str | None = None
    detail: str | None = None
    hint: str | None = None
    in_transaction: bool = False  # an explicit transaction was open when it started
    transaction_end_at: float | None = None  # epoch seconds
    parameters: str | None = None
    rewritten: list[int] = field(default_factory=list)  # oids its table_rewrite events named

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def bookkeeping(self) -> bool:
        """Transaction control, session settings and the tool's catalog introspection:
        statements that change nothing a reviewer cares about."""
        if _BOOKKEEPING.match(self.sql):
            return True
        return bool(_READS_ONLY.match(self.sql) and _INTROSPECTION.search(self.sql))


@dataclass
class _Session:
    open: LoggedStatement | None = None
    transaction: list[LoggedStatement] = field(default_factory=list)


def log_records(text: str) -> Iterator[list[str]]:
    """csvlog records (a record may span lines: its fields are quoted)."""
    yield from csv.reader(io.StringIO(text))


def parse_statements(
    records: Iterable[Sequence[str]], skip_applications: Sequence[str] = ()
) -> list[LoggedStatement]:
    """Every session's statements in start order, but those of sessions whose
    application_name starts with one of `skip_applications` (pgrehearse's own)."""
    sessions: dict[int, _Session] = {}
    found: list[LoggedStatement] = []
    for record in records:
        if len(record) <= _APP or not record[_PID] or not record[_USER]:
            continue
        application = record[_APP]
        if any(application.startswith(prefix) for prefix in skip_applications):
            continue
        pid = int(record[_PID])
        at = _epoch(record[_TIME])
        session = sessions.setdefault(pid, _Session())
        message = record[_MESSAGE]
        if record[_SEVERITY] in ("ERROR", "FATAL", "PANIC"):
            statement = session.open
            if statement is None and record[_QUERY]:
                statement = LoggedStatement(pid, application, record[_QUERY].strip(), at)
                found.append(statement)
            if statement is not None:
                statement.seconds = max(0.0, at - statement.started_at)
                statement.sqlstate = record[_SQLSTATE] or None
                statement.error = message
                statement.detail = record[_DETAIL] or None
                statement.hint = record[_HINT] or None
                _end_transaction(session, at)
            session.open = None
            continue
        if record[_SEVERITY] != "LOG":
            continue
        if message.startswith(REWRITE_MARK):
            if session.open is not None:
                session.open.rewritten.append(int(message.removeprefix(REWRITE_MARK)))
            continue
        started = _STARTED.match(message)
        if started:
            statement = LoggedStatement(
                pid,
                application,
                started[1].strip(),
                at,
                in_transaction=record[_TAG] == "idle in transaction",
                parameters=record[_DETAIL] or None,
            )
            session.open = statement
            found.append(statement)
            continue
        duration = _DURATION.match(message)
        if duration is None:
            continue
        seconds = float(duration[1]) / 1000
        kind, text = duration[2], duration[3]
        if kind in ("parse", "bind"):
            continue
        if text is not None:  # logged only at its end: its start is its end minus its time
            statement = LoggedStatement(pid, application, text.strip(), at - seconds)
            statement.in_transaction = record[_TAG] != "idle"
            found.append(statement)
        else:
            statement = session.open
            session.open = None
        if statement is None:
            continue
        statement.seconds = seconds
        session.transaction.append(statement)
        ends = _ENDS_TRANSACTION.match(statement.sql)
        # an autocommit statement ends its own transaction; BEGIN and SET end none
        if ends or not (statement.in_transaction or _BOOKKEEPING.match(statement.sql)):
            _end_transaction(session, statement.started_at + seconds)
    return sorted(found, key=lambda s: (s.started_at, s.pid))


def _end_transaction(session: _Session, at: float) -> None:
    for statement in session.transaction:
        statement.transaction_end_at = at
    if session.open is not None:
        session.open.transaction_end_at = at
    session.transaction = []


def _epoch(text: str) -> float:
    """`2026-11-24 06:18:07.328 UTC` (the server logs in UTC: see `statement_log_settings`)."""
    stamp = text.rsplit(" ", 1)[0]
    return dt.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=dt.UTC).timestamp()
