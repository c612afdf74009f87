"""CHECK constraints, domains and defaulted enums: values built to satisfy them."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest

from pgrehearse import load_scenario
from pgrehearse.backends import LocalBackend, PostgresBinaries
from pgrehearse.errors import ScenarioError
from pgrehearse.rehearsal.seeded import SeededServer
from pgrehearse.seed import read_checks
from pgrehearse.seed._seeder import failing_column
from tests.helpers import seeding_scenario


def _seeded_row(path: Path, query: str) -> tuple[Any, ...]:
    """The one row `query` gives on the database seeded from the scenario at `path`."""
    with SeededServer.start(load_scenario(path)) as seeded:
        database = seeded.database()
        with database.connect() as conn:
            row = conn.execute(query).fetchone()
        database.drop()
    assert row is not None
    return tuple(row)


def test_the_common_check_forms_are_understood() -> None:
    facts = read_checks(
        [
            ("seats", "CHECK ((seats = ANY (ARRAY[1, 5, 20])))"),
            ("kind", "CHECK (((kind = 1) OR (kind = 2)))"),
            ("price", "CHECK (((price > (0)::numeric) AND (price <= (500)::numeric)))"),
            ("code", "CHECK ((char_length(code) = 3))"),
            ("span", "CHECK ((starts_at < ends_at))"),
            ("day", "CHECK ((launched >= '2021-06-01'::date))"),
            (
                "status",
                "CHECK (((status)::text = ANY ((ARRAY['a'::character varying, "
                "'b'::character varying])::text[])))",
            ),
            ("flipped", "CHECK ((0 < weight))"),
            ("regex", "CHECK ((email ~ '@'::text))"),
            ("like", "CHECK ((sku ~~ 'SKU-%'::text))"),
            ("unknown", "CHECK ((left(handle, 1) = 'x'::text))"),
            ("case", "CHECK (((iso)::text = upper((iso)::text)))"),
            # values folded before they are compared: those in that case already qualify
            ("folded", "CHECK ((upper((gender)::text) = ANY (ARRAY['M'::text, 'F'::text])))"),
            ("folded_one", "CHECK (('x'::text = lower(flag)))"),
            ("folded_mixed", "CHECK ((lower(tone) IN ('soft', 'LOUD')))"),
            # moments of now, at the end of the span inferred moments take (2026-01-01)
            ("adult", "CHECK ((born <= (now() - '18 years 6 mons'::interval)))"),
            ("recent", "CHECK (((CURRENT_DATE - 30) <= seen))"),
            ("odd", "CHECK ((checked <= (now() - '1 fortnight'::interval)))"),
            ("listed", "CHECK (('array'::text = jsonb_typeof(tags)))"),
            ("some", "CHECK ((jsonb_array_length(parts) > 0))"),
            (
                "few",
                "CHECK (((jsonb_array_length(steps) >= 2) AND (3 >= json_array_length(steps))))",
            ),
        ]
    )
    columns = facts.columns
    assert columns["seats"].allowed == [1, 5, 20]
    assert columns["kind"].allowed == [1, 2]
    price = columns["price"]
    assert price.low is not None and (price.low.value, price.low.inclusive) == (0, False)
    assert price.high is not None and (price.high.value, price.high.inclusive) == (500, True)
    assert (columns["code"].min_length, columns["code"].max_length) == (3, 3)
    assert facts.before == [("starts_at", "ends_at", True)]
    assert columns["launched"].low is not None and columns["launched"].low.value == "2021-06-01"
    assert columns["status"].allowed == ["a", "b"]
    weight = columns["weight"]
    assert weight.low is not None and (weight.low.value, weight.low.inclusive) == (0, False)
    assert columns["email"].pattern == "@"
    assert columns["sku"].pattern is not None and re.fullmatch(columns["sku"].pattern, "SKU-a1")
    assert columns["iso"].case == "upper"
    assert columns["gender"].allowed == ["M", "F"]
    assert columns["flag"].allowed == ["x"]
    assert columns["tone"].allowed == ["soft"]  # 'LOUD' is never what lower() gives
    born = columns["born"].high
    assert born is not None and (born.value, born.inclusive) == ("2007-07-01", True)
    seen = columns["seen"].low  # a bound to stay above: from the real today, a day on
    today = dt.date.today()
    assert seen is not None and seen.value == str(today + dt.timedelta(days=1 - 30))
    assert columns["tags"].json_type == "array"
    assert (columns["parts"].json_type, columns["parts"].items) == ("array", (1, None))
    assert (columns["steps"].json_type, columns["steps"].items) == ("array", (2, 3))
    assert facts.not_understood == ["unknown", "odd"]


@pytest.mark.parametrize(
    ("definition", "columns", "allowed"),
    [
        ("CHECK ((num_nonnulls(a, b) = 1))", ("a", "b"), {(True, False), (False, True)}),
        (
            "CHECK (((a IS NOT NULL) OR (b IS NOT NULL)))",
            ("a", "b"),
            {(True, False), (False, True), (True, True)},
        ),
        ("CHECK (((a IS NULL) = (b IS NULL)))", ("a", "b"), {(False, False), (True, True)}),
        ("CHECK (((a IS NULL) <> (b IS NULL)))", ("a", "b"), {(True, False), (False, True)}),
        (
            "CHECK ((((a IS NULL) AND (b IS NULL)) OR ((a IS NOT NULL) AND (b IS NOT NULL))))",
            ("a", "b"),
            {(False, False), (True, True)},
        ),
        (
            "CHECK ((num_nulls(a, b, c) >= 1))",
            ("a", "b", "c"),
            {p for p in itertools.product((False, True), repeat=3) if not all(p)},
        ),
        (
            "CHECK (((a IS NULL) OR (b IS NOT NULL)))",
            ("a", "b"),
            {(False, False), (False, True), (True, True)},
        ),
    ],
)
def test_checks_over_which_columns_are_null_are_read_as_patterns(
    definition: str, columns: tuple[str, ...], allowed: set[tuple[bool, ...]]
) -> None:
    facts = read_checks([("rule", definition)])
    [rule] = facts.null_rules
    assert rule.columns == columns
    assert rule.allowed == allowed
    assert facts.not_understood == []


def test_a_null_alternative_leaves_the_rest_to_build_or_the_column_null() -> None:
    facts = read_checks(
        [
            ("rating", "CHECK (((rating IS NULL) OR ((rating >= 1) AND (rating <= 5))))"),
            ("span", "CHECK (((ends_at IS NULL) OR (starts_at < ends_at)))"),
            ("closed", "CHECK (((status <> 'closed'::text) OR (closed_at IS NOT NULL)))"),
            ("cancelled", "CHECK (((status = 'cancelled'::text) OR (cancelled_at IS NULL)))"),
            ("published", "CHECK (((status = 'published'::text) = (published_at IS NOT NULL)))"),
            (
                "hidden",
                "CHECK (((hidden_at IS NULL) <> (state = ANY (ARRAY['hidden'::text, "
                "'banned'::text]))))",
            ),
            ("code", "CHECK (((code IS NULL) OR (code ~* '^[a-z]+$'::text)))"),
            ("own", "CHECK (((note IS NULL) OR (left(note, 1) = 'x'::text)))"),
            (
                "landed",
                "CHECK (((landed_at IS NULL) OR ((left_at IS NOT NULL) AND "
                "(landed_at IS NOT NULL) AND (landed_at > left_at))))",
            ),
        ]
    )
    rating = facts.columns["rating"]
    assert rating.low is not None and rating.high is not None
    assert (rating.low.value, rating.high.value) == (1, 5)
    # the rest, stronger than the CHECK, where it is about the column tested for NULL too
    assert facts.before == [("starts_at", "ends_at", True), ("left_at", "landed_at", True)]
    assert facts.columns["left_at"].not_null and facts.columns["landed_at"].not_null
    # a NULL test OR'd with a condition on one other column's values: NULL follows them
    closed, cancelled, published, hidden = facts.null_when
    assert (closed.column, closed.other, closed.values, closed.inside) == (
        "closed_at",
        "status",
        ("closed",),
        True,
    )
    assert closed.must == "value"  # where the status is closed, a value
    assert (cancelled.column, cancelled.values, cancelled.inside) == (
        "cancelled_at",
        ("cancelled",),
        True,
    )
    assert cancelled.must == "null"  # elsewhere, NULL
    # a NULL test equal to (or unlike) a condition on another column: a value exactly there
    assert (published.column, published.other, published.values, published.inside) == (
        "published_at",
        "status",
        ("published",),
        True,
    )
    assert (hidden.column, hidden.other, hidden.values, hidden.inside) == (
        "hidden_at",
        "state",
        ("hidden", "banned"),
        True,
    )
    other = read_checks([("x", "CHECK (((a > 5) OR (z IS NULL)))")])
    assert other.columns["z"].always_null  # a condition of another form: z stays NULL
    assert facts.columns["code"].pattern == "(?i)^[a-z]+$"
    assert facts.not_understood == ["own"]  # its other alternative is about the column too


SCHEMA = """
CREATE DOMAIN positive_int AS integer CHECK (VALUE > 0);
CREATE TYPE mood AS ENUM ('calm', 'busy', 'away');
CREATE TABLE gadgets (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind smallint NOT NULL DEFAULT 0 CHECK (kind = 1 OR kind = 2),
    seats integer NOT NULL CHECK (seats IN (1, 5, 20)),
    price numeric(8, 2) NOT NULL CHECK (price > 0 AND price <= 500),
    code text NOT NULL CHECK (char_length(code) = 3),
    weight positive_int NOT NULL,
    score integer NOT NULL CHECK (score BETWEEN -10 AND 10),
    mood mood NOT NULL DEFAULT 'calm',
    launched date NOT NULL CHECK (launched >= '2021-06-01'),
    stamp timestamptz NOT NULL CHECK (stamp < '2020-01-01 00:00:00+00'),
    born date NOT NULL CHECK (born >= '1930-01-01' AND born <= now() - '18 years'::interval),
    gender char(1) NOT NULL CHECK (upper(gender::text) = ANY (ARRAY['M'::text, 'F'::text])),
    valid_until timestamptz NOT NULL CHECK (valid_until > CURRENT_TIMESTAMP),
    labels jsonb NOT NULL CHECK (jsonb_typeof(labels) = 'array'),
    steps jsonb NOT NULL CHECK (jsonb_array_length(steps) BETWEEN 2 AND 3)
);
"""


def test_a_table_full_of_checks_seeds_from_rows_alone(tmp_path: Path, work_root: Path) -> None:
    (tmp_path / "schema.sql").write_text(SCHEMA)
    path = tmp_path / "scenario.yaml"
    path.write_text(
        "version: 1\nname: checks\nschema: schema.sql\n"
        "data: {tables: {gadgets: {rows: 3000}}}\n"
        "migration: {up: SELECT 1;}\n"
    )
    with SeededServer.start(load_scenario(path)) as seeded:
        database = seeded.database()
        with database.connect() as conn:
            row = conn.execute(
                """SELECT count(*), array_agg(DISTINCT kind ORDER BY kind),
                          array_agg(DISTINCT seats ORDER BY seats),
                          count(DISTINCT mood), min(weight), min(score), max(score),
                          min(price), max(price), min(launched) >= '2021-06-01',
                          bool_and(char_length(code) = 3), max(stamp) < '2020-01-01',
                          bool_and(born <= now() - interval '18 years'),
                          count(DISTINCT gender) = 2, bool_and(valid_until > now()),
                          count(DISTINCT labels) > 20,
                          count(DISTINCT jsonb_array_length(steps)) = 2
                   FROM gadgets"""
            ).fetchone()
            heap = conn.execute("SELECT pg_table_size('gadgets')").fetchone()
        database.drop()
    [table] = seeded.provisioning.tables
    assert heap is not None and table.heap_bytes == heap[0] > 0  # the seed's size report
    assert row is not None
    count, kinds, seats, moods, weight, low_score, high_score, cheapest, dearest, *rest = row
    assert count == 3000
    assert kinds == [1, 2]  # the CHECK's values, not the default 0
    assert seats == [1, 5, 20]
    assert moods == 3  # spread over the enum, not its default alone
    assert weight > 0  # the domain's CHECK
    assert -10 <= low_score < high_score <= 10
    assert 0 < cheapest < dearest <= 500
    assert rest == [True] * 8  # the CHECKs hold, or the seed had failed: varied arrays too


KEYS = """
CREATE TABLE members (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, handle text NOT NULL,
                      email text NOT NULL, deleted_at timestamptz);
