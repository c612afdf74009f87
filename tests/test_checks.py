"""CHECK constraints, domains and defaulted enums: values built to satisfy them."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgrehearse import load_scenario
from pgrehearse.errors import ScenarioError
from pgrehearse.rehearsal.seeded import SeededServer
from pgrehearse.seed import read_checks


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
    assert facts.not_understood == ["regex"]


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
    stamp timestamptz NOT NULL CHECK (stamp < '2020-01-01 00:00:00+00')
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
                          bool_and(char_length(code) = 3), max(stamp) < '2020-01-01'
                   FROM gadgets"""
            ).fetchone()
        database.drop()
    assert row is not None
    count, kinds, seats, moods, weight, low_score, high_score, cheapest, dearest, *rest = row
    assert count == 3000
    assert kinds == [1, 2]  # the CHECK's values, not the default 0
    assert seats == [1, 5, 20]
    assert moods == 3  # spread over the enum, not its default alone
    assert weight > 0  # the domain's CHECK
    assert -10 <= low_score < high_score <= 10
    assert 0 < cheapest < dearest <= 500
    assert rest == [True, True, True]


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
