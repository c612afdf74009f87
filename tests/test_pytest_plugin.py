"""The pytest plugin, driven with pytester: collection, pass, fail, options, JUnit."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.helpers import SCHEMA, processes_mentioning

SCENARIO = """\
version: 1
name: plugged
schema: schema.sql
data:
  tables:
    accounts: {{rows: 200, columns: {{email: {{faker: email, unique: true, pool: 20}}}}}}
migration:
  up: "{up}"
  down: "{down}"
budgets:
  max_lock_ms: {{AccessExclusiveLock: {limit}}}
"""


def _write(pytester: pytest.Pytester, name: str, *, up: str, down: str, limit: int) -> Path:
    (pytester.path / "schema.sql").write_text(textwrap.dedent(SCHEMA))
    path = pytester.path / name
    path.write_text(SCENARIO.format(up=up, down=down, limit=limit))
    return path


@pytest.fixture
def scenarios(pytester: pytest.Pytester, work_root: Path) -> pytest.Pytester:
    _write(
        pytester,
        "good.rehearse.yaml",
        up="ALTER TABLE accounts ADD COLUMN n int;",
        down="ALTER TABLE accounts DROP COLUMN n;",
        limit=5000,
    )
    _write(
        pytester,
        "slow.rehearse.yaml",
        up="LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(0.3);",
        down="SELECT 1;",
        limit=50,
    )
    (pytester.path / "other.yaml").write_text("not: a scenario\n")  # never collected
    return pytester


def test_collects_only_rehearse_files(scenarios: pytest.Pytester) -> None:
    result = scenarios.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(["good.rehearse.yaml::good", "slow.rehearse.yaml::slow"])
    assert "other.yaml" not in result.stdout.str()


def test_pass_fail_message_and_junit(scenarios: pytest.Pytester) -> None:
    junit = scenarios.path / "junit.xml"
    result = scenarios.runpytest(
        "--pgrehearse-report-dir", str(scenarios.path / "reports"), f"--junitxml={junit}"
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*rehearsal of *slow.rehearse.yaml FAILED: budget exceeded:*",
            "*budget max_lock_ms.AccessExclusiveLock: * > 50.0 (*slow.rehearse.yaml:11)",
            "*report: *report.html",
        ]
    )
    cases = {case.get("name"): case for case in ET.parse(junit).getroot().iter("testcase")}
    properties = {p.get("name"): p.get("value") for p in cases["good"].iter("property")}
    assert properties["outcome"] == "passed"
    assert "budget:max_lock_ms.AccessExclusiveLock" in properties
    assert float(properties["up_seconds"] or 0) > 0


def test_options_are_ini_settings_too(scenarios: pytest.Pytester) -> None:
    scenarios.makeini(
        f"""
        [pytest]
        pgrehearse_report_dir = {scenarios.path / "ini-reports"}
        pgrehearse_budgets = max_lock_ms.AccessExclusiveLock=5000
        """
    )
    result = scenarios.runpytest("-k", "slow")
    result.assert_outcomes(passed=1)  # the ini budget relaxed the scenario's 50 ms
    assert list((scenarios.path / "ini-reports" / "plugged").glob("*/summary.json"))
    result = scenarios.runpytest(
        "-k", "slow", "--pgrehearse-budget", "max_lock_ms.AccessExclusiveLock=10"
    )
    result.assert_outcomes(failed=1)  # the command line wins over the ini file


def test_invalid_scenario_fails_with_file_and_line(
    pytester: pytest.Pytester, work_root: Path
) -> None:
    (pytester.path / "bad.rehearse.yaml").write_text("version: 1\nname: x\nshema: s.sql\n")
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*bad.rehearse.yaml:3: unknown key 'shema'*"])


def test_fixture_factory(pytester: pytest.Pytester, work_root: Path) -> None:
    _write(
        pytester,
        "scenario.yaml",
        up="ALTER TABLE accounts ADD COLUMN n int;",
        down="ALTER TABLE accounts DROP COLUMN n;",
        limit=5000,
    )
    pytester.makepyfile(
        """
        def test_my_migration(pgrehearse_rehearse):
            result = pgrehearse_rehearse("scenario.yaml", report_dir=None)
            assert result.passed
            assert [s.status for s in result.statements_of("up")] == ["ok"]
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_regression_option_first_run_records_then_slower_fails(
    pytester: pytest.Pytester, work_root: Path
) -> None:
    scenario = _write(
        pytester,
        "timed.rehearse.yaml",
        up="ALTER TABLE accounts ADD COLUMN n int;",
        down="ALTER TABLE accounts DROP COLUMN n;",
        limit=5000,
    )
    history = pytester.path / "reports" / "history.jsonl"
    pytester.makeini(
        f"""
        [pytest]
        pgrehearse_report_dir = {pytester.path / "reports"}
        pgrehearse_baseline = {history}
        pgrehearse_rounds = 3
        """
    )
    first = pytester.runpytest("-rA")
    first.assert_outcomes(passed=1)  # no baseline yet: must not fail
    first.stdout.fnmatch_lines(["*timed: no baseline yet, timings recorded*"])
    sources = [json.loads(line)["source"] for line in history.read_text().splitlines()]
    assert sources == ["rehearsal", "rounds"]

    second = pytester.runpytest_subprocess("-n", "1")  # the verdict reaches xdist's controller
    second.assert_outcomes(passed=1)
    second.stdout.fnmatch_lines(["*timed: ok against the baseline*"])

    slower = scenario.read_text().replace(
        "ADD COLUMN n int;", "ADD COLUMN n int; SELECT pg_sleep(0.2);"
    )
    scenario.write_text(slower)
    third = pytester.runpytest()
    third.assert_outcomes(failed=1)
    third.stdout.fnmatch_lines(
        [
            "*migration of *timed.rehearse.yaml is slower than the baseline (run *, commit *), "
            "medians of 3 rounds:",
            "*phase up: * s vs baseline * s (+*, limit +25%)",
        ]
    )


