"""The `pattern` generator: text that matches a regular expression.

The common shape of a CHECK's expression, a run of characters, classes and repeats
(`^[A-Z]{3}-\\d{4}$`, `^[a-z0-9-]+$`), is made in numpy, a block of rows at a time; unique
values are numbered (the row's number in mixed radix over the positions' classes), so any
number of rows gets distinct values without a pool. Anything else (groups, alternation) is
drawn by rstr's xeger into a pool once and sampled.
"""

from __future__ import annotations

import importlib
import math
import random
import string
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import rstr

from pgrehearse.regex import python_regex
from pgrehearse.scenario import PatternColumn
from pgrehearse.seed._distributions import unique_offsets
from pgrehearse.seed._format import needs_copy_escape
from pgrehearse.seed._generators import Generator, GeneratorContext, UnsatisfiableUnique

POOL = 5_000  # distinct values sampled by a column that need not be unique
_TRIES = 4  # draws per value wanted before giving up on more distinct values
_OPEN_REPEAT = 12  # `+` and `*` repeat at most this often: codes and slugs, not pages
# (a module attribute: `rstr.xeger` names the function, hence the import by name)
setattr(importlib.import_module("rstr.xeger"), "STAR_PLUS_LIMIT", _OPEN_REPEAT)  # noqa: B010
_SCRAMBLED_SPAN = 1 << 31  # unique_offsets scrambles the order below this span

_PRINTABLE = [c for c in string.printable if c.isprintable() and c != " "]
_ESCAPES = {
    "d": string.digits,
    "w": string.ascii_letters + string.digits + "_",
    "s": " ",
}
_ANY = string.ascii_letters + string.digits  # what `.` makes: any character matches


@dataclass(frozen=True)
class _Token:
    """One atom of the expression and how often it repeats: a character class (choices of
    one character each) or a group of literal alternatives (`(EU|US)`)."""

    choices: tuple[str, ...]
    fewest: int
    most: int


