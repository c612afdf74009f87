"""The README as a user follows it: its code fences close, every concrete `pgrehearse`
command in it parses, and its install-and-rehearse section runs as written, from making a
virtual environment and installing onwards."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from pgrehearse import load_scenario
from pgrehearse.cli import main
from pgrehearse.errors import ScenarioError
from tests.helpers import outer_environment
from tests.tool_projects import ALEMBIC_REVISIONS, write_alembic_project

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()


def _blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.DOTALL | re.MULTILINE)


def _section(title: str) -> str:
    start = README.index(f"## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end > 0 else None]


def test_code_fences_close_and_open_with_a_language_or_nothing() -> None:
    fences = [line for line in README.splitlines() if line.startswith("```")]
    assert len(fences) % 2 == 0, "an unclosed code fence"
    assert all(line == "```" for line in fences[1::2]), "a closing fence with text after it"
    assert all(re.fullmatch(r"```[a-z]*", line) for line in fences[::2])


def _concrete_commands() -> list[str]:
    commands = []
    for block in _blocks(README, "console"):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if not line.startswith("pgrehearse ") or re.search(r"[\[\]…|]|\b[A-Z_]{3,}\b", line):
                continue  # a synopsis line (metavars, alternatives), not a command
            commands.append(line)
    return commands


@pytest.mark.parametrize("command", _concrete_commands())
def test_every_command_in_the_readme_parses(command: str) -> None:
    args = shlex.split(command)[1:]
    context = main.make_context("pgrehearse", list(args), resilient_parsing=True)
    name, sub, rest = main.resolve_command(context, list(args))
    assert sub is not None, command
    while isinstance(sub, click.Group):  # `cache list`
        name, sub, rest = sub.resolve_command(context, rest)
        assert sub is not None, command
    sub.make_context(name or "", list(rest), parent=context)  # raises on a bad option


def test_the_install_and_rehearse_section_runs_as_written(tmp_path: Path, work_root: Path) -> None:
    """Every line of the section, in one shell as a user types them: a fresh virtual
    environment, `pip install` of the checkout (not editable: the wheel must carry the
    templates and the example scenarios' files it needs), the example, a scenario of one's own."""
    section = _section("Install and rehearse")
    lines = [
        line for block in _blocks(section, "console") for line in block.splitlines() if line.strip()
    ]
    assert lines[0].startswith("python3 -m venv") and "pip install" in lines[1]
    assert any(line.startswith("pgrehearse run") for line in lines)
    (tmp_path / "pgrehearse").symlink_to(REPO)  # the checkout the section installs from
    home = tmp_path / "home"
    home.mkdir()
    env = outer_environment("VIRTUAL_ENV", "PYTHONPATH")
    env["HOME"] = str(home)  # the section's ~/pgrehearse-env
    env["PIP_CACHE_DIR"] = os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip"))
    # the PATH a user has: none of this suite's virtual environment on it
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if Path(p) != Path(sys.executable).parent
    )
    script = "set -euo pipefail\n" + "\n".join(lines) + "\ncommand -v pgrehearse\n"
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, f"{script}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    # the pgrehearse that ran is the fresh environment's, installed from the checkout
    assert done.stdout.strip().splitlines()[-1] == str(home / "pgrehearse-env/bin/pgrehearse")
    for scenario in ("orders_add_column", "myshop"):
        [report] = (tmp_path / "reports" / scenario).glob("*/report.html")
        assert "PASSED" in report.read_text()


def _merged(base: dict[str, Any], fragment: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in fragment.items():
        if key != "migration" and isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = _merged(base[key], value)
        else:
            merged[key] = value
    return merged


def test_every_yaml_block_is_a_valid_scenario_or_part_of_one(tmp_path: Path) -> None:
    """The full scenario of the format section loads as it is; each fragment (a `load:`, a
    `budgets:`, a `migration:` …) loads merged into it, with the files it names present."""
    blocks = [yaml.safe_load(block) for block in _blocks(README, "yaml")]
    [base] = [block for block in blocks if "version" in block]
    folder = tmp_path / "scenario"
    folder.mkdir()
    for name in ("schema.sql", "up.sql", "down.sql"):
        (folder / name).write_text((REPO / "scenarios/orders_add_column" / name).read_text())
    (folder / "bench").mkdir()
    (folder / "bench/deposit.sql").write_text(
        "\\set id random(1, 1000)\nUPDATE orders SET amount = amount + 1 WHERE id = :id;\n"
    )
    write_alembic_project(tmp_path / "app")
    for number, block in enumerate(blocks, 1):
        if block.get("migration", {}).get("tool") == "alembic":
            block["migration"]["from"] = ALEMBIC_REVISIONS[0][0]  # the README's is an example id
        path = folder / f"block{number}.yaml"
        path.write_text(yaml.safe_dump(_merged(base, block), sort_keys=False))
        try:
            load_scenario(path)
        except ScenarioError as exc:
            pytest.fail(f"README yaml block {number}:\n{yaml.safe_dump(block)}\n{exc}")


def test_the_library_blocks_run_as_written(tmp_path: Path, work_root: Path) -> None:
    """The Library section's two blocks, each a script run from a folder that has the
    repository's scenarios/ (as a checkout of it does)."""
    library = _blocks(_section("Library"), "python")
    assert len(library) == 2
    (tmp_path / "scenarios").symlink_to(REPO / "scenarios")
    for number, block in enumerate(library, 1):
        done = subprocess.run(
            [sys.executable, "-c", block],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, f"Library block {number}:\n{block}\n{done.stderr[-3000:]}"
    [summary] = (tmp_path / "reports/orders_add_column").glob("*/summary.json")
    assert summary.is_file()


def test_the_pytest_plugin_blocks_run_as_written(tmp_path: Path, work_root: Path) -> None:
    """The pytest plugin section's test files, collected and passed by pytest with the
    plugin as installed; `migrations/0042.yaml` is a copy of the example."""
    section = _section("pytest plugin")
    blocks = _blocks(section, "python")
    assert len(blocks) == 2
    (tmp_path / "scenarios").symlink_to(REPO / "scenarios")
    (tmp_path / "migrations").mkdir()
    example = REPO / "scenarios/orders_add_column"
    for name in ("schema.sql", "up.sql", "down.sql"):
        (tmp_path / "migrations" / name).write_text((example / name).read_text())
    (tmp_path / "migrations/0042.yaml").write_text((example / "scenario.yaml").read_text())
    for number, block in enumerate(blocks, 1):
        (tmp_path / f"test_readme_block{number}.py").write_text(block)
    env = outer_environment()
    pytest_args = ["-q", "-p", "no:cacheprovider", "-p", "no:xdist", "--pgrehearse-scale", "0.05"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *pytest_args, "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "3 passed" in done.stdout
