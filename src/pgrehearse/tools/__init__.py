"""The teams' own migration folders (golang-migrate, goose, dbmate, Flyway, `dirs`,
Prisma), read without the tools' binaries, as a chain to rehearse."""

from pgrehearse.tools._chain import Chain, MigrationScript, build_chain
from pgrehearse.tools._folders import (
    READERS,
    Folder,
    FolderError,
    Migration,
    Script,
    detect,
    read_folder,
    version_key,
)

TOOLS = ("auto", *READERS)

__all__ = [
    "READERS",
    "TOOLS",
    "Chain",
    "Folder",
    "FolderError",
    "Migration",
    "MigrationScript",
    "Script",
    "build_chain",
    "detect",
    "read_folder",
    "version_key",
]
