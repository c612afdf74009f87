"""One rehearsal, end to end: provision → fingerprint → observed up/down → round trip →
verdict → reports. Each step lives in its own module; this one only orders them."""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

from pgrehearse.backends import Backend, Server
from pgrehearse.backends.choice import ServerOptions, backend_for
from pgrehearse.errors import EnvironmentProblem, Interrupted, shown_path
from pgrehearse.load import LoadChild
from pgrehearse.rehearsal.cache import SnapshotCache
from pgrehearse.rehearsal.context import DATABASE, RunContext, connect, death_of
from pgrehearse.rehearsal.fidelity import check_fidelity
from pgrehearse.rehearsal.migration_roles import create_migration_roles
from pgrehearse.rehearsal.observed import (
    ObservedMigration,
    prepare_load,
    prepare_load_process,
)
from pgrehearse.rehearsal.progress import Progress, SilentProgress
from pgrehearse.rehearsal.provision import new_result, provision
from pgrehearse.rehearsal.result import Rehearsal
from pgrehearse.rehearsal.steps import (
    Fingerprint,
    check_roundtrip,
    check_steps,
    compares_data,
    dump_target,
    skipped_roundtrip,
    statements_of,
    take_fingerprint,
)
from pgrehearse.rehearsal.verdict import decide, merged_budgets
from pgrehearse.report import EarlyReports
from pgrehearse.roles import SessionRole
from pgrehearse.scenario import RoundtripSpec, Scenario
from pgrehearse.verify import DumpTarget

_RELATION_SIZES = """
SELECT CASE WHEN n.nspname = 'public' THEN c.relname ELSE n.nspname || '.' || c.relname END,
       CASE c.relkind WHEN 'i' THEN 'index' WHEN 'm' THEN 'materialized view' ELSE 'table' END,
       pg_total_relation_size(c.oid) - CASE WHEN c.relkind = 'i' THEN 0
                                            ELSE pg_indexes_size(c.oid) END
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'i', 'm') AND c.oid >= 16384
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
ORDER BY 3 DESC
"""


def snapshot_cache(cache: bool | SnapshotCache) -> SnapshotCache | None:
    return cache if isinstance(cache, SnapshotCache) else (SnapshotCache() if cache else None)


def rehearse(
    scenario: Scenario,
    options: ServerOptions | None = None,
    *,
    report_dir: str | Path | None = "reports",
    progress: Progress | None = None,
    run_id: str | None = None,
    budgets: dict[str, Any] | None = None,
    keep_server: bool = False,
    history: str | Path | bool = True,
    backend: Backend | None = None,
    cache: SnapshotCache | None = None,
) -> Rehearsal:
    """Rehearse `scenario` on a throwaway server and return what was measured.

    `options` say where the server runs and on what data size (`ServerOptions`: backend,
    pg_bin, pg_version, dsn, clone, scale, cache). Writes
    `<report_dir>/<scenario name>/<run id>/summary.json` and the other reports unless
    `report_dir` is None. `budgets` override the scenario's budgets (same keys as the
    scenario's `budgets` section). A failing migration is a result (`outcome == "failed"`),
    not an exception; invalid input raises `ScenarioError`, environment problems
    `EnvironmentProblem`. The server is removed in every case, Ctrl-C and SIGTERM included,
    unless `keep_server` asks to keep a finished rehearsal's server for debugging (backends
    that can; `result.kept_server` says how to reach it; `pgrehearse cleanup` stops it). A
    finished rehearsal's timings are appended to `history` (True:
    `<report_dir>/history.jsonl`; False: nowhere). `backend` gives a ready backend instead of
    the one `options` name; `cache` a snapshot cache other than the default one.
    """
    options = options or ServerOptions()
    progress = progress or SilentProgress()
    budget_spec = merged_budgets(scenario, budgets)
    result = new_result(scenario, options.scale, run_id, needs_schema=not options.clone)
    if report_dir is not None:
        result.run_dir = Path(report_dir) / scenario.name / result.run_id
        _check_writable(result.run_dir)  # before minutes of work, not after
    chain = scenario.migration.chain
    if chain is not None:
        result.migration_files = {
            str(script.file): migration.label
            for migration in chain.pending
            for script in (migration.up, migration.verify, migration.down)
            if script is not None
        }
    ctx = RunContext(scenario, result, progress)
    closing: Background[None] | None = None
    try:
        prepared = prepare_load(ctx)
        if prepared:  # its interpreter starts while the server does
            ctx.load_child = LoadChild()
        if report_dir is not None:
            ctx.report_imports = _import_reporting()
        if backend is None:
            backend = backend_for(options, scenario, progress=progress, run_id=result.run_id)
        server = provision(ctx, backend, cache or snapshot_cache(options.cache))
        ctx.server = server
        kept = False
        try:
            _rehearse_on(ctx, server, prepared)
            if keep_server:
                kept = _keep(ctx, server)
        except BaseException as exc:
            death = death_of(server, exc)
            if death is not None:
                raise death from None
            raise
        finally:
            if not kept:  # while the reports are written; waited for before returning
                closing = _closing(server)
        decide(result, budget_spec)
    except (KeyboardInterrupt, Interrupted) as exc:
        result.outcome = "interrupted"
        result.failure = "interrupted by " + (
            exc.signal_name if isinstance(exc, Interrupted) else "SIGINT"
        )
        raise
    except Exception as exc:
        result.outcome = "error"
        result.failure = str(exc)
        raise
    finally:
        if ctx.load_child is not None:
            ctx.load_child.kill()
        result.finished_at = dt.datetime.now(dt.UTC)
        if report_dir is not None and ctx.started_server and result.run_dir is not None:
            progress.note(f"writing the reports to {shown_path(result.run_dir)}")
        try:
            write_reports(
                result, report_dir, history, write=ctx.started_server, figures=ctx.figures
            )
        finally:
            if ctx.figures is not None:
                ctx.figures.close()  # done already, unless the reports failed first
            if closing is not None:
                closing.result()
    return result


