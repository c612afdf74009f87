"""Migration tools that run themselves: Alembic and Django (through their own Python API, in
the project's folder) and `command` (any shell command). Their migrations are listed here;
they are run by `pgrehearse.rehearsal.tool_phase`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from pgrehearse.tools._migrations import Folder, FolderError, Migration, Script, ToolStep

PYTHON_TOOLS = ("alembic", "django")
DRIVER = "pgrehearse.tools._driver"
_PLAN_TIMEOUT_S = 120


def driver_command(action: str, tool: str, folder: Path, settings: str | None) -> list[str]:
    return [sys.executable, "-m", DRIVER, action, tool, str(folder), settings or ""]


def read_python_tool(folder: Path, tool: str, settings: str | None = None) -> Folder:
    """The migrations of an Alembic or Django project in order, as the tool itself lists them
    (in a child process, without a database)."""
    if not folder.is_dir():
        raise FolderError(f"{tool} project folder not found: {folder}")
    try:
        done = subprocess.run(
            driver_command("plan", tool, folder, settings),
            capture_output=True,
            text=True,
            timeout=_PLAN_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise FolderError(f"{tool}: listing the migrations of {folder} took over 120 s") from None
    answer = _answer(done.stdout)
    if answer is None or not answer.get("ok"):
        reason = (answer or {}).get("error") or _last_line(done.stderr) or "no answer"
        raise FolderError(f"{tool}: cannot list the migrations of {folder}: {reason}")
    migrations = [_migration(tool, folder, settings, step) for step in answer["steps"]]
    if not migrations:
        raise FolderError(f"{folder}: no {tool} migrations in it")
    return Folder(tool, migrations)


def _migration(tool: str, folder: Path, settings: str | None, step: dict[str, Any]) -> Migration:
    file = Path(str(step["file"])) if step["file"] else folder
    up, down = step["up"], step["down"]

    def script(target: object) -> Script:
        value: str | tuple[str, str] = (
            (str(target[0]), str(target[1])) if isinstance(target, list) else str(target)
        )
        return Script("", file, step=ToolStep(tool, value, folder, settings))

    return Migration(str(step["version"]), str(step["name"]), script(up), script(down))


def command_folder(steps: list[tuple[str, str, str | None, Path]], origin: Path) -> Folder:
    """Migrations that are shell commands: `(name, up, down, cwd)` per step, in order. In a
    list, each step is known as `<scenario file>#<name>` (its reports' `file`)."""
    names = [name for name, *_ in steps]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise FolderError(f"command steps must have distinct names: {', '.join(duplicated)}")
    places = (
        [origin] if len(steps) == 1 else [origin.with_name(f"{origin.name}#{n}") for n in names]
    )
    return Folder(
        "command",
        [
            Migration(
                name,
                "",
                Script("", where, step=ToolStep("command", up, cwd)),
                Script("", where, step=ToolStep("command", down, cwd)) if down else None,
            )
            for (name, up, down, cwd), where in zip(steps, places, strict=True)
        ],
    )


def _answer(stdout: str) -> dict[str, Any] | None:
    for line in stdout.splitlines():
        try:
            parsed = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(parsed, dict):
            return parsed
    return None


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
