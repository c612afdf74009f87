"""The time windows of a rehearsal's phases, as the lock analysis reads them (kept apart
from the analysis so the rehearsal can record them without importing pandas)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class PhaseWindow:
    name: str
    start_s: float
    end_s: float
