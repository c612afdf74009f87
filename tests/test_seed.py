"""Seeding on a real server: determinism, integrity, inference, errors and the snapshot cache."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from pgrehearse import ScenarioError, ServerOptions, load_scenario, rehearse
from pgrehearse.backends import PostgresBinaries
from pgrehearse.rehearsal.cache import SnapshotCache
from tests.helpers import ProbingBackend, write_scenario

SHOP_SCHEMA = """
CREATE TYPE mood AS ENUM ('happy', 'sad', 'meh');
CREATE TABLE customers (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    email       text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL
);
CREATE TABLE orders (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id  bigint NOT NULL REFERENCES customers (id),
    status       text NOT NULL CHECK (status IN ('paid', 'pending', 'refunded')),
    amount       numeric(10, 2) NOT NULL,
    note         text
);
"""

SHOP_DATA = """
data:
  seed: {seed}
  tables:
    customers:
      rows: {customers}
      columns:
        name: {{faker: name, pool: 200}}
        email: {{faker: email, pool: 200}}
        created_at: {{between: [2020-01-01T00:00:00, 2021-01-01T00:00:00]}}
    orders:
      rows: {orders}
      columns:
        customer_id: {{ref: customers.id, distribution: zipf}}
        status: {{choice: {{paid: 0.7, pending: 0.2, refunded: 0.1}}}}
        amount: {{float: [1, 500]}}
        note: {{text: [5, 30], null_fraction: 0.5}}
"""

CHECKSUM = (
    "SELECT (SELECT md5(string_agg(c::text, ',' ORDER BY c.id)) FROM customers c) || "
    "(SELECT md5(string_agg(o::text, ',' ORDER BY o.id)) FROM orders o)"
)


def _scenario(
    folder: Path,
    *,
    schema: str = SHOP_SCHEMA,
    data: str | None = None,
    seed: int = 1,
    customers: int = 300,
    orders: int = 2_000,
    up: str = "ALTER TABLE orders ADD COLUMN x int;",
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "schema.sql").write_text(textwrap.dedent(schema))
    body = data if data is not None else SHOP_DATA
    text = (
        "version: 1\nname: shop\nschema: schema.sql\n"
        + body.format(seed=seed, customers=customers, orders=orders)
        + f"migration:\n  up: {json.dumps(up)}\n"
    )
    path = folder / "scenario.yaml"
    path.write_text(text)
    return path


# a query's part that counts a partitioned table's rows per partition, as `name:rows,...`
_ROWS_PER_PARTITION = (
    "(SELECT string_agg(format('%s:%s', p, n), ',' ORDER BY p) FROM (SELECT"
    " tableoid::regclass::text p, count(*) n FROM {table} GROUP BY 1) c)"
)


def _partition_counts(answer: str) -> dict[str, int]:
    return {name: int(rows) for name, rows in (item.split(":") for item in answer.split(","))}


def _probe(path: Path, binaries: PostgresBinaries, query: str, *, cache: bool = True) -> Any:
    backend = ProbingBackend(binaries, query)
    options = ServerOptions(cache=cache)
    result = rehearse(load_scenario(path), options, report_dir=None, backend=backend)
    assert result.passed, result.failure
    return backend.answer, result


def test_same_seed_gives_the_same_data(
    tmp_path: Path, work_root: Path, pg_binaries: PostgresBinaries
) -> None:
    path = _scenario(tmp_path / "a")
    first, _ = _probe(path, pg_binaries, CHECKSUM, cache=False)
    second, _ = _probe(path, pg_binaries, CHECKSUM, cache=False)
    other, _ = _probe(_scenario(tmp_path / "b", seed=2), pg_binaries, CHECKSUM, cache=False)
    assert first == second
    assert first != other


def test_a_rehearsal_seeding_in_several_sessions_seeds_the_same_data(
    tmp_path: Path, work_root: Path, pg_binaries: PostgresBinaries, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where cores allow, the rehearsal seeds in sessions of their own (forced here): the
    same rows, the tables reported in the plan's order, no folder left behind."""
    path = _scenario(tmp_path)
    monkeypatch.setenv("PGREHEARSE_SEED_STREAMS", "1")
    in_order, alone = _probe(path, pg_binaries, CHECKSUM, cache=False)
    monkeypatch.setenv("PGREHEARSE_SEED_STREAMS", "2")
    in_sessions, together = _probe(path, pg_binaries, CHECKSUM, cache=False)
    assert in_sessions == in_order
    assert [t.table for t in together.tables] == [t.table for t in alone.tables]
    assert [t.rows for t in together.tables] == [300, 2_000]


def test_references_are_valid_even_without_a_foreign_key(
    tmp_path: Path, work_root: Path, pg_binaries: PostgresBinaries
) -> None:
    schema = SHOP_SCHEMA.replace("REFERENCES customers (id)", "")
    orphans = (
        "SELECT count(*) FROM orders o LEFT JOIN customers c ON c.id = o.customer_id "
        "WHERE c.id IS NULL"
    )
    answer, _ = _probe(_scenario(tmp_path, schema=schema, orders=20_000), pg_binaries, orphans)
    assert answer == 0


def test_weights_nulls_and_skew_on_the_server(
    tmp_path: Path, work_root: Path, pg_binaries: PostgresBinaries
) -> None:
    query = (
        "SELECT json_build_object("
        "'paid', avg((status = 'paid')::int), 'note_null', avg((note IS NULL)::int), "
        "'top', (SELECT max(n) FROM (SELECT count(*) n FROM orders GROUP BY customer_id) s), "
        "'orders', count(*))::text FROM orders"
    )
    answer, _ = _probe(_scenario(tmp_path, orders=20_000), pg_binaries, query)
    stats = json.loads(answer)
    assert stats["orders"] == 20_000
    assert abs(stats["paid"] - 0.7) < 0.02
    assert abs(stats["note_null"] - 0.5) < 0.02
    assert stats["top"] > 20_000 / 300 * 5  # zipf: the hottest customer has far more


