"""A JSON column under a unique index: the key the index reads is numbered, so no two rows
share it (`CREATE UNIQUE INDEX ON events ((payload ->> 'id'))`, as teams keep an external
system's id inside the document)."""

from __future__ import annotations

import re
from typing import Any

from pgrehearse.scenario import JsonColumn

_KEY = re.compile(r"->>?\s*'((?:[^']|'')*)'")
_INFERRED_FIELDS: dict[str, Any] = {"id": {"int": [1, 1000]}, "tag": {"choice": ["a", "b", "c"]}}


def json_object(
    unique_expression: str | None = None, *, unique: bool = False, keys: tuple[str, ...] = ()
) -> JsonColumn:
    """A small JSON object, holding `keys` too (a CHECK's `payload ? 'amount'`); with
    `unique`, the key path `unique_expression` reads from the column (`payload ->> 'id'`,
    `(payload -> 'meta') ->> 'ref'`) is numbered, or a top-level `id` when it reads none
    (the whole document is unique)."""
    fields = dict(_INFERRED_FIELDS)
    for key in keys:
        fields.setdefault(key, _value_for(key))
    if unique:
        path = key_path(unique_expression or "") or ["id"]
        numbered: dict[str, Any] = {"sequence": 1}
        for key in reversed(path[1:]):
            numbered = {"json": {key: numbered}}
        fields[path[0]] = numbered
    return JsonColumn.model_validate({"json": fields})


_NUMERIC_KEY = re.compile(
    r"(^|_)(id|amount|total|price|cost|count|qty|quantity|number|size|score|n)$", re.IGNORECASE
)


def _value_for(key: str) -> dict[str, Any]:
    """A value for a key a CHECK requires: a number where its name says so, else a word."""
    if _NUMERIC_KEY.search(key):
        return {"int": [1, 1000]}
    return {"choice": ["alpha", "beta", "gamma", "delta"]}


def key_path(expression: str) -> list[str]:
    """The keys an expression such as `((payload -> 'meta'::text) ->> 'ref'::text)` reads,
    outermost first."""
    return [key.replace("''", "'") for key in _KEY.findall(expression)]
