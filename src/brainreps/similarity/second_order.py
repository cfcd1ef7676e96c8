"""Second-order similarity: layer x layer correlation of the RDMs' upper triangles.

Pearson and Spearman (average ranks for ties) correlation between the vectors of
off-diagonal entries of each layer's stimulus x stimulus correlation matrix, layer order
preserved. NaN entries (stimuli with constant activations) are excluded pairwise: a pair of
layers is compared over the stimulus pairs finite in both. A layer whose RDM is entirely NaN
gives NaN rows/columns.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.linalg import blas


def row_inner_products(vectors: Sequence[np.ndarray], chunk: int = 1 << 18) -> np.ndarray:
    """Matrix of inner products between equal-length vectors, summed in float64 by chunks.

    One reused (n_vectors x chunk) float64 buffer (a fresh stack per chunk costs page faults)
    and a symmetric rank-k update per chunk.
    """
    n = len(vectors)
    size = len(vectors[0])
    out = np.zeros((n, n))
    buf = np.empty((n, min(chunk, size)))
    for start in range(0, size, chunk):
        width = min(chunk, size - start)
        for k, v in enumerate(vectors):
            buf[k, :width] = v[start : start + width]
        b = np.ascontiguousarray(buf[:, :width])
        # syrk on the (chunk x n) Fortran view: numpy's b @ b.T is ~30x slower at this shape
        out += blas.dsyrk(1.0, b.T, trans=1)
    return np.triu(out) + np.triu(out, 1).T


def average_ranks(v: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank (scipy.stats.rankdata, ~3x faster)."""
    v = np.asarray(v)
    n = len(v)
    order = np.argsort(v, kind="quicksort")
    sorted_v = v[order]
    first = np.empty(n, dtype=bool)
    first[:1] = True
    np.not_equal(sorted_v[1:], sorted_v[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    counts = np.diff(np.append(starts, n))
    ranks = np.empty(n)
    ranks[order] = np.repeat(starts + (counts + 1) / 2.0, counts)
    return ranks


def _standardize(v: np.ndarray) -> np.ndarray | None:
    """Centred, unit-norm float64 copy of v (None when constant); in place after one copy."""
    v = np.array(v, dtype=np.float64)
    v -= v.mean()
    norm = np.sqrt(v @ v)
    if not norm > 0:
        return None
    v /= norm
    return v


def _pearson_pair(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return float("nan")
    sa, sb = _standardize(a[ok]), _standardize(b[ok])
    if sa is None or sb is None:
        return float("nan")
    return float(np.clip(sa @ sb, -1.0, 1.0))


def _corr_of_vectors(vectors: Sequence[np.ndarray], ranks: bool) -> np.ndarray:
    n = len(vectors)
    out = np.full((n, n), np.nan)
    finite = [bool(np.isfinite(v).all()) for v in vectors]
    # fast path: all-finite vectors, standardised once, one matrix product
    std: dict[int, np.ndarray] = {}
    for i, v in enumerate(vectors):
        if finite[i]:
            s = _standardize(average_ranks(v) if ranks else v)
            if s is not None:
                std[i] = s
    idx = sorted(std)
    if idx:
        c = np.clip(row_inner_products([std[i] for i in idx]), -1.0, 1.0)
        out[np.ix_(idx, idx)] = c
    # slow path: pairs involving a vector with NaNs, compared over the jointly finite entries
    for i in range(n):
        for j in range(i, n):
            if finite[i] and finite[j]:
                continue
            a, b = np.asarray(vectors[i], float), np.asarray(vectors[j], float)
            if ranks:
                ok = np.isfinite(a) & np.isfinite(b)
                if ok.sum() < 3:
                    continue
                a, b = average_ranks(a[ok]), average_ranks(b[ok])
            out[i, j] = out[j, i] = _pearson_pair(a, b)
    return out


def second_order(
    matrices: Sequence[np.ndarray] | np.ndarray, method: str = "spearman"
) -> np.ndarray:
    """Layer x layer correlation ('pearson' or 'spearman') of the matrices' upper triangles."""
    if method not in ("pearson", "spearman"):
        raise ValueError(f"method must be 'pearson' or 'spearman', not {method!r}")
    shapes = {np.shape(m) for m in matrices}
    if len(shapes) > 1:
        raise ValueError(f"RDMs of different sizes: {[np.shape(m) for m in matrices]}")
    n = np.shape(matrices[0])[-1]
    # a boolean mask (N^2 bytes, once for all layers) indexes faster than triu_indices
    # (same row-major order as rdm.upper_triangle)
    above = np.triu(np.ones((n, n), dtype=bool), k=1)
    vectors = [np.asarray(m)[above] for m in matrices]
    del above
    return _corr_of_vectors(vectors, ranks=method == "spearman")


def corr_between(
    a: Sequence[np.ndarray], b: Sequence[np.ndarray], method: str = "spearman"
) -> np.ndarray:
    """Correlation (len(a) x len(b)) between the upper triangles of two sets of matrices."""
    full = second_order(list(a) + list(b), method=method)
    return full[: len(a), len(a) :]
