"""Lock observation against ground truth on a real server.

Every case runs the real pieces the rehearsal uses (statement runner, lock tracer, sampler,
analysis) on one server started for this module.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from pgrehearse.backends import LocalServer
from pgrehearse.migration import Clock, StatementResult, run_script, split_statements
from pgrehearse.observe import LockTracer, PhaseWindow, Sampler, conflicts, effect
from pgrehearse.observe.analyse import LockAnalysis, analyse_locks
from pgrehearse.report.facts import lock_text, strongest_lock
from pgrehearse.scenario import TransactionMode

_names = itertools.count()


@dataclass
class Observed:
    statements: list[StatementResult]
    analysis: LockAnalysis
    migration_pid: int
    poll_times: list[float]
    origin: float = 0.0  # time.perf_counter() at the clock's 0: statement times are after it

    @property
    def resolution_ms(self) -> float:
        """Twice the longest gap between the sampler's polls: how exactly a sampled interval
        can match the truth (a busy machine delays polls)."""
        gaps = [b - a for a, b in zip(self.poll_times, self.poll_times[1:], strict=False)]
        return 2 * max(gaps, default=0.0) * 1000 + 5

    def locks_of(self, index: int) -> set[tuple[str, str]]:
        return {(lock["relation"], lock["mode"]) for lock in self.statements[index - 1].locks}


def _connect(server: LocalServer, role: str) -> psycopg.Connection[Any]:
    return psycopg.connect(**server.connect_kwargs("postgres", f"pgrehearse:{role}"))


def observe(
    server: LocalServer,
    setup: str,
    migration: str,
    *,
    mode: TransactionMode = "file",
    during: Any = None,
    sampler_interval: float = 0.005,
) -> Observed:
    """Run `setup` (committed), then `migration` observed the way a rehearsal observes it."""
    with _connect(server, "harness") as conn:
        conn.autocommit = True
        for statement in split_statements(setup):
            conn.execute(statement.sql)
    clock = Clock()
    with _connect(server, "migration") as conn, _connect(server, "harness") as observer:
        conn.autocommit = True
        tracer = LockTracer(observer, conn, clock.now)
        tracer.begin_phase("up")
        sampler = Sampler(server.connect_kwargs("postgres", "x"), clock, sampler_interval)
        with sampler:
            start = clock.now()
            worker = None
            if during is not None:
                worker = threading.Thread(target=during, args=(conn.info.backend_pid,))
                worker.start()
            script = run_script(
                conn,
                split_statements(migration),
                phase="up",
                mode=mode,
                clock=clock,
                observer=tracer,
            )
            if worker is not None:
                worker.join(timeout=30)
        tracer.end_phase()
        analysis = analyse_locks(
            tracer=tracer,
            samples=sampler.samples,
            statements=script.statements,
            phases=[PhaseWindow("up", start, clock.now())],
            migration_pids={conn.info.backend_pid},
            end_s=clock.now(),
        )
        failed = script.error
        assert failed is None, failed and failed.error
        return Observed(
            script.statements,
            analysis,
            conn.info.backend_pid,
            sampler.samples.poll_times,
            clock.origin,
        )


def _table(rows: int = 1_000) -> tuple[str, str]:
    name = f"t{next(_names)}"
    setup = (
        f"CREATE TABLE {name} (id int PRIMARY KEY, v int, s varchar(10), n int);\n"
        f"INSERT INTO {name} SELECT g, g, 'x', g FROM generate_series(1, {rows}) g;\n"
        f"CREATE INDEX {name}_v ON {name} (v);\n"
        f"ALTER TABLE {name} ADD CONSTRAINT {name}_check CHECK (n > 0) NOT VALID;\n"
    )
    return name, setup


# --------------------------------------------------------------------------- ground truth


def test_lock_hold_time_matches_the_transaction(server: LocalServer) -> None:
    name, setup = _table()
    waited: dict[str, Any] = {}

    def query_meanwhile(migration_pid: int) -> None:
        with _connect(server, "app") as app:
            _wait_until_locked(app, migration_pid, name)
            began = time.perf_counter()
            app.execute(f"SELECT count(*) FROM {name}")
            waited["seconds"] = time.perf_counter() - began
            waited["pid"] = app.info.backend_pid

    observed = observe(
        server,
        setup,
        f"LOCK TABLE {name} IN ACCESS EXCLUSIVE MODE;\nSELECT pg_sleep(0.5);",
        during=query_meanwhile,
    )
    locks = observed.analysis.locks
    held = locks[(locks["relation"] == name) & (locks["mode"] == "AccessExclusiveLock")]
    assert len(held) == 1
    # ground truth: the lock lives from LOCK's start to COMMIT, as the client's own clock
    # saw it; that is the 0.5 s sleep plus a few ms (more on a loaded machine)
    lock = observed.statements[0]
    assert lock.started_s is not None and lock.transaction_end_s is not None
    transaction_ms = (lock.transaction_end_s - lock.started_s) * 1000
    assert held["held_ms"].iloc[0] >= 500  # pg_sleep(0.5) inside: never less
    assert held["held_ms"].iloc[0] == pytest.approx(transaction_ms, abs=2)
    assert held["statement"].iloc[0] == 1 and held["source"].iloc[0] == "trace"

    waits = observed.analysis.waits
    mine = waits[waits["waiter_pid"] == waited["pid"]]
    assert len(mine) == 1
    resolution = observed.resolution_ms
    assert mine["wait_ms"].iloc[0] == pytest.approx(waited["seconds"] * 1000, abs=resolution)
    assert mine["blocking_pids"].iloc[0] == str(observed.migration_pid)
    assert mine["blocking_roles"].iloc[0] == "migration"
    assert mine["blocking_statement"].iloc[0] == "up #1"
    assert mine["requested_mode"].iloc[0] == "AccessShareLock"
    assert observed.analysis.queue["waiting"].max() == 1
    [summary] = [
        s
        for s in observed.analysis.summary
        if s["relation"] == name and s["mode"] == "AccessExclusiveLock"
    ]
    assert summary["sessions_waited"] == 1
    assert summary["longest_wait_ms"] == pytest.approx(waited["seconds"] * 1000, abs=resolution)


def test_a_lock_queued_for_is_held_from_its_grant(server: LocalServer) -> None:
    """A statement that queues behind another session's transaction holds its lock only
    once that transaction ends; the queue time is a wait, not a hold."""
    name, setup = _table()
    blocked: dict[str, float] = {}  # when the application's COMMIT began and returned
    app = _reading_in_a_transaction(server, name, setup)

    def commit_later(migration_pid: int) -> None:
        _wait_until_queued(server, migration_pid, name)
        time.sleep(0.4)
        blocked["committing"] = time.perf_counter()
        app.commit()  # the migration is granted its lock in here
        blocked["committed"] = time.perf_counter()

    try:
        observed = observe(
            server,
            "SELECT 1",
            f"LOCK TABLE {name} IN ACCESS EXCLUSIVE MODE;\nSELECT pg_sleep(0.3);",
            during=commit_later,
        )
    finally:
        app.close()
    locks = observed.analysis.locks
    [held] = locks[(locks["relation"] == name) & (locks["mode"] == "AccessExclusiveLock")][
        "held_ms"
    ]
    lock = observed.statements[0]
    assert lock.started_s is not None and lock.transaction_end_s is not None
    ended = observed.origin + lock.transaction_end_s  # on time.perf_counter(), as the app's
    resolution = observed.resolution_ms
    assert held >= 300  # pg_sleep(0.3) after the grant: never less
    # ground truth: the lock was granted while the application's COMMIT ran, on one clock
    longest = (ended - blocked["committing"]) * 1000
    shortest = (ended - blocked["committed"]) * 1000
    assert shortest - resolution <= held <= longest + resolution
    # and the statement's wait: from its start until that COMMIT
    assert lock.lock_wait_s is not None
    waited_ms = lock.lock_wait_s * 1000
    start = observed.origin + lock.started_s
    assert (blocked["committing"] - start) * 1000 - resolution <= waited_ms
    assert waited_ms <= (blocked["committed"] - start) * 1000 + resolution


def test_a_session_queued_behind_a_queued_statement_is_blamed_on_it(
    server: LocalServer,
) -> None:
    """The application's read waits behind the migration's LOCK while that LOCK itself still
    queues behind an older transaction: the statement it waits for is the LOCK."""
    name, setup = _table()
    older = _reading_in_a_transaction(server, name, setup)
    reader: dict[str, Any] = {}

    def read() -> None:
        with _connect(server, "app") as app:
            reader["pid"] = app.info.backend_pid
            app.execute(f"SELECT count(*) FROM {name}")

    def queue_a_reader_then_commit(migration_pid: int) -> None:
        _wait_until_queued(server, migration_pid, name)
        thread = threading.Thread(target=read)
        thread.start()
        time.sleep(0.4)  # the reader queues behind the LOCK, which is not granted yet
        older.commit()
        thread.join(timeout=30)

    try:
        observed = observe(
            server,
            "SELECT 1",
            f"LOCK TABLE {name} IN ACCESS EXCLUSIVE MODE;\nSELECT pg_sleep(0.3);",
            during=queue_a_reader_then_commit,
        )
    finally:
        older.close()
    waits = observed.analysis.waits
    [wait] = waits[waits["waiter_pid"] == reader["pid"]].to_dict("records")
    assert wait["blocking_pids"] == str(observed.migration_pid)
    # it began waiting before the LOCK was granted, and still waited for it
    locks = observed.analysis.locks
    [granted] = locks[(locks["relation"] == name) & (locks["mode"] == "AccessExclusiveLock")][
        "start_s"
    ]
    print(wait, granted, locks.to_dict("records"))
    assert wait["start_s"] < granted - 0.1
    assert wait["blocking_statement"] == "up #1"


def _reading_in_a_transaction(
    server: LocalServer, name: str, setup: str
) -> psycopg.Connection[Any]:
    """After `setup`, an application session that read `name` in a transaction it keeps
    open: it holds ACCESS SHARE until it commits."""
    with _connect(server, "harness") as conn:
        conn.autocommit = True
        for statement in split_statements(setup):
            conn.execute(statement.sql)
    app = _connect(server, "app")
    app.execute(f"SELECT count(*) FROM {name}")
    return app


def _wait_until_queued(server: LocalServer, pid: int, table: str) -> None:
    with _connect(server, "harness") as conn:
        conn.autocommit = True
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM pg_locks"
                " WHERE pid = %s AND relation = %s::regclass AND NOT granted",
                (pid, table),
            ).fetchone()
            if row and row[0]:
                return
            time.sleep(0.005)
    raise AssertionError("the migration never queued for its lock")


def _wait_until_locked(conn: psycopg.Connection[Any], pid: int, table: str) -> None:
    conn.autocommit = True
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE pid = %s AND relation = %s::regclass AND granted",
            (pid, table),
        ).fetchone()
        if row and row[0]:
            return
        time.sleep(0.005)
    raise AssertionError("the migration never took its lock")


def test_statement_mode_releases_at_each_statement(server: LocalServer) -> None:
    name, setup = _table()
    observed = observe(
        server,
        setup,
        f"LOCK TABLE {name} IN ACCESS EXCLUSIVE MODE;\nSELECT pg_sleep(0.3);",
        mode="statement",
    )
    held = observed.analysis.locks
    held = held[(held["relation"] == name) & (held["mode"] == "AccessExclusiveLock")]
    lock, sleep = observed.statements
    assert sleep.started_s is not None and lock.started_s is not None
    # released by its own COMMIT, before the sleep began (both on the client's clock)
    assert held["end_s"].iloc[0] <= sleep.started_s
    assert held["held_ms"].iloc[0] <= (sleep.started_s - lock.started_s) * 1000


def test_harness_queries_never_show_as_migration_locks(server: LocalServer) -> None:
    observed = observe(server, "SELECT 1", "SELECT pg_sleep(0.1);\nSELECT 1;")
    assert observed.analysis.locks.empty
    assert all(not s.locks for s in observed.statements)


@pytest.mark.parametrize(
    ("ddl", "expected"),
    [
        ("ALTER TABLE {t} ADD COLUMN extra int", "AccessExclusiveLock"),
        ("ALTER TABLE {t} DROP COLUMN n", "AccessExclusiveLock"),
        ("ALTER TABLE {t} RENAME COLUMN v TO w", "AccessExclusiveLock"),
        ("ALTER TABLE {t} ALTER COLUMN v SET NOT NULL", "AccessExclusiveLock"),
        ("ALTER TABLE {t} ALTER COLUMN v SET DEFAULT 7", "AccessExclusiveLock"),
        ("ALTER TABLE {t} ADD CONSTRAINT {t}_c2 CHECK (v > 0) NOT VALID", "AccessExclusiveLock"),
        ("ALTER TABLE {t} VALIDATE CONSTRAINT {t}_check", "ShareUpdateExclusiveLock"),
        ("ALTER TABLE {t} SET (fillfactor = 70)", "ShareUpdateExclusiveLock"),
        ("COMMENT ON TABLE {t} IS 'hello'", "ShareUpdateExclusiveLock"),
        ("CREATE INDEX {t}_s ON {t} (s)", "ShareLock"),
        (
            "CREATE TRIGGER {t}_trg BEFORE UPDATE ON {t} FOR EACH ROW EXECUTE FUNCTION noop()",
            "ShareRowExclusiveLock",
        ),
        ("TRUNCATE {t}", "AccessExclusiveLock"),
        ("CLUSTER {t} USING {t}_v", "AccessExclusiveLock"),
        ("DROP TABLE {t}", "AccessExclusiveLock"),
        ("LOCK TABLE {t} IN SHARE ROW EXCLUSIVE MODE", "ShareRowExclusiveLock"),
    ],
)
def test_ddl_takes_the_documented_lock(server: LocalServer, ddl: str, expected: str) -> None:
    name, setup = _table()
    setup += (
        "CREATE OR REPLACE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql "
        "AS $$ BEGIN RETURN NEW; END $$;"
    )
    observed = observe(server, setup, ddl.format(t=name) + ";")
    modes = {mode for relation, mode in observed.locks_of(1) if relation == name}
    assert expected in modes, (ddl, observed.locks_of(1))
    assert max(modes, key=_strength) == expected  # and nothing stronger on that table


def _strength(mode: str) -> int:
    from pgrehearse.observe import strength

    return strength(mode)


def test_foreign_key_locks_both_tables(server: LocalServer) -> None:
    parent, setup = _table()
    child, child_setup = _table()
    observed = observe(
        server,
        setup + child_setup,
        f"ALTER TABLE {child} ADD FOREIGN KEY (n) REFERENCES {parent} (id);",
    )
    locks = observed.locks_of(1)
    assert (child, "ShareRowExclusiveLock") in locks
    assert (parent, "ShareRowExclusiveLock") in locks


def test_rewrites_are_detected(server: LocalServer) -> None:
    name, setup = _table()
    observed = observe(
        server,
        setup,
        f"ALTER TABLE {name} ALTER COLUMN v TYPE bigint;\n"
        f"ALTER TABLE {name} ALTER COLUMN s TYPE varchar(20);\n"
        f"ALTER TABLE {name} ADD COLUMN d int DEFAULT 5;\n"
        f"VACUUM FULL {name};\n",
    )
    widen_int, widen_varchar, add_default, vacuum_full = observed.statements
    assert name in widen_int.rewrites
    assert f"{name}_v" in widen_int.rewrites  # its index is rebuilt too
    assert widen_varchar.rewrites == []
    assert add_default.rewrites == []  # a constant default needs no rewrite since PG 11
    assert name in vacuum_full.rewrites
    assert vacuum_full.in_transaction is False


def test_created_and_dropped_relations(server: LocalServer) -> None:
    name, setup = _table()
    observed = observe(
        server, setup, f"CREATE INDEX {name}_new ON {name} (n);\nDROP INDEX {name}_v;"
    )
    create, drop = observed.statements
    assert create.created == [f"{name}_new"]
    assert drop.dropped == [f"{name}_v"]


def test_non_transactional_statements_run_alone_and_are_sampled(server: LocalServer) -> None:
    name, setup = _table(rows=300_000)
    observed = observe(
        server,
        setup,
        f"ALTER TABLE {name} ADD COLUMN extra int;\n"
        f"CREATE INDEX CONCURRENTLY {name}_n ON {name} (n);\n"
        f"VACUUM FULL {name};\n",
    )
    add, concurrently, vacuum = observed.statements
    assert add.in_transaction and not concurrently.in_transaction and not vacuum.in_transaction
    # the ALTER's transaction was committed before CREATE INDEX CONCURRENTLY ran
    assert add.transaction_end_s is not None and concurrently.started_s is not None
    assert add.transaction_end_s <= concurrently.started_s
    assert (name, "ShareUpdateExclusiveLock") in observed.locks_of(2)
    assert (name, "AccessExclusiveLock") in observed.locks_of(3)
    sampled = observed.analysis.locks
    # polled in a burst as it starts, then by the sampler
    assert set(sampled[sampled["statement"] == 2]["source"]) <= {"trace", "sampler"}
    assert not sampled[sampled["statement"] == 2].empty


def test_the_index_create_index_concurrently_builds_blocks_nobody(server: LocalServer) -> None:
    name, setup = _table(rows=400_000)
    observed = observe(server, setup, f"CREATE INDEX CONCURRENTLY {name}_n ON {name} (n);")
    [statement] = observed.statements
    on_table = [lock for lock in statement.locks if lock["relation"] == name]
    assert {lock["mode"] for lock in on_table} == {"ShareUpdateExclusiveLock"}
    # whatever was sampled on the index being built is a new relation: it blocks nobody
    on_index = [lock for lock in statement.locks if lock["relation"] == f"{name}_n"]
    assert all(lock["new_relation"] for lock in on_index)
    assert not any(lock["blocks_reads"] or lock["blocks_writes"] for lock in statement.locks)


def test_a_relation_up_created_is_not_new_in_down(server: LocalServer) -> None:
    name, setup = _table(rows=50_000)
    with _connect(server, "harness") as conn:
        conn.autocommit = True
        for statement in split_statements(setup):
            conn.execute(statement.sql)
    clock = Clock()
    statements: list[StatementResult] = []
    windows = []
    with _connect(server, "migration") as conn, _connect(server, "harness") as observer:
        conn.autocommit = True
        tracer = LockTracer(observer, conn, clock.now)
        for phase, sql in (
            ("up", f"CREATE INDEX {name}_n ON {name} (n);"),
            ("down", f"DROP INDEX {name}_n;"),
        ):
            tracer.begin_phase(phase)
            start = clock.now()
            script = run_script(
                conn, split_statements(sql), phase=phase, mode="file", clock=clock, observer=tracer
            )
            tracer.end_phase()
            statements += script.statements
            windows.append(PhaseWindow(phase, start, clock.now()))
        analyse_locks(
            tracer=tracer,
            samples=None,
            statements=statements,
            phases=windows,
            migration_pids={conn.info.backend_pid},
            end_s=clock.now(),
        )
    create, drop = statements
    [made] = [lock for lock in create.locks if lock["relation"] == f"{name}_n"]
    assert made["new_relation"] and not made["blocks_reads"]  # nobody sees it in up
    [dropped] = [lock for lock in drop.locks if lock["relation"] == f"{name}_n"]
    # in down the index is the application's: dropping it blocks reads and writes
    assert dropped["mode"] == "AccessExclusiveLock" and not dropped["new_relation"]
    assert dropped["blocks_reads"] and dropped["blocks_writes"]


def _toasted_table() -> tuple[str, str]:
    name = f"toasted{next(_names)}"
    setup = (
        f"CREATE TABLE {name} (id int PRIMARY KEY, n int, body text);\n"
        f"INSERT INTO {name} SELECT g, g, repeat(md5(g::text), 100) "
        f"FROM generate_series(1, 2000) g;\n"
    )
    return name, setup


def _unnamed(labels: list[str]) -> list[str]:
    """Labels a person cannot place: bare oids and PostgreSQL's internal TOAST names."""
    return [label for label in labels if label.startswith(("(oid", "pg_toast", "pg_temp"))]