@pytest.mark.slow
def test_uniqueness_holds_at_a_million_rows(
    tmp_path: Path, work_root: Path, pg_binaries: PostgresBinaries
) -> None:
    """email is UNIQUE in the schema; the scenario does not say unique: pgrehearse must
    honour the constraint anyway (the unique index is built after the load)."""
    query = "SELECT count(DISTINCT email) = count(*) AND count(*) = 1000000 FROM customers"
    answer, result = _probe(
        _scenario(tmp_path, customers=1_000_000, orders=10), pg_binaries, query, cache=False
    )
    assert answer is True
    customers = next(t for t in result.tables if t.table == "customers")
    assert customers.frozen  # loaded with COPY FREEZE


def test_unmentioned_columns_get_generators_from_their_types(
    tmp_path: Path, work_root: Path, pg_binaries: PostgresBinaries
) -> None:
    schema = """
    CREATE TYPE mood AS ENUM ('happy', 'sad');
    CREATE TABLE accounts (id serial PRIMARY KEY, email varchar(120) NOT NULL UNIQUE,
                           plan text NOT NULL CHECK (plan IN ('free', 'pro')));
    CREATE TABLE events (
        id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        account_id int NOT NULL REFERENCES accounts (id),
        kind mood NOT NULL, payload jsonb NOT NULL, happened_at timestamptz NOT NULL,
        day date NOT NULL, amount numeric(8, 2) NOT NULL, ratio double precision NOT NULL,
        flag boolean NOT NULL, token uuid NOT NULL UNIQUE, tags text[] NOT NULL,
        code char(3) NOT NULL, counter smallint NOT NULL, took interval NOT NULL,
        addr inet NOT NULL, title varchar(8) NOT NULL, created_at timestamptz NOT NULL,
        inserted_on timestamptz NOT NULL DEFAULT now(), extra pg_snapshot
    );
    """
    data = "data:\n  seed: {seed}\n  tables:\n    accounts: {{rows: {customers}}}\n" + (
        "    events: {{rows: {orders}}}\n"
    )
    query = (
        "SELECT json_build_object('kinds', (SELECT array_agg(DISTINCT kind::text) FROM events), "
        "'plans', (SELECT array_agg(DISTINCT plan) FROM accounts), "
        "'orphans', (SELECT count(*) FROM events e LEFT JOIN accounts a ON a.id = e.account_id "
        "WHERE a.id IS NULL), 'extra_nulls', (SELECT count(*) FROM events WHERE extra IS NULL), "
        "'emails', (SELECT bool_and(email LIKE '%@%') FROM accounts))::text"
    )
    path = _scenario(tmp_path, schema=schema, data=data, up="ALTER TABLE events ADD COLUMN x int")
    answer, result = _probe(path, pg_binaries, query)
    stats = json.loads(answer)
    assert sorted(stats["kinds"]) == ["happy", "sad"]
    assert sorted(stats["plans"]) == ["free", "pro"]
    assert stats["orphans"] == 0 and stats["extra_nulls"] == 2_000 and stats["emails"]
    events = next(t for t in result.tables if t.table == "events")
    generators = {c.name: c.generator for c in events.columns}
    assert generators["account_id"] == "ref" and generators["kind"] == "choice"
    assert generators["token"] == "uuid" and generators["tags"] == "array"
    assert all(c.inferred for c in events.columns)
    assert set(events.left_to_database) == {"id", "extra"}
    assert generators["inserted_on"] == "between"  # not every row stamped at seeding time
    assert any("extra (pg_snapshot) left NULL" in note for note in events.notes)


def test_reference_cycle_breaks_on_the_nullable_side(
    tmp_path: Path, work_root: Path, pg_binaries: PostgresBinaries
) -> None:
    schema = """
    CREATE TABLE teams (id int PRIMARY KEY, captain_id int);
    CREATE TABLE players (id int PRIMARY KEY, team_id int NOT NULL REFERENCES teams (id));
    ALTER TABLE teams ADD FOREIGN KEY (captain_id) REFERENCES players (id);
    """
    data = (
        "data:\n  seed: {seed}\n  tables:\n"
        "    teams: {{rows: 10, columns: {{id: {{sequence: 1}}}}}}\n"
        "    players: {{rows: 50, columns: {{id: {{sequence: 1}}}}}}\n"
    )
    answer, result = _probe(
        _scenario(tmp_path, schema=schema, data=data, up="ALTER TABLE teams ADD COLUMN x int"),
        pg_binaries,
        "SELECT count(*) FROM players p JOIN teams t ON t.id = p.team_id",
    )
    assert answer == 50
    teams = next(t for t in result.tables if t.table == "teams")
    assert any("reference cycle" in note for note in teams.notes)


def test_a_not_null_reference_cycle_over_numbered_keys_seeds_from_rows_alone(
    tmp_path: Path, work_root: Path, pg_binaries: PostgresBinaries
) -> None:
    """Two tables that each need the other (a shop's manager works at it), NOT NULL both
    ways, keys numbered by the database (a serial default, an identity): one side takes
    the keys the other will be numbered with, and every foreign key validates."""
    schema = """
    CREATE TABLE shops (
        id serial PRIMARY KEY, manager_id int NOT NULL UNIQUE, name text NOT NULL
    );
    CREATE TABLE clerks (
        id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        shop_id int NOT NULL REFERENCES shops (id),
        name text NOT NULL
    );
    ALTER TABLE shops ADD FOREIGN KEY (manager_id) REFERENCES clerks (id);
    """
    data = "data:\n  seed: {seed}\n  tables:\n    shops: {{rows: 8}}\n    clerks: {{rows: 60}}\n"

    answer, result = _probe(
        _scenario(tmp_path, schema=schema, data=data, up="ALTER TABLE shops ADD COLUMN x int"),
        pg_binaries,
        "SELECT format('%s/%s', (SELECT count(*) FROM clerks c JOIN shops s ON s.id = c.shop_id), "
        "(SELECT count(DISTINCT s.manager_id) FROM shops s JOIN clerks c ON c.id = s.manager_id))",
    )
    assert answer == "60/8"  # every clerk at a shop, every shop a distinct manager
    notes = [note for t in result.tables for note in t.notes]
    assert any("before they exist" in note and "reference cycle" in note for note in notes)


