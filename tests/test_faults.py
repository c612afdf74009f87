"""Fault injection: the server killed during each phase of a run.

The run must notice at once, say what happened with the end of the server's log, exit 3,
keep what it measured in summary.json, and leave nothing behind (the `work_root` fixture
checks the folders; the test checks the processes).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import processes_mentioning, write_scenario

LOAD = """
load:
  clients: 2
  warmup: {warmup}
  cooldown: 0s
  transactions:
    - name: read
      sql: "SELECT balance FROM accounts WHERE id = :id"
      params: {{id: {{int: [1, 50]}}}}
"""

RUN = [sys.executable, "-m", "pgrehearse", "run"]

# phase to kill in -> (rows, up, warmup)
PHASES = {
    "seed": (400_000, "ALTER TABLE accounts ADD COLUMN note text;", "0s"),
    "warmup": (50, "ALTER TABLE accounts ADD COLUMN note text;", "60s"),
    "up": (50, "SELECT pg_sleep(60);", "0s"),
}


def _postmaster(folder: Path) -> int:
    """The server's pid, from its own pid file: a backend that has just been forked still
    shows the postmaster's command line for a moment, so the process list can be ambiguous."""
    [pid_file] = folder.glob("pgrehearse-server-*/data/postmaster.pid")
    return int(pid_file.read_text().split()[0])


@pytest.mark.parametrize("phase", list(PHASES))
def test_server_killed_mid_phase_exits_3_and_keeps_the_summary(
    tmp_path: Path, work_root: Path, phase: str
) -> None:
    rows, up, warmup = PHASES[phase]
    scenario = write_scenario(
        tmp_path / "s", rows=rows, up=up, down=None, extra=LOAD.format(warmup=warmup)
    )
    reports = tmp_path / "reports"
    run = subprocess.Popen(
        [*RUN, str(scenario), "--no-cache", "--report-dir", str(reports)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert run.stderr is not None
    seen = []
    for line in run.stderr:
        seen.append(line)
        if line.startswith(f"▸ {phase}:"):
            break
    else:
        pytest.fail("the run never reached the phase:\n" + "".join(seen))
    os.kill(_postmaster(work_root), signal.SIGKILL)
    _stdout, stderr = run.communicate(timeout=120)
    stderr = "".join(seen) + stderr
    assert run.returncode == 3, stderr
    assert "the PostgreSQL server stopped unexpectedly (signal 9)" in stderr
    assert "Traceback" not in stderr
    [summary_file] = reports.glob("t/*/summary.json")
    summary = json.loads(summary_file.read_text())
    assert summary["outcome"] == "error"
    assert "stopped unexpectedly (signal 9)" in summary["failure"]
    killed = [p for p in summary["phases"] if p["name"] == phase]
    assert killed and killed[0]["status"] == "failed"
    assert processes_mentioning(str(work_root)) == []


@pytest.fixture
def small_disk() -> Iterator[Path]:
    """A 120 MB tmpfs as the server folders' root (needs root; skipped otherwise), in a
    folder the server's unprivileged user can enter."""
    outer = Path(tempfile.mkdtemp(prefix="pgrehearse-test-"))
    outer.chmod(0o755)
    mount = outer / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=120m,mode=0755", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        shutil.rmtree(outer, ignore_errors=True)
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
        shutil.rmtree(outer, ignore_errors=True)


def test_a_full_disk_while_seeding_exits_3_naming_the_folder(
    tmp_path: Path, small_disk: Path
) -> None:
    scenario = write_scenario(tmp_path / "s", rows=3_000_000, down=None)
    done = subprocess.run(
        [*RUN, str(scenario), "--no-cache", "--report-dir", str(tmp_path / "reports")],
        env={**os.environ, "PGREHEARSE_TMPDIR": str(small_disk)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    assert str(small_disk) in done.stderr  # where the space ran out
    assert "No space left on device" in done.stderr or "could not extend" in done.stderr
    # the space needed, extrapolated from what the rows sent so far took: more than the disk
    needed = re.search(r"space needed: about ([\d.,]+) GB for the 3,000,000 rows", done.stderr)
    assert needed is not None, done.stderr
    assert float(needed.group(1).replace(",", "")) * 1e9 > shutil.disk_usage(small_disk).total
    assert list(small_disk.iterdir()) == []  # the server and its folder are gone
