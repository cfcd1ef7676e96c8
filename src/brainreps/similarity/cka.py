"""Linear centred kernel alignment (Kornblith et al. 2019, ICML) between layers.

CKA(X, Y) = <H K H, H L H>_F / (||H K H||_F ||H L H||_F) with K = X X^T and L = Y Y^T the
stimulus x stimulus Gram matrices (H the centring matrix); equivalently
||Y_c^T X_c||_F^2 / (||X_c^T X_c||_F ||Y_c^T Y_c||_F) with feature-centred X_c, Y_c.
The Gram matrices are accumulated over feature blocks (see rdm.GramStats.centered_gram), so
D never needs to be in memory. Invariant to orthogonal transforms and isotropic scaling.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def center_gram(k: np.ndarray) -> np.ndarray:
    """H K H for a symmetric Gram matrix K."""
    k = np.asarray(k, dtype=np.float64)
    row = k.mean(axis=1)
    return k - row[:, None] - row[None, :] + row.mean()


def linear_cka_gram(k_centered: np.ndarray, l_centered: np.ndarray) -> float:
    """Linear CKA from two centred Gram matrices (NaN when one is zero)."""
    hsic = float(np.vdot(k_centered, l_centered))
    norm = float(np.linalg.norm(k_centered) * np.linalg.norm(l_centered))
    return hsic / norm if norm > 0 else float("nan")


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA between two representations (stimulus x features) of the same stimuli."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"CKA needs the same stimuli: {x.shape[0]} vs {y.shape[0]} rows")
    return linear_cka_gram(center_gram(x @ x.T), center_gram(y @ y.T))


def cka_matrix(centered_grams: Sequence[np.ndarray]) -> np.ndarray:
    """Layer x layer linear CKA from each layer's centred Gram matrix."""
    from brainreps.similarity.second_order import row_inner_products

    flat = [np.asarray(k).ravel() for k in centered_grams]
    inner = row_inner_products(flat)
    norms = np.sqrt(np.diag(inner))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = inner / np.outer(norms, norms)
    out[~np.isfinite(out)] = np.nan
    return out