def test_an_apps_column_names_and_length_checks_give_values_of_their_kind(
    tmp_path: Path, work_root: Path, pg_binaries: PostgresBinaries
) -> None:
    """Rails-style columns from `rows:` alone: a file's name, MIME type and checksum look
    like them, a password hash like bcrypt's, a `service_name` is not a person, a
    polymorphic `*_type` names the schema's models, and a CHECK's length limit caps a
    comment instead of making it 2,500 characters long on average."""
    schema = """
    CREATE TABLE users (id bigserial PRIMARY KEY, encrypted_password varchar NOT NULL,
        company_name varchar, author_name varchar);
    CREATE TABLE orders (id bigserial PRIMARY KEY, user_id bigint NOT NULL REFERENCES users);
    CREATE TABLE blobs (id bigserial PRIMARY KEY, filename varchar NOT NULL,
        content_type varchar, checksum varchar, service_name varchar NOT NULL);
    CREATE TABLE comments (id bigserial PRIMARY KEY,
        commentable_type varchar NOT NULL, commentable_id bigint NOT NULL,
        author_id bigint REFERENCES users ON DELETE SET NULL,
        body text NOT NULL CHECK (char_length(body) <= 5000),
        email varchar(255) CHECK (char_length(email) BETWEEN 3 AND 255));
    """
    data = (
        "data:\n  seed: {seed}\n  tables:\n    users: {{rows: 200}}\n    orders: {{rows: 200}}\n"
        "    blobs: {{rows: 200}}\n    comments: {{rows: 500}}\n"
    )
    query = """
    SELECT concat_ws(' ',
      (SELECT bool_and(encrypted_password ~ '^\\$2a\\$12\\$[./A-Za-z0-9]{53}$') FROM users),
      (SELECT bool_and(filename ~* '^[a-z]+\\.[a-z0-9]+$') FROM blobs),
      (SELECT bool_and(content_type ~* '^[a-z]+/[a-z0-9.+-]+$') FROM blobs),
      (SELECT bool_and(checksum ~ '^[0-9a-f]{32}$') FROM blobs),
      (SELECT bool_and(service_name !~ ' ') FROM blobs),
      (SELECT string_agg(DISTINCT commentable_type, ',') FROM comments),
      (SELECT avg(char_length(body)) < 300 FROM comments),
      (SELECT bool_and(email ~ '^[^@ ]+@[^@ ]+$') FROM comments))
    """
    answer, _ = _probe(_scenario(tmp_path, schema=schema, data=data), pg_binaries, query)
    *shapes, models, short_bodies, emails = answer.split(" ")
    assert shapes == ["t"] * 5
    assert set(models.split(",")) == {"User", "Order", "Blob"}  # User: referenced most
    assert short_bodies == "t" and emails == "t"


def test_faker_values_longer_than_their_column_allows_are_left_out_or_cut(
    tmp_path: Path, work_root: Path, pg_binaries: PostgresBinaries
) -> None:
    schema = """
    CREATE TABLE contacts (
        id int PRIMARY KEY,
        phone varchar(20) NOT NULL,  -- inferred: Faker phone numbers, a few longer
        email varchar(12) NOT NULL   -- given: Faker e-mail addresses, most longer
    );
    """
    data = (
        "data:\n  seed: {seed}\n  tables:\n"
        "    contacts: {{rows: 3000, columns: {{id: {{sequence: 1}}, email: {{faker: email}}}}}}\n"
    )
    answer, result = _probe(
        _scenario(tmp_path, schema=schema, data=data, up="ALTER TABLE contacts ADD COLUMN x int"),
        pg_binaries,
        "SELECT format('%s/%s/%s', max(length(phone)), max(length(email)), "
        "count(DISTINCT phone)) FROM contacts",
    )
    longest_phone, longest_email, phones = (int(part) for part in str(answer).split("/"))
    assert longest_phone <= 20 and longest_email <= 12
    assert phones > 1_000  # still realistic, varied phone numbers
    [contacts] = result.tables
    assert any(
        n.startswith("phone: Faker phone_number") and "left out" in n for n in contacts.notes
    )
    assert any(n.startswith("email: Faker email") and "cut" in n for n in contacts.notes)


def test_tables_with_quoted_mixed_case_names_seed_from_rows_alone(
    tmp_path: Path, work_root: Path, pg_binaries: PostgresBinaries
) -> None:
    """Names as ORMs write them ("Accounts", "AccountId"), a foreign key between them and a
    partitioned table among them: the scenario names them as they are spelled."""
    schema = """
    CREATE TABLE "Accounts" ("Id" serial PRIMARY KEY, "Email" varchar(200) NOT NULL);
    CREATE TABLE "Sessions" (
        "AccountId" int NOT NULL REFERENCES "Accounts" ("Id"),
        "StartedAt" timestamptz NOT NULL
    ) PARTITION BY RANGE ("StartedAt");
    CREATE TABLE "Sessions2024" PARTITION OF "Sessions"
        FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
    CREATE TABLE "Sessions2025" PARTITION OF "Sessions"
        FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
    """
    data = (
        "data:\n  seed: {seed}\n  tables:\n"
        "    Accounts: {{rows: 200}}\n    Sessions: {{rows: 3000}}\n"
    )
    answer, result = _probe(
        _scenario(tmp_path, schema=schema, data=data, up='ALTER TABLE "Accounts" ADD "X" int'),
        pg_binaries,
        "SELECT format('%s/%s', (SELECT count(*) FROM \"Sessions\" s "
        'JOIN "Accounts" a ON a."Id" = s."AccountId"), '
        '(SELECT count(*) FROM "Sessions2025"))',
    )
    joined, in_2025 = (int(part) for part in str(answer).split("/"))
    assert joined == 3000 and 0 < in_2025 < 3000
    sessions = next(t for t in result.tables if t.table == "Sessions")
    assert sessions.frozen  # routed into its leaves by pgrehearse, not through the parent


