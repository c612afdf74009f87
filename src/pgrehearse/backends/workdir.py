"""Private working folders of local servers, and removal of those a killed run left behind."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgrehearse.backends._process import (
    command_line,
    is_alive,
    process_start_time,
    signals_deferred,
    stop_process,
)
from pgrehearse.errors import EnvironmentProblem

PREFIX = "pgrehearse-"
OWNER_FILE = "owner.json"
MADE_BY = "pgrehearse"  # the owner file's proof that pgrehearse created the folder
# what each kind of folder may hold; a folder holding anything else is not swept
LAYOUTS = {
    "server": frozenset({OWNER_FILE, "data", "sock", "server.log", "pwfile", "pgpass"}),
    "dump": frozenset({OWNER_FILE, "schema.dump"}),
    "docker-snapshot": frozenset({OWNER_FILE, "data"}),  # a data directory out of a container
}


def temp_root() -> Path:
    """Where server folders go: $PGREHEARSE_TMPDIR, else the system temp folder."""
    return Path(os.environ.get("PGREHEARSE_TMPDIR") or tempfile.gettempdir())


@dataclass(frozen=True)
class RunAs:
    """The unprivileged account the server runs as when pgrehearse runs as root."""

    user: str
    uid: int
    gid: int
    groups: frozenset[int]


def create_workdir(root: Path, run_as: RunAs | None, kind: str = "server") -> Path:
    """A private folder `pgrehearse-<kind>-*` under `root`, marked as pgrehearse's own, so
    that the sweep of a later run may remove it once this process is gone."""
    root.mkdir(parents=True, exist_ok=True)
    owner = {
        "made_by": MADE_BY,
        "kind": kind,
        "pid": os.getpid(),
        "start_time": process_start_time(os.getpid()),
        "uid": os.getuid(),  # whose run: only that user's cleanup stops its kept server
    }
    # a folder without its owner file is one no sweep may touch: a signal between the two
    # (a SIGTERM as a scale's seed started its server) left one behind for good
    with signals_deferred():
        workdir = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{kind}-", dir=root))
        try:
            (workdir / OWNER_FILE).write_text(json.dumps(owner))
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise
    try:  # a signal held above lands here at the latest
        if run_as is not None:
            os.chown(workdir, run_as.uid, run_as.gid)
            _check_traversable(workdir, run_as)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return workdir


def _check_traversable(folder: Path, run_as: RunAs) -> None:
    for ancestor in folder.parents:
        info = ancestor.stat()
        if info.st_uid == run_as.uid:
            ok = bool(info.st_mode & stat.S_IXUSR)
        elif info.st_gid == run_as.gid or info.st_gid in run_as.groups:
            ok = bool(info.st_mode & stat.S_IXGRP)
        else:
            ok = bool(info.st_mode & stat.S_IXOTH)
        if not ok:
            shutil.rmtree(folder, ignore_errors=True)
            raise EnvironmentProblem(
                f"the server runs as the unprivileged user {run_as.user!r} (pgrehearse runs as "
                f"root and initdb refuses root), but that user cannot enter {ancestor}.\n"
                "fix: set PGREHEARSE_TMPDIR (or TMPDIR) to a folder every user can enter, "
                "such as /tmp"
            )


def remove_workdir(workdir: Path) -> None:
    """Remove the folder, trying again while a process that just ended may still have been
    writing into it (rmtree gives up on a folder that fills while it empties it)."""
    for _ in range(_REMOVE_ATTEMPTS):
        shutil.rmtree(workdir, ignore_errors=True)
        if not workdir.exists():
            return
        time.sleep(0.05)


_REMOVE_ATTEMPTS = 40


def mark_kept(workdir: Path) -> None:
    """Mark a folder whose server was kept on purpose; `sweep_leftovers(kept=True)` stops it."""
    owner_file = workdir / OWNER_FILE
    owner = json.loads(owner_file.read_text())
    owner["kept"] = True
    owner_file.write_text(json.dumps(owner))


def sweep_leftovers(root: Path, *, kept: bool = False, everyone: bool = False) -> list[Path]:
    """Stop servers and remove folders of runs that no longer exist. Returns what was removed.

    Only a folder that proves pgrehearse made it is touched: an owner file with pgrehearse's
    mark, nothing inside but what that kind of folder holds, and an owner process that is
    gone. Anything else named `pgrehearse-*` belongs to someone else and is left alone.
    Servers kept for debugging (`--keep-server`) are stopped only when `kept` is true, and
    only this user's unless `everyone` is: another user's kept server is theirs to stop.
    """
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    for folder in sorted(root.glob(PREFIX + "*")):
        if not folder.is_dir() or folder.is_symlink():
            continue
        owner = _read_owner(folder)
        if owner is None or not _has_layout(folder, str(owner.get("kind", "server"))):
            continue
        if owner.get("kept"):
            mine = int(owner.get("uid", os.getuid())) == os.getuid()
            if (not kept or not (mine or everyone)) and _postmaster_pid(folder) is not None:
                continue
        elif is_alive(int(owner["pid"]), owner.get("start_time")):
            continue
        _stop_orphan_server(folder)
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            removed.append(folder)
    return removed


def _read_owner(folder: Path) -> dict[str, Any] | None:
    """The owner file, when it carries pgrehearse's mark."""
    try:
        owner = json.loads((folder / OWNER_FILE).read_text())
        int(owner["pid"])
        if owner["made_by"] != MADE_BY:
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return owner if isinstance(owner, dict) else None


def _has_layout(folder: Path, kind: str) -> bool:
    allowed = LAYOUTS.get(kind)
    try:
        return allowed is not None and all(entry.name in allowed for entry in folder.iterdir())
    except OSError:
        return False


def _postmaster_pid(folder: Path) -> int | None:
    """The pid of the running postmaster of this folder's data directory, if any."""
    pid_file = folder / "data" / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
    # only a process that really is the postmaster of this data directory counts
    if is_alive(pid) and str(folder / "data") in command_line(pid):
        return pid
    return None


def _stop_orphan_server(folder: Path) -> None:
    pid = _postmaster_pid(folder)
    if pid is not None:
        stop_process(pid, graceful=signal.SIGQUIT, grace_seconds=5.0)
