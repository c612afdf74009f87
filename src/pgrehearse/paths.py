"""Where pgrehearse keeps files between runs."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """$PGREHEARSE_CACHE_DIR, else $XDG_CACHE_HOME/pgrehearse, else ~/.cache/pgrehearse."""
    configured = os.environ.get("PGREHEARSE_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pgrehearse"