def test_text_keys_an_application_makes_are_uuid_shaped(
    tmp_path: Path, work_root: Path, pg_binaries: PostgresBinaries
) -> None:
    """Prisma keeps its keys as TEXT with no default (the client makes them), and a join
    table of two columns "A" and "B" under a unique index: the keys come out UUID-shaped,
    distinct, and the references and the pairs valid."""
    schema = """
    CREATE TABLE "User" ("id" TEXT NOT NULL PRIMARY KEY, "externalUuid" TEXT,
        "status" TEXT NOT NULL, "apiToken" VARCHAR(64) NOT NULL UNIQUE);
    CREATE TABLE "Tag" ("id" SERIAL PRIMARY KEY, "name" TEXT NOT NULL);
    CREATE TABLE "_TagToUser" ("A" INTEGER NOT NULL REFERENCES "Tag",
        "B" TEXT NOT NULL REFERENCES "User");
    CREATE UNIQUE INDEX "_TagToUser_AB_unique" ON "_TagToUser" ("A", "B");
    """
    data = (
        "data:\n  seed: {seed}\n  tables:\n"
        "    User: {{rows: 500}}\n    Tag: {{rows: 10}}\n    _TagToUser: {{rows: 2000}}\n"
    )
    uuid_shape = "'^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'"
    answer, _ = _probe(
        _scenario(tmp_path, schema=schema, data=data, up='ALTER TABLE "User" ADD "X" int'),
        pg_binaries,
        "SELECT format('%s/%s/%s/%s/%s', "
        f'(SELECT count(*) FROM "User" WHERE "id" ~ {uuid_shape}), '
        """(SELECT count(DISTINCT "apiToken") FROM "User" WHERE "apiToken" ~ '^[0-9a-f]{64}$'), """
        f'(SELECT count(*) FROM "User" WHERE "externalUuid" ~ {uuid_shape}), '
        '(SELECT count(DISTINCT "status") FROM "User"), '
        '(SELECT count(*) FROM "_TagToUser" j JOIN "User" u ON u."id" = j."B"))',
    )
    ids, tokens, external, statuses, pairs = (int(part) for part in str(answer).split("/"))
    assert ids == 500  # every key a UUID (and distinct: it is the primary key)
    assert tokens == 500  # a unique token: distinct SHA-256-shaped hex
    assert external > 0  # a nullable UUID kept as text, UUID-shaped where set
    assert 2 <= statuses <= 5  # a few labels, not random text
    assert pairs == 2000


def test_an_app_schema_seeds_from_rows_alone(
    tmp_path: Path, work_root: Path, pg_binaries: PostgresBinaries
) -> None:
    """What application schemas hold and earlier versions failed on: a table referring to
    its own rows (managers, parents), a key over a composite foreign key and a line number,
    a list-partitioned table with a DEFAULT partition, and a role the schema creates itself
    that a policy names (pgrehearse must not create it first)."""
    schema = """
    CREATE ROLE clerk NOLOGIN;
    CREATE TABLE staff (
        id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        manager_id bigint REFERENCES staff (id),
        mentor_id bigint NOT NULL REFERENCES staff (id)
    );
    CREATE TABLE invoices (
        id bigint GENERATED ALWAYS AS IDENTITY,
        region text NOT NULL,
        PRIMARY KEY (id, region)
    ) PARTITION BY LIST (region);
    CREATE TABLE invoices_eu PARTITION OF invoices FOR VALUES IN ('eu-west', 'eu-north');
    CREATE TABLE invoices_us PARTITION OF invoices FOR VALUES IN ('us-east');
    CREATE TABLE invoices_rest PARTITION OF invoices DEFAULT;
    CREATE TABLE invoice_lines (
        invoice_id bigint NOT NULL,
        region text NOT NULL,
        line_no smallint NOT NULL CHECK (line_no > 0),
        PRIMARY KEY (invoice_id, region, line_no),
        FOREIGN KEY (invoice_id, region) REFERENCES invoices (id, region)
    );
    ALTER TABLE staff ENABLE ROW LEVEL SECURITY;
    CREATE POLICY own_rows ON staff TO clerk USING (true);
    """
    data = (
        "data:\n  seed: {seed}\n  tables:\n    staff: {{rows: 300}}\n"
        "    invoices: {{rows: 400}}\n    invoice_lines: {{rows: 3000}}\n"
    )
    answer, result = _probe(
        _scenario(tmp_path, schema=schema, data=data, up="ALTER TABLE staff ADD COLUMN x int"),
        pg_binaries,
        "SELECT concat_ws('/', (SELECT count(*) FROM staff s JOIN staff m ON m.id = s.mentor_id),"
        " (SELECT count(*) FROM staff s JOIN staff m ON m.id = s.manager_id),"
        " (SELECT count(*) FROM invoice_lines l JOIN invoices i"
        "  ON i.id = l.invoice_id AND i.region = l.region),"
        f" {_ROWS_PER_PARTITION.format(table='invoices')})",
    )
    mentored, managed, lines, partitions = str(answer).split("/")
    assert int(mentored) == 300  # every reference valid, none NULL
    assert 0.6 * 300 < int(managed) < 300  # a nullable one: some at the top have no manager
    assert int(lines) == 3000  # each line's pair names one invoice; the keys were built
    counts = _partition_counts(partitions)
    assert sorted(counts) == ["invoices_eu", "invoices_rest", "invoices_us"]
    assert all(n > 0 for n in counts.values())
    assert result.schema_input.get("roles_created") == []
    staff = next(t for t in result.tables if t.table == "staff")
    assert sum("the table's own rows" in note for note in staff.notes) == 2


