"""Reports written from a rehearsal's summary: summary.json, HTML, Markdown and CSVs.

Submodules load on first use, so importing `pgrehearse.report.facts` (the derived facts the
terminal shows) does not pull pandas, matplotlib or jinja2 into a short command.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pgrehearse.report._csv import (
        STATEMENT_COLUMNS,
        statements_frame,
        write_csvs,
        write_latency,
    )
    from pgrehearse.report._html import HTML_FILE, render_html, write_html
    from pgrehearse.report._markdown import MARKDOWN_FILE, render_markdown, write_markdown
    from pgrehearse.report._summary import (
        SUMMARY_FILE,
        SUMMARY_SCHEMA_VERSION,
        summary_dict,
        write_summary,
    )

_WHERE = {
    "STATEMENT_COLUMNS": "_csv",
    "statements_frame": "_csv",
    "write_csvs": "_csv",
    "write_latency": "_csv",
    "HTML_FILE": "_html",
    "render_html": "_html",
    "write_html": "_html",
    "MARKDOWN_FILE": "_markdown",
    "render_markdown": "_markdown",
    "write_markdown": "_markdown",
    "SUMMARY_FILE": "_summary",
    "SUMMARY_SCHEMA_VERSION": "_summary",
    "summary_dict": "_summary",
    "write_summary": "_summary",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'pgrehearse.report' has no attribute {name!r}")
    return getattr(importlib.import_module(f"pgrehearse.report.{module}"), name)


def render_reports(summary: dict[str, Any], run_dir: Path) -> list[Path]:
    """Every report made from summary.json's data: HTML, Markdown, CSVs."""
    from pgrehearse.report._csv import write_csvs
    from pgrehearse.report._html import write_html
    from pgrehearse.report._markdown import write_markdown

    return [
        write_html(summary, run_dir),
        write_markdown(summary, run_dir),
        *write_csvs(summary, run_dir),
    ]


__all__ = [
    "HTML_FILE",
    "MARKDOWN_FILE",
    "STATEMENT_COLUMNS",
    "SUMMARY_FILE",
    "SUMMARY_SCHEMA_VERSION",
    "render_html",
    "render_markdown",
    "render_reports",
    "statements_frame",
    "summary_dict",
    "write_csvs",
    "write_html",
    "write_latency",
    "write_markdown",
    "write_summary",
]
