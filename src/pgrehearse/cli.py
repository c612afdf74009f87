"""The `pgrehearse` command: a thin shell over the library.

This module is over 500 lines on purpose: it is every command and option of the command
line, each a thin translation into a library call, so that `--help` and the code read
alike; the work is all elsewhere (console output in `_console`, errors in `_shell`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from pgrehearse._shell import Scale, print_error, reported_errors
from pgrehearse._version import __version__
from pgrehearse.errors import ExitCode, PgRehearseError

if TYPE_CHECKING:
    from rich.console import Console

    from pgrehearse._console import ConsoleProgress
    from pgrehearse.backends.choice import ServerOptions
    from pgrehearse.rehearsal.cache import SnapshotCache
    from pgrehearse.scaling import Target
    from pgrehearse.scenario import Scenario

# kept here, not imported, so `--help` loads no backend code (a test checks they agree)
BACKEND_NAMES = ("auto", "local", "docker", "external")
# pgrehearse.tools.TOOLS, spelled out so that --help imports nothing (a test keeps them equal)
MIGRATION_TOOLS = (
    "auto",
    "golang-migrate",
    "goose",
    "dbmate",
    "flyway",
    "dirs",
    "prisma",
    "popx",
    "sqitch",
    "sql-migrate",
    "tern",
    "yoyo",
    "liquibase",
    "node-pg-migrate",
    "postgrator",
    "db-migrate",
    "play",
    "mybatis",
    "rambler",
    "shmig",
    "sql-files",
    "alembic",
    "django",
)
_TOOL_OPTION = click.option(
    "--tool",
    type=click.Choice(MIGRATION_TOOLS),
    default="auto",
    show_default=True,
    help="With --migrations: which tool wrote the folder.",
)
HISTORY_FILE = "history.jsonl"
DEFAULT_MIN_DELTA_S = 0.05

_Command = TypeVar("_Command", bound=Callable[..., Any])


def _options(*options: Callable[[_Command], _Command]) -> Callable[[_Command], _Command]:
    """Several click options as one decorator, in the order written."""

    def apply(command: _Command) -> _Command:
        for option in reversed(options):
            command = option(command)
        return command

    return apply


# where and on what the server runs: `run` and `bench`
_server_options = _options(
    click.option(
        "--pg-bin",
        type=click.Path(path_type=Path),
        default=None,
        help="Folder holding the PostgreSQL server binaries (initdb, postgres).",
    ),
    click.option(
        "--scale",
        type=Scale(),
        default=None,
        help="Multiply every table's row count (overrides data.scale).",
    ),
    click.option(
        "--no-cache",
        is_flag=True,
        help="Seed from scratch and do not save a snapshot (see `pgrehearse cache`).",
    ),
    click.option(
        "--pg-version",
        type=click.IntRange(14, 18),
        default=None,
        help="PostgreSQL major (14-18; default: the scenario's postgres.version). "
        "Downloaded when not installed.",
    ),
    click.option(
        "--backend",
        type=click.Choice(BACKEND_NAMES),
        default="auto",
        show_default=True,
        help="Where the server runs: auto = external with a DSN, else local.",
    ),
    click.option(
        "--dsn",
        default=None,
        metavar="DSN",
        help="An existing server to rehearse on, in a database of pgrehearse's own that is "
        "dropped afterwards (default: $PGREHEARSE_DSN). The password is never printed.",
    ),
)

# what counts as slower: `bench --baseline` and `compare`
_threshold_options = _options(
    click.option("--threshold", default="25%", show_default=True, help="Allowed slowdown."),
    click.option(
        "--min-delta",
        type=click.FloatRange(min=0),
        default=DEFAULT_MIN_DELTA_S,
        show_default=True,
        help="Seconds a median must grow by, besides the threshold, to count as slower.",
    ),
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pgrehearse")
def main() -> None:
    """Rehearse PostgreSQL schema migrations on throwaway, production-sized databases."""


@main.command()
@click.argument("scenario", type=click.Path(path_type=Path))
@click.option(
    "--report-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("reports"),
    show_default=True,
    help="Folder for reports; each run writes <report-dir>/<scenario>/<run-id>/.",
)
@_server_options
@click.option(
    "--budget",
    "budget_overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a budget, e.g. max_wait_ms=500 or max_lock_ms.AccessExclusiveLock=200.",
)
@click.option(
    "--history",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Append this run's timings to this file [default: <report-dir>/history.jsonl].",
)
@click.option("--no-history", is_flag=True, help="Do not record timings in a history file.")
@click.option(
    "--clone",
    is_flag=True,
    help="Clone mode: rehearse in the DSN's own database, which already holds the data "
    "(no schema, no seeding). The migration CHANGES that database: disposable clones only.",
)
@click.option(
    "--keep-server",
    is_flag=True,
    help="Leave the server running afterwards for debugging (stop it: pgrehearse cleanup).",
)
@click.option(
    "--migrations",
    "migrations_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Rehearse this migration tool's folder instead of the scenario's migration "
    "(the scenario supplies data, load and budgets).",
)
@_TOOL_OPTION
@click.option("--from", "from_version", default=None, help="With --migrations: the baseline.")
@click.option("--to", "to_version", default=None, help="With --migrations: the last to rehearse.")
@click.option(
    "--scales",
    default=None,
    metavar="S1,S2,S3",
    help="Rehearse at each of these scales (at least 3) and predict at --predict-at "
    "[default: the scenario's predict.scales, when it has them and no --scale is given].",
)
@click.option(
    "--predict-at",
    default=None,
    metavar="SCALE|TABLE=ROWS,...|FILE",
    help="Where to predict: a scale (1), rows per table (orders=50000000), or a YAML/JSON "
    "file of rows per table [default: the scenario's predict.at, or 1].",
)
@click.option(
    "--budget-at",
    type=click.Choice(["measured", "predicted"]),
    default=None,
    help="Judge lock, wait and migration-time budgets on what was measured, or on the "
    "prediction [default: the scenario's budgets.at].",
)
@click.option("-q", "--quiet", is_flag=True, help="Only the final summary, no progress.")
def run(
    scenario: Path,
    report_dir: Path,
    pg_bin: Path | None,
    scale: float | None,
    no_cache: bool,
    budget_overrides: tuple[str, ...],
    history: Path | None,
    no_history: bool,
    pg_version: int | None,
    backend: str,
    dsn: str | None,
    clone: bool,
    keep_server: bool,
    migrations_dir: Path | None,
    tool: str,
    from_version: str | None,
    to_version: str | None,
    scales: str | None,
    predict_at: str | None,
    budget_at: str | None,
    quiet: bool,
) -> None:
    """Rehearse SCENARIO (a scenario file, or a folder holding one).

    With --scales (or a scenario's predict section), rehearse at each scale and predict
    every statement's time, lock hold and the load's longest wait at --predict-at.

    Exit codes: 0 passed, 1 failed (a statement, a budget, the round trip, or the
    application broke), 2 invalid input, 3 environment problem,
    130 interrupted (SIGINT), 143 terminated (SIGTERM).
    """
    from pgrehearse._console import print_summary
    from pgrehearse.rehearsal.run import rehearse
    from pgrehearse.scenario import load_scenario, scenario_files

    out, err, progress = _consoles(quiet)
    options = _server_options_from(pg_bin, scale, no_cache, pg_version, backend, dsn, clone)
    chosen = _scales(scales) if scales else None
    target = _target(predict_at) if predict_at else None
    with reported_errors(progress, err):
        files = scenario_files(scenario)
        if len(files) > 1:
            if migrations_dir is not None or keep_server:
                from pgrehearse.errors import Problem, ScenarioError

                raise ScenarioError(
                    [
                        Problem(
                            f"{scenario} holds {len(files)} scenarios; --migrations and "
                            "--keep-server take one",
                            hint="name one scenario file",
                        )
                    ]
                )
            _run_each(
                files,
                options,
                report_dir=report_dir,
                progress=progress,
                budgets=parse_budget_overrides(budget_overrides),
                history=False if no_history else (history or True),
                out=out,
                err=err,
            )
        loaded = load_scenario(scenario)
        if migrations_dir is not None:
            loaded = _with_migrations(loaded, migrations_dir, tool, from_version, to_version)
        if chosen or (loaded.predict is not None and scale is None) or budget_at == "predicted":
            _run_scales(
                loaded,
                options,
                chosen,
                target,
                budget_at,
                report_dir=report_dir,
                progress=progress,
                budgets=parse_budget_overrides(budget_overrides),
                history=False if no_history else (history or True),
                out=out,
                err=err,
            )
        result = rehearse(
            loaded,
            options,
            report_dir=report_dir,
            progress=progress,
            budgets=parse_budget_overrides(budget_overrides),
            keep_server=keep_server,
            history=False if no_history else (history or True),
        )
    assert result.summary is not None
    print_summary(out, result.summary, None if result.report_error else result.summary_path)
    if result.report_error:
        err.print(f"warning: {result.report_error}", highlight=False, markup=False, soft_wrap=True)
    sys.exit(int(ExitCode.OK if result.passed else ExitCode.FAILED))


def _run_each(
    files: list[Path],
    options: ServerOptions,
    *,
    out: Console,
    err: Console,
    **kwargs: Any,
) -> NoReturn:
    """Every scenario of a folder, one after the other: a line each, then the verdict.
    A scenario that is invalid or meets an environment problem is reported and the next
    one runs; the exit code is the worst of them (Ctrl-C stops them all)."""
    from pgrehearse.rehearsal.run import rehearse
    from pgrehearse.scaling import rehearse_scales
    from pgrehearse.scenario import load_scenario

    codes: list[ExitCode] = []
    for file in files:
        try:
            loaded = load_scenario(file)
            if loaded.predict is not None and options.scale is None:
                result = rehearse_scales(loaded, options=options, **kwargs).telling
            else:
                result = rehearse(loaded, options, **kwargs)
        except PgRehearseError as exc:
            print_error(err, exc)
            codes.append(exc.exit_code)
            out.print(
                f"{_shown(file)}: {exc.exit_code.name}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
            continue
        codes.append(ExitCode.OK if result.passed else ExitCode.FAILED)
        line = f"{result.scenario_name}: {result.outcome.upper()}"
        if result.failure:
            line += f" — {result.failure.splitlines()[0]}"
        if result.summary_path is not None:
            line += f" ({_shown(result.summary_path)})"
        out.print(line, markup=False, highlight=False, soft_wrap=True)
    worst = max(codes)
    passed = codes.count(ExitCode.OK)
    out.print(
        f"{len(files)} scenarios: {passed} passed, {len(files) - passed} not"
        + ("" if worst == ExitCode.OK else f" (exit {int(worst)}: {worst.name})"),
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    sys.exit(int(worst))


def _print_next_step(out: Console, folder: Path) -> None:
    out.print(
        f"next: put the migration in {_shown(folder / 'up.sql')} and down.sql, then "
        f"pgrehearse run {_shown(folder)}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def _shown(path: Path) -> str:
    from pgrehearse.errors import shown_path

    return shown_path(path)


def _scales(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: write numbers separated by commas, e.g. 0.01,0.03,0.1",
            param_hint="--scales",
        ) from None


def _run_scales(
    scenario: Scenario,
    options: ServerOptions,
    scales: list[float] | None,
    target: Target | None,
    budget_at: str | None,
    *,
    out: Console,
    err: Console,
    **kwargs: Any,
) -> NoReturn:
    """The scale curve: a rehearsal per scale, the prediction on the largest; exit 0 or 1."""
    from pgrehearse._console import print_summary
    from pgrehearse.scaling import rehearse_scales

    scaled = rehearse_scales(scenario, scales, target, options, budget_at=budget_at, **kwargs)
    largest = scaled.largest
    assert largest.summary is not None
    for other in scaled.rehearsals[:-1]:
        out.print(
            f"scale {other.scale:g}: {other.outcome.upper()} ({other.summary_path})",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    print_summary(out, largest.summary, None if largest.report_error else largest.summary_path)
    if scaled.curve is None:
        err.print(f"no prediction: {scaled.failure}", markup=False, highlight=False)
    elif scaled.failure:
        err.print(f"failed {scaled.failure}", markup=False, highlight=False, soft_wrap=True)
    sys.exit(int(ExitCode.OK if scaled.passed else ExitCode.FAILED))


def _target(text: str) -> Target:
    """--predict-at: a scale, TABLE=ROWS pairs, or a YAML/JSON file of rows per table."""
    from pgrehearse.scaling import Target

    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if value <= 0:
            raise click.BadParameter("the scale must be above 0", param_hint="--predict-at")
        return Target(scale=value)
    if "=" in text and not Path(text).exists():
        rows: dict[str, int] = {}
        for pair in text.split(","):
            table, _, count = pair.partition("=")
            if not table.strip() or not count.strip().isdigit() or int(count) <= 0:
                raise click.BadParameter(
                    f"{pair!r}: write TABLE=ROWS with a positive whole number",
                    param_hint="--predict-at",
                )
            rows[table.strip()] = int(count)
        return Target(scale=None, rows=rows)
    return Target(scale=None, rows=_rows_file(Path(text)))


def _rows_file(path: Path) -> dict[str, int]:
    """Rows per table from a file: `{table: rows}`, a summary.json-like
    `{tables: [{name, rows}]}`, or a profile.json's `{tables: {name: {rows}}}`."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise click.BadParameter(
            f"{path}: not a scale, TABLE=ROWS pairs, or a readable YAML/JSON file ({exc})",
            param_hint="--predict-at",
        ) from None
    if isinstance(data, dict) and isinstance(data.get("tables"), list):
        data = {t.get("name"): t.get("rows") for t in data["tables"] if isinstance(t, dict)}
    elif isinstance(data, dict) and isinstance(data.get("tables"), dict):  # a profile.json
        data = {
            name: table.get("rows")
            for name, table in data["tables"].items()
            if isinstance(table, dict) and table.get("rows")
        }
    if (
        not isinstance(data, dict)
        or not data
        or not all(isinstance(k, str) and isinstance(v, int) and v > 0 for k, v in data.items())
    ):
        raise click.BadParameter(
            f"{path}: expected rows per table, e.g. `orders: 50000000`",
            param_hint="--predict-at",
        )
    return data


