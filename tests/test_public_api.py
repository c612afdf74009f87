"""The public API, the package layout's rules, and what a short command imports."""

from __future__ import annotations

import ast
import subprocess
import sys
import typing
from pathlib import Path

import pytest

import pgrehearse
from pgrehearse import cli
from pgrehearse.backends import choice
from pgrehearse.backends.docker import DockerUnavailable, docker_client

PACKAGE = Path(pgrehearse.__file__).parent
HEAVY = ("pandas", "matplotlib", "numpy", "faker", "testcontainers", "jinja2")

EXPECTED_API = {
    "BudgetCheck",
    "Comparison",
    "EnvironmentProblem",
    "ExitCode",
    "HistoryError",
    "InputError",
    "InternalError",
    "Interrupted",
    "LoadSummary",
    "MigrationFailed",
    "MigrationRunner",
    "PgRehearseError",
    "PhaseResult",
    "Problem",
    "Rehearsal",
    "Scenario",
    "ScenarioError",
    "SeededDatabase",
    "SeededServer",
    "SeedingPlan",
    "ServerOptions",
    "__version__",
    "append_record",
    "bench",
    "compare_histories",
    "compare_records",
    "load_scenario",
    "measure_rounds",
    "plan_seeding",
    "read_records",
    "rehearse",
}


def test_all_is_the_documented_api_and_every_name_resolves() -> None:
    assert set(pgrehearse.__all__) == EXPECTED_API
    for name in pgrehearse.__all__:
        assert getattr(pgrehearse, name) is not None, name


def test_cli_backend_names_match_the_backend_choice() -> None:
    assert cli.BACKEND_NAMES == choice.BACKEND_NAMES


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
    return found


def test_no_module_imports_another_packages_private_module() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        own = ".".join(("pgrehearse", *path.relative_to(PACKAGE).parent.parts))
        for module in _imports(path):
            parts = module.split(".")
            private = [i for i, part in enumerate(parts) if part.startswith("_")]
            if parts[0] != "pgrehearse" or not private:
                continue
            owner = ".".join(parts[: private[0]])  # the package the private module belongs to
            if owner != own:
                offenders.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert offenders == []


def test_no_module_is_long_without_a_reason() -> None:
    long = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if len(path.read_text(encoding="utf-8").splitlines()) > 520
        and "over 500 lines" not in path.read_text(encoding="utf-8")[:2000]
    ]
    assert long == []


def _heavy_imports_of(*args: str) -> list[str]:
    code = (
        "import sys\n"
        "from pgrehearse.cli import main\n"
        "try:\n"
        f"    main({list(args)!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('HEAVY:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("HEAVY:"), done.stdout
    return [name for name in last.removeprefix("HEAVY:").split(",") if name]


def test_short_commands_load_no_heavy_library(tmp_path: Path) -> None:
    scenario = Path(__file__).parent.parent / "scenarios" / "orders_add_column"
    assert _heavy_imports_of("--help") == []
    assert _heavy_imports_of("cache", "list") == []
    assert _heavy_imports_of("validate", str(scenario)) == []


def test_a_missing_docker_extra_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "testcontainers", None)  # as if not installed
    with pytest.raises(DockerUnavailable, match=r"pip install 'pgrehearse\[docker\]'"):
        docker_client()


def test_migration_tool_names_match_the_readers() -> None:
    from pgrehearse.scenario._models import MigrationTool
    from pgrehearse.tools import TOOLS

    assert cli.MIGRATION_TOOLS == TOOLS
    assert set(typing.get_args(MigrationTool)) == set(TOOLS)
