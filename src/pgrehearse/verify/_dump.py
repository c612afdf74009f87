"""The second, independent round-trip check: `pg_dump --schema-only` of the database and
`pg_dumpall --roles-only` of the cluster, before and after, normalised. Whenever the catalog
fingerprint says "equal" the two dumps must be equal too; when they are not, the fingerprint
missed something, and that disagreement is reported as a difference of its own.
"""

from __future__ import annotations

import difflib
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pgrehearse.verify._compare import Difference

# comments, session settings, psql meta-commands and blank lines carry nothing two equal
# schemas could differ in, but do change between pg_dump versions and runs
_NOISE = re.compile(r"^(--.*|SET .*|SELECT pg_catalog\.set_config.*|\\\S+.*|\s*)$")
_TIMEOUT_S = 3600.0


class DumpFailed(RuntimeError):
    """pg_dump could not dump the schema (the cross-check is then skipped, with a note)."""


@dataclass(frozen=True)
class DumpTarget:
    """How to reach one database with the server's own client programs."""

    pg_dump: Path
    pg_dumpall: Path
    env: Mapping[str, str]
    dbname: str


class SchemaDump:
    """A schema dump running beside the catalog fingerprint; `lines()` waits for it."""

    def __init__(self, target: DumpTarget) -> None:
        env = dict(target.env)
        self._jobs = [
            (
                program.name,
                subprocess.Popen(
                    [str(program), *args],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                ),
            )
            for program, args in (
                (target.pg_dump, ["--schema-only", "--no-tablespaces", target.dbname]),
                (target.pg_dumpall, ["--roles-only", "--no-role-passwords", "-l", target.dbname]),
            )
        ]

    def lines(self) -> list[str]:
        """The normalised lines of both dumps. Raises `DumpFailed` when either failed."""
        out: list[str] = []
        problems: list[str] = []
        for name, job in self._jobs:
            try:
                stdout, stderr = job.communicate(timeout=_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                job.kill()
                job.communicate()
                problems.append(f"{name} timed out")
                continue
            if job.returncode != 0:
                last = stderr.strip().splitlines()[-1] if stderr.strip() else "no message"
                problems.append(f"{name}: {last}")
            out.extend(line.rstrip() for line in stdout.splitlines() if not _NOISE.match(line))
        if problems:
            raise DumpFailed("; ".join(problems))
        return out

    def close(self) -> None:
        """Stop the dumps early (the fingerprint failed; nobody will read them)."""
        for _, job in self._jobs:
            if job.poll() is None:
                job.kill()
            job.communicate()


def dump_disagreement(before: list[str], after: list[str]) -> Difference | None:
    """The lines in which the dumps differ, as one failing difference, or None when equal."""
    if before == after:
        return None
    changed = [
        line
        for line in difflib.unified_diff(before, after, lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    removed = "; ".join(line[1:].strip() for line in changed if line.startswith("-"))
    added = "; ".join(line[1:].strip() for line in changed if line.startswith("+"))
    return Difference(
        "schema",
        "pg_dump --schema-only",
        "differs where the catalog fingerprint saw no difference",
        removed or "(nothing)",
        added or "(nothing)",
    )