def _with_migrations(
    scenario: Scenario, folder: Path, tool: str, start: str | None, end: str | None
) -> Scenario:
    from pgrehearse.errors import Problem, ScenarioError

    try:
        return scenario.with_migration_folder(folder, tool, start, end)
    except ValueError as exc:
        errors = getattr(exc, "errors", None)  # pydantic's ValidationError
        message = str(errors()[0]["msg"]) if callable(errors) else str(exc)
        message = message.removeprefix("Value error, ")
        raise ScenarioError(
            [Problem(f"--migrations {folder}: {message}", hint="check the folder, --tool, --from")]
        ) from None


def _consoles(quiet: bool) -> tuple[Console, Console, ConsoleProgress]:
    """stdout, stderr and the progress drawn on stderr."""
    from rich.console import Console

    from pgrehearse._console import ConsoleProgress
    from pgrehearse._reader_may_leave import ReaderMayLeave

    # in a pipe or a CI log a line stays one line, however long (rich would fold at 80),
    # and tables get the room a CI log has (at 80 columns the plan's wrapped every word)
    err = Console(
        file=ReaderMayLeave(sys.stderr).as_text_stream(),
        highlight=False,
        soft_wrap=not sys.stderr.isatty(),
        width=_log_width(sys.stderr.isatty()),
    )
    out = Console(
        file=ReaderMayLeave(sys.stdout).as_text_stream(),
        highlight=False,
        soft_wrap=not sys.stdout.isatty(),
        width=_log_width(sys.stdout.isatty()),
    )
    return out, err, ConsoleProgress(err, verbose=not quiet)


