"""A migration phase run by the team's own tool (Alembic, Django or a shell command): each step
runs in a child process against the throwaway database, and its statements are read back
from the server's log, so they are timed and attributed like those of a SQL file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urlencode

from pgrehearse.backends import Server, die_with_parent
from pgrehearse.errors import EnvironmentProblem, Problem, ScenarioError
from pgrehearse.migration import ScriptResult, StatementError, StatementResult
from pgrehearse.observe import LoggedStatement, ServerLog, ServerLogUnavailable
from pgrehearse.rehearsal.context import DATABASE, RunContext, connect
from pgrehearse.rehearsal.steps import PhaseRun
from pgrehearse.roles import SessionRole
from pgrehearse.tools import Chain, MigrationScript, Script, ToolStep, driver_command

_STOP_WAIT_S = 5.0


def describe_step(step: ToolStep, direction: str) -> str:
    """What the step runs, as a person would type it."""
    if step.tool == "alembic":
        return f"alembic {'upgrade' if direction == 'up' else 'downgrade'} {step.target}"
    if isinstance(step.target, tuple):
        app, name = step.target
        return f"django-admin migrate {app} {name}"
    return str(step.target)


def run_tool_phase(
    ctx: RunContext,
    server: Server,
    phase: str,
    script: MigrationScript,
    *,
    step_done: Callable[[Path | None, list[StatementResult]], None],
    database: str = DATABASE,
) -> PhaseRun:
    """Run every step of `script` in order, stopping at the first that fails."""
    statements: list[StatementResult] = []
    with connect(server, database, SessionRole.HARNESS) as harness:
        harness.autocommit = True
        try:
            log = ServerLog(harness)
        except ServerLogUnavailable as exc:
            raise EnvironmentProblem(
                f"pgrehearse cannot see the statements the migration tool sends: {exc}\n"
                "fix: rehearse on a server pgrehearse starts (local or docker), or as a "
                "superuser of the --dsn server"
            ) from None
        log.calibrate(ctx.clock.now)
        role = str(server.connect_kwargs(database, "x")["user"])
        real_database = server.database_name(database)
        log.log_statements_of(role, real_database, on=True)
        log.watch_rewrites(on=True)
        try:
            with _StepRunner(server, database, phase) as runner:
                for position, part in enumerate(script.parts):
                    assert part.step is not None
                    started = ctx.clock.now()
                    failure = runner.run(part, phase)
                    ended = ctx.clock.now()
                    found = _results(log.read(), log.clock_offset, phase, part, len(statements))
                    if failure is not None and not any(s.status == "error" for s in found):
                        found.append(
                            _tool_failure(
                                phase,
                                part,
                                phase,
                                len(statements) + len(found),
                                started,
                                ended,
                                failure,
                            )
                        )
                    for result in found:
                        ctx.progress.statement_finished(result)
                    statements.extend(found)
                    if failure is not None:
                        statements.extend(
                            _not_run(phase, later, len(statements) + index)
                            for index, later in enumerate(script.parts[position + 1 :])
                        )
                        break
                    step_done(part.file, found)
        finally:
            log.watch_rewrites(on=False)
            log.log_statements_of(role, real_database, on=False)
    last = ScriptResult(statements, "tool", None)
    return PhaseRun(statements, last, 1)


def run_baseline(ctx: RunContext, server: Server, chain: Chain, database: str) -> None:
    """The migrations up to `from`, run by their tool as the schema is built."""
    ctx.progress.note(
        f"{chain.tool}: running the {len(chain.baseline)} baseline migrations "
        f"(up to {chain.baseline[-1].label})"
    )
    with _StepRunner(server, database, "baseline") as runner:
        for migration in chain.baseline:
            failure = runner.run(migration.up, "up")
            if failure is not None:
                raise ScenarioError(
                    [
                        Problem(
                            f"the baseline migration {migration.label} failed: {failure}",
                            file=migration.up.file,
                            hint="the migrations up to `from` must apply to the schema",
                        )
                    ]
                )


class _StepRunner:
    """Runs steps: Python tools through one long-lived driver process per phase, commands
    one process each. Every process is stopped on the way out, whatever happens."""

    def __init__(self, server: Server, database: str, phase: str) -> None:
        self.server = server
        self.database = database
        self.phase = phase
        self.driver: subprocess.Popen[str] | None = None
        self.stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in __exit__
        self.running: subprocess.Popen[Any] | None = None

    def __enter__(self) -> _StepRunner:
        return self

    def __exit__(self, *_exc: object) -> None:
        for process in (self.running, self.driver):
            if process is not None:
                _stop(process)
        self.stderr.close()

    def environment(self, label: str) -> dict[str, str]:
        real = self.server.database_name(self.database)
        application = SessionRole.MIGRATION.application_name(label)[:63]
        keywords = self.server.connect_kwargs(real, application)
        return {
            **self.server.client_env(real),
            "PGAPPNAME": application,
            "DATABASE_URL": database_url(keywords),
            "PGREHEARSE_CONNECT": json.dumps(
                {k: v for k, v in keywords.items() if k != "connect_timeout"}
            ),
        }

    def run(self, part: Script, phase: str) -> str | None:
        """Run one step; the tool's error, or None when it succeeded."""
        step = part.step
        assert step is not None
        direction = "up" if phase == "up" else "down"
        if step.tool == "command":
            return self._command(step, part)
        driver = self._driver(step)
        if isinstance(driver, str):
            return driver
        assert driver.stdin is not None and driver.stdout is not None
        target = list(step.target) if isinstance(step.target, tuple) else step.target
        mark = self.stderr.tell()
        driver.stdin.write(json.dumps({"direction": direction, "target": target}) + "\n")
        driver.stdin.flush()
        answer = _answer(driver)
        if answer is None:
            return f"{step.tool} stopped: {_tail(self.stderr, mark)}"
        if not answer.get("ok"):
            return str(answer.get("error"))
        return None

    def _driver(self, step: ToolStep) -> subprocess.Popen[str] | str:
        if self.driver is not None:
            return self.driver
        label = f"{step.tool}:{self.phase}"
        self.driver = subprocess.Popen(
            driver_command("serve", step.tool, step.cwd, step.settings),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            env=self.environment(label),
            start_new_session=True,
            preexec_fn=die_with_parent(signal.SIGKILL),
        )
        answer = _answer(self.driver)
        if answer is None or not answer.get("ok"):
            reason = (answer or {}).get("error") or _tail(self.stderr, 0)
            return f"{step.tool} could not start: {reason}"
        return self.driver

    def _command(self, step: ToolStep, part: Script) -> str | None:
        mark = self.stderr.tell()
        self.running = subprocess.Popen(
            str(step.target),
            shell=True,
            cwd=step.cwd,
            stdin=subprocess.DEVNULL,
            stdout=self.stderr,
            stderr=self.stderr,
            env=self.environment(f"command:{self.phase}"),
            start_new_session=True,
            preexec_fn=die_with_parent(signal.SIGKILL),
        )
        code = self.running.wait()
        self.running = None
        if code != 0:
            return f"`{step.target}` exited with {code}: {_tail(self.stderr, mark)}"
        return None


