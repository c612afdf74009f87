"""The teams' own migrations as a chain to rehearse: folders of golang-migrate, goose,
dbmate, Flyway, `dirs`, Prisma, popx, sqitch, sql-migrate, tern, yoyo, Liquibase's formatted
SQL, node-pg-migrate, postgrator, db-migrate, Play's evolutions, MyBatis Migrations,
rambler, shmig and plain numbered files, read without the tools' binaries; Alembic and
Django projects and shell commands, which run themselves."""

from pgrehearse.tools._chain import Chain, MigrationScript, build_chain
from pgrehearse.tools._folders import READERS, detect, read_folder
from pgrehearse.tools._migrations import (
    Folder,
    FolderError,
    Migration,
    Script,
    ToolStep,
    version_key,
    with_variables,
)
from pgrehearse.tools._python import (
    PYTHON_TOOLS,
    command_folder,
    driver_command,
    read_python_tool,
)

TOOLS = ("auto", *READERS, *PYTHON_TOOLS)

__all__ = [
    "PYTHON_TOOLS",
    "READERS",
    "TOOLS",
    "Chain",
    "Folder",
    "FolderError",
    "Migration",
    "MigrationScript",
    "Script",
    "ToolStep",
    "build_chain",
    "command_folder",
    "detect",
    "driver_command",
    "read_folder",
    "read_python_tool",
    "version_key",
    "with_variables",
]
