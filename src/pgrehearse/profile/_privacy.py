"""What of production's values may leave the server in a profile.

Numbers, dates, timestamps, booleans and enum labels are aggregates and are kept. The
values of text-like columns (the most common ones, histogram bounds, array elements) are
not: each is replaced by a Faker value chosen by the column's name, of the same length and
as distinct as the originals, so frequencies, widths and distinct counts survive and
the words do not. `--keep-values` keeps them; `--pii PATTERN` drops the values of
matching columns of any type.
"""

from __future__ import annotations

import fnmatch
import functools
import zlib
from collections.abc import Sequence
from typing import Any

TEXT_CATEGORIES = {"S"}  # string types: text, varchar, char, name, citext
_FILLER = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor"


def is_pii(table: str, column: str, patterns: Sequence[str]) -> bool:
    """Whether `--pii` names this column: a pattern over `column` or `table.column`."""
    qualified = f"{table}.{column}"
    short = f"{table.rsplit('.', 1)[-1]}.{column}"
    return any(
        fnmatch.fnmatchcase(name, pattern)
        for pattern in patterns
        for name in (column, qualified, short)
    )


def fake_like(values: Sequence[str], provider: str, seed_text: str) -> list[str]:
    """One fake per value, each as long as its original, all distinct where the originals
    are, made by Faker's `provider` (seeded from `seed_text`, so the same column gives the
    same fakes)."""
    fake = _faker()
    fake.seed_instance(zlib.crc32(seed_text.encode()))
    make = getattr(fake, provider, None)
    if make is None or not callable(make):
        make = fake.word
    made: list[str] = []
    seen: set[str] = set()
    for number, original in enumerate(values):
        length = len(original)
        text = _fit(str(_call(make)), length, number)
        attempt = 0
        while text in seen and attempt < 20:
            attempt += 1
            text = _fit(str(_call(make)), length, number + attempt * 7919)
        if text in seen:
            text = _numbered(text, number, length)
        seen.add(text)
        made.append(text)
    return made


@functools.cache
def _faker() -> Any:
    """One Faker for every column (making one takes tens of milliseconds); each column
    seeds it afresh, so its stand-ins do not depend on the others'."""
    from faker import Faker

    return Faker()


def _call(make: Any) -> Any:
    try:
        return make()
    except TypeError:  # a provider that needs arguments
        return "value"


def _fit(text: str, length: int, salt: int) -> str:
    """`text` cut or padded (with filler words) to exactly `length` characters."""
    if length <= 0:
        return ""
    while len(text) < length:
        start = (salt * 13 + len(text)) % len(_FILLER)
        text += " " + _FILLER[start:] + " " + _FILLER
    return text[:length].rstrip().ljust(length, "x")


def _numbered(text: str, number: int, length: int) -> str:
    suffix = str(number)
    if len(suffix) >= length:
        return suffix[-length:] if length else ""
    return text[: length - len(suffix)] + suffix