def test_a_multi_tenant_schema_seeds_from_rows_alone(
    tmp_path: Path, work_root: Path, pg_binaries: PostgresBinaries
) -> None:
    """A member invited by another member of the same tenant (`(tenant_id, invited_by)` to
    the table's own `(tenant_id, id)`) used to stop the plan: tenant_id was read as a
    reference to the table's own rows. It keeps its own reference to tenants, and
    invited_by is left NULL. A range key rises with the rows, as production inserts them,
    and a DEFAULT partition beside gap-free ranges gets the rows past the last range."""
    schema = """
    CREATE TABLE tenants (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text NOT NULL);
    CREATE TABLE members (
        tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
        id bigint GENERATED BY DEFAULT AS IDENTITY,
        invited_by bigint,
        PRIMARY KEY (tenant_id, id),
        FOREIGN KEY (tenant_id, invited_by) REFERENCES members (tenant_id, id)
    );
    CREATE TABLE audit_log (at timestamptz NOT NULL, action text NOT NULL)
        PARTITION BY RANGE (at);
    CREATE TABLE audit_2025_01 PARTITION OF audit_log
        FOR VALUES FROM ('2025-01-01') TO ('2025-02-01');
    CREATE TABLE audit_2025_02 PARTITION OF audit_log
        FOR VALUES FROM ('2025-02-01') TO ('2025-03-01');
    CREATE TABLE audit_rest PARTITION OF audit_log DEFAULT;
    """
    data = (
        "data:\n  seed: {seed}\n  tables:\n    tenants: {{rows: 50}}\n"
        "    members: {{rows: 2000}}\n    audit_log: {{rows: 4000}}\n"
    )
    answer, result = _probe(
        _scenario(tmp_path, schema=schema, data=data, up="ALTER TABLE members ADD COLUMN x int"),
        pg_binaries,
        "SELECT concat_ws('/', (SELECT count(DISTINCT tenant_id) FROM members),"
        " (SELECT count(*) FROM members WHERE invited_by IS NULL),"
        f" {_ROWS_PER_PARTITION.format(table='audit_log')})",
    )
    tenants, uninvited, partitions = str(answer).split("/")
    assert int(tenants) > 40 and int(uninvited) == 2000
    counts = _partition_counts(partitions)
    assert sorted(counts) == ["audit_2025_01", "audit_2025_02", "audit_rest"]
    assert 0 < counts["audit_rest"] < counts["audit_2025_01"]  # the ranges hold most rows
    members = next(t for t in result.tables if t.table == "members")
    assert any("invited_by left NULL" in note for note in members.notes)
    audit = next(t for t in result.tables if t.table == "audit_log")
    at = next(c for c in audit.columns if c.name == "at")
    assert at.parameters is not None and at.parameters["distribution"] == "increasing"


def test_a_tree_over_uuid_keys_seeds_with_depth(
    tmp_path: Path, work_root: Path, pg_binaries: PostgresBinaries
) -> None:
    """A table referring to its own rows by UUIDs the database would make: its keys are
    made as UUIDs numbered by row instead, so a row can take an earlier row's key."""
    schema = """
    CREATE TABLE folders (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        parent_id uuid REFERENCES folders (id),
        name text NOT NULL
    );
    CREATE TABLE replies (
        id uuid PRIMARY KEY,
        reply_to uuid NOT NULL REFERENCES replies (id)
    );
    """
    data = (
        "data:\n  seed: {seed}\n  tables:\n"
        "    folders: {{rows: 3000}}\n    replies: {{rows: 500}}\n"
    )
    answer, result = _probe(
        _scenario(tmp_path, schema=schema, data=data, up="ALTER TABLE folders ADD COLUMN x int"),
        pg_binaries,
        "SELECT concat_ws('/', (SELECT count(*) FROM folders f JOIN folders p"
        "  ON p.id = f.parent_id), (SELECT count(*) FROM folders WHERE parent_id IS NULL),"
        " (WITH RECURSIVE up(id, parent_id, depth) AS ("
        "   SELECT id, parent_id, 1 FROM folders WHERE parent_id IS NULL"
        "   UNION ALL SELECT f.id, f.parent_id, up.depth + 1 FROM folders f"
        "   JOIN up ON f.parent_id = up.id) SELECT max(depth) FROM up),"
        " (SELECT count(*) FROM replies r JOIN replies t ON t.id = r.reply_to),"
        " (SELECT count(*) FROM replies WHERE reply_to = id))",
    )
    parented, roots, depth, replied, own = (int(n) for n in str(answer).split("/"))
    assert parented + roots == 3000 and 0.1 * 3000 < roots < 0.3 * 3000
    assert depth > 2  # a tree, not a flat list
    assert replied == 500 and own == 1  # NOT NULL: only the first row is its own parent
    folders = next(t for t in result.tables if t.table == "folders")
    assert any("UUIDs numbered by row" in note for note in folders.notes)


