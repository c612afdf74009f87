"""Reports written from a rehearsal's summary: summary.json, HTML, Markdown and CSVs.

Submodules load on first use, so importing `pgrehearse.report.facts` (the derived facts the
terminal shows) does not pull pandas, matplotlib or jinja2 into a short command.
"""

from __future__ import annotations

import importlib
import threading
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


def render_reports(
    summary: dict[str, Any], run_dir: Path, figures: EarlyFigures | None = None
) -> list[Path]:
    """Every report made from summary.json's data: HTML, Markdown, CSVs. `figures`: the
    observation figures, drawn meanwhile by `EarlyFigures`."""
    from pgrehearse.report._csv import write_csvs
    from pgrehearse.report._html import write_html
    from pgrehearse.report._markdown import write_markdown

    return [
        write_html(summary, run_dir, figures.result() if figures is not None else None),
        write_markdown(summary, run_dir),
        *write_csvs(summary, run_dir),
    ]


class EarlyFigures:
    """The observation figures, drawn in a thread from a summary of a rehearsal whose
    observed phases are over, while the round trip is verified on the server. matplotlib
    is used by this thread alone until `result()` joins it."""

    def __init__(self, summary: dict[str, Any], events: Any) -> None:
        self._figures: list[tuple[str, str | None]] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._draw, args=(summary, events), name="pgrehearse-figures", daemon=True
        )
        self._thread.start()

    def _draw(self, summary: dict[str, Any], events: Any) -> None:
        from pgrehearse.report._html import observation_figures

        try:
            self._figures = observation_figures(summary, events)
        except BaseException as exc:  # re-raised where the reports are written
            self._error = exc

    def result(self) -> list[tuple[str, str | None]]:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._figures is not None
        return self._figures


__all__ = [
    "HTML_FILE",
    "MARKDOWN_FILE",
    "STATEMENT_COLUMNS",
    "SUMMARY_FILE",
    "SUMMARY_SCHEMA_VERSION",
    "EarlyFigures",
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
