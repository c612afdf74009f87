"""Proving the down migration: correct pairs pass, subtly wrong ones are caught by name."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgrehearse import load_scenario, rehearse
from pgrehearse.backends import LocalServer, PostgresBinaries
from pgrehearse.migration import split_statements
from pgrehearse.rehearsal.steps import Fingerprint, check_roundtrip, dump_target, take_fingerprint
from pgrehearse.scenario import RoundtripSpec
from pgrehearse.verify import (
    Difference,
    RoundTrip,
    SchemaFingerprint,
    apply_ignores,
    dump_disagreement,
    fold_partitions,
    invalid_indexes,
    schema_differences,
    schema_fingerprint,
    written_by,
)
from tests.helpers import ProbingBackend, write_scenario

_databases = itertools.count()

SETUP = """
CREATE SEQUENCE t_id_seq;
CREATE TABLE t (
    id int PRIMARY KEY DEFAULT nextval('t_id_seq'),
    v int NOT NULL DEFAULT 1,
    s varchar(10) NOT NULL DEFAULT 'x',
    n int,
    CONSTRAINT t_check CHECK (v > 0)
);
CREATE INDEX t_v ON t (v);
COMMENT ON TABLE t IS 'the table';
CREATE SEQUENCE spare_seq;
CREATE DOMAIN positive AS int CHECK (VALUE > 0);
INSERT INTO t (v, n) SELECT g % 7 + 1, g FROM generate_series(1, 2000) g;
"""


def _run(conn: psycopg.Connection[Any], script: str) -> None:
    for statement in split_statements(script):
        # a failed CONCURRENTLY build must leave its invalid index, as in production
        with contextlib.suppress(psycopg.Error):
            conn.execute(statement.sql)


def states(
    server: LocalServer, up: str, down: str, *, dump: bool = True
) -> tuple[Fingerprint, Fingerprint]:
    """Set up, fingerprint, up, down, fingerprint: the steps a rehearsal takes."""
    name = f"rt{next(_databases)}"
    with psycopg.connect(**server.connect_kwargs("postgres", "t"), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    target = dump_target(server, name) if dump else None
    with psycopg.connect(**server.connect_kwargs(name, "t"), autocommit=True) as conn:
        _run(conn, SETUP)
        before = take_fingerprint(conn, data=True, dump=target)
        _run(conn, up)
        _run(conn, down)
        after = take_fingerprint(conn, data=True, dump=target)
    return before, after


def roundtrip(
    server: LocalServer, up: str, down: str, mode: str = "exact", *, dump: bool = True
) -> RoundTrip:
    before, after = states(server, up, down, dump=dump)
    return check_roundtrip(RoundtripSpec(mode=mode), before, after)


def _only(result: RoundTrip) -> list[str]:
    return [d.render() for d in result.failing]


@pytest.mark.parametrize(
    ("up", "down"),
    [
        ("ALTER TABLE t ADD COLUMN extra text;", "ALTER TABLE t DROP COLUMN extra;"),
        ("CREATE INDEX t_n ON t (n);", "DROP INDEX t_n;"),
        ("ALTER TABLE t RENAME COLUMN n TO m;", "ALTER TABLE t RENAME COLUMN m TO n;"),
        (
            "ALTER TABLE t ALTER COLUMN v SET DEFAULT 5;",
            "ALTER TABLE t ALTER COLUMN v SET DEFAULT 1;",
        ),
        ("ALTER TABLE t ALTER COLUMN n TYPE bigint;", "ALTER TABLE t ALTER COLUMN n TYPE int;"),
        (
            "CREATE TYPE mood AS ENUM ('a'); ALTER TABLE t ADD COLUMN m mood;",
            "ALTER TABLE t DROP COLUMN m; DROP TYPE mood;",
        ),
    ],
)
def test_correct_down_migrations_pass(server: LocalServer, up: str, down: str) -> None:
    result = roundtrip(server, up, down)
    assert result.status == "passed", _only(result)
    assert result.differences == []


def test_default_not_restored(server: LocalServer) -> None:
    result = roundtrip(
        server,
        "ALTER TABLE t ALTER COLUMN v SET DEFAULT 5;",
        "ALTER TABLE t ALTER COLUMN v DROP DEFAULT;",
    )
    assert _only(result) == ["column t.v: default: 1 → (none)"]


def test_index_recreated_differently(server: LocalServer) -> None:
    result = roundtrip(server, "DROP INDEX t_v;", "CREATE INDEX t_v ON t (v DESC);")
    [difference] = result.failing
    assert difference.object == "index t_v" and difference.what == "definition"
    assert "(v DESC)" in str(difference.after)


def test_index_left_invalid(server: LocalServer) -> None:
    # a CONCURRENTLY build that fails (duplicates) leaves an invalid index behind
    result = roundtrip(server, "DROP INDEX t_v;", "CREATE UNIQUE INDEX CONCURRENTLY t_v ON t (v);")
    rendered = _only(result)
    assert "index t_v: valid: True → False" in rendered
    assert any(line.startswith("index t_v: definition") for line in rendered)


def test_invalid_index_is_found_in_a_fingerprint(server: LocalServer) -> None:
    with psycopg.connect(**server.connect_kwargs("postgres", "t"), autocommit=True) as conn:
        conn.execute("CREATE TABLE dup (x int)")
        conn.execute("INSERT INTO dup VALUES (1), (1)")
        _run(conn, "CREATE UNIQUE INDEX CONCURRENTLY dup_x ON dup (x);")
        assert invalid_indexes(schema_fingerprint(conn)) == ["dup_x"]


def test_not_null_lost(server: LocalServer) -> None:
    result = roundtrip(server, "ALTER TABLE t ALTER COLUMN v DROP NOT NULL;", "")
    assert _only(result) == ["column t.v: not_null: True → False"]


def test_data_lost_by_drop_column(server: LocalServer) -> None:
    result = roundtrip(server, "ALTER TABLE t DROP COLUMN n;", "ALTER TABLE t ADD COLUMN n int;")
    assert _only(result) == ["data t.n: values differ"]


def test_sequence_value_changed(server: LocalServer) -> None:
    result = roundtrip(server, "SELECT nextval('t_id_seq');", "")
    [difference] = result.failing
    assert difference.object == "sequence t_id_seq" and difference.what == "last_value"


def test_check_readded_not_valid(server: LocalServer) -> None:
    result = roundtrip(
        server,
        "ALTER TABLE t DROP CONSTRAINT t_check;",
        "ALTER TABLE t ADD CONSTRAINT t_check CHECK (v > 0) NOT VALID;",
    )
    rendered = _only(result)
    assert "constraint t.t_check: validated: True → False" in rendered


def test_comment_lost(server: LocalServer) -> None:
    result = roundtrip(server, "COMMENT ON TABLE t IS NULL;", "")
    assert _only(result) == ["table t: comment: the table → (none)"]


def test_column_order_is_a_warning_unless_strict(server: LocalServer) -> None:
    up, down = (
        "ALTER TABLE t DROP COLUMN s;",
        "ALTER TABLE t ADD COLUMN s varchar(10) NOT NULL DEFAULT 'x';",
    )
    exact = roundtrip(server, up, down)
    assert exact.status == "passed"
    [warning] = exact.warnings
    assert warning.what == "column order changed"
    assert (warning.before, warning.after) == ("id, v, s, n", "id, v, n, s")
    strict = roundtrip(server, up, down, mode="strict")
    assert strict.status == "failed"


def test_values_moved_between_rows(server: LocalServer) -> None:
    result = roundtrip(server, "UPDATE t SET n = 2001 - n;", "")
    assert result.status == "failed"
    swapped = roundtrip(
        server,
        "UPDATE t SET n = n + 1000 WHERE id <= 1000;",
        "UPDATE t SET n = n - 1000 WHERE id <= 1000;",
    )
    assert swapped.status == "passed"


def test_ignores_need_and_keep_a_reason() -> None:
    differences = [
        Difference("schema", "type mood", "labels", ["a"], ["a", "b"]),
        Difference("schema", "column t.v", "default", "1", None),
    ]
    marked = apply_ignores(differences, [("type mood", "enum values cannot be removed")])
    result = RoundTrip("exact", "passed", marked)
    assert [d.object for d in result.failing] == ["column t.v"]
    assert marked[0].ignored == "enum values cannot be removed"
    assert "ignored: enum values cannot be removed" in marked[0].render()


def test_load_written_columns_are_not_compared() -> None:
    written = written_by(
        [
            "UPDATE orders SET status = $1, note = $2 WHERE id = $3",
            "INSERT INTO payments (order_id) VALUES ($1)",
            "SELECT 1",
        ]
    )
    assert written == {"orders": {"status", "note"}, "payments": None}


def test_a_change_partitions_share_with_their_parent_is_told_once() -> None:
    tables: dict[str, dict[str, Any]] = {
        "table events": {"kind": "p"},
        "table events_2024": {"kind": "p", "partition_of": "public.events"},
        "table events_2024_eu": {"kind": "r", "partition_of": "public.events_2024"},
        "table events_2025": {"kind": "r", "partition_of": "public.events"},
        "table audit": {"kind": "r"},
    }
    text = {"type": "text"}
    added = {
        "column events.unit": text,
        "column events_2024.unit": text,
        "column events_2024_eu.unit": text,
        "column events_2025.unit": text,
        "column audit.unit": text,
        "column events_2025.extra": {"type": "integer"},  # on one partition only: told
    }
    before = SchemaFingerprint(objects=dict(tables))
    after = SchemaFingerprint(objects={**tables, **added})
    changes = fold_partitions(schema_differences(before, after), before, after)
    assert [d.render() for d in changes] == [
        "column audit.unit: added",
        "column events.unit: added (and on its 3 partitions)",
        "column events_2025.extra: added",
    ]


# --------------------------------------------------------------------------- end to end


def test_rehearsal_fails_when_down_loses_data(tmp_path: Path, work_root: Path) -> None:
    path = write_scenario(
        tmp_path / "s",
        up="ALTER TABLE accounts DROP COLUMN balance;",
        down="ALTER TABLE accounts ADD COLUMN balance integer NOT NULL DEFAULT 0;",
    )
    result = rehearse(load_scenario(path), report_dir=tmp_path / "r")
    assert result.outcome == "failed"
    assert result.failure is not None
    assert result.failure.startswith("the down migration does not restore the database")
    assert result.roundtrip is not None
    assert "data accounts.balance: values differ" in [d.render() for d in result.roundtrip.failing]
    assert any(
        c["object"] == "column balance" or c["object"] == "column accounts.balance"
        for c in result.up_changes
    )


def test_rehearsal_passes_a_correct_pair_and_ignores_declared_objects(
    tmp_path: Path, work_root: Path
) -> None:
    extra = (
        "roundtrip:\n  mode: exact\n  ignore:\n"
        "    - {object: 'type mood', reason: 'enum values stay'}\n"
    )
    path = write_scenario(
        tmp_path / "s",
        up="CREATE TYPE mood AS ENUM ('a');",
        down="ALTER TYPE mood ADD VALUE 'b';",
        extra=extra,
    )
    result = rehearse(load_scenario(path), report_dir=None)
    assert result.roundtrip is not None
    assert result.roundtrip.status == "passed", [d.render() for d in result.roundtrip.failing]
    assert [d.object for d in result.roundtrip.differences if d.ignored] == ["type mood"]


LOADED_SCHEMA = """
CREATE TABLE accounts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text NOT NULL,
    balance integer NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE audit (id bigserial PRIMARY KEY, account bigint, at timestamptz);
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := clock_timestamp();
    INSERT INTO audit (account, at) VALUES (NEW.id, NEW.updated_at);
    RETURN NEW;
