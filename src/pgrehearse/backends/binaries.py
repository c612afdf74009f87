"""Find PostgreSQL server binaries (initdb, postgres) and tell their major version."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pgrehearse.backends.fetch import (
    DEFAULT_MAJOR,
    PACKAGE,
    cached_bin_dir,
    check_major,
    fetch_binaries,
)
from pgrehearse.errors import EnvironmentProblem
from pgrehearse.paths import binaries_root

REQUIRED_PROGRAMS = ("initdb", "postgres")

# Versioned folders that distribution packages install into, newest major first after sorting.
VERSIONED_PATTERNS = (
    "/usr/lib/postgresql/*/bin",  # Debian, Ubuntu
    "/usr/pgsql-*/bin",  # RHEL, Fedora (PGDG)
    "/opt/homebrew/opt/postgresql@*/bin",  # macOS Homebrew (Apple silicon)
    "/usr/local/opt/postgresql@*/bin",  # macOS Homebrew (Intel)
)

INSTALL_HINT = (
    "install the PostgreSQL server package, e.g. `apt-get install postgresql` (Debian, "
    "Ubuntu), `dnf install postgresql-server` (Fedora, RHEL) or `brew install postgresql@17` "
    "(macOS), or point pgrehearse at a bin folder with --pg-bin or `postgres.bin_dir`, or let "
    "pgrehearse download them (unset PGREHEARSE_FETCH=0)"
)

_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class PostgresBinaries:
    """A folder holding a usable PostgreSQL server installation."""

    bin_dir: Path
    version: str  # as `postgres --version` prints it, e.g. "15.18"
    major: int
    found_via: str  # which rule of the search found it

    def program(self, name: str) -> Path:
        return self.bin_dir / name


@dataclass
class _Search:
    looked_at: list[str] = field(default_factory=list)


def find_binaries(
    *,
    explicit: Path | None = None,
    major: int | None = None,
    path_env: str | None = None,
    versioned_patterns: Sequence[str] = VERSIONED_PATTERNS,
    fetch: bool | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> PostgresBinaries:
    """Find server binaries: explicit folder, PATH, `pg_config --bindir`, versioned folders,
    then builds fetched earlier; else, with `fetch`, download them (see `fetch.py`).

    With `major`, only binaries of that major version are accepted; without one, the newest
    found is taken, and `DEFAULT_MAJOR` is fetched when none is. `fetch` defaults to true
    unless PGREHEARSE_FETCH=0. Raises `EnvironmentProblem` listing every place looked at.
    """
    search = _Search()
    if major is not None:
        check_major(major)
    if explicit is not None:
        found = _check(explicit, "explicit --pg-bin / postgres.bin_dir", major, search)
        if found:
            return found
        message = _not_found_message(search, major, explicit_only=True)
        if (explicit / "bin" / "initdb").is_file():
            message += f"\ndid you mean {explicit / 'bin'}? (--pg-bin takes the folder of initdb)"
        raise EnvironmentProblem(message)

    for candidate, via in _candidates(path_env, versioned_patterns, search):
        found = _check(candidate, via, major, search)
        if found:
            return found
    wanted = major or DEFAULT_MAJOR
    cached = cached_bin_dir(wanted)
    if cached is not None:
        found = _check(cached, f"fetched earlier into {binaries_root()}", wanted, search)
        if found:
            return found
    if fetch is None:
        fetch = os.environ.get("PGREHEARSE_FETCH", "1") not in ("0", "false", "no")
    if not fetch:
        raise EnvironmentProblem(_not_found_message(search, major, explicit_only=False))
    try:
        bin_dir = fetch_binaries(wanted, on_progress=on_progress)
    except EnvironmentProblem as exc:
        raise EnvironmentProblem(
            _not_found_message(search, major, explicit_only=False) + f"\nfetching failed: {exc}"
        ) from None
    found = _check(bin_dir, f"fetched {PACKAGE} into {binaries_root()}", wanted, search)
    if found is None:
        raise EnvironmentProblem(_not_found_message(search, major, explicit_only=False))
    return found


def _candidates(
    path_env: str | None, versioned_patterns: Sequence[str], search: _Search
) -> Iterable[tuple[Path, str]]:
    path_value = os.environ.get("PATH", "") if path_env is None else path_env
    initdb = shutil.which("initdb", path=path_value)
    if initdb:
        yield Path(initdb).resolve().parent, "PATH"
    else:
        search.looked_at.append(f"PATH ({path_value or 'empty'}): no initdb")

    pg_config = shutil.which("pg_config", path=path_value)
    if pg_config:
        try:
            bindir = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            yield Path(bindir), "pg_config --bindir"
        except (OSError, subprocess.SubprocessError) as exc:
            search.looked_at.append(f"{pg_config} --bindir: failed ({exc})")
    else:
        search.looked_at.append("pg_config --bindir: no pg_config on PATH")

    for pattern in versioned_patterns:
        matches = sorted(glob.glob(pattern), key=_folder_major, reverse=True)  # noqa: PTH207
        if not matches:
            search.looked_at.append(f"{pattern}: nothing there")
        for match in matches:
            yield Path(match), f"versioned folder {pattern}"


def _folder_major(folder: str) -> tuple[int, str]:
    numbers = re.findall(r"\d+", folder)
    return (int(numbers[-1]) if numbers else 0, folder)


def _check(folder: Path, via: str, major: int | None, search: _Search) -> PostgresBinaries | None:
    missing = [p for p in REQUIRED_PROGRAMS if not os.access(folder / p, os.X_OK)]
    if missing:
        search.looked_at.append(f"{folder} ({via}): no {', '.join(missing)}")
        return None
    try:
        output = subprocess.run(
            [str(folder / "postgres"), "--version"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        search.looked_at.append(f"{folder} ({via}): `postgres --version` failed ({exc})")
        return None
    match = _VERSION.search(output)
    if not match:
        search.looked_at.append(f"{folder} ({via}): unrecognised version {output.strip()!r}")
        return None
    found_major = int(match.group(1))
    version = match.group(1) + (f".{match.group(2)}" if match.group(2) else "")
    if major is not None and found_major != major:
        search.looked_at.append(f"{folder} ({via}): PostgreSQL {version}, not {major}")
        return None
    return PostgresBinaries(folder, version, found_major, via)


def _not_found_message(search: _Search, major: int | None, *, explicit_only: bool) -> str:
    wanted = f"PostgreSQL {major} server binaries" if major else "PostgreSQL server binaries"
    lines = [f"no usable {wanted} (initdb and postgres) found. Looked at:"]
    lines += [f"  - {place}" for place in search.looked_at]
    lines.append(f"fix: {INSTALL_HINT}")
    if explicit_only:
        lines.append("     (an explicit bin folder was given, so no other place was searched)")
    return "\n".join(lines)
