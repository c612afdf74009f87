"""Splitting migration scripts into statements, with the line each one starts on."""

from __future__ import annotations

from pathlib import Path

from pgrehearse.migration import Statement, line_of_position, split_statements


def _lines(text: str, first_line: int = 1) -> list[tuple[int, str]]:
    return [(s.line, s.sql) for s in split_statements(text, first_line=first_line)]


def test_comments_dollar_quotes_and_do_blocks() -> None:
    script = """-- header comment

CREATE TABLE a (id int); /* trailing */
DO $$ BEGIN RAISE NOTICE 'a;b'; END $$;
CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $body$ SELECT ';' $body$;
/* multi
   line */ ALTER TABLE a ADD COLUMN b int;
"""
    assert _lines(script) == [
        (3, "CREATE TABLE a (id int)"),
        (4, "DO $$ BEGIN RAISE NOTICE 'a;b'; END $$"),
        (5, "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $body$ SELECT ';' $body$"),
        (7, "ALTER TABLE a ADD COLUMN b int"),
    ]


def test_sql_standard_function_body_stays_whole() -> None:
    script = (
        "CREATE FUNCTION g() RETURNS int LANGUAGE sql\n"
        "BEGIN ATOMIC SELECT 1; SELECT 2; END;\nSELECT 3;"
    )
    statements = split_statements(script)
    assert [s.sql.split()[0] for s in statements] == ["CREATE", "SELECT"]
    assert statements[0].sql.endswith("END")


def test_syntax_error_keeps_the_broken_statement_and_its_line() -> None:
    script = "SELECT 1;\n\nSELEC 2;\nCREATE TABLE t (x text DEFAULT ';');\nSELECT 4"
    assert _lines(script) == [
        (1, "SELECT 1"),
        (3, "SELEC 2"),
        (4, "CREATE TABLE t (x text DEFAULT ';')"),
        (5, "SELECT 4"),
    ]


def test_broken_script_with_atomic_body_still_splits_on_top_level_semicolons() -> None:
    script = (
        "SELEC 1;\nCREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC "
        "SELECT CASE WHEN true THEN 1 END; SELECT 2; END;\nSELECT 3"
    )
    assert [line for line, _ in _lines(script)] == [1, 2, 3]


def test_first_line_offsets_inline_sql() -> None:
    assert _lines("SELECT 1;\nSELECT 2;", first_line=20) == [(20, "SELECT 1"), (21, "SELECT 2")]


def test_file_is_carried_and_indexes_are_one_based() -> None:
    statements = split_statements("SELECT 1; SELECT 2", file=Path("up.sql"))
    assert [(s.index, s.file) for s in statements] == [(1, Path("up.sql")), (2, Path("up.sql"))]


def test_empty_and_comment_only_scripts_have_no_statements() -> None:
    assert split_statements("") == []
    assert split_statements("-- nothing here\n/* at all */\n") == []


def test_error_cursor_maps_to_the_file_line() -> None:
    statement = Statement(1, "ALTER TABLE t\n  ADD COLUMN x nosuchtype", None, 10)
    assert line_of_position(statement, statement.sql.index("nosuchtype") + 1) == 11
    assert line_of_position(statement, None) == 10


def test_the_rows_after_a_copy_from_stdin_go_with_it_and_lines_stay() -> None:
    script = (
        "CREATE TABLE sizes (id int, label text);\n"
        "COPY sizes (id, label)\n  FROM stdin;\n"
        "1\tsmall; or not\n2\t-- not a comment\n\\.\n"
        "-- COPY sizes FROM stdin; in a comment is no COPY\n"
        "INSERT INTO sizes VALUES (3, 'x');\n"
        "COPY sizes FROM STDIN WITH (FORMAT csv);\n"
        "4,large\n"
    )
    create, copy, insert, last = split_statements(script)
    assert copy.sql == "COPY sizes (id, label)\n  FROM stdin" and copy.line == 2
    assert copy.copy_rows == "1\tsmall; or not\n2\t-- not a comment\n"
    assert (insert.sql, insert.line, insert.copy_rows) == (
        "INSERT INTO sizes VALUES (3, 'x')",
        8,
        None,
    )
    assert last.copy_rows == "4,large\n"  # no `\.`: the rows run to the end, as in psql
    assert create.copy_rows is None