@pytest.mark.parametrize(
    ("statements", "mode"),
    [
        ("ALTER TABLE {t} ALTER COLUMN n TYPE bigint;", "file"),
        ("ALTER TABLE {t} SET UNLOGGED;", "file"),
        ("CLUSTER {t} USING {t}_pkey;", "file"),
        ("VACUUM FULL {t};", "none"),
    ],
)
def test_rewrites_name_the_table_not_its_toast_or_transient_copy(
    server: LocalServer, statements: str, mode: TransactionMode
) -> None:
    name, setup = _toasted_table()
    observed = observe(server, setup, statements.format(t=name), mode=mode)
    [statement] = observed.statements
    labels = [lock["relation"] for lock in statement.locks]
    assert _unnamed(labels) == [], labels
    assert _unnamed(list(observed.analysis.locks["relation"])) == []
    assert name in statement.rewrites and _unnamed(statement.rewrites) == []
    top = strongest_lock(statement.locks)
    assert top is not None and top["relation"] == name, statement.locks
    if mode == "file":
        # traced inside the transaction: the TOAST table and the rewrite's copy are seen,
        # and named after the table
        assert f"{name} (TOAST)" in labels
        copies = [lock for lock in statement.locks if lock["part"] == "rewrite copy"]
        assert copies and all(lock["relation"] == f"{name} (rewrite copy)" for lock in copies)
        assert all(lock["new_relation"] and not lock["blocks_reads"] for lock in copies)


