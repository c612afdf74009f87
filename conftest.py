"""Shared test fixtures. Tests that need PostgreSQL start a real one through the local backend."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pgrehearse.backends import LocalBackend, LocalServer, PostgresBinaries, find_binaries
from pgrehearse.backends.settings import rehearsal_settings

pytest_plugins = ["pytester"]

# Fixtures that start (or let the code under test start) a real PostgreSQL server.
_SERVER_FIXTURES = {"work_root", "pg_binaries"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs PostgreSQL `pg`, so `pytest -m "not pg"` runs the pure
    tests alone in seconds."""
    for item in items:
        if _SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.pg)


@pytest.fixture(scope="session")
def pg_binaries() -> PostgresBinaries:
    """The PostgreSQL server binaries the suite runs against (found like the CLI finds them)."""
    return find_binaries()


@pytest.fixture(autouse=True)
def cache_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets an empty seeded-snapshot cache of its own."""
    folder = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("PGREHEARSE_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def work_root(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private folder for this test's server folders, reachable by the server's user.

    pytest's own tmp_path is private to root (mode 0700), which the unprivileged server
    user could not enter, so server folders go here instead.
    """
    root = Path(tempfile.mkdtemp(prefix="pgrehearse-test-"))
    root.chmod(0o755)
    monkeypatch.setenv("PGREHEARSE_TMPDIR", str(root))
    yield root
    leftovers = list(root.iterdir())
    shutil.rmtree(root, ignore_errors=True)
    assert not leftovers, f"a test left server folders behind: {leftovers}"


@pytest.fixture(scope="module")
def server(pg_binaries: PostgresBinaries) -> Iterator[LocalServer]:
    """One server with the rehearsal's settings, shared by a module's tests."""
    root = Path(tempfile.mkdtemp(prefix="pgrehearse-test-"))
    root.chmod(0o755)  # the server's unprivileged user must reach its folder
    started = LocalBackend(pg_binaries, work_root=root).start(rehearsal_settings({}))
    try:
        yield started
    finally:
        started.close()
        shutil.rmtree(root, ignore_errors=True)
