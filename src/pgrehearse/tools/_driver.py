"""Runs a Python migration tool (Alembic, Django) for pgrehearse, in a child process.

    python -m pgrehearse.tools._driver plan  TOOL DIR [SETTINGS]
    python -m pgrehearse.tools._driver serve TOOL DIR [SETTINGS]

`plan` prints the tool's migrations in order as JSON, without a database. `serve` reads one
JSON request per line on stdin (`{"direction": "up"|"down", "target": ...}`), runs it through
the tool's own API against the database the environment names (`PGREHEARSE_CONNECT`, JSON of
libpq keywords), and answers one JSON line per request on the original stdout. Everything
the tool prints goes to stderr, so it cannot corrupt the answers.

This module imports nothing from pgrehearse: it runs in the project's own interpreter.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote


def main(argv: list[str]) -> int:
    action, tool, folder = argv[0], argv[1], Path(argv[2]).resolve()
    settings = argv[3] if len(argv) > 3 and argv[3] else None
    answers = _protocol_stream()
    os.chdir(folder)
    sys.path.insert(0, str(folder))
    try:
        runner = _Alembic(folder) if tool == "alembic" else _Django(folder, settings)
        if action == "plan":
            _answer(answers, {"ok": True, "steps": runner.plan()})
            return 0
        runner.connect()
    except Exception as exc:
        _answer(answers, _failure(exc))
        return 1
    _answer(answers, {"ok": True, "ready": True})
    for line in sys.stdin:
        request = json.loads(line)
        try:
            runner.run(request["direction"], request["target"])
        except Exception as exc:
            _answer(answers, _failure(exc))
            continue
        _answer(answers, {"ok": True})
    return 0


def _protocol_stream() -> TextIO:
    """The original stdout for answers; fd 1 then points at stderr for everything else."""
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return answers


def _answer(stream: TextIO, message: dict[str, Any]) -> None:
    stream.write(json.dumps(message) + "\n")
    stream.flush()


def _failure(exc: BaseException) -> dict[str, Any]:
    """The error, and the server's SQLSTATE when a database error is at its root."""
    sqlstate = None
    cause: BaseException | None = exc
    while cause is not None and sqlstate is None:
        sqlstate = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
        cause = getattr(cause, "orig", None) or cause.__cause__
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return {"ok": False, "error": f"{type(exc).__name__}: {message}", "sqlstate": sqlstate}


def _connect_keywords() -> dict[str, str]:
    return {k: str(v) for k, v in json.loads(os.environ["PGREHEARSE_CONNECT"]).items()}


def _slug(text: str | None) -> str:
    first = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return re.sub(r"[^A-Za-z0-9]+", "_", first).strip("_").lower()[:60]


class _Alembic:
    """Alembic's documented API: a Config with `sqlalchemy.url` set, `command.upgrade` and
    `command.downgrade` one revision at a time."""

    def __init__(self, folder: Path) -> None:
        from alembic.config import Config

        ini = folder / "alembic.ini"
        self.config = Config(str(ini)) if ini.is_file() else Config()
        if not ini.is_file():
            self.config.set_main_option("script_location", str(folder))

    def plan(self) -> list[dict[str, Any]]:
        from alembic.script import ScriptDirectory

        script = ScriptDirectory.from_config(self.config)
        heads = script.get_heads()
        if len(heads) > 1:
            raise ValueError(f"alembic: {len(heads)} heads ({', '.join(heads)}); merge them first")
        steps = []
        for revision in reversed(list(script.walk_revisions("base", "heads"))):
            down = revision.down_revision
            if isinstance(down, tuple | list):
                raise ValueError(
                    f"alembic: revision {revision.revision} merges {len(down)} branches; "
                    "only linear histories are rehearsed"
                )
            steps.append(
                {
                    "version": revision.revision,
                    "name": _slug(revision.doc),
                    "file": str(Path(revision.path).resolve()),
                    "up": revision.revision,
                    "down": down or "base",
                }
            )
        return steps

    def connect(self) -> None:
        keywords = _connect_keywords()
        host = keywords.pop("host", "")
        port = keywords.pop("port", "5432")
        user = quote(keywords.pop("user", ""), safe="")
        password = quote(keywords.pop("password", ""), safe="")
        dbname = quote(keywords.pop("dbname", ""), safe="")
        query = {k: v for k, v in keywords.items() if k in ("application_name",)}
        if host.startswith("/"):
            query["host"] = host
            where = ""
        else:
            where = host
        url = f"postgresql+psycopg://{user}:{password}@{where}:{port}/{dbname}"
        if query:
            url += "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
        # configparser interpolation: a literal % must be doubled
        self.config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
        self.config.attributes["pgrehearse"] = True

    def run(self, direction: str, target: str) -> None:
        from alembic import command

        if direction == "up":
            command.upgrade(self.config, target)
        else:
            command.downgrade(self.config, target)


class _Django:
    """Django's own `migrate` command, one migration at a time, with the database settings
    replaced before Django starts."""

    def __init__(self, folder: Path, settings: str | None) -> None:
        if settings:
            os.environ["DJANGO_SETTINGS_MODULE"] = settings
        elif "DJANGO_SETTINGS_MODULE" not in os.environ:
            os.environ["DJANGO_SETTINGS_MODULE"] = _settings_from_manage_py(folder)
        self.started = False

    def _setup(self, database: dict[str, Any] | None) -> None:
        import django
        from django.conf import settings

        if database is not None:
            settings.DATABASES = {"default": database}
        django.setup()
        self.started = True

    def plan(self) -> list[dict[str, Any]]:
        self._setup(None)
        from django.db.migrations.loader import MigrationLoader

        loader = MigrationLoader(None, ignore_no_migrations=True)
        graph = loader.graph
        order: list[tuple[str, str]] = []
        seen: set[tuple[str, str]] = set()
        for leaf in sorted(graph.leaf_nodes()):
            for node in graph.forwards_plan(leaf):
                if node not in seen:
                    seen.add(node)
                    order.append(node)
        steps = []
        for app, name in order:
            parents = [p.key for p in graph.node_map[(app, name)].parents if p.key[0] == app]
            migration = loader.disk_migrations.get((app, name)) or graph.nodes[(app, name)]
            module = sys.modules.get(type(migration).__module__)
            file = getattr(module, "__file__", None) or ""
            number, _, rest = name.partition("_")
            steps.append(
                {
                    "version": f"{app}.{number}",
                    "name": rest,
                    "file": str(Path(file).resolve()) if file else "",
                    "up": [app, name],
                    "down": [app, parents[0][1] if parents else "zero"],
                }
            )
        return steps

    def connect(self) -> None:
        keywords = _connect_keywords()
        self._setup(
            {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": keywords.get("dbname", ""),
                "USER": keywords.get("user", ""),
                "PASSWORD": keywords.get("password", ""),
                "HOST": keywords.get("host", ""),
                "PORT": keywords.get("port", ""),
                "OPTIONS": {"application_name": keywords.get("application_name", "")},
            }
        )

    def run(self, direction: str, target: list[str]) -> None:
        from django.core.management import call_command

        app, name = target
        call_command("migrate", app, name, interactive=False, verbosity=0)


def _settings_from_manage_py(folder: Path) -> str:
    manage = folder / "manage.py"
    if manage.is_file():
        found = re.search(
            r"""DJANGO_SETTINGS_MODULE['"]\s*,\s*['"]([\w.]+)['"]""", manage.read_text()
        )
        if found:
            return found[1]
    raise ValueError(
        f"django: no settings module: name it with `settings:` (no manage.py in {folder} names one)"
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
