"""The `pgrehearse` command: a thin shell over the library."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import click
import yaml
from rich.console import Console

from pgrehearse._cache import SnapshotCache
from pgrehearse._console import ConsoleProgress, print_error, print_summary
from pgrehearse._errors import ExitCode, Interrupted, PgRehearseError
from pgrehearse._rehearsal import rehearse
from pgrehearse._version import __version__
from pgrehearse.backends._workdir import sweep_leftovers, temp_root
from pgrehearse.report import SUMMARY_FILE, render_reports
from pgrehearse.scenario import load_scenario

_SIGNAL_EXIT = {signal.SIGTERM: ExitCode.TERMINATED, signal.SIGHUP: ExitCode.HANGUP}


@contextmanager
def _signals_raise() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into an exception, so cleanup runs as it does for Ctrl-C."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        raise Interrupted(name, _SIGNAL_EXIT[signal.Signals(signum)])

    previous = {sig: signal.signal(sig, handler) for sig in _SIGNAL_EXIT}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


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
@click.option(
    "--pg-bin",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder holding the PostgreSQL server binaries (initdb, postgres).",
)
@click.option(
    "--scale",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Multiply every table's row count (overrides data.scale).",
)
@click.option(
    "--no-cache",
    is_flag=True,
    help="Seed from scratch and do not save a snapshot (see `pgrehearse cache`).",
)
@click.option(
    "--budget",
    "budget_overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a budget, e.g. max_wait_ms=500 or max_lock_ms.AccessExclusiveLock=200.",
)
@click.option("-q", "--quiet", is_flag=True, help="Only the final summary, no progress.")
def run(
    scenario: Path,
    report_dir: Path,
    pg_bin: Path | None,
    scale: float | None,
    no_cache: bool,
    budget_overrides: tuple[str, ...],
    quiet: bool,
) -> None:
    """Rehearse SCENARIO (a scenario file, or a folder holding one).

    Exit codes: 0 passed, 1 failed (a statement, a budget, the round trip, or the
    application broke), 2 invalid input, 3 environment problem,
    130 interrupted (SIGINT), 143 terminated (SIGTERM).
    """
    out = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    progress = ConsoleProgress(err, verbose=not quiet)
    try:
        with _signals_raise():
            loaded = load_scenario(scenario)
            result = rehearse(
                loaded,
                report_dir=report_dir,
                pg_bin=pg_bin,
                scale=scale,
                progress=progress,
                cache=not no_cache,
                budgets=parse_budget_overrides(budget_overrides),
            )
    except PgRehearseError as exc:
        progress.close()
        print_error(err, exc)
        sys.exit(int(exc.exit_code))
    except (KeyboardInterrupt, Interrupted) as exc:
        progress.close()
        name = exc.signal_name if isinstance(exc, Interrupted) else "SIGINT"
        code = exc.exit_code if isinstance(exc, Interrupted) else ExitCode.INTERRUPTED
        err.print(f"interrupted by {name}: the server and its files were removed", markup=False)
        sys.exit(int(code))
    progress.close()
    print_summary(out, result)
    sys.exit(int(ExitCode.OK if result.passed else ExitCode.FAILED))


def parse_budget_overrides(items: tuple[str, ...]) -> dict[str, Any]:
    """`key=value` / `key.sub=value` pairs into nested budget overrides (values as YAML)."""
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r}: write KEY=VALUE", param_hint="--budget")
        value = yaml.safe_load(raw)
        head, _, sub = key.partition(".")
        if sub:
            overrides.setdefault(head, {})[sub] = value
        else:
            overrides[head] = value
    return overrides


@main.command()
@click.argument("scenario", type=click.Path(path_type=Path))
def validate(scenario: Path) -> None:
    """Check a scenario file without starting a server (exit 0 valid, 2 invalid)."""
    err = Console(stderr=True, highlight=False)
    try:
        loaded = load_scenario(scenario)
    except PgRehearseError as exc:
        print_error(err, exc)
        sys.exit(int(exc.exit_code))
    tables = ", ".join(loaded.data.tables) or "no tables"
    click.echo(f"{loaded.path}: valid scenario {loaded.name!r} ({tables})")


@main.command()
def cleanup() -> None:
    """Remove servers and folders left by runs that were killed (done by every run too)."""
    removed = sweep_leftovers(temp_root())
    for folder in removed:
        click.echo(f"removed {folder}")
    click.echo(f"{len(removed)} leftover folder(s) removed from {temp_root()}")


@main.group()
def cache() -> None:
    """Seeded snapshots kept between runs ($PGREHEARSE_CACHE_DIR, else ~/.cache/pgrehearse)."""


@cache.command("list")
def cache_list() -> None:
    """List cached snapshots."""
    snapshots = SnapshotCache().entries()
    if not snapshots:
        click.echo(f"no cached snapshots in {SnapshotCache().root}")
        return
    click.echo(f"{'key':<14} {'scenario':<28} {'pg':<7} {'rows':>13} {'size':>10}  last used")
    for snapshot in snapshots:
        meta = snapshot.meta
        if meta.get("damaged"):
            click.echo(f"{snapshot.key[:12]:<14} (damaged: removed on next use or clear)")
            continue
        click.echo(
            f"{snapshot.key[:12]:<14} {str(meta.get('scenario', '?'))[:28]:<28} "
            f"{meta.get('postgres_version', '?'):<7} {meta.get('rows', 0):>13,} "
            f"{meta.get('bytes', 0) / 1e6:>8,.0f}MB  {meta.get('last_used', '?')}"
        )


@cache.command("clear")
def cache_clear() -> None:
    """Remove every cached snapshot."""
    removed = SnapshotCache().clear()
    click.echo(f"removed {removed} cached snapshot(s) from {SnapshotCache().root}")


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False, exists=True))
def report(run_dir: Path) -> None:
    """Re-render the reports of a finished run from its saved summary.json."""
    summary_path = run_dir / SUMMARY_FILE
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        click.echo(f"error: {summary_path}: cannot read the saved summary: {exc}", err=True)
        sys.exit(int(ExitCode.INVALID_INPUT))
    for written in render_reports(summary, run_dir):
        click.echo(f"wrote {written}")
