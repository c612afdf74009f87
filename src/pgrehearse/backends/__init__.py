"""Backends that provide a throwaway PostgreSQL server."""

from pgrehearse.backends._base import (
    Backend,
    Capabilities,
    CapabilityMissing,
    Server,
    Settings,
    SnapshotUnusable,
)
from pgrehearse.backends._copy import copy_tree
from pgrehearse.backends._process import die_with_parent, is_alive
from pgrehearse.backends.binaries import PostgresBinaries, find_binaries
from pgrehearse.backends.local import LocalBackend, LocalServer

__all__ = [
    "Backend",
    "Capabilities",
    "CapabilityMissing",
    "LocalBackend",
    "LocalServer",
    "PostgresBinaries",
    "Server",
    "Settings",
    "SnapshotUnusable",
    "copy_tree",
    "die_with_parent",
    "find_binaries",
    "is_alive",
]