CREATE UNIQUE INDEX members_handle ON members (lower(handle));
CREATE UNIQUE INDEX members_live_email ON members (email) WHERE deleted_at IS NULL;
CREATE TABLE books (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, title text NOT NULL);
CREATE TYPE shelf AS ENUM ('home', 'work', 'gift');
CREATE TABLE wishes (
    member_id bigint NOT NULL REFERENCES members (id),
    book_id bigint NOT NULL REFERENCES books (id),
    shelf shelf NOT NULL,
    PRIMARY KEY (member_id, book_id, shelf)
);
CREATE TABLE tags (member_id bigint NOT NULL REFERENCES members (id), slug text NOT NULL,
                   UNIQUE (member_id, slug));
"""


def _keys_scenario(folder: Path, wishes: int) -> Path:
    (folder / "schema.sql").write_text(KEYS)
    path = folder / "scenario.yaml"
    path.write_text(
        "version: 1\nname: keys\nschema: schema.sql\n"
        "data:\n  tables:\n"
        "    members: {rows: 60}\n    books: {rows: 40}\n"
        f"    wishes: {{rows: {wishes}}}\n    tags: {{rows: 500}}\n"
        "migration: {up: SELECT 1;}\n"
    )
    return path


def test_composite_partial_and_expression_unique_keys_seed_from_rows_alone(
    tmp_path: Path, work_root: Path
) -> None:
    # 60 members x 40 books x 3 shelves = 7,200 combinations for 7,000 wishes: nearly full
    with SeededServer.start(load_scenario(_keys_scenario(tmp_path, 7_000))) as seeded:
        database = seeded.database()
        with database.connect() as conn:
            counts = conn.execute(
                """SELECT (SELECT count(*) FROM wishes),
                          (SELECT count(DISTINCT (member_id, book_id, shelf)) FROM wishes),
                          (SELECT count(DISTINCT member_id) FROM wishes),
                          (SELECT count(*) FROM tags),
                          (SELECT count(*) FROM members)"""
            ).fetchone()
        database.drop()
    # the unique indexes were built after seeding: had any key repeated, seeding had failed
    assert counts == (7_000, 7_000, 60, 500, 60)


def test_a_composite_key_with_too_few_combinations_is_refused_by_name(
    tmp_path: Path, work_root: Path
) -> None:
    with pytest.raises(ScenarioError) as raised:
        SeededServer.start(load_scenario(_keys_scenario(tmp_path, 8_000)))
    text = str(raised.value)
    assert "(member_id, book_id, shelf)" in text and "7,200 distinct combinations" in text
    assert list(work_root.iterdir()) == []


PARTITIONED = """
CREATE TABLE accounts (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text NOT NULL);
CREATE TABLE events (
    id bigint GENERATED ALWAYS AS IDENTITY,
    happened_at timestamptz NOT NULL,
    region text NOT NULL,
    account_id bigint NOT NULL,
    PRIMARY KEY (id, happened_at, region)
) PARTITION BY RANGE (happened_at);
CREATE TABLE events_h1 PARTITION OF events
    FOR VALUES FROM ('2024-01-01') TO ('2024-07-01') PARTITION BY LIST (region);
CREATE TABLE events_h1_eu PARTITION OF events_h1 FOR VALUES IN ('eu');
CREATE TABLE events_h1_am PARTITION OF events_h1 FOR VALUES IN ('us', 'ca');
CREATE TABLE events_h2 PARTITION OF events
    FOR VALUES FROM ('2024-07-01') TO ('2025-01-01') PARTITION BY LIST (region);
CREATE TABLE events_h2_eu PARTITION OF events_h2 FOR VALUES IN ('eu');
CREATE TABLE events_h2_am PARTITION OF events_h2 FOR VALUES IN ('us', 'ca');
-- a foreign key declared on one partition only
ALTER TABLE events_h1_eu ADD FOREIGN KEY (account_id) REFERENCES accounts (id);
CREATE TABLE ledger (id bigint NOT NULL, cents integer NOT NULL) PARTITION BY HASH (id);
CREATE TABLE ledger_0 PARTITION OF ledger FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE ledger_1 PARTITION OF ledger FOR VALUES WITH (MODULUS 4, REMAINDER 1);
CREATE TABLE ledger_2 PARTITION OF ledger FOR VALUES WITH (MODULUS 4, REMAINDER 3);
CREATE TABLE shards (k integer NOT NULL, v text) PARTITION BY HASH (k);
CREATE TABLE shards_0 PARTITION OF shards FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE shards_1 PARTITION OF shards FOR VALUES WITH (MODULUS 2, REMAINDER 1);
CREATE TABLE counts (n integer NOT NULL, label text) PARTITION BY RANGE (n);
CREATE TABLE counts_low PARTITION OF counts FOR VALUES FROM (MINVALUE) TO (100);
CREATE TABLE counts_mid PARTITION OF counts FOR VALUES FROM (100) TO (200);
"""


def test_partitioned_tables_seed_into_every_partition_from_rows_alone(
    tmp_path: Path, work_root: Path
) -> None:
    (tmp_path / "schema.sql").write_text(PARTITIONED)
    path = tmp_path / "scenario.yaml"
    path.write_text(
        "version: 1\nname: parted\nschema: schema.sql\n"
        "data:\n  tables:\n"
        "    accounts: {rows: 50}\n    events: {rows: 4000}\n"
        "    ledger: {rows: 900}\n    counts: {rows: 500}\n    shards: {rows: 300}\n"
        "migration: {up: SELECT 1;}\n"
    )
    with SeededServer.start(load_scenario(path)) as seeded:
        database = seeded.database()
        with database.connect() as conn:
            leaves = dict(
                conn.execute(
                    """SELECT c.relname, (xpath('/row/n/text()',
                              query_to_xml(format('SELECT count(*) AS n FROM %I', c.relname),
                                           false, true, '')))[1]::text::int
                       FROM pg_class c
                       WHERE c.relispartition AND c.relkind = 'r'"""
                ).fetchall()
            )
            # every tree here is copied leaf by leaf WITH (FREEZE): a row copied into the
            # wrong leaf would have failed its partition constraint
            conn.execute("CREATE EXTENSION pg_visibility")
            frozen = dict(
                conn.execute(
                    """SELECT c.relname,
                              (pg_visibility_map_summary(c.oid)).all_frozen
                              = pg_relation_size(c.oid) / current_setting('block_size')::int
                       FROM pg_class c
                       WHERE c.relispartition AND c.relkind = 'r'"""
                ).fetchall()
            )
            # the parent's identity numbered the rows and moved on, as inserts would have
            inserted = conn.execute(
                "INSERT INTO events (happened_at, region, account_id) "
                "VALUES ('2024-03-01', 'eu', 1) RETURNING id"
            ).fetchone()
            distinct_ids = conn.execute("SELECT count(DISTINCT id) FROM events").fetchone()
        database.drop()
    assert frozen == dict.fromkeys(leaves, True), frozen
    assert inserted == (4001,) and distinct_ids == (4001,)
    assert set(leaves) == {
        "events_h1_eu",
        "events_h1_am",
        "events_h2_eu",
        "events_h2_am",
        "ledger_0",
        "ledger_1",
        "ledger_2",
        "counts_low",
        "counts_mid",
        "shards_0",
        "shards_1",
    }
    assert all(rows > 0 for rows in leaves.values()), leaves  # every partition got rows
    assert sum(leaves[n] for n in leaves if n.startswith("events")) == 4000
    assert leaves["counts_low"] + leaves["counts_mid"] == 500
    assert sum(leaves[n] for n in leaves if n.startswith("ledger")) == 900
    # modulus 2 takes half the hashes, each modulus-4 partition a quarter
    assert leaves["ledger_0"] == pytest.approx(450, abs=60), leaves
    assert leaves["shards_0"] + leaves["shards_1"] == 300


DEFAULTS_AND_NULLS = """
CREATE TABLE readings (
    id bigint NOT NULL,
    kind integer NOT NULL,
    taken_on date
) PARTITION BY LIST (kind);
CREATE TABLE readings_common PARTITION OF readings FOR VALUES IN (1, 2)
    PARTITION BY RANGE (taken_on);
