"""`pgrehearse bench`, `compare`, the history a run leaves, and `run --keep-server`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import psycopg

from tests.helpers import processes_mentioning, write_scenario
from tests.helpers import run_cli as _cli


def test_a_deliberately_slower_migration_fails_the_compare(tmp_path: Path, work_root: Path) -> None:
    fast = write_scenario(tmp_path / "s", name="timed")
    base, current = tmp_path / "base.jsonl", tmp_path / "current.jsonl"
    first = _cli("bench", fast, "--rounds", "3", "--history", base, "--baseline", base)
    assert first.returncode == 0, first.stderr
    assert "no baseline for this scenario yet" in first.stdout
    # a pipe gets plain lines, no box drawing
    assert "timed: 3 round(s), medians" in first.stdout and "phase up: " in first.stdout
    assert not set("┏━┃│─╭╰┗") & set(first.stdout)
    assert len(json.loads(base.read_text())["rounds"]) == 3

    # same statement, plus 0.2 s of sleep in the up phase
    (tmp_path / "s" / "up.sql").write_text(
        "ALTER TABLE accounts ADD COLUMN note text;\nSELECT pg_sleep(0.2);\n"
    )
    slow = _cli("bench", fast, "--rounds", "3", "--history", current, "-q")
    assert slow.returncode == 0, slow.stderr

    result = _cli("compare", base, current)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "timed: SLOWER" in result.stdout
    assert "phase up" in result.stdout and "slower" in result.stdout
    assert "pg_sleep" in result.stdout and "new" in result.stdout

    as_json = json.loads(_cli("compare", base, current, "--json").stdout)
    assert as_json[0]["regressed"] is True
    [up] = [c for c in as_json[0]["changes"] if c["item"] == "phase up"]
    assert up["status"] == "slower" and up["current_s"] - up["base_s"] > 0.15

    # a generous threshold accepts it; the current run compared with itself is fine
    assert _cli("compare", base, current, "--threshold", "100000%").returncode == 0
    assert _cli("compare", current, current).returncode == 0

    (tmp_path / "s" / "down.sql").write_text("DROP TABLE nope;\n")
    broken = _cli("bench", fast, "--rounds", "1", "--history", current)
    assert broken.returncode == 1
    assert "down statement 1 failed at" in broken.stderr and "Traceback" not in broken.stderr


def test_run_appends_to_history_and_compare_reads_one_file(tmp_path: Path, work_root: Path) -> None:
    scenario = write_scenario(tmp_path / "s", name="hist")
    reports = tmp_path / "reports"
    for _ in range(2):
        assert _cli("run", scenario, "--report-dir", reports, "-q").returncode == 0
    history = reports / "history.jsonl"
    records = [json.loads(line) for line in history.read_text().splitlines()]
    assert [r["source"] for r in records] == ["rehearsal", "rehearsal"]
    assert records[0]["load"] is False and set(records[0]["rounds"][0]["phases"]) == {"up", "down"}
    # one round per run: a commit's fsync on a busy disk once took 65 ms of a 5 ms phase,
    # so the verdict here needs a delta no disk stall reaches; reading the file is the point
    one_file = _cli("compare", history, "--min-delta", "1")
    assert one_file.returncode == 0, one_file.stdout
    assert "hist: ok" in one_file.stdout
    run_dir = next(reports.glob("hist/*/summary.json")).parent
    assert _cli("compare", run_dir, history, "--min-delta", "1").returncode == 0
    assert not _cli(
        "run", scenario, "--report-dir", tmp_path / "r2", "--no-history", "-q"
    ).returncode
    assert not (tmp_path / "r2" / "history.jsonl").exists()


def test_compare_bad_input_exits_2(tmp_path: Path) -> None:
    broken = tmp_path / "h.jsonl"
    broken.write_text('{"format": 1, "rounds": []}\nnope\n')
    result = _cli("compare", broken, broken)
    assert result.returncode == 2
    assert f"{broken}:2: not JSON" in result.stderr
    assert "Traceback" not in result.stderr
    assert _cli("compare", broken, "--threshold", "lots").returncode == 2


def test_keep_server_survives_the_run_until_cleanup(tmp_path: Path, work_root: Path) -> None:
    scenario = write_scenario(tmp_path / "s", name="kept")
    result = _cli("run", scenario, "--report-dir", tmp_path / "r", "--keep-server")
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stderr.splitlines() if "server kept for debugging" in x)
    pgpass = line.split("PGPASSFILE=")[1].split()[0]
    conninfo = line.split("psql '")[1].split("'")[0]
    with psycopg.connect(conninfo, passfile=pgpass) as conn:
        row = conn.execute("SELECT count(*) FROM accounts").fetchone()
    assert row == (100,)
    summary = next((tmp_path / "r").glob("kept/*/summary.json")).read_text()
    password_line = Path(pgpass).read_text().strip()
    assert password_line.rsplit(":", 1)[1] not in summary + result.stderr + result.stdout

    # another run sweeps killed runs' folders, but leaves the kept server alone
    other = write_scenario(tmp_path / "o", name="other")
    assert _cli("run", other, "--report-dir", tmp_path / "r", "-q").returncode == 0
    assert processes_mentioning(str(work_root))
    # kept by another user's run: this user's cleanup leaves it, --all stops it
    [folder] = list(work_root.iterdir())
    owner = json.loads((folder / "owner.json").read_text())
    (folder / "owner.json").write_text(json.dumps({**owner, "uid": os.getuid() + 4242}))
    theirs = _cli("cleanup")
    assert theirs.returncode == 0 and "0 leftover folder(s) removed" in theirs.stdout
    assert processes_mentioning(str(work_root))
    cleanup = _cli("cleanup", "--all")
    assert cleanup.returncode == 0 and "1 leftover folder(s) removed" in cleanup.stdout
    assert not processes_mentioning(str(work_root))
    assert not any(work_root.iterdir())
