"""psql's own commands in a migration script, done as psql does them.

Scripts written for psql (sqitch runs its scripts through psql, shmig too, and people run
plain files with `psql -f`) may hold psql's meta-commands, which the server does not
understand. What psql would do with them is done here, and the SQL left goes to the server:

- commands that change nothing the server sees (`\\set ON_ERROR_STOP on`, `\\echo`,
  `\\timing`, `\\pset`, ...) are left out, their lines kept blank so errors keep their lines;
- `\\set NAME value` and `\\unset NAME` set psql variables, and `:NAME`, `:'NAME'` (a
  quoted literal) and `:"NAME"` (a quoted identifier) are replaced by their values where
  psql replaces them: outside quotes, comments and dollar-quoted bodies;
- `\\i FILE` and `\\ir FILE` (`\\include`, `\\include_relative`) run that file's
  statements in their place;
- `\\g` ends a statement, as `;` does;
- `\\copy … FROM 'file'` sends the file's rows with `COPY … FROM STDIN` (the file found as
  `\\i` finds one); `\\copy … TO …` runs as `COPY … TO STDOUT`, its output dropped.

Any other (`\\connect`, `\\gexec`, `\\if`, `\\copy … FROM stdin` or `program`, a shell
command in backquotes) is an error naming its file and line: pgrehearse cannot do what it
does as psql would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from pgrehearse.errors import InputError, Problem

# commands whose only effect is on psql's own output or error handling
_NO_EFFECT = frozenset(
    {"echo", "qecho", "warn", "timing", "pset", "x", "a", "t", "T", "H", "C", "f", "o"}
    | {"out", "encoding", "conninfo", "errverbose", "prompt", "print", "p", "r", "reset"}
    | {"w", "write", "restrict", "unrestrict"}  # pg_dump's guard against a rogue server
)
_INCLUDES = {"i": False, "include": False, "ir": True, "include_relative": True}
_DEEPEST_INCLUDE = 16
_NAME = re.compile(r"[A-Za-z0-9_]+")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_PLAIN = re.compile(r"[^'\"\-/$:\\Cc]+")  # nothing psql's lexer looks at
# a COPY … FROM stdin starting a line, up to its `;`: psql sends the lines after it, up to
# `\.`, as the COPY's rows (pg_dump's data, a migration's lookup rows)
COPY_FROM_STDIN = re.compile(r"^[ \t]*(COPY\b[^;]*?\bFROM\s+STDIN\b[^;]*;)", re.I | re.M)
END_OF_ROWS = re.compile(r"^\\\.\r?$", re.M)


class PsqlCommandError(InputError):
    """A psql meta-command that cannot be done here, at its file and line (exit code 2)."""

    subject = "migration"

    def __init__(self, message: str, file: Path | None, line: int, hint: str) -> None:
        super().__init__([Problem(message, file=file, line=line, hint=hint)])


@dataclass(frozen=True)
class Piece:
    """A stretch of one file's SQL (meta-commands blanked, variables replaced), starting
    at `first_line` of `file`."""

    text: str
    file: Path | None
    first_line: int


@dataclass
class PsqlSession:
    """What psql keeps from one script to the next it includes: its variables."""

    variables: dict[str, str] = field(default_factory=dict)


def psql_pieces(
    text: str,
    file: Path | None,
    first_line: int = 1,
    session: PsqlSession | None = None,
    depth: int = 0,
) -> list[Piece]:
    """The SQL of a script as psql would send it, in pieces: a file `\\i` includes is a
    piece of its own, in its place."""
    if "\\" not in text and (session is None or not session.variables):
        return [Piece(text, file, first_line)]
    session = session or PsqlSession()
    reader = _Reader(text, file, first_line, session)
    pieces: list[Piece] = []
    start_line = first_line
    for kept, include, line in reader.run():
        if kept.strip():
            pieces.append(Piece(kept, file, start_line))
        if isinstance(include, Piece):  # `\\copy`: its COPY and rows
            pieces.append(include)
        elif include is not None:
            if depth >= _DEEPEST_INCLUDE:
                raise PsqlCommandError(
                    f"\\i nested more than {_DEEPEST_INCLUDE} deep",
                    file,
                    line,
                    "a file that includes itself? include each file once",
                )
            included = include.read_text(encoding="utf-8")
            pieces += psql_pieces(included, include, 1, session, depth + 1)
        start_line = line  # the text after `\\i` starts with the end of its line
    return pieces


class _Reader:
    """Walks a script as psql's lexer does, yielding the SQL up to each `\\i` (and the
    file it names, and its line), then the rest."""

    def __init__(self, text: str, file: Path | None, first_line: int, session: PsqlSession):
        self.text = text
        self.file = file
        self.first_line = first_line
        self.session = session
        self.out: list[str] = []
        self.counted = self.lines = 0  # newlines before position `counted`

    def line_at(self, position: int) -> int:
        """The file line of a position; positions are asked for in order, so the lines
        are counted on from the last one asked for."""
        if position < self.counted:
            self.counted, self.lines = 0, 0
        self.lines += self.text.count("\n", self.counted, position)
        self.counted = position
        return self.first_line + self.lines

    def run(self) -> list[tuple[str, Path | Piece | None, int]]:
        text, position, length = self.text, 0, len(self.text)
        found: list[tuple[str, Path | Piece | None, int]] = []
        while position < length:
            char = text[position]
            if plain := _PLAIN.match(text, position):
                position = self._copy(position, plain.end())
            elif char == "'":
                position = self._quoted(position, "'", escapes=_escape_string(text, position))
            elif char in "Cc":
                position = self._copy(position, self._after_copy_rows(position))
            elif char == '"':
                position = self._quoted(position, '"', escapes=False)
            elif text.startswith("--", position):
                end = text.find("\n", position)
                position = self._copy(position, length if end < 0 else end)
            elif text.startswith("/*", position):
                position = self._copy(position, comment_end(text, position))
            elif (
                char == "$"
                and (tag := _DOLLAR_TAG.match(text, position))
                and not _in_word(text, position)
            ):
                end = text.find(tag.group(0), tag.end())
                position = self._copy(position, length if end < 0 else end + len(tag.group(0)))
            elif (
                char == ":"
                and not text.startswith("::", position)
                and not (position and text[position - 1] == ":")
            ):
                position = self._variable(position)
            elif char == "\\":
                end = text.find("\n", position)
                end = length if end < 0 else end
                include = self._command(text[position + 1 : end], self.line_at(position))
                if include is not None:
                    found.append(("".join(self.out), include, self.line_at(position)))
                    self.out = []
                position = end
            else:
                position = self._copy(position, position + 1)
        found.append(("".join(self.out), None, self.line_at(length)))
        return found

    def _after_copy_rows(self, position: int) -> int:
        """Past the rows of a `COPY … FROM stdin;` starting here (its rows hold backslashes
        of their own: `\\N`, `\\.`); else past this letter."""
        text = self.text
        line_start = position  # only blanks may come before it on its line
        while line_start and text[line_start - 1] in " \t":
            line_start -= 1
        if line_start and text[line_start - 1] != "\n":
            return position + 1
        copy = COPY_FROM_STDIN.match(text, line_start)
        if copy is None or copy.start(1) != position:
            return position + 1
        newline = text.find("\n", copy.end())
        if newline < 0:
            return len(text)
        end = END_OF_ROWS.search(text, newline + 1)
        return len(text) if end is None else end.end()

    def _copy(self, start: int, end: int) -> int:
        self.out.append(self.text[start:end])
        return end

    def _quoted(self, start: int, quote: str, *, escapes: bool) -> int:
        text, position = self.text, start + 1
        while position < len(text):
            char = text[position]
            if escapes and char == "\\":
                position += 2
            elif char == quote:
                if text.startswith(quote, position + 1):
                    position += 2  # a doubled quote
                else:
                    return self._copy(start, position + 1)
            else:
                position += 1
        return self._copy(start, len(text))

    def _variable(self, position: int) -> int:
        """`:NAME`, `:'NAME'` or `:"NAME"` replaced by the variable's value, if it is set."""
        text, variables = self.text, self.session.variables
        quote = text[position + 1 : position + 2]
        if quote in ("'", '"'):
            name = _NAME.match(text, position + 2)
            if name and text.startswith(quote, name.end()) and name.group(0) in variables:
                value = variables[name.group(0)]
                self.out.append(_literal(value) if quote == "'" else _identifier(value))
                return name.end() + 1
        else:
            name = _NAME.match(text, position + 1)
            if name and name.group(0) in variables:
                self.out.append(variables[name.group(0)])
                return name.end()
        return self._copy(position, position + 1)

    def _command(self, command: str, line: int) -> Path | Piece | None:
        """Do one meta-command (the text after its backslash); the file it includes, or
        the statement it sends (`\\copy`)."""
        words = command.split(None, 1)
        if not words:
            raise PsqlCommandError(
                "a backslash alone: psql reads it as a meta-command with no name",
                self.file,
                line,
                "remove it, or put it inside the string it belongs to",
            )
        name, rest = words[0], words[1] if len(words) > 1 else ""
        if name == "copy":
            return self._copy_command(rest, line)
        args = _arguments(rest, self.session.variables, self.file, line)
        if name == "set":
            if args:
                self.session.variables[args[0]] = "".join(args[1:])
            return None
        if name == "unset":
            for arg in args:
                self.session.variables.pop(arg, None)
            return None
        if name == "g" and not args:
            self.out.append(";")
            return None
        if name in _NO_EFFECT:
            return None
        if name in _INCLUDES and len(args) == 1:
            return self._included(args[0], relative=_INCLUDES[name], line=line)
        raise PsqlCommandError(
            f"psql's \\{name} cannot be rehearsed",
            self.file,
            line,
            "pgrehearse sends SQL as a driver does; write what it does in SQL (\\set, \\echo, "
            "\\i, \\ir and \\copy FROM a file are understood)",
        )

    def _copy_command(self, rest: str, line: int) -> Piece:
        """`\\copy what FROM 'file' …` as psql runs it: `COPY what FROM STDIN …` with the
        file's rows (a file is read from where `\\i` reads one); `\\copy … TO …` as
        `COPY … TO STDOUT …`, its output dropped."""
        parts = _copy_parts(rest)
        if parts is None:
            raise PsqlCommandError(
                "\\copy without FROM or TO", self.file, line, "write \\copy table FROM 'file'"
            )
        what, direction, where, options = parts
        if direction == "to":
            return Piece(f"COPY {what} TO STDOUT{options};\n", self.file, line)
        if where.lower() in ("stdin", "pstdin", "program") or "binary" in options.lower():
            raise PsqlCommandError(
                f"\\copy … FROM {where} cannot be rehearsed",
                self.file,
                line,
                "load from a file in text or CSV format, or write COPY … FROM stdin; with the "
                "rows after it",
            )
        source = self._included(where, relative=False, line=line)
        rows = source.read_text(encoding="utf-8")
        if rows and not rows.endswith("\n"):
            rows += "\n"
        return Piece(f"COPY {what} FROM STDIN{options};\n{rows}\\.\n", self.file, line)

    def _included(self, name: str, *, relative: bool, line: int) -> Path:
        """The file `\\i` names: psql reads it from its working folder, which for a
        migration tool is the project's; `\\ir` from the including file's folder."""
        folder = self.file.parent if self.file is not None else Path.cwd()
        candidates = [folder / name]
        if not relative:  # the project's folder: this file's, or one of the four above
            candidates += [parent / name for parent in list(folder.parents)[:4]]
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        raise PsqlCommandError(
            f"\\i {name}: no such file next to {self.file.name if self.file else 'the script'}"
            " or in the four folders above it",
            self.file,
            line,
            "give the path from the script's folder (\\ir) or from the project's",
        )