CREATE TABLE readings_common_old PARTITION OF readings_common
    FOR VALUES FROM (MINVALUE) TO ('2020-01-01');
CREATE TABLE readings_common_new PARTITION OF readings_common
    FOR VALUES FROM ('2020-01-01') TO (MAXVALUE);
CREATE TABLE readings_common_undated PARTITION OF readings_common DEFAULT;
CREATE TABLE readings_rare PARTITION OF readings FOR VALUES IN (3);
CREATE TABLE readings_other PARTITION OF readings DEFAULT;
"""


def test_rows_go_straight_to_default_and_null_taking_leaves(
    tmp_path: Path, work_root: Path
) -> None:
    (tmp_path / "schema.sql").write_text(DEFAULTS_AND_NULLS)
    path = tmp_path / "scenario.yaml"
    path.write_text(
        "version: 1\nname: readings\nschema: schema.sql\n"
        "data:\n  tables:\n    readings:\n      rows: 30000\n      columns:\n"
        "        id: {sequence: 1}\n        kind: {int: [1, 5]}\n"
        "        taken_on: {between: [2015-01-01, 2025-01-01], null_fraction: 0.1}\n"
        "migration: {up: SELECT 1;}\n"
    )
    # each leaf checks its own bound on a direct COPY: a misrouted row fails the seed
    with SeededServer.start(load_scenario(path)) as seeded:
        database = seeded.database()
        with database.connect() as conn:
            conn.execute("CREATE EXTENSION pg_visibility")
            leaves = conn.execute(
                """SELECT c.relname,
                          (pg_visibility_map_summary(c.oid)).all_frozen
                          = pg_relation_size(c.oid) / current_setting('block_size')::int,
                          (SELECT count(*) FROM readings r WHERE r.tableoid = c.oid)
                   FROM pg_class c WHERE c.relispartition AND c.relkind = 'r'
                   ORDER BY c.relname"""
            ).fetchall()
        database.drop()
    assert [name for name, _frozen, _rows in leaves] == [
        "readings_common_new",
        "readings_common_old",
        "readings_common_undated",
        "readings_other",
        "readings_rare",
    ]
    assert all(frozen and rows > 0 for _name, frozen, rows in leaves), leaves
    assert sum(rows for _name, _frozen, rows in leaves) == 30000


def test_a_seeding_error_keeps_postgresql_detail(tmp_path: Path, work_root: Path) -> None:
    (tmp_path / "schema.sql").write_text(PARTITIONED)
    path = tmp_path / "scenario.yaml"
    path.write_text(
        "version: 1\nname: parted\nschema: schema.sql\n"
        "data:\n  tables:\n"
        "    counts:\n      rows: 500\n      columns: {n: {int: [150, 900]}}\n"
        "migration: {up: SELECT 1;}\n"
    )
    with pytest.raises(ScenarioError) as raised:
        SeededServer.start(load_scenario(path))
    [problem] = raised.value.problems
    assert "no partition of relation" in problem.message
    assert "Partition key of the failing row contains (n)" in problem.message  # the DETAIL
    assert problem.line == 6  # the counts table's line


def test_a_value_the_server_refuses_names_its_column_and_points_at_it(
    tmp_path: Path, work_root: Path
) -> None:
    path = seeding_scenario(
        tmp_path,
        "CREATE TABLE tickets (id int PRIMARY KEY, code varchar(3), seat int NOT NULL);",
        "\n  tables:\n    tickets:\n      rows: 50\n      columns:\n"
        "        seat: {int: [1, 9]}\n"
        "        code: {sql: \"repeat('x', 2 + (r1 * 3)::int)\"}",
    )
    with pytest.raises(ScenarioError) as raised:
        SeededServer.start(load_scenario(path))
    [problem] = raised.value.problems
    # the server names no column for a value too long: its COPY context does
    assert "value too long for type character varying(3)" in problem.message
    assert "column 'code'" in problem.message
    assert problem.line == 10  # the code column's line


def test_the_failing_column_is_read_from_the_copy_context() -> None:
    columns = {"code", "my col", "note"}
    assert failing_column("seat", None, columns) == "seat"  # the server named it
    text = 'COPY tickets, line 3, column code: "xxxx"'
    assert failing_column(None, text, columns) == "code"
    assert failing_column(None, "COPY tickets, line 1, column my col: null input", columns) == (
        "my col"
    )
    assert failing_column(None, "COPY t_2022, line 7, column note", columns) == "note"  # binary
    assert failing_column(None, 'COPY tickets, line 3: "1\t2"', columns) is None
    assert failing_column(None, 'COPY tickets, line 3, column other: "x"', columns) is None


def test_the_columns_of_a_composite_key_make_distinct_combinations() -> None:
    import numpy as np

    from pgrehearse.scenario import ChoiceColumn, IntColumn
    from pgrehearse.seed import Combination, GeneratorContext, build_generator

    rng = np.random.default_rng(0)
    number = IntColumn.model_validate({"int": [1, 10]})
    letter = ChoiceColumn(choice=["a", "b", "c"])
    columns = [
        build_generator(spec, GeneratorContext(1, "t", name, 30, combination=combination))
        for name, spec, combination in (
            ("n", number, Combination(salt=7, span=30, divisor=1, size=10)),
            ("l", letter, Combination(salt=7, span=30, divisor=10, size=3)),
        )
    ]
    pairs = list(zip(*(c.values(0, 30, rng) for c in columns), strict=True))
    assert len(set(pairs)) == 30  # every one of the 10 x 3 combinations, once
    assert {n for n, _ in pairs} == {str(i) for i in range(1, 11)}
    assert {letter for _, letter in pairs} == {"a", "b", "c"}


TYPES = """
CREATE EXTENSION ltree;
CREATE EXTENSION hstore;
CREATE TYPE postal AS (street text, house int, zip varchar(5), since date, checked boolean);
CREATE TABLE shapes (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tree ltree NOT NULL,
    attrs hstore NOT NULL,
    home postal NOT NULL,
    words tsvector NOT NULL,
    doc xml NOT NULL,
    blob bytea NOT NULL,
    spot point NOT NULL,
    area box NOT NULL,
    ring circle NOT NULL,
    outline polygon NOT NULL,
    seats int4range NOT NULL,
    stay daterange NOT NULL,
    slot tstzrange NOT NULL,
    device macaddr NOT NULL,
    flags bit(12) NOT NULL,
    mask varbit(200) NOT NULL,
    net cidr NOT NULL,
    wait interval NOT NULL,
    price money NOT NULL,
    custom_spot point NOT NULL,
    query tsquery NOT NULL,
    large_object oid NOT NULL,
    position pg_lsn NOT NULL,
    busy int4multirange NOT NULL,
    away tstzmultirange NOT NULL,
    grade "char" NOT NULL
);
"""


def test_types_no_plain_generator_makes_get_real_varied_values(
    tmp_path: Path, work_root: Path
) -> None:
    path = seeding_scenario(
        tmp_path,
        TYPES,
        "\n  tables:\n    shapes:\n      rows: 2000\n"
        "      columns: {custom_spot: {sql: 'point(r1, -r2)', pool: 50}}",
    )
    distinct = _seeded_row(
        path,
        """SELECT count(DISTINCT words), count(DISTINCT blob),
                          count(DISTINCT length(blob)), count(DISTINCT spot::text),
                          count(DISTINCT seats), count(DISTINCT slot), count(DISTINCT device),
                          count(DISTINCT flags), count(DISTINCT length(mask)),
                          count(DISTINCT (home).street), count(DISTINCT (home).house),
                          count(DISTINCT (home).since), count(DISTINCT query),
                          count(DISTINCT large_object), count(DISTINCT position),
                          count(DISTINCT busy), count(DISTINCT away), count(DISTINCT grade),
                          count(DISTINCT tree), count(DISTINCT nlevel(tree)),
                          count(DISTINCT attrs::text), count(DISTINCT akeys(attrs)::text),
                          count(DISTINCT custom_spot::text),
                          bool_and(custom_spot[0] >= 0 AND custom_spot[1] <= 0)
                   FROM shapes""",
    )
    *counts, custom_spots, custom_ok = distinct
    *counts, levels, attrs, keys = counts
    assert all(count > 5 for count in counts), counts  # varied, not one constant
    assert levels == 1 and attrs > 5 and keys > 2  # ltree paths, hstore pairs of varied keys
    assert 1 < custom_spots <= 50 and custom_ok  # the user's expression, from its pool


UNDECLARED_REFERENCES = """
CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL);
CREATE TABLE categories (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE "groups" (id bigserial PRIMARY KEY, post_id bigint);
CREATE TABLE posts (
    id bigserial PRIMARY KEY,
    user_id integer NOT NULL,
    category_id bigint,
    group_id bigint NOT NULL,
    editor_id bigint,
    rank_id smallint,
    score_id int CHECK (score_id > 5)
);
CREATE TABLE memberships (user_id bigint NOT NULL, category_id int NOT NULL,
    UNIQUE (user_id, category_id));
"""


def test_a_reference_only_a_name_implies_takes_the_tables_keys(
    tmp_path: Path, work_root: Path
) -> None:
    from pgrehearse.rehearsal.plan import plan_seeding

    path = seeding_scenario(
        tmp_path,
        UNDECLARED_REFERENCES,
        "\n  tables:\n"
        "    users: {rows: 40}\n    categories: {rows: 7}\n    groups: {rows: 30}\n"
        "    posts: {rows: 3000}\n    memberships: {rows: 200}",
    )
    plans = {t.name: t for t in plan_seeding(load_scenario(path)).tables}
    posts = {c.name: c.generator or {} for c in plans["posts"].columns}
    assert posts["user_id"] == {"ref": "users.id"}  # an int4 column takes bigint keys
    assert posts["category_id"] == {"ref": "categories.id"}
    # no such table; keys that might not fit a smallint; a CHECK's own range
    assert "ref" not in posts["editor_id"] and "ref" not in posts["rank_id"]
    assert posts["score_id"] == {"int": [6, 1_000_000]}
    # groups.post_id -> posts and posts.group_id -> groups close a cycle: the second
    # planned goes back to plain numbers, and the plan says why
    assert {c.name: c.generator for c in plans["groups"].columns}["post_id"] == {"ref": "posts.id"}
    assert "ref" not in posts["group_id"]
    assert any("group_id keeps plain numbers" in note for note in plans["posts"].notes)
    # a unique key over the columns: combinations the referenced tables may not have
    memberships = {c.name: c.generator or {} for c in plans["memberships"].columns}
    assert "ref" not in memberships["user_id"] and "ref" not in memberships["category_id"]
    joined = _seeded_row(
        path,
        "SELECT count(*), count(DISTINCT p.user_id) FROM posts p JOIN users u ON u.id = p.user_id",
    )
    assert joined == (3000, 40)  # every post's user exists, and every user has posts


POLYMORPHIC = """
CREATE TABLE posts (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, title text NOT NULL);
CREATE TABLE photos (id serial PRIMARY KEY, url text NOT NULL);
CREATE TABLE comments (
    id bigserial PRIMARY KEY,
    commentable_type varchar NOT NULL,
    commentable_id bigint NOT NULL,
    body text NOT NULL
);
CREATE TABLE likes (id bigserial PRIMARY KEY, "likeableType" text, "likeableId" bigint);
CREATE TABLE taggings (taggable_type varchar NOT NULL, taggable_id bigint NOT NULL);
"""


def test_a_polymorphic_id_is_a_key_of_the_table_its_type_names(
    tmp_path: Path, work_root: Path
) -> None:
    """Inferred for `commentable_id` beside `commentable_type`; written by hand for likes,
    with a type that names no table (its rows get NULL). The server says whether every
    (type, id) pair is a row of the table the type names."""
    from pgrehearse.rehearsal.plan import plan_seeding

    path = seeding_scenario(
        tmp_path,
        POLYMORPHIC,
        "\n  tables:\n"
        "    posts: {rows: 300}\n    photos: {rows: 2000}\n    comments: {rows: 4000}\n"
        "    likes:\n      rows: 1000\n      columns:\n"
        "        likeableType: {choice: [Post, Gone]}\n"
        "        likeableId: {refs: {Post: posts.id}, by: likeableType}\n"
        "    taggings:\n      rows: 500\n      columns:\n"
        "        taggable_type: {choice: ['App\\Models\\Photo', 'Shop::Post']}",
    )
    plans = {t.name: t for t in plan_seeding(load_scenario(path)).tables}
    comments = {c.name: c.generator or {} for c in plans["comments"].columns}
    assert comments["commentable_id"] == {
        "refs": {"Like": "likes.id", "Photo": "photos.id", "Post": "posts.id"},
        "by": "commentable_type",
    }
    assert any("a polymorphic reference" in note for note in plans["comments"].notes)
    taggings = {c.name: c.generator or {} for c in plans["taggings"].columns}
    assert taggings["taggable_id"] == {  # a class with its namespace names the same models
        "refs": {"App\\Models\\Photo": "photos.id", "Shop::Post": "posts.id"},
        "by": "taggable_type",
    }
    found = _seeded_row(
        path,
        """SELECT count(*),
                  count(*) FILTER (WHERE commentable_type = 'Post'
                      AND commentable_id IN (SELECT id FROM posts)),
                  count(*) FILTER (WHERE commentable_type = 'Photo'
                      AND commentable_id IN (SELECT id FROM photos)),
                  count(*) FILTER (WHERE commentable_type = 'Like'
                      AND commentable_id IN (SELECT id FROM likes)),
                  count(DISTINCT commentable_id) FILTER (WHERE commentable_type = 'Photo'),
                  (SELECT count(*) FILTER (WHERE "likeableType" = 'Post'
                      AND "likeableId" IN (SELECT id FROM posts)) FROM likes),
                  (SELECT count(*) FILTER (WHERE "likeableType" = 'Post') FROM likes),
                  (SELECT count(*) FILTER (WHERE "likeableType" = 'Gone'
                      AND "likeableId" IS NULL) FROM likes),
                  (SELECT count(*) FILTER (WHERE "likeableType" = 'Gone') FROM likes)
           FROM comments""",
    )
    total, posts, photos, likes, distinct_photos, liked, liked_posts, gone_null, gone = found
    assert total == 4000 and posts > 0 and photos > 0 and likes > 0
    assert posts + photos + likes == total  # every (type, id) is a row of its table
    assert distinct_photos > 300  # keys beyond the smaller table's: each table's own keys
    assert liked == liked_posts > 0 and gone_null == gone > 0


THROUGH_DOMAINS_AND_ARRAYS = """
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', 'elated');
CREATE DOMAIN tag_list AS text[];
CREATE DOMAIN short_code AS varchar(6) CHECK (VALUE ~ '^[A-Z0-9]+$');
CREATE DOMAIN price AS numeric(5, 2);
CREATE DOMAIN positive_price AS price CHECK (VALUE > 0);
CREATE DOMAIN small_price AS positive_price CHECK (VALUE < 10);
CREATE DOMAIN sku AS short_code;
CREATE DOMAIN stamp AS timestamptz NOT NULL;
CREATE TABLE posts (
    id int PRIMARY KEY,
    moods mood[] NOT NULL,
    tags tag_list,
    code short_code NOT NULL,
    cost price NOT NULL,
    fee small_price NOT NULL,
    item sku NOT NULL,
    deleted_at stamp
);
"""


def test_arrays_of_enums_and_domains_over_arrays_and_lengths_get_values(
    tmp_path: Path, work_root: Path
) -> None:
    path = seeding_scenario(tmp_path, THROUGH_DOMAINS_AND_ARRAYS, "{tables: {posts: {rows: 3000}}}")
    moods, tagged, longest_code, highest_cost, costs = _seeded_row(
        path,
        """SELECT (SELECT count(DISTINCT m) FROM posts, unnest(moods) AS m),
                  count(*) FILTER (WHERE cardinality(tags) > 0),
                  max(length(code)), max(cost), count(DISTINCT cost)
           FROM posts""",
    )
    # a domain over a domain: the CHECKs of each, the innermost's numeric(5, 2) and varchar
    fees, lowest_fee, highest_fee, longest_item, deleted = _seeded_row(
        path,
        "SELECT count(DISTINCT fee), min(fee), max(fee), max(length(item)), count(deleted_at)"
        " FROM posts",
    )
    assert fees > 100 and lowest_fee > 0 and highest_fee < 10 and longest_item <= 6
    assert deleted == 3000  # a NOT NULL domain: a value in every row, whatever the name says
    assert moods == 4  # every label of the enum, in arrays
    assert tagged > 1000  # a domain over text[]: arrays, not NULL
    assert longest_code <= 6  # the domain's varchar(6), with its CHECK
    assert highest_cost < 1000 and costs > 100  # numeric(5, 2) through its domain


def test_unique_keys_of_fixed_length_text_and_server_made_types_are_distinct(
    tmp_path: Path, work_root: Path
) -> None:
    """char(n) keys of every length: a hash's for `token`, numbered text for others (char
    pads the shorter values, which stay distinct), codes for the short ones; unique keys of
    types whose values the server makes (bytea, inet, cidr, macaddr), and of numbers,
    times and intervals."""
    path = seeding_scenario(
        tmp_path,
        "CREATE TABLE sessions (token char(64) PRIMARY KEY, handle char(24) UNIQUE,"
        " tag char(8) UNIQUE, note char(10), digest bytea UNIQUE, ip inet UNIQUE,"
        " net cidr UNIQUE, device macaddr UNIQUE, price numeric(12, 2) UNIQUE,"
        " at time UNIQUE, wait interval UNIQUE, score float8 UNIQUE);",
        "{tables: {sessions: {rows: 5000}}}",
    )
    counts = _seeded_row(
        path,
        "SELECT count(DISTINCT token), count(DISTINCT handle), count(DISTINCT tag),"
        " count(*) FILTER (WHERE token ~ '^[0-9a-f]{64}$'), count(DISTINCT digest),"
        " count(DISTINCT ip), count(DISTINCT net), count(DISTINCT device),"
        " min(length(digest)), count(DISTINCT price), count(DISTINCT at),"
        " count(DISTINCT wait), count(DISTINCT score) FROM sessions",
    )
    # and types whose values the server makes in a pool: unique ones take a pattern
    assert counts == (5000,) * 8 + (32,) + (5000,) * 4


def test_json_keys_a_unique_index_reads_are_numbered(tmp_path: Path, work_root: Path) -> None:
    """An external system's id kept in the document, unique by an index on `->>`: the key
    the index reads is numbered (a JSON key named like a column is not that column)."""
    from pgrehearse.rehearsal.plan import plan_seeding

    path = seeding_scenario(
        tmp_path,
        "CREATE TABLE events (id bigserial PRIMARY KEY, payload jsonb NOT NULL,"
        " meta jsonb NOT NULL, doc jsonb NOT NULL);\n"
        "CREATE UNIQUE INDEX ON events ((payload ->> 'id'));\n"
        "CREATE UNIQUE INDEX ON events (((meta -> 'source') ->> 'ref'));\n"
        "CREATE UNIQUE INDEX ON events (doc);",
        "{tables: {events: {rows: 5000}}}",
    )
    [events] = plan_seeding(load_scenario(path)).tables
    generators = {c.name: c.generator or {} for c in events.columns}
    assert generators["payload"] == {
        "json": {"id": {"sequence": 1}, "tag": {"choice": ["a", "b", "c"]}}
    }
    assert generators["meta"]["json"]["source"] == {"json": {"ref": {"sequence": 1}}}
    assert generators["doc"]["json"]["id"] == {"sequence": 1}  # the whole document
    counts = _seeded_row(
        path,
        "SELECT count(DISTINCT payload ->> 'id'), count(DISTINCT meta -> 'source' ->> 'ref'),"
        " count(DISTINCT doc) FROM events",
    )
    assert counts == (5000, 5000, 5000)


def test_a_column_named_in_a_string_is_not_mentioned() -> None:
    from pgrehearse.seed._catalog import mentions

    assert not mentions("(payload ->> 'id'::text)", "id")
    assert mentions("(payload ->> 'id'::text)", "payload")
    assert mentions('lower(("Email")::text)', "Email")
    assert not mentions("(a || 'it''s id')", "id")


def test_values_a_check_excludes_are_left_out(tmp_path: Path, work_root: Path) -> None:
    """`<> 0` at the end of a range moves the range off it; `<>`, `NOT IN` and `<> ALL`
    over an enum take the labels out of its choice."""
    facts = read_checks(
        [("gone", "CHECK ((status <> ALL (ARRAY['deleted'::text, 'banned'::text])))")]
    )
    assert facts.columns["status"].not_equal == ["deleted", "banned"]
    path = seeding_scenario(
        tmp_path,
        "CREATE TYPE state AS ENUM ('new', 'active', 'deleted', 'banned');\n"
        "CREATE TABLE scores (id int PRIMARY KEY,\n"
        "    points int NOT NULL CHECK (points <> 0 AND points <= 3),\n"
        "    amount numeric(6, 2) NOT NULL CHECK (amount <> 0 AND amount <= 0.05),\n"
        "    status state NOT NULL CHECK (status NOT IN ('deleted', 'banned')),\n"
        "    mood state NOT NULL CHECK (mood <> 'new'));",
        "{tables: {scores: {rows: 3000}}}",
    )
    points, amounts, statuses, moods = _seeded_row(
        path,
        "SELECT array_agg(DISTINCT points ORDER BY points), count(DISTINCT amount),"
        " array_agg(DISTINCT status::text ORDER BY status::text),"
        " array_agg(DISTINCT mood::text ORDER BY mood::text) FROM scores",
    )
    assert points == [1, 2, 3] and amounts == 5
    assert statuses == ["active", "new"] and moods == ["active", "banned", "deleted"]


SHORT_CODES = """
CREATE TABLE ports (code char(3) PRIMARY KEY, gate varchar(2) NOT NULL UNIQUE);
CREATE TABLE flights (
    number char(6) NOT NULL,
    leaves timestamptz NOT NULL,
    port char(3) NOT NULL REFERENCES ports (code),
    UNIQUE (number, leaves)
);
CREATE TABLE tags (letter char(1) PRIMARY KEY);
CREATE TABLE levels (id smallint PRIMARY KEY);
"""


def test_short_unique_codes_fit_their_columns(tmp_path: Path, work_root: Path) -> None:
    from pgrehearse.rehearsal.plan import plan_seeding

    (tmp_path / "schema.sql").write_text(SHORT_CODES)
    path = tmp_path / "scenario.yaml"
    path.write_text(
        "version: 1\nname: codes\nschema: schema.sql\n"
        "data: {tables: {ports: {rows: 1000}, flights: {rows: 3000}, tags: {rows: 100},"
        " levels: {rows: 40000}}}\n"
        "migration: {up: SELECT 1;}\n"
    )
    with pytest.raises(ScenarioError) as raised:  # 36 one-character values for 100 rows
        plan_seeding(load_scenario(path))
    smallints, letters = sorted(raised.value.problems, key=lambda p: p.message)
    # 32,767 smallints at most for 40,000 rows
    assert "levels.id (smallint) holds at most 32,767" in smallints.message
    assert (
        "tags.letter must be unique" in letters.message
        and "makes only 36 values, for 100 rows" in letters.message
    )
    path.write_text(
        path.read_text()
        .replace("tags: {rows: 100}", "tags: {rows: 20}")
        .replace("levels: {rows: 40000}", "levels: {rows: 30000}")
    )
    with SeededServer.start(load_scenario(path)) as seeded:
        database = seeded.database()
        with database.connect() as conn:
            row = conn.execute(
                """SELECT bool_and(code ~ '^[A-Z]{3}$'), bool_and(gate ~ '^[A-Z0-9]{2}$'),
                          (SELECT count(DISTINCT number) FROM flights),
                          (SELECT max(length(number)) FROM flights)
                   FROM ports"""
            ).fetchone()
        database.drop()
    # letters where they have values enough (26^3 for 1,000 ports), digits too where not
    # (26^2 < 1,000 gates); the flight's key made distinct by its moment, not its number
    assert row is not None and row[:2] == (True, True)
    assert row[2] < 3000 and row[3] <= 6


KEYS_THROUGH_EXPRESSIONS = """
CREATE TABLE readings (sensor int NOT NULL, taken_at timestamptz NOT NULL)
    PARTITION BY RANGE (date_trunc('month', taken_at AT TIME ZONE 'UTC'));
