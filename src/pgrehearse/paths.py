"""Where pgrehearse keeps files between runs."""

from __future__ import annotations

import os
from pathlib import Path

ROOT_CACHE = Path("/var/cache/pgrehearse")


def cache_root() -> Path:
    """Where pgrehearse keeps what outlives a run (snapshots/, binaries/, logs/, faker/):
    $PGREHEARSE_CACHE_DIR, else $XDG_CACHE_HOME/pgrehearse, else ~/.cache/pgrehearse; as
    root, /var/cache/pgrehearse instead of the last two, because the server then runs as
    an unprivileged user who must execute the fetched binaries and cannot enter /root."""
    configured = os.environ.get("PGREHEARSE_CACHE_DIR")
    if configured:
        return Path(configured)
    if os.geteuid() == 0:
        return ROOT_CACHE
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pgrehearse"


def binaries_root() -> Path:
    """Fetched PostgreSQL builds: $PGREHEARSE_BINARIES_DIR, else `binaries/` of the cache
    root, for root and other users alike."""
    configured = os.environ.get("PGREHEARSE_BINARIES_DIR")
    return Path(configured) if configured else cache_root() / "binaries"


DEFAULT_CACHE_MAX = 5 * 1024**3
_UNITS = {"": 1, "B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


def cache_max_bytes() -> int | None:
    """$PGREHEARSE_CACHE_MAX as bytes (`5GB`, `500MB`, a number of bytes; `0` or `none`:
    no cap); 5 GB when unset. Raises ValueError naming the variable when it cannot be read."""
    text = os.environ.get("PGREHEARSE_CACHE_MAX", "").strip().upper().replace(" ", "")
    if not text:
        return DEFAULT_CACHE_MAX
    if text in ("0", "NONE", "UNLIMITED"):
        return None
    number = text.rstrip("KMGTB")
    unit = text[len(number) :]
    if unit and not unit.endswith("B"):
        unit += "B"
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if unit not in _UNITS or value <= 0:
        raise ValueError(
            f"PGREHEARSE_CACHE_MAX={os.environ['PGREHEARSE_CACHE_MAX']!r} is not a size: "
            "write e.g. 5GB, 500MB, or 0 for no cap"
        )
    return int(value * _UNITS[unit])
