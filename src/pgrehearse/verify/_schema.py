"""A fingerprint of the schema read from the catalog: every object as a key and a description.

Keys look like `column public.orders.status` or `index public.orders_pkey`; values are
dicts of the properties that matter. Two fingerprints compare key by key. Column positions
are kept apart (`column_order`), since a changed order is usually cosmetic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

_USER_NAMESPACES = """
    n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
"""

_QUERIES: dict[str, str] = {
    "schema": f"""
        SELECT n.nspname, jsonb_build_object(
            'owner', pg_get_userbyid(n.nspowner), 'acl', n.nspacl::text,
            'comment', obj_description(n.oid, 'pg_namespace'))
        FROM pg_namespace n WHERE {_USER_NAMESPACES}
    """,
    "table": f"""
        SELECT n.nspname || '.' || c.relname, jsonb_build_object(
            'kind', c.relkind, 'owner', pg_get_userbyid(c.relowner), 'acl', c.relacl::text,
            'options', c.reloptions::text, 'persistence', c.relpersistence,
            'row_security', c.relrowsecurity, 'force_row_security', c.relforcerowsecurity,
            'replica_identity', c.relreplident,
            'comment', obj_description(c.oid, 'pg_class'),
            'partition_of', (SELECT pn.nspname || '.' || p.relname FROM pg_inherits i
                             JOIN pg_class p ON p.oid = i.inhparent
                             JOIN pg_namespace pn ON pn.oid = p.relnamespace
                             WHERE i.inhrelid = c.oid AND c.relispartition),
            'partition_bound', pg_get_expr(c.relpartbound, c.oid),
            'partition_key', CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE {_USER_NAMESPACES} AND c.relkind IN ('r', 'p', 'f')
    """,
    "column": f"""
        SELECT n.nspname || '.' || c.relname || '.' || a.attname, jsonb_build_object(
            'type', format_type(a.atttypid, a.atttypmod), 'not_null', a.attnotnull,
            'default', pg_get_expr(d.adbin, d.adrelid), 'identity', a.attidentity,
            'generated', a.attgenerated,
            'collation', CASE WHEN a.attcollation <> t.typcollation
                              THEN (SELECT collname FROM pg_collation WHERE oid = a.attcollation)
                         END,
            'comment', col_description(c.oid, a.attnum), 'acl', a.attacl::text,
            'statistics', NULLIF(a.attstattarget, -1), 'storage',
            CASE WHEN a.attstorage <> t.typstorage THEN a.attstorage END,
            'options', a.attoptions::text,
            'compression', NULLIF(a.attcompression::text, ''))
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_type t ON t.oid = a.atttypid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE {_USER_NAMESPACES} AND c.relkind IN ('r', 'p', 'f', 'v', 'm')
          AND a.attnum > 0 AND NOT a.attisdropped
    """,
    "constraint": f"""
        SELECT n.nspname || '.' || c.relname || '.' || k.conname, jsonb_build_object(
            'definition', pg_get_constraintdef(k.oid), 'validated', k.convalidated,
            'deferrable', k.condeferrable, 'deferred', k.condeferred,
            'comment', obj_description(k.oid, 'pg_constraint'))
        FROM pg_constraint k
        JOIN pg_class c ON c.oid = k.conrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE {_USER_NAMESPACES}
    """,
    "domain constraint": f"""
        SELECT n.nspname || '.' || t.typname || '.' || k.conname, jsonb_build_object(
            'definition', pg_get_constraintdef(k.oid), 'validated', k.convalidated)
        FROM pg_constraint k
        JOIN pg_type t ON t.oid = k.contypid
        JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE {_USER_NAMESPACES} AND k.contypid <> 0
    """,
    "rule": f"""
        SELECT n.nspname || '.' || c.relname || '.' || r.rulename, jsonb_build_object(
            'definition', pg_get_ruledef(r.oid), 'enabled', r.ev_enabled)
        FROM pg_rewrite r
        JOIN pg_class c ON c.oid = r.ev_class
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE {_USER_NAMESPACES} AND r.rulename <> '_RETURN'
    """,
    "default privileges": """
        SELECT pg_get_userbyid(d.defaclrole) || ' on '
               || CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences'
                  WHEN 'f' THEN 'functions' WHEN 'T' THEN 'types' WHEN 'n' THEN 'schemas'
                  ELSE d.defaclobjtype::text END
               || COALESCE(' in ' || n.nspname, ''),
               jsonb_build_object('acl', d.defaclacl::text)
        FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace
    """,
    "statistics": f"""
        SELECT n.nspname || '.' || s.stxname, jsonb_build_object(
            'definition', pg_get_statisticsobjdef(s.oid),
            'target', NULLIF(s.stxstattarget, -1))
        FROM pg_statistic_ext s JOIN pg_namespace n ON n.oid = s.stxnamespace
        WHERE {_USER_NAMESPACES}
    """,
    "publication": """
        SELECT p.pubname, jsonb_build_object(
            'all_tables', p.puballtables, 'insert', p.pubinsert, 'update', p.pubupdate,
            'delete', p.pubdelete, 'truncate', p.pubtruncate,
            'tables', (SELECT jsonb_agg(pt.schemaname || '.' || pt.tablename ORDER BY 1)
                       FROM pg_publication_tables pt WHERE pt.pubname = p.pubname))
        FROM pg_publication p
    """,
    "role": """
        SELECT r.rolname, jsonb_build_object(
            'login', r.rolcanlogin, 'superuser', r.rolsuper, 'createdb', r.rolcreatedb,
            'createrole', r.rolcreaterole, 'inherit', r.rolinherit,
            'replication', r.rolreplication, 'bypassrls', r.rolbypassrls,
            'connection_limit', r.rolconnlimit,
            'member_of', (SELECT jsonb_agg(g.rolname ORDER BY g.rolname)
                          FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                          WHERE m.member = r.oid))
        FROM pg_roles r
        WHERE r.rolname NOT LIKE 'pg\\_%' AND r.rolname <> current_user
    """,
    "index": f"""
        SELECT n.nspname || '.' || ic.relname, jsonb_build_object(
            'definition', pg_get_indexdef(i.indexrelid), 'valid', i.indisvalid,
            'unique', i.indisunique, 'primary', i.indisprimary,
            'clustered', i.indisclustered, 'replica_identity', i.indisreplident,
            'comment', obj_description(ic.oid, 'pg_class'))
        FROM pg_index i
        JOIN pg_class ic ON ic.oid = i.indexrelid
        JOIN pg_namespace n ON n.oid = ic.relnamespace
        WHERE {_USER_NAMESPACES}
    """,
    "sequence": f"""
        SELECT n.nspname || '.' || c.relname, jsonb_build_object(
            'type', format_type(s.seqtypid, NULL), 'start', s.seqstart,
            'increment', s.seqincrement, 'min', s.seqmin, 'max', s.seqmax,
            'cache', s.seqcache, 'cycle', s.seqcycle,
            'owner', pg_get_userbyid(c.relowner),
            'owned_by', (SELECT dn.nspname || '.' || dc.relname
                         FROM pg_depend d
                         JOIN pg_class dc ON dc.oid = d.refobjid
                         JOIN pg_namespace dn ON dn.oid = dc.relnamespace
                         WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                           AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
                         LIMIT 1),
            'default_of', (SELECT jsonb_agg(DISTINCT tn.nspname || '.' || t.relname)
                           FROM pg_depend d
                           JOIN pg_attrdef ad ON ad.oid = d.objid
                           JOIN pg_class t ON t.oid = ad.adrelid
                           JOIN pg_namespace tn ON tn.oid = t.relnamespace
                           WHERE d.classid = 'pg_attrdef'::regclass AND d.refobjid = c.oid),
            'comment', obj_description(c.oid, 'pg_class'))
        FROM pg_sequence s
        JOIN pg_class c ON c.oid = s.seqrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE {_USER_NAMESPACES}
    """,
    "view": f"""
        SELECT n.nspname || '.' || c.relname, jsonb_build_object(
            'kind', c.relkind, 'definition', pg_get_viewdef(c.oid, true),
            'owner', pg_get_userbyid(c.relowner), 'acl', c.relacl::text,
            'comment', obj_description(c.oid, 'pg_class'))
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE {_USER_NAMESPACES} AND c.relkind IN ('v', 'm')
    """,
    "function": f"""
        SELECT n.nspname || '.' || p.proname || '(' ||
               pg_get_function_identity_arguments(p.oid) || ')', jsonb_build_object(
            'kind', p.prokind,
            'definition', CASE WHEN p.prokind = 'a' THEN (
                SELECT format('sfunc=%s stype=%s finalfunc=%s combinefunc=%s initcond=%s',
                              a.aggtransfn, format_type(a.aggtranstype, NULL), a.aggfinalfn,
                              a.aggcombinefn, a.agginitval)
                FROM pg_aggregate a WHERE a.aggfnoid = p.oid)
              ELSE pg_get_functiondef(p.oid) END,
            'owner', pg_get_userbyid(p.proowner), 'acl', p.proacl::text,
            'comment', obj_description(p.oid, 'pg_proc'))
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE {_USER_NAMESPACES} AND p.prokind IN ('f', 'p', 'w', 'a')
          AND NOT EXISTS (SELECT FROM pg_depend dep WHERE dep.objid = p.oid
                          AND dep.deptype = 'e')
    """,
    "trigger": f"""
        SELECT n.nspname || '.' || c.relname || '.' || t.tgname, jsonb_build_object(
            'definition', pg_get_triggerdef(t.oid), 'enabled', t.tgenabled,
            'comment', obj_description(t.oid, 'pg_trigger'))
        FROM pg_trigger t
        JOIN pg_class c ON c.oid = t.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE {_USER_NAMESPACES} AND NOT t.tgisinternal
    """,
    "type": f"""
        SELECT n.nspname || '.' || t.typname, jsonb_build_object(
            'kind', t.typtype,
            'labels', (SELECT jsonb_agg(e.enumlabel ORDER BY e.enumsortorder)
                       FROM pg_enum e WHERE e.enumtypid = t.oid),
            'base', CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END,
            'default', t.typdefault, 'not_null', t.typnotnull,
            'attributes', CASE WHEN t.typtype = 'c' THEN (
                SELECT jsonb_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                                 ORDER BY a.attnum)
                FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0
                  AND NOT a.attisdropped) END,
            'owner', pg_get_userbyid(t.typowner),
            'comment', obj_description(t.oid, 'pg_type'))
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE {_USER_NAMESPACES} AND (t.typtype IN ('e', 'd')
          OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c'))
    """,
    "extension": """
        SELECT e.extname, jsonb_build_object('version', e.extversion,
            'schema', (SELECT nspname FROM pg_namespace WHERE oid = e.extnamespace))
        FROM pg_extension e WHERE e.extname <> 'plpgsql'
    """,
    "policy": f"""
        SELECT n.nspname || '.' || c.relname || '.' || p.polname, jsonb_build_object(
            'command', p.polcmd, 'permissive', p.polpermissive,
            'roles', (SELECT jsonb_agg(pg_get_userbyid(r) ORDER BY 1)
                      FROM unnest(p.polroles) r),
            'using', pg_get_expr(p.polqual, p.polrelid),
            'check', pg_get_expr(p.polwithcheck, p.polrelid))
        FROM pg_policy p
        JOIN pg_class c ON c.oid = p.polrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE {_USER_NAMESPACES}
    """,
}

_COLUMN_ORDER = f"""
    SELECT n.nspname || '.' || c.relname,
           array_agg(a.attname::text ORDER BY a.attnum)
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE {_USER_NAMESPACES} AND c.relkind IN ('r', 'p', 'f', 'v', 'm')
      AND a.attnum > 0 AND NOT a.attisdropped
    GROUP BY 1
"""


@dataclass
class SchemaFingerprint:
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)  # "kind name" -> props
    column_order: dict[str, list[str]] = field(default_factory=dict)  # table -> columns

    def to_dict(self) -> dict[str, Any]:
        return {"objects": len(self.objects), "tables": len(self.column_order)}


def schema_fingerprint(conn: psycopg.Connection[Any]) -> SchemaFingerprint:
    """Read every user object of the current database from the catalog."""
    fingerprint = SchemaFingerprint()
    for kind, query in _QUERIES.items():
        for name, properties in conn.execute(query):
            cleaned = {k: v for k, v in properties.items() if v is not None}
            fingerprint.objects[f"{kind} {short_name(name)}"] = cleaned
    for table, columns in conn.execute(_COLUMN_ORDER):
        fingerprint.column_order[short_name(table)] = list(columns)
    _sequence_state(conn, fingerprint)
    return fingerprint


def _sequence_state(conn: psycopg.Connection[Any], fingerprint: SchemaFingerprint) -> None:
    """Each sequence's own state: `pg_sequence_last_value` is NULL until the next use after
    a restart, which would hide a restart; the sequence relation itself never does."""
    for (schema, name), key in _sequences(conn, fingerprint):
        row = conn.execute(
            sql.SQL("SELECT last_value, is_called FROM {}").format(sql.Identifier(schema, name))
        ).fetchone()
        if row is not None:
            fingerprint.objects[key]["last_value"] = row[0]
            fingerprint.objects[key]["is_called"] = row[1]


def _sequences(
    conn: psycopg.Connection[Any], fingerprint: SchemaFingerprint
) -> list[tuple[tuple[str, str], str]]:
    rows = conn.execute(
        f"""SELECT n.nspname, c.relname FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'S' AND {_USER_NAMESPACES}"""
    ).fetchall()
    found = []
    for schema, name in rows:
        key = f"sequence {short_name(f'{schema}.{name}')}"
        if key in fingerprint.objects:
            found.append(((schema, name), key))
    return found


def short_name(name: str) -> str:
    return name.removeprefix("public.")
