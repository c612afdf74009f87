"""Figures for the HTML report, drawn with matplotlib and returned as inline SVG text."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: render to files only

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

ROLE_COLOURS = {
    "migration": "#c0392b",
    "load": "#2e86c1",
    "blocker": "#8e44ad",
    "other": "#7f8c8d",
}
PHASE_COLOURS = {"up": "#f5b7b1", "down": "#d2b4de"}
_MAX_POINTS = 8_000


def _svg(figure: Any) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _shade_phases(axes: Any, phases: list[dict[str, Any]]) -> None:
    for phase in phases:
        colour = PHASE_COLOURS.get(phase["phase"])
        if colour:
            start = phase["start_s"]
            axes.axvspan(start, start + phase["seconds"], color=colour, alpha=0.35, lw=0)
            axes.text(
                start,
                1.0,
                phase["phase"],
                transform=axes.get_xaxis_transform(),
                va="bottom",
                fontsize=8,
                color="#555",
            )


def lock_timeline(summary: dict[str, Any]) -> str | None:
    """Gantt chart: one row per relation and mode, bars coloured by holder."""
    locks = pd.DataFrame(summary.get("locks") or [])
    if locks.empty:
        return None
    locks = locks[~locks["new_relation"].astype(bool)]
    rows = sorted({(r, m) for r, m in zip(locks["relation"], locks["mode"], strict=True)})
    if not rows:
        return None
    figure, axes = plt.subplots(figsize=(10, 0.45 * len(rows) + 1.4))
    row_of = {key: y for y, key in enumerate(rows)}
    # one collection per row and holder: thousands of load locks drawn as one shape each
    # would take seconds to render and weigh megabytes of SVG
    widths = (locks["end_s"] - locks["start_s"]).clip(lower=0.002)
    for (relation, mode, role), group in locks.assign(width=widths).groupby(
        ["relation", "mode", "holder_role"], sort=False
    ):
        y = row_of[(relation, mode)]
        axes.broken_barh(
            list(zip(group["start_s"], group["width"], strict=True)),
            (y - 0.3, 0.6),
            facecolors=ROLE_COLOURS.get(str(role), "#7f8c8d"),
            rasterized=len(group) > 200,
        )
    for statement in summary.get("statements", []):
        if statement.get("started_s") is not None:
            axes.axvline(statement["started_s"], color="#333", lw=0.6, ls=":")
    axes.set_yticks(range(len(rows)), [f"{r} · {m}" for r, m in rows], fontsize=8)
    axes.set_xlabel("seconds since the run started")
    axes.invert_yaxis()
    handles = [Rectangle((0, 0), 1, 1, color=c) for c in ROLE_COLOURS.values()]
    # outside the plot, on the right: inside it would hide the bars it explains
    axes.legend(
        handles, list(ROLE_COLOURS), fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0)
    )
    axes.set_title("Locks held (dotted lines: migration statements start)", fontsize=10)
    return _svg(figure)


def latency_over_time(summary: dict[str, Any], events: pd.DataFrame | None) -> str | None:
    if events is None or events.empty:
        return None
    shown = events.sample(_MAX_POINTS, random_state=1) if len(events) > _MAX_POINTS else events
    ok = shown[shown["outcome"] == "ok"]
    failed = shown[shown["outcome"] != "ok"]
    figure, axes = plt.subplots(figsize=(10, 3.2))
    _shade_phases(axes, summary["load"]["phases"])
    # points as one embedded bitmap: thousands of SVG circles would weigh megabytes
    axes.scatter(
        ok["end_s"], ok["response_ms"], s=2, color="#2e86c1", alpha=0.5, lw=0, rasterized=True
    )
    if not failed.empty:
        axes.scatter(
            failed["end_s"],
            failed["response_ms"],
            s=10,
            color="#c0392b",
            marker="x",
            lw=0.8,
            label="errors",
        )
        axes.legend(fontsize=8, loc="upper right")
    axes.set_yscale("log")
    axes.set_ylabel("latency (ms, log)")
    axes.set_xlabel("seconds since the run started")
    axes.set_title("Application latency per transaction", fontsize=10)
    return _svg(figure)


def throughput_over_time(summary: dict[str, Any], events: pd.DataFrame | None) -> str | None:
    if events is None or events.empty:
        return None
    ok = events[events["outcome"] == "ok"]
    if ok.empty:
        return None
    bucket = 0.1
    edges = np.arange(events["start_s"].min(), events["end_s"].max() + bucket, bucket)
    counts, _ = np.histogram(ok["end_s"], bins=edges)
    figure, axes = plt.subplots(figsize=(10, 2.6))
    _shade_phases(axes, summary["load"]["phases"])
    axes.step(edges[:-1], counts / bucket, where="post", color="#1e8449", lw=1)
    axes.set_ylabel("transactions/s")
    axes.set_xlabel("seconds since the run started")
    axes.set_title("Throughput (100 ms buckets)", fontsize=10)
    return _svg(figure)


def waiting_sessions(summary: dict[str, Any]) -> str | None:
    queue = summary.get("lock_queue")
    if not queue or not queue["t_s"] or queue["max_waiting"] == 0:
        return None
    figure, axes = plt.subplots(figsize=(10, 2.2))
    if summary.get("load"):
        _shade_phases(axes, summary["load"]["phases"])
    axes.step(queue["t_s"], queue["waiting"], where="post", color="#c0392b", lw=1)
    axes.set_ylabel("sessions waiting")
    axes.set_xlabel("seconds since the run started")
    axes.set_title("Sessions waiting for a lock", fontsize=10)
    return _svg(figure)


_CURVES_SHOWN = 6


def scale_curves(summary: dict[str, Any]) -> str | None:
    """Per quantity that matters (the largest predicted, statements and blocking locks
    first): the measured points, the fitted model out to the target, and the prediction
    with its interval. Log-log, so small and large sizes are both readable."""
    from pgrehearse.report.facts import shown_predictions

    candidates = [p for p in shown_predictions(summary) if p["model"] != "constant"]
    candidates.sort(key=lambda p: -(p["predicted_s"] or p["measured_s"]))
    shown = candidates[:_CURVES_SHOWN]
    if not shown:
        return None
    columns = min(3, len(shown))
    lines = (len(shown) + columns - 1) // columns
    figure, grid = plt.subplots(lines, columns, figsize=(3.6 * columns, 2.9 * lines), squeeze=False)
    for axes in grid.flat[len(shown) :]:
        axes.set_visible(False)
    for axes, item in zip(grid.flat, shown, strict=False):
        rows = [p["rows"] for p in item["points"]]
        seconds = [p["seconds"] for p in item["points"]]
        axes.scatter(rows, seconds, s=16, color="#2e86c1", zorder=3, label="measured")
        target = item["target_rows"]
        if item["model"] is not None and item.get("fitted"):
            intercept, slope = item["fitted"]
            xs = np.geomspace(max(min(rows), 1), max(target, max(rows)), 60)
            feature = xs if item["model"] == "linear" else xs * np.log(np.maximum(xs, 2))
            axes.plot(xs, np.maximum(intercept + slope * feature, 1e-6), color="#7f8c8d", lw=1)
            low = item["low_s"] if item["low_s"] is not None else item["predicted_s"]
            high = item["high_s"] if item["high_s"] is not None else item["predicted_s"]
            axes.errorbar(
                [target],
                [item["predicted_s"]],
                yerr=[[item["predicted_s"] - low], [high - item["predicted_s"]]],
                fmt="D",
                color="#c0392b",
                ms=5,
                capsize=3,
                label="predicted (95%)",
            )
            subtitle = f"{item['model']}, R² {item['r2']:.2f}" if item.get("r2") else item["model"]
        else:
            subtitle = "not extrapolated"
        axes.set_xscale("log")
        axes.set_yscale("log")
        for axis, text in ((axes.xaxis, _rows_text), (axes.yaxis, _seconds_text)):
            axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(FuncFormatter(lambda v, _pos, f=text: f(v)))
            axis.set_minor_formatter(NullFormatter())
        axes.set_xlabel("rows of its tables", fontsize=7)
        axes.tick_params(labelsize=7)
        label = item["label"] if item["kind"] != "statement" else f"{item['key']} {item['label']}"
        axes.set_title(
            (label if len(label) <= 42 else label[:41] + "…") + f"\n{subtitle}", fontsize=8
        )
    grid.flat[0].legend(fontsize=7, loc="upper left")
    figure.suptitle("Measured at each scale, fitted, and predicted", fontsize=10)
    # fixed spacing: tight_layout measured every label and cost more than the drawing
    figure.subplots_adjust(left=0.08, right=0.98, bottom=0.12, top=0.84, wspace=0.35, hspace=0.75)
    return _svg(figure)


def _rows_text(value: float) -> str:
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


def _seconds_text(value: float) -> str:
    return f"{value:g} s" if value >= 1 else f"{value * 1000:g} ms"
