"""Sparseness of layer activations, streamed over feature blocks.

- fraction non-zero: the share of activations that are not exactly 0;
- Treves-Rolls sparseness (Treves & Rolls 1991; normalised as Vinje & Gallant 2000):
  a = (mean |r|)^2 / mean(r^2), S = (1 - a) / (1 - 1/n), 0 for a dense code (all equal),
  1 for a single active unit. Absolute values are used so that layers with negative
  activations (pixels after normalisation, pre-ReLU outputs) are measured by magnitude;
  for non-negative layers this is the classic measure.
  *population* sparseness: per stimulus across the n features, averaged over stimuli;
  *lifetime* sparseness: per feature across the n stimuli, averaged over features.
  All-zero stimuli/features have an undefined S and are left out of the average (counted).
- histogram of log10 |activation| over fixed bins, with the zero and negative fractions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def treves_rolls(x: np.ndarray, axis: int) -> np.ndarray:
    """Treves-Rolls sparseness S = (1 - a)/(1 - 1/n) along `axis` (NaN where all zero)."""
    x = np.abs(np.asarray(x, dtype=np.float64))
    n = x.shape[axis]
    if n < 2:
        raise ValueError(f"sparseness needs at least 2 values along axis {axis}, got {n}")
    m1 = x.mean(axis=axis)
    m2 = (x**2).mean(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        a = m1**2 / m2
    return (1.0 - a) / (1.0 - 1.0 / n)


def population_sparseness(x: np.ndarray) -> float:
    """Mean over stimuli (rows) of the Treves-Rolls sparseness across features."""
    return float(np.nanmean(treves_rolls(x, axis=1)))


def lifetime_sparseness(x: np.ndarray) -> float:
    """Mean over features (columns) of the Treves-Rolls sparseness across stimuli."""
    return float(np.nanmean(treves_rolls(x, axis=0)))


def fraction_nonzero(x: np.ndarray) -> float:
    """Share of activations that are not exactly zero."""
    x = np.asarray(x)
    return float(np.count_nonzero(x) / x.size)


def log_bin_edges(bins: int = 60, min_log10: float = -6.0, max_log10: float = 4.0) -> np.ndarray:
    """Edges (in log10 units) of the activation-magnitude histogram."""
    if not max_log10 > min_log10 or bins < 1:
        raise ValueError("histogram needs bins >= 1 and max_log10 > min_log10")
    return np.linspace(min_log10, max_log10, bins + 1)


@dataclass
class SparsenessAccumulator:
    """Streamed sparseness statistics of one layer over (N x b) feature blocks."""

    n_stimuli: int
    edges: np.ndarray = field(default_factory=log_bin_edges)
    n_features: int = 0
    n_nonzero: int = 0
    n_negative: int = 0
    lifetime_sum: float = 0.0
    lifetime_count: int = 0

    def __post_init__(self) -> None:
        self.abs_sum = np.zeros(self.n_stimuli)
        self.sq_sum = np.zeros(self.n_stimuli)
        self.counts = np.zeros(len(self.edges) + 1, dtype=np.int64)  # under, bins..., over

    def add(self, block: np.ndarray) -> None:
        """Add a block of features (N x b)."""
        x = np.asarray(block, dtype=np.float64)
        a = np.abs(x)
        self.n_features += x.shape[1]
        self.abs_sum += a.sum(axis=1)
        self.sq_sum += (a * a).sum(axis=1)
        nz = a > 0
        self.n_nonzero += int(nz.sum())
        self.n_negative += int((x < 0).sum())
        if self.n_stimuli >= 2:
            s = treves_rolls(a, axis=0)
            ok = np.isfinite(s)
            self.lifetime_sum += float(s[ok].sum())
            self.lifetime_count += int(ok.sum())
        logs = np.log10(a[nz])
        idx = np.searchsorted(self.edges, logs, side="right")  # 0 below, len(edges) above
        self.counts += np.bincount(idx, minlength=len(self.counts))

    def result(self) -> dict[str, object]:
        """Scalars and histogram of the layer (histogram over non-zero magnitudes)."""
        total = self.n_stimuli * self.n_features
        d = self.n_features
        with np.errstate(invalid="ignore", divide="ignore"):
            a = (self.abs_sum / d) ** 2 / (self.sq_sum / d)
            pop = (1.0 - a) / (1.0 - 1.0 / d) if d > 1 else np.full_like(a, np.nan)
        counts = self.counts.copy()
        # values outside the range are folded into the first / last bin
        hist = counts[1:-1].copy()
        hist[0] += counts[0]
        hist[-1] += counts[-1]
        return {
            "fraction_nonzero": self.n_nonzero / total,
            "zero_fraction": 1.0 - self.n_nonzero / total,
            "negative_fraction": self.n_negative / total,
            "population_sparseness": float(np.nanmean(pop)) if np.isfinite(pop).any() else np.nan,
            "lifetime_sparseness": (
                self.lifetime_sum / self.lifetime_count if self.lifetime_count else np.nan
            ),
            "n_silent_features": self.n_features - self.lifetime_count,
            "histogram": hist,
        }
