"""Reports written from a rehearsal's summary: summary.json, HTML, Markdown and CSVs.

Submodules load on first use, so importing `pgrehearse.report.facts` (the derived facts the
terminal shows) does not pull pandas, matplotlib or jinja2 into a short command.
"""

from __future__ import annotations

import gc
import multiprocessing
import signal
import sys
import threading
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgrehearse.lazy_imports import lazy_attributes

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
    "SUMMARY_SCHEMA_VERSION": "_summary",
    "summary_dict": "_summary",
    "write_summary": "_summary",
}


LATENCY_FILE = "latency.csv"
SUMMARY_FILE = "summary.json"


__getattr__, __dir__ = lazy_attributes(__name__, _WHERE, globals())


def render_reports(
    summary: dict[str, Any], run_dir: Path, figures: EarlyReports | None = None
) -> list[Path]:
    """Every report made from summary.json's data: HTML, Markdown, CSVs. `figures`: the
    observation figures, drawn meanwhile by `EarlyReports`; without them (`pgrehearse
    report`), they are drawn in another process while the Markdown and CSVs are written."""
    from pgrehearse.report._csv import write_csvs
    from pgrehearse.report._html import read_events, write_html
    from pgrehearse.report._markdown import write_markdown

    early = figures or EarlyReports(summary, read_events(run_dir), None)
    try:
        markdown = write_markdown(summary, run_dir)
        tables = write_csvs(summary, run_dir)
        html = write_html(summary, run_dir, early.result())
    finally:
        if figures is None:
            early.close()
    return [html, markdown, *tables]


# the figures split in two groups of about equal cost, one per process
_FIGURE_GROUPS = (("locks", "waiting"), ("latency", "throughput"))


class EarlyReports:
    """What can be written once a rehearsal's observed phases are over, made while the
    round trip is verified on the server: the observation figures, and latency.csv when
    `latency_to` names the run's folder.

    On Linux the figures are drawn by two forked processes, half each, so they use the
    cores rather than wait on one interpreter (measured on the example's report: 0.4-0.6 s
    against 0.5-0.9 s drawn in-process, the first figures of a process being the dearest);
    latency.csv is written meanwhile by a thread of ours. Elsewhere, or if a process fails,
    the figures are drawn here. `close()` stops whatever is still at work.
    """

    def __init__(self, summary: dict[str, Any], events: Any, latency_to: Path | None) -> None:
        self._summary = summary
        self._events = events
        self._latency_to = latency_to
        self._figures: list[tuple[str, str | None]] | None = None
        self._error: BaseException | None = None
        self._children: list[tuple[Any, Any]] = []  # (process, receiving end)
        self._messages: list[tuple[bool, Any] | None] = []  # what each child sent
        self._collector: threading.Thread | None = None
        if sys.platform.startswith("linux"):
            self._fork()
            # Read what the children send as soon as they send it. A forked child holds a
            # copy of every descriptor open here when it was made, such as the pipe of a
            # pg_dump the round trip runs meanwhile in another thread: a child blocked on
            # a full pipe, waiting for us to read it, would keep that pipe open, and the
            # round trip waiting on it would wait forever (seen: a run hung in verify).
            self._collector = threading.Thread(
                target=self._collect, name="pgrehearse-figure-collector", daemon=True
            )
            self._collector.start()
        self._thread = threading.Thread(
            target=self._draw, name="pgrehearse-early-reports", daemon=True
        )
        self._thread.start()

    def _collect(self) -> None:
        for _, receiver in self._children:
            self._messages.append(_receive(receiver))

    def _fork(self) -> None:
        context = multiprocessing.get_context("fork")
        # a child must not collect (and so close) objects it shares with us, such as the
        # open connections: it sees everything made so far as permanent
        gc.freeze()
        try:
            for group in _FIGURE_GROUPS:
                receiver, sender = context.Pipe(duplex=False)
                process = context.Process(
                    target=_draw_in_child,
                    args=(self._summary, self._events, group, sender),
                    name="pgrehearse-figures",
                    daemon=True,
                )
                process.start()
                sender.close()
                self._children.append((process, receiver))
        finally:
            gc.unfreeze()

    def _draw(self) -> None:
        """latency.csv, and the figures unless processes draw them."""
        from pgrehearse.report._csv import write_frame_csv

        try:
            if not self._children:
                self._figures = _draw_figures(self._summary, self._events)
            if self._latency_to is not None and self._events is not None:
                write_frame_csv(self._events, self._latency_to / LATENCY_FILE)
        except BaseException as exc:  # re-raised where the reports are written
            self._error = exc

    def result(self) -> list[tuple[str, str | None]]:
        self._thread.join()
        if self._error is not None:
            raise self._error
        if self._children:
            assert self._collector is not None
            self._collector.join()
            drawn: dict[str, str | None] = {}
            for message in self._messages:
                if message is None or not message[0]:
                    break
                drawn.update(message[1])
            self.close()
            if len(drawn) == sum(map(len, _FIGURE_GROUPS)):
                self._figures = [(name, drawn[name]) for name in _figure_names()]
            else:  # a process failed: draw here, where any error is raised as it is
                self._figures = _draw_figures(self._summary, self._events)
        assert self._figures is not None
        return self._figures

    def close(self) -> None:
        self._thread.join()  # a file half-written is not left behind
        children, self._children = self._children, []
        for process, _ in children:
            if process.is_alive():
                process.kill()
            process.join(timeout=10)
        if self._collector is not None:
            self._collector.join()  # the children are gone: it has read to their end
        for _, receiver in children:
            receiver.close()


def _receive(receiver: Any) -> tuple[bool, Any] | None:
    try:
        received: tuple[bool, Any] = receiver.recv()
        return received
    except (EOFError, OSError):
        return None


def _figure_names() -> list[str]:
    from pgrehearse.report._html import OBSERVATION_FIGURES

    return list(OBSERVATION_FIGURES)


def _draw_figures(
    summary: dict[str, Any], events: Any, only: tuple[str, ...] | None = None
) -> list[tuple[str, str | None]]:
    from pgrehearse.report._html import observation_figures

    return observation_figures(summary, events, only)


def _draw_in_child(
    summary: dict[str, Any], events: Any, group: tuple[str, ...], sender: Any
) -> None:
    from pgrehearse.backends import die_with_parent
    from pgrehearse.seed import child_signals

    child_signals()  # the parent handles Ctrl-C and SIGTERM, and then kills us
    set_death_signal = die_with_parent(signal.SIGKILL)
    if set_death_signal is not None:
        set_death_signal()
    try:
        sender.send((True, dict(_draw_figures(summary, events, group))))
    except BaseException:
        sender.send((False, traceback.format_exc()))
    finally:
        sender.close()


__all__ = [
    "HTML_FILE",
    "LATENCY_FILE",
    "MARKDOWN_FILE",
    "STATEMENT_COLUMNS",
    "SUMMARY_FILE",
    "SUMMARY_SCHEMA_VERSION",
    "EarlyReports",
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
