"""Flyway's folders as Flyway reads them: versioned `V<version>__<name>.sql`, undo
`U<version>__<name>.sql`, a script's own `<file>.conf` (`executeInTransaction=false`), and
placeholders (`${name}`) replaced from Flyway's configuration, as Flyway replaces them
before it sends a script.

Placeholders come from, last one winning: Flyway's built-ins (`${flyway:defaultSchema}`,
`${flyway:user}`, `${flyway:database}`, `${flyway:table}`, `${flyway:filename}`,
`${flyway:timestamp}`); `flyway.conf`, `flyway.toml`, and Spring Boot's
`application.properties` / `application.yml` in the folder or the four above it; and
`FLYWAY_PLACEHOLDERS_<NAME>` in the environment. A placeholder with no value is an error
naming its file and line, as Flyway refuses it."""

from __future__ import annotations

import datetime
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from pgrehearse.tools._migrations import (
    Folder,
    FolderError,
    Migration,
    Script,
    read_text,
    replace_placeholders,
    version_key,
)

FLYWAY_FILE = re.compile(r"^([VUR])([^_]*)__(.*)\.sql$")
_LEVELS_ABOVE = 4
_ENVIRONMENT_PREFIX = "FLYWAY_PLACEHOLDERS_"
_PROPERTY = re.compile(r"([^=:\s]+)\s*[=:]\s*(.*)$")


def flyway(folder: Path) -> Folder:
    """Versioned `V<version>__<description>.sql`, undo `U<version>__<description>.sql`
    (anywhere under `folder`), placeholders replaced."""
    settings = _settings(folder)
    replacing = settings.get("placeholderReplacement", "true").lower() != "false"
    values = {**_built_ins(settings), **_placeholders(settings)}
    ups: dict[str, tuple[str, Path]] = {}
    undos: dict[str, Path] = {}
    notes = []
    for path in sorted(folder.rglob("*.sql")):
        match = FLYWAY_FILE.match(path.name)
        if not match:
            continue
        kind, version, description = match.groups()
        if kind == "R":
            notes.append(f"{path.name}: repeatable migrations are not rehearsed (no down)")
        elif kind == "V":
            ups[version] = (description, path)
        else:
            undos[version] = path

    def script(path: Path) -> Script:
        text = read_text(path)
        if replacing:
            values["flyway:filename"] = path.name
            text = replace_placeholders(text, path, values, _where_to_set)
        return Script(text, path, 1, _in_transaction(path))

    migrations = [
        Migration(
            version,
            ups[version][0],
            script(ups[version][1]),
            script(undos[version]) if version in undos else None,
        )
        for version in sorted(ups, key=version_key)
    ]
    return Folder("flyway", migrations, notes)


def _where_to_set(name: str) -> str:
    environment = _ENVIRONMENT_PREFIX + re.sub(r"\W", "_", name).upper()
    return (
        f"`flyway.placeholders.{name}=…` in flyway.conf (or `[flyway.placeholders]` in "
        f"flyway.toml) beside the migrations, or {environment} in the environment"
    )


def _in_transaction(path: Path) -> bool:
    """False where the script's own `<file>.conf` says `executeInTransaction=false`."""
    conf = path.with_name(path.name + ".conf")
    if not conf.is_file():
        return True
    settings = dict(_properties(read_text(conf)))
    return settings.get("executeInTransaction", "true").strip().lower() != "false"


def _built_ins(settings: Mapping[str, str]) -> dict[str, str]:
    schema = settings.get("defaultSchema") or settings.get("schemas", "public").split(",")[0]
    return {
        "flyway:defaultSchema": schema.strip() or "public",
        "flyway:user": settings.get("user", "postgres"),
        "flyway:database": "postgres",
        "flyway:table": settings.get("table", "flyway_schema_history"),
        "flyway:timestamp": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "flyway:environment": "default",
    }


def _placeholders(settings: Mapping[str, str]) -> dict[str, str]:
    found = {
        key.removeprefix("placeholders."): value
        for key, value in settings.items()
        if key.startswith("placeholders.")
    }
    for key, value in os.environ.items():
        if key.startswith(_ENVIRONMENT_PREFIX):
            name = key.removeprefix(_ENVIRONMENT_PREFIX)
            # Flyway matches these case-insensitively: keep a configured name's spelling
            spelled = next((k for k in found if k.lower() == name.lower()), name.lower())
            found[spelled] = value
    return found


def _settings(folder: Path) -> dict[str, str]:
    """Flyway's settings (without the `flyway.` prefix) from the configuration files in
    `folder` and the folders above it, the nearest winning."""
    settings: dict[str, str] = {}
    here = folder.resolve()
    for level in reversed([here, *list(here.parents)[:_LEVELS_ABOVE]]):
        for name, reader in _READERS.items():
            path = level / name
            if path.is_file():
                settings.update(reader(read_text(path), path))
    return settings


def _from_conf(text: str, path: Path) -> dict[str, str]:
    return {
        key.removeprefix("flyway."): value
        for key, value in _properties(text)
        if key.startswith("flyway.")
    }


def _from_spring_properties(text: str, path: Path) -> dict[str, str]:
    return {
        _spring_key(key.removeprefix("spring.flyway.")): value
        for key, value in _properties(text)
        if key.startswith("spring.flyway.")
    }


def _from_toml(text: str, path: Path) -> dict[str, str]:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FolderError(f"{path}: not TOML Flyway can read: {exc}") from None
    found = dict(_flattened(document.get("flyway", {})))
    environments = document.get("environments", {})
    for environment in environments.values() if isinstance(environments, dict) else ():
        if isinstance(environment, dict):  # an environment's own placeholders
            found.update(_flattened(environment.get("flyway", {})))
    return found


def _from_spring_yaml(text: str, path: Path) -> dict[str, str]:
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError:
        return {}  # a Spring file that is not Flyway's to judge
    found: dict[str, str] = {}
    for document in documents:
        spring = document.get("spring", {}) if isinstance(document, dict) else {}
        flyway = spring.get("flyway", {}) if isinstance(spring, dict) else {}
        found.update((_spring_key(key), value) for key, value in _flattened(flyway))
    return found


_READERS = {
    "application.properties": _from_spring_properties,
    "application.yml": _from_spring_yaml,
    "application.yaml": _from_spring_yaml,
    "flyway.toml": _from_toml,
    "flyway.conf": _from_conf,
}


def _spring_key(key: str) -> str:
    """Spring's kebab-case setting as Flyway's own (`default-schema`: `defaultSchema`);
    a placeholder's name is kept as written."""
    if key.startswith("placeholders."):
        return key
    head, *rest = key.split("-")
    return head + "".join(word.title() for word in rest)


def _flattened(table: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    if not isinstance(table, dict):
        return
    for key, value in table.items():
        if isinstance(value, dict):
            yield from _flattened(value, f"{prefix}{key}.")
        elif isinstance(value, list):
            yield f"{prefix}{key}", ",".join(str(item) for item in value)
        elif isinstance(value, bool):
            yield f"{prefix}{key}", str(value).lower()
        else:
            yield f"{prefix}{key}", str(value)


def _properties(text: str) -> Iterator[tuple[str, str]]:
    """`key=value` lines of a Java properties file (comments and blank lines skipped)."""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "!")):
            continue
        match = _PROPERTY.match(stripped)
        if match is not None:
            yield match[1], match[2].strip()
