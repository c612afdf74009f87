"""A rehearsal's server started from a cached seeded snapshot, and a freshly seeded one
saved to the cache for the next run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pgrehearse.backends import Backend, Server, SnapshotUnusable
from pgrehearse.rehearsal.cache import Lookup, SnapshotCache
from pgrehearse.rehearsal.context import RunContext
from pgrehearse.seed import TableSeedResult


def start_from_cache(
    ctx: RunContext,
    backend: Backend,
    cache: SnapshotCache,
    key: str,
    rehearsal_profile: dict[str, str],
) -> Server | None:
    assert ctx.result.cache is not None
    unusable = False
    with cache.open(key, defer_contents=True) as lookup:
        snapshot = lookup.snapshot
        if lookup.damage is not None:
            _damaged(ctx, key, lookup.damage)
        if snapshot is None:
            return None
        try:
            with ctx.phase("provision", f"starting from cached snapshot {key[:12]}"):
                server = _start_checked(backend, rehearsal_profile, snapshot.data_dir, lookup)
                damage = lookup.contents_damage()  # checked while the server started
                if damage is not None and server is not None:
                    server.close()
        except SnapshotUnusable as exc:
            unusable = True
            ctx.progress.note(f"cached snapshot {key[:12]} unusable, rebuilding: {exc}")
        else:
            if damage is not None or server is None:  # the entry goes as the lookup ends
                _damaged(ctx, key, damage or "unknown")
                return None
            ctx.started_server = True
            ctx.result.tables = [
                TableSeedResult.from_dict(t) for t in snapshot.meta.get("tables", [])
            ]
            ctx.result.schema_input = dict(snapshot.meta.get("schema_input") or {})
            ctx.result.cache.hit = True
            ctx.result.cache.path = str(snapshot.path)
            for name in ("schema", "seed", "post_data"):
                ctx.skip(name, f"from cached snapshot {key[:12]}")
            return server
    if unusable:
        cache.discard(key)
    return None


def _start_checked(
    backend: Backend, profile: dict[str, str], data_dir: Path, lookup: Lookup
) -> Server | None:
    """Start from a snapshot whose contents are checked meanwhile. A start that fails on a
    damaged copy (a zeroed catalog, say) gives None: the damage is the cause to report."""
    try:
        return backend.start(profile, snapshot=data_dir)
    except SnapshotUnusable:
        raise
    except Exception:
        if lookup.contents_damage() is not None:
            return None
        raise


def _damaged(ctx: RunContext, key: str, damage: str) -> None:
    assert ctx.result.cache is not None
    ctx.progress.note(f"cached snapshot {key[:12]} was damaged ({damage}): removed, seeding anew")
    ctx.result.cache.damage = damage


def save_snapshot(ctx: RunContext, server: Server, cache: SnapshotCache, key: str) -> None:
    assert ctx.result.cache is not None
    with ctx.phase("snapshot", "saving the seeded database to the cache") as phase:
        data_dir = server.stop_for_snapshot()
        try:
            saved = cache.save(key, data_dir, _snapshot_meta(ctx, server))
        except OSError as exc:  # a full or read-only cache folder costs the next run a seed
            phase.note = "not saved"
            ctx.progress.note(
                f"could not save the snapshot to {cache.root} ({exc.strerror or exc}): "
                "going on without it"
            )
            return
    ctx.result.cache.saved = saved is not None
    ctx.result.cache.path = str(cache.root / key)
    evicted = cache.evict(cache.limit, keep=key)
    if evicted:
        freed = sum(int(e.meta.get("bytes") or 0) for e in evicted)
        ctx.progress.note(
            f"snapshot cache over its cap of {(cache.limit or 0) / 1e9:.1f} GB "
            f"(PGREHEARSE_CACHE_MAX): removed the {len(evicted)} least recently used "
            f"({freed / 1e9:.2f} GB): " + ", ".join(e.key[:12] for e in evicted)
        )


def _snapshot_meta(ctx: RunContext, server: Server) -> dict[str, Any]:
    scenario = ctx.scenario
    return {
        "scenario": scenario.name,
        "scenario_file": str(scenario.path) if scenario.path else None,
        "postgres_version": server.version,
        "scale": ctx.result.scale,
        "seed": scenario.data.seed,
        "rows": sum(t.rows for t in ctx.result.tables),
        "tables": [t.to_dict() for t in ctx.result.tables],
        "schema_input": ctx.result.schema_input,
    }
