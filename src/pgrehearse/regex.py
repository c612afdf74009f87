"""PostgreSQL's regular expressions (as CHECKs and `pattern` generators write them) in
Python's syntax, for making values that match: the POSIX bracket classes spelled out, the
word-boundary escapes Python lacks dropped (they match no character), LIKE patterns as
regular expressions."""

from __future__ import annotations

import re

_CLASSES = {
    "alpha": "A-Za-z",
    "upper": "A-Z",
    "lower": "a-z",
    "digit": "0-9",
    "alnum": "A-Za-z0-9",
    "xdigit": "0-9A-Fa-f",
    "space": " ",
    "blank": " ",
    "punct": "!-/:-@[-`{-~",
    "word": "A-Za-z0-9_",
}
_BOUNDARIES = re.compile(r"\\[mMyY]")


def python_regex(pattern: str) -> str:
    """`pattern` (an advanced regular expression of PostgreSQL) as Python writes it."""
    for name, members in _CLASSES.items():
        pattern = pattern.replace(f"[:{name}:]", members)
    return _BOUNDARIES.sub("", pattern)


def like_regex(pattern: str) -> str:
    """A LIKE pattern (`%` any text, `_` one character, `\\` escapes) as a regular
    expression anchored at both ends."""
    out = []
    escaped = False
    for char in pattern:
        if escaped:
            out.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            out.append("[a-z0-9]{0,8}")
        elif char == "_":
            out.append("[a-z0-9]")
        else:
            out.append(re.escape(char))
    return "^" + "".join(out) + "$"