END $$;
CREATE TRIGGER accounts_touch BEFORE UPDATE ON accounts
    FOR EACH ROW EXECUTE FUNCTION touch();
CREATE SEQUENCE invoice_no;
SELECT nextval('invoice_no');
"""

LOADED = """
load:
  clients: 2
  warmup: 0.3s
  cooldown: 0.3s
  transactions:
    - name: sign_up
      sql: INSERT INTO accounts (email) VALUES (:email)
      params: {email: {faker: email, pool: 20}}
    - name: deposit
      sql: UPDATE accounts SET balance = balance + 1 WHERE id = :id
      params: {id: {int: [1, 100]}}
"""


@pytest.mark.parametrize(
    ("down", "expected"),
    [
        ("ALTER TABLE accounts DROP COLUMN note;", None),
        # a sequence restarted by up and never used since: read from the sequence itself
        (
            "ALTER TABLE accounts DROP COLUMN note;\nALTER SEQUENCE invoice_no RESTART WITH 50;",
            "sequence invoice_no: last_value: 1 → 50",
        ),
        # catalog objects a wrong down leaves behind are caught under load too
        (
            "ALTER TABLE accounts DROP COLUMN note;\n"
            "CREATE RULE keep AS ON DELETE TO accounts DO INSTEAD NOTHING;",
            "rule accounts.keep: added",
        ),
        (
            "ALTER TABLE accounts DROP COLUMN note;\nGRANT CREATE ON SCHEMA public TO PUBLIC;",
            "schema public: acl",
        ),
    ],
)
def test_what_the_load_writes_is_no_false_alarm(
    tmp_path: Path, work_root: Path, down: str, expected: str | None
) -> None:
    path = write_scenario(
        tmp_path / "s",
        schema=LOADED_SCHEMA,
        rows=100,
        up="ALTER TABLE accounts ADD COLUMN note text;",
        down=down,
        extra=LOADED,
    )
    result = rehearse(load_scenario(path), report_dir=None)
    assert result.roundtrip is not None and result.load is not None
    failing = [d.render() for d in result.roundtrip.failing]
    notes = " | ".join(result.roundtrip.notes)
    if expected is None:
        assert result.roundtrip.status == "passed", failing
        # the identity sequence advanced by the inserts, compared as not moved backwards
        assert "sequence accounts_id_seq last_value" in notes and "not moved backwards" in notes
        assert "trigger accounts_touch" in notes  # updated_at and audit: the trigger's doing
    else:
        assert any(text.startswith(expected) for text in failing), failing


VIEWED_AND_PARTITIONED = """
CREATE TABLE accounts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text NOT NULL,
    balance integer NOT NULL DEFAULT 0
);
CREATE MATERIALIZED VIEW rich AS SELECT id, balance FROM accounts WHERE balance > 500
    WITH NO DATA;
