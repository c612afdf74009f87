"""What a column's name says about its values, read in its table's context: the Faker
provider for a text column (`email`, `name` in `languages`, `content_type`), long text, flags,
moments most rows never reach, integers whose name says their range (`quantity`, `rating`),
and the type column of a polymorphic reference."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

# column-name hints for text columns the scenario does not mention
_NAME_HINTS: list[tuple[tuple[str, ...], str]] = [
    (("email", "e_mail", "mail"), "email"),
    (("first_name", "firstname", "given_name"), "first_name"),
    (("last_name", "lastname", "surname", "family_name"), "last_name"),
    (("username", "user_name", "login", "handle"), "user_name"),
    (("filename", "file_name", "attachment_name"), "file_name"),
    (("content_type", "mime_type", "mimetype", "media_type"), "mime_type"),
    (("checksum", "md5"), "md5"),
    (("sha1",), "sha1"),
    (("sha256", "digest", "fingerprint", "token", "api_key", "secret"), "sha256"),
    (("hostname", "host_name", "host"), "hostname"),
    (("domain", "domain_name"), "domain_name"),
    (("user_agent",), "user_agent"),
    (("timezone", "time_zone"), "timezone"),
    (("full_name", "name", "display_name", "customer_name", "contact"), "name"),
    (("phone", "phone_number", "mobile", "telephone"), "phone_number"),
    (("city", "town"), "city"),
    (("country",), "country"),
    (("country_code",), "country_code"),
    (("mac", "mac_address"), "mac_address"),  # before `_address`
    (("address", "street", "street_address", "address_line1"), "street_address"),
    (("zip", "zipcode", "zip_code", "postcode", "postal_code"), "postcode"),
    (("avatar_url", "image_url", "photo_url", "picture_url", "thumbnail_url"), "image_url"),
    (("url", "website", "homepage", "link"), "url"),
    (("path", "file_path", "filepath", "storage_path"), "file_path"),
    (("locale",), "locale"),
    (("iban",), "iban"),
    (("isbn",), "isbn13"),
    (("company", "company_name", "organisation", "organization"), "company"),
    (("title", "subject", "headline"), "sentence"),
    (("job", "job_title", "occupation"), "job"),
    (("currency", "currency_code"), "currency_code"),
    (("ip", "ip_address", "remote_addr"), "ipv4"),
    (("color", "colour"), "color_name"),
    (("slug",), "slug"),
    (("sku", "code", "reference"), "bothify"),
]
LONG_TEXT = {
    "description",
    "body",
    "comment",
    "comments",
    "note",
    "notes",
    "bio",
    "content",
    "message",
    "text",
    "summary",
    "details",
    "remarks",
    "payload",
    "exception",
    "stack_trace",
    "backtrace",
}

# nullable moments most rows never reach: a soft delete, an archive, a cancellation
RARELY_SET = re.compile(
    r"^(deleted|archived|cancell?ed|revoked|banned|suspended|disabled|removed|blocked|"
    r"locked|discarded|trashed)_(at|on|date|time)$"
)
RARELY_SET_NULLS = 0.9

# what a `name` means in a table of things of one kind: a language's name is not a person's
NAMING_COLUMNS = {"name", "title", "label"}
TABLE_NAMES = {
    "language": "language_name",
    "country": "country",
    "city": "city",
    "color": "color_name",
    "colour": "color_name",
    "currency": "currency_name",
    "company": "company",
    "organization": "company",
    "organisation": "company",
    "brand": "company",
    "vendor": "company",
    "supplier": "company",
    "manufacturer": "company",
    "publisher": "company",
    "category": "word",
    "genre": "word",
    "tag": "word",
    "topic": "word",
    "label": "word",
    "department": "word",
    "team": "word",
    "group": "word",
    "role": "word",
    "permission": "word",
    "skill": "word",
    "job": "job",
    "product": "catch_phrase",
    "film": "catch_phrase",
    "movie": "catch_phrase",
    "book": "catch_phrase",
    "project": "catch_phrase",
    # a stored file's name: `objects` in a storage schema, attachments, uploads
    "file": "file_name",
    "object": "file_name",
    "attachment": "file_name",
    "upload": "file_name",
    "asset": "file_name",
    "document": "file_name",
    "blob": "file_name",
    "image": "file_name",
    "photo": "file_name",
    "media": "file_name",
}


_FLAGS = {"active", "enabled", "deleted", "verified", "visible", "archived", "published"}


def snake_case(name: str) -> str:
    """`firstName`, `FirstName` and `FIRST_NAME` as `first_name`: names are matched in
    one style, whatever the ORM wrote."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def is_flag(name: str) -> bool:
    """An integer column used as a yes/no flag: `active`, `is_admin`, `has_paid`, `x_flag`."""
    return name in _FLAGS or name.startswith(("is_", "has_", "can_")) or name.endswith("_flag")


