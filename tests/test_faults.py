"""Fault injection: the server killed during each phase of a run.

The run must notice at once, say what happened with the end of the server's log, exit 3,
keep what it measured in summary.json, and leave nothing behind (the `work_root` fixture
checks the folders; the test checks the processes).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
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
    [(pid, _)] = [(pid, line) for pid, line in processes_mentioning(str(folder)) if " -D " in line]
    return pid


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
