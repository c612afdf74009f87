"""Schema input as teams have it: plain pg_dump output, pg_dump archives, and the roles a
dump names, made ready for a throwaway server."""

from pgrehearse.schema._archive import ArchiveUnreadable, archive_sql
from pgrehearse.schema._c_functions import CFunction, c_function
from pgrehearse.schema._extensions import (
    NOT_CONTRIB,
    extension_for,
    extension_not_installed,
    forgotten_extension_hint,
    missing_extension_schema,
    outside_objects_hint,
)
from pgrehearse.schema._plain import PlainSql, plain_sql
from pgrehearse.schema._roles import role_created, roles_named
from pgrehearse.schema._settings import dumped_from_major, tablespace_named, unknown_setting

__all__ = [
    "NOT_CONTRIB",
    "ArchiveUnreadable",
    "CFunction",
    "PlainSql",
    "archive_sql",
    "c_function",
    "dumped_from_major",
    "extension_for",
    "extension_not_installed",
    "forgotten_extension_hint",
    "missing_extension_schema",
    "outside_objects_hint",
    "plain_sql",
    "role_created",
    "roles_named",
    "tablespace_named",
    "unknown_setting",
]
