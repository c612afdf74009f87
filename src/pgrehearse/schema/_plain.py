"""A plain pg_dump (or any SQL a person wrote for psql) made fit for a plain SQL session.

psql runs what pg_dump writes; a driver does not. What only psql understands is blanked out,
line for line, so every error still points at the right line of the user's file:
- meta-commands (`\\restrict`, `\\unrestrict`, `\\connect`, ...), one per line; `\\set` and
  `\\i` stay, for the split to do as psql does (`pgrehearse.psql`);
- the rows of `COPY … FROM stdin;` blocks, up to their `\\.` (pgrehearse seeds its own);
- `CREATE SCHEMA public;` from older pg_dumps becomes `CREATE SCHEMA IF NOT EXISTS public;`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_META = re.compile(r"^\\[A-Za-z!?]")
# psql variables and included files: done as psql does them when the statements are split
# (`pgrehearse.psql`), so `:name` in the SQL gets its value
_DONE_WHEN_SPLIT = re.compile(r"^\\(set|unset|i|ir|include|include_relative)(\s|$)")
_COPY_FROM_STDIN = re.compile(r"^COPY\s+(\S+)\s.*\bFROM\s+stdin\b.*;\s*$", re.IGNORECASE)
_CREATE_PUBLIC = re.compile(r"^CREATE SCHEMA public;", re.IGNORECASE)


@dataclass
class PlainSql:
    text: str
    meta_commands: list[str] = field(default_factory=list)  # e.g. "\\connect" (line 12)
    data_tables: list[str] = field(default_factory=list)  # tables whose COPY data was left out

    def notes(self, name: str) -> list[str]:
        notes = []
        if self.meta_commands:
            shown = ", ".join(dict.fromkeys(self.meta_commands))
            notes.append(f"{name}: psql meta-commands skipped: {shown}")
        if self.data_tables:
            notes.append(
                f"{name}: the rows of {len(self.data_tables)} table(s) in the dump were left "
                "out (pgrehearse seeds its own data): "
                + ", ".join(self.data_tables[:5])
                + (" …" if len(self.data_tables) > 5 else "")
            )
        return notes


def plain_sql(text: str) -> PlainSql:
    """`text` with what only psql understands blanked out, line numbers kept."""
    result = PlainSql("")
    lines = text.split("\n")
    in_copy = False
    for number, line in enumerate(lines):
        if in_copy:
            if line.rstrip("\r") == "\\.":
                in_copy = False
            lines[number] = ""
            continue
        copy = _COPY_FROM_STDIN.match(line)
        if copy is not None:
            result.data_tables.append(copy.group(1))
            lines[number] = ""
            in_copy = True
        elif _META.match(line) and not _DONE_WHEN_SPLIT.match(line):
            result.meta_commands.append(line.split(None, 1)[0])
            lines[number] = ""
        elif _CREATE_PUBLIC.match(line):
            lines[number] = (
                "CREATE SCHEMA IF NOT EXISTS public;" + line[len("CREATE SCHEMA public;") :]
            )
    result.text = "\n".join(lines)
    return result
