"""psql's meta-commands in a migration script, done as psql does them."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgrehearse import rehearse
from pgrehearse.errors import ExitCode, InputError
from pgrehearse.migration import split_statements
from pgrehearse.psql import PsqlCommandError
from pgrehearse.rehearsal.cache import snapshot_key
from pgrehearse.rehearsal.steps import statements_of
from pgrehearse.scenario import load_scenario
from tests.helpers import run_cli

SCRIPT = r"""\set ON_ERROR_STOP on
\set tbl audit
\set who 'O''Brien \\ x'
CREATE TABLE :tbl (id int, note text DEFAULT ':tbl', at text, n int);
-- a comment with :tbl and a \backslash
SELECT 'a\b', E'c\'d', $$ \echo :tbl $$, $f$ :tbl $f$, arr[1:2], now()::date /* :tbl */;
\echo creating the rest
\ir parts/more.sql
COPY lookup (a, b) FROM stdin;
1	\N
2	x\ty
\.
SELECT 1
\g
"""


def _script(folder: Path, text: str = SCRIPT) -> Path:
    (folder / "parts").mkdir(exist_ok=True)
    (folder / "parts" / "more.sql").write_text(
        "-- included\nCREATE TABLE :\"tbl\"_x (id int);\nINSERT INTO log VALUES (:'who');\n"
    )
    path = folder / "up.sql"
    path.write_text(text)
    return path


def test_variables_includes_and_quiet_commands_give_the_sql_psql_sends(tmp_path: Path) -> None:
    path = _script(tmp_path)
    statements = split_statements(path.read_text(), file=path)
    assert [(s.index, s.file.name if s.file else None, s.line, s.sql) for s in statements] == [
        (1, "up.sql", 4, "CREATE TABLE audit (id int, note text DEFAULT ':tbl', at text, n int)"),
        (
            2,
            "up.sql",
            6,
            r"SELECT 'a\b', E'c\'d', $$ \echo :tbl $$, $f$ :tbl $f$, arr[1:2], now()::date "
            "/* :tbl */",
        ),
        (3, "more.sql", 2, 'CREATE TABLE "audit"_x (id int)'),
        (4, "more.sql", 3, r"INSERT INTO log VALUES (E'O''Brien \\ x')"),
        (5, "up.sql", 9, "COPY lookup (a, b) FROM stdin"),
        (6, "up.sql", 13, "SELECT 1"),
    ]
    assert statements[4].copy_rows == "1\t\\N\n2\tx\\ty\n"


def test_a_script_without_meta_commands_is_split_as_it_was(tmp_path: Path) -> None:
    text = "SELECT ':not_a_variable';\nSELECT 1;\n"
    assert [s.sql for s in split_statements(text)] == ["SELECT ':not_a_variable'", "SELECT 1"]


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ("\\connect other", "\\connect"),
        ("\\copy t FROM stdin", "FROM stdin"),
        ("SELECT format('CREATE TABLE t%s ()', g) FROM generate_series(1, 3)\n\\gexec", "\\gexec"),
        ("\\set now `date`", "backquotes"),
        ("\\i missing.sql", "missing.sql"),
    ],
)
def test_a_command_that_cannot_be_rehearsed_is_an_error_at_its_line(
    tmp_path: Path, line: str, named: str
) -> None:
    path = _script(tmp_path, "SELECT 1;\n\n" + line + "\nSELECT 2;\n")
    with pytest.raises(PsqlCommandError) as failure:
        split_statements(path.read_text(), file=path)
    (problem,) = failure.value.problems
    assert named in problem.message
    assert problem.file == path
    assert problem.line == 3 + line.count("\n")
    assert problem.hint


def test_an_include_of_itself_stops(tmp_path: Path) -> None:
    path = tmp_path / "loop.sql"
    path.write_text("SELECT 1;\n\\ir loop.sql\n")
    with pytest.raises(PsqlCommandError, match="nested more than"):
        split_statements(path.read_text(), file=path)


SCENARIO = """version: 1
name: psql
schema: CREATE TABLE members (id int PRIMARY KEY, name text NOT NULL);
data: {tables: {members: {rows: 2000}}}
migration: {up: up.sql, down: down.sql}
"""


def test_validate_names_the_line_of_a_command_that_cannot_be_rehearsed(tmp_path: Path) -> None:
    (tmp_path / "scenario.yaml").write_text(SCENARIO)
    (tmp_path / "up.sql").write_text("SELECT 1;\n\\copy members FROM program 'cat x' CSV\n")
    (tmp_path / "down.sql").write_text("SELECT 1;\n")
    with pytest.raises(InputError):
        load_scenario(tmp_path)
    shown = run_cli("validate", str(tmp_path))
    assert shown.returncode == ExitCode.INVALID_INPUT, shown.stdout + shown.stderr
    assert "up.sql:2" in shown.stdout + shown.stderr
    assert "Traceback" not in shown.stderr


def test_a_psql_script_rehearses_as_psql_would_run_it(tmp_path: Path, work_root: Path) -> None:
    (tmp_path / "scenario.yaml").write_text(SCENARIO)
    (tmp_path / "parts").mkdir()
    (tmp_path / "up.sql").write_text(
        "\\set ON_ERROR_STOP on\n\\set col nickname\n"
        "ALTER TABLE members ADD COLUMN :\"col\" text DEFAULT :'col';\n"
        "\\echo indexing\n\\ir parts/index.sql\n"
        "CREATE TABLE sizes (id int PRIMARY KEY, label text);\n"
        "\\copy sizes (id, label) FROM 'parts/sizes.csv' WITH (FORMAT csv)\n"
        # the server itself says whether the rows arrived, quoted comma and all
        "DO $$ BEGIN IF (SELECT string_agg(label, '|' ORDER BY id) FROM sizes)\n"
        "  IS DISTINCT FROM 'small|large, very' THEN RAISE 'rows lost'; END IF; END $$;\n"
        "\\copy (SELECT * FROM sizes) TO 'sizes-out.csv' CSV\n"
    )
    (tmp_path / "parts" / "sizes.csv").write_text('1,small\n2,"large, very"\n')
    (tmp_path / "parts" / "index.sql").write_text(
        'CREATE INDEX members_nick ON members (:"col");\n'
    )
    (tmp_path / "down.sql").write_text(
        "DROP TABLE sizes;\n"
        '\\set col nickname\nDROP INDEX members_nick;\nALTER TABLE members DROP COLUMN :"col";\n'
    )
    result = rehearse(load_scenario(tmp_path), report_dir=None)
    assert result.passed, result.failure
    assert [(s.file.name if s.file else None, s.line) for s in result.statements_of("up")] == [
        ("up.sql", 3),
        ("index.sql", 1),
        ("up.sql", 6),
        ("up.sql", 7),  # \copy: its COPY, the file's rows with it
        ("up.sql", 8),
        ("up.sql", 10),
    ]
    assert not (tmp_path / "sizes-out.csv").exists()  # a COPY TO's output is dropped
    assert "DEFAULT 'nickname'" in result.statements_of("up")[0].sql
    assert result.roundtrip is not None and result.roundtrip.status == "passed"


def test_sqitch_scripts_get_the_variables_of_sqitch_conf_baseline_included(
    tmp_path: Path, work_root: Path
) -> None:
    project = tmp_path / "db"
    for kind in ("deploy", "revert", "verify"):
        (project / kind).mkdir(parents=True)
    (project / "sqitch.conf").write_text(
        '[core]\n\tengine = pg\n[core "variables"]\n\tschema = shop\n\tcol = unused\n'
        '[deploy "variables"]\n\tcol = nickname\n[revert "variables"]\n\tcol = nickname\n'
    )
    (project / "sqitch.plan").write_text(
        "%syntax-version=1.0.0\n%project=shop\n\n"
        "schema 2024-01-01T00:00:00Z Ann <ann@example.org> # the schema\n"
        "nick 2024-02-02T00:00:00Z Ann <ann@example.org> # a nickname\n"
    )
    (project / "deploy" / "schema.sql").write_text(
        'BEGIN;\nCREATE SCHEMA :"schema";\n'
        'CREATE TABLE :"schema".members (id int PRIMARY KEY, name text NOT NULL);\nCOMMIT;\n'
    )
    (project / "deploy" / "nick.sql").write_text(
        "-- Deploy shop:nick to pg\n\\set ON_ERROR_STOP on\nBEGIN;\n"
        'ALTER TABLE :"schema".members ADD COLUMN :"col" text DEFAULT :\'col\';\nCOMMIT;\n'
    )
    (project / "revert" / "nick.sql").write_text(
        'BEGIN;\nALTER TABLE :"schema".members DROP COLUMN :"col";\nCOMMIT;\n'
    )
    (project / "verify" / "nick.sql").write_text(
        'SELECT :"col" FROM :"schema".members WHERE false;\n'
    )
    (tmp_path / "scenario.yaml").write_text(
        "version: 1\nname: sqitch-vars\n"
        "data: {tables: {shop.members: {rows: 2000}}}\n"
        "migration: {dir: db, from: schema}\n"
    )
    result = rehearse(load_scenario(tmp_path), report_dir=None)
    assert result.passed, result.failure
    ups = result.statements_of("up")
    assert 'ALTER TABLE "shop".members ADD COLUMN "nickname" text DEFAULT \'nickname\'' in [
        s.sql for s in ups
    ]
    assert result.roundtrip is not None and result.roundtrip.status == "passed"


def _sqitch(project: Path, variable: str, **deploys: str) -> Path:
    """A sqitch project whose `sqitch.conf` sets `schema` to `variable`, with these changes
    (deploy scripts) in order."""
    (project / "deploy").mkdir(parents=True)
    (project / "sqitch.conf").write_text(f'[core "variables"]\n\tschema = {variable}\n')
    plan = "".join(f"{c} 2024-01-01T00:00:00Z Ann <a@b.org> # {c}\n" for c in deploys)
    (project / "sqitch.plan").write_text("%project=shop\n\n" + plan)
    for change, sql in deploys.items():
        (project / "deploy" / f"{change}.sql").write_text(sql)
    return project


def test_a_changed_sqitch_variable_or_included_file_is_another_snapshot(tmp_path: Path) -> None:
    project = _sqitch(
        tmp_path / "db",
        "shop",
        base='CREATE SCHEMA :"schema";\n\\ir tables.sql\n',
        more='ALTER TABLE :"schema".members ADD x int;\n',
    )
    (project / "deploy" / "tables.sql").write_text('CREATE TABLE :"schema".members (id int);\n')
    (tmp_path / "scenario.yaml").write_text(
        "version: 1\nname: keyed\ndata: {tables: {shop.members: {rows: 10}}}\n"
        "migration: {dir: db, from: base}\n"
    )

    def key() -> str:
        return snapshot_key(load_scenario(tmp_path), scale=1.0, major=15)

    first = key()
    assert key() == first  # stable
    (project / "deploy" / "tables.sql").write_text(
        'CREATE TABLE :"schema".members (id int, name text);\n'
    )
    second = key()
    assert second != first  # the included file changed
    (project / "sqitch.conf").write_text('[core "variables"]\n\tschema = store\n')
    assert key() != second  # the variable changed


def test_the_scenarios_variables_are_set_as_psql_v_sets_them_over_sqitch_confs(
    tmp_path: Path,
) -> None:
    (tmp_path / "up.sql").write_text('ALTER TABLE members ADD COLUMN :"col" text;\n')
    (tmp_path / "down.sql").write_text('ALTER TABLE members DROP COLUMN :"col";\n')
    (tmp_path / "scenario.yaml").write_text(
        SCENARIO.replace(
            "migration: {up: up.sql, down: down.sql}",
            "migration: {up: up.sql, down: down.sql, variables: {col: nickname, n: 3}}",
        )
    )
    migration = load_scenario(tmp_path).migration
    assert migration.variables == {"col": "nickname", "n": "3"}
    up, down = (statements_of(s) for s in (migration.up_script, migration.down_script) if s)
    assert [s.sql for s in up] == ['ALTER TABLE members ADD COLUMN "nickname" text']
    assert [s.sql for s in down] == ['ALTER TABLE members DROP COLUMN "nickname"']

    _sqitch(
        tmp_path / "db",
        "from_conf",
        base='CREATE SCHEMA :"schema";\n',
        more='CREATE TABLE :"schema".t (id int);\n',
    )
    (tmp_path / "scenario.yaml").write_text(
        "version: 1\nname: vars\ndata: {tables: {}}\n"
        "migration: {dir: db, from: base, variables: {schema: shop}}\n"
    )
    scenario = load_scenario(tmp_path)
    assert [s.sql for s in statements_of(scenario.migration.up_script)] == [
        'CREATE TABLE "shop".t (id int)'
    ]
    baseline = scenario.schema_sql
    assert baseline is not None and baseline.parts[0].variables == (
        ("registry", "sqitch"),
        ("schema", "shop"),
    )
