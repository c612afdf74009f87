"""Reports written from a rehearsal result."""

from pgrehearse.report._csv import STATEMENT_COLUMNS, statements_frame, write_csvs
from pgrehearse.report._html import HTML_FILE, render_html, write_html
from pgrehearse.report._markdown import MARKDOWN_FILE, render_markdown, write_markdown
from pgrehearse.report._summary import (
    SUMMARY_FILE,
    SUMMARY_SCHEMA_VERSION,
    summary_dict,
    write_summary,
)

__all__ = [
    "HTML_FILE",
    "MARKDOWN_FILE",
    "STATEMENT_COLUMNS",
    "SUMMARY_FILE",
    "SUMMARY_SCHEMA_VERSION",
    "render_html",
    "render_markdown",
    "statements_frame",
    "summary_dict",
    "write_csvs",
    "write_html",
    "write_markdown",
    "write_summary",
]