_COUNTERS = re.compile(
    r"^(.*_)?(count|counter|attempts|retries|lock_version|version|visits|views|hits|logins)$"
)


def is_counter(name: str) -> bool:
    """An integer that counts: `comments_count`, `sign_in_count`, `lock_version`, `attempts`."""
    return _COUNTERS.match(name) is not None


def table_kind(table: str) -> str | None:
    """The Faker provider for a `name` in this table: `languages`, and `blog_category` as
    Django names its tables (the app's name first)."""
    word = singular(table)
    return TABLE_NAMES.get(word) or TABLE_NAMES.get(word.rsplit("_", 1)[-1])


# what a generic column holds in a table of one thing: an `emails` table's `address` is an
# email, not a street; a `phone_numbers` table's `number` a phone number
_IN_TABLES_OF: dict[str, tuple[set[str], str]] = {
    "email": ({"address", "value", "email_address"}, "email"),
    "email_address": ({"address", "value"}, "email"),
    "phone": ({"number", "value"}, "phone_number"),
    "phone_number": ({"number", "value"}, "phone_number"),
    "telephone": ({"number", "value"}, "phone_number"),
    "website": ({"address", "value"}, "url"),
    "url": ({"address", "value"}, "url"),
}


def provider_in_table(column: str, table: str) -> str | None:
    """The Faker provider a column takes in its table's context (`emails.address`)."""
    word = singular(table.rsplit(".", 1)[-1])
    for kind in (word, word.rsplit("_", 1)[-1]):
        found = _IN_TABLES_OF.get(kind)
        if found is not None and column in found[0]:
            return found[1]
    return None


# how often a boolean named so is true: few superusers, most accounts active
_TRUE_SHARES = [
    (
        re.compile(r"^(is_)?(superuser|staff|admin|deleted|archived|banned|blocked|locked|spam)$"),
        0.05,
    ),
    (re.compile(r"^(is_)?(active|enabled|visible|published|verified|confirmed)$"), 0.9),
]


def true_share(name: str) -> float:
    """The share of rows a boolean column named `name` is true in: 0.5 unless its name
    tells (`is_superuser` few, `is_active` most)."""
    return next((share for pattern, share in _TRUE_SHARES if pattern.match(name)), 0.5)


# small integer codes: a status, a kind, a level
_CODES = re.compile(r"^(.*_)?(status|state|kind|type|level|stage|phase|priority|severity)$")


def is_code(name: str) -> bool:
    return _CODES.match(name) is not None


# integers whose name says their range: an order line's quantity is a few units, not up
# to 100,000; a rating is out of five
_MEASURES: list[tuple[re.Pattern[str], dict[str, Any]]] = [
    (re.compile(r"^(.*_)?(qty|quantity)$"), {"int": [1, 10], "distribution": "zipf"}),
    (re.compile(r"^(.*_)?(rating|stars)$"), {"int": [1, 5]}),
    (re.compile(r"^(.*_)?(percent|percentage|pct)$"), {"int": [0, 100]}),
    (re.compile(r"^age$"), {"int": [18, 90]}),
    (re.compile(r"^(.*_)?year$"), {"int": [1990, 2026]}),
]


def integer_by_name(name: str) -> dict[str, Any] | None:
    """The `int` generator a measure's name implies (`quantity`, `rating`, `age`), if any."""
    return next((spec for pattern, spec in _MEASURES if pattern.match(name)), None)


# what a text column of such a name holds: a few labels, the first the most common
_LABELS: list[tuple[re.Pattern[str], dict[str, float]]] = [
    (
        re.compile(r"^(.*_)?(status|state)$"),
        {"active": 0.6, "pending": 0.2, "completed": 0.1, "cancelled": 0.06, "failed": 0.04},
    ),
    (
        re.compile(r"^(.*_)?(level|priority|severity)$"),
        {"low": 0.5, "medium": 0.3, "high": 0.15, "critical": 0.05},
    ),
    (
        re.compile(r"^(.*_)?(stage|phase)$"),
        {"draft": 0.4, "review": 0.2, "approved": 0.3, "done": 0.1},
    ),
    (re.compile(r"^(.*_)?role$"), {"member": 0.8, "admin": 0.1, "owner": 0.05, "viewer": 0.05}),
    (
        re.compile(r"^(.*_)?(kind|type|plan|tier)$"),
        {"standard": 0.6, "basic": 0.25, "premium": 0.1, "custom": 0.05},
    ),
]
# beside these, a `state` is part of an address
ADDRESS_PARTS = {
    "city", "zip", "zipcode", "zip_code", "postal_code", "postcode", "country", "country_code",
    "street", "street_address", "address", "address1", "address_line1", "address_line_1",
}  # fmt: skip


