"""Application load during the migration, on a real server."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from pgrehearse import Rehearsal, load_scenario, rehearse
from pgrehearse.backends import LocalBackend, LocalServer, PostgresBinaries, Settings
from pgrehearse.load import classify
from pgrehearse.load._pgbench import PgbenchScriptError, parse_pgbench
from pgrehearse.load._sql import positional
from pgrehearse.rehearsal.progress import SilentProgress
from pgrehearse.rehearsal.result import PhaseResult

REPO = Path(__file__).resolve().parent.parent

SCHEMA = """
CREATE TABLE accounts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner text NOT NULL,
    balance integer NOT NULL DEFAULT 0
);
"""


def _scenario(folder: Path, *, up: str, load: str, migration_extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "schema.sql").write_text(SCHEMA)
    (folder / "up.sql").write_text(up)
    path = folder / "scenario.yaml"
    path.write_text(
        "version: 1\nname: loaded\nschema: schema.sql\n"
        "data:\n  tables:\n    accounts:\n      rows: 2000\n"
        "      columns: {owner: {faker: name, pool: 50}}\n"
        f"migration:\n  up: up.sql\n{migration_extra}" + textwrap.dedent(load)
    )
    return path


READ_AND_WRITE = """
load:
  clients: 4
  warmup: 0.5s
  cooldown: 0.5s
  transactions:
    - name: read_owner
      weight: 3
      sql: SELECT owner FROM accounts WHERE id = :id
      params: {id: {ref: accounts.id}}
    - name: deposit
      sql: [UPDATE accounts SET balance = balance + :amount WHERE id = :id]
      params: {id: {ref: accounts.id}, amount: {int: [1, 100]}}
