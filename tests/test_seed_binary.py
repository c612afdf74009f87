"""Binary COPY: the same rows as COPY text, for every column kind it writes; the tables it
cannot write fully still seed, as text."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import psycopg
import pytest

from pgrehearse.backends import LocalServer
from pgrehearse.scenario import DataSpec
from pgrehearse.seed import SeedError, _binary, _leaf_runs, _sink, plan, seed_tables
from pgrehearse.seed import _generators as generators
from pgrehearse.seed._binary import Numbers, binary_field, table_numbers
from tests.helpers import connection_with

ROWS = 45_000  # three blocks: the header goes with the first, the trailer with the last

SCHEMA = """
DROP TABLE IF EXISTS every_kind, parent, uuid_parent, with_inet, narrow;
DROP TYPE IF EXISTS mood;
DROP DOMAIN IF EXISTS positive;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN positive AS int CHECK (VALUE > 0);
CREATE TABLE parent (id bigint PRIMARY KEY);
CREATE TABLE uuid_parent (id uuid PRIMARY KEY);
CREATE TABLE every_kind (
    id bigint NOT NULL,
    small smallint,
    n int,
    positive_n positive,
    price numeric(14, 3),
    whole numeric,
    cents numeric(8, 2),
    ratio float8,
    flag boolean,
    at timestamptz,
    local_at timestamp,
    day date,
    day_from_moment date,
    later timestamptz,
    name text,
    code char(6),
    label varchar(40),
    feeling mood,
    doc jsonb,
    raw json,
    long_text text,
    profiled_amount numeric(10, 2),
    profiled_at timestamptz,
    profiled_count int,
    profiled_day date,
    status smallint,
    profiled_status int,
    profiled_flag boolean,
    paid_cents int,
    refund_cents int,
    random_key uuid,
    numbered_key uuid NOT NULL,
    uuid_parent_id uuid,
    CHECK (num_nonnulls(paid_cents, refund_cents) = 1),
    parent_id bigint  -- references parent (the key is added after seeding, as the seeder does)
);
CREATE TABLE with_inet (address inet NOT NULL, n int NOT NULL);
CREATE TABLE narrow (id bigint NOT NULL, tiny smallint NOT NULL);
"""

COLUMNS: dict[str, Any] = {
    "id": {"sequence": 1},
    "small": {"int": [-32000, 32000], "null_fraction": 0.1},
    "n": {"int": [-5, 2_000_000_000], "distribution": "zipf"},
    "positive_n": {"int": [1, 50]},
    "price": {"float": [-99999.999, 99999.999], "decimals": 3, "null_fraction": 0.2},
    "whole": {"int": [-9_000_000_000_000_000, 9_000_000_000_000_000]},
    "cents": {"float": [0, 1], "decimals": 2},
    "ratio": {"float": [-1, 1], "decimals": 4},
    "flag": {"bool": 0.3, "null_fraction": 0.1},
    "at": {"between": ["1969-06-01T00:00:00", "2031-01-01T00:00:00"]},
    "local_at": {"between": ["1999-12-31T23:00:00", "2000-01-01T01:00:00"]},
    "day": {"between": ["1900-01-01", "2100-01-01"], "null_fraction": 0.3},
    "day_from_moment": {"between": ["1990-01-01T00:00:00", "2010-01-01T00:00:00"]},
    "later": {"after": "at", "within": "30d"},
    "name": {"choice": ["Zoë", "Łukasz", "日本語", "plain", "tab\there", "back\\slash"]},
    "code": {"choice": ["ab", "abcdef"]},
    "label": {"faker": "word", "null_fraction": 0.5},
    "feeling": {"choice": ["sad", "ok", "happy"]},
    "doc": {"json": {"n": {"int": [1, 9]}, "who": {"choice": ["Zoë", 'quote"d']}}},
    "raw": {"json": {"ok": {"bool": 0.5}}},
    "long_text": {"text": [4000, 9000], "null_fraction": 0.98},
    "parent_id": {"ref": "parent.id"},
    # as `pgrehearse profile` fills columns
    "profiled_amount": {
        "empirical": "number",
        "decimals": 2,
        "values": [9.99, 19.99],
        "freqs": [0.05, 0.03],
        "histogram": [0.5, 10, 100, 1000],
        "distinct": -0.05,
    },
    "profiled_at": {
        "empirical": "moment",
        "histogram": ["1995-01-01 00:00:00+00", "2020-01-01 00:00:00+00", "2026-01-01 00:00:00+00"],
        "distinct": -1,
        "correlation": 0.9,
        "null_fraction": 0.1,
    },
    "profiled_count": {
        "empirical": "number",
        "values": [0, 1],
        "freqs": [0.5, 0.2],
        "histogram": [2, 10, 1000],
        "distinct": 100,
    },
    "profiled_day": {
        "empirical": "date",
        "histogram": ["1960-01-01", "2001-01-01", "2030-01-01"],
        "distinct": 500,
    },
    "status": {"choice": [0, 1, 2, -30]},
    "profiled_status": {"empirical": "value", "values": [0, 1, 7], "freqs": [0.6, 0.3, 0.1]},
    "profiled_flag": {"empirical": "value", "values": ["t", "f"], "freqs": [0.8, 0.2]},
    # NULL in one of the two in each row, as the CHECK wants
    "paid_cents": {"int": [1, 1000]},
    "refund_cents": {"int": [1, 1000]},
    "random_key": {"uuid": "v4", "null_fraction": 0.1},
    "numbered_key": {"uuid": "numbered"},
    "uuid_parent_id": {"ref": "uuid_parent.id"},
}

CHECKSUM = "SELECT md5(string_agg(e::text, ',' ORDER BY e.id)) FROM every_kind e"


@pytest.fixture
def conn(server: LocalServer) -> Iterator[psycopg.Connection[Any]]:
    with connection_with(server, SCHEMA, "binary-copy-test") as connection:
        yield connection


def _data(table: str, columns: dict[str, Any], rows: int = ROWS) -> DataSpec:
    tables: dict[str, Any] = {table: {"rows": rows, "columns": columns}}
    if table == "every_kind":
        tables = {
            "parent": {"rows": 500, "columns": {"id": {"sequence": 10}}},
            "uuid_parent": {"rows": 300, "columns": {"id": {"uuid": "v4"}}},
            **tables,
        }
    return DataSpec.model_validate({"seed": 5, "tables": tables})


def _seed(conn: psycopg.Connection[Any], data: DataSpec, workers: int = 1) -> None:
    for table in reversed(list(data.tables)):
        conn.execute(f"TRUNCATE {table} CASCADE")
    conn.commit()
    seed_tables(conn, plan(conn, data, 1.0), seed=data.seed, workers=workers)


def _checksum(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute(CHECKSUM).fetchone()
    assert row is not None and row[0]
    return str(row[0])


class BinaryBlocks:
    """Counts the blocks made in binary and in text in this process."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.binary = 0
        real = _binary.encode_block

        def counted(blocks: Any) -> bytes:
            self.binary += 1
            return real(blocks)

        monkeypatch.setattr(generators, "encode_block", counted)


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_binary_rows_are_the_rows_text_gives(
    conn: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    """Every column kind binary COPY writes, with NULLs, negatives, moments before 1970
    and 2000, non-ASCII and escaped text, values past 4 KB: the table holds exactly what
    COPY text gives it, made in this process (0) or in workers (through the server's
    pipe with one, relayed with two)."""
    data = _data("every_kind", COLUMNS)
    monkeypatch.setenv("PGREHEARSE_SEED_BINARY", "0")
    _seed(conn, data, workers)
    as_text = _checksum(conn)
    monkeypatch.delenv("PGREHEARSE_SEED_BINARY")
    spy = BinaryBlocks(monkeypatch)
    _seed(conn, data, workers)
    assert _checksum(conn) == as_text
    if workers == 0:  # made here, so counted here
        assert spy.binary == 5  # the parents' one block each and the table's three
    nulls = conn.execute(
        "SELECT count(*) FILTER (WHERE price IS NULL), count(*) FILTER (WHERE day IS NULL),"
        " count(DISTINCT name), min(at) < '1970-01-01', max(whole) > 2^52,"
        " count(*) FILTER (WHERE length(long_text) > 4000), min(price) < 0"
        " FROM every_kind"
    ).fetchone()
    assert nulls is not None
    price_nulls, day_nulls, names, before_1970, huge, long_texts, negative = nulls
    assert 0 < price_nulls < ROWS and 0 < day_nulls < ROWS
    assert names == 6 and before_1970 and huge and long_texts > 0 and negative
    one_of_two = conn.execute(
        "SELECT count(*) FILTER (WHERE paid_cents IS NULL), count(*) FILTER (WHERE"
        " refund_cents IS NULL) FROM every_kind"
    ).fetchone()
    assert one_of_two is not None and 0 < one_of_two[0] < ROWS and sum(one_of_two) == ROWS


def test_a_table_with_a_column_binary_cannot_write_goes_as_text(
    conn: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = BinaryBlocks(monkeypatch)
    address = {"choice": ["10.0.0.1", "192.168.1.7"]}
    _seed(conn, _data("with_inet", {"address": address, "n": {"int": [0, 9]}}), workers=0)
    assert spy.binary == 0
    row = conn.execute("SELECT count(DISTINCT address), count(*) FROM with_inet").fetchone()
    assert row == (2, ROWS)
    _seed(conn, _data("narrow", {"id": {"sequence": 1}, "tiny": {"int": [0, 9]}}), workers=0)
    assert spy.binary == 3


def test_a_value_out_of_its_integer_type_is_named_not_wrapped() -> None:
    """Binary integers are written at the column's width: a value past it would wrap
    round silently (the plan refuses such generators first; this is the last guard)."""
    field = binary_field("int2", "N", False, ("int", 0))
    assert field is not None
    field.encode(Numbers("int", np.array([-32768, 32767], dtype=np.int64)), None, "tiny")
    with pytest.raises(ValueError, match='tiny: value "40000" is out of range for type smallint'):
        field.encode(Numbers("int", np.array([1, 40_000], dtype=np.int64)), None, "tiny")


def test_a_server_error_in_a_binary_row_keeps_its_detail(
    conn: psycopg.Connection[Any],
) -> None:
    # rows past the plan's 200 sample rows break it: the plan cannot see it, the server does
    conn.execute("ALTER TABLE narrow ADD CONSTRAINT small_tiny CHECK (tiny < 5 OR id < 300)")
    conn.commit()
    try:
        with pytest.raises(SeedError) as raised:
            _seed(conn, _data("narrow", {"id": {"sequence": 1}, "tiny": {"int": [0, 9]}}), 1)
        assert "small_tiny" in str(raised.value) and "Failing row" in str(raised.value)
    finally:
        conn.rollback()
        conn.execute("ALTER TABLE narrow DROP CONSTRAINT small_tiny")
        conn.commit()


def test_numeric_fields_agree_with_the_server_on_every_edge(
    conn: psycopg.Connection[Any],
) -> None:
    """Each value sent as binary numeric reads back as the decimal text of its units."""
    field = binary_field("numeric", "N", False, ("units", 5))
    assert field is not None
    units = np.array(
        [0, 1, -1, 99999, 100000, -100000, 12345678901234, -(10**17), 10**18 + 7], dtype=np.int64
    )
    block = field.encode(Numbers("units", units, 5), None, "x")
    assert block.matrix is not None
    header = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
    rows = b"".join(b"\x00\x01" + bytes(row) for row in block.matrix) + b"\xff\xff"
    conn.execute("CREATE TEMP TABLE numbers (v numeric)")
    with conn.cursor().copy("COPY numbers FROM STDIN WITH (FORMAT binary)") as copy:
        copy.write(header + rows)
    got = [str(v) for (v,) in conn.execute("SELECT v::text FROM numbers").fetchall()]
    expected = [f"{'-' if u < 0 else ''}{abs(u) // 10**5}.{abs(u) % 10**5:05d}" for u in units]
    assert got == expected
    conn.rollback()


def test_a_table_of_values_is_numbers_only_when_the_server_reads_them_as_such() -> None:
    numbers = table_numbers(["0", "-30", " 7", "12"])
    assert numbers is not None and numbers.kind == "int"
    assert numbers.values.tolist() == [0, -30, 7, 12]
    truth = table_numbers(["t", "false", "TRUE"])
    assert truth is not None and truth.kind == "bool" and truth.values.tolist() == [1, 0, 1]
    for texts in (["1_000"], ["+5"], ["1.5"], ["abc"], [], [str(2**63)]):
        assert table_numbers(texts) is None, texts


PARTITIONED = """
DROP TABLE IF EXISTS events;
CREATE TABLE events (
    id bigint GENERATED ALWAYS AS IDENTITY,
    at timestamptz NOT NULL,
    kind text NOT NULL,
    amount numeric(8, 2)
) PARTITION BY RANGE (at);
CREATE TABLE events_old PARTITION OF events FOR VALUES FROM (MINVALUE) TO ('2021-01-01');
CREATE TABLE events_2021 PARTITION OF events FOR VALUES FROM ('2021-01-01') TO ('2022-01-01')
    PARTITION BY LIST (kind);
CREATE TABLE events_2021_click PARTITION OF events_2021 FOR VALUES IN ('click');
CREATE TABLE events_2021_other PARTITION OF events_2021 DEFAULT;
CREATE TABLE events_later PARTITION OF events DEFAULT;
"""
EVENTS = {
    "at": {"between": ["2019-06-01T00:00:00", "2023-01-01T00:00:00"]},
    "kind": {"choice": ["click", "view", "buy"]},
    "amount": {"float": [-100, 100], "decimals": 2, "null_fraction": 0.2},
}


@pytest.mark.parametrize("workers", [1, 2])
def test_partitioned_binary_rows_are_the_rows_text_gives(
    conn: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    """Routed into the leaves in binary, by the worker's runs (one worker) or relayed in
    batches (two): every leaf holds what text gives it, numbered as the parent's identity
    would have numbered the rows."""
    conn.execute(PARTITIONED)
    conn.commit()
    data = DataSpec.model_validate(
        {"seed": 2, "tables": {"events": {"rows": ROWS, "columns": EVENTS}}}
    )
    checksum = "SELECT md5(string_agg(e::text, ',' ORDER BY e.id)) FROM events e"
    leaves = "SELECT tableoid::regclass::text, count(*) FROM events GROUP BY 1 ORDER BY 1"

    def seeded() -> tuple[Any, Any]:
        _seed(conn, data, workers)
        return conn.execute(checksum).fetchone(), conn.execute(leaves).fetchall()

    monkeypatch.setenv("PGREHEARSE_SEED_BINARY", "0")
    as_text = seeded()
    monkeypatch.delenv("PGREHEARSE_SEED_BINARY")
    formats: list[bool] = []  # binary or not, for each COPY statement made
    real = _sink.copy_options

    def options(*, freeze: bool, binary: bool) -> Any:
        formats.append(binary)
        return real(freeze=freeze, binary=binary)

    monkeypatch.setattr(_sink, "copy_options", options)
    monkeypatch.setattr(_leaf_runs, "copy_options", options)
    as_binary = seeded()
    assert as_binary == as_text
    assert [leaf for leaf, _ in as_binary[1]] == [
        "events_2021_click",
        "events_2021_other",
        "events_later",
        "events_old",
    ]
    assert formats and all(formats)  # every leaf's COPY in binary


KEYED_TABLES = """
CREATE TABLE teams (id bigint NOT NULL, region text NOT NULL{team_keys});
CREATE TABLE members (
    team_id bigint NOT NULL, region text NOT NULL, user_no int NOT NULL{member_keys}
);
"""
TEAM_KEYS = ", PRIMARY KEY (id), UNIQUE (id, region)"
MEMBER_KEYS = (
    ", PRIMARY KEY (team_id, user_no), FOREIGN KEY (team_id, region) REFERENCES teams (id, region)"
)


def test_composite_keys_over_foreign_keys_go_in_binary(
    server: LocalServer, conn: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key over a composite foreign key (each row's pair taken from one referenced row,
    combinations distinct): planned on the schema with its keys, seeded where the keys are
    not yet built (as a rehearsal seeds before its post-data), the same rows either way."""
    with psycopg.connect(**server.connect_kwargs("postgres", "t"), autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS binary_catalog")
        admin.execute("CREATE DATABASE binary_catalog")
    keyed = KEYED_TABLES.format(team_keys=TEAM_KEYS, member_keys=MEMBER_KEYS)
    with psycopg.connect(**server.connect_kwargs("binary_catalog", "t")) as catalog:
        catalog.execute(keyed)
        catalog.commit()
        data = DataSpec.model_validate(
            {
                "seed": 4,
                "tables": {
                    "teams": {"rows": 300, "columns": {"region": {"choice": ["eu", "us"]}}},
                    "members": {"rows": 30_000},
                },
            }
        )
        plans = plan(catalog, data, 1.0)
    conn.execute("DROP TABLE IF EXISTS teams, members")
    conn.execute(KEYED_TABLES.format(team_keys="", member_keys=""))
    conn.commit()
    checksum = (
        "SELECT md5(string_agg(m::text, ',' ORDER BY m.team_id, m.user_no)), count(*),"
        " count(DISTINCT (m.team_id, m.user_no)),"
        " count(*) FILTER (WHERE NOT EXISTS"
        "  (SELECT FROM teams t WHERE t.id = m.team_id AND t.region = m.region))"
        " FROM members m"
    )

    def seeded() -> Any:
        conn.execute("TRUNCATE teams, members")
        conn.commit()
        seed_tables(conn, plans, seed=4, workers=0)
        return conn.execute(checksum).fetchone()

    monkeypatch.setenv("PGREHEARSE_SEED_BINARY", "0")
    as_text = seeded()
    monkeypatch.delenv("PGREHEARSE_SEED_BINARY")
    spy = BinaryBlocks(monkeypatch)
    as_binary = seeded()
    assert as_binary == as_text
    _, rows, distinct, orphans = as_binary
    assert rows == distinct == 30_000 and orphans == 0
    assert spy.binary == 3  # teams' one block, members' two
