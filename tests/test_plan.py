"""`pgrehearse plan`: the seeding plan of every column, and every problem in one run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pgrehearse import load_scenario
from pgrehearse.errors import ScenarioError
from pgrehearse.rehearsal.plan import plan_seeding
from tests.helpers import seeding_scenario

SCHEMA = """
CREATE TYPE tier AS ENUM ('free', 'pro', 'team');
CREATE TABLE accounts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text NOT NULL UNIQUE,
    plan tier NOT NULL,
    seats integer NOT NULL CHECK (seats IN (1, 5, 20)),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE invoices (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES accounts (id),
    cents integer NOT NULL,
    shape pg_snapshot NOT NULL
);
"""


def _scenario(folder: Path, columns: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "schema.sql").write_text(SCHEMA)
    path = folder / "scenario.yaml"
    path.write_text(
        "version: 1\n"
        "name: plan\n"
        "schema: schema.sql\n"
        "data:\n"
        "  tables:\n"
        "    accounts:\n"
        "      rows: 100\n"
        "    invoices:\n"
        "      rows: 300\n"
        f"{columns}"
        "migration:\n"
        "  up: SELECT 1;\n"
    )
    return path


def _cli(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pgrehearse", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_plan_shows_every_column_its_generator_and_where_it_came_from(
    tmp_path: Path, work_root: Path
) -> None:
    path = _scenario(tmp_path, "      columns:\n        shape: {value: '10:20:10,14'}\n")
    plan = plan_seeding(load_scenario(path))
    tables = {t.name: t for t in plan.tables}
    assert [t.name for t in plan.tables] == ["accounts", "invoices"]  # referenced first
    accounts = {c.name: c for c in tables["accounts"].columns}
    assert accounts["id"].generator is None and "identity" in accounts["id"].source
    assert accounts["email"].generator is not None and accounts["email"].generator["unique"]
    assert "unique" in accounts["email"].source
    assert accounts["plan"].source.startswith("inferred") and "enum" in accounts["plan"].source
    assert "CHECK" in accounts["seats"].source
    invoices = {c.name: c for c in tables["invoices"].columns}
    assert invoices["account_id"].generator == {"ref": "accounts.id"}
    assert "foreign key to accounts.id" in invoices["account_id"].source
    assert invoices["shape"].source == "scenario line 11"

    done = _cli("plan", path, "-q")
    assert done.returncode == 0, done.stderr
    assert "accounts: 100 rows" in done.stdout and "invoices: 300 rows" in done.stdout
    assert "{ref: accounts.id}" in done.stdout
    assert "no problems found" in done.stdout
    assert list(work_root.iterdir()) == []  # the throwaway server is gone


def test_a_broken_scenario_gets_every_problem_in_one_run(tmp_path: Path, work_root: Path) -> None:
    columns = (
        "      columns:\n"
        "        cents: {faker: name}\n"  # Faker names in an integer column
        "        colour: {choice: [red]}\n"  # no such column
    )
    path = _scenario(tmp_path, columns)
    path.write_text(
        path.read_text().replace(
            "    accounts:\n      rows: 100\n",
            "    accounts:\n      rows: 100\n      columns:\n        seats: {int: [1, 3]}\n",
        )
    )
    with pytest.raises(ScenarioError) as raised:
        plan_seeding(load_scenario(path))
    messages = [f"{p.line}: {p.message}" for p in raised.value.problems]
    text = "\n".join(messages)
    assert "no column 'colour'" in text
    assert "invoices.shape" in text and "cannot infer" in text  # pg_snapshot NOT NULL
    assert "invoices.cents" in text and "integer" in text  # Faker names into integers
    assert len(messages) >= 3, messages
    assert all(p.line is not None for p in raised.value.problems)

    done = _cli("plan", path, "-q")
    assert done.returncode == 2, done.stdout
    for needle in ("no column 'colour'", "invoices.shape", "invoices.cents"):
        assert needle in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert list(work_root.iterdir()) == []


def test_names_are_read_in_their_tables_context_and_flags_stay_flags(
    tmp_path: Path, work_root: Path
) -> None:
    (tmp_path / "schema.sql").write_text(
        "CREATE TABLE languages (id serial PRIMARY KEY, name text NOT NULL UNIQUE);\n"
        "CREATE TABLE categories (id serial PRIMARY KEY, name varchar(25) NOT NULL);\n"
        "CREATE TABLE countries (id serial PRIMARY KEY, name text NOT NULL);\n"
        "CREATE TABLE language (id serial PRIMARY KEY, name character(20) NOT NULL);\n"
        "CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL,\n"
        "    active integer NOT NULL, is_vip smallint NOT NULL, visits integer NOT NULL,\n"
        "    created_at timestamptz NOT NULL, deleted_at timestamptz, seen_at timestamptz,\n"
        "    last_login_at timestamptz);\n"
        # Django names a table after its app and model
        "CREATE TABLE blog_tag (id bigserial PRIMARY KEY, name varchar(50) NOT NULL);\n"
        'CREATE TABLE "auth_user" ("id" integer PRIMARY KEY, "password" varchar(128) NOT NULL,\n'
        '    "is_superuser" boolean NOT NULL, "is_active" boolean NOT NULL,\n'
        '    "status" smallint NOT NULL CHECK ("status" >= 0), "subscribed" boolean NOT NULL);\n'
        # status-like text holds a few labels; a state in an address is a state
        "CREATE TABLE tickets (id serial PRIMARY KEY, status text NOT NULL,\n"
        "    priority varchar(6), role text, content_type text, notes text,\n"
        "    stage text CHECK (char_length(stage) > 2));\n"
        "CREATE TABLE addresses (id serial PRIMARY KEY, city text, state char(2),\n"
        "    zip text);\n"
        # Laravel's queue keeps moments as Unix seconds; a unique token is a hash
        "CREATE TABLE jobs (id bigserial PRIMARY KEY, payload text NOT NULL,\n"
        "    available_at integer NOT NULL, token varchar(64) UNIQUE, run_time integer);\n"
        # a stored file's name and path; an avatar is an image
        "CREATE TABLE attachments (id serial PRIMARY KEY, name text NOT NULL, path text,\n"
        "    avatar_url text, locale varchar(16), mac_address text);\n"
        # a generic column in a table of one thing; ISO codes in char(n)
        "CREATE TABLE user_emails (id serial PRIMARY KEY, address text NOT NULL UNIQUE);\n"
        "CREATE TABLE phone_numbers (id serial PRIMARY KEY, number varchar(40),\n"
        "    country_code char(2), currency char(3) NOT NULL);\n"
    )
    path = tmp_path / "scenario.yaml"
    path.write_text(
        "version: 1\nname: context\nschema: schema.sql\n"
        "data: {tables: {languages: {rows: 30}, categories: {rows: 20}, "
        "countries: {rows: 20}, language: {rows: 6}, customers: {rows: 50}, "
        "blog_tag: {rows: 20}, auth_user: {rows: 20}, tickets: {rows: 20}, "
        "addresses: {rows: 20}, jobs: {rows: 20}, attachments: {rows: 20},\n"
        "  user_emails: {rows: 20}, phone_numbers: {rows: 20}}}\n"
        "migration: {up: SELECT 1;}\n"
    )
    plan = plan_seeding(load_scenario(path))
    generators = {
        (t.name, c.name): c.generator for t in plan.tables for c in t.columns if c.generator
    }
    assert generators[("languages", "name")] == {"faker": "language_name", "unique": True}
    assert generators[("categories", "name")] == {"faker": "word"}
    assert generators[("countries", "name")] == {"faker": "country"}
    assert generators[("language", "name")] == {"faker": "language_name"}  # char(20) pads it
    assert generators[("customers", "name")] == {"faker": "name"}  # a person, here
    assert generators[("customers", "active")] == {"int": [0, 1]}
    assert generators[("customers", "is_vip")] == {"int": [0, 1]}
    visits = generators[("customers", "visits")]
    assert visits is not None and visits["int"][1] > 1  # not a flag
    deleted = generators[("customers", "deleted_at")]  # a soft delete most rows never reach
    assert deleted is not None and deleted["after"] == "created_at"
    assert deleted["null_fraction"] == 0.9
    assert "null_fraction" not in (generators[("customers", "seen_at")] or {})
    assert generators[("customers", "last_login_at")] == {"after": "created_at"}
    assert generators[("blog_tag", "name")] == {"faker": "word"}  # a tag, not a person
    assert generators[("auth_user", "password")]["pattern"].startswith("^\\$2a")  # a hash
    assert generators[("auth_user", "is_superuser")] == {"bool": 0.05}  # few superusers
    assert generators[("auth_user", "is_active")] == {"bool": 0.9}  # most accounts active
    assert generators[("auth_user", "subscribed")] == {"bool": 0.5}  # the name does not tell
    assert generators[("auth_user", "status")] == {"int": [0, 5]}  # a status code
    status = generators[("tickets", "status")]
    assert status is not None and list(status["choice"])[:2] == ["active", "pending"]
    assert set(generators[("tickets", "priority")]["choice"]) == {"low", "medium", "high"}
    assert "member" in generators[("tickets", "role")]["choice"]
    assert generators[("tickets", "content_type")] == {"faker": "mime_type"}
    assert "choice" not in generators[("tickets", "notes")]
    assert "choice" not in generators[("tickets", "stage")]  # its CHECK is honoured instead
    assert generators[("addresses", "state")] == {"faker": "state_abbr"}
    assert generators[("jobs", "available_at")] == {"int": [1_420_070_400, 1_767_225_600]}
    assert generators[("jobs", "run_time")] != generators[("jobs", "available_at")]
    assert generators[("jobs", "token")] == {"pattern": "^[0-9a-f]{64}$", "unique": True}
    assert generators[("jobs", "payload")]["text"][1] > 40  # longer than a label
    for column, provider in [
        ("name", "file_name"),
        ("path", "file_path"),
        ("avatar_url", "image_url"),
        ("locale", "locale"),
        ("mac_address", "mac_address"),
    ]:
        assert generators[("attachments", column)] == {"faker": provider}, column
    assert generators[("user_emails", "address")] == {"faker": "email", "unique": True}
    assert generators[("phone_numbers", "number")] == {"faker": "phone_number"}
    assert generators[("phone_numbers", "country_code")] == {"faker": "country_code"}
    assert generators[("phone_numbers", "currency")] == {"faker": "currency_code"}


def test_a_placeholder_default_is_generated_and_a_meaningful_one_kept(
    tmp_path: Path, work_root: Path
) -> None:
    """`DEFAULT 0` and `DEFAULT ''` are how an ORM makes a column NOT NULL: production's
    totals, counters and password hashes are not all zero or empty, so they are generated.
    A flag's zero, a currency, a boolean and an empty JSON object are what most production
    rows hold too: left to the database. A random UUID is not the same from one run to the
    next, which the same seed must be: generated."""
    path = seeding_scenario(
        tmp_path,
        "CREATE TABLE orders (id bigserial PRIMARY KEY,\n"
        "    total_cents bigint NOT NULL DEFAULT 0, price numeric(10, 2) NOT NULL DEFAULT 0.00,\n"
        "    encrypted_password varchar NOT NULL DEFAULT '', is_gift int NOT NULL DEFAULT 0,\n"
        "    currency char(3) NOT NULL DEFAULT 'EUR', paid boolean NOT NULL DEFAULT false,\n"
        "    settings jsonb NOT NULL DEFAULT '{}', lock_version integer NOT NULL DEFAULT 0,\n"
        "    public_id uuid NOT NULL UNIQUE DEFAULT gen_random_uuid());\n",
        "{tables: {orders: {rows: 30}}}",
        name="defaults",
    )
    [orders] = plan_seeding(load_scenario(path)).tables
    generated = {c.name for c in orders.columns if c.generator}
    assert generated == {"total_cents", "price", "encrypted_password", "lock_version", "public_id"}
    left = {c.name for c in orders.columns if not c.generator}
    assert left == {"id", "is_gift", "currency", "paid", "settings"}
    counter = next(c.generator for c in orders.columns if c.name == "lock_version")
    assert counter == {"int": [0, 1_000], "distribution": "zipf"}  # counts: most small


def test_a_defaulted_part_of_a_composite_key_is_generated(tmp_path: Path, work_root: Path) -> None:
    """`UNIQUE (user_id, kind)` with `kind DEFAULT 'home'`: left to its default, every
    user could have one address; generated, the key takes as many as its labels allow."""
    path = seeding_scenario(
        tmp_path,
        "CREATE TABLE users (id bigserial PRIMARY KEY);\n"
        "CREATE TABLE addresses (id serial PRIMARY KEY,\n"
        "    user_id bigint NOT NULL REFERENCES users (id),\n"
        "    kind text NOT NULL DEFAULT 'home', UNIQUE (user_id, kind));\n",
        "{tables: {users: {rows: 50}, addresses: {rows: 150}}}",
        name="defaults",
    )
    addresses = next(t for t in plan_seeding(load_scenario(path)).tables if t.name == "addresses")
    kind = next(c.generator for c in addresses.columns if c.name == "kind")
    assert kind is not None and len(kind["choice"]) >= 3, kind


def test_integers_whose_name_says_their_range_stay_in_it(tmp_path: Path, work_root: Path) -> None:
    path = seeding_scenario(
        tmp_path,
        "CREATE TABLE order_lines (id serial PRIMARY KEY, quantity int NOT NULL,\n"
        '    "returnedQty" smallint, rating smallint CHECK (rating > 1), stars int,\n'
        "    discount_percent int, age int, birth_year int, total int);\n",
        "{tables: {order_lines: {rows: 30}}}",
    )
    [lines] = plan_seeding(load_scenario(path)).tables
    generators = {c.name: c.generator for c in lines.columns}
    assert generators["quantity"] == {"int": [1, 10], "distribution": "zipf"}  # a few units
    assert generators["returnedQty"] == {"int": [1, 10], "distribution": "zipf"}
    assert generators["rating"] == {"int": [2, 5]}  # out of five, above the CHECK's 1
    assert generators["stars"] == {"int": [1, 5]}
    assert generators["discount_percent"] == {"int": [0, 100]}
    assert generators["age"] == {"int": [18, 90]}
    assert generators["birth_year"] == {"int": [1990, 2026]}
    assert generators["total"] == {"int": [0, 100_000]}  # nothing said: the default range


def test_names_as_orms_write_them_are_read_like_snake_case(tmp_path: Path, work_root: Path) -> None:
    """Prisma and JPA write camelCase (`firstName`, `createdAt`), Ecto `inserted_at`: the
    same inference as for snake_case names, in the name's own style."""
    (tmp_path / "schema.sql").write_text(
        'CREATE TABLE "User" (id serial PRIMARY KEY, "firstName" text NOT NULL,\n'
        '    "phoneNumber" text, "isActive" integer NOT NULL,\n'
        '    "createdAt" timestamp(3) NOT NULL, "updatedAt" timestamp(3) NOT NULL);\n'
        "CREATE TABLE posts (id serial PRIMARY KEY, inserted_at timestamp NOT NULL,\n"
        "    updated_at timestamp NOT NULL);\n"
        'CREATE TABLE "Grants" ("Id" serial PRIMARY KEY, "CreationTime" timestamptz NOT NULL,\n'
        '    "CreatedUtc" timestamptz, create_time timestamp, date_joined date,\n'
        '    "createdBy" timestamptz, "LockoutEnd" timestamptz);\n'
    )
    path = tmp_path / "scenario.yaml"
    path.write_text(
        "version: 1\nname: orm\nschema: schema.sql\n"
        "data: {tables: {User: {rows: 30}, posts: {rows: 30}, Grants: {rows: 30}}}\n"
        "migration: {up: SELECT 1;}\n"
    )
    plan = plan_seeding(load_scenario(path))
    generators = {
        (t.name, c.name): c.generator for t in plan.tables for c in t.columns if c.generator
    }
    assert generators[("User", "firstName")] == {"faker": "first_name"}
    assert generators[("User", "phoneNumber")] == {"faker": "phone_number"}
    assert generators[("User", "isActive")] == {"int": [0, 1]}
    assert generators[("User", "createdAt")]["distribution"] == "increasing"
    assert generators[("User", "updatedAt")] == {"after": "createdAt"}
    assert generators[("posts", "updated_at")] == {"after": "inserted_at"}
    # the moment a row was made, however named: rows made later have later ones
    for made in ("CreationTime", "CreatedUtc", "create_time", "date_joined"):
        assert generators[("Grants", made)]["distribution"] == "increasing", made
    for other in ("createdBy", "LockoutEnd"):
        assert "distribution" not in generators[("Grants", other)], other  # uniform


