"""Facts derived from a summary, defined once for every report (terminal, Markdown, CSV,
HTML), so no two of them can name a different lock for the same statement."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pgrehearse.observe import strength

Summary = Mapping[str, Any]


def strongest_lock(locks: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """A statement's strongest lock on a relation that existed before it (locks on
    relations the statement itself creates block nobody); among equally strong ones the
    user's own relation (not its TOAST table), then the longest hold."""
    existing = [lock for lock in locks if not lock.get("new_relation")]
    if not existing:
        return None
    return max(
        existing,
        key=lambda lock: (strength(lock["mode"]), not lock.get("part"), lock["held_ms"] or 0.0),
    )


def blocks_anyone(lock: Mapping[str, Any]) -> bool:
    return bool(lock.get("blocks_reads") or lock.get("blocks_writes"))


def lock_text(statement: Mapping[str, Any], *, code: bool = False) -> str:
    """`AccessExclusiveLock on orders 12 ms · rewrites orders` (empty when nothing)."""
    quote = "`" if code else ""
    top = strongest_lock(statement.get("locks") or [])
    text = ""
    if top is not None:
        text = f"{top['mode']} on {quote}{top['relation']}{quote} {top['held_ms']:.0f} ms"
    elif statement.get("lock_note"):
        text = str(statement["lock_note"])
    rewrites = statement.get("rewrites") or []
    if rewrites:
        text += (" · " if text else "") + "rewrites " + ", ".join(rewrites)
    renamed = statement.get("renamed") or []
    if renamed:
        text += (" · " if text else "") + "renames " + ", ".join(renamed)
    return text


