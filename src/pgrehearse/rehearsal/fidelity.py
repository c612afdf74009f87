"""The seeded clone's statistics against the production profile it was made from."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import psycopg

from pgrehearse.backends import Server
from pgrehearse.errors import shown_path
from pgrehearse.profile import begin_read_only, compare_profiles, read_profile
from pgrehearse.rehearsal.context import DATABASE, RunContext, connect
from pgrehearse.roles import SessionRole
from pgrehearse.seed import quoted_name


def profile_path(ctx: RunContext) -> Path | None:
    reference = ctx.scenario.data.profile
    if reference is None:
        return None
    base = ctx.scenario.path.parent if ctx.scenario.path else Path.cwd()
    return reference if reference.is_absolute() else base / reference


_BTREE_SIZES = """
SELECT i.indexrelid::regclass::text, pg_relation_size(i.indexrelid)
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_am a ON a.oid = c.relam AND a.amname = 'btree'
WHERE i.indrelid = %s::regclass
"""
_DEFAULT_FILLFACTOR = 90  # a btree's leaves, packed by CREATE INDEX
_MIN_BYTES = 16 * 8192  # smaller indexes: page rounding is most of the difference


def _reference(ctx: RunContext) -> dict[str, Any] | None:
    path = profile_path(ctx)
    if path is None:
        return None
    try:
        reference = json.loads(path.read_text())
        if not isinstance(reference.get("tables"), dict):
            raise ValueError("it has no tables")
    except (OSError, ValueError, AttributeError) as exc:
        ctx.progress.note(f"profile not used: {shown_path(path)}: {exc}")
        return None
    return dict(reference)


def match_index_sizes(ctx: RunContext, conn: psycopg.Connection[Any]) -> None:
    """Give each btree index the room production's takes: an index production grew by
    inserts is looser than one CREATE INDEX packs, and its size is what scans, builds and
    rewrites of it cost. A looser one is rebuilt with a lower fillfactor, which is then
    reset (the layout stays; the schema is the dump's)."""
    reference = _reference(ctx)
    if reference is None:
        return
    rebuilt = []
    for table, facts in reference["tables"].items():
        wanted_sizes = facts.get("indexes") or {}
        try:
            current = conn.execute(_BTREE_SIZES, (quoted_name(table),)).fetchall()
        except psycopg.Error:
            continue
        for index, size in current:
            wanted = float(wanted_sizes.get(index) or 0) * ctx.result.scale
            if size < _MIN_BYTES or wanted <= size * 1.1:
                continue
            fillfactor = max(10, min(100, round(_DEFAULT_FILLFACTOR * size / wanted)))
            conn.execute(f"ALTER INDEX {index} SET (fillfactor = {fillfactor})")
            conn.execute(f"REINDEX INDEX {index}")
            conn.execute(f"ALTER INDEX {index} RESET (fillfactor)")
            rebuilt.append(f"{index} ({fillfactor}%)")
    if rebuilt:
        ctx.progress.note(
            "indexes rebuilt as loose as production's: "
            + ", ".join(rebuilt[:8])
            + (f" and {len(rebuilt) - 8} more" if len(rebuilt) > 8 else "")
        )


def check_fidelity(ctx: RunContext, server: Server) -> None:
    """Compare the clone's pg_stats (it was analyzed after seeding) with `data.profile`,
    into `result.fidelity`. A profile that cannot be read is a note, not a failure: the
    rehearsal itself does not depend on it."""
    reference = _reference(ctx)
    path = profile_path(ctx)
    if reference is None or path is None:
        return
    tables = list(reference["tables"])
    with connect(server, DATABASE, SessionRole.HARNESS) as conn:
        conn.autocommit = True
        try:
            begin_read_only(conn)
            clone = read_profile(conn, tables=tables)
        except psycopg.Error as exc:
            ctx.progress.note(f"clone fidelity not checked: {exc}".strip())
            return
        finally:
            with contextlib.suppress(psycopg.Error):
                conn.execute("ROLLBACK")
    fidelity = compare_profiles(reference, clone, ctx.result.scale)
    fidelity["profile"] = shown_path(path)
    ctx.result.fidelity = fidelity
    within = fidelity["checks"] - fidelity["failed"]
    ctx.progress.note(f"clone fidelity: {within} of {fidelity['checks']} checks within their goals")
