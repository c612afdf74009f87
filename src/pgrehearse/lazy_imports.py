"""Package attributes imported on first use, so `import pgrehearse.x` stays cheap.

A package lists where each public name lives; its module-level `__getattr__` and `__dir__`
come from `lazy_attributes`. Type checkers see the names through the package's own
`if TYPE_CHECKING:` imports.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_attributes(
    package: str, where: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`(__getattr__, __dir__)` for `package`: name `n` is imported from the submodule
    `where[n]` on first use and kept in the package's `namespace`."""

    def get(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    def listing() -> list[str]:
        return sorted([*namespace, *where])

    return get, listing