@pytest.mark.parametrize("mode", ["file", "statement"])
def test_locks_keep_the_name_the_relation_had_when_the_statement_started(
    server: LocalServer, mode: TransactionMode
) -> None:
    name, setup = _table()
    observed = observe(
        server,
        setup,
        f"ALTER TABLE {name} RENAME TO {name}_renamed;\n"
        f"ALTER TABLE {name}_renamed ADD COLUMN z int;\n"
        f"ALTER INDEX {name}_v RENAME TO {name}_v_renamed;\n",
        mode=mode,
    )
    rename, add, rename_index = observed.statements
    assert (name, "AccessExclusiveLock") in observed.locks_of(1)
    assert rename.renamed == [f"{name} → {name}_renamed"]
    assert "renames " + f"{name} → {name}_renamed" in lock_text(
        {"locks": rename.locks, "renamed": rename.renamed}
    )
    assert rename_index.renamed == [f"{name}_v → {name}_v_renamed"]
    assert add.renamed == []
    if mode == "statement":  # in its own transaction, the ALTER takes its lock anew
        assert (f"{name}_renamed", "AccessExclusiveLock") in observed.locks_of(2)
    assert _unnamed(list(observed.analysis.locks["relation"])) == []


def test_partitioned_indexes_are_named(server: LocalServer) -> None:
    name = f"parted{next(_names)}"
    setup = (
        f"CREATE TABLE {name} (id int, k int) PARTITION BY RANGE (k);\n"
        f"CREATE TABLE {name}_1 PARTITION OF {name} FOR VALUES FROM (0) TO (100);\n"
        f"CREATE INDEX {name}_k ON {name} (k);\n"
    )
    observed = observe(server, setup, f"DROP INDEX {name}_k;")
    [drop] = observed.statements
    labels = [lock["relation"] for lock in drop.locks]
    assert f"{name}_k" in labels and _unnamed(labels) == [], labels
    assert f"{name}_k" in drop.dropped


