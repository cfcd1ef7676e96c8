"""Stimulus x stimulus Pearson correlation of activation patterns, streamed over feature blocks.

The data of one layer is a matrix X (stimulus x feature). Feature blocks X[:, a:b] are read one
at a time; per block we accumulate, in float64, the Gram matrix X' X'^T and the row sums of X'
where X' = X - c 1^T is X shifted by one constant per stimulus (the row means of the first
block: correlations are invariant to it, and it removes most of the cancellation of the
one-pass formula). Memory: one block plus the N x N accumulator, never N x D.

From the accumulated statistics we get the correlation matrix (``r``; dissimilarity ``1 - r``)
and the feature-centred Gram matrix H X X^T H (for CKA, PCA and Euclidean distances).
Stimuli whose pattern is constant (zero variance) get NaN rows/columns and a warning naming
the layer: a correlation with a constant vector is undefined.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from brainreps.device import resolve_device_name

PRECISIONS = ("float32", "float64")


class SimilarityInputError(ValueError):
    """The activations cannot give a meaningful similarity (too few stimuli, mismatched sets)."""


DEVICES = ("auto", "cpu", "cuda", "torch-cpu")


def accumulator_device(device: str = "auto") -> str | None:
    """The torch device a GramAccumulator uses, or None for the numpy/BLAS path.

    'cpu' is numpy; 'auto' and 'cuda' go through the package's device resolver (numpy when it
    picks the CPU); 'torch-cpu' runs the torch (GPU) code path on the CPU, to test it where
    there is no GPU.
    """
    if device not in DEVICES:
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', not {device!r}")
    if device == "torch-cpu":
        return "cpu"
    if device == "cpu":
        return None
    name = resolve_device_name(device)
    return None if name == "cpu" else name


def check_n_stimuli(n: int, where: str = "activations") -> None:
    """Raise a clear error when there are fewer than 3 stimuli (no off-diagonal structure)."""
    if n < 3:
        raise SimilarityInputError(
            f"{where}: {n} stimuli; a stimulus x stimulus similarity needs at least 3"
        )


@dataclass
class GramStats:
    """Accumulated second-order statistics of one layer (all float64)."""

    gram: np.ndarray  # (N, N) X' X'^T, X' = X - shift[:, None]
    row_sum: np.ndarray  # (N,) row sums of X'
    shift: np.ndarray  # (N,) per-stimulus shift c
    n_features: int

    @property
    def n_stimuli(self) -> int:
        return int(self.gram.shape[0])

    @property
    def row_sumsq(self) -> np.ndarray:
        """Row sums of squares of X' (the Gram diagonal)."""
        return np.diag(self.gram).copy()

    def row_variance_sums(self) -> np.ndarray:
        """Per stimulus, the sum of squared deviations from its mean over features."""
        return np.diag(self.gram) - self.row_sum**2 / self.n_features

    def constant_rows(self) -> np.ndarray:
        """Boolean mask of stimuli whose activation pattern is constant (zero variance)."""
        ss = self.row_variance_sums()
        scale = np.abs(np.diag(self.gram)) + self.n_features * self.shift**2
        return ~(ss > 1e-13 * scale) | ~np.isfinite(ss)

    def correlation(self, layer: str = "layer", warn: bool = True) -> np.ndarray:
        """Pearson correlation of the stimuli's patterns (N x N, float64; NaN for constant rows)."""
        d = self.n_features
        cov = np.outer(self.row_sum, self.row_sum / -d)  # in place below: one N x N buffer
        cov += self.gram
        var = np.diag(cov).copy()
        bad = self.constant_rows()
        if bad.any() and warn:
            warnings.warn(
                f"layer {layer!r}: {int(bad.sum())} of {self.n_stimuli} stimuli have constant "
                "activations (zero variance); their correlations are NaN",
                RuntimeWarning,
                stacklevel=2,
            )
        scale = np.where(bad, np.nan, 1.0 / np.sqrt(np.where(bad, 1.0, var)))
        r = cov
        r *= scale[:, None]
        r *= scale[None, :]
        np.clip(r, -1.0, 1.0, out=r)
        idx = np.arange(self.n_stimuli)
        r[idx, idx] = np.where(bad, np.nan, 1.0)
        return r

    def centered_gram(self) -> np.ndarray:
        """The feature-centred Gram matrix H X X^T H of the unshifted data (float64)."""
        g = self.gram
        hs = self.row_sum - self.row_sum.mean()
        hc = self.shift - self.shift.mean()
        row_mean = g.mean(axis=1)
        k = g - row_mean[:, None]
        k -= row_mean[None, :]
        k += row_mean.mean()
        # + hs hc^T + hc hs^T + D hc hc^T, written as u hc^T + hc u^T with u = hs + D/2 hc
        u = hs + 0.5 * self.n_features * hc
        k += np.outer(u, hc)
        k += np.outer(hc, u)
        return k


