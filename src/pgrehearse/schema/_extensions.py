"""Which extension a schema forgot to create, from the error its first use gives.

`pg_dump -n public` leaves out the extensions (they live in their own schema, or belong to
none), so the dump's `email citext` fails with `type "citext" does not exist` and nothing
says where citext comes from. Pure logic over the server's message."""

from __future__ import annotations

import re

# what the server names in its error, and the extension that provides it
_TYPES = {
    "citext": "citext",
    "hstore": "hstore",
    "ltree": "ltree",
    "lquery": "ltree",
    "ltxtquery": "ltree",
    "cube": "cube",
    "earth": "earthdistance",
    "seg": "seg",
    "lo": "lo",
    "isbn": "isn",
    "isbn13": "isn",
    "ean13": "isn",
    "issn": "isn",
    "issn13": "isn",
    "ismn": "isn",
    "upc": "isn",
    "geometry": "postgis",
    "geography": "postgis",
    "raster": "postgis_raster",
    "vector": "vector",
    "halfvec": "vector",
    "sparsevec": "vector",
}
_FUNCTIONS = {
    "uuid_generate_v1": "uuid-ossp",
    "uuid_generate_v1mc": "uuid-ossp",
    "uuid_generate_v3": "uuid-ossp",
    "uuid_generate_v4": "uuid-ossp",
    "uuid_generate_v5": "uuid-ossp",
    "uuid_nil": "uuid-ossp",
    "crypt": "pgcrypto",
    "gen_salt": "pgcrypto",
    "digest": "pgcrypto",
    "hmac": "pgcrypto",
    "pgp_sym_encrypt": "pgcrypto",
    "pgp_sym_decrypt": "pgcrypto",
    "unaccent": "unaccent",
    "similarity": "pg_trgm",
    "word_similarity": "pg_trgm",
    "show_trgm": "pg_trgm",
    "levenshtein": "fuzzystrmatch",
    "soundex": "fuzzystrmatch",
    "metaphone": "fuzzystrmatch",
    "dmetaphone": "fuzzystrmatch",
    "ll_to_earth": "earthdistance",
    "earth_distance": "earthdistance",
    "st_makepoint": "postgis",
    "st_setsrid": "postgis",
}
_OPERATOR_CLASSES = {"gin_trgm_ops": "pg_trgm", "gist_trgm_ops": "pg_trgm"}
# text search dictionaries and templates (`ALTER MAPPING … WITH unaccent`)
_DICTIONARIES = {
    "unaccent": "unaccent",
    "intdict": "dict_int",
    "intdict_template": "dict_int",
    "xsyn": "dict_xsyn",
    "xsyn_template": "dict_xsyn",
}
# extensions that are not contrib: the server's binaries must have them
NOT_CONTRIB = ["postgis", "postgis_raster", "vector"]

_TYPE = re.compile(r'type "(?:[\w]+\.)?(\w+)" does not exist')
_FUNCTION = re.compile(r"function (?:[\w]+\.)?(\w+)\(")
_OPERATOR_CLASS = re.compile(r'operator class "(?:\w+\.)?(\w+)" does not exist')
_DICTIONARY = re.compile(r'text search (?:dictionary|template) "(?:\w+\.)?(\w+)" does not exist')
_NO_DEFAULT_CLASS = re.compile(r'has no default operator class for access method "(gist|gin)"')


def extension_for(message: str) -> str | None:
    """The extension whose type, function, operator class or text search dictionary the
    error says is missing."""
    if (found := _TYPE.search(message)) is not None:
        return _TYPES.get(found.group(1).lower())
    if "does not exist" in message and (found := _FUNCTION.search(message)) is not None:
        return _FUNCTIONS.get(found.group(1).lower())
    if (found := _OPERATOR_CLASS.search(message)) is not None:
        return _OPERATOR_CLASSES.get(found.group(1))
    if (found := _DICTIONARY.search(message)) is not None:
        return _DICTIONARIES.get(found.group(1).lower())
    if (found := _NO_DEFAULT_CLASS.search(message)) is not None:
        # a plain column (an integer, say) in a GiST or GIN index: btree_gist / btree_gin
        return "btree_gist" if found.group(1) == "gist" else "btree_gin"
    return None


_CREATE_EXTENSION = re.compile(
    r"^\s*CREATE\s+EXTENSION\s+(?:IF\s+NOT\s+EXISTS\s+)?(\"[^\"]+\"|[\w-]+)", re.IGNORECASE
)


def extension_not_installed(statement: str, message: str) -> str | None:
    """The extension a failed CREATE EXTENSION wanted, when the binaries lack it."""
    wanted = _CREATE_EXTENSION.match(statement)
    if wanted is None:
        return None
    if "control file" not in message and "is not available" not in message:
        return None
    return wanted.group(1).strip('"')


_EXTENSION_SCHEMA = re.compile(
    r"\s*CREATE\s+EXTENSION\b.*?\bSCHEMA\s+(\"(?:[^\"]|\"\")+\"|\w+)", re.IGNORECASE | re.DOTALL
)
_MISSING_SCHEMA = re.compile(r'schema "((?:[^"]|"")+)" does not exist')


def missing_extension_schema(statement: str, message: str) -> str | None:
    """The schema a `CREATE EXTENSION … WITH SCHEMA name` puts the extension in, when the
    error says it does not exist (a platform makes it: Supabase's `extensions`)."""
    wanted = _EXTENSION_SCHEMA.match(statement)
    missing = _MISSING_SCHEMA.search(message)
    if wanted is None or missing is None:
        return None
    name = wanted.group(1)
    name = name[1:-1].replace('""', '"') if name.startswith('"') else name.lower()
    return name if name == missing.group(1) else None


def forgotten_extension_hint(message: str) -> str | None:
    """What to add to the schema when the error is a missing extension's."""
    extension = extension_for(message)
    if extension is None:
        return None
    create = f'CREATE EXTENSION IF NOT EXISTS "{extension}";'
    hint = (
        f"that comes from the extension {extension}: add `{create}` at the top of the "
        "schema (a pg_dump of one schema, -n, leaves the extensions out)"
    )
    if extension in NOT_CONTRIB:
        hint += (
            f"; {extension} is not part of PostgreSQL: use binaries that have it (--pg-bin), "
            "a Docker image that has it, or a server that has it (--dsn)"
        )
    return hint


_OUTSIDE = re.compile(
    r'schema "(?P<schema>(?:[^"]|"")+)" does not exist'
    r'|relation "(?P<relation>\w+\.\w+)" does not exist'
    r"|function (?P<function>\w+\.\w+)\(.*\) does not exist"
)


def outside_objects_hint(message: str, *, in_migrations: bool = False) -> str | None:
    """What to do when the schema uses an object of a schema it never creates (a
    platform's: Supabase's `auth.users` and `auth.uid()`); `in_migrations`: the user is a
    migration of a tool's folder (its baseline), not a schema file."""
    found = _OUTSIDE.search(message)
    if found is None:
        return None
    what = (
        f'the schema "{found.group("schema")}"'
        if found.group("schema")
        else found.group("relation") or f"{found.group('function')}()"
    )
    if in_migrations:
        return (
            f"{what} comes from outside the migrations (a platform's own objects, such as "
            "Supabase's auth.users): write a file that creates what they use of them and "
            "give it as `schema: platform.sql`, which is applied before the migrations"
        )
    return (
        f"{what} comes from outside the schema (a platform's own objects, such as "
        "Supabase's auth.users): write a file that creates what the schema uses of them "
        "and give it first, `schema: [platform.sql, schema.sql]`"
    )
