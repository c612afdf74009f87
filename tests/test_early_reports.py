"""The observation figures drawn by forked processes while the round trip is verified."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest

import pgrehearse.report as report
from pgrehearse.report import EarlyReports

FIGURE = "<svg>" + "x" * 1_000_000 + "</svg>"  # far more than a pipe holds (64 KiB)


def _large_figures(
    summary: dict[str, Any], events: Any, only: tuple[str, ...] | None = None
) -> list[tuple[str, str | None]]:
    names = only or ("locks", "waiting", "latency", "throughput")
    return [(name, FIGURE) for name in names]


def test_figure_processes_do_not_keep_another_threads_pipe_open(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A forked process holds a copy of every descriptor open when it was made, such as
    the pipe of a pg_dump that the round trip runs in another thread meanwhile. If it
    waited for us to read its figures, that pg_dump's output would never end, and the round
    trip, waiting for it before we read, would hang (a run once hung 10 minutes so)."""
    monkeypatch.setattr(report, "_draw_figures", _large_figures)  # the children are forked
    read_end, write_end = os.pipe()  # as pg_dump's stdout, open in the verifying thread
    early = EarlyReports({}, None, None)
    os.close(write_end)  # pg_dump is done: only the children's copies keep it open now
    ended = threading.Event()

    def read_to_the_end() -> None:
        while os.read(read_end, 65536):
            pass
        ended.set()

    threading.Thread(target=read_to_the_end, daemon=True).start()
    try:
        # a hang detector, not a timing: drawing takes about a second
        assert ended.wait(timeout=120), "the figure processes kept the pipe open"
        figures = early.result()
    finally:
        early.close()
        os.close(read_end)
    assert sorted(name for name, _ in figures) == ["latency", "locks", "throughput", "waiting"]
    assert all(svg == FIGURE for _, svg in figures)
