"""The CI recipes in docs/ci run here as far as they go without the CI service: the
rehearsal of a project's scenarios with the pytest plugin, the reports, and the comment
body. Installing from the package index and posting the comment are the service's part."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import outer_environment, write_scenario

DOCS = Path(__file__).resolve().parent.parent / "docs" / "ci"


def _project(root: Path) -> Path:
    """A project holding one passing scenario the plugin collects."""
    project = root / "project"
    write_scenario(project / "scenarios" / "add_note", name="add_note")
    folder = project / "scenarios" / "add_note"
    (folder / "scenario.yaml").rename(folder / "add_note.rehearse.yaml")
    return project


def _environment(project: Path, variables: dict[str, str]) -> dict[str, str]:
    env = outer_environment()
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for key, value in variables.items():  # the recipe's own variables, resolved here
        value = value.replace("${{ github.workspace }}", str(project))
        env[key] = value.replace("$CI_PROJECT_DIR", str(project))
    return env


def _run(commands: list[str], project: Path, env: dict[str, str]) -> None:
    for command in commands:
        done = subprocess.run(
            ["bash", "-e", "-c", command],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"


def _check_outputs(project: Path) -> None:
    [summary] = (project / "reports" / "add_note").glob("*/summary.json")
    assert (summary.parent / "report.html").is_file()
    assert (project / "reports" / "junit.xml").is_file()
    comment = (project / "pgrehearse-comment.md").read_text()
    assert comment.startswith("## Migration rehearsal")
    assert "add_note" in comment and "PASSED" in comment.upper()
    cache = project / ".pgrehearse" / "cache" / "snapshots"
    assert any(cache.iterdir()), "the seeded snapshot goes where the recipe caches"


def test_the_github_actions_recipe_runs_its_local_steps(tmp_path: Path, work_root: Path) -> None:
    recipe: dict[str, Any] = yaml.safe_load((DOCS / "github-actions.yml").read_text())
    job = recipe["jobs"]["rehearse"]
    steps = {step.get("name"): step for step in job["steps"]}
    assert "actions/cache@v4" in steps["Restore the seeded snapshots and PostgreSQL builds"]["uses"]
    assert (
        steps["Restore the seeded snapshots and PostgreSQL builds"]["with"]["path"] == ".pgrehearse"
    )
    assert "reports/" in steps["Upload the reports"]["with"]["path"]
    assert "gh pr comment" in steps["Post the summary on the pull request"]["run"]
    project = _project(tmp_path)
    env = _environment(project, job["env"])
    _run([steps["Rehearse the migrations"]["run"], steps["Write the comment"]["run"]], project, env)
    _check_outputs(project)


def test_the_gitlab_ci_recipe_runs_its_local_script(tmp_path: Path, work_root: Path) -> None:
    recipe: dict[str, Any] = yaml.safe_load((DOCS / "gitlab-ci.yml").read_text())
    job = recipe["rehearse-migrations"]
    assert job["cache"]["paths"] == [".pgrehearse/"]
    assert "reports/" in job["artifacts"]["paths"]
    local = [c for c in job["script"] if not c.startswith("python -m pip install")]
    posting = [c for c in job["after_script"] if "curl" in c]
    assert len(posting) == 1 and "merge_requests/$CI_MERGE_REQUEST_IID/notes" in posting[0]
    project = _project(tmp_path)
    env = _environment(project, job["variables"])
    # without a token the posting step does nothing, as on a fork's pipeline
    _run(local + list(job["after_script"]), project, {**env, "PGREHEARSE_GITLAB_TOKEN": ""})
    _check_outputs(project)


@pytest.mark.parametrize("recipe", ["github-actions.yml", "gitlab-ci.yml"])
def test_recipes_are_valid_yaml_with_a_cached_cache_dir(recipe: str) -> None:
    text = (DOCS / recipe).read_text()
    assert yaml.safe_load(text)
    assert "PGREHEARSE_CACHE_DIR" in text and "PGREHEARSE_BINARIES_DIR" in text
