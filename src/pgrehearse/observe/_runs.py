"""Runs of consecutive lock-sampler polls in which a session held (or waited for) the same
lock: the sampler's view of one lock interval."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Run:
    key: tuple[Any, ...]
    first: int  # rows [first, last) of the sorted frame
    last: int
    start_s: float  # estimates: halfway to the polls before and after
    end_s: float


def sampled_runs(
    frame: pd.DataFrame, polls: np.ndarray[Any, Any], keys: list[str]
) -> tuple[dict[str, np.ndarray[Any, Any]], list[Run]]:
    """Consecutive-poll runs of each key, found in one sort (a load leaves thousands of
    them): the sorted frame's columns, and each run's rows and time estimates."""
    if frame.empty:
        return {}, []
    ordered = frame.assign(poll=np.searchsorted(polls, frame["t"].to_numpy())).sort_values(
        [*keys, "poll"], kind="stable"
    )
    columns = {name: ordered[name].to_numpy() for name in ordered.columns}
    poll = columns["poll"]
    new_run = np.ones(len(ordered), dtype=bool)
    step = np.diff(poll)
    new_run[1:] = (step > 1) | (step < 0)  # a gap, or back to an earlier poll: another key
    for name in keys:
        values = columns[name]
        missing = pd.isna(values)
        same = (values[1:] == values[:-1]) | (missing[1:] & missing[:-1])
        new_run[1:] |= ~np.asarray(same, dtype=bool)
    firsts = np.flatnonzero(new_run)
    lasts = np.append(firsts[1:], len(ordered))
    runs = []
    for first, last in zip(firsts.tolist(), lasts.tolist(), strict=True):
        a, b = int(poll[first]), int(poll[last - 1])
        start = (polls[a - 1] + polls[a]) / 2 if a > 0 else polls[a]
        end = (polls[b] + polls[b + 1]) / 2 if b + 1 < len(polls) else polls[b]
        key = tuple(columns[name][first] for name in keys)
        runs.append(Run(key, first, last, float(start), float(end)))
    return columns, runs