_LOG_WIDTH = 160


def _log_width(terminal: bool) -> int | None:
    """The width of tables in a pipe or a CI log; None (the terminal's, or $COLUMNS) else."""
    return None if terminal or os.environ.get("COLUMNS") else _LOG_WIDTH


def _server_options_from(
    pg_bin: Path | None,
    scale: float | None,
    no_cache: bool,
    pg_version: int | None,
    backend: str,
    dsn: str | None,
    clone: bool = False,
) -> ServerOptions:
    from pgrehearse.backends.choice import ServerOptions

    return ServerOptions(
        backend=backend,
        pg_bin=pg_bin,
        pg_version=pg_version,
        dsn=dsn,
        clone=clone,
        scale=scale,
        cache=not no_cache,
    )


def parse_budget_overrides(items: tuple[str, ...]) -> dict[str, Any]:
    """`key=value` / `key.sub=value` pairs into nested budget overrides (values as YAML)."""
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r}: write KEY=VALUE", param_hint="--budget")
        import yaml

        value = yaml.safe_load(raw)
        head, _, sub = key.partition(".")
        if sub:
            overrides.setdefault(head, {})[sub] = value
        else:
            overrides[head] = value
    return overrides


@main.command()
@click.argument("scenario", type=click.Path(path_type=Path))
@_server_options
@click.option("-q", "--quiet", is_flag=True, help="Only the plan, no progress.")
def plan(
    scenario: Path,
    pg_bin: Path | None,
    scale: float | None,
    no_cache: bool,
    pg_version: int | None,
    backend: str,
    dsn: str | None,
    quiet: bool,
) -> None:
    """Create SCENARIO's schema on a throwaway server (no data) and print what seeding would
    put in every column, and where each generator came from; list every problem at once.

    Exit codes: 0 ready to seed, 2 problems found (all listed), 3 environment problem.
    """
    from pgrehearse._console import print_plan
    from pgrehearse.rehearsal.plan import plan_seeding
    from pgrehearse.scenario import load_scenario

    out, err, progress = _consoles(quiet)
    options = _server_options_from(pg_bin, scale, no_cache, pg_version, backend, dsn)
    with reported_errors(progress, err):
        planned = plan_seeding(load_scenario(scenario), options, progress=progress)
    print_plan(out, planned)


