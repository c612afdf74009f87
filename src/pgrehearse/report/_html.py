"""`report.html`: one self-contained page (inline CSS and SVG, no JavaScript, no network),
rendered from summary.json and latency.csv so `pgrehearse report` can redo it."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from pgrehearse.observe import strength
from pgrehearse.report import LATENCY_FILE, facts
from pgrehearse.report._figures import (
    latency_over_time,
    lock_timeline,
    scale_curves,
    throughput_over_time,
    waiting_sessions,
)
from pgrehearse.report.facts import where

HTML_FILE = "report.html"


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value)


def _statements(summary: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for s in summary["statements"]:
        locks = sorted(
            (lock for lock in s.get("locks", []) if not lock.get("new_relation")),
            key=lambda lock: -strength(lock["mode"]),
        )
        rows.append(
            {
                "phase": s["phase"],
                "index": s["index"],
                "where": where(s),
                "ms": _fmt(None if s["seconds"] is None else s["seconds"] * 1000),
                "status": s["status"],
                "locks": "; ".join(
                    f"{lock['mode']} on {lock['relation']} ({lock['held_ms']:.0f} ms)"
                    for lock in locks
                ),
                "rewrites": ", ".join(s.get("rewrites", [])),
                "sql": " ".join(s["sql"].split()),
                "error": (s.get("error") or {}).get("message"),
            }
        )
    return rows


OBSERVATION_FIGURES = ("locks", "latency", "throughput", "waiting")


def observation_figures(
    summary: dict[str, Any], events: pd.DataFrame | None, only: Collection[str] | None = None
) -> list[tuple[str, str | None]]:
    """The figures of what was observed (locks, load, waiting sessions), in their order on
    the page (or those named in `only`): they depend on nothing decided after the observed
    phases, so they can be drawn while verify runs."""
    load = bool(summary.get("load"))
    draw = {
        "locks": lambda: lock_timeline(summary),
        "latency": lambda: latency_over_time(summary, events) if load else None,
        "throughput": lambda: throughput_over_time(summary, events) if load else None,
        "waiting": lambda: waiting_sessions(summary),
    }
    return [(name, draw[name]()) for name in OBSERVATION_FIGURES if only is None or name in only]


def render_html(
    summary: dict[str, Any],
    events: pd.DataFrame | None,
    figures: list[tuple[str, str | None]] | None = None,
) -> str:
    """The page; `figures` are `observation_figures` drawn earlier from the same data."""
    if figures is None:
        figures = observation_figures(summary, events)
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("pgrehearse.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    # an older summary.json has only the generator's kind
    environment.filters["generator"] = lambda c: (
        facts.generator_text(c["parameters"]) if c.get("parameters") else c["generator"]
    )
    environment.filters["migration_cells"] = facts.migration_cells
    template = environment.get_template("report.html.j2")
    settings = summary.get("settings") or {"seed": {}, "rehearsal": {}}
    prediction = summary.get("prediction")
    return template.render(
        fidelity_title=facts.fidelity_title(summary) if summary.get("fidelity") else "",
        fidelity_headers=facts.FIDELITY_HEADERS,
        fidelity_rows=facts.shown_fidelity(summary),
        prediction_title=facts.prediction_title(summary) if prediction else "",
        prediction_headers=facts.PREDICTION_HEADERS,
        prediction_rows=[
            facts.prediction_cells(item, prediction["scales"])
            for item in facts.shown_predictions(summary)
        ]
        if prediction
        else [],
        scale_figure=scale_curves(summary) if prediction else None,
        s=summary,
        statements=_statements(summary),
        figures=[(title, svg) for title, svg in figures if svg],
        settings_keys=sorted(set(settings["seed"]) | set(settings["rehearsal"])),
        fmt=_fmt,
        migration_headers=facts.MIGRATION_HEADERS,
    )


def read_events(run_dir: Path) -> pd.DataFrame | None:
    """A finished run's load events, from its latency.csv (None: the run had no load)."""
    latency = run_dir / LATENCY_FILE
    return pd.read_csv(latency) if latency.is_file() else None


def write_html(
    summary: dict[str, Any],
    run_dir: Path,
    figures: list[tuple[str, str | None]] | None = None,
) -> Path:
    events = None if figures is not None else read_events(run_dir)
    path = run_dir / HTML_FILE
    path.write_text(render_html(summary, events, figures), encoding="utf-8")
    return path