def test_quick_statements_outside_a_transaction_keep_their_locks(server: LocalServer) -> None:
    # A sampler polling every 0.5 s sees a statement of a few ms about once in 200 tries:
    # whatever is found here, the burst polling of the migration's backend found. A busy
    # machine can still delay the poller past a statement this short; then, and only then,
    # the statement says that no lock was observed.
    seen = 0
    for _ in range(8):
        name, setup = _table(rows=100)
        observed = observe(
            server,
            setup,
            f"DROP INDEX CONCURRENTLY {name}_v;\nALTER TABLE {name} ADD COLUMN z int;",
            mode="none",
            sampler_interval=0.5,
        )
        for statement in observed.statements:
            assert not statement.in_transaction
            assert bool(statement.locks) != bool(statement.lock_note), statement
            assert statement.seconds is not None
            for lock in statement.locks:  # within the statement, as the client timed it
                assert 0 <= lock["held_ms"] <= statement.seconds * 1000
        drop = observed.statements[0]
        if drop.locks:
            seen += 1
            assert (name, "ShareUpdateExclusiveLock") in observed.locks_of(1), drop.locks
    assert seen >= 1


def test_failed_statement_keeps_its_locks_until_rollback(server: LocalServer) -> None:
    name, setup = _table()
    with _connect(server, "harness") as conn:
        conn.autocommit = True
        for statement in split_statements(setup):
            conn.execute(statement.sql)
    clock = Clock()
    with _connect(server, "migration") as conn, _connect(server, "harness") as observer:
        tracer = LockTracer(observer, conn, clock.now)
        tracer.begin_phase()
        script = run_script(
            conn,
            split_statements(f"ALTER TABLE {name} ADD COLUMN q int;\nSELECT 1/0;"),
            phase="up",
            mode="file",
            clock=clock,
            observer=tracer,
        )
    assert script.error is not None
    [lock] = [lock for lock in tracer.locks if lock.mode == "AccessExclusiveLock"]
    assert lock.released_s is not None
    assert lock.released_s >= (script.statements[1].started_s or 0)


