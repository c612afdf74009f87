"""How long short commands take to start, against a bare interpreter on the same machine.

    .venv/bin/python benchmarks/cli_startup.py [--rounds 15]

Prints the median wall time of `pgrehearse --help`, `pgrehearse validate <example>` and
`pgrehearse cache list`, of `python -c pass` as the baseline, and which heavy libraries
each command imported (there should be none).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "scenarios" / "orders_add_column"
HEAVY = ("pandas", "matplotlib", "numpy", "faker", "testcontainers", "jinja2")


def _median_seconds(command: list[str], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=False)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _heavy(args: list[str]) -> list[str]:
    code = (
        "import sys\nfrom pgrehearse.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    last = out.strip().splitlines()[-1].removeprefix("HEAVY:")
    return [name for name in last.split(",") if name]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    rounds = parser.parse_args().rounds
    entry = str(Path(sys.executable).parent / "pgrehearse")
    baseline = _median_seconds([sys.executable, "-c", "pass"], rounds)
    print(f"python -c pass: {baseline * 1000:.0f} ms (median of {rounds})")
    for args in (["--help"], ["validate", str(EXAMPLE)], ["cache", "list"]):
        seconds = _median_seconds([entry, *args], rounds)
        print(
            f"pgrehearse {args[0]}: {seconds * 1000:.0f} ms = {seconds / baseline:.1f}x the bare "
            f"interpreter; heavy imports: {', '.join(_heavy(args)) or 'none'}"
        )


if __name__ == "__main__":
    main()
