"""Migration scripts: splitting into statements and running them."""

from pgrehearse.migration._classify import changes_cluster
from pgrehearse.migration._runner import (
    Clock,
    ScriptResult,
    StatementError,
    StatementObserver,
    StatementResult,
    StatementStatus,
    run_script,
)
from pgrehearse.migration._split import Statement, line_of_position, split_statements

__all__ = [
    "Clock",
    "ScriptResult",
    "Statement",
    "StatementError",
    "StatementObserver",
    "StatementResult",
    "StatementStatus",
    "changes_cluster",
    "line_of_position",
    "run_script",
    "split_statements",
]
