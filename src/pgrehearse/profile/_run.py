"""`pgrehearse profile`: a production database's shape as a ready scenario folder."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from pgrehearse.backends import find_binaries
from pgrehearse.backends.external import redact
from pgrehearse.errors import EnvironmentProblem, InputError, Problem
from pgrehearse.profile._read import begin_read_only, read_profile
from pgrehearse.profile._scenario import BuildOptions, build_scenario
from pgrehearse.seed import TableInfo, read_table

PLACEHOLDER_UP = """\
-- The migration to rehearse on this profiled clone goes here, e.g.
--   ALTER TABLE orders ADD COLUMN note text;
SELECT 1;
"""
PLACEHOLDER_DOWN = """\
-- What undoes up.sql, e.g.
--   ALTER TABLE orders DROP COLUMN note;
SELECT 1;
"""
HEADER = """\
# Written by `pgrehearse profile` from the statistics of a production database: row counts
# from pg_class, every `empirical` generator from pg_stats (no row was read). Text values
# are Faker stand-ins of the same lengths and frequencies unless --keep-values was given.
# data.scale shrinks the clone; put the migration to rehearse in up.sql and down.sql.
"""


HEADER_INIT = """\
# Written by `pgrehearse init`: rows per table, a read load on the largest tables' primary
# keys and budgets a zero-downtime migration should meet. Put the migration to rehearse in
# up.sql and down.sql, then: pgrehearse run <this folder>
"""


class ProfileOutputError(InputError):
    subject = "profile output"


@dataclass
class ProfileResult:
    folder: Path
    tables: int
    rows: int
    generated_columns: int  # columns given an empirical or ref generator from statistics
    inferred_columns: int  # left to inference (keys, constraints, no statistics)
    warnings: list[str] = field(default_factory=list)


def profile_database(
    dsn: str,
    out_dir: str | Path,
    *,
    tables: Sequence[str] = (),
    scale: float = 1.0,
    keep_values: bool = False,
    pii: Sequence[str] = (),
    exact_counts: bool = False,
    force: bool = False,
    statement_timeout_s: float = 60.0,
    sample_rows: int = 0,
) -> ProfileResult:
    """Profile the database at `dsn` into `out_dir`: `schema.sql` (pg_dump --schema-only
    of the server's own major), `profile.json` (the statistics, private values replaced)
    and `scenario.yaml` (rows and a generator per column), plus placeholder `up.sql` and
    `down.sql` where there are none.

    Reads only the catalog and `pg_stats`, in a read-only transaction with a statement
    timeout (and `count(*)` of each table with `exact_counts`, and about `sample_rows` rows
    of each table ANALYZE never saw through TABLESAMPLE). Raises `EnvironmentProblem`
    when the server cannot be reached or read, `InputError` when `out_dir` already holds a
    scenario (unless `force`).
    """
    folder = Path(out_dir)
    if (folder / "scenario.yaml").exists() and not force:
        raise ProfileOutputError(
            [
                Problem(
                    "already holds a scenario.yaml",
                    file=folder / "scenario.yaml",
                    hint="profile into a new folder, or pass --force to replace its files",
                )
            ]
        )
    profile, catalog, major = _read(dsn, tables, exact_counts, statement_timeout_s, sample_rows)
    if not profile["tables"]:
        wanted = ", ".join(tables) if tables else "any user table"
        raise EnvironmentProblem(f"the database has no table matching {wanted}")
    folder.mkdir(parents=True, exist_ok=True)
    _dump_schema(dsn, major, folder / "schema.sql")
    built = build_scenario(
        scenario_name(folder, "profiled"),
        profile,
        catalog,
        BuildOptions(scale=scale, keep_values=keep_values, pii=pii),
    )
    (folder / "profile.json").write_text(json.dumps(built.profile, indent=1) + "\n")
    (folder / "scenario.yaml").write_text(HEADER + scenario_yaml(built.scenario))
    for file, text in (("up.sql", PLACEHOLDER_UP), ("down.sql", PLACEHOLDER_DOWN)):
        if not (folder / file).exists():
            (folder / file).write_text(text)
    data_tables = built.scenario["data"]["tables"]
    given = sum(len(t.get("columns", {})) for t in data_tables.values())
    every = sum(len(info.columns) for info in catalog.values())
    return ProfileResult(
        folder,
        len(data_tables),
        sum(int(t["rows"]) for t in data_tables.values()),
        given,
        every - given,
        list(profile["warnings"]),
    )


def _read(
    dsn: str, patterns: Sequence[str], exact_counts: bool, timeout_s: float, sample_rows: int
) -> tuple[dict[str, Any], dict[str, TableInfo], int]:
    try:
        conn = psycopg.connect(dsn, application_name="pgrehearse:profile", connect_timeout=10)
    except psycopg.Error as exc:
        raise EnvironmentProblem(
            f"cannot connect to the database to profile: {redact(str(exc).strip())}\n"
            "fix: check --dsn (host, port, user, password, database)"
        ) from None
    try:
        with conn:
            begin_read_only(conn, timeout_s)
            profile = read_profile(
                conn, patterns, exact_counts=exact_counts, sample_rows=sample_rows
            )
            hidden = [n for n, t in profile["tables"].items() if not t["stats_visible"]]
            if hidden:
                user = conn.info.user
                raise EnvironmentProblem(
                    f"role {user!r} may not read {len(hidden)} table(s): "
                    + ", ".join(hidden[:10])
                    + (" …" if len(hidden) > 10 else "")
                    + "\npg_dump needs SELECT to lock a table, and pg_stats hides the "
                    "statistics of tables a role cannot read.\n"
                    f"fix: GRANT pg_read_all_data TO {user} (or SELECT on those tables), "
                    "profile as their owner, or leave them out with --tables"
                )
            catalog = {name: read_table(conn, name) for name in profile["tables"]}
            conn.rollback()
            return profile, catalog, conn.info.server_version // 10000
    except psycopg.Error as exc:
        raise EnvironmentProblem(
            f"reading the statistics failed: {redact(str(exc).strip())}\n"
            "fix: profile with a role that can read the catalog and the tables' statistics "
            "(their owner, or one granted pg_read_all_data)"
        ) from None
    finally:
        conn.close()


def _dump_schema(dsn: str, major: int, path: Path) -> None:
    """`pg_dump --schema-only` by the server's own major (fetched if need be)."""
    pg_dump = find_binaries(major=major).program("pg_dump")
    done = subprocess.run(
        [str(pg_dump), "--schema-only", f"--file={path}", f"--dbname={dsn}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise EnvironmentProblem(
            f"pg_dump --schema-only failed: {redact(done.stderr.strip())}\n"
            "fix: profile with a role that may read every table (or leave tables out with "
            "--tables)"
        )


def scenario_name(folder: Path, fallback: str) -> str:
    """A scenario name (`[A-Za-z0-9][A-Za-z0-9_.-]*`) from its folder's name."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", folder.resolve().name).lstrip("_.-")[:100]
    return name or fallback


def scenario_yaml(data: dict[str, Any]) -> str:
    """A scenario as YAML, keys in the order given, short lists on one line."""
    import yaml

    base: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: 10× faster

    class _Dumper(base):  # type: ignore[misc]
        pass

    def _short_lists(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.Node:
        flow = all(not isinstance(v, dict | list) for v in value)
        return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)

    _Dumper.add_representer(list, _short_lists)
    # one line per list: folding quoted timestamps across lines is valid YAML but unreadable
    text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1 << 30)
    return str(text)