CREATE TABLE readings_jan PARTITION OF readings FOR VALUES FROM ('2024-01-01') TO ('2024-02-01');
CREATE TABLE readings_feb PARTITION OF readings FOR VALUES FROM ('2024-02-01') TO ('2024-03-01');
CREATE TABLE regional (region text NOT NULL, v int) PARTITION BY LIST (lower(region));
CREATE TABLE regional_eu PARTITION OF regional FOR VALUES IN ('eu');
CREATE TABLE regional_us PARTITION OF regional FOR VALUES IN ('us', 'ca');
CREATE TABLE sales (yr int NOT NULL, mo int NOT NULL, amount numeric(10, 2) NOT NULL)
    PARTITION BY RANGE (yr, mo);
CREATE TABLE sales_h1 PARTITION OF sales FOR VALUES FROM (2024, 1) TO (2024, 7);
CREATE TABLE sales_h2 PARTITION OF sales FOR VALUES FROM (2024, 7) TO (2025, 1);
"""


def test_partition_keys_through_expressions_seed_and_keys_of_several_columns_are_asked_for(
    tmp_path: Path, work_root: Path
) -> None:
    from pgrehearse.rehearsal.plan import plan_seeding

    (tmp_path / "schema.sql").write_text(KEYS_THROUGH_EXPRESSIONS)
    path = tmp_path / "scenario.yaml"
    path.write_text(
        "version: 1\nname: keys\nschema: schema.sql\n"
        "data: {tables: {readings: {rows: 2000}, regional: {rows: 2000}, sales: {rows: 2000}}}\n"
        "migration: {up: SELECT 1;}\n"
    )
    with pytest.raises(ScenarioError) as raised:
        plan_seeding(load_scenario(path))
    [problem] = raised.value.problems
    assert "partitioned by (yr, mo)" in problem.message and "FROM (2024, 1)" in problem.message
    assert problem.hint is not None and "yr, mo" in problem.hint
    path.write_text(
        path.read_text().replace(
            "sales: {rows: 2000}",
            "sales: {rows: 2000, columns: {yr: {value: 2024}, mo: {int: [1, 12]}}}",
        )
    )
    with SeededServer.start(load_scenario(path)) as seeded:
        database = seeded.database()
        with database.connect() as conn:
            counts = dict(
                conn.execute(
                    "SELECT c.relname, (xpath('/row/n/text()', query_to_xml("
                    "format('SELECT count(*) AS n FROM %I', c.relname), false, true, '')))[1]"
                    "::text::int FROM pg_class c WHERE c.relkind = 'r'"
                    " AND c.relnamespace = 'public'::regnamespace ORDER BY 1"
                ).fetchall()
            )
            heap = conn.execute(
                "SELECT pg_table_size('readings_jan') + pg_table_size('readings_feb')"
            ).fetchone()
        database.drop()
    sizes = {t.table: t.heap_bytes for t in seeded.provisioning.tables}
    assert heap is not None and sizes["readings"] == heap[0] > 0  # its partitions' sizes
    assert set(counts) == {
        "readings_jan",
        "readings_feb",
        "regional_eu",
        "regional_us",
        "sales_h1",
        "sales_h2",
    }
    assert all(n > 0 for n in counts.values()), counts  # every partition got rows
    assert counts["readings_jan"] + counts["readings_feb"] == 2000


MOMENTS = """
CREATE TABLE rentals (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rental_date timestamptz NOT NULL,
    return_date timestamptz NOT NULL,
    starts_at timestamp NOT NULL,
    finish timestamp NOT NULL,
    created_on date NOT NULL,
    updated_on date NOT NULL,
    paid_at timestamptz NOT NULL,
    CHECK (starts_at < finish)
);
"""


def test_a_rows_moments_keep_their_order(tmp_path: Path, work_root: Path) -> None:
    (tmp_path / "schema.sql").write_text(MOMENTS)
    path = tmp_path / "scenario.yaml"
    path.write_text(
        "version: 1\nname: moments\nschema: schema.sql\n"
        "data:\n  tables:\n    rentals:\n      rows: 3000\n"
        "      columns: {paid_at: {after: return_date, within: 2d, min_gap: 1h}}\n"
        "migration: {up: SELECT 1;}\n"
    )
    with SeededServer.start(load_scenario(path)) as seeded:
        database = seeded.database()
        with database.connect() as conn:
            row = conn.execute(
                """SELECT bool_and(rental_date <= return_date),
                          bool_and(starts_at < finish),
                          bool_and(created_on <= updated_on),
                          bool_and(paid_at - return_date BETWEEN interval '1 hour'
                                                           AND interval '2 days'),
                          count(DISTINCT return_date - rental_date) > 100
                   FROM rentals"""
            ).fetchone()
        database.drop()
    assert row == (True, True, True, True, True)


TIMES_OF_DAY = """
CREATE TABLE opening_hours (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    weekday smallint NOT NULL CHECK (weekday BETWEEN 0 AND 6),
    opens time NOT NULL,
    closes time NOT NULL,
    shift_start time NOT NULL CHECK (shift_start >= '06:00'),
    shift_end timetz NOT NULL,
    lunch time NOT NULL,
    CHECK (opens < closes),
    CHECK (shift_start::time < shift_end::time)
);
CREATE TABLE tickets (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at timestamptz NOT NULL,
    solved_at timestamptz,
    published_on date,
    created_on date NOT NULL
);
"""


def test_times_of_day_keep_their_order_and_events_follow_creation(
    tmp_path: Path, work_root: Path
) -> None:
    """`opens < closes` over times of day: the earlier keeps to the first half of the day,
    the later follows it before midnight; `between` takes times; a ticket is solved after
    it was created."""
    (tmp_path / "schema.sql").write_text(TIMES_OF_DAY)
    path = tmp_path / "scenario.yaml"
    path.write_text(
        "version: 1\nname: hours\nschema: schema.sql\n"
        "data:\n  tables:\n    opening_hours:\n      rows: 3000\n"
        "      columns: {lunch: {between: [11:30, 14:00]}}  # text, not YAML 1.1's 690, 840\n"
        "    tickets: {rows: 2000}\n"
        "migration: {up: SELECT 1;}\n"
    )
    with SeededServer.start(load_scenario(path)) as seeded:
        database = seeded.database()
        with database.connect() as conn:
            row = conn.execute(
                """SELECT bool_and(opens < closes), count(DISTINCT closes - opens) > 1000,
                          bool_and(shift_start >= '06:00' AND shift_start < shift_end::time),
                          min(lunch) >= '11:30' AND max(lunch) <= '14:00',
                          count(DISTINCT lunch) > 1000
                   FROM opening_hours"""
            ).fetchone()
            events = conn.execute(
                """SELECT bool_and(solved_at >= created_at), count(solved_at) > 0,
                          bool_and(published_on >= created_on)
                   FROM tickets"""
            ).fetchone()
        database.drop()
    assert row == (True, True, True, True, True)
    assert events == (True, True, True)


NUMBERS_IN_ORDER = """
CREATE TABLE price_bands (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    low_qty integer NOT NULL CHECK (low_qty >= 1),
    high_qty integer NOT NULL CHECK (high_qty <= 500),
    min_price numeric(10,2) NOT NULL,
    max_price numeric(10,2) NOT NULL,
    floor_pct smallint NOT NULL CHECK (floor_pct BETWEEN 0 AND 100),
    ceiling_pct smallint NOT NULL CHECK (ceiling_pct BETWEEN 0 AND 100),
    CHECK (low_qty < high_qty),
    CHECK (floor_pct <= ceiling_pct)
);
"""


def test_numbers_a_check_or_a_name_orders_keep_their_order(tmp_path: Path, work_root: Path) -> None:
    (tmp_path / "schema.sql").write_text(NUMBERS_IN_ORDER)
    path = tmp_path / "scenario.yaml"
    path.write_text(
        "version: 1\nname: bands\nschema: schema.sql\n"
        "data: {tables: {price_bands: {rows: 4000}}}\n"
        "migration: {up: SELECT 1;}\n"
    )
    # the CHECKs (and the ranges they bound) are validated as the rows go in
    with SeededServer.start(load_scenario(path)) as seeded:
        database = seeded.database()
        with database.connect() as conn:
            row = conn.execute(
                """SELECT bool_and(min_price <= max_price),
                          count(DISTINCT max_price - min_price) > 100,
                          count(DISTINCT high_qty - low_qty) > 20,
                          count(DISTINCT ceiling_pct - floor_pct) > 10
                   FROM price_bands"""
            ).fetchone()
        database.drop()
    assert row == (True, True, True, True)


def test_after_must_name_a_moment_of_the_table(tmp_path: Path, work_root: Path) -> None:
    (tmp_path / "schema.sql").write_text(MOMENTS)
    path = tmp_path / "scenario.yaml"
    path.write_text(
        "version: 1\nname: moments\nschema: schema.sql\n"
        "data:\n  tables:\n    rentals:\n      rows: 10\n"
        "      columns: {paid_at: {after: id}}\n"
        "migration: {up: SELECT 1;}\n"
    )
    with pytest.raises(ScenarioError) as raised:
        SeededServer.start(load_scenario(path))
    [problem] = raised.value.problems
    assert "`after: id`" in problem.message and problem.line == 8


def test_a_composite_foreign_key_takes_one_referenced_row(tmp_path: Path, work_root: Path) -> None:
    (tmp_path / "schema.sql").write_text(
        "CREATE TABLE tenants (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);\n"
        "CREATE TABLE projects (tenant_id bigint NOT NULL REFERENCES tenants (id),\n"
        "    id bigint GENERATED ALWAYS AS IDENTITY, name text NOT NULL,\n"
        "    PRIMARY KEY (tenant_id, id));\n"
        "CREATE TABLE tasks (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
        "    tenant_id bigint NOT NULL, project_id bigint NOT NULL,\n"
        "    FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id));\n"
    )
    path = tmp_path / "scenario.yaml"
    path.write_text(
        "version: 1\nname: tenancy\nschema: schema.sql\n"
        "data: {tables: {tenants: {rows: 30}, projects: {rows: 300}, tasks: {rows: 5000}}}\n"
        "migration: {up: SELECT 1;}\n"
    )
    with SeededServer.start(load_scenario(path)) as seeded:
        database = seeded.database()
        with database.connect() as conn:
            row = conn.execute(
                "SELECT count(*), count(DISTINCT (tenant_id, project_id)) FROM tasks"
            ).fetchone()
        database.drop()
    # the foreign key was validated after seeding: every pair is a real project
    assert row is not None and row[0] == 5000 and row[1] > 200


def test_a_check_in_an_unknown_form_is_tried_on_sample_values_at_plan_time(
    tmp_path: Path, work_root: Path
) -> None:
    from pgrehearse.rehearsal.plan import plan_seeding

    (tmp_path / "schema.sql").write_text(
        "CREATE TABLE codes (id int PRIMARY KEY,\n"
        "    email text NOT NULL CHECK (email ~ '@' AND position('@' in email) > 1),\n"
        "    code text NOT NULL CHECK (left(code, 1) = 'Z'),\n"
        "    slug text NOT NULL CHECK (lower(slug) = slug));\n"
    )
    path = tmp_path / "scenario.yaml"
    path.write_text(
        "version: 1\nname: codes\nschema: schema.sql\n"
        "data: {tables: {codes: {rows: 100, columns: {id: {sequence: 1}}}}}\n"
        "migration: {up: SELECT 1;}\n"
    )
    with pytest.raises(ScenarioError) as raised:
        plan_seeding(load_scenario(path))
    # Faker emails satisfy the email's; made-up words break the code's
    [problem] = raised.value.problems
    assert "CHECK codes_code_check" in problem.message and "code" in problem.message
    path.write_text(
        path.read_text().replace(
            "{id: {sequence: 1}}", "{id: {sequence: 1}, code: {sql: \"'Z' || md5(r1::text)\"}}"
        )
    )
    plan = plan_seeding(load_scenario(path))  # email and slug were fine all along
    assert [t.name for t in plan.tables] == ["codes"]
    # an sql generator is tried the same way, on a pool the server makes
    path.write_text(path.read_text().replace("'Z'", "'Y'"))
    with pytest.raises(ScenarioError) as wrong:
        plan_seeding(load_scenario(path))
    assert "CHECK codes_code_check" in str(wrong.value)


def test_a_check_over_several_columns_is_tried_on_sample_rows_at_plan_time(
    tmp_path: Path, work_root: Path
) -> None:
    from pgrehearse.rehearsal.plan import plan_seeding

    (tmp_path / "schema.sql").write_text(
        "CREATE DOMAIN shout AS text CHECK (left(VALUE, 1) = 'S');\n"
        "CREATE TABLE trips (id int PRIMARY KEY, leaves_at timestamptz NOT NULL,\n"
        "    arrives_at timestamptz NOT NULL, code shout NOT NULL,\n"
        "    CONSTRAINT short CHECK (date_part('epoch', arrives_at - leaves_at) < 172800));\n"
    )
    path = tmp_path / "scenario.yaml"
    path.write_text(
        "version: 1\nname: trips\nschema: schema.sql\n"
        "data: {tables: {trips: {rows: 100, columns: {id: {sequence: 1}}}}}\n"
        "migration: {up: SELECT 1;}\n"
    )
    with pytest.raises(ScenarioError) as raised:
        plan_seeding(load_scenario(path))
    found = [p.message for p in raised.value.problems]
    assert len(found) == 2, found
    short = "CHECK short of trips refuses rows the generators of leaves_at, arrives_at"
    [rows] = [message for message in found if short in message]
    [values] = [message for message in found if "CHECK shout_check (domain shout)" in message]
    assert rows and "column 'code'" in values
    path.write_text(
        path.read_text().replace(
            "{id: {sequence: 1}}",
            "{id: {sequence: 1}, arrives_at: {after: leaves_at, within: 1d},"
            " code: {pattern: '^S[A-Z]{3}$'}}",
        )
    )
    plan = plan_seeding(load_scenario(path))  # the same generators the seed uses pass
    assert [t.name for t in plan.tables] == ["trips"]


def test_a_check_the_generators_are_built_for_is_tried_too_when_the_scenario_gives_them(
    tmp_path: Path, work_root: Path
) -> None:
    """A generator the scenario gives need not keep to a CHECK pgrehearse understands: the
    plan tries those CHECKs as well, and names the column before any row is made."""
    from pgrehearse.rehearsal.plan import plan_seeding

    path = seeding_scenario(
        tmp_path,
        "CREATE TABLE seats (id int PRIMARY KEY, n int NOT NULL CHECK (n IN (1, 5, 20)),\n"
        "    code text NOT NULL CHECK (code ~ '^[A-Z]{3}$'));\n",
        "{tables: {seats: {rows: 100, columns: {n: {int: [1, 3]}}}}}",
    )
    with pytest.raises(ScenarioError) as raised:
        plan_seeding(load_scenario(path))
    [problem] = raised.value.problems  # the inferred code keeps to its CHECK
    assert "CHECK seats_n_check of seats refuses values the generator of n makes" in str(
        problem.message
    )
    assert problem.line is not None
    path.write_text(path.read_text().replace("{int: [1, 3]}", "{choice: [1, 20]}"))
    assert [t.name for t in plan_seeding(load_scenario(path)).tables] == ["seats"]


JSON_KEYS_BYTES_AND_NAMES = """
CREATE TABLE events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('click', 'view', 'purchase')),
    payload jsonb NOT NULL CHECK (kind <> 'purchase' OR payload ? 'amount'),
    meta jsonb NOT NULL CHECK (meta ?& ARRAY['source', 'version'] AND meta ?| ARRAY['a', 'b']),
    digest bytea NOT NULL CHECK (octet_length(digest) = 32),
    blob bytea CHECK (octet_length(blob) BETWEEN 4 AND 8),
    username text NOT NULL CHECK (username ~ '^[a-z][a-z0-9_]{2,29}$')
);
CREATE UNIQUE INDEX events_username ON events (lower(username));
CREATE TABLE lines (
    id int PRIMARY KEY,
    plan text NOT NULL CHECK (plan = ANY ('{free,pro,"big team"}'::text[])),
    quantity int NOT NULL CHECK (quantity > 0),
    unit_price numeric(10,2) NOT NULL CHECK (unit_price >= 0),
    discount numeric(10,2) NOT NULL DEFAULT 0,
    CHECK (discount <= quantity * unit_price)
);
"""


def test_json_keys_byte_lengths_and_unique_names_a_check_shapes_seed_from_rows_alone(
    tmp_path: Path, work_root: Path
) -> None:
    from pgrehearse.rehearsal.plan import plan_seeding

    path = seeding_scenario(
        tmp_path, JSON_KEYS_BYTES_AND_NAMES, "{tables: {events: {rows: 3000}, lines: {rows: 500}}}"
    )
    table, lines = plan_seeding(load_scenario(path)).tables  # no problem foreseen...
    assert {c.name for c in table.columns} >= {"payload", "digest", "username"}
    # a placeholder default a CHECK ties to other columns is the schema author's, and kept
    assert {c.name: c.generator for c in lines.columns}["discount"] is None
    count, kinds, keyed, metas, digests, blobs, names = _seeded_row(  # ...nor met
        path,
        """SELECT count(*), count(DISTINCT kind), bool_and(payload ? 'amount'),
                  bool_and(meta ?& ARRAY['source', 'version', 'a']),
                  bool_and(octet_length(digest) = 32) AND count(DISTINCT digest) > 100,
                  count(DISTINCT octet_length(blob)), count(DISTINCT lower(username))
           FROM events""",
    )
    assert (count, kinds, keyed, metas, digests) == (3000, 3, True, True, True)
    assert blobs == 5 and names == 3000  # every length from 4 to 8; each name once
    assert _seeded_row(path, "SELECT array_agg(DISTINCT plan ORDER BY plan) FROM lines") == (
        ["big team", "free", "pro"],
    )


def test_json_key_checks_are_read() -> None:
    facts = read_checks(
        [
            ("one", "CHECK ((payload ? 'amount'::text))"),
            ("all", "CHECK ((meta ?& ARRAY['source'::text, 'version'::text]))"),
            ("any", "CHECK ((meta ?| ARRAY['a'::text, 'b'::text]))"),
            ("either", "CHECK (((kind <> 'purchase'::text) OR (doc ? 'total'::text)))"),
            ("typed", "CHECK ((doc ? 'total'::text) AND (jsonb_typeof(doc) = 'object'::text))"),
        ]
    )
    assert facts.not_understood == []
    assert facts.columns["payload"].json_keys == ("amount",)
    assert facts.columns["meta"].json_keys == ("source", "version", "a")
    assert facts.columns["doc"].json_keys == ("total",)
    assert facts.columns["doc"].json_type == "object"
    assert "kind" not in facts.columns  # every kind stays possible: the key is always there
    assert set(facts.every) == {"one", "all", "any", "either", "typed"}


def test_lists_written_as_array_text_are_read() -> None:
    facts = read_checks(
        [
            ("plans", "CHECK ((plan = ANY ('{free,pro,\"big team\"}'::text[])))"),
            ("sizes", "CHECK ((n = ANY ('{1, 5,20}'::integer[])))"),
            ("gone", "CHECK ((state <> ALL ('{deleted,\"a\\\\b\"}'::text[])))"),
            ("nulls", "CHECK ((x = ANY ('{a,NULL}'::text[])))"),
            ("nested", "CHECK ((y = ANY ('{{1,2},{3,4}}'::integer[])))"),
        ]
    )
    assert facts.columns["plan"].allowed == ["free", "pro", "big team"]
    assert facts.columns["n"].allowed == [1, 5, 20]
    assert facts.columns["state"].not_equal == ["deleted", "a\\b"]
    assert facts.not_understood == ["nulls", "nested"]  # tried on sample rows instead


GAPS = """
CREATE TABLE slots (
    id int PRIMARY KEY,
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL CHECK (ends_at >= starts_at + interval '1 hour'),
    issued_on date NOT NULL,
    due_on date NOT NULL CHECK (due_on BETWEEN issued_on AND issued_on + 10),
    leaves_at timestamp NOT NULL,
    arrives_at timestamp NOT NULL CHECK (arrives_at - leaves_at < interval '1 day 02:00'),
    low_qty int NOT NULL CHECK (low_qty BETWEEN 0 AND 100),
    high_qty int NOT NULL CHECK (high_qty > low_qty + 4 AND high_qty <= 1000)
);
"""


def test_gaps_a_check_keeps_between_two_columns_are_read() -> None:
    facts = read_checks(
        [
            ("hour", "CHECK ((ends_at >= (starts_at + '01:00:00'::interval)))"),
            ("due", "CHECK (((due_on >= issued_on) AND (due_on <= (issued_on + 10))))"),
            ("trip", "CHECK (((arrives_at - leaves_at) < '1 day 02:00:00'::interval))"),
            ("qty", "CHECK ((high_qty > (low_qty + 4)))"),
            ("back", "CHECK ((b >= (a - '1 mon'::interval)))"),
        ]
    )
    assert facts.not_understood == []
    found = {(g.earlier, g.later): (g.least, g.most, g.strict, g.plain) for g in facts.gaps}
    assert found == {
        ("starts_at", "ends_at"): (3600.0, None, False, False),
        ("issued_on", "due_on"): (None, 10.0, False, True),
        ("leaves_at", "arrives_at"): (None, 93600.0, True, False),
        ("low_qty", "high_qty"): (4.0, None, True, True),
        ("a", "b"): (-30 * 86400.0, None, False, False),
    }


def test_gaps_a_check_keeps_between_two_columns_seed_from_rows_alone(
    tmp_path: Path, work_root: Path
) -> None:
    path = seeding_scenario(tmp_path, GAPS, "{tables: {slots: {rows: 5000}}}")
    row = _seeded_row(
        path,
        """SELECT min(ends_at - starts_at) >= interval '1 hour',
                  max(ends_at - starts_at) > interval '1 day',
                  min(due_on - issued_on), max(due_on - issued_on),
                  min(arrives_at - leaves_at) >= interval '0',
                  max(arrives_at - leaves_at) > interval '20 hours',
                  min(high_qty - low_qty), count(DISTINCT high_qty - low_qty) > 50
           FROM slots""",
    )
    # every row keeps its CHECK (the seed would have failed), and the gaps spread over it
    assert row == (True, True, 0, 10, True, True, 5, True)


APART = """
CREATE TABLE accounts (id bigserial PRIMARY KEY);
CREATE TABLE wallets (id uuid PRIMARY KEY);
CREATE TABLE transfers (
    id bigserial PRIMARY KEY,
    from_account bigint NOT NULL REFERENCES accounts (id),
    to_account bigint NOT NULL REFERENCES accounts (id),
    from_wallet uuid REFERENCES wallets (id),
    to_wallet uuid NOT NULL REFERENCES wallets (id),
    reviewer bigint REFERENCES accounts (id),
    CHECK (from_account <> to_account),
    CHECK (from_wallet IS DISTINCT FROM to_wallet),
    CONSTRAINT not_reviewed_by_sender CHECK (reviewer IS NULL OR reviewer <> from_account)
);
CREATE TABLE follows (
    follower bigint NOT NULL REFERENCES accounts (id),
    followee bigint NOT NULL REFERENCES accounts (id),
    PRIMARY KEY (follower, followee),
    CHECK (follower <> followee)
);
"""


@pytest.mark.parametrize("binary", ["1", "0"])
def test_two_references_a_check_keeps_apart_never_meet(
    binary: str, tmp_path: Path, work_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three accounts and 20,000 transfers: a third of the pairs would meet; each is drawn
    again (the few left, the block's next key), in binary COPY and in text. A composite key
    of two references skips the combinations of one account twice."""
    monkeypatch.setenv("PGREHEARSE_SEED_BINARY", binary)
    data = (
        "{tables: {accounts: {rows: 3}, wallets: {rows: 4}, transfers: {rows: 20000},"
        " follows: {rows: 6}}}"
    )
    path = seeding_scenario(tmp_path, APART, data)
    from pgrehearse.rehearsal.plan import plan_seeding

    notes = {t.name: t.notes for t in plan_seeding(load_scenario(path)).tables}
    assert any(
        "transfers_check: to_account never takes the key from_account has" in note
        for note in notes["transfers"]
    ), notes["transfers"]
    assert not any("transfers_check is not a form" in note for note in notes["transfers"])
    assert any(  # `IS NULL OR <>`: apart where it is set
        "not_reviewed_by_sender: " in note and "never takes the key" in note
        for note in notes["transfers"]
    ), notes["transfers"]
    row = _seeded_row(
        path,
        """SELECT count(*), count(DISTINCT (from_account, to_account)),
                  count(DISTINCT to_wallet),
                  (SELECT count(*) FROM follows WHERE follower <> followee),
                  count(reviewer) > 1000,
                  count(DISTINCT (reviewer, from_account)) FILTER (WHERE reviewer IS NOT NULL)
           FROM transfers""",
    )
    # every ordered pair of distinct accounts, none equal; and a key of two references
    # makes all 3 x 2 pairs that are not one account twice; a reviewer (where there is
    # one) is never the sender
    assert row == (20000, 6, 4, 6, True, 6)
    path.write_text(path.read_text().replace("follows: {rows: 6}", "follows: {rows: 7}"))
    with pytest.raises(ScenarioError, match="only 6 distinct combinations for 7 rows"):
        plan_seeding(load_scenario(path))


