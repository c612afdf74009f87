"""`:name` parameters (as pgbench writes them) turned into libpq's `$1, $2, ...`."""

from __future__ import annotations

import re

# a quoted string, a dollar-quoted body, a comment, a cast (::), or a :name parameter
_TOKEN = re.compile(
    r"'(?:[^']|'')*'"
    r'|"(?:[^"]|"")*"'
    r"|(\$[A-Za-z_]*\$).*?\1"
    r"|--[^\n]*"
    r"|/\*.*?\*/"
    r"|::"
    r"|:([A-Za-z_][A-Za-z0-9_]*)",
    re.DOTALL,
)


def positional(sql: str) -> tuple[str, list[str]]:
    """Return the SQL with `$n` placeholders and the parameter name of each position."""
    names: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match.group(2)
        if name is None:
            return match.group(0)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _TOKEN.sub(replace, sql), names
