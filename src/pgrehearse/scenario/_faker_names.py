"""The names of Faker's providers, for validating scenarios without building values."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def faker_providers() -> list[str]:
    from faker import Faker

    fake = Faker()
    return sorted(
        name
        for name in dir(fake)
        if not name.startswith("_") and name not in {"seed", "seed_instance", "seed_locale"}
    )