def test_sampler_reports_its_rate_and_cost(server: LocalServer) -> None:
    clock = Clock()
    sampler = Sampler(server.connect_kwargs("postgres", "x"), clock, 0.01, measure_server_cpu=True)
    with sampler:
        time.sleep(0.5)
    stats = sampler.stats
    assert stats is not None
    assert 20 < stats.achieved_hz <= 110
    assert stats.polls == len(sampler.samples.poll_times)
    assert 0 <= stats.client_cpu_share < 1 and stats.server_cpu_share is not None


def test_lock_knowledge() -> None:
    assert conflicts("AccessExclusiveLock", "AccessShareLock")
    assert not conflicts("ShareLock", "ShareLock")  # two CREATE INDEX can run together
    assert conflicts("ShareLock", "RowExclusiveLock")  # ...but block writes
    assert conflicts("ShareUpdateExclusiveLock", "ShareUpdateExclusiveLock")
    assert not conflicts("ShareUpdateExclusiveLock", "RowExclusiveLock")
    assert effect("AccessExclusiveLock") == "blocks reads and writes"
    assert effect("ShareLock") == "blocks writes; reads go on"
    # the matrix is symmetric, as the documentation's table is
    from pgrehearse.observe import MODES

    for a in MODES:
        for b in MODES:
            assert conflicts(a, b) == conflicts(b, a), (a, b)