"""


def test_renamed_column_breaks_the_running_application(tmp_path: Path, work_root: Path) -> None:
    path = _scenario(
        tmp_path, up="ALTER TABLE accounts RENAME COLUMN owner TO holder;", load=READ_AND_WRITE
    )
    result = rehearse(load_scenario(path), report_dir=tmp_path / "reports")
    assert result.outcome == "failed"
    assert result.failure is not None
    assert "breaks the running application" in result.failure
    assert "'read_owner'" in result.failure and "42703" in result.failure
    assert result.load is not None
    [broken] = result.load.breaking
    assert broken["transaction"] == "read_owner" and broken["sqlstate"] == "42703"
    assert broken["message"] == 'column "owner" does not exist'
    assert broken["after_statement"] == "up #1"
    phases = {p["phase"]: p for p in result.load.phases}
    assert phases["baseline"]["errors"]["undefined"] == 0 and phases["baseline"]["ok"] > 100
    assert phases["after"]["by_transaction"]["read_owner"]["errors"]["undefined"] > 0
    assert phases["after"]["by_transaction"]["deposit"]["errors"]["undefined"] == 0

    assert result.run_dir is not None
    with (result.run_dir / "latency.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert set(rows[0]) == {
        "start_s",
        "end_s",
        "transaction",
        "client",
        "client_pid",
        "latency_ms",
        "lateness_ms",
        "response_ms",
        "outcome",
        "sqlstate",
        "phase",
    }
    assert {r["outcome"] for r in rows} == {"ok", "undefined"}
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["load"]["breaking"][0]["transaction"] == "read_owner"


def test_allow_breaking_passes_but_still_reports(tmp_path: Path, work_root: Path) -> None:
    load = READ_AND_WRITE.replace("  clients: 4", "  clients: 2\n  allow_breaking: true")
    path = _scenario(tmp_path, up="ALTER TABLE accounts RENAME COLUMN owner TO holder;", load=load)
    result = rehearse(load_scenario(path), report_dir=None)
    assert result.passed and result.load is not None and result.load.breaking


def test_load_waits_are_joined_with_the_blocking_statement(tmp_path: Path, work_root: Path) -> None:
    up = "LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE;\nSELECT pg_sleep(0.6);\n"
    result = rehearse(
        load_scenario(_scenario(tmp_path, up=up, load=READ_AND_WRITE)), report_dir=None
    )
    assert result.passed and result.load is not None
    waits = {w["transaction"]: w for w in result.load.lock_waits}
    # every client waits, in whichever transaction it happened to be running
    assert waits and set(waits) <= {"read_owner", "deposit"}
    assert sum(w["waits"] for w in waits.values()) >= 4
    # ground truth: how long the migration held the lock, traced in its own transaction
    assert result.locks is not None
    locks = result.locks.locks
    hold = locks[(locks["relation"] == "accounts") & (locks["mode"] == "AccessExclusiveLock")]
    held = float(hold["held_ms"].max())
    assert held >= 600  # the pg_sleep(0.6) inside the lock's transaction
    # some client waited for most of the hold; none for longer than it, give or take the
    # sampler's polls (a wait is seen from poll to poll; a busy machine spaces them out)
    polls = result.locks.queue["t_s"].to_numpy(dtype=float)
    start, end = float(hold["start_s"].min()), float(hold["end_s"].max())
    around = polls[max(np.searchsorted(polls, start) - 1, 0) : np.searchsorted(polls, end) + 1]
    widest_gap_ms = float(np.diff(around).max()) * 1000
    assert max(w["longest_wait_ms"] for w in waits.values()) > held / 2
    # a wait the sampler saw is no longer than the lock was held, or than the waiting
    # client itself measured its transaction (on a busy machine, the LOCK first waits for
    # the load's transactions in flight, and those that come meanwhile queue behind it)
    up_phase = next(p for p in result.load.phases if p["phase"] == "up")
    longest = max(held, up_phase["latency_ms"]["max"])
    for wait in waits.values():
        assert 0 < wait["longest_wait_ms"] <= longest + 2 * widest_gap_ms
        assert wait["blocking_statement"] == "up #1"
        assert wait["blocking_mode"] == "AccessExclusiveLock"
        assert wait["sentence"].startswith(f"{wait['transaction']} waited up to 0.")
        assert "behind `LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE`" in wait["sentence"]
    assert up_phase["longest_stall_ms"] > held / 2
    assert up_phase["latency_ms"]["max"] > held / 2
    baseline = next(p for p in result.load.phases if p["phase"] == "baseline")
    assert baseline["latency_ms"]["max"] < up_phase["latency_ms"]["max"]  # the lock's doing


BLOCKER_LOAD = """
load:
  clients: 2
  warmup: 0.3s
  cooldown: 0.3s
  transactions:
    - name: read_owner
      sql: SELECT owner FROM accounts WHERE id = :id
      params: {id: {ref: accounts.id}}
  blockers:
    - name: long_report
      sql: SELECT count(*) FROM accounts
      hold: 1.5s
"""


def test_blocker_lock_timeout_fails_fast(tmp_path: Path, work_root: Path) -> None:
    path = _scenario(
        tmp_path,
        up="ALTER TABLE accounts ADD COLUMN note text;",
        load=BLOCKER_LOAD,
        migration_extra="  lock_timeout: 200ms\n",
    )
    result = rehearse(load_scenario(path), report_dir=None)
    assert result.outcome == "failed"
    failed = result.failed_statement
    assert failed is not None and failed.error is not None
    assert failed.error.sqlstate == "55P03"  # lock_not_available
    # gave up at lock_timeout (200 ms), long before the blocker let go (held 1.5 s)
    assert failed.seconds is not None and 0.15 < failed.seconds < 1.5
    # all that time was waiting for the lock (sampled: within two of the intervals the
    # sampler achieved on this machine, busy or not)
    assert failed.lock_wait_s is not None and result.sampler is not None
    interval = 1 / result.sampler["achieved_hz"]
    assert failed.lock_wait_s == pytest.approx(failed.seconds, abs=2 * interval + 0.005)
    [blocker] = result.blockers
    assert blocker["name"] == "long_report" and blocker["error"] is None
    assert result.locks is not None
    waits = result.locks.waits
    migration_waits = waits[waits["waiter_role"] == "migration"]
    assert not migration_waits.empty
    assert set(migration_waits["blocking_roles"]) == {"blocker"}
    # the lock queue: the application queued behind the waiting migration
    queued = waits[(waits["waiter_role"] == "load") & (waits["blocking_roles"] == "migration")]
    assert not queued.empty


def test_retries_with_backoff_get_through_once_the_blocker_is_gone(
    tmp_path: Path, work_root: Path
) -> None:
    path = _scenario(
        tmp_path,
        up="ALTER TABLE accounts ADD COLUMN note text;",
        load=BLOCKER_LOAD,
        migration_extra="  lock_timeout: 200ms\n  retries: 6\n  retry_backoff: 0.2s\n",
    )
    result = rehearse(load_scenario(path), report_dir=None)
    assert result.passed, result.failure
    statuses = [(s.attempt, s.status) for s in result.statements_of("up")]
    assert statuses[-1][1] == "ok" and statuses[-1][0] > 1
    assert all(status == "retried" for _, status in statuses[:-1])
    up = result.phase("up")
    assert up is not None and up.note is not None and "attempts" in up.note


def test_pgbench_script_as_a_transaction(tmp_path: Path, work_root: Path) -> None:
    script = tmp_path / "deposit.sql"
    script.write_text(
        "\\set id random(1, 2000)\n\\set amount random(1, 50)\n"
        "BEGIN;\nUPDATE accounts SET balance = balance + :amount\n  WHERE id = :id;\n"
        "SELECT balance FROM accounts WHERE id = :id;\nEND;\n"
    )
    parsed = parse_pgbench(script)
    assert len(parsed.statements) == 4 and parsed.params["id"] == {"int": [1, 2000]}
    load = f"""
