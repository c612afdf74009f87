"""Which statements PostgreSQL refuses to run inside a transaction block."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from pglast import parser

_ALWAYS_OUTSIDE = {
    "VacuumStmt",  # VACUUM (ANALYZE alone is fine: see below)
    "CreatedbStmt",
    "DropdbStmt",
    "AlterSystemStmt",
    "CreateTableSpaceStmt",
    "DropTableSpaceStmt",
    "CreateSubscriptionStmt",
    "DropSubscriptionStmt",
}


# a word every statement that must run alone has; the others are not parsed (a schema of
# 10,000 statements spent 4 s parsing them)
_MAY_RUN_ALONE = re.compile(
    r"vacuum|database|system|tablespace|subscription|concurrently|reindex|cluster", re.I
)


@lru_cache(maxsize=1024)
def runs_outside_transaction(sql: str) -> bool:
    """True for CREATE/DROP INDEX CONCURRENTLY, REINDEX CONCURRENTLY, VACUUM, CREATE
    DATABASE and the like: they must run alone, in autocommit."""
    if _MAY_RUN_ALONE.search(sql) is None:
        return False
    try:
        statements = parser.parse_sql(sql)
    except parser.ParseError:
        return False  # the server will report the syntax error
    if len(statements) != 1:
        return False
    node: Any = statements[0].stmt
    kind = type(node).__name__
    if kind == "VacuumStmt":
        return bool(node.is_vacuumcmd)
    if kind in _ALWAYS_OUTSIDE:
        return True
    if kind in ("IndexStmt", "DropStmt"):
        return bool(getattr(node, "concurrent", False))
    if kind == "ReindexStmt":
        options = {d.defname for d in (node.params or ())}
        return "concurrently" in options or node.kind.name in (
            "REINDEX_OBJECT_SCHEMA",
            "REINDEX_OBJECT_SYSTEM",
            "REINDEX_OBJECT_DATABASE",
        )
    if kind == "ClusterStmt":
        return node.relation is None
    return False


_CLUSTER_WIDE = {
    "CreateRoleStmt",
    "AlterRoleStmt",
    "AlterRoleSetStmt",
    "DropRoleStmt",
    "GrantRoleStmt",
    "CreatedbStmt",
    "DropdbStmt",
    "AlterDatabaseStmt",
    "AlterDatabaseSetStmt",
    "AlterSystemStmt",
    "CreateTableSpaceStmt",
    "DropTableSpaceStmt",
    "AlterTableSpaceOptionsStmt",
}


@lru_cache(maxsize=1024)
def changes_cluster(sql: str) -> bool:
    """True for statements whose effect reaches beyond the current database (roles,
    databases, tablespaces, ALTER SYSTEM): databases copied from one template on a shared
    server would see each other's changes."""
    try:
        statements = parser.parse_sql(sql)
    except parser.ParseError:
        return False
    return any(type(s.stmt).__name__ in _CLUSTER_WIDE for s in statements)