def test_seeded_database_and_runner_fixtures(pytester: pytest.Pytester, work_root: Path) -> None:
    _write(
        pytester,
        "scenario.yaml",
        up="ALTER TABLE accounts ADD COLUMN n int NOT NULL DEFAULT 7;",
        down="ALTER TABLE accounts DROP COLUMN n;",
        limit=5000,
    )
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.pgrehearse("scenario.yaml")

        def test_runner(pgrehearse_runner):
            pgrehearse_runner.up()
            with pgrehearse_runner.database.connect() as conn:
                row = conn.execute("SELECT count(*), min(n) FROM accounts").fetchone()
            assert row == (200, 7)
            pgrehearse_runner.down()
            assert pgrehearse_runner.roundtrip() == []

        def test_db_is_fresh(pgrehearse_db, pgrehearse_seeded_servers):
            with pgrehearse_db.connect() as conn:
                columns = [r[0] for r in conn.execute(
                    "SELECT attname FROM pg_attribute WHERE attrelid = 'accounts'::regclass"
                    " AND attnum > 0")]
            assert "n" not in columns  # the other test's up did not reach this copy

        def test_same_server_shared(pgrehearse_database):
            first = pgrehearse_database("scenario.yaml")
            second = pgrehearse_database("scenario.yaml")
            assert first.seeded is second.seeded and first.name != second.name
        """
    )
    pytester.makepyfile(test_unmarked="def test_x(pgrehearse_db):\n    pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        ["*test_x: pgrehearse_db needs a scenario: mark the test @pytest.mark.pgrehearse(*"]
    )


def test_benchmark_rounds_each_get_a_fresh_copy(
    pytester: pytest.Pytester, work_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the inner session is not an xdist worker even when this one is (pytest-benchmark
    # disables itself under xdist, as the next test shows)
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    _write(
        pytester,
        "scenario.yaml",
        up="ALTER TABLE accounts ADD COLUMN n int;",  # fails if a round saw the previous one
        down="ALTER TABLE accounts DROP COLUMN n;",
        limit=5000,
    )
    pytester.makepyfile(
        """
        def test_up(pgrehearse_benchmark):
            pgrehearse_benchmark("scenario.yaml", phase="up", rounds=4)

        def test_down(pgrehearse_benchmark):
            pgrehearse_benchmark("scenario.yaml", phase="down", rounds=3)
        """
    )
    output = pytester.path / "bench.json"
    result = pytester.runpytest(f"--benchmark-json={output}")
    result.assert_outcomes(passed=2)
    benchmarks = {b["name"]: b for b in json.loads(output.read_text())["benchmarks"]}
    assert benchmarks["test_up"]["stats"]["rounds"] == 4
    assert benchmarks["test_down"]["stats"]["rounds"] == 3
    assert benchmarks["test_up"]["extra_info"] == {
        "pgrehearse_scenario": "plugged",
        "pgrehearse_phase": "up",
    }
    assert benchmarks["test_up"]["stats"]["min"] > 0


def test_benchmark_copies_are_dropped_even_when_benchmarks_are_disabled(
    pytester: pytest.Pytester, work_root: Path
) -> None:
    # disabled benchmarks (--benchmark-disable, or xdist) never call teardown: the copies
    # must still go, and the down benchmark must not trip over the up benchmark's copy
    _write(
        pytester,
        "scenario.yaml",
        up="ALTER TABLE accounts ADD COLUMN n int;",
        down="ALTER TABLE accounts DROP COLUMN n;",
        limit=500,
    )
    pytester.makepyfile(
        """
        import psycopg
        from pgrehearse import load_scenario

        def test_up(pgrehearse_benchmark):
            pgrehearse_benchmark("scenario.yaml", phase="up", rounds=2)

        def test_down(pgrehearse_benchmark):
            pgrehearse_benchmark("scenario.yaml", phase="down", rounds=2)

        def test_no_copy_left(pgrehearse_seeded_servers):
            seeded = pgrehearse_seeded_servers.get(load_scenario("scenario.yaml"))
            with psycopg.connect(**seeded.server.connect_kwargs("postgres", "t")) as conn:
                left = conn.execute(
                    "SELECT datname FROM pg_database WHERE datname LIKE 'pgrehearse_bench%'"
                ).fetchall()
            assert left == []
        """
    )
    result = pytester.runpytest("--benchmark-disable")
    result.assert_outcomes(passed=3)


def test_under_xdist(scenarios: pytest.Pytester) -> None:
    scenarios.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", range(4))
        def test_copy(pgrehearse_database, n):
            with pgrehearse_database("good.rehearse.yaml").connect() as conn:
                assert conn.execute("SELECT count(*) FROM accounts").fetchone() == (200,)
        """
    )
    reports = scenarios.path / "reports"
    result = scenarios.runpytest_subprocess(
        "-n", "2", "-k", "good or copy", "--pgrehearse-report-dir", str(reports)
    )
    result.assert_outcomes(passed=5)
    history = (reports / "history.jsonl").read_text().splitlines()
    assert len(history) == 1 and json.loads(history[0])["scenario"] == "plugged"
    assert not processes_mentioning(str(scenarios.path))


