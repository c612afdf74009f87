"""C-language functions of a schema, and what can stand in for one whose shared library a
throwaway server lacks.

A dump of production names the libraries production has (`AS '/srv/app/lib/geo', 'tile'`);
PostgreSQL loads the library when the function is created, so the whole schema would fail
on a server without it. A PL/pgSQL function of the same signature that raises when called
keeps the schema whole: tables, views and migrations that merely name the function work,
and anything that calls it says which library is missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pglast import ast, parse_sql
from pglast.parser import ParseError
from pglast.stream import RawStream

_MAY_BE_C = re.compile(r"\bLANGUAGE\s+['\"]?c['\"]?(?:\s|;|$)", re.IGNORECASE)
# types a PL/pgSQL function can neither take nor return
_NOT_FOR_PLPGSQL = {
    "internal",
    "cstring",
    "language_handler",
    "fdw_handler",
    "index_am_handler",
    "table_am_handler",
    "tsm_handler",
}


@dataclass(frozen=True)
class CFunction:
    name: str  # as the statement names it, schema-qualified where it is
    library: str
    symbol: str
    stub: str | None  # the same function in PL/pgSQL, raising; None where none can stand in


def c_function(statement: str) -> CFunction | None:
    """The C function `statement` creates, else None."""
    if not _MAY_BE_C.search(statement):
        return None
    try:
        parsed = parse_sql(statement)
    except ParseError:
        return None
    if len(parsed) != 1 or not isinstance(parsed[0].stmt, ast.CreateFunctionStmt):
        return None
    node = parsed[0].stmt
    options = {option.defname: option for option in node.options or ()}
    language = options.get("language")
    body = options.get("as")
    if language is None or str(language.arg.sval).lower() != "c" or body is None:
        return None
    if not node.funcname:
        return None
    name = ".".join(part.sval for part in node.funcname)
    library = body.arg[0].sval
    symbol = body.arg[1].sval if len(body.arg) > 1 else node.funcname[-1].sval
    return CFunction(name, library, symbol, _stub(node, name, library))


def _stub(node: ast.CreateFunctionStmt, name: str, library: str) -> str | None:
    types = [p.argType for p in node.parameters or ()]
    if node.returnType is not None:
        types.append(node.returnType)
    if any(t.names[-1].sval in _NOT_FOR_PLPGSQL for t in types):
        return None
    message = (
        (
            f"pgrehearse: {name} is a C function whose library {library} is not on this "
            "server; it was replaced by this stub"
        )
        .replace("'", "''")
        .replace("%", "%%")
    )
    kept = [
        option
        for option in node.options or ()
        if option.defname not in ("language", "as", "window")
    ]
    node.options = (
        *kept,
        ast.DefElem(defname="language", arg=ast.String(sval="plpgsql")),
        ast.DefElem(
            defname="as",
            arg=(ast.String(sval=f"BEGIN RAISE EXCEPTION '{message}'; END"),),
        ),
    )
    stub: str = RawStream()(node)
    return stub
