"""pg_dump's custom, directory and tar archives, turned into SQL by `pg_restore`."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path


class ArchiveUnreadable(RuntimeError):
    """pg_restore could not read the archive (its message says why)."""


def archive_sql(pg_restore: Path, env: Mapping[str, str], archive: Path) -> str:
    """The schema an archive holds, as the SQL pg_restore would run (no data)."""
    done = subprocess.run(
        [str(pg_restore), "--schema-only", "--file=-", str(archive)],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if done.returncode != 0:
        message = done.stderr.strip() or f"pg_restore exited with {done.returncode}"
        raise ArchiveUnreadable(message)
    return done.stdout