def _rehearse_on(ctx: RunContext, server: Server, prepared: list[Any]) -> None:
    spec = ctx.scenario.roundtrip
    if prepared:  # the clients connect and prepare while the schema is fingerprinted
        prepare_load_process(ctx, server, prepared)
    check_fidelity(ctx, server)
    roles = create_migration_roles(ctx, server)
    if roles:
        ctx.result.schema_input["migration_roles"] = roles
    with (
        connect(server, DATABASE, SessionRole.HARNESS) as harness,
        ctx.phase("fingerprint", "fingerprinting schema and data before up"),
    ):
        before = take_fingerprint(
            harness, data=compares_data(spec), dump=_dump_target(spec, server)
        )
        ctx.result.relations = [
            {"name": name, "kind": kind, "bytes": size}
            for name, kind, size in harness.execute(_RELATION_SIZES)
        ]
    if ctx.report_imports is not None:
        ctx.report_imports.join()  # done before the sampler starts, so it cannot delay a poll
    observed = ObservedMigration(ctx, server, prepared, before.schema)
    observed.run()
    down = ctx.result.phase("down")
    verifies = spec.mode != "skip" and down is not None and down.status == "ok"
    # the round trip's fingerprint is the server's work: it runs while we analyse
    after_down = (
        Background(lambda: _fingerprint_after(ctx, server, before), "pgrehearse-verify")
        if verifies
        else None
    )
    # (should the analysis fail, the server's close ends the fingerprint's queries)
    observed.analyse()
    if ctx.result.run_dir is not None:  # drawn while the round trip is verified
        from pgrehearse.report import EarlyReports, summary_dict

        ctx.figures = EarlyReports(
            summary_dict(ctx.result), ctx.result.load_events, ctx.result.run_dir
        )
    after = after_down.result() if after_down is not None else None
    if spec.mode == "skip":
        ctx.result.roundtrip = skipped_roundtrip(spec, "roundtrip: skip")
    elif after is None:
        ctx.result.roundtrip = skipped_roundtrip(spec, "the down migration did not run")
    else:
        load_sql = [sql for tx in prepared for sql, _ in tx.statements]
        between = ctx.scenario.migration.between
        if between is not None:  # its tables change by design: what it wrote must remain
            load_sql += [s.sql for s in statements_of(between)]
        migration_sql = [s.sql for s in ctx.result.statements if s.phase in ("up", "down")]
        ctx.result.roundtrip = check_roundtrip(
            spec,
            before,
            after,
            load_sql,
            kept=ctx.result.between_rows,
            migration_statements=migration_sql,
        )
        chain = ctx.scenario.migration.chain
        if chain is not None and observed.step_states:
            ctx.result.step_roundtrips = check_steps(
                chain,
                before,
                observed.step_states,
                load_sql,
                ctx.result.roundtrip,
                migration_statements=migration_sql,
            )


