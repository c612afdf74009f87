"""Migration folders as teams' tools write them: read without the tools, rehearsed as a chain."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgrehearse import load_scenario, rehearse
from pgrehearse.errors import ScenarioError
from pgrehearse.rehearsal.steps import statements_of
from pgrehearse.tools import READERS, build_chain, detect, read_folder

# our own small library app, one migration at a time
STEPS = [
    (
        "CREATE TABLE members (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
        "email text NOT NULL);",
        "DROP TABLE members;",
    ),
    ("ALTER TABLE members ADD COLUMN nickname text;", "ALTER TABLE members DROP COLUMN nickname;"),
    (
        "CREATE INDEX CONCURRENTLY members_email ON members (email);",
        "DROP INDEX CONCURRENTLY members_email;",
    ),
    (
        "ALTER TABLE members ADD COLUMN joined date NOT NULL DEFAULT current_date;",
        "ALTER TABLE members DROP COLUMN joined;",
    ),
]
VERSIONS = ["20240101", "20240202", "20240303", "20240404"]
NAMES = ["members", "nickname", "email_index", "joined"]


def _write(folder: Path, tool: str) -> Path:
    folder.mkdir(parents=True)
    for version, name, (up, down) in zip(VERSIONS, NAMES, STEPS, strict=True):
        concurrent = "CONCURRENTLY" in up
        if tool == "golang-migrate":
            (folder / f"{version}_{name}.up.sql").write_text(up + "\n")
            (folder / f"{version}_{name}.down.sql").write_text(down + "\n")
        elif tool == "goose":
            no_tx = "-- +goose NO TRANSACTION\n" if concurrent else ""
            (folder / f"{version}_{name}.sql").write_text(
                f"{no_tx}-- +goose Up\n{up}\n\n-- +goose Down\n{down}\n"
            )
        elif tool == "dbmate":
            flag = " transaction:false" if concurrent else ""
            (folder / f"{version}_{name}.sql").write_text(
                f"-- migrate:up{flag}\n{up}\n\n-- migrate:down{flag}\n{down}\n"
            )
        elif tool == "flyway":
            (folder / f"V{version}__{name}.sql").write_text(up + "\n")
            (folder / f"U{version}__{name}.sql").write_text(down + "\n")
        elif tool == "dirs":
            (folder / f"{version}_{name}").mkdir()
            (folder / f"{version}_{name}" / "up.sql").write_text(up + "\n")
            (folder / f"{version}_{name}" / "down.sql").write_text(down + "\n")
        elif tool == "prisma":
            (folder / f"{version}_{name}").mkdir()
            (folder / f"{version}_{name}" / "migration.sql").write_text(up + "\n")
        elif tool == "popx":
            autocommit = ".autocommit" if concurrent else ""
            # the postgres file replaces the generic one; other dialects are left out
            (folder / f"{version}_{name}.up.sql").write_text("SELECT generic_version();\n")
            (folder / f"{version}_{name}.postgres{autocommit}.up.sql").write_text(up + "\n")
            (folder / f"{version}_{name}.mysql.up.sql").write_text("SELECT mysql();\n")
            (folder / f"{version}_{name}.postgres{autocommit}.down.sql").write_text(down + "\n")
        elif tool == "sqitch":
            verify = f"BEGIN;\nSELECT count(*) FROM members; -- {name}\nROLLBACK;"
            for kind, sql in (("deploy", up), ("revert", down), ("verify", verify)):
                (folder / kind).mkdir(exist_ok=True)
                (folder / kind / f"{version}.sql").write_text(sql + "\n")
            with (folder / "sqitch.plan").open("a") as plan:
                if version == VERSIONS[0]:
                    plan.write("%syntax-version=1.0.0\n%project=library\n\n")
                plan.write(f"{version} 2024-01-01T00:00:00Z Ann <ann@example.org> # {name}\n")
                if version == VERSIONS[1]:
                    plan.write("@v1.0 2024-02-02T00:00:00Z Ann <ann@example.org> # tag\n")
        elif tool == "sql-migrate":
            no_tx = " notransaction" if concurrent else ""
            (folder / f"{version}-{name}.sql").write_text(
                f"-- +migrate Up{no_tx}\n-- +migrate StatementBegin\n{up}\n"
                f"-- +migrate StatementEnd\n\n-- +migrate Down{no_tx}\n{down}\n"
            )
        elif tool == "tern":
            no_tx = "---- tern: disable-tx ----\n" if concurrent else ""
            (folder / f"{version[-3:]}_{name}.sql").write_text(
                f"{no_tx}{up}\n\n---- create above / drop below ----\n\n{down}\n"
            )
        elif tool == "yoyo":
            no_tx = "-- transactional: false\n" if concurrent else ""
            depends = "" if version == VERSIONS[0] else "-- depends: earlier\n"
            (folder / f"{version}_{name}.sql").write_text(f"{depends}{no_tx}{up}\n")
            (folder / f"{version}_{name}.rollback.sql").write_text(f"{no_tx}{down}\n")
        elif tool == "liquibase":
            no_tx = " runInTransaction:false" if concurrent else ""
            with (folder / "changelog.sql").open("a") as changelog:
                if version == VERSIONS[0]:
                    changelog.write("--liquibase formatted sql\n\n")
                changelog.write(
                    f"--changeset ann:{version}{no_tx}\n--comment: {name}\n{up}\n"
                    f"--rollback {down}\n\n"
                )
        elif tool == "node-pg-migrate":
            (folder / f"{version}_{name}.sql").write_text(
                f"-- Up Migration\n{up}\n\n-- Down Migration\n{down}\n"
            )
        elif tool == "postgrator":
            (folder / f"{version}.do.{name}.sql").write_text(up + "\n")
            (folder / f"{version}.undo.{name}.sql").write_text(down + "\n")
        elif tool == "db-migrate":
            (folder / "sqls").mkdir(exist_ok=True)
            (folder / f"{version}-{name}.js").write_text("exports._meta = {version: 1};\n")
            (folder / "sqls" / f"{version}-{name}-up.sql").write_text(up + "\n")
            (folder / "sqls" / f"{version}-{name}-down.sql").write_text(down + "\n")
        elif tool == "play":
            play_name = str(VERSIONS.index(version) + 1)
            (folder / f"{play_name}.sql").write_text(
                f"# {name}\n\n# --- !Ups\n{up}\n\n# --- !Downs\n{down}\n"
            )
        elif tool == "mybatis":
            (folder / "scripts").mkdir(exist_ok=True)
            (folder / "environments").mkdir(exist_ok=True)
            (folder / "environments" / "development.properties").write_text("changelog=log\n")
            (folder / "scripts" / f"{version}_{name}.sql").write_text(
                f"-- // {name}\n{up}\n\n-- //@UNDO\n{down}\n"
            )
        elif tool == "rambler":  # sections may repeat; each direction is theirs joined
            (folder / f"{version}_{name}.sql").write_text(
                f"-- rambler up\n{up}\n-- rambler down\n{down}\n-- rambler up\n-- more up\n"
            )
        elif tool == "shmig":
            (folder / f"{version}-{name}.sql").write_text(
                f"-- ==== UP ====\n\n{up}\n\n-- ==== DOWN ====\n\n{down}\n"
            )
        elif tool == "sql-files":
            no_tx = "-- atlas:txmode none\n" if concurrent else ""
            (folder / f"{version}000000_{name}.sql").write_text(f"{no_tx}{up}\n")
    if tool == "flyway":
        (folder / "R__refresh_views.sql").write_text("SELECT 1;\n")
    return folder


TOOLS = list(READERS)  # every folder kind pgrehearse reads
UP_ONLY = ("prisma", "sql-files")
# tools that run every migration in a transaction: no mark takes one out
TRANSACTIONAL_ONLY = (
    *("golang-migrate", "flyway", "dirs", "prisma"),
    *("node-pg-migrate", "postgrator", "db-migrate", "mybatis", "rambler", "shmig"),
)


@pytest.mark.parametrize("tool", TOOLS)
def test_each_tools_folder_is_read_in_order_with_its_downs(tmp_path: Path, tool: str) -> None:
    folder = _write(tmp_path / "migrations", tool)
    assert detect(folder) == tool
    found = read_folder(folder)
    versions = {  # as each tool's files name them
        "tern": [v[-3:] for v in VERSIONS],
        "sql-files": [f"{v}000000" for v in VERSIONS],
        "liquibase": [f"ann:{v}" for v in VERSIONS],
        "play": ["1", "2", "3", "4"],
    }.get(tool, VERSIONS)
    assert [m.version for m in found.migrations] == versions
    chain = build_chain(found, versions[0], "head")
    assert [m.version for m in chain.baseline] == versions[:1]
    assert [m.version for m in chain.pending] == versions[1:]
    ups = statements_of(chain.up)
    if tool == "sqitch":  # each change's verify script runs right after its deploy
        checks = [s for s in ups if s.file is not None and s.file.parent.name == "verify"]
        assert [s.file.name for s in checks if s.file] == [
            f"{v}.sql" for v in VERSIONS[1:] for _ in "xyz"
        ]
        assert [s.sql for s in checks[:3]] == ["BEGIN", "SELECT count(*) FROM members", "ROLLBACK"]
        ups = [s for s in ups if s not in checks]
    assert [s.sql for s in ups] == [up.rstrip(";") for up, _ in STEPS[1:]]
    assert ups[0].file is not None and ups[0].line >= 1
    if tool == "play":  # Play runs evolutions with autocommit
        assert [s.alone for s in ups] == [True, True, True]
    elif tool not in (*TRANSACTIONAL_ONLY, "sqitch"):
        # the tool's "no transaction" marker is honoured
        assert [s.alone for s in ups] == [False, True, False]
    if tool in UP_ONLY:
        assert chain.down is None and chain.down_missing is not None
        assert "no down" in chain.down_missing
    else:
        assert chain.down is not None
        downs = statements_of(chain.down)
        assert [s.sql for s in downs] == [down.rstrip(";") for _, down in reversed(STEPS[1:])]
    if tool == "flyway":
        assert any("repeatable" in note for note in found.notes)


def _scenario(folder: Path, migration: str) -> Path:
    path = folder / "scenario.yaml"
    path.write_text(
        "version: 1\nname: chain\n"
        "data: {tables: {members: {rows: 2000}}}\n"
        f"migration:\n{migration}"
    )
    return path


def test_a_chain_seeds_at_its_baseline_and_rehearses_the_pending_migrations(
    tmp_path: Path, work_root: Path
) -> None:
    _write(tmp_path / "db" / "migrations", "goose")
    path = _scenario(tmp_path, "  dir: db/migrations\n  from: 20240101\n")
    scenario = load_scenario(path)
    assert scenario.schema_sql is not None  # the baseline migration is the schema
    result = rehearse(scenario, report_dir=None)
    assert result.passed, result.failure
    ups = result.statements_of("up")
    assert [s.file.name for s in ups if s.file] == [
        "20240202_nickname.sql",
        "20240303_email_index.sql",
        "20240404_joined.sql",
    ]
    assert not ups[1].in_transaction  # NO TRANSACTION, and CONCURRENTLY besides
    # each migration in its own transaction: the first committed before the second began
    assert ups[0].transaction_end_s is not None and ups[1].started_s is not None
    assert ups[0].transaction_end_s <= ups[1].started_s
    first_down = result.statements_of("down")[0]
    assert first_down.file is not None and first_down.file.name == "20240404_joined.sql"
    assert result.roundtrip is not None and result.roundtrip.status == "passed"
    assert result.summary is not None
    rows = result.summary["migrations"]  # one row per migration and phase
    assert [(m["phase"], m["migration"]) for m in rows] == [
        ("up", "20240202_nickname"),
        ("up", "20240303_email_index"),
        ("up", "20240404_joined"),
        ("down", "20240404_joined"),
        ("down", "20240303_email_index"),
        ("down", "20240202_nickname"),
    ]
    assert rows[0]["strongest_lock"] == "AccessExclusiveLock"  # ADD COLUMN
    assert rows[1]["strongest_lock"] == "ShareUpdateExclusiveLock"  # CONCURRENTLY
    assert all(m["status"] == "ok" and m["statements"] == 1 for m in rows)
    # every step's down restored the schema its up found
    assert [m["roundtrip"] for m in rows if m["phase"] == "down"] == ["restored"] * 3


@pytest.mark.parametrize("tool", UP_ONLY)
def test_a_tool_without_downs_skips_the_round_trip_with_the_reason(
    tmp_path: Path, work_root: Path, tool: str
) -> None:
    _write(tmp_path / "migrations", tool)
    start = "20240101" if tool == "prisma" else "20240101000000"
    path = _scenario(tmp_path, f"  dir: migrations\n  tool: {tool}\n  from: {start}\n")
    result = rehearse(load_scenario(path), report_dir=None)
    assert result.passed, result.failure
    assert result.roundtrip is not None and result.roundtrip.status == "skipped"
    down = result.phase("down")
    assert down is not None and down.note is not None and f"{tool}: no down" in down.note
    # the step marked to run outside a transaction did (CREATE INDEX CONCURRENTLY)
    assert [s.in_transaction for s in result.statements_of("up")] == [True, False, True]


def test_bad_folders_and_versions_are_named(tmp_path: Path) -> None:
    _write(tmp_path / "migrations", "golang-migrate")
    for migration, expected in (
        ("  dir: nowhere\n", "migration folder not found"),
        ("  dir: migrations\n  from: 20991231\n", "no migration with version 20991231"),
        ("  dir: migrations\n  up: SELECT 1;\n", "give `up` (and `down`), a migration tool"),
        ("  up: SELECT 1;\n  from: 1\n", "`tool`, `settings`, `from` and `to` go with `dir`"),
    ):
        with pytest.raises(ScenarioError) as raised:
            load_scenario(_scenario(tmp_path, migration))
        assert expected in str(raised.value), str(raised.value)


# our own one-line stand-ins for a migration of each framework whose migrations are code
CODE_MIGRATIONS = {
    "Rails": ("20240101_members.rb", "class Members < ActiveRecord::Migration[7.1]\nend\n"),
    "Laravel": (
        "2024_01_01_members.php",
        "<?php\nuse Illuminate\\Database\\Migrations\\Migration;\n",
    ),
    "Doctrine": ("Version20240101.php", "<?php\nuse Doctrine\\Migrations\\AbstractMigration;\n"),
    "Ecto": ("20240101_members.exs", "defmodule M do\n  use Ecto.Migration\nend\n"),
    "TypeORM": ("1704067200-Members.ts", "export class M implements MigrationInterface {}\n"),
    "Knex": ("20240101_members.js", "exports.up = function (knex) {};\n"),
    "node-pg-migrate": ("1704067200000_members.js", "exports.up = (pgm) => { pgm.sql('') };\n"),
    "db-migrate": ("20240101-members.js", "exports.up = function (db) {};\nexports._meta = {};\n"),
    "Sequelize": (
        "20240101-members.js",
        "module.exports = { up: async (queryInterface) => {} };\n",
    ),
    "Entity Framework Core": ("20240101_Members.cs", "void Up(MigrationBuilder b) {}\n"),
    "Phinx": ("20240101_members.php", "<?php\nuse Phinx\\Migration\\AbstractMigration;\n"),
    "Yii": (
        "m240101_members.php",
        "<?php\nuse yii\\db\\Migration;\nclass M extends Migration {}\n",
    ),
    "CodeIgniter": (
        "2024-01-01-000000_Members.php",
        "<?php\nuse CodeIgniter\\Database\\Migration;\nclass M extends Migration {}\n",
    ),
    "Sequel": ("001_members.rb", "Sequel.migration do\nend\n"),
    "Kysely": ("2024-01-01_members.ts", "export async function up(db: Kysely<any>) {}\n"),
    "FluentMigrator": ("20240101_Members.cs", "using FluentMigrator;\n"),
    "SeaORM": ("m20240101_members.rs", "use sea_orm_migration::prelude::*;\n"),
    "goose (Go)": ("00002_members.go", "func init() { goose.AddMigrationContext(up, down) }\n"),
    "Liquibase": ("changelog.xml", "<databaseChangeLog>\n</databaseChangeLog>\n"),
}


@pytest.mark.parametrize("framework", CODE_MIGRATIONS)
def test_a_folder_of_code_migrations_is_named_with_the_command_that_runs_them(
    tmp_path: Path, framework: str
) -> None:
    name, text = CODE_MIGRATIONS[framework]
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / name).write_text(text)
    with pytest.raises(ScenarioError) as raised:
        load_scenario(_scenario(tmp_path, "  dir: migrations\n"))
    message = str(raised.value)
    assert f"it holds {framework} migrations" in message, message
    assert "migration: {command: {up: " in message


def test_python_migrations_point_at_the_tool_that_runs_them(tmp_path: Path) -> None:
    versions = tmp_path / "app" / "alembic" / "versions"
    versions.mkdir(parents=True)
    (tmp_path / "app" / "alembic.ini").write_text("[alembic]\n")
    (versions / "3f2a_members.py").write_text('revision = "3f2a"\ndown_revision = None\n')
    with pytest.raises(ScenarioError) as raised:
        load_scenario(_scenario(tmp_path, "  dir: app/alembic/versions\n"))
    assert f"{{tool: alembic, dir: {(tmp_path / 'app').resolve()}}}" in str(raised.value)
    django = tmp_path / "shop" / "orders" / "migrations"
    django.mkdir(parents=True)
    (django / "0001_initial.py").write_text("class Migration(migrations.Migration):\n    pass\n")
    with pytest.raises(ScenarioError) as raised:
        load_scenario(_scenario(tmp_path, "  dir: shop/orders/migrations\n"))
    assert "{tool: django, dir: <the folder holding manage.py>}" in str(raised.value)
    # a folder of nothing known keeps the list of tools
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("hello\n")
    with pytest.raises(ScenarioError) as raised:
        load_scenario(_scenario(tmp_path, "  dir: other\n"))
    assert "cannot tell which migration tool wrote it" in str(raised.value)


def test_run_migrations_rehearses_a_folder_with_the_scenarios_data(
    tmp_path: Path, work_root: Path
) -> None:
    import json
    import subprocess
    import sys

    from pgrehearse.cli import MIGRATION_TOOLS
    from pgrehearse.tools import TOOLS

    assert MIGRATION_TOOLS == TOOLS
    folder = _write(tmp_path / "migrations", "dbmate")
    (tmp_path / "schema.sql").write_text("CREATE TABLE audit (id int);\n")  # then the baseline
    path = tmp_path / "scenario.yaml"
    path.write_text(
        "version: 1\nname: own\nschema: schema.sql\n"
        "data: {tables: {members: {rows: 500}}}\n"
        "migration: {up: SELECT 1;}\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pgrehearse",
            "run",
            str(path),
            "--migrations",
            str(folder),
            "--from",
            "20240101",
            "--to",
            "20240303",
            "-q",
            "--report-dir",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    [summary] = (tmp_path / "r" / "own").glob("*/summary.json")
    statements = json.loads(summary.read_text())["statements"]
    markdown = next((tmp_path / "r" / "own").glob("*/summary.md")).read_text()
    assert "**Migrations**" in markdown and "| up | 20240202_nickname | ok |" in markdown
    assert [(s["phase"], Path(s["file"]).name) for s in statements] == [
        ("up", "20240202_nickname.sql"),
        ("up", "20240303_email_index.sql"),
        ("down", "20240303_email_index.sql"),
        ("down", "20240202_nickname.sql"),
    ]
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "pgrehearse",
            "run",
            str(path),
            "--migrations",
            str(folder),
            "--from",
            "1999",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "no migration with version 1999" in bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.mark.parametrize("on_failure", ["rollback", "stop"])
def test_a_failing_migration_stops_the_chain_and_the_applied_ones_roll_back(
    tmp_path: Path, work_root: Path, on_failure: str
) -> None:
    folder = _write(tmp_path / "migrations", "golang-migrate")
    (folder / "20240303_email_index.up.sql").write_text("ALTER TABLE members ADD oops nope;\n")
    path = _scenario(tmp_path, f"  dir: migrations\n  from: 20240101\n  on_failure: {on_failure}\n")
    result = rehearse(load_scenario(path), report_dir=None)
    assert result.outcome == "failed"
    failed = result.failed_statement
    assert failed is not None and failed.file is not None
    assert failed.file.name == "20240303_email_index.up.sql"
    downs = result.statements_of("down")
    if on_failure == "rollback":
        # the one migration applied before the failure is rolled back, and that restores
        assert [s.file.name for s in downs if s.file] == ["20240202_nickname.down.sql"]
        assert result.roundtrip is not None and result.roundtrip.status == "passed"
    else:
        assert downs == []
        assert result.roundtrip is not None and result.roundtrip.status == "skipped"


def test_a_sqitch_verify_script_that_fails_fails_its_change_which_is_reverted(
    tmp_path: Path, work_root: Path
) -> None:
    folder = _write(tmp_path / "migrations", "sqitch")
    # the index change "verifies" a column that no change created
    (folder / "verify" / "20240303.sql").write_text(
        "BEGIN;\nSELECT missing_column FROM members WHERE false;\nROLLBACK;\n"
    )
    path = _scenario(tmp_path, "  dir: migrations\n  from: 20240101\n")
    result = rehearse(load_scenario(path), report_dir=None)
    assert result.outcome == "failed"
    failed = result.failed_statement
    assert failed is not None and failed.file is not None
    assert (failed.file.parent.name, failed.file.name) == ("verify", "20240303.sql")
    assert failed.error is not None and "missing_column" in failed.error.message
    ran = [
        s.file.parent.name + "/" + s.file.name
        for s in result.statements_of("up")
        if s.file and s.status != "not_run"
    ]
    assert "verify/20240202.sql" in ran  # the passing check of the change before it ran too
    assert "deploy/20240404.sql" not in ran  # the chain stopped at the failing check
    # the deployed change whose check failed is reverted, then the one before it
    downs = [s.file.parent.name + "/" + s.file.name for s in result.statements_of("down") if s.file]
    assert downs == ["revert/20240303.sql", "revert/20240202.sql"]
    assert result.roundtrip is not None and result.roundtrip.status == "passed"


def test_a_step_whose_down_is_wrong_is_named_even_when_later_downs_hide_it(
    tmp_path: Path, work_root: Path
) -> None:
    folder = _write(tmp_path / "migrations", "golang-migrate")
    (folder / "20240202_nickname.down.sql").write_text("SELECT 1;\n")  # forgets the column
    (tmp_path / "schema.sql").write_text("CREATE TABLE audit (id int);\n")
    path = tmp_path / "scenario.yaml"
    path.write_text(
        "version: 1\nname: steps\nschema: schema.sql\n"
        "data: {tables: {audit: {rows: 10}}}\n"
        "migration: {dir: migrations, to: 20240202}\n"
    )
    result = rehearse(load_scenario(path), report_dir=None)
    # the first migration's down drops the whole table, so the chain as a whole looks restored
    assert result.roundtrip is not None and result.roundtrip.status == "failed"
    [difference] = result.roundtrip.failing
    assert difference.object == "step 20240202_nickname"
    assert "nickname" in str(difference.after)
    assert result.step_roundtrips["20240101_members"] == []
    assert any("nickname" in d for d in result.step_roundtrips["20240202_nickname"])


def test_a_step_whose_down_loses_data_is_named_even_when_later_downs_hide_it(
    tmp_path: Path, work_root: Path
) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "1_notes.up.sql").write_text(
        "CREATE TABLE notes (id int PRIMARY KEY, body text);\n"
        "INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, 50) g;\n"
    )
    (folder / "1_notes.down.sql").write_text("DROP TABLE notes;\n")
    (folder / "2_shout.up.sql").write_text("UPDATE notes SET body = upper(body);\n")
    (folder / "2_shout.down.sql").write_text("SELECT 1;\n")  # does not lower them back
    (tmp_path / "schema.sql").write_text("CREATE TABLE audit (id int);\n")
    path = tmp_path / "scenario.yaml"
    path.write_text(
        "version: 1\nname: steps\nschema: schema.sql\n"
        "data: {tables: {audit: {rows: 10}}}\n"
        "migration: {dir: migrations, tool: golang-migrate}\n"
    )
    result = rehearse(load_scenario(path), report_dir=None)
    # the table goes with the first migration's down: the chain as a whole looks restored
    assert result.roundtrip is not None and result.roundtrip.status == "failed"
    [difference] = result.roundtrip.failing
    assert difference.object == "step 2_shout"
    assert "data notes" in str(difference.after)
    assert result.step_roundtrips["1_notes"] == []
    assert any(d.startswith("data notes") for d in result.step_roundtrips["2_shout"])


def test_a_liquibase_changeset_without_rollback_has_no_down(tmp_path: Path) -> None:
    folder = tmp_path / "changelog"
    folder.mkdir()
    (folder / "001-people.sql").write_text(
        "--liquibase formatted sql\n\n"
        "--changeset ann:1\nCREATE TABLE people (id int);\n--rollback DROP TABLE people;\n\n"
        "--changeset ann:2\nALTER TABLE people ADD COLUMN nick text;\n\n"
        "--changeset bob:3\nSELECT 1;\n--rollback not required\n"
    )
    found = read_folder(folder)
    assert found.tool == "liquibase"
    assert [(m.version, m.down is not None) for m in found.migrations] == [
        ("ann:1", True),
        ("ann:2", False),  # raw SQL Liquibase cannot invert either
        ("bob:3", True),
    ]
    assert found.migrations[2].down is not None and found.migrations[2].down.text.strip() == ""
    chain = build_chain(found, "ann:1", "head")
    assert chain.down is None and chain.down_missing == "liquibase: no down for ann:2"
    assert [s.line for s in statements_of(chain.up)] == [8, 11]  # where each statement is


def test_a_migrations_copy_from_stdin_loads_the_rows_after_it(
    tmp_path: Path, work_root: Path
) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "20240101_members.sql").write_text(
        f"-- migrate:up\n{STEPS[0][0]}\n\n-- migrate:down\n{STEPS[0][1]}\n"
    )
    (folder / "20240202_sizes.sql").write_text(
        "-- migrate:up\nCREATE TABLE sizes (id int PRIMARY KEY, label text);\n"
        "COPY sizes (id, label) FROM stdin;\n1\tsmall\n2\tlarge; still a row\n\\.\n"
        "COPY (SELECT count(*) FROM sizes) TO STDOUT;\n"
        # the server itself says whether the two rows and their text arrived
        "DO $$ BEGIN IF (SELECT string_agg(label, '|' ORDER BY id) FROM sizes)\n"
        "  IS DISTINCT FROM 'small|large; still a row' THEN RAISE 'rows lost'; END IF; END $$;\n\n"
        "-- migrate:down\nDROP TABLE sizes;\n"
    )
    path = _scenario(tmp_path, "  dir: migrations\n  from: 20240101\n")
    result = rehearse(load_scenario(path), report_dir=None)
    assert result.passed, result.failure
    ups = result.statements_of("up")
    assert [(s.line, s.sql.split()[0]) for s in ups] == [
        (2, "CREATE"),
        (3, "COPY"),
        (7, "COPY"),
        (8, "DO"),
    ]
    assert result.roundtrip is not None and result.roundtrip.status == "passed"


def test_a_statement_its_tool_keeps_in_a_transaction_fails_as_in_production(
    tmp_path: Path, work_root: Path
) -> None:
    """goose wraps a migration without `NO TRANSACTION` in a transaction, and golang-migrate
    sends a file of several statements as one query: CREATE INDEX CONCURRENTLY fails there
    in production, so it fails here too, saying what to write. Alone in its file, sent by
    golang-migrate, it runs."""
    goose = tmp_path / "goose"
    goose.mkdir()
    (goose / "00001_members.sql").write_text(
        f"-- +goose Up\n{STEPS[0][0]}\n-- +goose Down\n{STEPS[0][1]}\n"
    )
    (goose / "00002_index.sql").write_text(
        f"-- +goose Up\n{STEPS[2][0]}\n-- +goose Down\n{STEPS[2][1]}\n"
    )
    result = rehearse(
        load_scenario(_scenario(tmp_path, "  dir: goose\n  from: '00001'\n")), report_dir=None
    )
    assert not result.passed
    [failed] = [s for s in result.statements_of("up") if s.status == "error"]
    assert failed.error is not None and failed.error.sqlstate == "25001"
    assert failed.error.hint is not None and "-- +goose NO TRANSACTION" in failed.error.hint
    assert result.failure is not None and "hint: goose runs this migration" in result.failure

    together = tmp_path / "together"
    together.mkdir()
    (together / "1_members.up.sql").write_text(STEPS[0][0] + "\n")
    (together / "1_members.down.sql").write_text(STEPS[0][1] + "\n")
    (together / "2_nick.up.sql").write_text(STEPS[1][0] + "\n" + STEPS[2][0] + "\n")
    (together / "2_nick.down.sql").write_text(STEPS[2][1] + "\n" + STEPS[1][1] + "\n")
    path = _scenario(tmp_path, "  dir: together\n  from: '1'\n")
    result = rehearse(load_scenario(path), report_dir=None)
    assert not result.passed
    assert result.failure is not None and "give this statement a migration of its own" in (
        result.failure
    )
    (together / "2_nick.up.sql").write_text(STEPS[1][0] + "\n")
    (together / "2_nick.down.sql").write_text(STEPS[1][1] + "\n")
    (together / "3_index.up.sql").write_text(STEPS[2][0] + "\n")
    (together / "3_index.down.sql").write_text(STEPS[2][1] + "\n")
    result = rehearse(load_scenario(path), report_dir=None)
    assert result.passed, result.failure
    assert [s.in_transaction for s in result.statements_of("up")] == [True, False]
