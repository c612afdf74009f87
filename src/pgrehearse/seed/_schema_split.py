"""Create the schema the way pg_restore does: tables first, indexes and constraints after the
data. The user's schema is applied once to a scratch database (errors point at its lines),
dumped with pg_dump, and restored section by section around the seeding."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

SECTIONS = ("pre-data", "data", "post-data")


class RestoreError(RuntimeError):
    def __init__(self, section: str, stderr: str) -> None:
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        super().__init__("\n".join(lines[-12:]))
        self.section = section


@dataclass(frozen=True)
class SchemaDump:
    """A custom-format dump of the scratch database holding the user's schema."""

    path: Path
    pg_dump: Path
    pg_restore: Path
    env: Mapping[str, str]

    def create(self, dbname: str) -> None:
        _run(
            [str(self.pg_dump), "--format=custom", f"--file={self.path}", dbname], self.env, "dump"
        )

    def restore(self, section: str, dbname: str, jobs: int = 1) -> None:
        """Restore one section (pre-data, data or post-data) into `dbname`."""
        if section not in SECTIONS:
            raise ValueError(section)
        command = [
            str(self.pg_restore),
            f"--section={section}",
            "--exit-on-error",
            "--no-owner",
            f"--dbname={dbname}",
        ]
        if jobs > 1:
            command.append(f"--jobs={jobs}")
        command.append(str(self.path))
        _run(command, self.env, section)


def _run(command: list[str], env: Mapping[str, str], section: str) -> None:
    result = subprocess.run(
        command, env=dict(env), capture_output=True, text=True, timeout=24 * 3600
    )
    if result.returncode != 0:
        raise RestoreError(section, result.stderr)