def text_labels(name: str, longest: int | None) -> dict[str, float] | None:
    """The few labels a status-like text column holds, with their shares (`status`: active,
    pending, ...); None for other names, or when no label fits `longest` characters."""
    name = snake_case(name)
    labels = next((found for pattern, found in _LABELS if pattern.match(name)), None)
    if labels is None:
        return None
    fitting = {label: share for label, share in labels.items() if len(label) <= (longest or 99)}
    return fitting or None


def singular(table: str) -> str:
    word = table.rsplit(".", 1)[-1].lower()
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("ses", "xes")):
        return word[:-2]
    if word.endswith(("ss", "us", "is")):  # address, status, analysis
        return word
    return word.removesuffix("s")


def hinted_provider(name: str) -> str | None:
    for names, provider in _NAME_HINTS:
        if name in names:
            return provider
        if any(name.endswith("_" + n) for n in names):
            return _named_thing(name) if provider == "name" else provider
    return None


# the thing before `_name` that makes it a person's name (`author_name`); other things'
# names are read as those things' (`company_name`, `category_name`) or as a word
_PEOPLE = {
    "account", "agent", "author", "buyer", "client", "contact", "customer", "display",
    "driver", "employee", "family", "full", "given", "guest", "holder", "legal", "manager",
    "member", "middle", "nick", "owner", "patient", "person", "real", "recipient", "seller",
    "sender", "student", "teacher", "user",
}  # fmt: skip


def _named_thing(name: str) -> str:
    thing = name.removesuffix("_name").rsplit("_", 1)[-1]
    if thing in _PEOPLE:
        return "name"
    return TABLE_NAMES.get(singular(thing)) or hinted_provider(thing) or "word"


# the fewest characters a hash provider writes: a shorter column cannot hold its values
PROVIDER_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64}


def polymorphic_types(
    column: str, siblings: Iterable[str], tables: Callable[[], Iterable[str]], longest: int | None
) -> list[str] | None:
    """The class names a polymorphic reference's type column holds (`commentable_type`
    beside `commentable_id`, as Rails and Laravel write them): the first few `tables()`,
    named as their models are (`line_items` -> `LineItem`); None for other columns, for
    which `tables` is not called (listing them reads the whole catalog)."""
    name = snake_case(column)
    if not name.endswith("_type"):
        return None
    if name.removesuffix("_type") + "_id" not in {snake_case(s) for s in siblings}:
        return None
    models = [model_name(table) for table in tables()]
    fitting = [model for model in models if longest is None or len(model) <= longest]
    return list(dict.fromkeys(fitting))[:4] or None


def model_name(table: str) -> str:
    """The class name a model of `table` has (`line_items` -> `LineItem`)."""
    words = re.split(r"[_\s]+", table.rsplit(".", 1)[-1])
    return "".join(w[:1].upper() + w[1:] for w in words[:-1]) + singular(words[-1]).title()


def faker_provider_for(column: str, table: str) -> str:
    """The Faker provider whose values look like this text column's, read from its name in
    its table's context (`name` in `languages` is a language); `word` when nothing fits."""
    name = column.lower()
    in_context = table_kind(table) if name in NAMING_COLUMNS else None
    provider = in_context or hinted_provider(name)
    if provider is None or provider == "bothify":
        return "sentence" if name in LONG_TEXT else "word"
    return provider


_CREATION_WORDS = {"created", "creation", "create", "inserted", "insert", "registered", "signup"}
_MOMENT_WORDS = {"at", "on", "date", "time", "utc", "timestamp", "ts", "dt", "datetime"}
_CREATION_NAMES = {"date_created", "date_inserted", "date_joined", "gmt_create", "joined_at"}


def is_creation_moment(name: str) -> bool:
    """A moment a row is made at, so rows made later have later ones: `created_at`,
    `created`, `CreatedUtc`, `creation_time`, `create_time`, `inserted_at`, `date_joined`
    (`name` in snake case)."""
    first, *rest = name.split("_")
    return name in _CREATION_NAMES or (first in _CREATION_WORDS and set(rest) <= _MOMENT_WORDS)
