"""Migrations a tool runs itself (a shell command, Alembic, Django): each step runs in a child
process, and its statements are read back from the server's log, timed and attributed like
a SQL file's."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pgrehearse import load_scenario, rehearse
from pgrehearse.observe import log_records, parse_statements
from pgrehearse.observe.analyse import NO_LOCK_OBSERVED
from tests.helpers import processes_mentioning
from tests.tool_projects import write_alembic_project, write_django_project

pytestmark = pytest.mark.pg

LOAD = """\
load:
  clients: 2
  warmup: 0.3s
  cooldown: 0.3s
  transactions:
    - name: read
      sql: SELECT email FROM members WHERE id = :id
      params:
        id: {int: [1, 3000]}
"""
MEMBERS = "data: {tables: {members: {rows: 3000, columns: {email: {faker: email}}}}}\n"


# --------------------------------------------------------------------------- the log parser


def _record(pid: int, line: int, tag: str, message: str, **extra: str) -> str:
    fields = [""] * 26
    fields[0] = f"2026-11-24 06:00:00.{100 + line:03d} UTC"
    fields[1], fields[2], fields[3] = "app", "rehearsal", str(pid)
    fields[6], fields[7], fields[11] = str(line), tag, extra.get("severity", "LOG")
    fields[12], fields[13] = extra.get("sqlstate", "00000"), message
    fields[14], fields[19], fields[22] = extra.get("detail", ""), extra.get("query", ""), "tool"
    return ",".join('"' + f.replace('"', '""') + '"' if f else "" for f in fields)


def test_the_log_parser_pairs_starts_durations_and_errors_per_session() -> None:
    lines = [
        _record(7, 1, "idle", "statement: BEGIN"),
        _record(7, 2, "BEGIN", "duration: 0.050 ms"),
        _record(7, 3, "idle in transaction", "statement: ALTER TABLE t\n  ADD COLUMN c int"),
        _record(8, 1, "PARSE", "duration: 0.2 ms  parse <unnamed>: SELECT $1"),
        _record(8, 2, "SELECT", "execute <unnamed>: SELECT $1", detail="parameters: $1 = '5'"),
        _record(7, 4, "ALTER TABLE", "pgrehearse-rewrite 16393"),  # the event trigger's
        _record(7, 5, "ALTER TABLE", "duration: 1.500 ms"),
        _record(8, 3, "SELECT", "duration: 0.020 ms"),
        _record(7, 6, "idle in transaction", "statement: COMMIT"),
        _record(7, 7, "COMMIT", "duration: 0.500 ms"),
        _record(9, 1, "idle", "statement: INSERT INTO nope VALUES (1)"),
        _record(
            9,
            2,
            "INSERT",
            'relation "nope" does not exist',
            severity="ERROR",
            sqlstate="42P01",
            query="INSERT INTO nope VALUES (1)",
        ),
        _record(10, 1, "idle", "statement: SELECT 1"),
    ]
    found = parse_statements(log_records("\n".join(lines) + "\n"))
    by_sql = {s.sql: s for s in found}
    alter = by_sql["ALTER TABLE t\n  ADD COLUMN c int"]  # a quoted field spanning lines
    assert alter.in_transaction and alter.seconds == pytest.approx(0.0015)
    assert alter.rewritten == [16393]
    commit = by_sql["COMMIT"]
    assert commit.transaction_end_at == pytest.approx(commit.started_at + 0.0005)
    assert alter.transaction_end_at == commit.transaction_end_at  # held until COMMIT
    assert by_sql["SELECT $1"].parameters == "parameters: $1 = '5'"
    assert not by_sql["SELECT $1"].in_transaction
    failed = by_sql["INSERT INTO nope VALUES (1)"]
    assert failed.sqlstate == "42P01" and failed.error == 'relation "nope" does not exist'
    assert by_sql["SELECT 1"].seconds is None  # still running when the log was read
    assert by_sql["BEGIN"].bookkeeping and by_sql["COMMIT"].bookkeeping
    assert not alter.bookkeeping
    skipped = parse_statements(log_records("\n".join(lines) + "\n"), ["tool"])
    assert skipped == []


# --------------------------------------------------------------------------- a command


def test_a_command_migration_is_timed_and_its_lock_attributed_from_the_log(
    tmp_path: Path, work_root: Path
) -> None:
    (tmp_path / "schema.sql").write_text(
        "CREATE TABLE members (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
        "email text NOT NULL);\n"
    )
    (tmp_path / "up.sql").write_text(
        "\\timing on\nBEGIN;\nLOCK TABLE members IN ACCESS EXCLUSIVE MODE;\n"
        "SELECT pg_sleep(0.5);\nALTER TABLE members ADD COLUMN nickname text;\nCOMMIT;\n"
        "SELECT pg_sleep(0.1);\n"  # a gap the sampler sees: the next lock is another one
        "ALTER TABLE members ADD COLUMN score int DEFAULT (random() * 10)::int;\n"
        "ALTER TABLE members ALTER COLUMN nickname TYPE varchar(320);\n"
    )
    (tmp_path / "down.sql").write_text(
        "ALTER TABLE members DROP COLUMN nickname, DROP COLUMN score;\n"
    )
    (tmp_path / "scenario.yaml").write_text(
        "version: 1\nname: command\nschema: schema.sql\n" + MEMBERS + "migration:\n"
        "  command:\n"
        "    up: psql -X -v ON_ERROR_STOP=1 -f up.sql > client.txt\n"
        "    down: psql -X -v ON_ERROR_STOP=1 -q -f down.sql\n" + LOAD
    )
    result = rehearse(load_scenario(tmp_path / "scenario.yaml"), report_dir=tmp_path / "r")
    assert result.passed, result.failure
    lock, sleep, alter, _gap, volatile, varchar = result.statements_of("up")
    # rewrites, as the server's table_rewrite event reported them inside each statement: a
    # volatile default rewrites the table and its index, and so does text to varchar(n)
    # (the length check is a cast); a plain column, a lock and a sleep rewrite nothing
    assert volatile.rewrites == ["members", "members_pkey"]
    assert varchar.rewrites == ["members", "members_pkey"]
    assert alter.rewrites == [] and lock.rewrites == [] and sleep.rewrites == []
    assert lock.sql.startswith("LOCK TABLE") and alter.sql.startswith("ALTER TABLE")
    assert lock.in_transaction and lock.pid is not None and lock.pid == alter.pid
    # the statement's time on the server against the time psql itself measured
    client_ms = [
        float(t) for t in re.findall(r"Time: ([0-9.]+) ms", (tmp_path / "client.txt").read_text())
    ]
    sleep_ms = (sleep.seconds or 0) * 1000
    assert sleep_ms >= 500  # pg_sleep(0.5): never less
    assert sleep_ms <= client_ms[2] + 0.01  # the server's part of what the client waited
    # ground truth: the lock lives from LOCK's start to COMMIT's end, as the log tells
    assert lock.started_s is not None and lock.transaction_end_s is not None
    transaction_ms = (lock.transaction_end_s - lock.started_s) * 1000
    assert result.sampler is not None  # two achieved sampling intervals, whole-ms log times
    resolution = 1000 * 2 / result.sampler["achieved_hz"] + 2
    held = [x for x in lock.locks if x["mode"] == "AccessExclusiveLock"]
    assert len(held) == 1, lock.locks  # taken by LOCK, not by the sleep that followed
    assert held[0]["held_ms"] == pytest.approx(transaction_ms, abs=resolution)
    assert not [x for x in sleep.locks if x["mode"] == "AccessExclusiveLock"]
    # the application's reads waited behind that statement
    assert result.locks is not None
    behind = result.locks.waits[result.locks.waits["blocking_statement"] == "up #1"]
    assert not behind.empty
    assert result.summary is not None
    assert result.summary["statements"][0]["line"] is None  # sent by the tool: no line
    assert not processes_mentioning(str(tmp_path))


def test_a_failing_command_is_reported_with_its_output(tmp_path: Path, work_root: Path) -> None:
    (tmp_path / "schema.sql").write_text("CREATE TABLE members (id int PRIMARY KEY, email text);\n")
    (tmp_path / "scenario.yaml").write_text(
        "version: 1\nname: command\nschema: schema.sql\n" + MEMBERS + "migration:\n"
        "  command:\n"
        "    up: echo 'migrating…' && psql -X -v ON_ERROR_STOP=1 -c 'ALTER TABLE nope ADD c int'\n"
    )
    result = rehearse(load_scenario(tmp_path / "scenario.yaml"), report_dir=None)
    assert result.outcome == "failed"
    [failed] = result.statements_of("up")
    assert failed.error is not None and failed.error.sqlstate == "42P01"
    assert "nope" in failed.error.message


def test_a_list_of_commands_is_a_chain_with_its_baseline_run_before_seeding(
    tmp_path: Path, work_root: Path
) -> None:
    psql = "psql -X -q -v ON_ERROR_STOP=1 -c"
    (tmp_path / "scenario.yaml").write_text(
        "version: 1\nname: commands\n" + MEMBERS + "migration:\n"
        "  from: create\n"
        "  command:\n"
        "    - name: create\n"
        f'      up: {psql} "CREATE TABLE members (id bigint PRIMARY KEY, email text NOT NULL)"\n'
        f'      down: {psql} "DROP TABLE members"\n'
        "    - name: nickname\n"
        f'      up: {psql} "ALTER TABLE members ADD COLUMN nickname text"\n'
        f'      down: {psql} "ALTER TABLE members DROP COLUMN nickname"\n'
        "    - name: email_index\n"
        f'      up: {psql} "CREATE INDEX CONCURRENTLY members_email ON members (email)"\n'
        f'      down: {psql} "DROP INDEX CONCURRENTLY members_email"\n'
    )
    scenario = load_scenario(tmp_path / "scenario.yaml")
    assert scenario.schema_sql is None  # the baseline command builds it
    result = rehearse(scenario, report_dir=None)
    assert result.passed, result.failure
    assert [t.rows for t in result.tables] == [3000]  # seeded after the baseline ran
    add, index = result.statements_of("up")
    assert add.file is not None and add.file.name == "scenario.yaml#nickname"
    assert index.file is not None and index.file.name == "scenario.yaml#email_index"
    assert not index.in_transaction
    assert result.summary is not None
    assert [(m["phase"], m["migration"], m["roundtrip"]) for m in result.summary["migrations"]] == [
        ("up", "nickname", None),
        ("up", "email_index", None),
        ("down", "email_index", "restored"),
        ("down", "nickname", "restored"),
    ]


# --------------------------------------------------------------------------- Alembic


def _alembic_scenario(tmp_path: Path) -> Path:
    write_alembic_project(tmp_path / "app")
    path = tmp_path / "scenario.yaml"
    path.write_text(
        "version: 1\nname: alembic_chain\n"
        + MEMBERS
        + "migration:\n  tool: alembic\n  dir: app\n  from: a1\n"
        + LOAD
    )
    return path


def test_alembic_runs_each_revision_through_its_own_api(tmp_path: Path, work_root: Path) -> None:
    scenario = load_scenario(_alembic_scenario(tmp_path))
    chain = scenario.migration.chain
    assert chain is not None and chain.runs_itself
    assert [m.version for m in chain.baseline] == ["a1"]
    assert [m.label for m in chain.pending] == ["b2_add_nickname", "c3_index_nickname"]
    result = rehearse(scenario, report_dir=tmp_path / "r")
    assert result.passed, result.failure
    ups = result.statements_of("up")
    files = {s.file.name for s in ups if s.file}
    assert files == {"b2_add_nickname.py", "c3_index_nickname.py"}
    [add] = [s for s in ups if s.sql.startswith("ALTER TABLE members ADD COLUMN nickname")]
    [fill] = [s for s in ups if s.sql.startswith("UPDATE members SET nickname")]  # op.execute
    [index] = [s for s in ups if s.sql.startswith("CREATE INDEX CONCURRENTLY")]
    assert add.in_transaction and fill.in_transaction and not index.in_transaction
    assert fill.seconds is not None and fill.seconds > 0
    # Alembic's transaction per migration: the first committed before the second began
    assert add.transaction_end_s is not None and index.started_s is not None
    assert add.transaction_end_s <= index.started_s + 0.002
    assert any(x["mode"] == "AccessExclusiveLock" for x in add.locks)
    assert not any(x["mode"] == "AccessExclusiveLock" for x in fill.locks)
    # a statement outside a transaction holds its lock only while it runs: sampled every
    # 10 ms, it is seen when it runs a few intervals, and otherwise the report says why
    if (index.seconds or 0.0) > 0.03:
        assert any(x["mode"] == "ShareUpdateExclusiveLock" for x in index.locks)
    else:
        assert index.locks or index.lock_note == NO_LOCK_OBSERVED
    assert result.summary is not None
    rows = result.summary["migrations"]
    assert [(m["phase"], m["migration"], m["status"]) for m in rows] == [
        ("up", "b2_add_nickname", "ok"),
        ("up", "c3_index_nickname", "ok"),
        ("down", "c3_index_nickname", "ok"),
        ("down", "b2_add_nickname", "ok"),
    ]
    assert [m["roundtrip"] for m in rows if m["phase"] == "down"] == ["restored"] * 2
    assert result.roundtrip is not None and result.roundtrip.status == "passed"
    assert not processes_mentioning(str(tmp_path / "app"))  # the driver stopped


def test_alembic_baseline_is_cached_and_a_failing_revision_rolls_back(
    tmp_path: Path, work_root: Path
) -> None:
    path = _alembic_scenario(tmp_path)
    first = rehearse(load_scenario(path), report_dir=None)
    assert first.passed and first.cache is not None and first.cache.saved
    versions = tmp_path / "app" / "migrations" / "versions"
    (versions / "d4_broken.py").write_text(
        '"""broken"""\nfrom alembic import op\n\nrevision = "d4"\ndown_revision = "c3"\n\n\n'
        'def upgrade():\n    op.execute("ALTER TABLE members ADD COLUMN x no_such_type")\n\n\n'
        "def downgrade():\n    pass\n"
    )
    second = rehearse(load_scenario(path), report_dir=None)
    # a new pending revision: the baseline's snapshot is reused
    assert second.cache is not None and second.cache.hit
    assert second.outcome == "failed"
    failed = [s for s in second.statements_of("up") if s.status == "error"]
    assert failed and failed[0].error is not None and failed[0].error.sqlstate == "42704"
    assert failed[0].file is not None and failed[0].file.name == "d4_broken.py"
    # the revisions applied before it were downgraded, newest first
    downs = [s.file.name for s in second.statements_of("down") if s.file]
    assert downs and downs[0] == "c3_index_nickname.py" and downs[-1] == "b2_add_nickname.py"
    assert second.roundtrip is not None and second.roundtrip.status == "passed"


# --------------------------------------------------------------------------- Django


def test_django_migrates_one_migration_at_a_time_data_steps_included(
    tmp_path: Path, work_root: Path
) -> None:
    write_django_project(tmp_path / "site")
    (tmp_path / "scenario.yaml").write_text(
        "version: 1\nname: django_chain\n"
        + MEMBERS
        + "migration:\n  tool: django\n  dir: site\n  from: library.0001\n"
        + LOAD
    )
    result = rehearse(load_scenario(tmp_path / "scenario.yaml"), report_dir=None)
    assert result.passed, result.failure
    ups = result.statements_of("up")
    [add] = [s for s in ups if s.sql.startswith('ALTER TABLE "members" ADD COLUMN "nickname"')]
    fill = [s for s in ups if s.sql.startswith('UPDATE "members"')]  # the RunPython step
    [index] = [s for s in ups if "CREATE INDEX CONCURRENTLY" in s.sql]
    assert fill and fill[0].file is not None and fill[0].file.name == "0002_nickname.py"
    assert add.in_transaction and not index.in_transaction  # atomic = False
    assert result.summary is not None
    labels = [(m["phase"], m["migration"]) for m in result.summary["migrations"]]
    assert labels == [
        ("up", "library.0002_nickname"),
        ("up", "library.0003_nickname_index"),
        ("down", "library.0003_nickname_index"),
        ("down", "library.0002_nickname"),
    ]


def test_djangos_own_contrib_chain_is_rehearsed_and_its_leftovers_found(
    tmp_path: Path, work_root: Path
) -> None:
    """Django's contrib migrations (auth, contenttypes, sessions, admin), which this project
    did not write, from auth's first migration to the head, over seeded users."""
    write_django_project(tmp_path / "site", with_library=False)
    (tmp_path / "scenario.yaml").write_text(
        "version: 1\nname: contrib\n"
        "data: {tables: {auth_user: {rows: 2000}, auth_group: {rows: 20}}}\n"
        "migration:\n  tool: django\n  dir: site\n  from: auth.0001\n"
    )
    scenario = load_scenario(tmp_path / "scenario.yaml")
    assert scenario.migration.chain is not None
    pending = [m.label for m in scenario.migration.chain.pending]
    assert "auth.0012_alter_user_first_name_max_length" in pending
    assert "sessions.0001_initial" in pending and len(pending) >= 15
    result = rehearse(scenario, report_dir=None)
    assert result.summary is not None
    rows = result.summary["migrations"]
    assert len(rows) == 2 * len(pending)
    assert all(m["status"] == "ok" for m in rows)
    # what Django really does: post_migrate adds content types and permissions for an app
    # its migrations create, and no down removes them. The round trip says so, and names
    # the steps; every other step restored the schema and the data it found.
    leftovers = {
        m["migration"] for m in rows if m["phase"] == "down" and m["roundtrip"] != "restored"
    }
    assert leftovers == {"admin.0001_initial", "sessions.0001_initial"}
    assert any(
        d.startswith("data django_content_type: row count")
        for d in result.step_roundtrips["admin.0001_initial"]
    )
    assert result.roundtrip is not None and result.roundtrip.status == "failed"
    objects = {d.object for d in result.roundtrip.failing}
    assert objects == {"data django_content_type", "data auth_permission"}
    widened = [
        s.file.name
        for s in result.statements_of("up")
        if s.file is not None and '"username" TYPE varchar(150)' in s.sql
    ]
    assert widened and widened[0].startswith("0008_")  # each statement under its migration


