"""The SQL migrations of node-pg-migrate, postgrator, db-migrate and Play: numbered like
ups-only files, each read with its own marks (read as `sql-files`, a file's down ran right
after its up)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgrehearse import load_scenario, rehearse
from pgrehearse.errors import ScenarioError
from pgrehearse.rehearsal.steps import statements_of
from pgrehearse.tools import build_chain, detect, read_folder

# a function whose body holds `;`: Play writes it `;;`
PLAY_FUNCTION = (
    "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN NEW.changed_at := now();; RETURN NEW;; END $$;"
)


def _play_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "1.sql").write_text(
        "# Notes schema\n\n# --- !Ups\nCREATE TABLE notes (id bigint PRIMARY KEY, body text);\n"
        "\n# --- !Downs\nDROP TABLE notes;\n"
    )
    (folder / "2.sql").write_text(
        "# --- !Ups\nALTER TABLE notes ADD COLUMN changed_at timestamptz;\n"
        f"{PLAY_FUNCTION}\n\n# --- !Downs\nDROP FUNCTION touch();\n"
        "ALTER TABLE notes DROP COLUMN changed_at;\n"
    )
    (folder / "10.sql").write_text(
        "-- --- !Ups\nCREATE INDEX notes_changed ON notes (changed_at);\n"
        "-- --- !Downs\nDROP INDEX notes_changed;\n"
    )
    return folder


def test_play_evolutions_leave_out_their_header_and_unescape_semicolons(tmp_path: Path) -> None:
    folder = _play_folder(tmp_path / "evolutions" / "default")
    assert detect(folder) == "play"
    found = read_folder(folder)
    assert [m.version for m in found.migrations] == ["1", "2", "10"]  # 10 after 2
    chain = build_chain(found, "1", "head")
    ups = statements_of(chain.up)
    assert [s.sql.split()[0] for s in ups] == ["ALTER", "CREATE", "CREATE"]
    function = ups[1]
    assert "now();  RETURN NEW;  END" in function.sql  # one statement, unescaped in place
    assert function.file is not None and function.file.name == "2.sql"
    assert function.line == 3  # the line of the file, below `# --- !Ups`
    assert all(s.alone for s in ups)  # autocommit, as Play runs evolutions
    assert chain.down is not None
    assert [s.sql for s in statements_of(chain.down)] == [
        "DROP INDEX notes_changed",
        "DROP FUNCTION touch()",
        "ALTER TABLE notes DROP COLUMN changed_at",
    ]


def test_a_play_folder_rehearses_and_its_downs_restore_the_schema(
    tmp_path: Path, work_root: Path
) -> None:
    _play_folder(tmp_path / "conf" / "evolutions" / "default")
    path = tmp_path / "scenario.yaml"
    path.write_text(
        "version: 1\nname: play\ndata: {tables: {notes: {rows: 500}}}\n"
        "migration:\n  dir: conf/evolutions/default\n  from: '1'\n"
    )
    result = rehearse(load_scenario(path), report_dir=None)
    assert result.passed, result.failure
    ups = result.statements_of("up")
    assert [s.in_transaction for s in ups] == [False, False, False]
    assert result.roundtrip is not None and result.roundtrip.status == "passed"


def test_node_pg_migrate_sections_in_either_order_or_none(tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "1700000000000_first.sql").write_text(
        "-- Down Migration\nDROP TABLE a;\n-- Up Migration\nCREATE TABLE a (id int);\n"
    )
    (folder / "1700000000001_second.sql").write_text(
        "-- a note first\n--  up migration\nCREATE TABLE b (id int);\n"
    )
    (folder / "1700000000002_third.sql").write_text("CREATE TABLE c (id int);\n")
    assert detect(folder) == "node-pg-migrate"
    first, second, third = read_folder(folder).migrations
    assert first.up.text.split("\n")[1] == "CREATE TABLE a (id int);" and first.up.first_line == 3
    assert first.down is not None and "DROP TABLE a;" in first.down.text
    assert "CREATE TABLE a" not in first.down.text
    assert second.up.first_line == 2 and second.down is None  # no down: irreversible
    assert third.up.text == "CREATE TABLE c (id int);\n" and third.name == "third"


def test_sql_beside_javascript_migrations_names_the_command_instead(tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "1700000000000_first.sql").write_text("-- Up Migration\nCREATE TABLE a ();\n")
    (folder / "1700000000001_second.js").write_text("exports.up = (pgm) => {};\n")
    with pytest.raises(ValueError) as raised:
        read_folder(folder)
    message = str(raised.value)
    assert "1700000000001_second.js" in message
    assert "command: {up: npx node-pg-migrate up 1, down: npx node-pg-migrate down 1" in message


def test_postgrator_pairs_do_and_undo_and_names_an_undo_alone(tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "001.do.sql").write_text("CREATE TABLE a (id int);\n")
    (folder / "001.undo.sql").write_text("DROP TABLE a;\n")
    (folder / "002.do.add-b.sql").write_text("ALTER TABLE a ADD COLUMN b int;\n")
    (folder / "010.do.sql").write_text("ALTER TABLE a ADD COLUMN c int;\n")
    found = read_folder(folder)
    assert found.tool == "postgrator"
    assert [(m.version, m.name, m.down is not None) for m in found.migrations] == [
        ("001", "", True),
        ("002", "add-b", False),
        ("010", "", False),
    ]
    (folder / "011.undo.sql").write_text("SELECT 1;\n")
    with pytest.raises(
        ValueError, match=r"011\.undo\.sql: a down file with no up file of version 011"
    ):
        read_folder(folder)


def test_db_migrate_reads_its_sqls_folder_in_version_order(tmp_path: Path) -> None:
    sqls = tmp_path / "migrations" / "sqls"
    sqls.mkdir(parents=True)
    for version, name in (("20240202000000", "later"), ("20240101000000", "first-one")):
        (sqls / f"{version}-{name}-up.sql").write_text(f"SELECT '{name} up';\n")
        (sqls / f"{version}-{name}-down.sql").write_text(f"SELECT '{name} down';\n")
    for folder in (tmp_path / "migrations", sqls):
        found = read_folder(folder)
        assert found.tool == "db-migrate"
        assert [(m.version, m.name) for m in found.migrations] == [
            ("20240101000000", "first-one"),
            ("20240202000000", "later"),
        ]
        first = found.migrations[0]
        assert first.down is not None and first.down.text == "SELECT 'first-one down';\n"


def test_migrations_one_level_down_are_pointed_at(tmp_path: Path) -> None:
    # Hasura keeps a folder per database: migrations/default/<version>_<name>/up.sql
    step = tmp_path / "hasura" / "migrations" / "default" / "1700000000000_init"
    step.mkdir(parents=True)
    (step / "up.sql").write_text("CREATE TABLE a (id int);\n")
    (step / "down.sql").write_text("DROP TABLE a;\n")
    path = tmp_path / "scenario.yaml"
    path.write_text(
        "version: 1\nname: nested\ndata: {tables: {}}\nmigration:\n  dir: hasura/migrations\n"
    )
    with pytest.raises(ScenarioError) as raised:
        load_scenario(path)
    message = str(raised.value)
    assert "no migrations in it, but one level down" in message
    assert f"`dir: {step.parent.resolve()}` (dirs)" in message


def test_dbup_scripts_are_numbered_ups(tmp_path: Path) -> None:
    folder = tmp_path / "Scripts"
    folder.mkdir()
    (folder / "Script0002 - Add index.sql").write_text("CREATE INDEX a_id ON a (id);\n")
    (folder / "Script0001 - Create table.sql").write_text("CREATE TABLE a (id int);\n")
    found = read_folder(folder)
    assert found.tool == "sql-files"
    assert [(m.version, m.name) for m in found.migrations] == [
        ("0001", "Create table"),
        ("0002", "Add index"),
    ]
