"""The local backend: a real, private, password-protected server that leaves nothing behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psycopg
import pytest

from pgrehearse.backends import LocalBackend, PostgresBinaries
from pgrehearse.backends.workdir import sweep_leftovers
from tests.helpers import processes_mentioning


def test_server_is_private_and_configured(work_root: Path, pg_binaries: PostgresBinaries) -> None:
    server = LocalBackend(pg_binaries).start({"fsync": "off", "work_mem": "7MB"})
    try:
        kwargs = server.connect_kwargs("postgres", "pgrehearse:test")
        with psycopg.connect(**kwargs) as conn:
            settings = dict(
                conn.execute(
                    "SELECT name, setting FROM pg_settings WHERE name IN "
                    "('fsync', 'listen_addresses', 'password_encryption', 'work_mem')"
                ).fetchall()
            )
            method = conn.execute("SELECT DISTINCT auth_method FROM pg_hba_file_rules").fetchall()
        assert settings["fsync"] == "off"
        assert settings["work_mem"] == str(7 * 1024)
        assert settings["listen_addresses"] == "127.0.0.1"
        assert settings["password_encryption"] == "scram-sha-256"
        assert method == [("scram-sha-256",)]
        assert server.version.startswith(str(pg_binaries.major))

        # TCP on 127.0.0.1 works with the password and is refused without it
        tcp = {**kwargs, "host": "127.0.0.1"}
        with psycopg.connect(**tcp) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(**{**tcp, "password": "wrong"})

        if os.geteuid() == 0:  # the server must not run as root
            owner = server.data_dir.stat().st_uid
            assert owner != 0
            assert Path(f"/proc/{server.pid}").stat().st_uid == owner
        # the password never lands on disk in the server folder
        for path in server.workdir.rglob("*"):
            if path.is_file() and path.stat().st_size < 1_000_000:
                assert server.password.encode() not in path.read_bytes(), path
    finally:
        server.close()
    assert not server.workdir.exists()
    assert processes_mentioning(str(server.workdir)) == []


def test_restart_applies_new_settings(work_root: Path, pg_binaries: PostgresBinaries) -> None:
    server = LocalBackend(pg_binaries).start({"fsync": "off"})
    try:
        first_pid = server.pid
        server.restart({"fsync": "on"})
        assert server.pid != first_pid
        with psycopg.connect(**server.connect_kwargs("postgres", "t")) as conn:
            assert conn.execute("SHOW fsync").fetchone() == ("on",)
    finally:
        server.close()
    server.close()  # idempotent


def test_bad_setting_is_reported_with_the_server_log(
    work_root: Path, pg_binaries: PostgresBinaries
) -> None:
    from pgrehearse import EnvironmentProblem

    with pytest.raises(EnvironmentProblem, match="shared_bufers"):
        LocalBackend(pg_binaries).start({"shared_bufers": "1GB"})
    assert list(work_root.iterdir()) == []


_ORPHAN_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pgrehearse.backends import LocalBackend, find_binaries
    server = LocalBackend(find_binaries()).start({})
    print(server.workdir, server.pid, flush=True)
    time.sleep(600)
    """
)


def test_leftovers_of_a_killed_run_are_removed_by_the_next(
    work_root: Path, pg_binaries: PostgresBinaries
) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _ORPHAN_SCRIPT], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    workdir_text, _pid_text = child.stdout.readline().split()
    workdir = Path(workdir_text)
    assert workdir.is_dir()
    child.send_signal(signal.SIGKILL)
    child.wait()
    # the parent-death signal stops the orphaned postmaster by itself
    deadline = time.monotonic() + 10
    while processes_mentioning(str(workdir)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_mentioning(str(workdir)) == []
    assert workdir.is_dir()  # ...but only the next run can remove the folder
    owner = json.loads((workdir / "owner.json").read_text())
    assert owner["pid"] == child.pid

    assert sweep_leftovers(work_root) == [workdir]
    assert not workdir.exists()


def test_sweep_leaves_folders_of_live_runs_alone(
    work_root: Path, pg_binaries: PostgresBinaries
) -> None:
    server = LocalBackend(pg_binaries).start({})
    try:
        assert sweep_leftovers(work_root) == []
        assert server.workdir.is_dir()
    finally:
        server.close()


def test_sweep_stops_an_orphaned_server_still_running(
    work_root: Path, pg_binaries: PostgresBinaries
) -> None:
    server = LocalBackend(pg_binaries).start({})
    # pretend the owner died: point owner.json at a pid that cannot exist
    owner = json.loads((server.workdir / "owner.json").read_text())
    dead = {**owner, "pid": 2**22 + 1, "start_time": "0"}
    (server.workdir / "owner.json").write_text(json.dumps(dead))
    assert processes_mentioning(str(server.data_dir))
    removed = sweep_leftovers(work_root)
    assert removed == [server.workdir]
    assert processes_mentioning(str(server.data_dir)) == []
    server._process = None  # already stopped by the sweep
    server.close()


def _dead_owner(folder: Path, kind: str = "dump") -> None:
    """Make `folder` look like pgrehearse's, left by a process that is gone."""
    owner = {"made_by": "pgrehearse", "kind": kind, "pid": 2**22 + 1, "start_time": "0"}
    (folder / "owner.json").write_text(json.dumps(owner))


def test_sweep_never_touches_folders_it_did_not_make(tmp_path: Path) -> None:
    root = tmp_path / "tmp"
    old = time.time() - 3600
    # a user's folder that only shares the name prefix
    notes = root / "pgrehearse-notes"
    notes.mkdir(parents=True)
    (notes / "f").write_text("x")
    # an owner file without pgrehearse's mark (written by something else)
    foreign = root / "pgrehearse-foreign"
    foreign.mkdir()
    (foreign / "owner.json").write_text(json.dumps({"pid": 2**22 + 1, "start_time": "0"}))
    # pgrehearse's mark, but holding a file pgrehearse never writes there
    adopted = root / "pgrehearse-dump-adopted"
    adopted.mkdir()
    _dead_owner(adopted)
    (adopted / "thesis.tex").write_text("keep me")
    for folder in (notes, foreign, adopted):
        os.utime(folder, (old, old))
    # a dump folder a killed run left: the only one to go
    dump = root / "pgrehearse-dump-left"
    dump.mkdir()
    _dead_owner(dump)
    (dump / "schema.dump").write_bytes(b"PGDMP")

    assert sweep_leftovers(root, kept=True) == [dump]
    assert (notes / "f").read_text() == "x"
    assert foreign.is_dir() and (adopted / "thesis.tex").read_text() == "keep me"


def test_cleanup_command_leaves_a_users_folder_alone(tmp_path: Path) -> None:
    notes = tmp_path / "pgrehearse-notes"
    notes.mkdir()
    (notes / "f").write_text("x")
    old = time.time() - 1200
    os.utime(notes, (old, old))
    done = subprocess.run(
        [sys.executable, "-m", "pgrehearse", "cleanup"],
        env={**os.environ, "PGREHEARSE_TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "0 leftover folder(s) removed" in done.stdout
    assert (notes / "f").read_text() == "x"
