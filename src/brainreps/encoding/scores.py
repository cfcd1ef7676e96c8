"""Scores of held-out predictions per neuron: Pearson r, r², coefficient of determination."""

from __future__ import annotations

import numpy as np


def pearson_r(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation per column of (stimulus, unit) arrays; NaN where either is constant."""
    a = np.asarray(pred, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    a = a - a.mean(0)
    b = b - b.mean(0)
    denom = np.sqrt((a * a).sum(0) * (b * b).sum(0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (a * b).sum(0) / denom, np.nan)


def coefficient_of_determination(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """1 - SS_res / SS_tot per column (can be negative); NaN where y is constant."""
    pred = np.asarray(pred, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ss_res = ((y - pred) ** 2).sum(0)
    ss_tot = ((y - y.mean(0)) ** 2).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ss_tot > 0, 1.0 - ss_res / ss_tot, np.nan)


def normalized_score(r2: np.ndarray, noise_ceiling: np.ndarray) -> np.ndarray:
    """r² divided by the unit's noise ceiling; NaN where the ceiling is NaN or <= 0."""
    r2 = np.asarray(r2, dtype=np.float64)
    ceiling = np.asarray(noise_ceiling, dtype=np.float64)
    ok = np.isfinite(ceiling) & (ceiling > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, r2 / np.where(ok, ceiling, 1.0), np.nan)