NULLS_AND_PATTERNS = """
CREATE TABLE accounts (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);
CREATE TABLE robots (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY);
CREATE TABLE notes (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id bigint REFERENCES accounts (id),
    robot_id int REFERENCES robots (id),
    removed_at timestamptz,
    removed_by bigint REFERENCES accounts (id),
    status text NOT NULL CHECK (status IN ('open', 'closed')),
    closed_at timestamptz,
    reopened_at timestamptz,
    cancelled_at timestamptz DEFAULT now(),
    rating smallint CHECK (rating IS NULL OR rating BETWEEN 1 AND 5),
    code varchar(12) NOT NULL UNIQUE CHECK (code ~ '^[A-Z]{3}-[[:digit:]]{4}$'),
    slug varchar(8) NOT NULL CHECK (slug ~ '^[a-z0-9-]+$'),
    sku text NOT NULL CHECK (sku LIKE 'SKU-%'),
    country char(2) NOT NULL CHECK (char_length(country) = 2 AND country = upper(country)),
    handle text NOT NULL CHECK (lower(handle) = handle),
    CONSTRAINT one_author CHECK (num_nonnulls(account_id, robot_id) = 1),
    CONSTRAINT removal CHECK ((removed_at IS NULL) = (removed_by IS NULL)),
    CONSTRAINT closing CHECK (status <> 'closed' OR closed_at IS NOT NULL),
    CONSTRAINT cancelling CHECK (status = 'closed' OR cancelled_at IS NULL),
    CONSTRAINT once CHECK (num_nonnulls(closed_at, reopened_at) <= 1),
    archived_at timestamptz,
    CONSTRAINT archiving CHECK ((archived_at IS NULL) <> (status = 'closed'))
);
"""