@main.command()
@click.argument("out_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--dsn",
    required=True,
    envvar="PGREHEARSE_PROFILE_DSN",
    metavar="DSN",
    help="The database to profile (only read: catalog and pg_stats). The password is never "
    "printed or written. [env: PGREHEARSE_PROFILE_DSN]",
)
@click.option(
    "--tables",
    "tables",
    multiple=True,
    metavar="PATTERN",
    help="Only tables matching this shell pattern (name or schema.name; repeatable), and the "
    "tables their foreign keys reach. [default: every table]",
)
@click.option(
    "--scale",
    type=Scale(),
    default=1.0,
    show_default=True,
    help="data.scale of the scenario: its rows are production's, times this.",
)
@click.option(
    "--keep-values",
    is_flag=True,
    help="Copy text values (common values, histogram bounds) as they are, instead of Faker "
    "stand-ins of the same length and frequency.",
)
@click.option(
    "--pii",
    multiple=True,
    metavar="PATTERN",
    help="Also drop the values of columns matching this pattern (column or table.column), "
    "whatever their type; their values are then inferred. Repeatable.",
)
@click.option("--exact-counts", is_flag=True, help="Rows by count(*) instead of reltuples.")
@click.option(
    "--sample-rows",
    type=click.IntRange(min=0),
    default=0,
    metavar="N",
    help="For a table ANALYZE never saw: read about N of its rows (TABLESAMPLE) and take "
    "its statistics from them. [default: 0, such tables are inferred]",
)
@click.option("--force", is_flag=True, help="Replace the files of an existing scenario folder.")
def profile(
    out_dir: Path,
    dsn: str,
    tables: tuple[str, ...],
    scale: float,
    keep_values: bool,
    pii: tuple[str, ...],
    exact_counts: bool,
    sample_rows: int,
    force: bool,
) -> None:
    """Write a scenario folder shaped like the database at --dsn: schema.sql (pg_dump
    --schema-only), profile.json (its statistics) and scenario.yaml (rows and a generator
    per column, from pg_stats). No row is read.

    Exit codes: 0 written, 2 OUT_DIR already holds a scenario, 3 the database cannot be
    reached or read.
    """
    from pgrehearse.profile import profile_database

    out, err, progress = _consoles(False)
    with reported_errors(progress, err):
        done = profile_database(
            dsn,
            out_dir,
            tables=tables,
            scale=scale,
            keep_values=keep_values,
            pii=pii,
            exact_counts=exact_counts,
            force=force,
            sample_rows=sample_rows,
        )
    for warning in done.warnings:
        err.print(f"warning: {warning}", markup=False, soft_wrap=True)
    out.print(
        f"{_shown(done.folder)}: {done.tables} tables, {done.rows:,} rows; "
        f"{done.generated_columns} columns from statistics, {done.inferred_columns} "
        "left to inference (keys, constraints, no statistics)",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    _print_next_step(out, done.folder)


@main.command()
@click.argument("out_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--dsn", metavar="DSN", help="Profile this database (see `profile`).")
@click.option(
    "--schema",
    type=click.Path(path_type=Path),
    help="Start from this schema: a SQL file or pg_dump output in any format.",
)
@click.option(
    "--migrations",
    type=click.Path(path_type=Path, file_okay=False),
    help="Start from a migration tool's folder, or an Alembic or Django project's: its last "
    "migration is rehearsed over the ones before it (after --schema, if given too).",
)
@_TOOL_OPTION
@click.option(
    "--rows",
    type=click.IntRange(min=0),
    default=10_000,
    show_default=True,
    help="With --schema or --migrations: rows per table.",
)
@click.option("--scale", type=Scale(), default=1.0, show_default=True, help="data.scale.")
@click.option("--force", is_flag=True, help="Replace the files of an existing scenario folder.")
def init(
    out_dir: Path,
    dsn: str | None,
    schema: Path | None,
    migrations: Path | None,
    tool: str,
    rows: int,
    scale: float,
    force: bool,
) -> None:
    """Write a first scenario into OUT_DIR that validates and runs as written: from --dsn
    (a profile of the database), --schema (a schema file, its tables given --rows each) or
    --migrations (a migration tool's folder: the tables its migrations make, each given
    --rows, and its last migration rehearsed), with a read load on the largest tables'
    primary keys and budgets (and, but for --migrations, a placeholder migration). Asks
    nothing.

    Exit codes: 0 written, 2 bad input (no source, --dsn with another, an unreadable
    folder, an existing scenario), 3 the database or a throwaway server cannot be reached.
    """
    from pgrehearse.profile import init_scenario

    out, err, progress = _consoles(True)
    with reported_errors(progress, err):
        done = init_scenario(
            out_dir,
            dsn=dsn,
            schema=schema,
            rows=rows,
            scale=scale,
            force=force,
            migrations=migrations,
            tool=tool,
        )
    loaded = ", ".join(done.loaded) or "no table (none has a one-column primary key)"
    out.print(
        f"{_shown(done.folder)}: {done.tables} tables from {done.source}; the load reads {loaded}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    if done.reference:
        out.print(
            f"{', '.join(done.reference)}: filled by the schema with rows that name their own "
            "keys (reference data): rows: 0 keeps just those; give a number to add more",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    if done.problems:
        err.print(
            f"the seeding plan found {len(done.problems)} problem(s) to settle in "
            f"{_shown(done.folder / 'scenario.yaml')} before it runs "
            f"(`pgrehearse plan {_shown(done.folder)}` lists them again):",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        for problem in done.problems:
            err.print("  " + problem.render(), markup=False, highlight=False, soft_wrap=True)
    if migrations is None:
        _print_next_step(out, done.folder)
    else:
        out.print(
            f"next: pgrehearse run {_shown(done.folder)} (it rehearses the last migration; "
            "move `from:` in scenario.yaml back to rehearse more of them)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


@main.command()
@click.argument("scenario", type=click.Path(path_type=Path))
def validate(scenario: Path) -> None:
    """Check a scenario file without starting a server (exit 0 valid, 2 invalid)."""
    from pgrehearse.scenario import load_scenario

    try:
        loaded = load_scenario(scenario)
    except PgRehearseError as exc:
        print_error(None, exc)
        sys.exit(int(exc.exit_code))
    tables = ", ".join(loaded.data.tables) or "no tables"
    click.echo(f"{loaded.path}: valid scenario {loaded.name!r} ({tables})")


@main.command()
@click.option(
    "--dsn",
    default=None,
    metavar="DSN",
    help="Also drop pgrehearse_<run id> databases that killed runs left on this server.",
)
@click.option(
    "--older-than-hours",
    type=click.FloatRange(min=0),
    default=6.0,
    show_default=True,
    help="With --dsn: only databases of runs started longer ago than this (others may be "
    "running now).",
)
@click.option(
    "--all",
    "everyone",
    is_flag=True,
    help="Also stop servers and containers other users' runs kept (as root, for instance).",
)
def cleanup(dsn: str | None, older_than_hours: float, everyone: bool) -> None:
    """Stop the servers your runs kept with --keep-server (everyone's with --all) and remove
    folders left by killed runs (every run does the latter by itself); with --dsn, drop
    databases killed runs left there."""
    from pgrehearse.backends.docker import sweep_containers
    from pgrehearse.backends.external import dsn_for_display, sweep_databases
    from pgrehearse.backends.workdir import sweep_leftovers, temp_root
    from pgrehearse.rehearsal.cache import SnapshotCache

    # what is removed is said as it goes; a reader who leaves (`| head`) stops nothing
    out, _, _ = _consoles(quiet=True)

    def say(line: str) -> None:
        out.print(line, markup=False, highlight=False, soft_wrap=True)

    removed = sweep_leftovers(temp_root(), kept=True, everyone=everyone)
    for folder in removed:
        say(f"removed {folder}")
    say(f"{len(removed)} leftover folder(s) removed from {temp_root()}")
    containers = sweep_containers(kept=True, everyone=everyone)
    for name in containers:
        say(f"removed container {name}")
    if containers:
        say(f"{len(containers)} container(s) of killed or kept runs removed")
    for partial in SnapshotCache().sweep_partials():
        say(f"removed half-saved snapshot {partial}")
    if dsn is None:
        return
    try:
        dropped = sweep_databases(dsn, dt.timedelta(hours=older_than_hours))
    except PgRehearseError as exc:
        print_error(None, exc)
        sys.exit(int(exc.exit_code))
    for name in dropped:
        say(f"dropped database {name}")
    say(f"{len(dropped)} leftover database(s) dropped on {dsn_for_display(dsn)}")


@main.command()
@click.argument("scenario", type=click.Path(path_type=Path))
@click.option(
    "--rounds", type=click.IntRange(min=1), default=7, show_default=True, help="Timing rounds."
)
@click.option(
    "--history",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("reports") / HISTORY_FILE,
    show_default=True,
    help="Append the measured rounds to this history file.",
)
@click.option(
    "--baseline",
    type=click.Path(path_type=Path),
    default=None,
    help="Compare with this history file (read before appending); exit 1 when slower.",
)
@_threshold_options
@_server_options
@click.option("-q", "--quiet", is_flag=True, help="Only the result, no progress.")
def bench(
    scenario: Path,
    rounds: int,
    history: Path,
    baseline: Path | None,
    threshold: str,
    min_delta: float,
    pg_bin: Path | None,
    scale: float | None,
    no_cache: bool,
    pg_version: int | None,
    backend: str,
    dsn: str | None,
    quiet: bool,
) -> None:
    """Time SCENARIO's migration ROUNDS times, without load, each round on a fresh copy of
    the seeded database; record the rounds in the history file.

    Exit codes: 0 measured (and no regression), 1 slower than --baseline, 2 invalid input,
    3 environment problem, 130/143 interrupted.
    """
    from pgrehearse._console import print_comparisons, print_rounds
    from pgrehearse.rehearsal.rounds import bench as run_bench
    from pgrehearse.scenario import load_scenario
    from pgrehearse.timing.compare import compare_histories
    from pgrehearse.timing.history import append_record, read_records

    out, err, progress = _consoles(quiet)
    limit = _threshold(threshold)
    options = _server_options_from(pg_bin, scale, no_cache, pg_version, backend, dsn)
    with reported_errors(progress, err):
        loaded = load_scenario(scenario)
        base = read_records(baseline) if baseline is not None and baseline.exists() else []
        record = run_bench(loaded, rounds, options, progress=progress)
    append_record(history, record)
    print_rounds(out, record)
    out.print(f"recorded in {history}", markup=False)
    if baseline is None:
        sys.exit(int(ExitCode.OK))
    comparisons = compare_histories(base, [record], threshold=limit, min_delta_s=min_delta)
    print_comparisons(out, comparisons)
    failed = any(c.regressed for c in comparisons)
    sys.exit(int(ExitCode.FAILED if failed else ExitCode.OK))


@main.command()
@click.argument("base", type=click.Path(path_type=Path))
@click.argument("current", type=click.Path(path_type=Path), required=False)
@_threshold_options
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def compare(
    base: Path, current: Path | None, threshold: str, min_delta: float, as_json: bool
) -> None:
    """Fail when a phase or statement of CURRENT is slower than in BASE.

    BASE and CURRENT are history files, run folders or summary.json files; each scenario's
    latest record is compared, medians over its rounds. With BASE alone (a history file),
    each scenario's latest record is compared with the one before it. A scenario without a
    baseline never fails.

    Exit codes: 0 no regression, 1 slower, 2 invalid input.
    """
    from rich.console import Console

    from pgrehearse._console import print_comparisons
    from pgrehearse.timing.compare import compare_histories, split_latest
    from pgrehearse.timing.history import read_records

    out = Console(highlight=False, soft_wrap=not sys.stdout.isatty())
    limit = _threshold(threshold)
    try:
        base_records: Sequence[Mapping[str, Any]] = read_records(base)
        current_records: Sequence[Mapping[str, Any]]
        if current is None:
            base_records, current_records = split_latest(base_records)
        else:
            current_records = read_records(current)
    except PgRehearseError as exc:
        print_error(None, exc)
        sys.exit(int(exc.exit_code))
    comparisons = compare_histories(
        base_records, current_records, threshold=limit, min_delta_s=min_delta
    )
    if as_json:
        click.echo(json.dumps([c.to_dict() for c in comparisons], indent=2))
    else:
        print_comparisons(out, comparisons)
    failed = any(c.regressed for c in comparisons)
    sys.exit(int(ExitCode.FAILED if failed else ExitCode.OK))


def _threshold(text: str) -> float:
    from pgrehearse.timing.compare import parse_threshold

    try:
        return parse_threshold(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: write a percentage (25%) or a fraction (0.25)", param_hint="--threshold"
        ) from None


@main.group()
def cache() -> None:
    """Seeded snapshots kept between runs, under the cache root ($PGREHEARSE_CACHE_DIR, else
    ~/.cache/pgrehearse; as root /var/cache/pgrehearse)."""


@cache.command("list")
@click.option("--verify", is_flag=True, help="Also check every file's checksum (reads every byte).")
def cache_list(verify: bool) -> None:
    """List cached snapshots; damaged ones are flagged (and removed on next use or clear)."""

    cache = _snapshot_cache()
    snapshots = cache.entries(verify=verify)
    if not snapshots:
        click.echo(f"no cached snapshots in {cache.root}")
        return
    click.echo(f"{'key':<14} {'scenario':<28} {'pg':<7} {'rows':>13} {'size':>10}  last used")
    for snapshot in snapshots:
        meta = snapshot.meta
        if snapshot.damage is not None:
            click.echo(
                f"{snapshot.key[:12]:<14} DAMAGED ({snapshot.damage}): removed on next use "
                "or `pgrehearse cache clear`"
            )
            continue
        click.echo(
            f"{snapshot.key[:12]:<14} {str(meta.get('scenario', '?'))[:28]:<28} "
            f"{meta.get('postgres_version', '?'):<7} {meta.get('rows', 0):>13,} "
            f"{meta.get('bytes', 0) / 1e6:>8,.0f}MB  {cache.last_used(snapshot.key) or '-'}"
        )
    cap = f"{cache.limit / 1e9:.1f} GB" if cache.limit is not None else "no cap"
    click.echo(
        f"{cache.total_bytes() / 1e9:.2f} GB in {cache.root} (PGREHEARSE_CACHE_MAX: {cap}; "
        "the least recently used go first when a new snapshot goes over it)"
    )


@cache.command("clear")
def cache_clear() -> None:
    """Remove every cached snapshot."""
    cache = _snapshot_cache()
    removed = cache.clear()
    click.echo(f"removed {removed} cached snapshot(s) from {cache.root}")


def _snapshot_cache() -> SnapshotCache:
    from pgrehearse.rehearsal.cache import SnapshotCache

    try:
        return SnapshotCache()
    except PgRehearseError as exc:  # a PGREHEARSE_CACHE_MAX that is not a size
        print_error(None, exc)
        sys.exit(int(exc.exit_code))


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False, exists=True))
def report(run_dir: Path) -> None:
    """Re-render the reports of a finished run from its saved summary.json. RUN_DIR may
    also be a scenario's report folder (reports/NAME): its latest run is taken."""
    from pgrehearse.report import SUMMARY_FILE, render_reports

    if not (run_dir / SUMMARY_FILE).is_file():
        runs = sorted(p.parent for p in run_dir.glob(f"*/{SUMMARY_FILE}"))  # ids sort by time
        if runs:
            run_dir = runs[-1]
            click.echo(f"latest run: {run_dir}")
    summary_path = run_dir / SUMMARY_FILE
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        click.echo(f"error: {summary_path}: cannot read the saved summary: {exc}", err=True)
        sys.exit(int(ExitCode.INVALID_INPUT))
    from jinja2 import UndefinedError

    try:
        written = render_reports(summary, run_dir)
    except (KeyError, TypeError, UndefinedError) as exc:
        click.echo(
            f"error: {summary_path}: cannot render it: it lacks {exc}\n"
            "fix: it was written by another version of pgrehearse; rehearse the scenario again",
            err=True,
        )
        sys.exit(int(ExitCode.INVALID_INPUT))
    for path in written:
        click.echo(f"wrote {path}")
