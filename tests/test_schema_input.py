"""Schemas as teams have them: SQL files in order, and pg_dump output in every format, with
the roles a dump of production names."""

from __future__ import annotations

import gzip
import itertools
import shutil
import subprocess
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pgrehearse import load_scenario, rehearse
from pgrehearse.backends import LocalBackend, LocalServer, PostgresBinaries
from pgrehearse.backends.settings import rehearsal_settings
from pgrehearse.errors import ScenarioError
from pgrehearse.migration import split_statements
from pgrehearse.scenario import archive_format
from pgrehearse.schema import archive_sql, plain_sql, role_created, roles_named
from tests.helpers import ProbingBackend, seeding_scenario

# our own small lending library: an enum, identity keys, a foreign key, a trigger function,
# a view, comments, and owners and grants on roles a throwaway server does not have
LIBRARY = """
CREATE TYPE loan_state AS ENUM ('open', 'returned', 'lost');
CREATE TABLE members (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text NOT NULL UNIQUE,
    joined_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE loans (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    member_id bigint NOT NULL REFERENCES members (id),
    state loan_state NOT NULL DEFAULT 'open',
    due date
);
CREATE INDEX loans_member ON loans (member_id);
CREATE FUNCTION loans_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RETURN NEW;
END
$$;
CREATE TRIGGER loans_touch BEFORE UPDATE ON loans FOR EACH ROW EXECUTE FUNCTION loans_touch();
CREATE VIEW open_loans AS SELECT * FROM loans WHERE state = 'open';
COMMENT ON TABLE members IS 'people who borrow';
ALTER TABLE members OWNER TO library_owner;
ALTER TABLE loans OWNER TO library_owner;
GRANT SELECT ON members, loans TO library_reader;
"""

ROLES = ["library_owner", "library_reader"]

SCENARIO = """\
version: 1
name: library
schema: {schema}
data:
  seed: 3
  tables:
    members: {{rows: 200}}
    loans: {{rows: 500}}
migration:
  up: ALTER TABLE loans ADD COLUMN note text;
  down: ALTER TABLE loans DROP COLUMN note;
"""

_databases = itertools.count()


@pytest.fixture(scope="module")
def server(pg_binaries: PostgresBinaries) -> Iterator[LocalServer]:
    root = Path(tempfile.mkdtemp(prefix="pgrehearse-test-"))
    root.chmod(0o755)
    started = LocalBackend(pg_binaries, work_root=root).start(rehearsal_settings({}))
    try:
        with psycopg.connect(**started.connect_kwargs("postgres", "t"), autocommit=True) as c:
            for role in ROLES:
                c.execute(f"CREATE ROLE {role} NOLOGIN")
        yield started
    finally:
        started.close()
        shutil.rmtree(root, ignore_errors=True)