def test_waits_for_rows_and_autovacuum_blockers_are_named() -> None:
    from pgrehearse.observe import Samples, role_of

    assert role_of("", "autovacuum worker") == "autovacuum"
    assert role_of("psql", "client backend") == "other"
    assert role_of("pgrehearse:load:3", "client backend") == "load"
    samples = Samples()
    for t in (0.00, 0.01, 0.02, 0.03):
        samples.poll_times.append(t)
        for pid, role, locktype, relation, granted, blockers in (
            (11, "load", "transactionid", None, False, [12]),
            (12, "autovacuum", "relation", 16390, True, None),
        ):
            samples.t.append(t)
            samples.pid.append(pid)
            samples.role.append(role)
            samples.locktype.append(locktype)
            samples.relation.append(relation)
            samples.mode.append("ShareLock")
            samples.granted.append(granted)
            samples.blockers.append(blockers)
            samples.query.append(None)
    analysis = analyse_locks(
        tracer=None,
        samples=samples,
        statements=[],
        phases=[PhaseWindow("up", 0.0, 0.03)],
        migration_pids=(),
        end_s=0.03,
    )
    [wait] = analysis.waits.to_dict(orient="records")
    assert wait["relation"] == "a row another transaction changed"
    assert wait["blocking_roles"] == "autovacuum"


