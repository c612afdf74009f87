"""`summary.md`: the rehearsal in a form ready to paste into a pull-request comment.

Rendered from the summary.json data alone, so `pgrehearse report <run-dir>` can re-render it
without a new rehearsal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pgrehearse.report import facts
from pgrehearse.report.facts import (
    LOAD_HEADERS,
    breaking_line,
    load_rows,
    one_line,
    strongest_lock,
    where,
)

MARKDOWN_FILE = "summary.md"
_ICON = {"passed": "✅", "failed": "❌", "interrupted": "⚠️", "error": "❌"}


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


def _ms(value: Any) -> str:
    return "-" if value is None else f"{float(value):,.1f}"


def render_markdown(summary: dict[str, Any]) -> str:
    scenario = summary["scenario"]["name"]
    outcome = summary["outcome"]
    postgres = summary.get("postgres") or {}
    lines = [
        f"### {_ICON.get(outcome, '')} pgrehearse: `{scenario}` {outcome.upper()}",
        "",
    ]
    if summary.get("failure"):
        lines += [f"> {summary['failure']}", ""]
    lines += [
        f"PostgreSQL {postgres.get('version', '?')} ({postgres.get('backend', '?')}), "
        f"seed {summary['data']['seed']}, scale {summary['data']['scale']}, "
        f"run `{summary['run_id']}`",
        "",
    ]
    if summary.get("budgets"):
        lines += ["**Budgets**", ""]
        lines += _table(
            ["budget", "limit", "actual", "status"],
            [
                [
                    b["budget"],
                    b["limit"],
                    f"{b['actual']} ({b['detail']})" if b.get("detail") else b["actual"],
                    "✅" if b["status"] == "pass" else "❌",
                ]
                for b in summary["budgets"]
            ],
        )
    if summary.get("fidelity"):
        lines += [f"**{facts.fidelity_title(summary).capitalize()}**", ""]
        lines += _table(facts.FIDELITY_HEADERS, facts.shown_fidelity(summary))
        lines += [""]
    if summary.get("prediction"):
        scales = summary["prediction"]["scales"]
        lines += [f"**{facts.prediction_title(summary).capitalize()}**", ""]
        lines += _table(
            facts.PREDICTION_HEADERS,
            [facts.prediction_cells(item, scales) for item in facts.shown_predictions(summary)],
        )
        lines += [""]
    if summary.get("migrations"):
        lines += ["**Migrations**", ""]
        lines += _table(
            facts.MIGRATION_HEADERS, [facts.migration_cells(m) for m in summary["migrations"]]
        )
        lines += [""]
    lines += ["**Statements**", ""]
    rows = []
    for s in summary["statements"]:
        top = strongest_lock(s.get("locks") or [])
        lock_text = (
            f"{top['mode']} on `{top['relation']}` {top['held_ms']:.0f} ms ({top['effect']})"
            if top is not None
            else s.get("lock_note") or ""
        )
        rows.append(
            [
                f"{s['phase']} #{s['index']}",
                where(s),
                _ms(None if s["seconds"] is None else s["seconds"] * 1000),
                s["status"],
                lock_text,
                ", ".join(s.get("rewrites", [])),
                f"`{one_line(s['sql'])}`",
            ]
        )
    lines += _table(["#", "where", "ms", "status", "strongest lock", "rewrites", "SQL"], rows)
    load = summary.get("load")
    if load:
        lines += ["**Application load**", ""]
        lines += _table(LOAD_HEADERS, load_rows(summary))
        lines += [f"- {item['sentence']}" for item in load.get("lock_waits", [])[:5]]
        lines += [f"- ❌ **breaks the app**: {breaking_line(b)}" for b in load["breaking"]]
        breaking = {(b["transaction"], b["sqlstate"]) for b in load["breaking"]}
        lines += [
            f"- load error ({e['class']}): {breaking_line(e)}"
            for e in load.get("errors", [])
            if (e["transaction"], e["sqlstate"]) not in breaking
        ]
        lines.append("")
    roundtrip = summary.get("roundtrip")
    if roundtrip:
        lines += [f"**Round trip** ({roundtrip['mode']}): {roundtrip['status']}", ""]
        for difference in roundtrip["failing"] + roundtrip["warnings"]:
            before, after = difference.get("before"), difference.get("after")
            change = f": {before} → {after}" if before is not None or after is not None else ""
            lines.append(f"- `{difference['object']}` {difference['what']}{change}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def write_markdown(summary: dict[str, Any], run_dir: Path) -> Path:
    path = run_dir / MARKDOWN_FILE
    path.write_text(render_markdown(summary), encoding="utf-8")
    return path