def test_keys_with_fewer_values_than_rows_are_all_named_by_the_plan(
    tmp_path: Path, work_root: Path
) -> None:
    """A lookup table keyed by an enum, a boolean or a two-letter code holds only so many
    rows: the plan names each one, with how many it can hold, before any row is seeded."""
    path = seeding_scenario(
        tmp_path,
        "CREATE TYPE tier AS ENUM ('free', 'pro', 'enterprise');\n"
        "CREATE TABLE plans (tier tier PRIMARY KEY);\n"
        "CREATE TABLE switches (position boolean PRIMARY KEY);\n"
        "CREATE TABLE countries (code char(2) PRIMARY KEY);\n",
        "{tables: {plans: {rows: 5}, switches: {rows: 3}, countries: {rows: 2000}}}",
    )
    with pytest.raises(ScenarioError) as raised:
        plan_seeding(load_scenario(path))
    messages = sorted(problem.message for problem in raised.value.problems)
    assert len(messages) == 3, messages
    assert "countries.code must be unique, but its pattern" in messages[0]
    assert "makes only 1,296 values, for 2,000 rows" in messages[0]
    assert "plans.tier must be unique, but it takes only 3 values, for 5 rows" in messages[1]
    assert (
        "switches.position must be unique, but it takes only 2 values, for 3 rows" in (messages[2])
    )
    hints = sorted(problem.hint or "" for problem in raised.value.problems)
    assert [hint.split(" (")[0] for hint in hints] == [
        "lower its rows to 1,296 or fewer",
        "lower its rows to 2 or fewer",
        "lower its rows to 3 or fewer",
    ]
