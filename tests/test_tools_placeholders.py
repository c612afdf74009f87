"""Flyway's and MyBatis's `${…}` placeholders replaced as the tools replace them, Flyway's
per-script `.conf`, and a goose folder that also holds Go migrations."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgrehearse import load_scenario, rehearse
from pgrehearse.tools import detect, read_folder


def _flyway_folder(root: Path) -> Path:
    folder = root / "db" / "migration"
    folder.mkdir(parents=True)
    (folder / "V1__members.sql").write_text(
        "CREATE TABLE ${flyway:defaultSchema}.members (id bigint PRIMARY KEY, note text);\n"
    )
    (folder / "V2__audit.sql").write_text(
        "-- written for ${flyway:filename}\n"
        "CREATE TABLE ${audit_schema}.member_audit (id bigint, at timestamptz);\n"
    )
    (folder / "U2__audit.sql").write_text("DROP TABLE ${audit_schema}.member_audit;\n")
    (folder / "V3__index.sql").write_text(
        "CREATE INDEX CONCURRENTLY members_note ON members (note);\n"
    )
    (folder / "V3__index.sql.conf").write_text(
        "# Flyway's per-script settings\nexecuteInTransaction=false\n"
    )
    (folder / "U3__index.sql").write_text("DROP INDEX members_note;\n")
    return folder


def test_flyway_placeholders_come_from_its_configuration_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _flyway_folder(tmp_path)
    (tmp_path / "flyway.conf").write_text(
        "flyway.placeholders.audit_schema = far_away\nflyway.defaultSchema=app\n"
    )
    # the nearer file wins, and the environment over both
    (tmp_path / "db" / "flyway.toml").write_text('[flyway.placeholders]\naudit_schema = "near"\n')
    found = read_folder(folder)
    assert found.tool == "flyway"
    first, second, third = found.migrations
    assert first.up.text.startswith("CREATE TABLE app.members")
    assert "-- written for V2__audit.sql\nCREATE TABLE near.member_audit" in second.up.text
    assert second.down is not None and second.down.text == "DROP TABLE near.member_audit;\n"
    assert first.up.transactional and not third.up.transactional  # its own .conf
    monkeypatch.setenv("FLYWAY_PLACEHOLDERS_AUDIT_SCHEMA", "from_env")
    assert "from_env.member_audit" in read_folder(folder).migrations[1].up.text


def test_a_flyway_placeholder_without_a_value_is_named_at_its_line(tmp_path: Path) -> None:
    folder = _flyway_folder(tmp_path)
    with pytest.raises(ValueError) as raised:
        read_folder(folder)
    message = str(raised.value)
    assert (
        f"{folder / 'V2__audit.sql'}:2: no value for the placeholder ${{audit_schema}}" in message
    )
    assert "flyway.placeholders.audit_schema" in message
    assert "FLYWAY_PLACEHOLDERS_AUDIT_SCHEMA" in message
    # with replacement turned off, Flyway sends the text as it is
    (tmp_path / "flyway.conf").write_text("flyway.placeholderReplacement=false\n")
    assert "${audit_schema}" in read_folder(folder).migrations[1].up.text


def test_a_flyway_chain_with_placeholders_rehearses(tmp_path: Path, work_root: Path) -> None:
    _flyway_folder(tmp_path)
    (tmp_path / "flyway.toml").write_text(
        '[environments.default.flyway.placeholders]\naudit_schema = "public"\n'
    )
    path = tmp_path / "scenario.yaml"
    path.write_text(
        "version: 1\nname: flyway\ndata: {tables: {members: {rows: 300}}}\n"
        "migration:\n  dir: db/migration\n  from: '1'\n"
    )
    result = rehearse(load_scenario(path), report_dir=None)
    assert result.passed, result.failure
    assert [s.in_transaction for s in result.statements_of("up")] == [True, False]
    assert result.roundtrip is not None and result.roundtrip.status == "passed"


def test_mybatis_replaces_its_properties_and_splits_at_undo(tmp_path: Path) -> None:
    project = tmp_path / "db"
    (project / "scripts").mkdir(parents=True)
    (project / "environments").mkdir()
    (project / "environments" / "development.properties").write_text(
        "# MyBatis settings\nschema_owner=app_owner\n"
    )
    (project / "scripts" / "20240101000000_create_changelog.sql").write_text(
        "-- // create changelog\nCREATE TABLE ${changelog} (id numeric(20,0));\n"
        "-- //@UNDO\nDROP TABLE ${changelog};\n"
    )
    (project / "scripts" / "20240202000000_members.sql").write_text(
        "CREATE TABLE members (id int);\nALTER TABLE members OWNER TO ${schema_owner};\n"
    )
    for folder in (project, project / "scripts"):
        assert detect(folder) == "mybatis"
        first, second = read_folder(folder).migrations
        assert first.up.text.endswith("CREATE TABLE CHANGELOG (id numeric(20,0));")
        assert first.down is not None and first.down.text.startswith("DROP TABLE CHANGELOG;")
        assert first.down.first_line == 4
        assert "OWNER TO app_owner;" in second.up.text and second.down is None
    (project / "scripts" / "20240303000000_more.sql").write_text("\n\nSELECT '${nowhere}';\n")
    with pytest.raises(ValueError, match=r"20240303000000_more\.sql:3: no value .*\$\{nowhere\}"):
        read_folder(project)


def test_goose_sql_beside_go_migrations_names_the_command_instead(tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "00001_members.sql").write_text("-- +goose Up\nCREATE TABLE m ();\n")
    (folder / "00002_backfill.go").write_text("package migrations\n")
    (folder / "helpers_test.go").write_text("package migrations\n")
    with pytest.raises(ValueError) as raised:
        read_folder(folder)
    message = str(raised.value)
    assert "goose migrations in Go (00002_backfill.go)" in message
    assert "command: {up: <your goose binary> up" in message
    sql_only = tmp_path / "sql_only"
    sql_only.mkdir()
    (sql_only / "00001_members.sql").write_text("-- +goose Up\nCREATE TABLE m ();\n")
    (sql_only / "helpers_test.go").write_text("package migrations\n")  # a test, not a step
    assert [m.version for m in read_folder(sql_only).migrations] == ["00001"]