def test_null_patterns_and_regular_expressions_seed_from_rows_alone(
    tmp_path: Path, work_root: Path
) -> None:
    (tmp_path / "schema.sql").write_text(NULLS_AND_PATTERNS)
    path = tmp_path / "scenario.yaml"
    path.write_text(
        "version: 1\nname: nulls\nschema: schema.sql\n"
        "data:\n  tables:\n    accounts: {rows: 50}\n    robots: {rows: 5}\n"
        "    notes:\n      rows: 4000\n"
        "      columns: {removed_at: {between: [2020-01-01, 2024-01-01], null_fraction: 0.8}}\n"
        "migration: {up: SELECT 1;}\n"
    )
    with SeededServer.start(load_scenario(path)) as seeded:
        database = seeded.database()
        with database.connect() as conn:
            row = conn.execute(
                """SELECT count(*), count(account_id), count(robot_id), count(removed_at),
                          count(removed_by), count(DISTINCT code), count(cancelled_at),
                          count(DISTINCT slug), max(length(slug)), count(reopened_at),
                          count(*) FILTER (WHERE status = 'closed'),
                          count(*) FILTER (WHERE (cancelled_at IS NOT NULL) = (status = 'closed')),
                          count(archived_at)
                   FROM notes"""
            ).fetchone()
        database.drop()
    assert row is not None
    count, accounts, robots, removed, removed_by, codes, cancelled, slugs, longest, *rest = row
    reopened, closed, cancelled_as_closed, archived = rest
    assert count == 4000
    # every CHECK held as the rows went in; and the rows took each pattern they allow
    assert accounts + robots == count and accounts > 0 and robots > 0
    assert removed == removed_by  # NULL together, with removed_at's own share of values
    assert 0.1 * count < removed < 0.3 * count
    assert codes == count  # unique, from the pattern
    # a value exactly where the status allows one (over its default elsewhere)
    assert 0 < cancelled == closed < count and cancelled_as_closed == count
    assert archived == closed  # `(archived_at IS NULL) <> (status = 'closed')`
    assert slugs > 100 and longest <= 8
    assert reopened == 0  # closed_at has a value in every row (closing), so at most one: none


def test_the_partition_hash_is_the_servers(pg_binaries: PostgresBinaries, work_root: Path) -> None:
    from pgrehearse.seed._hash import HASH_PARTITION_SEED, integer_hash

    keys = np.array(
        [0, 1, -1, 2, 12_345, -98_765, 2**31 - 1, -(2**31), 2**40 + 7, -(2**40) - 3, 2**62],
        dtype=np.int64,
    )
    server = LocalBackend(pg_binaries).start({})
    try:
        with psycopg.connect(**server.connect_kwargs("postgres", "t")) as conn:
            for function, cast, width in (
                ("hashint8extended", "bigint", 8),
                ("hashint4extended", "integer", 4),
                ("hashint2extended", "smallint", 2),
            ):
                fitting = keys[np.abs(keys) < 2 ** (8 * width - 1)]
                theirs = [
                    row[0]
                    for row in conn.execute(
                        f"SELECT {function}(k::{cast}, %s) FROM unnest(%s::bigint[]) k",
                        (HASH_PARTITION_SEED, fitting.tolist()),
                    )
                ]
                mine = integer_hash(fitting, width, HASH_PARTITION_SEED).astype(np.int64)
                assert mine.tolist() == theirs, function
    finally:
        server.close()
