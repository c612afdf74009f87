"""Seed a scenario's snapshot into the cache without rehearsing it."""

from __future__ import annotations

from pgrehearse.backends.choice import ServerOptions, backend_for
from pgrehearse.rehearsal.cache import SnapshotCache, snapshot_key
from pgrehearse.rehearsal.progress import Progress, SilentProgress
from pgrehearse.rehearsal.seeded import SeededServer
from pgrehearse.scenario import Scenario


def seed_snapshot(
    scenario: Scenario,
    options: ServerOptions | None = None,
    *,
    progress: Progress | None = None,
    cache: SnapshotCache | None = None,
) -> bool:
    """Seed the cached snapshot a rehearsal of `scenario` with `options` would start from.

    True when it seeded one; False when the entry was already there, or when nothing can be
    cached (`options.cache` off, or a backend without snapshots such as `--dsn`). A later
    `rehearse` with the same scenario data, scale and major then starts from it.
    """
    options = options or ServerOptions()
    if not options.cache:
        return False
    progress = progress or SilentProgress()
    cache = cache or SnapshotCache()
    backend = backend_for(options, scenario, progress=progress)
    if not backend.capabilities.snapshot or backend.major is None:
        return False
    scale = options.scale if options.scale is not None else scenario.data.scale
    if cache.has(snapshot_key(scenario, scale=scale, major=backend.major)):
        return False
    seeded = SeededServer.start(scenario, options, progress=progress, backend=backend, cache=cache)
    seeded.server.close()
    return True
