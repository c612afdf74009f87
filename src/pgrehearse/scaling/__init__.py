"""Rehearsals at several data sizes, fitted and extrapolated to production's size."""

from pgrehearse.scaling._budgets import predicted_checks
from pgrehearse.scaling._curve import Point, Prediction, ScaleCurve, Target, fit_curve
from pgrehearse.scaling._fit import Fit, choose, fit
from pgrehearse.scaling._kinds import preferred_model
from pgrehearse.scaling._quantities import Quantity, quantities_of
from pgrehearse.scaling._run import ScaledRehearsal, rehearse_scales, target_of

__all__ = [
    "Fit",
    "Point",
    "Prediction",
    "Quantity",
    "ScaleCurve",
    "ScaledRehearsal",
    "Target",
    "choose",
    "fit",
    "fit_curve",
    "predicted_checks",
    "preferred_model",
    "quantities_of",
    "rehearse_scales",
    "target_of",
]