def test_a_tree_over_numbered_keys_has_no_row_its_own_parent(
    tmp_path: Path, work_root: Path, pg_binaries: PostgresBinaries
) -> None:
    """A table referring to its own rows by keys the database numbers: each row takes an
    earlier row's key, so `CHECK (parent_id <> id)` holds and a recursive query over the
    tree ends (no cycle); where it may be NULL, the first row and a share are roots."""
    schema = """
    CREATE TABLE folders (
        id bigserial PRIMARY KEY,
        parent_id bigint REFERENCES folders (id),
        name text NOT NULL,
        CHECK (parent_id IS DISTINCT FROM id)
    );
    CREATE TABLE steps (
        id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        follows int NOT NULL REFERENCES steps (id)
    );
    """
    data = (
        "data:\n  seed: {seed}\n  tables:\n    folders: {{rows: 3000}}\n    steps: {{rows: 500}}\n"
    )
    answer, result = _probe(
        _scenario(tmp_path, schema=schema, data=data, up="ALTER TABLE folders ADD COLUMN x int"),
        pg_binaries,
        "SELECT concat_ws('/', (SELECT count(*) FROM folders f JOIN folders p"
        "  ON p.id = f.parent_id AND p.id < f.id), (SELECT count(*) FROM folders"
        "  WHERE parent_id IS NULL), (WITH RECURSIVE up(id, depth) AS ("
        "   SELECT id, 1 FROM folders WHERE parent_id IS NULL"
        "   UNION ALL SELECT f.id, up.depth + 1 FROM folders f"
        "   JOIN up ON f.parent_id = up.id) SELECT count(*) || '/' || max(depth) FROM up),"
        " (SELECT count(*) FROM steps s JOIN steps t ON t.id = s.follows AND t.id < s.id),"
        " (SELECT count(*) FROM steps WHERE follows = id))",
    )
    parented, roots, reached, depth, earlier, own = (int(n) for n in str(answer).split("/"))
    assert parented + roots == 3000 and 0.1 * 3000 < roots < 0.3 * 3000
    assert reached == 3000 and depth > 2  # every folder under a root: a tree, not a list
    assert earlier == 499 and own == 1  # NOT NULL: only the first row is its own
    folders = next(t for t in result.tables if t.table == "folders")
    assert any("an earlier row's key" in note for note in folders.notes)


def test_exclusion_constraints_are_honoured_or_named_in_the_plan(
    tmp_path: Path, work_root: Path, pg_binaries: PostgresBinaries
) -> None:
    """No double booking (`room WITH =, during WITH &&`): each row's range gets a slot of
    its own, so the constraint builds after seeding; `code WITH =` is a unique key. A form
    pgrehearse cannot build values for is a plan problem before any row is seeded."""
    schema = """
    CREATE EXTENSION btree_gist;
    CREATE TABLE rooms (id int PRIMARY KEY);
    CREATE TABLE bookings (
        id bigserial PRIMARY KEY,
        room_id int NOT NULL REFERENCES rooms (id),
        during tstzrange NOT NULL,
        nights daterange,
        code text NOT NULL,
        EXCLUDE USING gist (room_id WITH =, during WITH &&),
        EXCLUDE USING btree (code WITH =)
    );
    CREATE TABLE shifts (
        worker text NOT NULL,
        starts_at timestamptz NOT NULL,
        ends_at timestamptz NOT NULL,
        EXCLUDE USING gist (worker WITH =, tstzrange(starts_at, ends_at, '[]') WITH &&)
    );
    CREATE TABLE stays ("Guest" int, "Arrives" date, "Leaves" date,
        EXCLUDE USING gist ("Guest" WITH =, daterange("Arrives", "Leaves") WITH &&));
    """
    data = (
        "data:\n  seed: {seed}\n  tables:\n    rooms: {{rows: 20}}\n    bookings: {{rows: 4000}}\n"
        "    shifts: {{rows: 3000}}\n    stays: {{rows: 1000}}\n"
    )
    answer, _ = _probe(
        _scenario(tmp_path, schema=schema, data=data, up="ALTER TABLE rooms ADD COLUMN x int"),
        pg_binaries,
        "SELECT format('%s/%s/%s/%s', (SELECT count(*) FROM bookings a JOIN bookings b "
        "ON a.id < b.id AND a.nights && b.nights), (SELECT count(DISTINCT code) FROM bookings),"
        " (SELECT count(*) FROM shifts WHERE ends_at > starts_at),"
        ' (SELECT count(*) FROM stays WHERE "Leaves" > "Arrives"))',
    )
    overlapping_nights, codes, shifts, stays = (int(part) for part in str(answer).split("/"))
    assert overlapping_nights > 0  # ranges no constraint separates overlap, as in life
    assert codes == 4000
    # a range of two columns WITH &&: slots of their own, so the constraints were built
    assert (shifts, stays) == (3000, 1000)

    broken = schema.replace(
        "EXCLUDE USING btree (code WITH =)", "EXCLUDE USING gist (circle(point(0, 0), 1) WITH &&)"
    )
    with pytest.raises(ScenarioError) as raised:
        rehearse(load_scenario(_scenario(tmp_path / "broken", schema=broken, data=data)))
    [problem] = raised.value.problems
    assert "EXCLUDE constraint" in problem.message and "an expression WITH &&" in problem.message


def test_the_columns_of_a_range_an_exclusion_builds_are_read() -> None:
    from pgrehearse.seed._exclusions import range_columns

    assert range_columns("tstzrange(starts_at, ends_at)") == ("starts_at", "ends_at")
    assert range_columns("tsrange(a, b, '[]'::text)") == ("a", "b")
    assert range_columns('daterange("Arrives", "Leaves")') == ("Arrives", "Leaves")
    assert range_columns("pg_catalog.tstzrange(s, e, '(]')") == ("s", "e")
    for other in ("during", "int4range(a, b)", "tstzrange(a, a)", "tstzrange(a + 1, b)"):
        assert range_columns(other) is None, other


def test_reference_cycle_without_a_nullable_side_is_an_error(
    tmp_path: Path, work_root: Path
) -> None:
    schema = """
    CREATE TABLE a (id int PRIMARY KEY, b_id int NOT NULL);
    CREATE TABLE b (id int PRIMARY KEY, a_id int NOT NULL REFERENCES a (id));
    ALTER TABLE a ADD FOREIGN KEY (b_id) REFERENCES b (id);
    """
    # keys drawn at random: nothing tells them before they exist
    data = (
        "data:\n  seed: {seed}\n  tables:\n"
        "    a: {{rows: 5, columns: {{id: {{int: [1, 100000], unique: true}}}}}}\n"
        "    b: {{rows: 5, columns: {{id: {{int: [1, 100000], unique: true}}}}}}\n"
    )
    with pytest.raises(ScenarioError) as caught:
        rehearse(load_scenario(_scenario(tmp_path, schema=schema, data=data)), report_dir=None)
    [problem] = caught.value.problems
    assert "cycle" in problem.message and problem.hint and "nullable" in problem.hint
    assert problem.line is not None


