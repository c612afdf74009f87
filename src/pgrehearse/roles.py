"""Who a database session is: every connection pgrehearse opens names its role in
`application_name` (`pgrehearse:<role>[:<detail>]`), and the sampler reads it back."""

from __future__ import annotations

from enum import StrEnum

APP_PREFIX = "pgrehearse"


class SessionRole(StrEnum):
    """A session's part in a rehearsal. Values are plain strings, as stored in reports."""

    HARNESS = "harness"  # pgrehearse's own bookkeeping (fingerprints, DDL, ANALYZE)
    SAMPLER = "sampler"  # the lock sampler's connection
    PROBE = "probe"  # short readiness checks of a backend
    SEED = "seed"  # bulk loading
    MIGRATION = "migration"  # the migration under test
    LOAD = "load"  # the simulated application
    BLOCKER = "blocker"  # a long transaction the scenario asked for
    TEST = "test"  # a test's own connection to a seeded copy
    AUTOVACUUM = "autovacuum"  # the server's autovacuum workers
    OTHER = "other"  # anything not started by pgrehearse (autovacuum, a psql, ...)

    def application_name(self, detail: str | int | None = None) -> str:
        """The `application_name` this role's sessions carry."""
        name = f"{APP_PREFIX}:{self.value}"
        return name if detail is None else f"{name}:{detail}"

    @property
    def observed(self) -> bool:
        """Whether the sampler records this role's locks (pgrehearse's own are left out)."""
        return self not in (SessionRole.HARNESS, SessionRole.SAMPLER, SessionRole.PROBE)

    @classmethod
    def of(cls, application_name: str | None) -> SessionRole:
        """The role of a session from its `application_name`; OTHER when not ours."""
        parts = (application_name or "").split(":")
        if len(parts) < 2 or parts[0] != APP_PREFIX:
            return cls.OTHER
        try:
            return cls(parts[1])
        except ValueError:
            return cls.OTHER
