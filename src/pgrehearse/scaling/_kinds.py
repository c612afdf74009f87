"""What a statement's cost grows with, read from its SQL: the model a fit starts from."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pglast import parser
from pglast.enums import AlterTableType, ConstrType

from pgrehearse.scaling._fit import Model

_RANK: dict[Model, int] = {"constant": 0, "linear": 1, "nlogn": 2}
_SORTS = {"IndexStmt", "ReindexStmt", "ClusterStmt"}  # build a sorted index: n·log n
_SCANS = {  # read or write every row: linear
    "UpdateStmt",
    "DeleteStmt",
    "InsertStmt",
    "SelectStmt",
    "CopyStmt",
    "VacuumStmt",
    "RefreshMatViewStmt",
    "CreateTableAsStmt",
    "DoStmt",  # code: its work is unknown, so it is not taken for a catalog change
    "CallStmt",
    "ExecuteStmt",
}
_SCANNING_SUBCOMMANDS = {
    AlterTableType.AT_ValidateConstraint,
    AlterTableType.AT_AlterColumnType,
    AlterTableType.AT_SetNotNull,
}
_INDEX_CONSTRAINTS = {
    ConstrType.CONSTR_PRIMARY,
    ConstrType.CONSTR_UNIQUE,
    ConstrType.CONSTR_EXCLUSION,
}


@lru_cache(maxsize=1024)
def preferred_model(sql: str, rewrote: bool = False) -> Model:
    """n·log n for index builds and sorts; linear for scans, rewrites, validation and
    backfills; constant for changes to the catalog only. A statement that rewrote a
    table (measured) is at least linear whatever its text says."""
    try:
        statements = parser.parse_sql(sql)
    except parser.ParseError:
        return "linear"
    model: Model = "linear" if rewrote else "constant"
    for raw in statements:
        found = _model_of(raw.stmt)
        if _RANK[found] > _RANK[model]:
            model = found
    return model


def _model_of(node: Any) -> Model:
    kind = type(node).__name__
    if kind in _SORTS:
        return "nlogn"
    if kind in _SCANS:
        return "linear"
    if kind != "AlterTableStmt":
        return "constant"
    model: Model = "constant"
    for command in node.cmds or ():
        found = _subcommand_model(command)
        if _RANK[found] > _RANK[model]:
            model = found
    return model


def _subcommand_model(command: Any) -> Model:
    subtype = command.subtype
    if subtype in _SCANNING_SUBCOMMANDS:
        return "linear"
    if subtype == AlterTableType.AT_AddConstraint:
        constraint = command.def_
        if getattr(constraint, "contype", None) in _INDEX_CONSTRAINTS:
            return "constant" if getattr(constraint, "indexname", None) else "nlogn"
        return "constant" if getattr(constraint, "skip_validation", False) else "linear"
    return "constant"
