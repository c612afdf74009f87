"""Reports written from a rehearsal result."""

from pathlib import Path
from typing import Any

from pgrehearse.report._csv import STATEMENT_COLUMNS, statements_frame, write_csvs, write_latency
from pgrehearse.report._html import HTML_FILE, render_html, write_html
from pgrehearse.report._markdown import MARKDOWN_FILE, render_markdown, write_markdown
from pgrehearse.report._summary import (
    SUMMARY_FILE,
    SUMMARY_SCHEMA_VERSION,
    summary_dict,
    write_summary,
)


def render_reports(summary: dict[str, Any], run_dir: Path) -> list[Path]:
    """Every report made from summary.json's data: HTML, Markdown, CSVs."""
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