def one_line(sql: str, width: int = 70) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def seconds_text(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def where(statement: Mapping[str, Any], *, full: bool = False) -> str:
    file = statement.get("file")
    name = (file if full else Path(file).name) if file else "?"
    line = statement.get("line")
    return f"{name}:{line}" if line else name  # no line: a statement a tool sent


def blocking_summary(summary: Summary, limit: int = 5) -> list[Mapping[str, Any]]:
    """The migration's locks that conflicted with someone, longest hold first."""
    rows = [s for s in summary.get("lock_summary") or [] if s["total_conflicting_ms"] > 0]
    return sorted(rows, key=lambda s: -s["longest_hold_ms"])[:limit]


def worst_waits(summary: Summary, limit: int = 5) -> list[Mapping[str, Any]]:
    waits = summary.get("waits") or []
    return sorted(waits, key=lambda w: -(w["wait_ms"] or 0.0))[:limit]


def wait_line(wait: Mapping[str, Any]) -> str:
    blocker = wait.get("blocking_statement") or wait.get("blocking_roles") or "?"
    return (
        f"wait: {wait['waiter_role']} pid {wait['waiter_pid']} waited {wait['wait_ms']:.0f} ms "
        f"for {wait['requested_mode']} on {wait['relation']} behind {blocker}"
    )


def sampler_line(summary: Summary) -> str | None:
    stats = summary.get("sampler")
    if not stats:
        return None
    line = (
        f"lock sampler: {stats['achieved_hz']:.0f} Hz (asked {1000 / stats['interval_ms']:.0f}),"
        f" {stats['polls']} polls of {stats['mean_poll_ms']:.1f} ms, "
        f"{stats['client_cpu_share']:.1%} of a core here"
    )
    if stats.get("server_cpu_share") is not None:
        line += f", {stats['server_cpu_share']:.1%} in the server"
    return line


LOAD_HEADERS = ["phase", "tx/s", "p50 ms", "p99 ms", "max ms", "errors", "longest stall ms"]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def load_rows(summary: Summary) -> list[list[str]]:
    """One row per load phase, under `LOAD_HEADERS`."""
    load = summary.get("load")
    if not load:
        return []
    return [
        [
            phase["phase"],
            "-" if phase["throughput_tps"] is None else f"{phase['throughput_tps']:,.0f}",
            _ms(phase["latency_ms"]["p50"]),
            _ms(phase["latency_ms"]["p99"]),
            _ms(phase["latency_ms"]["max"]),
            str(sum(phase["errors"].values())),
            f"{phase['longest_stall_ms']:.0f}",
        ]
        for phase in load["phases"]
    ]


def breaking_line(item: Mapping[str, Any]) -> str:
    return (
        f"{item['transaction']} failed {item['count']}x with {item['sqlstate']} "
        f"{item['message']} (first after {item['after_statement']})"
    )


def load_sentences(summary: Summary, limit: int = 5) -> list[str]:
    load = summary.get("load")
    if not load:
        return []
    lines = [item["sentence"] for item in load["lock_waits"][:limit]]
    lines += ["BREAKS THE APP: " + breaking_line(item) for item in load["breaking"]]
    breaking = {(b["transaction"], b["sqlstate"]) for b in load["breaking"]}
    lines += [
        f"load error ({error['class']}): {breaking_line(error)}"
        for error in load.get("errors", [])
        if (error["transaction"], error["sqlstate"]) not in breaking
    ][:limit]
    return lines


def difference_text(difference: Mapping[str, Any]) -> str:
    from pgrehearse.verify import Difference

    return Difference(**difference).render()


def roundtrip_lines(summary: Summary) -> list[str]:
    """What up changed, invalid indexes, and the round trip with its differences."""
    lines = []
    changes = summary.get("up_changes") or []
    if changes:
        shown = [f"{c['object']} {c['what']}" for c in changes[:8]]
        more = len(changes) - len(shown)
        lines.append("up changed: " + "; ".join(shown) + (f"; +{more} more" if more else ""))
    if summary.get("invalid_indexes"):
        lines.append("INVALID INDEX left by up: " + ", ".join(summary["invalid_indexes"]))
    result = summary.get("roundtrip")
    if not result:
        return lines
    head = f"round trip ({result['mode']}): {result['status'].upper()}"
    if result.get("data_rows") is not None:
        head += f", data of {result['data_rows']:,} rows compared"
    lines.append(head)
    lines += ["  " + difference_text(d) for d in result["failing"]]
    lines += ["  warning: " + difference_text(d) for d in result["warnings"]]
    lines += ["  ignored: " + difference_text(d) for d in result["ignored"]]
    lines += [f"  note: {note}" for note in result["notes"]]
    return lines


def budget_lines(summary: Summary) -> list[str]:
    return [
        f"budget {b['budget']}: {b['actual']} (limit {b['limit']}) {b['status'].upper()}"
        + (f" — {b['detail']}" if b["detail"] else "")
        for b in summary.get("budgets") or []
    ]


def generator_text(value: Any) -> str:
    """A generator as the scenario would write it, in YAML's one-line form."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {generator_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        if len(value) > 8:  # a profile's histogram: its ends and its length
            shown = [*map(generator_text, value[:3]), "…", generator_text(value[-1])]
            return "[" + ", ".join(shown) + f"] ({len(value)})"
        return "[" + ", ".join(generator_text(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def per_migration(
    statements: Sequence[Mapping[str, Any]],
    waits: Sequence[Mapping[str, Any]],
    files: Mapping[str, str],
    steps: Mapping[str, Sequence[str]] | None = None,
) -> list[dict[str, Any]]:
    """One row per migration of a chain and phase: its statements' time and verdict, its
    strongest lock, what it rewrote, and the longest wait of the load while it ran."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for statement in statements:
        migration = files.get(str(statement.get("file")))
        if migration is None:
            continue
        row = rows.setdefault(
            (statement["phase"], migration),
            {
                "phase": statement["phase"],
                "migration": migration,
                "statements": 0,
                "seconds": 0.0,
                "status": "ok",
                "locks": [],
                "rewrites": [],
                "start_s": statement.get("started_s"),
                "end_s": statement.get("started_s"),
            },
        )
        row["statements"] += 1
        row["seconds"] += statement.get("seconds") or 0.0
        if statement["status"] not in ("ok", "retried") and row["status"] == "ok":
            row["status"] = statement["status"]
        row["locks"] += statement.get("locks") or []
        row["rewrites"] += [r for r in statement.get("rewrites") or [] if r not in row["rewrites"]]
        if statement.get("started_s") is not None:
            row["end_s"] = statement["started_s"] + (statement.get("seconds") or 0.0)
    result = []
    for row in rows.values():
        top = strongest_lock(row.pop("locks"))
        start, end = row.pop("start_s"), row.pop("end_s")
        during = [
            w
            for w in waits
            if start is not None and end is not None and start <= w["start_s"] <= end
        ]
        row["seconds"] = round(row["seconds"], 6)
        row["strongest_lock"] = top["mode"] if top else None
        row["strongest_lock_relation"] = top["relation"] if top else None
        row["held_ms"] = top["held_ms"] if top else None
        row["longest_wait_ms"] = max((w["wait_ms"] for w in during), default=0.0)
        row["sessions_waited"] = len({w["waiter_pid"] for w in during})
        step = (steps or {}).get(row["migration"]) if row["phase"] == "down" else None
        row["roundtrip"] = None if step is None else ("; ".join(step) or "restored")
        result.append(row)
    return result


MIGRATION_HEADERS = [
    "phase",
    "migration",
    "status",
    "ms",
    "strongest lock",
    "rewrites",
    "load",
    "round trip",
]


def migration_cells(row: Mapping[str, Any]) -> list[str]:
    """A per-migration row as the terminal, Markdown and HTML tables show it."""
    lock = (
        f"{row['strongest_lock']} on {row['strongest_lock_relation']} {row['held_ms']:.0f} ms"
        if row.get("strongest_lock")
        else "-"
    )
    load = (
        f"{row['sessions_waited']} waited, up to {row['longest_wait_ms']:.0f} ms"
        if row.get("sessions_waited")
        else "no waits"
    )
    return [
        row["phase"],
        row["migration"],
        row["status"],
        f"{row['seconds'] * 1000:.1f}",
        lock,
        ", ".join(row.get("rewrites") or []) or "-",
        load,
        row.get("roundtrip") or "-",
    ]


PREDICTION_HEADERS = ["what", "measured", "predicted", "95% interval", "fit"]
FIDELITY_HEADERS = ["table", "check", "profile", "clone", "error", "goal", "status"]


def fidelity_title(summary: Summary) -> str:
    fidelity = summary["fidelity"]
    within = fidelity["checks"] - fidelity["failed"]
    return (
        f"clone fidelity: {within} of {fidelity['checks']} checks within their goals "
        f"(the clone's pg_stats against {fidelity.get('profile') or 'the profile'})"
    )


def shown_fidelity(summary: Summary) -> list[list[str]]:
    """Every table's size checks, and its columns' checks that missed their goal (all of
    them are in summary.json)."""
    rows = []
    for table in (summary.get("fidelity") or {}).get("tables", []):
        for check in table["checks"]:
            if check["column"] is None or not check["passed"]:
                rows.append(fidelity_cells(table["table"], check))
    return rows


def fidelity_cells(table: str, check: Mapping[str, Any]) -> list[str]:
    what = f"{check['column']}: {check['what']}" if check["column"] else check["what"]
    error = check.get("error")
    if error is None:
        shown_error = "-"
    elif check["goal"].endswith("%"):
        shown_error = f"{error:+.1%}"
    else:
        shown_error = f"{error:+.3f}"
    return [
        table,
        what,
        _fidelity_number(check["expected"]),
        _fidelity_number(check["actual"]),
        shown_error,
        check["goal"],
        "ok" if check["passed"] else "MISSED",
    ]


def _fidelity_number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.4g}"
    return f"{int(value):,}"


