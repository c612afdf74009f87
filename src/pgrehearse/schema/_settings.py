"""The settings a schema script sets, and the server version a pg_dump says it came from.

A dump made by a newer pg_dump sets what an older server does not have (pg_dump 17 writes
`SET transaction_timeout = 0;`, which PostgreSQL 16 and older refuse), and it says at its
top which server it was dumped from."""

from __future__ import annotations

import re

_SET = re.compile(r"\s*SET\s+(?:SESSION\s+|LOCAL\s+)?([A-Za-z_][\w.]*)\s*(?:=|TO\b)", re.I)
_SET_CONFIG = re.compile(
    r"\s*SELECT\s+(?:pg_catalog\s*\.\s*)?set_config\s*\(\s*'([A-Za-z_][\w.]*)'", re.I
)
_DUMPED_FROM = re.compile(r"^-- Dumped from database version (\d+)", re.M)
_DEFAULT_TABLESPACE = re.compile(
    r"\s*SET\s+(?:SESSION\s+|LOCAL\s+)?default_tablespace\s*(?:=|TO\b)\s*(?:'([^']*)'|\"([^\"]*)\"|(\w+))",
    re.I,
)
_TABLESPACE_DDL = re.compile(
    r"\s*(CREATE|ALTER|DROP)\s+TABLESPACE\s+(?:IF\s+EXISTS\s+)?(\S+)", re.I
)


def setting_named(statement: str) -> str | None:
    """The setting a `SET name = …` / `SET name TO …` or a `SELECT set_config('name', …)`
    sets, lower-cased; None for other statements (`SET ROLE`, `SET TIME ZONE`, …)."""
    found = _SET.match(statement) or _SET_CONFIG.match(statement)
    return found.group(1).lower() if found is not None else None


def unknown_setting(statement: str, known: set[str]) -> str | None:
    """The setting `statement` sets when the server has no such setting. A name with a dot
    is an extension's or the application's own, which every server takes."""
    name = setting_named(statement)
    if name is None or "." in name or name in known:
        return None
    return name


def tablespace_named(statement: str) -> str | None:
    """The tablespace a `SET default_tablespace = x` names, or a `CREATE`/`ALTER`/`DROP
    TABLESPACE x` makes or changes (as written, quotes removed); None for other statements
    and for the default (`''`)."""
    found = _DEFAULT_TABLESPACE.match(statement)
    if found is not None:
        return next((name for name in found.groups() if name), None)
    ddl = _TABLESPACE_DDL.match(statement)
    return ddl.group(2).strip('"') if ddl is not None else None


def dumped_from_major(text: str) -> int | None:
    """The major of the server a plain pg_dump was taken from, from its header."""
    found = _DUMPED_FROM.search(text[:2000])
    return int(found.group(1)) if found is not None else None
