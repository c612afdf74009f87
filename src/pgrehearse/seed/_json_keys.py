"""A JSON column under a unique index: the key the index reads is numbered, so no two rows
share it (`CREATE UNIQUE INDEX ON events ((payload ->> 'id'))`, as teams keep an external
system's id inside the document)."""

from __future__ import annotations

import re
from typing import Any

from pgrehearse.scenario import JsonColumn

_KEY = re.compile(r"->>?\s*'((?:[^']|'')*)'")
_INFERRED_FIELDS: dict[str, Any] = {"id": {"int": [1, 1000]}, "tag": {"choice": ["a", "b", "c"]}}


def json_object(unique_expression: str | None = None, *, unique: bool = False) -> JsonColumn:
    """A small JSON object; with `unique`, the key path `unique_expression` reads from the
    column (`payload ->> 'id'`, `(payload -> 'meta') ->> 'ref'`) is numbered, or a
    top-level `id` when it reads none (the whole document is unique)."""
    fields = dict(_INFERRED_FIELDS)
    if unique:
        path = key_path(unique_expression or "") or ["id"]
        numbered: dict[str, Any] = {"sequence": 1}
        for key in reversed(path[1:]):
            numbered = {"json": {key: numbered}}
        fields[path[0]] = numbered
    return JsonColumn.model_validate({"json": fields})


def key_path(expression: str) -> list[str]:
    """The keys an expression such as `((payload -> 'meta'::text) ->> 'ref'::text)` reads,
    outermost first."""
    return [key.replace("''", "'") for key in _KEY.findall(expression)]