def test_backend_and_keep_server_options(scenarios: pytest.Pytester, work_root: Path) -> None:
    result = scenarios.runpytest(
        "-k", "good", "--pgrehearse-backend", "local", "--pgrehearse-keep-server", "true"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*server kept for good: PGPASSFILE=* psql *(stop: pgrehearse cleanup)"]
    )
    assert processes_mentioning(str(work_root))
    subprocess.run([sys.executable, "-m", "pgrehearse", "cleanup"], check=True, capture_output=True)
    assert not processes_mentioning(str(work_root))
    bad = scenarios.runpytest("-k", "good", "--pgrehearse-backend", "nowhere")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR


def test_a_chain_gets_one_item_per_pending_migration(
    pytester: pytest.Pytester, work_root: Path
) -> None:
    folder = pytester.path / "migrations"
    folder.mkdir()
    steps = [
        ("1_base", "CREATE TABLE notes (id int PRIMARY KEY, body text);", "DROP TABLE notes;"),
        (
            "2_title",
            "ALTER TABLE notes ADD COLUMN title text;",
            "ALTER TABLE notes DROP COLUMN title;",
        ),
        ("3_broken", "ALTER TABLE notes ADD COLUMN oops no_such_type;", "SELECT 1;"),
        (
            "4_after",
            "ALTER TABLE notes ADD COLUMN later int;",
            "ALTER TABLE notes DROP COLUMN later;",
        ),
    ]
    for name, up, down in steps:
        (folder / f"{name}.up.sql").write_text(up + "\n")
        (folder / f"{name}.down.sql").write_text(down + "\n")
    (pytester.path / "chain.rehearse.yaml").write_text(
        "version: 1\nname: chain\n"
        "data: {tables: {notes: {rows: 50}}}\n"
        "migration: {dir: migrations, from: 1}\n"
    )
    collected = pytester.runpytest("--collect-only", "-q")
    collected.stdout.fnmatch_lines(
        [
            "chain.rehearse.yaml::chain",
            "chain.rehearse.yaml::chain[[]2_title[]]",
            "chain.rehearse.yaml::chain[[]3_broken[]]",
            "chain.rehearse.yaml::chain[[]4_after[]]",
        ]
    )
    result = pytester.runpytest("-rs", "--pgrehearse-report-dir", str(pytester.path / "r"))
    # one rehearsal answers all four: the chain and the broken step fail, the step before
    # passes, the step after never ran
    result.assert_outcomes(passed=1, failed=2, skipped=1)
    result.stdout.fnmatch_lines(
        ["*migration 3_broken of *chain.rehearse.yaml failed: up 3_broken.up.sql:1*no_such_type*"]
    )
    assert len(list((pytester.path / "r" / "chain").iterdir())) == 1


def test_a_scenario_that_predicts_is_judged_on_its_prediction(
    pytester: pytest.Pytester, work_root: Path
) -> None:
    """Rows 100/200/400 sleep 0.1/0.2/0.4 s under the lock: each passes the 600 ms budget
    as measured, and 800 rows predicted at 2× hold it for about 0.8 s."""
    (pytester.path / "schema.sql").write_text(textwrap.dedent(SCHEMA))
    (pytester.path / "grows.rehearse.yaml").write_text(
        SCENARIO.format(
            up="LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE; "
            "SELECT pg_sleep(count(*) * 0.001) FROM accounts;",
            down="SELECT 1;",
            limit=600,
        ).replace("rows: 200", "rows: 100")
        + "  at: predicted\npredict:\n  scales: [1, 2, 4]\n  at: 8\nroundtrip: {mode: skip}\n"
        + "postgres: {settings: {synchronous_commit: 'off'}}\n"  # no fsync noise in the hold
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*max_lock_ms.AccessExclusiveLock*predicted at 8×*fit from 1/2/4*"]
    )