def test_sampled_runs_split_where_a_key_is_missing_from_a_poll() -> None:
    """The one-sort run finder agrees with a plain per-key walk over random samples."""
    import random

    import numpy as np
    import pandas as pd

    from pgrehearse.observe._runs import sampled_runs as _runs

    chance = random.Random(5)
    polls = np.arange(0.0, 3.0, 0.01)
    rows = [
        {"t": t, "pid": pid, "relation": relation, "mode": mode, "role": "load"}
        for t in polls
        for pid in (1, 2)
        for relation in (16384.0, float("nan"))
        for mode in ("AccessShareLock", "RowExclusiveLock")
        if chance.random() < 0.6
    ]
    frame = pd.DataFrame(rows)
    _, runs = _runs(frame, polls, ["pid", "relation", "mode"])
    found = sorted(
        (
            str(tuple(getattr(v, "item", lambda v=v: v)() for v in r.key)),
            r.last - r.first,
            round(r.start_s, 6),
        )
        for r in runs
    )

    expected = []
    for key, group in frame.groupby(["pid", "relation", "mode"], dropna=False):
        indexes = sorted(np.searchsorted(polls, group["t"].to_numpy()).tolist())
        run = [indexes[0]]
        for index in [*indexes[1:], None]:
            if index is not None and index == run[-1] + 1:
                run.append(index)
                continue
            first = run[0]
            start = (polls[first - 1] + polls[first]) / 2 if first > 0 else polls[first]
            expected.append((str(tuple(key)), len(run), round(float(start), 6)))
            if index is not None:
                run = [index]
    assert found == sorted(expected)
    assert len(found) > 50


