"""The roles a schema names (owners, grantees, policies' roles): a pg_dump of production
names roles a throwaway server does not have."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from pglast import parser
from pglast.parser import ParseError

# only these statements can name a role; the others are not parsed at all
_MAY_NAME_A_ROLE = re.compile(
    r"\b(OWNER\s+TO|GRANT|REVOKE|POLICY|AUTHORIZATION|DEFAULT\s+PRIVILEGES|SET\s+ROLE|"
    r"USER\s+MAPPING)\b",
    re.IGNORECASE,
)
_SET_ROLE = re.compile(
    r"^\s*SET\s+(?:SESSION\s+)?(?:ROLE|SESSION\s+AUTHORIZATION)\s+('([^']+)'|\"([^\"]+)\"|(\w+))",
    re.IGNORECASE,
)
_CREATE_ROLE = re.compile(
    r'^\s*CREATE\s+(?:ROLE|USER|GROUP)\s+(?:"((?:[^"]|"")+)"|(\w+))', re.IGNORECASE
)
_BUILT_IN = {"public", "current_user", "session_user", "current_role", "none", "default"}


def roles_named(statements: Iterable[str]) -> list[str]:
    """Every role a statement names, in order of first mention (PUBLIC and the like left
    out, and the `pg_` roles PostgreSQL has built in)."""
    found: dict[str, None] = {}
    for sql in statements:
        if not _MAY_NAME_A_ROLE.search(sql):
            continue
        set_role = _SET_ROLE.match(sql)
        if set_role is not None:
            found.setdefault(next(g for g in set_role.groups()[1:] if g), None)
            continue
        try:
            tree = json.loads(parser.parse_sql_json(sql))
        except ParseError:
            continue
        for name in _role_specs(tree):
            found.setdefault(name, None)
    return [name for name in found if name.lower() not in _BUILT_IN and not name.startswith("pg_")]


def role_created(statement: str) -> str | None:
    """The role a `CREATE ROLE` (or USER, GROUP) statement makes, else None."""
    created = _CREATE_ROLE.match(statement)
    if created is None:
        return None
    quoted, bare = created.groups()
    return quoted.replace('""', '"') if quoted is not None else bare.lower()


def _role_specs(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        # a RoleSpec: wrapped as {"RoleSpec": {...}} in lists, bare where a field is one
        if node.get("roletype") == "ROLESPEC_CSTRING" and "rolename" in node:
            yield node["rolename"]
        grant = node.get("GrantRoleStmt")
        if isinstance(grant, dict):  # GRANT a_role TO ...: the granted roles are names
            for item in grant.get("granted_roles", []):
                name = item.get("AccessPriv", {}).get("priv_name")
                if name:
                    yield name
        for value in node.values():
            yield from _role_specs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _role_specs(item)