def tokens(pattern: str) -> list[_Token] | None:
    """`pattern` (Python's syntax) as a run of character classes and groups of literal
    alternatives with repeat counts, a group of such a run inlined (once where it may
    repeat: `(\\.[a-z]+)+`); None when it has anything else (nested groups, alternation
    of expressions, anchors inside)."""
    text = pattern.removeprefix("(?i)").removeprefix("^")  # values as written match either way
    if text.endswith("$") and not text.endswith("\\$"):
        text = text[:-1]
    found: list[_Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        choices: tuple[str, ...] | None
        if char == "(":
            end, inside = _group_text(text, i + 1)
            if inside is None:
                return None
            choices = _alternatives(inside)
            if choices is None:  # a run of its own (`(\.[a-z]+)+`): its tokens, inlined
                run = tokens(inside) if "|" not in inside else None
                fewest, most, i = _repeat(text, end)
                if run is None or most < 0:
                    return None
                copies = fewest if fewest >= 1 else min(most, 1)  # one copy: valid, and varied
                found.extend(run * copies)
                continue
            i = end
        elif char in ")|^$*+?{":
            return None
        elif char == "[":
            i, characters = _bracket(text, i + 1)
            choices = None if characters is None else tuple(characters)
        elif char == "\\" and i + 1 < len(text):
            choices, i = tuple(_escape(text[i + 1])), i + 2
        elif char == ".":
            choices, i = tuple(_ANY), i + 1
        else:
            choices, i = (char,), i + 1
        if choices is None:
            return None
        fewest, most, i = _repeat(text, i)
        if most < 0 or (len(choices[0]) != 1 and (fewest, most) not in ((1, 1), (0, 1))):
            return None  # a group repeated more than once is xeger's
        if len(choices[0]) != 1 and (fewest, most) == (0, 1):
            choices, fewest = (*choices, ""), 1  # an optional group: one more alternative
        found.append(_Token(choices, fewest, most))
    return found


def _group_text(text: str, i: int) -> tuple[int, str | None]:
    """Where the group opening before `i` ends, and what it holds (None: unclosed, or a
    group inside it)."""
    if text.startswith("?:", i):
        i += 2
    end = text.find(")", i)
    if end < 0 or "(" in text[i:end]:
        return i, None
    return end + 1, text[i:end]


def _alternatives(inside: str) -> tuple[str, ...] | None:
    """A group's literal alternatives (`EU|US`); None when it holds anything else."""
    if any(c in inside for c in "()[]\\.*+?{}^$"):
        return None
    return tuple(dict.fromkeys(inside.split("|")))


def _fitted(found: list[_Token] | None, longest: int | None) -> list[_Token] | None:
    """The tokens with their open repeats shortened until the longest value fits in
    `longest` characters (None: they cannot, and the pool's values are filtered)."""
    if found is None or longest is None:
        return found
    fitted = list(found)
    while sum(t.most * max(map(len, t.choices)) for t in fitted) > longest:
        loose = [i for i, t in enumerate(fitted) if t.most > t.fewest]
        if not loose:
            return None
        i = max(loose, key=lambda i: fitted[i].most - fitted[i].fewest)
        fitted[i] = _Token(fitted[i].choices, fitted[i].fewest, fitted[i].most - 1)
    return fitted


def _escape(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    if char.upper() in _ESCAPES and char.isupper():
        excluded = set(_ESCAPES[char.lower()])
        return "".join(c for c in _PRINTABLE if c not in excluded)
    return char


def _bracket(text: str, i: int) -> tuple[int, str | None]:
    """The characters of the class opening before `i`, and where it ends."""
    negated = i < len(text) and text[i] == "^"
    i += negated
    members: list[str] = []
    first = True
    while i < len(text) and (text[i] != "]" or first):
        first = False
        if text[i] == "\\" and i + 1 < len(text):
            members += _escape(text[i + 1])
            i += 2
        elif i + 2 < len(text) and text[i + 1] == "-" and text[i + 2] != "]":
            low, high = text[i], text[i + 2]
            if ord(high) < ord(low):
                return i, None
            members += [chr(c) for c in range(ord(low), ord(high) + 1)]
            i += 3
        else:
            members.append(text[i])
            i += 1
    if i >= len(text):
        return i, None
    chosen = set(members)
    characters = (
        "".join(c for c in _PRINTABLE if c not in chosen)
        if negated
        else "".join(dict.fromkeys(members))
    )
    return i + 1, characters or None


def _repeat(text: str, i: int) -> tuple[int, int, int]:
    """The repeat after an atom (fewest, most, next index); most -1 when malformed."""
    if i >= len(text) or text[i] not in "*+?{":
        return 1, 1, i
    char = text[i]
    if char == "{":
        end = text.find("}", i)
        if end < 0:
            return 0, -1, i
        parts = text[i + 1 : end].split(",")
        try:
            fewest = int(parts[0] or 0)
            most = fewest if len(parts) == 1 else int(parts[1]) if parts[1] else fewest + 4
        except ValueError:
            return 0, -1, i
        i = end + 1
    else:
        fewest = 1 if char == "+" else 0
        most = 1 if char == "?" else max(fewest, _OPEN_REPEAT)
        i += 1
    if i < len(text) and text[i] == "?":  # lazy: the same strings
        i += 1
    return fewest, max(most, fewest), i


def distinct_values(spec: PatternColumn) -> int | None:
    """How many distinct values the pattern can make (every repeat at its most, as unique
    values are made); None when rstr draws them and it is not known."""
    found = _fitted(tokens(python_regex(spec.pattern)) or None, spec.longest)
    if found is None:
        return None
    return int(math.prod(len(t.choices) ** t.most for t in found))


class PatternGenerator(Generator):
    def __init__(self, spec: PatternColumn, context: GeneratorContext) -> None:
        compiled = python_regex(spec.pattern)
        self.tokens = _fitted(tokens(compiled) or None, spec.longest)
        self.unique = spec.unique
        self.salt = context.salt
        self.rows = context.rows
        self.pool: npt.NDArray[np.object_] | None = None
        if self.tokens is None:  # xeger's pool, of as many values as rows when unique
            wanted = max(context.rows, 1) if spec.unique else min(POOL, max(context.rows, 1))
            values = _drawn(compiled, wanted, context.salt, spec.longest)
            if not values:
                raise ValueError(
                    f"{context.key}: pattern {spec.pattern!r} made no value of at most "
                    f"{spec.longest} characters"
                )
            if spec.unique and len(values) < context.rows:
                raise UnsatisfiableUnique(
                    f"{context.key}: pattern {spec.pattern!r} made {len(values):,} distinct "
                    f"values for {context.rows:,} unique rows"
                )
            self.pool = np.array(values, dtype=object)
            self.escape = needs_copy_escape(values[:1000])
            return
        self.choices = [np.array(t.choices) for t in self.tokens]
        self.escape = any(needs_copy_escape(list(t.choices)) for t in self.tokens)
        if spec.unique:
            span = math.prod(len(t.choices) ** t.most for t in self.tokens)
            if span < context.rows:
                raise UnsatisfiableUnique(
                    f"{context.key}: pattern {spec.pattern!r} has {span:,} distinct values "
                    f"for {context.rows:,} unique rows"
                )

    def values(self, first: int, count: int, rng: np.random.Generator) -> list[str]:
        if self.pool is not None:
            if self.unique:  # row i takes value i: distinct, in the random order drawn
                picks: list[str] = self.pool[first : first + count].tolist()
                return picks
            chosen: list[str] = self.pool[rng.integers(0, len(self.pool), count)].tolist()
            return chosen
        parts = self._numbered(first, count, rng) if self.unique else self._drawn(count, rng)
        joined = parts[0]
        for part in parts[1:]:
            joined = np.char.add(joined, part)
        values: list[str] = joined.tolist()
        return values

    def _drawn(self, count: int, rng: np.random.Generator) -> list[npt.NDArray[np.str_]]:
        """Each token's text for `count` rows, its repeats of random length."""
        assert self.tokens is not None
        parts = []
        for token, choices in zip(self.tokens, self.choices, strict=True):
            if token.most == 0:
                continue
            picks = choices[rng.integers(0, len(choices), (count, token.most))]
            if token.most == 1 and token.fewest == 1:
                parts.append(picks[:, 0])
                continue
            if token.fewest < token.most:
                lengths = rng.integers(token.fewest, token.most + 1, count)
                picks[np.arange(token.most)[None, :] >= lengths[:, None]] = ""
            parts.append(_joined_columns(picks))
        return parts or [np.full(count, "")]

    def _numbered(
        self, first: int, count: int, rng: np.random.Generator
    ) -> list[npt.NDArray[np.str_]]:
        """Every repeat at its most; the last positions number the rows (distinct, in a
        scrambled order), the ones before are drawn."""
        assert self.tokens is not None
        positions = [
            choices
            for token, choices in zip(self.tokens, self.choices, strict=True)
            for _ in range(token.most)
        ]
        numbered, span = len(positions), 1
        while numbered > 0 and (
            span < self.rows or span * len(positions[numbered - 1]) <= _SCRAMBLED_SPAN
        ):
            numbered -= 1
            span *= len(positions[numbered])
        number = unique_offsets(first, count, span, self.salt)
        parts: list[npt.NDArray[np.str_]] = [np.full(count, "")] * len(positions)
        for index in range(len(positions) - 1, -1, -1):
            choices = positions[index]
            if index >= numbered:
                parts[index] = choices[number % len(choices)]
                number = number // len(choices)
            else:
                parts[index] = choices[rng.integers(0, len(choices), count)]
        return parts or [np.full(count, "")]


def _joined_columns(picks: npt.NDArray[np.str_]) -> npt.NDArray[np.str_]:
    """Each row's columns of text joined into one."""
    if picks.dtype.itemsize // 4 == 1:  # single characters: one view, no Python loop
        codes = picks.view(np.uint32).reshape(picks.shape)
        return np.ascontiguousarray(codes).view(f"<U{picks.shape[1]}").ravel()
    joined = picks[:, 0]
    for column in range(1, picks.shape[1]):
        joined = np.char.add(joined, picks[:, column])
    return joined


def _drawn(pattern: str, wanted: int, salt: int, longest: int | None) -> list[str]:
    """Up to `wanted` distinct values matching `pattern` (fewer when it has fewer), none
    longer than `longest`."""
    maker = rstr.Rstr(random.Random(salt))
    found: dict[str, None] = {}
    for _ in range(wanted * _TRIES):
        value = maker.xeger(pattern)
        if longest is None or len(value) <= longest:
            found[value] = None
        if len(found) >= wanted:
            break
    return list(found)