def test_a_wait_seen_between_sparse_polls_is_still_blamed_on_the_statement() -> None:
    """On a busy machine the sampler's polls space out, and a wait's start (estimated
    halfway to the poll before it was seen) can fall before the statement it queued behind
    began: the statement whose lock was taken during the wait is still the one to blame."""
    import pandas as pd

    from pgrehearse.observe.analyse import _blocking_statement

    locks = pd.DataFrame(
        [
            {"holder_pid": 7, "relation_oid": 100, "mode": "AccessExclusiveLock"}
            | {"phase": "up", "statement": 2, "start_s": 1.50, "end_s": 2.10},
            {"holder_pid": 7, "relation_oid": 100, "mode": "ShareLock"}
            | {"phase": "up", "statement": 5, "start_s": 3.00, "end_s": 3.50},
        ]
    )

    def blamed(wait: tuple[float, float], blockers: list[int] = [7]) -> str | None:  # noqa: B006
        return _blocking_statement(locks, blockers, 100, "AccessShareLock", wait, {7})

    assert blamed((1.30, 2.10)) == "up #2"  # seen at 1.6, the poll before at 1.0
    assert blamed((1.60, 2.10)) == "up #2"
    assert blamed((3.10, 3.50)) is None  # SHARE does not block a read
    assert blamed((0.20, 0.60)) is None  # over before the statement asked for its lock
    assert blamed((1.30, 2.10), blockers=[8]) is None  # another session blocked it