# Below this many multiply-adds a block's product runs on one BLAS thread: on a busy machine
# waking BLAS threads costs far more than the work (10x measured on 120 x 240 blocks).
SMALL_PRODUCT = 2**27
_CONTROLLER = None


def _single_blas_thread():
    """Context limiting BLAS to one thread (threadpoolctl; the controller is built once)."""
    global _CONTROLLER
    from threadpoolctl import ThreadpoolController

    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


def blas_threads_for(work: float):
    """One BLAS thread for small work (< SMALL_PRODUCT multiply-adds), else no limit."""
    return _single_blas_thread() if work < SMALL_PRODUCT else contextlib.nullcontext()


class GramAccumulator:
    """Accumulate GramStats over feature blocks (numpy/BLAS on the CPU, torch on a GPU).

    ``precision`` is the dtype of each block's product: 'float64' (exact to rounding) or
    'float32' (about 2x faster on CPUs; relative error ~1e-6, below float16/32 feature
    precision). Sums across blocks are always float64.
    """

    def __init__(self, n_stimuli: int, device: str = "cpu", precision: str = "float64"):
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
        self.n = int(n_stimuli)
        self.device = device
        self.precision = precision
        self.n_features = 0
        self.shift: np.ndarray | None = None
        self.row_sum = np.zeros(self.n)
        self._torch_device = accumulator_device(device)
        if self._torch_device:
            import torch

            self._torch = torch
            self._gram = torch.zeros(
                (self.n, self.n), dtype=torch.float64, device=self._torch_device
            )
        else:
            self._gram = np.zeros((self.n, self.n), dtype=np.float64, order="F")

    def add(self, block: np.ndarray) -> None:
        """Add a block of features (N x b) of the same N stimuli."""
        block = np.asarray(block)
        if block.ndim != 2 or block.shape[0] != self.n:
            raise ValueError(f"block of shape {block.shape}; expected ({self.n}, n_features)")
        if block.shape[1] == 0:
            return
        dtype = np.float64 if self.precision == "float64" else np.float32
        if self.shift is None:
            # any per-stimulus constant works; keep it exactly representable in `dtype`
            self.shift = block.mean(axis=1, dtype=np.float64).astype(dtype).astype(np.float64)
        shifted = block.astype(dtype, order="C")  # always a copy
        shifted -= self.shift.astype(dtype)[:, None]
        self.row_sum += shifted.sum(axis=1, dtype=np.float64)
        self.n_features += block.shape[1]
        if self._torch_device:
            self._add_torch(shifted)
        else:
            self._add_blas(shifted)

    def _add_blas(self, shifted: np.ndarray) -> None:
        with blas_threads_for(self.n * self.n * shifted.shape[1]):
            self._syrk(shifted)

    def _syrk(self, shifted: np.ndarray) -> None:
        from scipy.linalg import blas

        if self.precision == "float64":
            # C-contiguous (N, b) is a Fortran (b, N) matrix: trans=1 gives A^T A = X X^T
            self._gram = blas.dsyrk(1.0, shifted.T, beta=1.0, c=self._gram, trans=1, overwrite_c=1)
        else:
            self._gram += blas.ssyrk(1.0, shifted.T, trans=1)

    def _add_torch(self, shifted: np.ndarray) -> None:
        torch = self._torch
        dtype = torch.float64 if self.precision == "float64" else torch.float32
        x = torch.from_numpy(shifted).to(self._torch_device, dtype=dtype)
        self._gram += (x @ x.T).to(torch.float64)

    def result(self) -> GramStats:
        """The accumulated statistics (the Gram matrix symmetrised from its upper triangle)."""
        if self.n_features == 0 or self.shift is None:
            raise ValueError("no features were added")
        if self._torch_device:
            g = self._gram.cpu().numpy()
        else:
            g = _symmetrize_upper(self._gram)
        return GramStats(
            np.ascontiguousarray(g), self.row_sum.copy(), self.shift.copy(), self.n_features
        )


