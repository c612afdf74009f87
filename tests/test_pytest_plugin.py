"""The pytest plugin, driven with pytester: collection, pass, fail, options, JUnit."""

from __future__ import annotations

import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.helpers import SCHEMA

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
