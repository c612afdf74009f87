"""Backends that provide a throwaway PostgreSQL server."""

from pgrehearse.backends._base import Backend, Server, Settings
from pgrehearse.backends.binaries import PostgresBinaries, find_binaries
from pgrehearse.backends.local import LocalBackend, LocalServer

__all__ = [
    "Backend",
    "LocalBackend",
    "LocalServer",
    "PostgresBinaries",
    "Server",
    "Settings",
    "find_binaries",
]