def _copy_parts(rest: str) -> tuple[str, str, str, str] | None:
    """A `\\copy`'s table (or query), direction, file (unquoted) and options, found
    outside parentheses and quotes; None without FROM or TO."""
    depth, quoted = 0, False
    for match in re.finditer(r"[()']|\b(from|to)\b", rest, re.IGNORECASE):
        token = match.group(0)
        if token == "'":
            quoted = not quoted
        elif quoted:
            continue
        elif token in "()":
            depth += 1 if token == "(" else -1
        elif depth == 0:
            what, after = rest[: match.start()].strip(), rest[match.end() :].strip()
            file = re.match(r"'((?:[^']|'')*)'|(\S+)", after)
            if not what or file is None:
                return None
            where = file.group(1).replace("''", "'") if file.group(1) is not None else file[2]
            return what, token.lower(), where, " " + after[file.end() :].strip()
    return None


def _arguments(rest: str, variables: dict[str, str], file: Path | None, line: int) -> list[str]:
    """A meta-command's arguments as psql reads them: words, 'quoted' text (with psql's
    backslash escapes), variables replaced; a backquoted shell command is refused."""
    args: list[str] = []
    position = 0
    while position < len(rest):
        while position < len(rest) and rest[position].isspace():
            position += 1
        if position >= len(rest):
            break
        word: list[str] = []
        while position < len(rest) and not rest[position].isspace():
            char = rest[position]
            if char == "`":
                raise PsqlCommandError(
                    "a shell command in backquotes cannot be rehearsed",
                    file,
                    line,
                    "set the variable to its value",
                )
            if char == "'":
                position = _single_quoted(rest, position + 1, word)
            elif (
                char == ":"
                and (name := _NAME.match(rest, position + 1))
                and (name.group(0) in variables)
            ):
                word.append(variables[name.group(0)])
                position = name.end()
            else:
                word.append(char)
                position += 1
        args.append("".join(word))
    return args


