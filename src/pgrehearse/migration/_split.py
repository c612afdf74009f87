"""Split a SQL script into statements with their source lines, using PostgreSQL's own parser."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import pglast

from pgrehearse.psql import COPY_FROM_STDIN, END_OF_ROWS, PsqlSession, comment_end, psql_pieces


@dataclass(frozen=True)
class Statement:
    """One statement of a script, located in its source file."""

    index: int  # 1-based position in the script
    sql: str
    file: Path | None
    line: int  # 1-based line of the statement's first token in `file`
    alone: bool = False  # its migration tool runs it outside a transaction
    copy_rows: str | None = None  # a COPY … FROM stdin's rows, inline after it (as psql)
    # its tool runs it inside a transaction, even where it cannot run in one: how to say not
    kept_in_transaction: str | None = None


def split_statements(
    text: str,
    *,
    file: Path | None = None,
    first_line: int = 1,
    variables: Iterable[tuple[str, str]] = (),
) -> list[Statement]:
    """Split `text` into statements, psql's meta-commands done as psql does them
    (`pgrehearse.psql`: `\\set` variables replaced, `\\i` files' statements in their place);
    `variables`: psql's, set before the script starts (`psql --set`).

    Raises `PsqlCommandError` for a meta-command that cannot be done here."""
    statements: list[Statement] = []
    for piece in psql_pieces(text, file, first_line, PsqlSession(dict(variables))):
        for statement in _split(piece.text, piece.file, piece.first_line):
            statements.append(replace(statement, index=len(statements) + 1))
    return statements


def _split(text: str, file: Path | None, first_line: int) -> list[Statement]:
    """Split SQL into statements.

    PostgreSQL's parser (libpg_query via pglast) handles dollar quoting, DO blocks, comments
    and SQL-standard function bodies (`BEGIN ATOMIC ... END`). A script the parser rejects is
    split with PostgreSQL's scanner instead, so the server reports the broken statement with
    its own message and the other statements still get their lines.
    """
    text, rows_at = _without_copy_rows(text)
    try:
        slices = list(pglast.split(text, with_parser=True, only_slices=True))
    except pglast.parser.ParseError:
        slices = _scanner_slices(text)
    statements: list[Statement] = []
    line, counted = first_line, 0  # lines are counted on from the last statement's start
    for piece in slices:
        start = _skip_trivia(text, piece.start)
        sql = text[start : piece.stop].strip()
        if not sql:
            continue
        line += text.count("\n", counted, start)
        counted = start
        rows = rows_at.get(start)
        statements.append(Statement(len(statements) + 1, sql, file, line, copy_rows=rows))
    return statements


def _without_copy_rows(text: str) -> tuple[str, dict[int, str]]:
    """`text` with the rows after each `COPY … FROM stdin;` (up to their `\\.` line, or
    the end) blanked out line for line, and the rows by the position of their COPY in the
    text returned."""
    if "stdin" not in text.lower():
        return text, {}
    rows_at: dict[int, str] = {}
    pieces: list[str] = []
    done = 0
    for copy in COPY_FROM_STDIN.finditer(text):
        if copy.start() < done:
            continue  # inside the rows of the one before
        newline = text.find("\n", copy.end())
        if newline < 0:
            break
        end = END_OF_ROWS.search(text, newline + 1)
        stop = end.start() if end is not None else len(text)
        after = end.end() if end is not None else len(text)
        written = sum(map(len, pieces))  # where the COPY is in the text returned
        rows_at[written + copy.start(1) - done] = text[newline + 1 : stop]
        pieces += [text[done : newline + 1], "\n" * text.count("\n", newline + 1, after)]
        done = after
    return "".join(pieces) + text[done:], rows_at


def _scanner_slices(text: str) -> list[slice]:
    """Cut at top-level semicolons found by PostgreSQL's scanner (no grammar needed).

    pglast's own scanner split drops statements that start with an unknown word, which is
    exactly the broken statement we must keep; this one keeps everything.
    """
    slices: list[slice] = []
    start = 0
    atomic_depth = 0
    previous = ""
    for token in pglast.parser.scan(text):
        name = token.name
        if (name == "ATOMIC" and previous == "BEGIN_P") or (atomic_depth and name == "CASE"):
            atomic_depth += 1
        elif atomic_depth and name == "END_P":
            atomic_depth -= 1
        elif name == "ASCII_59" and not atomic_depth:
            slices.append(slice(start, token.start))
            start = token.end + 1
        previous = name
    slices.append(slice(start, len(text)))
    return slices


def _skip_trivia(text: str, position: int) -> int:
    """Skip whitespace and comments (`-- ...`, nested `/* ... */`) starting at `position`."""
    length = len(text)
    while position < length:
        if text[position].isspace():
            position += 1
        elif text.startswith("--", position):
            newline = text.find("\n", position)
            position = length if newline < 0 else newline + 1
        elif text.startswith("/*", position):
            position = comment_end(text, position)
        else:
            break
    return position


def line_of_position(statement: Statement, position: int | None) -> int:
    """The file line of a 1-based character position inside a statement (server error cursor)."""
    if position is None or position < 1:
        return statement.line
    return statement.line + statement.sql.count("\n", 0, position - 1)
