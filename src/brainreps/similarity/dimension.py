"""Intrinsic dimension (TwoNN) and linear dimension (PCs for a share of the variance).

TwoNN (Facco et al. 2017, Sci. Rep. 7:12140), as used for layer representations by Ansuini
et al. 2019 (NeurIPS): for every point the ratio mu = r2/r1 of the distances to its second
and first nearest neighbours is Pareto distributed, F(mu) = 1 - mu^-d. Sort the mu, drop
the largest `discard_fraction` (the tail most affected by curvature and noise), and fit
-log(1 - F_emp(mu_i)) = d log(mu_i) by least squares through the origin, with
F_emp(mu_i) = i / N (N = points left after dropping duplicates). The bootstrap interval
resamples the mu values with replacement and refits.

Distances come from the feature-centred Gram matrix (||x_i - x_j||^2 = K_ii + K_jj - 2 K_ij),
so the streamed layer statistics suffice; `pairwise_sq_distances` does it for raw points.
"""

from __future__ import annotations

import warnings

import numpy as np


def sq_distances_from_gram(k: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between rows from their (centred) Gram matrix."""
    diag = np.diag(k)
    d2 = diag[:, None] + diag[None, :] - 2.0 * k
    np.maximum(d2, 0.0, out=d2)
    np.fill_diagonal(d2, 0.0)
    return d2


def pairwise_sq_distances(x: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between the rows of x (N x D)."""
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean(axis=0)
    return sq_distances_from_gram(x @ x.T)


def twonn_ratios(sq_dist: np.ndarray) -> np.ndarray:
    """mu = r2 / r1 per point (points with a duplicate, r1 == 0, are dropped with a warning)."""
    d2 = np.array(sq_dist, dtype=np.float64, copy=True)
    n = d2.shape[0]
    if n < 3:
        raise ValueError(f"TwoNN needs at least 3 points, got {n}")
    np.fill_diagonal(d2, np.inf)
    two = np.partition(d2, 1, axis=1)[:, :2]
    r1, r2 = np.sqrt(two[:, 0]), np.sqrt(two[:, 1])
    dup = ~(r1 > 0) | ~np.isfinite(r2)
    if dup.any():
        warnings.warn(
            f"TwoNN: dropping {int(dup.sum())} of {n} points with a duplicate "
            "(zero distance to the nearest neighbour)",
            RuntimeWarning,
            stacklevel=2,
        )
    return r2[~dup] / r1[~dup]


def twonn_fit(mu: np.ndarray, discard_fraction: float = 0.1) -> float:
    """TwoNN slope from the ratios mu (fit through the origin after dropping the largest)."""
    if not 0.0 <= discard_fraction < 1.0:
        raise ValueError(f"discard_fraction must be in [0, 1), not {discard_fraction}")
    mu = np.sort(np.asarray(mu, dtype=np.float64))
    n = len(mu)
    n_keep = int(np.floor(n * (1.0 - discard_fraction)))
    n_keep = min(n_keep, n - 1)  # F = 1 at the last point: -log(0) is infinite
    if n_keep < 2:
        return float("nan")
    x = np.log(mu[:n_keep])
    y = -np.log(1.0 - np.arange(1, n_keep + 1) / n)
    denom = float(x @ x)
    return float(x @ y / denom) if denom > 0 else float("nan")


def twonn(
    sq_dist: np.ndarray,
    discard_fraction: float = 0.1,
    n_bootstrap: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """TwoNN intrinsic dimension and its bootstrap interval (low, high) from squared distances."""
    mu = twonn_ratios(sq_dist)
    d = twonn_fit(mu, discard_fraction)
    if n_bootstrap < 1 or len(mu) < 3:
        return d, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    boots = np.array(
        [
            twonn_fit(mu[rng.integers(0, len(mu), len(mu))], discard_fraction)
            for _ in range(n_bootstrap)
        ]
    )
    alpha = (1.0 - confidence) / 2.0
    low, high = np.nanquantile(boots, [alpha, 1.0 - alpha])
    return d, float(low), float(high)


def twonn_points(x: np.ndarray, **kwargs) -> tuple[float, float, float]:
    """TwoNN intrinsic dimension of the rows of x (N x D); see `twonn`."""
    return twonn(pairwise_sq_distances(x), **kwargs)


def pca_variances(centered_gram: np.ndarray) -> np.ndarray:
    """Variances of the principal components (descending) from the centred Gram matrix."""
    n = centered_gram.shape[0]
    ev = np.linalg.eigvalsh(centered_gram)[::-1] / max(n - 1, 1)
    return np.clip(ev, 0.0, None)


def linear_dimension(variances: np.ndarray, threshold: float = 0.9) -> int:
    """Number of principal components needed to explain `threshold` of the variance."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"variance threshold must be in (0, 1], not {threshold}")
    v = np.asarray(variances, dtype=np.float64)
    total = v.sum()
    if not total > 0:
        return 0
    cum = np.cumsum(v) / total
    return int(np.searchsorted(cum, threshold - 1e-12) + 1)