def _import_reporting() -> threading.Thread:
    """Import matplotlib and the report modules (about a second) in a thread while the
    server starts and the schema is read, which leave the CPU mostly idle."""

    def load() -> None:
        importlib.import_module("pgrehearse.report._html")

    thread = threading.Thread(target=load, name="pgrehearse-report-imports", daemon=True)
    thread.start()
    return thread


def _fingerprint_after(ctx: RunContext, server: Server, before: Fingerprint) -> Fingerprint:
    with (
        connect(server, DATABASE, SessionRole.HARNESS) as harness,
        ctx.phase("verify", "fingerprinting after down and comparing"),
    ):
        return take_fingerprint(
            harness, data=before.data is not None, dump=_dump_target(ctx.scenario.roundtrip, server)
        )


def _dump_target(spec: RoundtripSpec, server: Server) -> DumpTarget | None:
    return None if spec.mode == "skip" else dump_target(server, DATABASE)


T = TypeVar("T")


class Background(Generic[T]):
    """`work()` in a thread; `result()` waits for it, whatever interrupts the wait, and
    returns what it returned or raises what it raised."""

    def __init__(self, work: Callable[[], T], name: str) -> None:
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(work,), name=name, daemon=True)
        self._thread.start()

    def _run(self, work: Callable[[], T]) -> None:
        try:
            self._value = work()
        except BaseException as exc:
            self._error = exc

    def result(self) -> T:
        interrupted: BaseException | None = None
        while self._thread.is_alive():
            try:
                self._thread.join()
            except BaseException as exc:  # Ctrl-C or SIGTERM: the work is not left half-done
                interrupted = interrupted or exc
        if interrupted is not None:
            raise interrupted
        if self._error is not None:
            raise self._error
        return cast(T, self._value)


def _closing(server: Server) -> Background[None]:
    """The server stopped and its folder removed (a quarter of a second for the example)
    while the reports are written; rehearse() waits for it before it returns."""
    return Background(server.close, "pgrehearse-close")


def _keep(ctx: RunContext, server: Server) -> bool:
    if not server.capabilities.keep:
        ctx.progress.note(
            f"--keep-server applies to local and docker servers, not {server.backend_name}"
        )
        return False
    ctx.result.kept_server = server.keep(DATABASE)
    ctx.progress.note(
        "server kept for debugging: "
        + ctx.result.kept_server["psql"]
        + "  (stop it with `pgrehearse cleanup`)"
    )
    return True


def write_reports(
    result: Rehearsal,
    report_dir: str | Path | None,
    history: str | Path | bool = False,
    *,
    write: bool = True,
    figures: EarlyReports | None = None,
) -> None:
    """The summary, computed once; then summary.json and every other report from it."""
    from pgrehearse.report import render_reports, summary_dict, write_latency, write_summary
    from pgrehearse.timing.history import HISTORY_FILE, append_record, record_from_summary

    summary = result.summary = summary_dict(result)
    if result.run_dir is None:
        return
    if not write:
        _remove_if_empty(result.run_dir)
        return
    try:
        write_summary(summary, result.run_dir)
        if figures is None:  # else written with the figures, during verify
            write_latency(result, result.run_dir)
        render_reports(summary, result.run_dir, figures)
        if result.outcome in ("passed", "failed") and history is not False:
            target = Path(report_dir or ".") / HISTORY_FILE if history is True else Path(history)
            append_record(target, record_from_summary(summary))
    except OSError as exc:
        result.report_error = f"could not write the reports to {result.run_dir}: {exc}"
        copy = Path(tempfile.gettempdir()) / f"pgrehearse_summary_{result.run_id}.json"
        try:
            write_summary(summary, copy.parent, name=copy.name)
            result.report_error += f"; a copy of summary.json is in {copy}"
        except OSError:
            result.report_error += "; no copy could be written either"


def _check_writable(run_dir: Path) -> None:
    """Create the run's report folder now, or say why it cannot be (exit 3)."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".pgrehearse-write-check"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise EnvironmentProblem(
            f"cannot write reports to {run_dir}: {exc.strerror or exc}\n"
            "fix: give a folder you can write with --report-dir"
        ) from None


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()