CREATE TABLE payments (id bigint NOT NULL, amount int NOT NULL) PARTITION BY RANGE (amount);
CREATE TABLE payments_low PARTITION OF payments FOR VALUES FROM (MINVALUE) TO (500);
CREATE TABLE payments_high PARTITION OF payments FOR VALUES FROM (500) TO (MAXVALUE);
"""


def test_materialized_views_and_partitions_take_part_in_the_round_trip(
    tmp_path: Path, work_root: Path, pg_binaries: PostgresBinaries
) -> None:
    extra = (
        "    payments:\n      rows: 300\n"
        "      columns: {id: {sequence: 1}, amount: {int: [0, 999]}}\n"
    )
    path = write_scenario(
        tmp_path / "s",
        schema=VIEWED_AND_PARTITIONED,
        rows=200,
        up="DELETE FROM payments WHERE amount >= 500;",
        down="SELECT 1;",
    )
    text = path.read_text().replace("migration:\n", extra + "migration:\n", 1)
    path.write_text(text)
    probe = ProbingBackend(
        pg_binaries, "SELECT relispopulated FROM pg_class WHERE relname = 'rich'"
    )
    result = rehearse(load_scenario(path), report_dir=None, backend=probe)
    assert probe.answer is True  # WITH NO DATA, filled after seeding
    assert result.roundtrip is not None
    failing = [d.render() for d in result.roundtrip.failing]
    # rows inside partitions are compared, through their parent
    assert any(f.startswith("data payments: row count: 300 → ") for f in failing), failing
    # the view was filled after seeding, so the fingerprint read it instead of crashing
    assert not any("rich" in f for f in failing), failing
    assert result.outcome == "failed"


# What up adds and a wrong down leaves behind, for each object kind the catalog fingerprint
# once missed: (up, expected failing object, whether pg_dump --schema-only shows it too).
LEFT_BEHIND = {
    "rule": ("CREATE RULE t_keep AS ON DELETE TO t DO INSTEAD NOTHING;", "rule t.t_keep", True),
    "privileges on schema public": (
        "GRANT CREATE ON SCHEMA public TO PUBLIC;",
        "schema public",
        True,
    ),
    "default privileges": (
        "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO PUBLIC;",
        "default privileges",
        True,
    ),
    "role": ("CREATE ROLE left_behind_reader;", "role left_behind_reader", True),
    "restarted unused sequence": (
        "ALTER SEQUENCE spare_seq RESTART WITH 500;",
        "sequence spare_seq",
        False,  # a schema-only dump has no sequence state
    ),
    "sequence increment": ("ALTER SEQUENCE spare_seq INCREMENT BY 5;", "sequence spare_seq", True),
    "replica identity": ("ALTER TABLE t REPLICA IDENTITY FULL;", "table t", True),
    "column n_distinct": ("ALTER TABLE t ALTER COLUMN v SET (n_distinct = 7);", "column t.v", True),
    "column compression": (
        "ALTER TABLE t ALTER COLUMN s SET COMPRESSION pglz;",
        "column t.s",
        True,
    ),
    "domain constraint": (
        "ALTER DOMAIN positive ADD CONSTRAINT below_million CHECK (VALUE < 1000000);",
        "domain constraint positive.below_million",
        True,
    ),
    "extended statistics": ("CREATE STATISTICS t_v_n ON v, n FROM t;", "statistics t_v_n", True),
    "publication": ("CREATE PUBLICATION t_changes FOR TABLE t;", "publication t_changes", True),
    "composite type": ("CREATE TYPE pair AS (a int, b text);", "type pair", True),
    "aggregate": (
        "CREATE AGGREGATE total(int) (sfunc = int4pl, stype = int);",
        "function total(integer)",
        True,
    ),
}


@pytest.mark.parametrize("kind", sorted(LEFT_BEHIND))
def test_what_a_wrong_down_leaves_behind_is_caught_by_both_checks(
    server: LocalServer, kind: str
) -> None:
    up, expected, dump_sees_it = LEFT_BEHIND[kind]
    before, after = states(server, up, "")
    result = check_roundtrip(RoundtripSpec(), before, after)
    assert result.status == "failed"
    assert any(d.object.startswith(expected) for d in result.failing), _only(result)
    assert before.dump is not None and after.dump is not None
    assert (dump_disagreement(before.dump, after.dump) is not None) == dump_sees_it


@pytest.mark.parametrize("kind", sorted(LEFT_BEHIND))
def test_a_correct_down_of_each_object_kind_passes_both_checks(
    server: LocalServer, kind: str
) -> None:
    downs = {
        "rule": "DROP RULE t_keep ON t;",
        "privileges on schema public": "REVOKE CREATE ON SCHEMA public FROM PUBLIC;",
        "default privileges": "ALTER DEFAULT PRIVILEGES REVOKE SELECT ON TABLES FROM PUBLIC;",
        "role": "DROP ROLE left_behind_reader;",
        "restarted unused sequence": "ALTER SEQUENCE spare_seq RESTART WITH 1;",
        "sequence increment": "ALTER SEQUENCE spare_seq INCREMENT BY 1;",
        "replica identity": "ALTER TABLE t REPLICA IDENTITY DEFAULT;",
        "column n_distinct": "ALTER TABLE t ALTER COLUMN v RESET (n_distinct);",
        "column compression": "ALTER TABLE t ALTER COLUMN s SET COMPRESSION default;",
        "domain constraint": "ALTER DOMAIN positive DROP CONSTRAINT below_million;",
        "extended statistics": "DROP STATISTICS t_v_n;",
        "publication": "DROP PUBLICATION t_changes;",
        "composite type": "DROP TYPE pair;",
        "aggregate": "DROP AGGREGATE total(int);",
    }
    up = LEFT_BEHIND[kind][0].replace("left_behind_reader", "restored_reader")
    down = downs[kind].replace("left_behind_reader", "restored_reader")
    result = roundtrip(server, up, down)
    assert result.status == "passed", _only(result)
    assert not any("pg_dump" in note for note in result.notes), result.notes


def test_pg_dump_disagreeing_with_the_catalog_fingerprint_fails_the_round_trip(
    server: LocalServer,
) -> None:
    # text search configurations are outside the catalog fingerprint: only pg_dump sees one
    up = "CREATE TEXT SEARCH CONFIGURATION plain_words (COPY = simple);"
    assert roundtrip(server, up, "", dump=False).status == "passed"
    result = roundtrip(server, up, "")
    [difference] = result.failing
    assert difference.object == "pg_dump --schema-only"
    assert "plain_words" in str(difference.after)
    assert roundtrip(server, up, "DROP TEXT SEARCH CONFIGURATION plain_words;").status == "passed"


def test_a_failing_pg_dump_skips_the_cross_check_with_a_note(
    server: LocalServer, tmp_path: Path
) -> None:
    name = f"rt{next(_databases)}"
    with psycopg.connect(**server.connect_kwargs("postgres", "t"), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    broken = dataclasses.replace(dump_target(server, name), dbname="no_such_database")
    with psycopg.connect(**server.connect_kwargs(name, "t"), autocommit=True) as conn:
        before = take_fingerprint(conn, data=False, dump=broken)
        after = take_fingerprint(conn, data=False, dump=broken)
    result = check_roundtrip(RoundtripSpec(mode="schema"), before, after)
    assert result.status == "passed"
    assert before.dump is None and before.dump_problem and "no_such_database" in before.dump_problem
    assert any(note.startswith("pg_dump cross-check skipped") for note in result.notes)


@pytest.mark.parametrize(
    ("up", "down", "expected"),
    [
        (
            "ALTER TABLE accounts ADD COLUMN nickname text;",
            "ALTER TABLE accounts DROP COLUMN nickname;",
            None,
        ),
        (
            "ALTER TABLE accounts ADD COLUMN nickname text;",
            "DELETE FROM accounts WHERE nickname IS NOT NULL;\n"
            "ALTER TABLE accounts DROP COLUMN nickname;",
            "data accounts: rows written after up, lost by down (25): 125 → 100",
        ),
        (
            "ALTER TABLE accounts ALTER COLUMN balance DROP NOT NULL;",
            "ALTER TABLE accounts ALTER COLUMN balance SET NOT NULL;",
            "fails",
        ),
    ],
)
def test_data_written_between_up_and_down_must_survive_the_down(
    tmp_path: Path, work_root: Path, up: str, down: str, expected: str | None
) -> None:
    between = (
        '  between: "INSERT INTO accounts (email, balance) '
        "SELECT 'new' || g, NULL FROM generate_series(1, 25) g\"\n"
        if "DROP NOT NULL" in up
        else '  between: "INSERT INTO accounts (email, balance, nickname) '
        "SELECT 'new' || g, 0, 'nick' FROM generate_series(1, 25) g\"\n"
    )
    path = write_scenario(tmp_path / "s", up=up, down=down, rows=100)
    path.write_text(path.read_text() + between)
    result = rehearse(load_scenario(path), report_dir=None)
    assert result.between_rows == {"accounts": 25}
    assert result.roundtrip is not None
    failing = [d.render() for d in result.roundtrip.failing]
    if expected is None:
        assert result.passed, (result.failure, failing)
        assert any("must survive down" in note for note in result.roundtrip.notes)
    elif expected == "fails":  # a down that cannot take what the new shape allowed
        assert result.outcome == "failed"
        failed = result.failed_statement
        assert failed is not None and failed.phase == "down" and failed.error is not None
        assert failed.error.sqlstate == "23502"
    else:
        assert result.outcome == "failed" and failing == [expected]


NEW_APPLICATION = """\
load:
  clients: 2
  rate: 200
  warmup: 0.3s
  cooldown: 0.5s
  transactions:
    - name: read
      sql: SELECT email FROM accounts WHERE id = :id
      params: {id: {int: [1, 100]}}
    - name: sign_up_with_nickname
      after: up
      sql: INSERT INTO accounts (email, balance, nickname) VALUES (:email, 0, 'nick')
      params: {email: {faker: email}}