load:
  clients: 2
  warmup: 0.3s
  cooldown: 0.3s
  transactions:
    - name: pgbench_deposit
      pgbench: {script}
"""
    result = rehearse(
        load_scenario(_scenario(tmp_path / "s", up="SELECT 1;", load=load)), report_dir=None
    )
    assert result.passed and result.load is not None
    baseline = result.load.phases[0]
    assert baseline["by_transaction"]["pgbench_deposit"]["ok"] > 10
    assert sum(baseline["errors"].values()) == 0


def test_pgbench_script_errors_name_the_line(tmp_path: Path) -> None:
    script = tmp_path / "bad.sql"
    script.write_text("\\set id random(1, 10)\n\\sleep 10 ms\nSELECT 1;\n")
    with pytest.raises(PgbenchScriptError) as caught:
        parse_pgbench(script)
    assert caught.value.line == 2 and "\\sleep" in str(caught.value)


def test_open_loop_rate_and_lateness(tmp_path: Path, work_root: Path) -> None:
    load = READ_AND_WRITE.replace("  clients: 4", "  clients: 4\n  rate: 200").replace(
        "warmup: 0.5s", "warmup: 1s"
    )
    up = "LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE;\nSELECT pg_sleep(0.5);\n"
    result = rehearse(load_scenario(_scenario(tmp_path, up=up, load=load)), report_dir=None)
    assert result.load is not None and result.load_events is not None
    baseline = result.load.phases[0]
    assert baseline["throughput_tps"] == pytest.approx(200, rel=0.2)
    events = result.load_events
    during = events[events["phase"] == "up"]
    # clients stuck behind the lock fall behind schedule: lateness is recorded and counted
    assert events["lateness_ms"].max() > 100
    assert (during["response_ms"] >= during["latency_ms"]).all()


def test_parameters_and_sqlstate_classes() -> None:
    sql, names = positional("UPDATE t SET a = :a::int WHERE id = :id AND b = ':no' OR c = :a")
    assert sql == "UPDATE t SET a = $1::int WHERE id = $2 AND b = ':no' OR c = $1"
    assert names == ["a", "id"]
    assert classify("55P03") == "lock_timeout" and classify("57014") == "statement_timeout"
    assert classify("40P01") == "deadlock" and classify("40001") == "serialization"
    assert classify("42703") == "undefined" and classify("42P01") == "undefined"
    assert classify("0A000") == "breaks_app" and classify("23502") == "breaks_app"
    assert classify("23505") == "breaks_app" and classify("22P02") == "breaks_app"
    assert classify("XX000") == "other" and classify(None) == "ok"


def test_load_sql_that_does_not_fit_the_schema_is_invalid_input(
    tmp_path: Path, work_root: Path
) -> None:
    from pgrehearse import ScenarioError

    load = READ_AND_WRITE.replace("SELECT owner FROM", "SELECT ownr FROM")
    path = _scenario(tmp_path, up="SELECT 1;", load=load)
    with pytest.raises(ScenarioError) as caught:
        rehearse(load_scenario(path), report_dir=None)
    [problem] = caught.value.problems
    assert "read_owner" in problem.message and "ownr" in problem.message
    assert problem.line is not None
    assert _load_children() == []


def _load_children() -> list[int]:
    """Load generator processes started by this test process and still running."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes()
            parent = next(
                line.split()[1]
                for line in (entry / "status").read_text().splitlines()
                if line.startswith("PPid:")
            )
        except (OSError, StopIteration):
            continue
        if b"pgrehearse.load._child" in cmdline and int(parent) == os.getpid():
            found.append(int(entry.name))
    return found


