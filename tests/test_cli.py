"""The `pgrehearse` command in a subprocess: exit codes, messages, and cleanup on signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import processes_mentioning, write_scenario
from tests.helpers import run_cli as _cli

REPO = Path(__file__).resolve().parent.parent


def test_example_scenario_passes_and_writes_summary(tmp_path: Path, work_root: Path) -> None:
    result = _cli(
        "run", REPO / "scenarios" / "orders_add_column", "--report-dir", tmp_path, "--scale", "0.05"
    )
    assert result.returncode == 0, result.stderr
    [summary_path] = tmp_path.glob("orders_add_column/*/summary.json")
    summary = json.loads(summary_path.read_text())
    assert summary["outcome"] == "passed"
    assert [s["phase"] for s in summary["statements"]] == ["up", "up", "up", "down", "down"]
    assert all(s["seconds"] > 0 for s in summary["statements"])
    assert "orders_add_column: PASSED" in result.stdout
    assert f"summary: {summary_path}" in result.stdout
    assert "Traceback" not in result.stderr


def test_unknown_key_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    path = write_scenario(tmp_path / "s", extra="  lock_timout: 5s\n")
    result = _cli("run", path, "--report-dir", tmp_path / "reports")
    assert result.returncode == 2
    assert f"{path}:15: unknown key 'lock_timout' in migration" in result.stderr
    assert "did you mean 'lock_timeout'?" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "reports").exists()


def test_validate_command(tmp_path: Path) -> None:
    good = write_scenario(tmp_path / "good")
    assert _cli("validate", good).returncode == 0
    bad = write_scenario(tmp_path / "bad", extra="  transaction: sometimes\n")
    result = _cli("validate", bad)
    assert result.returncode == 2 and f"{bad}:15" in result.stderr


def test_syntax_error_exits_1_naming_statement_and_line(tmp_path: Path, work_root: Path) -> None:
    up = "ALTER TABLE accounts ADD COLUMN a int;\n\nALTER TABLE accounts ADD COLUMM b int;\n"
    path = write_scenario(tmp_path / "s", up=up)
    result = _cli("run", path, "--report-dir", tmp_path / "reports")
    assert result.returncode == 1, result.stderr
    up_file = tmp_path / "s" / "up.sql"
    assert f"up statement 2 failed at {up_file}:3: syntax error at or near" in result.stdout
    [summary_path] = (tmp_path / "reports").glob("t/*/summary.json")
    summary = json.loads(summary_path.read_text())
    assert summary["outcome"] == "failed"
    failed = summary["statements"][1]
    assert failed["status"] == "error" and failed["line"] == 3
    assert failed["error"]["sqlstate"] == "42601"
    assert list(work_root.iterdir()) == []


def test_missing_postgres_exits_3_with_what_to_do(tmp_path: Path) -> None:
    path = write_scenario(tmp_path / "s")
    result = _cli("run", path, "--pg-bin", tmp_path / "nowhere")
    assert result.returncode == 3
    assert "no usable PostgreSQL server binaries" in result.stderr
    assert "apt-get install postgresql" in result.stderr
    assert "Traceback" not in result.stderr


SLOW_UP = "ALTER TABLE accounts ADD COLUMN note text;\nSELECT pg_sleep(120);\n"


def _start_run(path: Path, reports: Path, **options: Any) -> subprocess.Popen[str]:
    """`pgrehearse run` of `path` in a child process, its stdout a pipe to read."""
    return subprocess.Popen(
        [sys.executable, "-m", "pgrehearse", "run", str(path), "--report-dir", str(reports)],
        stdout=subprocess.PIPE,
        text=True,
        **options,
    )


def _start_slow_run(tmp_path: Path) -> subprocess.Popen[str]:
    path = write_scenario(tmp_path / "s", up=SLOW_UP)
    process = _start_run(
        path,
        tmp_path / "reports",
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, as a shell job would have
    )
    assert process.stderr is not None
    deadline = time.monotonic() + 120
    seen = []
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        seen.append(line)
        if "up #1" in line:  # the first statement is done: pg_sleep is running now
            time.sleep(0.3)
            return process
        if not line and process.poll() is not None:
            break
    process.kill()
    pytest.fail("the run never reached the up migration:\n" + "".join(seen))


@pytest.mark.parametrize(("sig", "exit_code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_mid_run_removes_server_and_folders(
    tmp_path: Path, work_root: Path, sig: signal.Signals, exit_code: int
) -> None:
    process = _start_slow_run(tmp_path)
    assert processes_mentioning(str(work_root)), "the server should be running now"
    os.killpg(process.pid, sig)  # like Ctrl-C on a terminal: the whole job gets it
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == exit_code, stderr
    assert f"interrupted by {sig.name}" in stderr
    assert "Traceback" not in stderr
    assert processes_mentioning(str(work_root)) == []
    assert list(work_root.iterdir()) == []
    [summary_path] = (tmp_path / "reports").glob("t/*/summary.json")
    summary = json.loads(summary_path.read_text())
    assert summary["outcome"] == "interrupted"
    assert summary["phases"][-1] == {**summary["phases"][-1], "name": "up", "status": "interrupted"}


@pytest.mark.parametrize("streams", ["1", "2"], ids=["one-session", "sessions-side-by-side"])
def test_a_signal_while_seeding_leaves_no_process_pipe_or_folder(
    tmp_path: Path, work_root: Path, streams: str
) -> None:
    """SIGTERM while rows stream into the server (through the pipe the server reads, from
    the generating worker): the worker, the server, the pipe and its folder all go."""
    path = write_scenario(tmp_path / "s", rows=3_000_000)
    process = _start_run(
        path,
        tmp_path,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env={**os.environ, "PGREHEARSE_SEED_STREAMS": streams},
    )
    assert process.stderr is not None
    seen = []
    while (line := process.stderr.readline()) or process.poll() is None:
        seen.append(line)
        if line.startswith("▸ seed"):
            break
    else:
        pytest.fail("the run never began seeding:\n" + "".join(seen))
    time.sleep(1.0)  # rows are streaming now (3M rows take several seconds)
    assert processes_mentioning(str(path)), "the run's processes should be there"
    os.killpg(process.pid, signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert "Traceback" not in stderr
    assert processes_mentioning(str(path)) == []  # the run and its generating workers
    assert processes_mentioning(str(work_root)) == []  # the server
    assert list(work_root.iterdir()) == []  # its folder and the pipe's


def test_a_reader_that_leaves_mid_run_does_not_stop_the_rehearsal(
    tmp_path: Path, work_root: Path
) -> None:
    """`pgrehearse run … 2>&1 | head -1`: the rest of the progress and the summary go
    nowhere, and the rehearsal still runs to its end, with its reports and exit code."""
    path = write_scenario(tmp_path / "s", rows=2_000)
    process = _start_run(path, tmp_path, stderr=subprocess.STDOUT)
    assert process.stdout is not None
    assert process.stdout.readline().startswith("▸ provision")
    process.stdout.close()  # the reader leaves: every later write meets a broken pipe
    assert process.wait(timeout=300) == 0
    [summary] = tmp_path.glob("t/*/summary.json")
    assert json.loads(summary.read_text())["outcome"] == "passed"
    assert processes_mentioning(str(work_root)) == [] and list(work_root.iterdir()) == []


def test_a_stream_whose_reader_left_keeps_the_exit_status() -> None:
    writer = (
        "import sys\n"
        "from pgrehearse._reader_may_leave import ReaderMayLeave\n"
        "out = ReaderMayLeave(sys.stdout)\n"
        "for _ in range(20_000):\n"
        "    out.write('a line of progress\\n'); out.flush()\n"
        "print('left' if out.left else 'still read', file=sys.stderr)\n"
        "sys.exit(3)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", writer], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.readline()
    process.stdout.close()
    stderr = process.stderr.read()
    # without it: BrokenPipeError's traceback, or exit status 120 from the flush at exit
    assert process.wait(timeout=60) == 3, stderr
    assert stderr == "left\n"


def test_sigkilled_run_is_cleaned_by_the_next_run(tmp_path: Path, work_root: Path) -> None:
    process = _start_slow_run(tmp_path)
    [leftover] = list(work_root.iterdir())
    process.kill()
    process.communicate(timeout=30)
    assert leftover.exists()

    result = _cli("run", write_scenario(tmp_path / "next"), "--report-dir", tmp_path / "r2")
    assert result.returncode == 0, result.stderr
    assert not leftover.exists()
    assert processes_mentioning(str(work_root)) == []
    assert list(work_root.iterdir()) == []


def test_markdown_summary_and_re_rendering(tmp_path: Path, work_root: Path) -> None:
    path = write_scenario(tmp_path / "s")
    assert _cli("run", path, "--report-dir", tmp_path / "reports").returncode == 0
    [run_dir] = (tmp_path / "reports" / "t").iterdir()
    markdown = (run_dir / "summary.md").read_text()
    assert markdown.startswith("### ✅ pgrehearse: `t` PASSED")
    assert "| up #1 | up.sql:1 |" in markdown
    html = (run_dir / "report.html").read_text()
    assert '<span class="verdict passed">PASSED</span>' in html
    assert html.count("<svg") >= 1  # the lock timeline
    # the data rehearsed on: each generator with its parameters, inferred ones marked
    assert "<code>{faker: email, pool: 50, unique: true}</code>" in html
    assert "<code>{int: [0, 1000]}</code>" in html
    for remote in ("<script", "<link", 'src="http', "url(http"):
        assert remote not in html  # self-contained: nothing loaded, no JavaScript
    statements_csv = (run_dir / "statements.csv").read_text()
    for name in ("summary.md", "report.html", "statements.csv", "locks.csv", "waits.csv"):
        (run_dir / name).unlink()
    again = _cli("report", run_dir)
    assert again.returncode == 0, again.stderr
    assert (run_dir / "summary.md").read_text() == markdown
    assert (run_dir / "report.html").read_text().count("<svg") == html.count("<svg")
    assert (run_dir / "statements.csv").read_text() == statements_csv
    assert (run_dir / "locks.csv").is_file() and (run_dir / "waits.csv").is_file()
    missing = _cli("report", tmp_path / "nowhere")
    assert missing.returncode == 2
    (run_dir / "report.html").unlink()
    latest = _cli("report", run_dir.parent)  # the scenario's folder: its latest run
    assert latest.returncode == 0, latest.stderr
    assert f"latest run: {run_dir}" in latest.stdout and (run_dir / "report.html").is_file()
    # a summary.json written before a key existed still renders
    summary = json.loads((run_dir / "summary.json").read_text())
    del summary["prediction"]
    (run_dir / "summary.json").write_text(json.dumps(summary))
    older = _cli("report", run_dir)
    assert older.returncode == 0, older.stderr
    # one that lacks what every report needs is named, without a traceback
    del summary["statements"]
    (run_dir / "summary.json").write_text(json.dumps(summary))
    broken = _cli("report", run_dir)
    assert broken.returncode == 2 and "statements" in broken.stderr, broken.stderr
    assert "Traceback" not in broken.stderr


def test_an_unexpected_exception_is_one_line_and_exit_4(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache_dir: Path
) -> None:
    from click.testing import CliRunner

    from pgrehearse.cli import main

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("pgrehearse.rehearsal.run.rehearse", broken)
    scenario = write_scenario(tmp_path / "s")
    done = CliRunner().invoke(main, ["run", str(scenario), "--report-dir", str(tmp_path / "r")])
    assert done.exit_code == 4
    assert "Traceback" not in done.output
    assert "internal error (a bug in pgrehearse): RuntimeError: boom" in done.output
    [log] = (cache_dir / "logs").glob("internal-error-*.log")
    assert str(log) in done.output
    assert "Traceback" in log.read_text() and "boom" in log.read_text()


@pytest.mark.parametrize("command", ["run", "bench"])
@pytest.mark.parametrize("scale", ["nan", "inf", "-inf", "0"])
def test_a_scale_that_is_not_a_finite_positive_number_exits_2(
    tmp_path: Path, command: str, scale: str
) -> None:
    from click.testing import CliRunner

    from pgrehearse.cli import main

    scenario = write_scenario(tmp_path / "s")
    done = CliRunner().invoke(main, [command, str(scenario), "--scale", scale])
    assert done.exit_code == 2
    assert "give a finite number above 0" in done.output
    assert "Traceback" not in done.output


def test_a_scenario_scale_of_nan_is_refused_plainly(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path / "s")
    text = scenario.read_text().replace("data:\n", "data:\n  scale: .nan\n", 1)
    scenario.write_text(text)
    done = _cli("validate", scenario)
    assert done.returncode == 2
    assert "data.scale: Input should be a finite number" in done.stderr
    assert "1000" not in done.stderr


def test_an_unwritable_report_folder_exits_3_before_any_work(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path / "s")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the report folder's parent should be")
    done = _cli("run", scenario, "--report-dir", blocker / "reports", "--pg-bin", "/nonexistent")
    assert done.returncode == 3, done.stderr
    assert f"cannot write reports to {blocker / 'reports'}" in done.stderr
    assert "--report-dir" in done.stderr and "Traceback" not in done.stderr
    # refused before looking for a server (the bogus --pg-bin was never reached)
    assert "/nonexistent" not in done.stderr


def test_an_interrupt_before_any_server_does_not_claim_one_was_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from pgrehearse.cli import main

    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("pgrehearse.rehearsal.run.rehearse", interrupted)
    done = CliRunner().invoke(main, ["run", str(write_scenario(tmp_path / "s"))])
    assert done.exit_code == 130
    assert "interrupted by SIGINT" in done.output
    assert "server" not in done.output


def test_run_on_a_folder_rehearses_every_scenario_and_exits_with_the_worst(
    tmp_path: Path, work_root: Path
) -> None:
    folder = tmp_path / "scenarios"
    write_scenario(folder / "a", name="good")
    write_scenario(
        folder / "b",
        name="over",
        up="LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE;\nSELECT pg_sleep(0.2);\n",
        down=None,
        extra="budgets:\n  max_lock_ms: {AccessExclusiveLock: 50}\n  roundtrip: false\n",
    )
    broken = write_scenario(folder / "c", name="broken")
    broken.write_text(broken.read_text() + "colour: blue\n")
    result = _cli("run", folder, "--report-dir", tmp_path / "reports", "-q")
    lines = result.stdout.splitlines()
    assert any(line.startswith("good: PASSED") for line in lines), result.stdout
    assert any(line.startswith("over: FAILED — budget exceeded") for line in lines), lines
    assert any("c/scenario.yaml: INVALID_INPUT" in line for line in lines), lines
    assert "colour" in result.stderr and "Traceback" not in result.stderr
    assert lines[-1] == "3 scenarios: 1 passed, 2 not (exit 2: INVALID_INPUT)"
    assert result.returncode == 2
    # one scenario alone keeps the full summary and its own exit code
    alone = _cli("run", folder / "b", "--report-dir", tmp_path / "reports", "-q")
    assert alone.returncode == 1 and "over: FAILED" in alone.stdout