def _symmetrize_upper(g: np.ndarray, tile: int = 1024) -> np.ndarray:
    """Copy the upper triangle onto the lower one in place, tile by tile (no N x N temporary)."""
    n = g.shape[0]
    for a in range(0, n, tile):
        b = min(a + tile, n)
        g[a:b, :a] = g[:a, a:b].T
        d = g[a:b, a:b]
        d[np.tril_indices(b - a, -1)] = d.T[np.tril_indices(b - a, -1)]
    return g.T if g.flags.f_contiguous and not g.flags.c_contiguous else g


def iter_blocks(x: np.ndarray, block_size: int) -> Iterator[np.ndarray]:
    """Column blocks x[:, a:a+block_size] of an in-memory (or lazily sliced) 2-D array."""
    n_features = x.shape[1]
    for start in range(0, n_features, block_size):
        yield np.asarray(x[:, start : start + block_size])


def gram_stats(
    blocks: Iterable[np.ndarray],
    n_stimuli: int,
    device: str = "cpu",
    precision: str = "float64",
) -> GramStats:
    """Accumulate GramStats from an iterable of (N x b) feature blocks."""
    check_n_stimuli(n_stimuli)
    acc = GramAccumulator(n_stimuli, device=device, precision=precision)
    for block in blocks:
        acc.add(block)
    return acc.result()


def correlation_matrix(
    x: np.ndarray,
    block_size: int | None = None,
    device: str = "cpu",
    precision: str = "float64",
    layer: str = "layer",
) -> np.ndarray:
    """Pearson correlation between the rows (stimuli) of x (N x D); like numpy.corrcoef(x)."""
    x = np.asarray(x) if not hasattr(x, "shape") else x
    if len(x.shape) != 2:
        raise ValueError(f"{layer}: activations of shape {x.shape}; expected (stimulus, feature)")
    n, d = x.shape
    check_n_stimuli(n, f"layer {layer!r}")
    if d < 2:
        raise SimilarityInputError(f"layer {layer!r}: {d} feature(s); correlations need >= 2")
    stats = gram_stats(iter_blocks(x, block_size or d), n, device=device, precision=precision)
    return stats.correlation(layer=layer)


def correlation_rdm(x: np.ndarray, **kwargs) -> np.ndarray:
    """The correlation-distance RDM, 1 - Pearson r between the rows of x."""
    return 1.0 - correlation_matrix(x, **kwargs)


def upper_triangle(m: np.ndarray) -> np.ndarray:
    """The entries above the diagonal of a square matrix, row by row."""
    i, j = np.triu_indices(m.shape[-1], k=1)
    return m[..., i, j]


def mean_offdiagonal(r: np.ndarray) -> float:
    """Mean off-diagonal correlation of a correlation matrix (decorrelation: lower = more)."""
    return float(np.nanmean(upper_triangle(r)))