def test_the_load_interpreter_started_early_goes_when_the_run_fails_before_it(
    tmp_path: Path, work_root: Path
) -> None:
    """The load's interpreter starts with the server; a schema that fails to apply ends
    the run before the load is configured, and the interpreter must not outlive it."""
    from pgrehearse import PgRehearseError

    path = _scenario(tmp_path, up="SELECT 1;", load=READ_AND_WRITE)
    (tmp_path / "schema.sql").write_text(SCHEMA + "\nCREATE TABLE broken (;\n")
    with pytest.raises(PgRehearseError):
        rehearse(load_scenario(path), report_dir=None)
    assert _load_children() == []


# --------------------------------------------------------------------------- pgbench cross-check


class _ServerCapture(LocalBackend):
    def __init__(self, binaries: PostgresBinaries) -> None:
        super().__init__(binaries)
        self.server: LocalServer | None = None

    def start(self, settings: Settings, *, snapshot: Path | None = None) -> LocalServer:
        self.server = super().start(settings, snapshot=snapshot)
        return self.server


class _StartPgbenchAtWarmup(SilentProgress):
    def __init__(self, backend: _ServerCapture, log_dir: Path) -> None:
        self.backend = backend
        self.log_dir = log_dir
        self.thread: threading.Thread | None = None
        self.output = ""

    def phase_finished(self, phase: PhaseResult) -> None:
        if phase.name == "restart" and self.thread is None:
            self.thread = threading.Thread(target=self._run)
            self.thread.start()

    def _run(self) -> None:
        server = self.backend.server
        assert server is not None
        script = self.log_dir / "update.sql"
        script.write_text(
            "\\set id random(1, 2000)\nUPDATE accounts SET balance = balance + 1 WHERE id = :id;\n"
        )
        result = subprocess.run(
            [
                str(server.client_program("pgbench")),
                "-n",
                "-c",
                "4",
                "-T",
                "3",
                "-l",
                "--log-prefix",
                str(self.log_dir / "pgbench"),
                "-f",
                str(script),
            ],
            env={**server.client_env("rehearsal"), "PGAPPNAME": "pgbench"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.output = result.stdout + result.stderr


def test_stall_agrees_with_pgbench_log(
    tmp_path: Path, work_root: Path, pg_binaries: PostgresBinaries
) -> None:
    """pgbench, a client none of us wrote, runs UPDATEs while the migration holds
    AccessExclusiveLock for 1 s; its per-transaction log and pgrehearse's wait report must
    agree on the stall within 10%."""
    load = "load:\n  clients: 1\n  warmup: 1s\n  cooldown: 1s\n  transactions: []\n"
    load += "  blockers: [{name: idle, sql: SELECT 1, hold: 0.1s}]\n"
    up = "LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE;\nSELECT pg_sleep(1);\n"
    backend = _ServerCapture(pg_binaries)
    progress = _StartPgbenchAtWarmup(backend, tmp_path)
    result: Rehearsal = rehearse(
        load_scenario(_scenario(tmp_path / "s", up=up, load=load)),
        report_dir=None,
        backend=backend,
        progress=progress,
    )
    assert progress.thread is not None
    progress.thread.join(timeout=60)
    assert result.passed, result.failure
    # pgbench log lines: client_id transaction_no latency_us script_no epoch_s epoch_us
    latencies_us: list[int] = []
    for log in tmp_path.glob("pgbench*"):
        if log.suffix == ".sql":
            continue
        for line in log.read_text().splitlines():
            latencies_us.append(int(line.split()[2]))
    assert latencies_us, progress.output
    pgbench_stall_ms = max(latencies_us) / 1000
    assert result.locks is not None
    waits = result.locks.waits
    other = waits[(waits["waiter_role"] == "other") & (waits["blocking_roles"] == "migration")]
    reported_ms = float(other["wait_ms"].max())
    assert pgbench_stall_ms > 500, pgbench_stall_ms
    assert reported_ms == pytest.approx(pgbench_stall_ms, rel=0.10)


SELECT_STAR = """
load:
  clients: 2
  warmup: 0.5s
  cooldown: 0.5s
  transactions:
    - name: read_all
      sql: SELECT * FROM accounts WHERE id = :id
      params: {id: {ref: accounts.id}}
"""


def test_a_changed_result_type_breaks_the_app_once_per_client(
    tmp_path: Path, work_root: Path
) -> None:
    path = _scenario(tmp_path, up="ALTER TABLE accounts ADD COLUMN note text;", load=SELECT_STAR)
    result = rehearse(load_scenario(path), report_dir=tmp_path / "reports")
    assert result.outcome == "failed" and result.load is not None
    [error] = result.load.errors
    assert (error["transaction"], error["sqlstate"], error["class"]) == (
        "read_all",
        "0A000",
        "breaks_app",
    )
    assert "cached plan must not change result type" in error["message"]
    assert error["phase"] in ("up", "cooldown", "after")
    # clients prepare again, as drivers do: one error per client, not one per call
    assert 1 <= error["count"] <= 2
    assert result.failure is not None and "0A000" in result.failure
    assert result.summary is not None
    assert result.summary["load"]["errors"][0]["message"] == error["message"]
    markdown = (result.run_dir / "summary.md").read_text()  # type: ignore[operator]
    assert "cached plan must not change result type" in markdown


INSERTS = """
load:
  clients: 2
  warmup: 0.3s
  cooldown: 0.5s
  transactions:
    - name: open_account
      sql: INSERT INTO accounts (owner) VALUES (:owner)
      params: {owner: {faker: name, pool: 20}}
"""


def test_old_writes_that_violate_a_new_not_null_break_the_app(
    tmp_path: Path, work_root: Path
) -> None:
    up = (
        "ALTER TABLE accounts ADD COLUMN tier int;\n"
        "UPDATE accounts SET tier = 1;\n"
        "ALTER TABLE accounts ALTER COLUMN tier SET NOT NULL;\n"
    )
    path = _scenario(tmp_path, up=up, load=INSERTS)
    result = rehearse(load_scenario(path), report_dir=None)
    assert result.outcome == "failed" and result.load is not None
    [broken] = result.load.breaking
    assert (broken["sqlstate"], broken["class"]) == ("23502", "breaks_app")
    assert "tier" in broken["message"]


def test_a_wait_is_put_down_to_the_transaction_that_spans_it() -> None:
    """A client's transactions run back to back: the one that waited spans the wait; the
    one before, whose end the load's clock puts a few ms into the wait, only touches it."""
    import pandas as pd

    from pgrehearse.load._metrics import waits_by_transaction

    frame = pd.DataFrame(
        {
            "client_pid": [7, 7, 7],
            "transaction": ["read_tenants", "pay_order", "read_tenants"],
            "start_s": [9.60, 10.004, 11.001],
            "end_s": [10.004, 11.0, 11.002],
        }
    )
    waits = pd.DataFrame(
        [
            {
                "waiter_role": "load",
                "waiter_pid": 7,
                "start_s": 10.0,
                "end_s": 10.99,
                "wait_ms": 990.0,
                "relation": "orders",
                "requested_mode": "RowExclusiveLock",
                "blocking_statement": None,
                "blocking_roles": "migration",
            }
        ]
    )
    [found] = waits_by_transaction(frame, waits, [])
    assert found["transaction"] == "pay_order"