def prediction_title(summary: Summary) -> str:
    prediction = summary["prediction"]
    scales = "/".join(f"{s:g}" for s in prediction["scales"])
    return f"predicted at {prediction['target']['label']} from scales {scales}"


def shown_predictions(summary: Summary) -> list[Mapping[str, Any]]:
    """The predictions worth a reader's eye: statements, locks that block the application,
    the load's longest wait and the up phase (all of them are in summary.json)."""
    prediction = summary.get("prediction") or {}
    return [p for p in prediction.get("predictions", []) if p["kind"] != "lock" or p.get("blocks")]


def prediction_cells(item: Mapping[str, Any], scales: Sequence[float]) -> list[str]:
    """One prediction as table cells: what, measured at the largest scale, predicted,
    its interval and how it was fitted (or why it was not extrapolated)."""
    if item["model"] is None:
        fit = f"not extrapolated: {item['flag']}"
        predicted = "-"
    else:
        quality = f", R² {item['r2']:.2f}" if item.get("r2") is not None else ""
        fit = f"{item['model']}{quality}"
        predicted = duration_text(item["predicted_s"])
    interval = (
        f"{duration_text(item['low_s'])}–{duration_text(item['high_s'])}"
        if item.get("high_s") is not None
        else "-"
    )
    what = item["label"] if item["kind"] != "statement" else f"{item['key']} {item['label']}"
    return [
        what if len(what) <= 70 else what[:69] + "…",
        f"{duration_text(item['measured_s'])} at {max(scales):g}",
        predicted,
        interval,
        fit + (f" ({item['note']})" if item.get("note") else ""),
    ]


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 1:
        return f"{seconds:,.2f} s"
    return f"{seconds * 1000:,.1f} ms"
