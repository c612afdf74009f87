"""Schema input as teams have it: plain pg_dump output, pg_dump archives, and the roles a
dump names, made ready for a throwaway server."""

from pgrehearse.schema._archive import ArchiveUnreadable, archive_sql
from pgrehearse.schema._plain import PlainSql, plain_sql
from pgrehearse.schema._roles import role_created, roles_named

__all__ = [
    "ArchiveUnreadable",
    "PlainSql",
    "archive_sql",
    "plain_sql",
    "role_created",
    "roles_named",
]
