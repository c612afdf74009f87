"""sqitch's project: `sqitch.plan`, its deploy, revert and verify scripts, and the psql
variables `sqitch.conf` gives them."""

from __future__ import annotations

import re
from pathlib import Path

from pgrehearse.tools._migrations import Folder, FolderError, Migration, Script, read_text

_SQITCH_CHANGE = re.compile(r"^([A-Za-z0-9_][^\s@:]*)\s")
_SECTION = re.compile(r'^\[\s*([A-Za-z0-9_.-]+)(?:\s+"([^"]*)")?\s*\]')
_SETTING = re.compile(r"^([A-Za-z0-9_.-]+)\s*(?:=\s*(.*?))?\s*$")


def sqitch(folder: Path) -> Folder:
    """sqitch: the changes of `sqitch.plan` in its order, `deploy/<change>.sql` up,
    `revert/<change>.sql` down, and `verify/<change>.sql` run right after its deploy, as
    `sqitch deploy --verify` does: a verify script that fails fails its change. sqitch runs
    them through psql, with the variables of `sqitch.conf` set (`variables_for`)."""
    plan = folder / "sqitch.plan"
    if not plan.is_file():
        raise FolderError(f"{folder}: no sqitch.plan in it")
    config = _config(folder / "sqitch.conf")
    # `sqitch deploy --verify` runs the verify scripts with the deploy's variables
    deploying, reverting = variables_for(config, "deploy"), variables_for(config, "revert")
    migrations = []
    for line in read_text(plan).splitlines():
        match = _SQITCH_CHANGE.match(line.strip() + " ")
        if not line.strip() or line.startswith(("%", "#", "@")) or match is None:
            continue
        change = match[1]
        deploy = folder / "deploy" / f"{change}.sql"
        revert = folder / "revert" / f"{change}.sql"
        verify = folder / "verify" / f"{change}.sql"
        if not deploy.is_file():
            raise FolderError(f"{plan}: change {change!r} has no deploy/{change}.sql")
        migrations.append(
            Migration(
                change,
                "",
                Script(read_text(deploy), deploy, variables=deploying),
                Script(read_text(revert), revert, variables=reverting)
                if revert.is_file()
                else None,
                verify=Script(read_text(verify), verify, verifies=True, variables=deploying)
                if verify.is_file()
                else None,
            )
        )
    return Folder("sqitch", migrations)


def variables_for(config: dict[str, str], action: str) -> tuple[tuple[str, str], ...]:
    """The psql variables sqitch sets for an action's scripts: `core.variables`, then
    `<action>.variables`, then `engine.pg.variables` over them (a target's, and `--set`,
    are the command line's: not known here); `registry` is sqitch's own schema."""
    found = {"registry": config.get("engine.pg.registry", "sqitch")}
    for prefix in ("core.variables.", f"{action}.variables.", "engine.pg.variables."):
        found.update(
            (key[len(prefix) :], value) for key, value in config.items() if key.startswith(prefix)
        )
    return tuple(found.items())


def _config(path: Path) -> dict[str, str]:
    """A git-config file's settings by their full names (`[deploy "variables"]` then
    `schema = app` is `deploy.variables.schema`); {} where there is none."""
    if not path.is_file():
        return {}
    settings: dict[str, str] = {}
    section = ""
    for raw in read_text(path).splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        header = _SECTION.match(line)
        if header is not None:
            name, sub = header.groups()
            section = name.lower() + (f".{sub}" if sub is not None else "")
            continue
        setting = _SETTING.match(line)
        if setting is not None and section:
            value = (setting[2] or "").strip()
            if len(value) > 1 and value[0] == value[-1] == '"':
                value = value[1:-1]
            settings[f"{section}.{setting[1]}"] = value
    return settings
