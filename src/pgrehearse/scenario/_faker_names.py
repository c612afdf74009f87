"""The names of Faker's providers, for validating scenarios without building values.

Read from Faker's source files (the base providers and the default `en_US` locale) rather
than by importing Faker, so `pgrehearse validate` stays fast; cached per Faker version.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import json
from functools import lru_cache
from pathlib import Path

from pgrehearse.paths import cache_root

_LOCALES = ("en", "en_US")


@lru_cache(maxsize=1)
def faker_providers() -> list[str]:
    version = importlib.metadata.version("faker")
    cached = cache_root() / f"faker-providers-{version}.json"
    try:
        names: list[str] = json.loads(cached.read_text(encoding="utf-8"))
        return names
    except (OSError, ValueError):
        pass
    names = sorted(_read_provider_names())
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{id(names)}.partial")
        partial.write_text(json.dumps(names), encoding="utf-8")
        partial.replace(cached)
    except OSError:
        pass  # a read-only cache only costs the next run the same parse
    return names


def _read_provider_names() -> set[str]:
    spec = importlib.util.find_spec("faker")
    if spec is None or spec.origin is None:
        return set()
    root = Path(spec.origin).parent / "providers"
    files = [root / "__init__.py"]
    for kind in sorted(p for p in root.iterdir() if (p / "__init__.py").is_file()):
        files.append(kind / "__init__.py")
        files += [kind / locale / "__init__.py" for locale in _LOCALES]
    names: set[str] = set()
    for path in files:
        if path.is_file():
            names |= _public_methods(path)
    return names


def _public_methods(path: Path) -> set[str]:
    """Public methods of the file's classes, aliases (`state = administrative_unit`) too."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        for item in node.body:
            if isinstance(item, ast.FunctionDef):
                names.add(item.name)
            elif isinstance(item, ast.Assign) and isinstance(item.value, ast.Name):
                names |= {t.id for t in item.targets if isinstance(t, ast.Name)}
    return {name for name in names if not name.startswith("_")}
