"""pgbench script files as pgrehearse transactions (the common subset).

Supported: SQL statements ending in `;` (over several lines), `:name` variables, and
`\\set name random(a, b)`, `random_zipfian(a, b, s)`, `random_exponential(a, b, p)` (taken
as uniform), or an integer constant. Anything else is reported with its line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_SET = re.compile(
    r"^\\set\s+([A-Za-z_][A-Za-z0-9_]*)\s+(?:(random|random_zipfian|random_exponential)"
    r"\(\s*(-?\d+)\s*,\s*(-?\d+)\s*(?:,\s*([0-9.]+)\s*)?\)|(-?\d+))\s*$"
)


class PgbenchScriptError(ValueError):
    def __init__(self, path: Path, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.message = message
        self.path = path
        self.line = line


@dataclass
class PgbenchScript:
    statements: list[str] = field(default_factory=list)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> generator spec


def parse_pgbench(path: Path) -> PgbenchScript:
    script = PgbenchScript()
    pending: list[str] = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("--"):
            continue
        if line.startswith("\\"):
            match = _SET.match(line)
            if not match:
                raise PgbenchScriptError(
                    path,
                    number,
                    f"unsupported pgbench meta-command: {line.split()[0]} "
                    "(supported: \\set name random(a, b) | random_zipfian(a, b, s) | integer)",
                )
            name, function, low, high, skew, constant = match.groups()
            if constant is not None:
                script.params[name] = {"value": int(constant)}
            elif function == "random_zipfian":
                script.params[name] = {
                    "int": [int(low), int(high)],
                    "distribution": "zipf",
                    "skew": float(skew or 1.1),
                }
            else:
                script.params[name] = {"int": [int(low), int(high)]}
            continue
        pending.append(raw)
        if line.endswith(";"):
            script.statements.append("\n".join(pending).strip().rstrip(";"))
            pending = []
    if pending:
        script.statements.append("\n".join(pending).strip().rstrip(";"))
    if not script.statements:
        raise PgbenchScriptError(path, 1, "the script holds no SQL statement")
    return script