_ESCAPES = {"n": "\n", "t": "\t", "b": "\b", "r": "\r", "f": "\f"}


def _single_quoted(rest: str, position: int, word: list[str]) -> int:
    while position < len(rest):
        char = rest[position]
        if char == "\\" and position + 1 < len(rest):
            word.append(_ESCAPES.get(rest[position + 1], rest[position + 1]))
            position += 2
        elif char == "'":
            if rest.startswith("'", position + 1):
                word.append("'")
                position += 2
            else:
                return position + 1
        else:
            word.append(char)
            position += 1
    return position


def _literal(value: str) -> str:
    quoted = "'" + value.replace("'", "''") + "'"
    return "E" + quoted.replace("\\", "\\\\") if "\\" in value else quoted


def _identifier(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def comment_end(text: str, position: int) -> int:
    """Past the end of the `/* … */` comment (nested ones too) starting at `position`."""
    depth, position = 1, position + 2
    while position < len(text) and depth:
        if text.startswith("/*", position):
            depth, position = depth + 1, position + 2
        elif text.startswith("*/", position):
            depth, position = depth - 1, position + 2
        else:
            position += 1
    return position


def _escape_string(text: str, quote: int) -> bool:
    """Whether the quote at `quote` opens an E'…' string (backslashes escape)."""
    if quote == 0 or text[quote - 1] not in "eE":
        return False
    return not _in_word(text, quote - 1)


def _in_word(text: str, position: int) -> bool:
    """A `$` inside an identifier (`a$b`) or after a digit (`$1`) starts no quote."""
    return position > 0 and (text[position - 1].isalnum() or text[position - 1] == "_")