def test_python_tool_projects_that_cannot_be_read_are_named(tmp_path: Path) -> None:
    from pgrehearse.errors import ScenarioError

    def problem(migration: str) -> str:
        path = tmp_path / "scenario.yaml"
        path.write_text("version: 1\nname: bad\n" + MEMBERS + "migration:\n" + migration)
        with pytest.raises(ScenarioError) as raised:
            load_scenario(path)
        return str(raised.value)

    assert "alembic project folder not found" in problem("  tool: alembic\n  dir: nowhere\n")
    (tmp_path / "empty").mkdir()
    message = problem("  tool: django\n  dir: empty\n")
    assert "no settings module" in message and "settings:" in message
    write_alembic_project(tmp_path / "app")
    versions = tmp_path / "app" / "migrations" / "versions"
    (versions / "z9_branch.py").write_text(
        '"""branch"""\nrevision = "z9"\ndown_revision = "a1"\n\n\n'
        "def upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n"
    )
    assert "2 heads" in problem("  tool: alembic\n  dir: app\n")
    (versions / "z9_branch.py").unlink()
    assert "no migration with version zz" in problem("  tool: alembic\n  dir: app\n  from: zz\n")
    assert "goes with `tool: django`" in problem(
        "  tool: alembic\n  dir: app\n  settings: mysite.settings\n"
    )


def test_a_signal_during_a_tools_step_stops_the_tool_and_the_server(
    tmp_path: Path, work_root: Path
) -> None:
    sig, exit_code = signal.SIGTERM, 143  # SIGINT takes the same path (see test_cli)
    (tmp_path / "schema.sql").write_text("CREATE TABLE members (id int PRIMARY KEY, email text);\n")
    marker = f"pgrehearse-test-{tmp_path.name}"
    (tmp_path / "scenario.yaml").write_text(
        "version: 1\nname: slow\nschema: schema.sql\n" + MEMBERS + "migration:\n"
        f"  command: {{up: 'sleep 60 # {marker}'}}\n"
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pgrehearse",
            "run",
            str(tmp_path),
            "--report-dir",
            str(tmp_path / "r"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not processes_mentioning(marker):
        time.sleep(0.1)
    assert processes_mentioning(marker), "the step's command should be running now"
    os.killpg(process.pid, sig)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == exit_code, stderr
    assert "Traceback" not in stderr
    assert processes_mentioning(marker) == []
    assert processes_mentioning(str(work_root)) == []
