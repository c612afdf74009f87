"""Rehearse one scenario at several data sizes, then predict at a larger one.

The rehearsals run one after the other, not in parallel: a rehearsal with load already
keeps two cores busy, and rehearsals sharing cores would slow each other by amounts that
differ from scale to scale, which is exactly the error a fit cannot tell from growth.
Each scale has its own seeded snapshot in the cache (the scale is part of its key); those
are seeded all at once beforehand (`_seeding`), since a seed is not measured.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgrehearse.backends.choice import ServerOptions
from pgrehearse.errors import Problem, ScenarioError
from pgrehearse.rehearsal.progress import Progress, SilentProgress
from pgrehearse.rehearsal.result import Rehearsal
from pgrehearse.rehearsal.run import rehearse, write_reports
from pgrehearse.rehearsal.verdict import decide, merged_budgets
from pgrehearse.scaling._budgets import predicted_checks
from pgrehearse.scaling._curve import ScaleCurve, Target, fit_curve
from pgrehearse.scaling._parallel import scaled_thresholds
from pgrehearse.scaling._seeding import SeedJob, seed_scales
from pgrehearse.scenario import Scenario


@dataclass
class ScaledRehearsal:
    """The rehearsals at each scale (smallest first) and the prediction fitted to them."""

    rehearsals: list[Rehearsal]
    curve: ScaleCurve | None  # None when a rehearsal could not finish
    budget_at: str

    @property
    def largest(self) -> Rehearsal:
        return self.rehearsals[-1]

    @property
    def telling(self) -> Rehearsal:
        """The one rehearsal that tells the verdict: the first that failed, else the
        largest (which holds the prediction)."""
        return next((r for r in self.rehearsals if not r.passed), self.largest)

    @property
    def passed(self) -> bool:
        return self.curve is not None and all(r.passed for r in self.rehearsals)

    @property
    def failure(self) -> str | None:
        failed = next((r for r in reversed(self.rehearsals) if not r.passed), None)
        return f"at scale {failed.scale:g}: {failed.failure}" if failed else None


def _planned_as_at(scenario: Scenario, scale: float, target: Target) -> Scenario:
    """The scenario with the planner's parallel thresholds scaled by this rehearsal's size
    over the target's, so it builds indexes with the workers the target size would get."""
    tables = scenario.data.tables
    here = sum(t.rows for t in tables.values()) * scale
    there = sum(
        target.rows.get(name, t.rows) if target.rows else t.rows * (target.scale or 1.0)
        for name, t in tables.items()
    )
    if not here or not there or here >= there:
        return scenario
    settings = dict(scenario.postgres.settings)
    settings.update(scaled_thresholds(settings, here / there))
    postgres = scenario.postgres.model_copy(update={"settings": settings})
    return scenario.model_copy(update={"postgres": postgres})


def target_of(at: float | dict[str, int]) -> Target:
    return Target(rows=dict(at), scale=None) if isinstance(at, dict) else Target(scale=at)


def rehearse_scales(
    scenario: Scenario,
    scales: Sequence[float] | None = None,
    target: Target | None = None,
    options: ServerOptions | None = None,
    *,
    report_dir: str | Path | None = "reports",
    progress: Progress | None = None,
    budgets: dict[str, Any] | None = None,
    budget_at: str | None = None,
    history: str | Path | bool = True,
    parallel_seeding: int | None = None,
) -> ScaledRehearsal:
    """Rehearse `scenario` at each of `scales` (default: the scenario's `predict.scales`),
    fit every statement's time, lock hold, the load's longest wait and the up phase against
    the rows of their tables, and predict them at `target` (default: `predict.at`).

    With the snapshot cache on and cores to spare, the scales' snapshots are first seeded
    `parallel_seeding` at a time (default: one per two cores; 0 or 1: no seeding ahead);
    the rehearsals themselves run one after the other.

    Each rehearsal writes its own reports. The largest one's summary gets the prediction
    (`prediction` in summary.json, a table in summary.md, figures in report.html). With
    budgets judged `at: predicted` (the scenario's `budgets.at` or `budget_at`), its
    budgets are judged on the prediction and its outcome follows.
    """
    options = options or ServerOptions()
    progress = progress or SilentProgress()
    spec = merged_budgets(scenario, budgets)
    at = budget_at or spec.at
    chosen = sorted(set(scales or (scenario.predict.scales if scenario.predict else [])))
    if len(chosen) < 3:
        raise ScenarioError(
            [
                Problem(
                    f"a prediction needs at least 3 distinct scales, got {len(chosen)}",
                    hint="pass --scales 0.01,0.03,0.1 or set predict.scales in the scenario",
                )
            ]
        )
    if target is None:
        target = target_of(scenario.predict.at) if scenario.predict else Target()
    planned = {scale: _planned_as_at(scenario, scale, target) for scale in chosen}
    seed_scales([SeedJob(s, planned[s]) for s in chosen], options, progress, parallel_seeding)
    rehearsals: list[Rehearsal] = []
    for number, scale in enumerate(chosen, 1):
        progress.note(f"scale {scale:g} ({number} of {len(chosen)})")
        result = rehearse(
            planned[scale],
            dataclasses.replace(options, scale=scale),
            report_dir=report_dir,
            progress=progress,
            budgets=budgets,
            history=history,
        )
        rehearsals.append(result)
        if result.outcome not in ("passed", "failed") or result.failed_statement is not None:
            return ScaledRehearsal(rehearsals, None, at)
    summaries = [(r.scale, r.summary or {}) for r in rehearsals]
    curve = fit_curve(summaries, target)
    largest = rehearsals[-1]
    largest.prediction = curve.to_dict()
    if at == "predicted":
        decide(largest, spec, lambda checks: predicted_checks(checks, curve))
    write_reports(largest, report_dir, history=False, write=largest.run_dir is not None)
    return ScaledRehearsal(rehearsals, curve, at)