def test_generator_that_does_not_fit_the_type_names_the_column_line(
    tmp_path: Path, work_root: Path
) -> None:
    data = SHOP_DATA.replace(
        "amount: {{float: [1, 500]}}", "amount: {{between: [2020-01-01, 2021-01-01]}}"
    )
    path = _scenario(tmp_path, data=data)
    with pytest.raises(ScenarioError) as caught:
        rehearse(load_scenario(path), report_dir=None)
    [problem] = caught.value.problems
    assert "`between` makes dates/timestamps, which do not fit orders.amount" in problem.message
    assert (
        problem.line
        == path.read_text()
        .splitlines()
        .index(next(line for line in path.read_text().splitlines() if "amount:" in line))
        + 1
    )


def test_unknown_column_and_missing_table(tmp_path: Path, work_root: Path) -> None:
    data = SHOP_DATA.replace("note: {{text", "notes: {{text")
    with pytest.raises(ScenarioError, match="table 'orders' has no column 'notes'"):
        rehearse(load_scenario(_scenario(tmp_path / "a", data=data)), report_dir=None)
    data = SHOP_DATA.replace("    orders:", "    order:")
    with pytest.raises(ScenarioError, match="the schema has no table 'order'"):
        rehearse(load_scenario(_scenario(tmp_path / "b", data=data)), report_dir=None)


def test_impossible_uniqueness_fails_before_any_server_starts(
    tmp_path: Path, work_root: Path
) -> None:
    data = SHOP_DATA.replace(
        "status: {{choice: {{paid: 0.7, pending: 0.2, refunded: 0.1}}}}",
        "status: {{choice: [paid, pending], unique: true}}",
    )
    reports = tmp_path / "reports"
    with pytest.raises(ScenarioError) as caught:
        rehearse(load_scenario(_scenario(tmp_path, data=data)), report_dir=reports)
    [problem] = caught.value.problems
    assert "only 2 distinct values for 2,000 rows" in problem.message
    assert not reports.exists()  # nothing ran