def _dump(server: LocalServer, folder: Path, fmt: str) -> Path:
    """A real pg_dump --schema-only of the library, in format `fmt`."""
    name = f"library{next(_databases)}"
    with psycopg.connect(**server.connect_kwargs("postgres", "t"), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    with psycopg.connect(**server.connect_kwargs(name, "t"), autocommit=True) as conn:
        for statement in split_statements(LIBRARY):
            conn.execute(statement.sql)
    target = folder / {"plain": "prod.sql", "custom": "prod.dump", "tar": "prod.tar"}.get(
        fmt, "prod_dir"
    )
    subprocess.run(
        [
            str(server.client_program("pg_dump")),
            "--schema-only",
            f"--format={fmt}",
            f"--file={target}",
            name,
        ],
        env=server.client_env(name),
        check=True,
        capture_output=True,
    )
    return target


def _scenario(folder: Path, schema: str) -> Path:
    path = folder / "scenario.yaml"
    path.write_text(SCENARIO.format(schema=schema))
    return path


# --------------------------------------------------------------------------- pure


def test_psql_meta_commands_and_copy_rows_are_blanked_line_for_line() -> None:
    text = textwrap.dedent(
        """\
        \\restrict AbC123
        SET statement_timeout = 0;
        CREATE SCHEMA public;
        CREATE TABLE t (a int);
        COPY public.t (a) FROM stdin;
        1
        2
        \\.
        \\connect other
        CREATE INDEX t_a ON t (a);
        \\unrestrict AbC123
        """
    )
    plain = plain_sql(text)
    lines = plain.text.split("\n")
    assert len(lines) == len(text.split("\n"))
    assert lines[9] == "CREATE INDEX t_a ON t (a);"  # still on line 10
    assert lines[2] == "CREATE SCHEMA IF NOT EXISTS public;"
    assert not any(line.startswith("\\") or line in ("1", "2") for line in lines)
    assert plain.meta_commands == ["\\restrict", "\\connect", "\\unrestrict"]
    assert plain.data_tables == ["public.t"]
    assert [s.line for s in split_statements(plain.text)] == [2, 3, 4, 10]


def test_roles_are_found_wherever_a_statement_names_one() -> None:
    statements = [
        "ALTER TABLE public.t OWNER TO app_owner",
        "GRANT SELECT ON t TO reader, PUBLIC",
        'CREATE POLICY p ON t TO "Odd Role" USING (true)',
        "CREATE SCHEMA s AUTHORIZATION schema_owner",
        "SET SESSION AUTHORIZATION 'dumper'",
        "ALTER DEFAULT PRIVILEGES FOR ROLE deployer GRANT SELECT ON TABLES TO pg_read_all_data",
        "GRANT app_admin TO member_role",
        "REVOKE ALL ON SCHEMA public FROM PUBLIC",
        "CREATE TABLE owner_to_nobody (a int)",
    ]
    assert roles_named(statements) == [
        "app_owner",
        "reader",
        "Odd Role",
        "schema_owner",
        "dumper",
        "deployer",
        "app_admin",
        "member_role",
    ]


def test_roles_a_schema_creates_itself_are_told_apart() -> None:
    assert role_created("CREATE ROLE App_User NOLOGIN") == "app_user"
    assert role_created('  create user "Odd ""Role""" WITH LOGIN') == 'Odd "Role"'
    assert role_created("CREATE GROUP readers") == "readers"
    assert role_created("CREATE TABLE role_t (a int)") is None
    assert role_created("ALTER ROLE postgres WITH SUPERUSER") is None


def test_schema_files_are_read_in_order_and_bad_ones_named(tmp_path: Path) -> None:
    (tmp_path / "a.sql").write_text("CREATE TABLE a (id int);\n")
    (tmp_path / "b.ddl").write_text("CREATE TABLE b (id int);\n")
    scenario = load_scenario(_scenario(tmp_path, "[a.sql, b.ddl]"))
    assert scenario.schema_sql is not None
    assert [p.origin.name for p in scenario.schema_sql.parts if p.origin] == ["a.sql", "b.ddl"]
    # a file named without .sql is still a file, not SQL
    scenario = load_scenario(_scenario(tmp_path, "b.ddl"))
    assert scenario.schema_sql is not None and "CREATE TABLE b" in scenario.schema_sql.text

    (tmp_path / "prod.sql.gz").write_bytes(gzip.compress(b"CREATE TABLE c (id int);"))
    for schema, expected in (
        ("[a.sql, missing.sql]", "schema file not found"),
        ("prod.sql.gz", "gzip-compressed"),
        ("[]", "`files` is empty"),
    ):
        with pytest.raises(ScenarioError) as raised:
            load_scenario(_scenario(tmp_path, schema))
        [problem] = raised.value.problems
        assert expected in problem.message, problem.message
        assert problem.line == 3  # the schema: line
        assert "pydantic" not in str(raised.value).lower()


# --------------------------------------------------------------------------- real dumps


@pytest.mark.parametrize("fmt", ["custom", "directory", "tar"])
def test_every_archive_format_is_recognised_and_read_by_pg_restore(
    server: LocalServer, tmp_path: Path, fmt: str
) -> None:
    dump = _dump(server, tmp_path, fmt)
    assert archive_format(dump) == fmt
    sql = archive_sql(server.client_program("pg_restore"), server.client_env("postgres"), dump)
    assert "CREATE TABLE public.loans" in sql
    assert "OWNER TO library_owner" in sql
    scenario = load_scenario(_scenario(tmp_path, dump.name))
    assert scenario.schema_sql is not None
    [part] = scenario.schema_sql.parts
    assert part.archive == fmt and part.text == ""


@pytest.mark.parametrize("fmt", ["plain", "custom"])
def test_a_pg_dump_of_production_rehearses_as_it_is(
    server: LocalServer, tmp_path: Path, work_root: Path, fmt: str
) -> None:
    dump = _dump(server, tmp_path, fmt)
    if fmt == "plain":
        assert "\\restrict" in dump.read_text() or "SET " in dump.read_text()
    result = rehearse(load_scenario(_scenario(tmp_path, dump.name)), report_dir=None)
    assert result.passed, result.failure
    assert result.schema_input["roles_created"] == ROLES
    assert {t.table: t.rows for t in result.tables} == {"members": 200, "loans": 500}
    assert result.summary is not None
    assert result.summary["schema_input"]["roles_created"] == ROLES


def test_contrib_extensions_work_and_a_missing_one_is_named(
    tmp_path: Path, work_root: Path
) -> None:
    (tmp_path / "schema.sql").write_text(
        "CREATE EXTENSION IF NOT EXISTS citext;\n"
        "CREATE TABLE members (id int PRIMARY KEY, email citext NOT NULL);\n"
    )
    path = tmp_path / "scenario.yaml"
    path.write_text(
        "version: 1\nname: ext\nschema: schema.sql\n"
        "data: {tables: {members: {rows: 50}}}\n"
        "migration: {up: ALTER TABLE members ADD COLUMN note text;,"
        " down: ALTER TABLE members DROP COLUMN note;}\n"
    )
    result = rehearse(load_scenario(path), report_dir=None)
    assert result.passed, result.failure

    (tmp_path / "schema.sql").write_text(
        "CREATE TABLE members (id int PRIMARY KEY);\n"
        "CREATE EXTENSION IF NOT EXISTS no_such_vector_store;\n"
    )
    with pytest.raises(ScenarioError) as raised:
        rehearse(load_scenario(path), report_dir=None)
    [problem] = raised.value.problems
    assert "'no_such_vector_store'" in problem.message
    assert problem.file == tmp_path / "schema.sql" and problem.line == 2
    assert problem.hint is not None and "--pg-bin" in problem.hint and "--dsn" in problem.hint


def test_settings_and_the_version_a_dump_names_are_read() -> None:
    from pgrehearse.schema import dumped_from_major, unknown_setting

    known = {"statement_timeout", "search_path"}
    assert unknown_setting("SET transaction_timeout = 0", known) == "transaction_timeout"
    assert unknown_setting("SET SESSION Transaction_Timeout TO 0", known) == "transaction_timeout"
    assert unknown_setting("SELECT pg_catalog.set_config('no_such', '', false)", known) == (
        "no_such"
    )
    for statement in (
        "SET statement_timeout = 0",
        "SELECT pg_catalog.set_config('search_path', '', false)",
        "SET app.tenant = 'acme'",  # an application's own setting: every server takes it
        "SET ROLE admin",
        "SET TIME ZONE 'UTC'",
        "SELECT 1",
    ):
        assert unknown_setting(statement, known) is None, statement
    assert dumped_from_major("--\n-- Dumped from database version 17.2\n") == 17
    assert dumped_from_major("CREATE TABLE t (id int);") is None


# each statement fails on a server without the extension, which the error then names
FORGOTTEN_EXTENSIONS = [
    ("CREATE TABLE a (email citext)", "citext"),
    ("CREATE TABLE b (path public.ltree)", "ltree"),
    ("CREATE TABLE c (id uuid DEFAULT uuid_generate_v4())", "uuid-ossp"),
    ("CREATE TABLE d (pw text DEFAULT crypt('x', gen_salt('bf')))", "pgcrypto"),
    ("CREATE TABLE e (name text); CREATE INDEX ON e USING gin (name gin_trgm_ops)", "pg_trgm"),
    ("CREATE TABLE f (room int); CREATE INDEX ON f USING gist (room)", "btree_gist"),
    ("CREATE TABLE g (spot geometry(Point, 4326))", "postgis"),
    ("CREATE TABLE h (embedding vector(3))", "vector"),
    (
        "CREATE TEXT SEARCH CONFIGURATION plain (COPY = pg_catalog.english);"
        "ALTER TEXT SEARCH CONFIGURATION plain ALTER MAPPING FOR word WITH public.unaccent",
        "unaccent",
    ),
    ("CREATE TEXT SEARCH DICTIONARY syn (TEMPLATE = xsyn_template)", "dict_xsyn"),
    ("CREATE TABLE i (n int CHECK (n > 0))", None),  # fine: no extension involved
]


@pytest.mark.parametrize(("statement", "extension"), FORGOTTEN_EXTENSIONS)
def test_the_extension_a_schema_forgot_is_named_from_the_servers_error(
    server: LocalServer, statement: str, extension: str | None
) -> None:
    from pgrehearse.schema import forgotten_extension_hint

    with psycopg.connect(**server.connect_kwargs("postgres", "t")) as conn:
        try:
            conn.execute(statement)
            message = ""
        except psycopg.Error as exc:
            message = str(exc.diag.message_primary)
        conn.rollback()
    hint = forgotten_extension_hint(message)
    if extension is None:
        assert message == "" and hint is None
        return
    assert hint is not None, message
    assert f'CREATE EXTENSION IF NOT EXISTS "{extension}";' in hint
    assert ("--pg-bin" in hint) == (extension in ("postgis", "vector"))


def test_contrib_extensions_a_schema_uses_without_creating_them_are_created(
    tmp_path: Path, work_root: Path
) -> None:
    """A `pg_dump -n public` of production leaves its extensions out: the ones that come
    with PostgreSQL are created first, as production has them, and the plan says so."""
    from pgrehearse.rehearsal.plan import plan_seeding

    path = seeding_scenario(
        tmp_path,
        "SELECT pg_catalog.set_config('search_path', '', false);\n"
        "CREATE TABLE public.members (id uuid DEFAULT public.uuid_generate_v4() PRIMARY KEY,\n"
        "    email public.citext NOT NULL UNIQUE, name text NOT NULL);\n"
        "CREATE INDEX members_name ON public.members USING gin (name public.gin_trgm_ops);\n",
        "{tables: {members: {rows: 20}}}",
    )
    plan = plan_seeding(load_scenario(path))
    assert plan.schema_input["extensions_created"] == ["citext", "uuid-ossp", "pg_trgm"]
    assert any("citext, uuid-ossp, pg_trgm" in note for note in plan.schema_input["notes"])
    # one that is not part of PostgreSQL cannot be created: the error names it
    (tmp_path / "schema.sql").write_text("CREATE TABLE spots (id int, at public.geometry);\n")
    with pytest.raises(ScenarioError) as raised:
        plan_seeding(load_scenario(path))
    [problem] = raised.value.problems
    assert problem.hint is not None and '"postgis"' in problem.hint and "--pg-bin" in problem.hint


PLATFORM = "CREATE SCHEMA auth;\nCREATE TABLE auth.users (id uuid PRIMARY KEY, email text);\n"
APP = (
    'CREATE EXTENSION IF NOT EXISTS "uuid-ossp" WITH SCHEMA extensions;\n'
    "CREATE TABLE public.todos (id uuid DEFAULT extensions.uuid_generate_v4() PRIMARY KEY,\n"
    "    user_id uuid NOT NULL REFERENCES auth.users, task text NOT NULL);\n"
)


def test_a_platforms_objects_are_named_and_its_extension_schema_is_made(
    tmp_path: Path, work_root: Path
) -> None:
    """A Supabase-style schema: its extensions go into a schema the platform makes, and it
    refers to the platform's own tables. The first is created (and the schema, given as two
    files, applied again as one script); the second is named with what to do."""
    from pgrehearse.rehearsal.plan import plan_seeding

    path = seeding_scenario(tmp_path, APP, "{tables: {auth.users: {rows: 10}, todos: {rows: 20}}}")
    with pytest.raises(ScenarioError) as raised:
        plan_seeding(load_scenario(path))
    [problem] = raised.value.problems
    assert 'schema "auth" does not exist' in problem.message and problem.line == 2
    assert problem.hint is not None and "schema: [platform.sql, schema.sql]" in problem.hint

    (tmp_path / "platform.sql").write_text(PLATFORM)
    path.write_text(
        path.read_text().replace("schema: schema.sql", "schema: [platform.sql, schema.sql]")
    )
    plan = plan_seeding(load_scenario(path))
    assert plan.schema_input["schemas_created"] == ["extensions"]
    assert [t.name for t in plan.tables] == ["auth.users", "todos"]


def test_a_migration_folders_platform_objects_point_at_schema_and_an_empty_target(
    tmp_path: Path, work_root: Path
) -> None:
    """The same in a Supabase-style migration folder: the platform's objects go in
    `schema:`, applied before the migrations; and a key of a table given no rows is named
    with that table, not as a type that cannot be inferred."""
    from pgrehearse.rehearsal.plan import plan_seeding

    migrations = tmp_path / "supabase" / "migrations"
    migrations.mkdir(parents=True)
    (migrations / "20240101000000_todos.sql").write_text(APP)
    (migrations / "20240202000000_done.sql").write_text("ALTER TABLE todos ADD done bool;\n")
    path = tmp_path / "scenario.yaml"
    path.write_text(
        "version: 1\nname: supa\ndata: {tables: {todos: {rows: 20}}}\n"
        "migration: {dir: supabase/migrations, from: '20240101000000'}\n"
    )
    with pytest.raises(ScenarioError) as raised:
        plan_seeding(load_scenario(path))
    [problem] = raised.value.problems
    assert problem.file is not None and problem.file.name == "20240101000000_todos.sql"
    assert problem.hint is not None and "give it as `schema: platform.sql`" in problem.hint
    (tmp_path / "platform.sql").write_text(PLATFORM)
    path.write_text("schema: platform.sql\n" + path.read_text())
    with pytest.raises(ScenarioError) as raised:
        plan_seeding(load_scenario(path))
    [problem] = raised.value.problems
    assert "todos.user_id (NOT NULL) references auth.users.id, which gets no rows" in str(
        problem.message
    )
    assert problem.hint is not None and "data.tables.auth.users.rows" in problem.hint


NEWER_DUMP = """--
-- PostgreSQL database dump
--

-- Dumped from database version 99.1
-- Dumped by pg_dump version 99.1

SET statement_timeout = 0;
SET transaction_timeout = 0;
SET some_setting_of_the_future TO 'on';
SELECT pg_catalog.set_config('search_path', '', false);
SET app.tenant = 'acme';

CREATE TABLE public.notes (id bigint PRIMARY KEY, body text NOT NULL);
"""


def test_a_newer_pg_dumps_settings_are_left_out_and_its_version_named(
    tmp_path: Path, work_root: Path
) -> None:
    from pgrehearse.rehearsal.plan import plan_seeding

    path = seeding_scenario(tmp_path, NEWER_DUMP, "{tables: {notes: {rows: 20}}}")
    plan = plan_seeding(load_scenario(path))
    notes = plan.schema_input["notes"]
    assert f"SET transaction_timeout ({tmp_path / 'schema.sql'}:9) left out" in "\n".join(notes)
    assert any("SET some_setting_of_the_future" in note for note in notes)
    assert not any("app.tenant" in note or "search_path" in note for note in notes)

    # a statement only the newer server knows: the hint names the version to rehearse on
    (tmp_path / "schema.sql").write_text(
        NEWER_DUMP + "ALTER TABLE public.notes ALTER COLUMN body SET FUTURE SYNTAX;\n"
    )
    with pytest.raises(ScenarioError) as raised:
        plan_seeding(load_scenario(path))
    [problem] = raised.value.problems
    assert problem.line == 15
    assert problem.hint is not None and "--pg-version 99" in problem.hint, problem.hint


def test_roles_a_migration_names_are_made_as_production_has_them(
    tmp_path: Path, work_root: Path
) -> None:
    """A migration grants to production's roles; the throwaway server has none of them.
    They are made NOLOGIN before the migration runs (a role it creates itself is left to
    it), so the rehearsal meets what production meets."""
    from pgrehearse import rehearse

    path = seeding_scenario(
        tmp_path, "CREATE TABLE t (id int PRIMARY KEY);\n", "{tables: {t: {rows: 10}}}"
    )
    path.write_text(
        path.read_text().replace(
            "migration: {up: SELECT 1;}",
            "migration:\n  up: |\n"
            "    CREATE TABLE audit (id int);\n"
            "    GRANT SELECT ON audit TO reporting;\n"
            '    ALTER TABLE audit OWNER TO "App Owner";\n'
            "    CREATE ROLE helper NOLOGIN;\n"
            "    GRANT helper TO reporting;\n"
            "  down: |\n    DROP TABLE audit;\n    DROP ROLE helper;\n",
        )
    )
    result = rehearse(load_scenario(path), report_dir=None)
    assert result.passed, result.failure
    assert result.schema_input["migration_roles"] == ["reporting", "App Owner"]
    # as the pytest plugin and `bench` run it: on a seeded server's copy
    from pgrehearse.rehearsal.seeded import SeededServer

    with SeededServer.start(load_scenario(path)) as seeded:
        database = seeded.database()
        try:
            assert database.migration(fingerprint=False).up().ok
        finally:
            database.drop()


ON_PRODUCTIONS_DISKS = """
CREATE TABLESPACE fast_ssd OWNER postgres LOCATION '/srv/pg/fast_ssd';
SET default_tablespace = fast_ssd;
CREATE TABLE public.events (id bigint PRIMARY KEY, body text NOT NULL);
SET default_tablespace = '';
CREATE TABLE public.notes (id bigint PRIMARY KEY, body text NOT NULL);
SET default_tablespace = "Archive Disk";
CREATE INDEX notes_body ON public.notes (body);
"""


def test_productions_tablespaces_are_left_out(tmp_path: Path, work_root: Path) -> None:
    """A pg_dump of a server with tablespaces creates its objects there (`SET
    default_tablespace`); a pg_dumpall creates them on production's paths. Here those are
    left out, with a note, and the objects go to the default tablespace."""
    from pgrehearse.rehearsal.plan import plan_seeding

    path = seeding_scenario(
        tmp_path, ON_PRODUCTIONS_DISKS, "{tables: {events: {rows: 20}, notes: {rows: 20}}}"
    )
    plan = plan_seeding(load_scenario(path))
    [note] = [n for n in plan.schema_input["notes"] if "tablespaces" in n]
    assert note.endswith(": fast_ssd, Archive Disk"), note
    assert [t.name for t in plan.tables] == ["events", "notes"]


def test_a_c_function_whose_library_is_missing_becomes_a_stub(
    tmp_path: Path, work_root: Path, pg_binaries: PostgresBinaries
) -> None:
    """A dump names production's own C library: the function is created as a PL/pgSQL
    stub that raises when called, so the schema (and a view naming it) still applies. A C
    function from a library the server has stays C; one taking cstring cannot be stubbed
    and is named."""
    (tmp_path / "schema.sql").write_text(
        "CREATE TABLE spots (id int PRIMARY KEY, x int NOT NULL, y int NOT NULL);\n"
        "CREATE FUNCTION public.tile_for(integer, integer) RETURNS bigint\n"
        "    LANGUAGE c STRICT\n"
        "    AS '/srv/maps/lib/libtiles', 'tile_for';\n"
        "CREATE FUNCTION digest_of(bytea, text) RETURNS bytea LANGUAGE c IMMUTABLE STRICT\n"
        "    AS '$libdir/pgcrypto', 'pg_digest';\n"
        "CREATE VIEW tiled AS SELECT id, tile_for(x, y) AS tile FROM spots;\n"
    )
    path = tmp_path / "scenario.yaml"
    path.write_text(
        "version: 1\nname: tiles\nschema: schema.sql\n"
        "data: {tables: {spots: {rows: 50}}}\n"
        "migration: {up: ALTER TABLE spots ADD COLUMN note text;,"
        " down: ALTER TABLE spots DROP COLUMN note;}\n"
    )
    backend = ProbingBackend(
        pg_binaries,
        "SELECT string_agg(p.proname || ':' || l.lanname, ',' ORDER BY p.proname) "
        "FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang "
        "WHERE p.proname IN ('tile_for', 'digest_of')",
    )
    result = rehearse(load_scenario(path), report_dir=None, backend=backend)
    assert result.passed, result.failure
    assert backend.answer == "digest_of:c,tile_for:plpgsql"
    [note] = [n for n in result.schema_input["notes"] if "C function" in n]
    assert "public.tile_for" in note and "schema.sql:2" in note and "libtiles" in note

    (tmp_path / "schema.sql").write_text(
        "CREATE TABLE spots (id int PRIMARY KEY);\n"
        "CREATE FUNCTION geo_in(cstring) RETURNS int LANGUAGE c AS '/srv/geo', 'geo_in';\n"
    )
    with pytest.raises(ScenarioError) as raised:
        rehearse(load_scenario(path), report_dir=None)
    [problem] = raised.value.problems
    assert "geo_in" in problem.message and "'/srv/geo'" in problem.message
    assert problem.file == tmp_path / "schema.sql" and problem.line == 2
