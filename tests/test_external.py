"""The external backend against a server started separately, as a staging server would be:
everything that was there before is untouched after a passing, a failing and an
interrupted run, and the password appears nowhere."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgrehearse.backends import LocalBackend, LocalServer, PostgresBinaries
from pgrehearse.backends.external import dsn_for_display, redact
from tests.helpers import write_scenario

EXISTING = """
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 50) g;
CREATE TABLE accounts (id int PRIMARY KEY, email text);  -- same name as the scenario's
INSERT INTO accounts VALUES (1, 'keep@example.com');
"""


@dataclass
class Staging:
    server: LocalServer
    dsn: str
    password: str

    def admin(self, dbname: str = "postgres") -> psycopg.Connection[Any]:
        return psycopg.connect(**self.server.connect_kwargs(dbname, "test"), autocommit=True)

    def state(self) -> dict[str, Any]:
        """Databases, roles, and every object and row of the pre-existing database."""
        with self.admin() as conn:
            databases = sorted(r[0] for r in conn.execute("SELECT datname FROM pg_database"))
            roles = sorted(r[0] for r in conn.execute("SELECT rolname FROM pg_roles"))
        with self.admin("app") as conn:
            objects = sorted(
                tuple(r)
                for r in conn.execute(
                    "SELECT relname, relkind, relfilenode FROM pg_class"
                    " WHERE relnamespace = 'public'::regnamespace"
                )
            )
            rows = conn.execute(
                "SELECT (SELECT string_agg(c::text, ',' ORDER BY id) FROM customers c),"
                " (SELECT string_agg(a::text, ',' ORDER BY id) FROM accounts a)"
            ).fetchone()
        return {"databases": databases, "roles": roles, "objects": objects, "rows": rows}


@pytest.fixture
def staging(work_root: Path, pg_binaries: PostgresBinaries) -> Iterator[Staging]:
    server = LocalBackend(pg_binaries).start({})
    try:
        with psycopg.connect(**server.connect_kwargs("postgres", "t"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE app")
        with psycopg.connect(**server.connect_kwargs("app", "t"), autocommit=True) as conn:
            conn.execute(EXISTING)
        dsn = f"postgresql://pgrehearse:{server.password}@127.0.0.1:{server.port}/postgres"
        yield Staging(server, dsn, server.password)
    finally:
        server.close()


def _cli(*args: str | Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pgrehearse", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        **kwargs,
    )


def _no_password_anywhere(folder: Path, password: str, *texts: str) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            assert password not in path.read_text(errors="replace"), path
    for text in texts:
        assert password not in text


def test_passing_and_failing_runs_leave_the_server_as_it_was(
    tmp_path: Path, staging: Staging
) -> None:
    before = staging.state()
    good = write_scenario(tmp_path / "good", name="good")
    reports = tmp_path / "reports"
    result = _cli("run", good, "--dsn", staging.dsn, "--report-dir", reports)
    assert result.returncode == 0, result.stderr
    assert staging.state() == before

    bad = write_scenario(tmp_path / "bad", name="bad", up="ALTER TABLE nope ADD COLUMN x int;")
    failed = _cli(
        "run", bad, "--report-dir", reports, env={**os.environ, "PGREHEARSE_DSN": staging.dsn}
    )
    assert failed.returncode == 1, failed.stderr
    assert 'relation "nope" does not exist' in failed.stdout
    assert staging.state() == before
    _no_password_anywhere(reports, staging.password, result.stdout, result.stderr)
    _no_password_anywhere(reports, staging.password, failed.stdout, failed.stderr)
    summary = next(reports.glob("good/*/summary.json")).read_text()
    assert '"backend": "external"' in summary and '"database": "pgrehearse_' in summary


def test_interrupted_run_drops_its_databases(tmp_path: Path, staging: Staging) -> None:
    before = staging.state()
    slow = write_scenario(tmp_path / "s", up="SELECT pg_sleep(30);")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pgrehearse",
            "run",
            slow,
            "--dsn",
            staging.dsn,
            "--report-dir",
            tmp_path / "r",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    with staging.admin() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%'"
            ).fetchone()
            if waiting and waiting[0]:
                break
            time.sleep(0.1)
    os.killpg(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert staging.state() == before
    _no_password_anywhere(tmp_path / "r", staging.password, out, err)


def test_role_without_createdb_is_refused(tmp_path: Path, staging: Staging) -> None:
    with staging.admin() as conn:
        conn.execute("CREATE ROLE reader LOGIN PASSWORD 'secret-reader-pw' NOCREATEDB")
    before = staging.state()
    dsn = f"postgresql://reader:secret-reader-pw@127.0.0.1:{staging.server.port}/postgres"
    result = _cli(
        "run", write_scenario(tmp_path / "s"), "--dsn", dsn, "--report-dir", tmp_path / "r"
    )
    assert result.returncode == 3
    assert "role 'reader'" in result.stderr and "may not create databases" in result.stderr
    assert "ALTER ROLE reader CREATEDB" in result.stderr
    assert "secret-reader-pw" not in result.stderr + result.stdout
    assert staging.state() == before


def test_wrong_password_message_is_redacted(tmp_path: Path, staging: Staging) -> None:
    dsn = f"postgresql://pgrehearse:wrong-pw-123@127.0.0.1:{staging.server.port}/postgres"
    result = _cli(
        "run", write_scenario(tmp_path / "s"), "--dsn", dsn, "--report-dir", tmp_path / "r"
    )
    assert result.returncode == 3
    assert "cannot connect to the external server 127.0.0.1" in result.stderr
    assert "wrong-pw-123" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    "text",
    [
        "postgresql://u:hunter2@db:5432/x",
        "postgres://u:hunter2@db/x?sslmode=require",
        "host=db user=u password=hunter2 dbname=x",
        "host=db password='hunter2' dbname=x",
    ],
)
def test_redaction(text: str) -> None:
    assert "hunter2" not in redact(text)
    assert "hunter2" not in dsn_for_display(text)


def _clone_scenario(folder: Path) -> Path:
    folder.mkdir()
    (folder / "up.sql").write_text("ALTER TABLE customers ADD COLUMN vip boolean DEFAULT false;\n")
    (folder / "down.sql").write_text("ALTER TABLE customers DROP COLUMN vip;\n")
    scenario = folder / "scenario.yaml"
    scenario.write_text("version: 1\nname: on_clone\nmigration: {up: up.sql, down: down.sql}\n")
    return scenario


def test_clone_mode_only_with_the_flag(tmp_path: Path, staging: Staging) -> None:
    with staging.admin() as conn:
        conn.execute("CREATE DATABASE app_clone TEMPLATE app")
    before = staging.state()
    scenario = _clone_scenario(tmp_path / "s")
    clone_dsn = staging.dsn.rsplit("/", 1)[0] + "/app_clone"

    refused = _cli("run", scenario, "--dsn", clone_dsn, "--report-dir", tmp_path / "r")
    assert refused.returncode == 2
    assert f"{scenario}:1: the scenario has no schema" in refused.stderr
    assert "--clone" in refused.stderr

    result = _cli("run", scenario, "--dsn", clone_dsn, "--clone", "--report-dir", tmp_path / "r")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "clone mode: rehearsing in the existing database 'app_clone'" in result.stderr
    assert "WILL change" in result.stderr
    summary = next((tmp_path / "r").glob("on_clone/*/summary.json")).read_text()
    assert '"database": "app_clone"' in summary and '"clone_mode": true' in summary
    assert staging.state() == before  # app untouched, app_clone kept, nothing else created
    _no_password_anywhere(tmp_path / "r", staging.password, result.stdout, result.stderr)

    maintenance = _cli(
        "run", scenario, "--dsn", staging.dsn, "--clone", "--report-dir", tmp_path / "r"
    )
    assert maintenance.returncode == 3
    assert "clone mode rehearses in the DSN's own database" in maintenance.stderr


def test_cleanup_drops_only_old_run_databases(staging: Staging) -> None:
    recent = "pgrehearse_" + time.strftime("%Y%m%dt%H%M%Sz", time.gmtime()) + "_beef"
    names = [
        "pgrehearse_20200101t000000z_abcd",  # a killed run's database
        "pgrehearse_20200101t000000z_abcd_schema",
        recent,  # a run that may still be going
        "pgrehearse_20200101t000000z_cafe",  # old, but someone is connected
        "pgrehearse_notes",  # not a run's name
    ]
    with staging.admin() as conn:
        for name in names:
            conn.execute(f'CREATE DATABASE "{name}"')
    before = staging.state()
    busy = psycopg.connect(**staging.server.connect_kwargs(names[3], "someone"))
    try:
        result = _cli("cleanup", "--dsn", staging.dsn)
    finally:
        busy.close()
    assert result.returncode == 0, result.stderr
    assert "2 leftover database(s) dropped on" in result.stdout
    assert staging.password not in result.stdout + result.stderr
    after = staging.state()
    assert sorted(set(before["databases"]) - set(after["databases"])) == names[:2]
    assert {k: v for k, v in after.items() if k != "databases"} == {
        k: v for k, v in before.items() if k != "databases"
    }