def test_unknown_faker_provider_is_invalid_input_with_line(tmp_path: Path) -> None:
    path = _scenario(tmp_path, data=SHOP_DATA.replace("faker: name", "faker: nmae"))
    result = subprocess.run(
        [sys.executable, "-m", "pgrehearse", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"{path}:11:" in result.stderr and "no provider named 'nmae'" in result.stderr


# --------------------------------------------------------------------------- cache


def test_cache_hit_reuses_the_seeded_database(
    tmp_path: Path, work_root: Path, pg_binaries: PostgresBinaries, cache_dir: Path
) -> None:
    path = _scenario(tmp_path)
    first_answer, first = _probe(path, pg_binaries, CHECKSUM)
    assert first.cache is not None and first.cache.hit is False and first.cache.saved
    second_answer, second = _probe(path, pg_binaries, CHECKSUM)
    assert second.cache is not None and second.cache.hit is True
    assert second_answer == first_answer
    assert [p.status for p in second.phases if p.name in ("schema", "seed", "post_data")] == [
        "skipped"
    ] * 3
    assert [t.rows for t in second.tables] == [t.rows for t in first.tables]
    # another seed is another entry
    _, third = _probe(_scenario(tmp_path / "other", seed=9), pg_binaries, CHECKSUM)
    assert third.cache is not None and third.cache.hit is False
    assert len(SnapshotCache().entries()) == 2


def test_damaged_cache_entry_is_rebuilt_not_used(
    tmp_path: Path, work_root: Path, pg_binaries: PostgresBinaries
) -> None:
    path = _scenario(tmp_path)
    answer, first = _probe(path, pg_binaries, CHECKSUM)
    assert first.cache is not None
    assert first.cache.path is not None
    entry = Path(first.cache.path)
    victim = max(
        (p for p in (entry / "data" / "base").rglob("*") if p.is_file()),
        key=lambda p: p.stat().st_size,
    )
    victim.write_bytes(bytes(victim.stat().st_size))  # zeroed in place, same size
    again, second = _probe(path, pg_binaries, CHECKSUM)
    assert second.cache is not None
    assert second.cache.hit is False and second.cache.saved is True
    assert second.cache.damage is not None and "checksum" in second.cache.damage
    assert again == answer


def test_partial_entry_is_ignored(
    tmp_path: Path, work_root: Path, pg_binaries: PostgresBinaries
) -> None:
    path = _scenario(tmp_path)
    _, first = _probe(path, pg_binaries, CHECKSUM)
    assert first.cache is not None
    assert first.cache.path is not None
    entry = Path(first.cache.path)
    (entry / "meta.json").unlink()  # as if the run died before finishing the entry
    _, second = _probe(path, pg_binaries, CHECKSUM)
    assert second.cache is not None and second.cache.hit is False and second.cache.saved


def test_concurrent_runs_share_the_cache_safely(tmp_path: Path, work_root: Path) -> None:
    path = _scenario(tmp_path, orders=20_000)
    command = [
        sys.executable,
        "-m",
        "pgrehearse",
        "run",
        str(path),
        "--report-dir",
        str(tmp_path / "reports"),
    ]
    runs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(3)
    ]
    for run in runs:
        _, stderr = run.communicate(timeout=300)
        assert run.returncode == 0, stderr.decode()
    entries = SnapshotCache().entries()
    assert len(entries) == 1 and not entries[0].meta.get("damaged")
    assert not list(SnapshotCache().root.glob("*.partial-*"))
    # and the entry is good: a fourth run hits it
    fourth = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert fourth.returncode == 0
    summaries = sorted((tmp_path / "reports" / "shop").glob("*/summary.json"))
    caches = [json.loads(s.read_text())["cache"] for s in summaries]
    # one run seeded; the others waited for its snapshot instead of seeding it again
    assert sum(c["saved"] for c in caches) == 1
    assert sum(c["hit"] for c in caches) == 3


def test_cache_cli_lists_and_clears(tmp_path: Path, work_root: Path) -> None:
    path = _scenario(tmp_path)
    cli = [sys.executable, "-m", "pgrehearse"]
    assert (
        subprocess.run(
            [*cli, "run", str(path), "--report-dir", str(tmp_path / "r")],
            capture_output=True,
            timeout=300,
        ).returncode
        == 0
    )
    listing = subprocess.run([*cli, "cache", "list"], capture_output=True, text=True, timeout=60)
    assert "shop" in listing.stdout and "2,300" in listing.stdout
    cleared = subprocess.run([*cli, "cache", "clear"], capture_output=True, text=True, timeout=60)
    assert "removed 1 cached snapshot" in cleared.stdout
    assert SnapshotCache().entries() == []
    no_cache = subprocess.run(
        [*cli, "run", str(path), "--report-dir", str(tmp_path / "r"), "--no-cache"],
        capture_output=True,
        timeout=300,
    )
    assert no_cache.returncode == 0 and SnapshotCache().entries() == []


def test_a_full_cache_folder_skips_the_snapshot_and_goes_on(
    tmp_path: Path, work_root: Path, pg_binaries: PostgresBinaries, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(*_args: object, **_kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(SnapshotCache, "save", disk_full)
    answer, result = _probe(_scenario(tmp_path), pg_binaries, CHECKSUM)
    assert answer is not None and result.passed
    assert result.cache is not None and result.cache.saved is False
    snapshot = result.phase("snapshot")
    assert snapshot is not None and snapshot.note == "not saved"


def test_a_generator_whose_values_do_not_fit_is_refused_before_seeding(
    tmp_path: Path, work_root: Path
) -> None:
    path = write_scenario(tmp_path / "s", rows=1000)
    path.write_text(path.read_text().replace("balance: {int: [0, 1000]}", "balance: {faker: name}"))
    done = subprocess.run(
        [sys.executable, "-m", "pgrehearse", "run", str(path), "--no-cache"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert "▸ seed:" not in done.stderr  # refused by the plan, before any row is loaded
    assert "accounts.balance (integer) cannot hold the values its generator makes" in done.stderr
    line = next(
        number
        for number, text in enumerate(path.read_text().splitlines(), start=1)
        if "balance: {faker: name}" in text
    )
    assert f"scenario.yaml:{line}:" in done.stderr


REFERENCE_ROWS = """
CREATE TABLE order_status (id smallint PRIMARY KEY, code varchar(20) NOT NULL UNIQUE);
INSERT INTO order_status VALUES (1, 'NEW'), (2, 'PAID'), (40, 'SHIPPED');
CREATE TABLE orders (id bigserial PRIMARY KEY,
    status_id smallint NOT NULL REFERENCES order_status (id));
"""


def test_a_table_the_schema_filled_keeps_its_rows_and_seeded_keys_follow_them(
    tmp_path: Path, work_root: Path
) -> None:
    """The rows a schema (a migration) inserts stay; a numbered key of the rows added to
    them continues after their largest (1..N would repeat 1 and 2: the primary key's index
    would fail after seeding), and the plan says so."""
    from pgrehearse.rehearsal.plan import plan_seeding
    from pgrehearse.rehearsal.seeded import SeededServer
    from tests.helpers import seeding_scenario

    path = seeding_scenario(
        tmp_path, REFERENCE_ROWS, "{tables: {order_status: {rows: 10}, orders: {rows: 500}}}"
    )
    [status, _orders] = plan_seeding(load_scenario(path)).tables
    assert any("continues from 41" in note for note in status.notes), status.notes
    with SeededServer.start(load_scenario(path)) as seeded:
        database = seeded.database()
        with database.connect() as conn:
            kept = conn.execute("SELECT code FROM order_status WHERE id <= 40 ORDER BY id")
            codes = [code for (code,) in kept.fetchall()]
            added = conn.execute("SELECT min(id), count(*) FROM order_status WHERE id > 40")
            first_added, count_added = added.fetchone() or (None, None)
        database.drop()
    assert codes == ["NEW", "PAID", "SHIPPED"]
    assert (first_added, count_added) == (41, 10)


def test_arrays_keep_their_elements_length_precision_and_scale(
    tmp_path: Path, work_root: Path
) -> None:
    """An array's typmod is its elements': `varchar(4)[]` holds codes of up to 4
    characters, `numeric(3,2)[]` numbers under 10 (larger ones fail the COPY)."""
    from pgrehearse.rehearsal.seeded import SeededServer
    from tests.helpers import seeding_scenario

    path = seeding_scenario(
        tmp_path,
        "CREATE TABLE tagged (id serial PRIMARY KEY, codes varchar(4)[] NOT NULL,\n"
        "    ratios numeric(3,2)[] NOT NULL, scores numeric(5,2)[]);\n",
        "{tables: {tagged: {rows: 3000}}}",
    )
    with SeededServer.start(load_scenario(path)) as seeded:
        database = seeded.database()
        with database.connect() as conn:
            row = conn.execute(
                """SELECT max(length(c)), max(r), max(s), count(DISTINCT r) > 100
                   FROM tagged, unnest(codes) c, unnest(ratios) r, unnest(scores) s"""
            ).fetchone()
        database.drop()
    assert row is not None
    longest, ratio, score, spread = row
    assert longest <= 4 and ratio < 10 and score < 1000 and spread