def database_url(keywords: dict[str, Any]) -> str:
    """A libpq URL for the throwaway database (a socket folder goes in the query)."""
    user = quote(str(keywords.get("user", "")), safe="")
    password = quote(str(keywords.get("password", "") or ""), safe="")
    host = str(keywords.get("host", ""))
    query = {"application_name": str(keywords.get("application_name", ""))}
    where = host
    if host.startswith("/"):
        query["host"] = host
        where = ""
    credentials = f"{user}:{password}@" if password else f"{user}@"
    dbname = quote(str(keywords.get("dbname", "")), safe="")
    port = keywords.get("port", 5432)
    return f"postgresql://{credentials}{where}:{port}/{dbname}?{urlencode(query)}"


def _answer(driver: subprocess.Popen[str]) -> dict[str, Any] | None:
    assert driver.stdout is not None
    line = driver.stdout.readline()
    if not line:
        return None
    try:
        parsed = json.loads(line)
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _tail(stream: IO[bytes], since: int) -> str:
    stream.flush()
    stream.seek(since)
    text = stream.read().decode(errors="replace")
    stream.seek(0, os.SEEK_END)
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-3:]) if lines else "no output"


def _stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(_STOP_WAIT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _results(
    logged: Sequence[LoggedStatement],
    clock_offset: float,
    phase: str,
    part: Script,
    first_index: int,
) -> list[StatementResult]:
    """The step's statements as a SQL file's would be reported (bookkeeping left out)."""
    results: list[StatementResult] = []
    for statement in logged:
        if statement.bookkeeping and not statement.failed:
            continue
        error = None
        if statement.failed:
            error = StatementError(
                statement.sqlstate, statement.error or "", statement.detail, statement.hint
            )
        started = statement.started_at - clock_offset
        end = statement.transaction_end_at
        results.append(
            StatementResult(
                phase,
                first_index + len(results) + 1,
                part.file,
                0,
                statement.sql,
                "error" if statement.failed else "ok",
                started,
                statement.seconds,
                error,
                in_transaction=statement.in_transaction,
                transaction_end_s=None if end is None else end - clock_offset,
                pid=statement.pid,
                rewritten_oids=list(statement.rewritten),
            )
        )
    return results


def _tool_failure(
    phase: str,
    part: Script,
    direction: str,
    index: int,
    started: float,
    ended: float,
    failure: str,
) -> StatementResult:
    """A step that failed without a failing statement (the tool's own error)."""
    assert part.step is not None
    return StatementResult(
        phase,
        index + 1,
        part.file,
        0,
        describe_step(part.step, direction),
        "error",
        started,
        ended - started,
        StatementError(None, failure),
    )


def _not_run(phase: str, part: Script, index: int) -> StatementResult:
    assert part.step is not None
    return StatementResult(
        phase, index + 1, part.file, 0, describe_step(part.step, phase), "not_run", None, None
    )