"""


@pytest.mark.parametrize("lossy", [False, True])
def test_the_new_applications_rows_written_after_up_must_survive_the_down(
    tmp_path: Path, work_root: Path, lossy: bool
) -> None:
    """A load transaction in the new shape (`after: up`) runs from the end of up to the start
    of down; the rows it inserted must still be there after down."""
    down = "ALTER TABLE accounts DROP COLUMN nickname;"
    if lossy:
        down = "DELETE FROM accounts WHERE nickname IS NOT NULL;\n" + down
    path = write_scenario(
        tmp_path / "s",
        up="ALTER TABLE accounts ADD COLUMN nickname text;",
        down=down,
        rows=100,
        extra=NEW_APPLICATION,
    )
    result = rehearse(load_scenario(path), report_dir=None)
    assert result.load is not None and result.locks is not None
    events = result.load_events
    assert events is not None
    new = events[events["transaction"] == "sign_up_with_nickname"]
    committed = new[new["outcome"] == "ok"]
    assert len(committed) > 0
    # it ran only between the end of up and the start of down (on the client's clock)
    up, down_phase = result.phase("up"), result.phase("down")
    assert up is not None and down_phase is not None
    assert up.started_s is not None and up.seconds is not None and down_phase.started_s
    assert new["start_s"].min() >= up.started_s + up.seconds
    assert new["start_s"].max() <= down_phase.started_s
    assert result.between_rows == {"accounts": len(committed)}
    assert result.roundtrip is not None
    failing = [d.render() for d in result.roundtrip.failing]
    if lossy:
        lost = len(committed)
        assert failing == [
            f"data accounts: rows written after up, lost by down ({lost:,}): {100 + lost} → 100"
        ]
    else:
        assert result.passed, (result.failure, failing)
