"""Helpers for tests: scenario files on disk and the processes a run leaves."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

from pgrehearse.backends import LocalBackend, LocalServer, PostgresBinaries, Settings

SCHEMA = """
CREATE TABLE accounts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text NOT NULL,
    balance integer NOT NULL DEFAULT 0
);
"""


def write_scenario(
    folder: Path,
    *,
    name: str = "t",
    up: str = "ALTER TABLE accounts ADD COLUMN note text;",
    down: str | None = "ALTER TABLE accounts DROP COLUMN note;",
    rows: int = 100,
    extra: str = "",
    schema: str = SCHEMA,
) -> Path:
    """Write scenario.yaml, schema.sql, up.sql and down.sql into `folder`; return the yaml."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "schema.sql").write_text(textwrap.dedent(schema))
    (folder / "up.sql").write_text(textwrap.dedent(up))
    down_line = ""
    if down is not None:
        (folder / "down.sql").write_text(textwrap.dedent(down))
        down_line = "  down: down.sql\n"
    scenario = folder / "scenario.yaml"
    scenario.write_text(
        f"version: 1\n"
        f"name: {name}\n"
        f"schema: schema.sql\n"
        f"data:\n"
        f"  seed: 7\n"
        f"  tables:\n"
        f"    accounts:\n"
        f"      rows: {rows}\n"
        f"      columns:\n"
        f"        email: {{faker: email, unique: true, pool: 50}}\n"
        f"        balance: {{int: [0, 1000]}}\n"
        f"migration:\n"
        f"  up: up.sql\n"
        f"{down_line}"
        f"{extra}"
    )
    return scenario


def seeding_scenario(folder: Path, schema: str, data: str, *, name: str = "t") -> Path:
    """A scenario that only seeds: `schema` as schema.sql, `data` as what follows `data:`
    (inline YAML, or indented lines after a newline), and `SELECT 1` as the migration."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "schema.sql").write_text(schema)
    scenario = folder / "scenario.yaml"
    scenario.write_text(
        f"version: 1\nname: {name}\nschema: schema.sql\ndata: {data.rstrip()}\n"
        "migration: {up: SELECT 1;}\n"
    )
    return scenario


def outer_environment(*dropped_prefixes: str) -> dict[str, str]:
    """This process's environment without what pytest (and the given prefixes) put there:
    for a child that must behave as if a user had started it."""
    drop = ("PYTEST_", *dropped_prefixes)
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


@contextlib.contextmanager
def connection_with(
    server: LocalServer, schema: str, application: str
) -> Iterator[psycopg.Connection[Any]]:
    """A session on `server` (not autocommit) after `schema` ran and was committed."""
    with psycopg.connect(**server.connect_kwargs("postgres", application)) as connection:
        connection.execute(schema)
        connection.commit()
        yield connection


def processes_mentioning(text: str) -> list[tuple[int, str]]:
    """Processes whose command line contains `text` (e.g. a server folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline:
            found.append((int(entry.name), cmdline))
    return found


class ProbingBackend(LocalBackend):
    """A local backend that runs one query just before the server is removed."""

    def __init__(self, binaries: PostgresBinaries, query: str) -> None:
        super().__init__(binaries)
        self.query = query
        self.answer: object = None

    def start(self, settings: Settings, *, snapshot: Path | None = None) -> LocalServer:
        server = super().start(settings, snapshot=snapshot)
        close = server.close

        def probe_then_close() -> None:
            try:
                with psycopg.connect(**server.connect_kwargs("rehearsal", "probe")) as conn:
                    row = conn.execute(self.query).fetchone()
                    self.answer = row[0] if row else None
            finally:  # a rehearsal that failed early has no tables to probe
                close()

        server.close = probe_then_close  # type: ignore[method-assign]
        return server


@contextlib.contextmanager
def refusing_row(conn: psycopg.Connection[Any], table: str, row_id: int) -> Iterator[None]:
    """A trigger on `table` that refuses the row of that id with a message and a DETAIL
    (`row N refused`, `the test refuses it`), dropped on the way out."""
    conn.execute(
        f"""
        CREATE FUNCTION refuse_late_row() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.id = {row_id} THEN
                RAISE EXCEPTION 'row % refused', NEW.id USING DETAIL = 'the test refuses it';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER refuse BEFORE INSERT ON {table}
            FOR EACH ROW EXECUTE FUNCTION refuse_late_row();
        """
    )
    conn.commit()
    try:
        yield
    finally:
        conn.rollback()
        conn.execute(f"DROP TRIGGER refuse ON {table}; DROP FUNCTION refuse_late_row()")
        conn.commit()


class PipeFolders:
    """The pipe folders the seeder made (patched where `_seeder` looks `pipe_folder` up)."""

    def __init__(self, monkeypatch: Any) -> None:
        from pgrehearse.seed import _seeder, _sink

        self.folders: list[Path] = []
        real_pipe_folder = _sink.pipe_folder

        @contextlib.contextmanager
        def pipe_folder(connection: psycopg.Connection[Any]) -> Iterator[Path | None]:
            with real_pipe_folder(connection) as folder:
                if folder is not None:
                    self.folders.append(folder)
                yield folder

        monkeypatch.setattr(_seeder, "pipe_folder", pipe_folder)

    def left_behind(self) -> bool:
        return any(folder.exists() for folder in self.folders)


def run_cli(
    *args: str | Path, cwd: Path | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """`pgrehearse ARGS` as a user runs it, in a process of its own; its output kept."""
    return subprocess.run(
        [sys.executable, "-m", "pgrehearse", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )
