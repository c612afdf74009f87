"""Scenario files: valid ones load; every invalid one names file, line and a fix."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pgrehearse import ScenarioError, load_scenario
from pgrehearse.scenario import ChoiceColumn, FakerColumn, IntColumn, RefColumn, parse_duration
from tests.helpers import write_scenario


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "schema.sql").write_text("CREATE TABLE t (id int);\n")
    (tmp_path / "up.sql").write_text("ALTER TABLE t ADD COLUMN x int;\n")
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


VALID = """\
version: 1
name: demo
schema: schema.sql
data:
  seed: 3
  tables:
    t:
      rows: 1_000
      columns:
        name: {faker: name, pool: 10}
        n: {int: [1, 5], null_fraction: 0.5}
        status: {choice: {a: 0.7, b: 0.3}}
        day: {between: [2020-01-01, 2021-01-01]}
    u:
      rows: 10
      columns:
        t_id: {ref: t.id}
migration:
  up: up.sql
  down: |
    ALTER TABLE t
      DROP COLUMN x;
  lock_timeout: 250ms
"""


def test_valid_scenario_loads_with_typed_generators(tmp_path: Path) -> None:
    scenario = load_scenario(_write(tmp_path, VALID))
    assert scenario.name == "demo"
    columns = scenario.data.tables["t"].columns
    assert isinstance(columns["name"], FakerColumn) and columns["name"].pool == 10
    assert isinstance(columns["n"], IntColumn) and columns["n"].int_range == (1, 5)
    assert isinstance(columns["status"], ChoiceColumn)
    assert isinstance(scenario.data.tables["u"].columns["t_id"], RefColumn)
    assert scenario.data.tables["t"].rows == 1000
    assert scenario.migration.lock_timeout == pytest.approx(0.25)
    up = scenario.migration.up
    assert up is not None and up.text == "ALTER TABLE t ADD COLUMN x int;\n"
    assert up.origin == tmp_path / "up.sql"


def test_inline_sql_is_anchored_at_its_line_in_the_scenario(tmp_path: Path) -> None:
    scenario = load_scenario(_write(tmp_path, VALID))
    down = scenario.migration.down
    assert down is not None
    assert down.origin == tmp_path / "s.yaml"
    # `down: |` is on line 20; the SQL itself starts on line 21
    assert down.first_line == 21


def test_folder_with_one_scenario_file_is_accepted(tmp_path: Path) -> None:
    write_scenario(tmp_path / "case")
    assert load_scenario(tmp_path / "case").name == "t"


def _error(path: Path) -> ScenarioError:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    return caught.value


def test_unknown_key_names_file_line_and_closest_key(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID.replace("  lock_timeout: 250ms", "  lock_timout: 250ms"))
    error = _error(path)
    [problem] = error.problems
    assert problem.file == path
    assert problem.line == 23
    assert "unknown key 'lock_timout'" in problem.message
    assert problem.hint is not None and "did you mean 'lock_timeout'" in problem.hint
    assert f"{path}:23" in error.render()


def test_unknown_top_level_key(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID.replace("name: demo", "name: demo\nnmae: x"))
    [problem] = _error(path).problems
    assert problem.line == 3 and "'nmae'" in problem.message
    assert problem.hint is not None and "'name'" in problem.hint


def test_unknown_key_inside_a_generator(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID.replace("{faker: name, pool: 10}", "{faker: name, pol: 10}"))
    [problem] = _error(path).problems
    assert problem.line == 10
    assert "'pol'" in problem.message
    assert problem.hint is not None and "'pool'" in problem.hint


def test_generator_without_a_kind_suggests_one(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID.replace("{int: [1, 5], null_fraction: 0.5}", "{integer: [1, 5]}"))
    [problem] = _error(path).problems
    assert problem.line == 11
    assert "needs exactly one of" in problem.message
    assert problem.hint == "did you mean 'int'?"


def test_wrong_type_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID.replace("rows: 1_000", "rows: many"))
    [problem] = _error(path).problems
    assert problem.line == 8
    assert "data.tables.t.rows" in problem.message


def test_missing_sql_file_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID.replace("up: up.sql", "up: nowhere.sql"))
    [problem] = _error(path).problems
    assert problem.line == 19
    assert "SQL file not found" in problem.message and "nowhere.sql" in problem.message


def test_missing_required_key(tmp_path: Path) -> None:
    path = _write(tmp_path, "version: 1\nname: x\nschema: schema.sql\n")
    [problem] = _error(path).problems
    assert "missing required key 'migration'" in problem.message


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "version: 1\nname: [unclosed\nschema: x\n")
    [problem] = _error(path).problems
    assert problem.file == path and problem.line == 3
    assert problem.message.startswith("invalid YAML")


def test_duplicate_keys_are_errors(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID.replace("name: demo", "name: demo\nname: again"))
    [problem] = _error(path).problems
    assert problem.line == 3 and "appears twice" in problem.message


def test_ref_to_unseeded_table(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID.replace("{ref: t.id}", "{ref: nope.id}"))
    [problem] = _error(path).problems
    assert "'nope' is not under data.tables" in problem.message
    # the line of the ref itself, not of `data:`
    lines = path.read_text().splitlines()
    assert problem.line is not None and "{ref: nope.id}" in lines[problem.line - 1]


def test_several_problems_are_reported_together(tmp_path: Path) -> None:
    text = VALID.replace("rows: 1_000", "rows: -1").replace("seed: 3", "seed: x")
    assert len(_error(_write(tmp_path, text)).problems) == 2


def test_empty_file_and_missing_file(tmp_path: Path) -> None:
    assert "empty" in _error(_write(tmp_path, "")).problems[0].message
    assert "no such scenario" in _error(tmp_path / "absent.yaml").problems[0].message


def test_folder_with_two_scenarios_asks_which(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("version: 1\n")
    (tmp_path / "b.yaml").write_text("version: 1\n")
    [problem] = _error(tmp_path).problems
    assert "several scenario files" in problem.message


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5s", 5.0), ("250ms", 0.25), ("2min", 120.0), ("1h", 3600.0), (3, 3.0), ("1.5", 1.5)],
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["soon", "-1s", "5 parsecs", True])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError, match=r"duration|negative"):
        parse_duration(text)


def test_between_dates_keep_their_type(tmp_path: Path) -> None:
    scenario = load_scenario(_write(tmp_path, VALID))
    day = scenario.data.tables["t"].columns["day"]
    assert day.between == (dt.date(2020, 1, 1), dt.date(2021, 1, 1))  # type: ignore[union-attr]


def test_paths_in_messages_are_normalised_and_relative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "rehearsals").mkdir()
    scenario = tmp_path / "rehearsals" / "s.yaml"
    scenario.write_text(
        'version: 1\nname: x\nschema: ../db/missing.sql\nmigration: {up: "SELECT 1;"}\n'
    )
    monkeypatch.chdir(tmp_path)
    for given in (scenario, Path("rehearsals/s.yaml")):  # absolute, then relative
        with pytest.raises(ScenarioError) as caught:
            load_scenario(given)
        text = caught.value.render()
        assert "rehearsals/s.yaml:3:" in text and "schema file not found: db/missing.sql" in text
        assert "/../" not in text and str(tmp_path) not in text
