"""Any scenario file, hostile or broken, is accepted or refused quickly with a plain message.

Each input goes through `pgrehearse validate` in a subprocess; the subprocess timeout is a
guard against the unbounded work these inputs used to cause (minutes of CPU, gigabytes of
memory), not a measurement.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import write_scenario

GUARD_SECONDS = 60


def _laughs(path: Path) -> None:
    lines = ["version: 1", "name: lol", "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, 10):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    path.write_text("\n".join(lines) + "\n")


def _unknown_keys(count: int) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        valid = write_scenario(path.parent).read_text()  # writes path itself, with its files
        path.write_text(valid + "".join(f"unknown_{i}: {i}\n" for i in range(count)))

    return write


def _huge(path: Path) -> None:
    valid = write_scenario(path.parent / "base").read_text()
    path.write_text(valid + "# " + "x" * (5 << 20) + "\n")


def _binary(path: Path) -> None:
    path.write_bytes(b"version: 1\nname: bin\n\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")


def _duplicates(path: Path) -> None:
    path.write_text("version: 1\n" + "name: a\n" * 5000)


CORPUS: dict[str, tuple[Callable[[Path], None], list[str]]] = {
    "billion laughs": (
        _laughs,
        ["holds more than 100,000 values once its aliases (*name) are expanded"],
    ),
    "20k unknown keys": (
        _unknown_keys(20_000),
        ["invalid scenario (20,000 problems)", "unknown key 'unknown_0'", "… and 19,980 more"],
    ),
    "5 MB file": (_huge, ["scenario files are limited to 1.0 MB"]),
    "binary file": (_binary, ["scenario.yaml:3: not UTF-8 text (byte"]),
    "5000 duplicate keys": (_duplicates, ["(4,999 problems)", "appears twice", "… and 4,979 more"]),
}


@pytest.mark.parametrize("name", list(CORPUS))
def test_hostile_scenarios_are_refused_plainly(tmp_path: Path, name: str) -> None:
    write, expected = CORPUS[name]
    path = tmp_path / "scenario.yaml"
    write(path)
    done = subprocess.run(
        [sys.executable, "-m", "pgrehearse", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=GUARD_SECONDS,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    for text in expected:
        assert text in done.stderr
    assert len(done.stderr.splitlines()) < 60  # one screen, not 72,000 lines
