"""Very sparse random projection (Li, Hastie & Church 2006), streamed over feature chunks.

The projection matrix R (n_features x n_components) is never built densely. Its rows are
generated in fixed blocks of ROW_BLOCK features, each block from its own counter-keyed
stream: numpy's PCG64 seeded by SeedSequence(seed, spawn_key=(block,)), read only through
`random_raw` (raw 64-bit words, stable across numpy versions and machines), turned into
entries with integer arithmetic and IEEE-exact float ops only. So row f of R depends only on
(seed, n_features, n_components, density, f): the same seed gives the same matrix on any
machine and with any chunking of the features.

Distribution (as scikit-learn's SparseRandomProjection): each entry is independently nonzero
with probability `density` (default 1/sqrt(n_features)), and a nonzero is
+-sqrt(1/density)/sqrt(n_components) with equal probability. Sparse regime
(n_components * density <= 64): the number of nonzeros in a row is drawn from
Binomial(n_components, density) by inversion of its exact CDF, their columns uniformly
without replacement. Dense regime (otherwise, or density > 0.5): each entry is drawn by
thresholding its own raw word. Every layer uses the same seed, so layers of equal width share
one matrix.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import xarray as xr

from brainreps import io
from brainreps.device import resolve_device
from brainreps.logs import progress

logger = logging.getLogger(__name__)

ROW_BLOCK = 8192  # features per generated block; part of the matrix definition, never change
_DENSE_REGIME = 64.0  # expected nonzeros per row above which entries are drawn one by one
_TWO64 = 2.0**64
_MASK32 = np.uint64(0xFFFFFFFF)
DEFAULT_CHUNK_BYTES = 64 * 2**20  # feature columns read at once, per chunk of the input


def check_density(density: float | str, n_features: int) -> float:
    """The density: 1/sqrt(n_features) for 'auto', else a number in (0, 1]."""
    if density == "auto" or density is None:
        return 1.0 / math.sqrt(n_features)
    density = float(density)
    if not 0.0 < density <= 1.0:
        raise ValueError(f"density must be in (0, 1] or 'auto'; got {density}")
    return density


def johnson_lindenstrauss_min_dim(n_samples: int, eps: float) -> int:
    """Smallest safe k for n_samples points with distortion eps (scikit-learn's formula)."""
    if not 0.0 < eps < 1.0:
        raise ValueError(f"eps must be in (0, 1); got {eps}")
    if n_samples <= 0:
        raise ValueError(f"n_samples must be positive; got {n_samples}")
    denominator = (eps**2 / 2) - (eps**3 / 3)
    return int(4 * np.log(n_samples) / denominator)


def nonzero_value(density: float, n_components: int) -> float:
    """Magnitude of a nonzero entry: sqrt(1/density)/sqrt(n_components)."""
    return float(np.sqrt(1.0 / density) / np.sqrt(n_components))


def _count_thresholds(n_components: int, density: float) -> np.ndarray:
    """uint64 thresholds T[j] = floor(CDF(j) * 2**64) of Binomial(k, density), by recursion.

    Only +, *, / on doubles (exactly rounded everywhere), so identical on every machine.
    """
    q = 1.0 - density
    pmf = 1.0
    for _ in range(n_components):
        pmf *= q
    ratio = density / q
    cdf, thresholds, j = 0.0, [], 0
    while j <= n_components:
        cdf += pmf
        if cdf >= 1.0 or (j > n_components * density and pmf * _TWO64 < 0.5):
            thresholds.append(np.iinfo(np.uint64).max)
            break
        thresholds.append(int(cdf * _TWO64))
        pmf = pmf * (n_components - j) / (j + 1) * ratio
        j += 1
    thresholds[-1] = np.iinfo(np.uint64).max
    return np.array(thresholds, dtype=np.uint64)


class _BlockGenerator:
    """Entries of R, one fixed ROW_BLOCK of rows at a time, cached for the last block."""

    def __init__(self, n_features: int, n_components: int, density: float, seed: int) -> None:
        if n_features < 1 or n_components < 1:
            raise ValueError(
                f"n_features and n_components must be positive; got {n_features}, {n_components}"
            )
        self.n_features = int(n_features)
        self.n_components = int(n_components)
        self.density = float(density)
        self.seed = int(seed)
        self.value = nonzero_value(self.density, self.n_components)
        self.dense_regime = self.n_components * self.density > _DENSE_REGIME or density > 0.5
        self.thresholds = None if self.dense_regime else _count_thresholds(n_components, density)
        self._cache: tuple[int, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None

    def _bitgen(self, block: int) -> np.random.PCG64:
        ss = np.random.SeedSequence(entropy=self.seed, spawn_key=(block,))
        return np.random.PCG64(ss)

    def block(self, block: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row within block int64, column int64, sign bool) of the nonzeros of one block."""
        if self._cache is not None and self._cache[0] == block:
            return self._cache[1]
        r0 = block * ROW_BLOCK
        n_rows = min(ROW_BLOCK, self.n_features - r0)
        if n_rows <= 0:
            raise IndexError(f"block {block} is beyond {self.n_features} features")
        bitgen = self._bitgen(block)
        k = self.n_components
        if self.dense_regime:
            raw = bitgen.random_raw(n_rows * k)
            if self.density >= 1.0:
                flat = np.arange(n_rows * k, dtype=np.int64)
            else:
                flat = np.flatnonzero(raw < np.uint64(int(self.density * _TWO64)))
            rows, cols = np.divmod(flat, k)
            signs = (raw[flat] & np.uint64(1)).astype(bool)
        else:
            counts = np.searchsorted(self.thresholds, bitgen.random_raw(n_rows), side="right")
            counts = np.minimum(counts, min(k, len(self.thresholds) - 1))
            rows = np.repeat(np.arange(n_rows, dtype=np.int64), counts)
            cols, signs = self._columns(bitgen, rows.size)
            # columns are drawn with replacement; redraw the later of repeated (row, col)
            while True:
                key = rows * k + cols
                sorted_key = np.sort(key)
                repeated = sorted_key[1:][sorted_key[1:] == sorted_key[:-1]]
                if repeated.size == 0:
                    break
                involved = np.flatnonzero(np.isin(key, repeated))  # in generation order
                _, first = np.unique(key[involved], return_index=True)
                dup = np.sort(np.delete(involved, first))
                cols[dup], signs[dup] = self._columns(bitgen, dup.size)
        out = (rows, cols, signs)
        self._cache = (block, out)
        return out

    def _columns(self, bitgen: np.random.PCG64, n: int) -> tuple[np.ndarray, np.ndarray]:
        raw = bitgen.random_raw(n)
        cols = (((raw & _MASK32) * np.uint64(self.n_components)) >> np.uint64(32)).astype(np.int64)
        signs = (raw >> np.uint64(63)).astype(bool)
        return cols, signs

    def rows(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row relative to start, column, value float32) of the nonzeros of rows [start, stop)."""
        if not 0 <= start <= stop <= self.n_features:
            raise ValueError(f"rows [{start}, {stop}) outside [0, {self.n_features})")
        parts_r, parts_c, parts_s = [], [], []
        for b in range(start // ROW_BLOCK, (stop - 1) // ROW_BLOCK + 1 if stop > start else 0):
            r, c, s = self.block(b)
            absolute = r + b * ROW_BLOCK
            keep = (absolute >= start) & (absolute < stop)
            parts_r.append(absolute[keep] - start)
            parts_c.append(c[keep])
            parts_s.append(s[keep])
        if not parts_r:
            empty = np.zeros(0, np.int64)
            return empty, empty, np.zeros(0, np.float32)
        rows = np.concatenate(parts_r)
        cols = np.concatenate(parts_c)
        signs = np.concatenate(parts_s)
        values = np.where(signs, -self.value, self.value).astype(np.float32)
        return rows, cols, values


def sparse_random_matrix(
    n_features: int,
    n_components: int,
    density: float | str = "auto",
    seed: int = 0,
    rows: tuple[int, int] | None = None,
) -> sp.csr_matrix:
    """Rows `rows` (default all) of the projection matrix, as a sparse (rows x n_components) matrix."""
    density = check_density(density, n_features)
    gen = _BlockGenerator(n_features, n_components, density, seed)
    start, stop = rows if rows is not None else (0, n_features)
    r, c, v = gen.rows(start, stop)
    return sp.csr_matrix((v, (r, c)), shape=(stop - start, n_components), dtype=np.float32)


def _as_chunks(features: Any, chunk_features: int) -> Iterable[Any]:
    """Column chunks of a 2-D array (views), or the given iterable of chunks as is."""
    if isinstance(features, (np.ndarray, torch.Tensor)) or hasattr(features, "shape"):
        if len(features.shape) != 2:
            raise ValueError(f"features must be 2-D (stimulus, feature); got {features.shape}")
        n = features.shape[1]
        return (features[:, i : i + chunk_features] for i in range(0, n, chunk_features))
    return features


def default_chunk_features(n_stimuli: int, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> int:
    """Features per chunk so that one float32 chunk is about `chunk_bytes`, in whole row blocks."""
    per = max(1, chunk_bytes // (4 * max(1, n_stimuli)))
    return max(ROW_BLOCK, (per // ROW_BLOCK) * ROW_BLOCK)


try:  # scipy's compiled CSC x dense kernel, accumulating into its output in feature order
    from scipy.sparse._sparsetools import csc_matvecs as _csc_matvecs
except ImportError:  # pragma: no cover - a scipy without it: the public (allocating) product
    _csc_matvecs = None


def _pieces(chunks: Iterable[Any], n_features: int) -> Iterable[tuple[int, np.ndarray]]:
    """(start, array) pieces of the (stimulus, chunk) arrays, cut at ROW_BLOCK boundaries."""
    start = 0
    n_stim = None
    for chunk in chunks:
        x = chunk.detach().cpu().numpy() if torch.is_tensor(chunk) else np.asarray(chunk)
        if x.ndim != 2:
            raise ValueError(f"feature chunk must be 2-D (stimulus, feature); got {x.shape}")
        if n_stim is None:
            n_stim = x.shape[0]
        elif x.shape[0] != n_stim:
            raise ValueError(f"feature chunk has {x.shape[0]} stimuli; expected {n_stim}")
        if start + x.shape[1] > n_features:
            raise ValueError(f"feature chunks hold more than n_features={n_features} columns")
        pos = 0
        while pos < x.shape[1]:
            width = min(x.shape[1] - pos, ROW_BLOCK - (start % ROW_BLOCK))
            yield start, x[:, pos : pos + width]
            pos += width
            start += width
    if n_stim is None:
        raise ValueError("no feature chunks given")
    if start != n_features:
        raise ValueError(f"feature chunks hold {start} columns; expected n_features={n_features}")


def _accumulate(out_t, indptr, cols, values, x_t: np.ndarray, k: int) -> None:
    """out_t (k, stimulus) += R_piece^T x_t, R_piece given as CSR (piece width, k)."""
    width, n_stim = x_t.shape
    if isinstance(out_t, np.ndarray) and _csc_matvecs is not None:
        # CSR of R's rows == CSC of R^T: scipy's kernel adds into out_t in place
        _csc_matvecs(k, width, n_stim, indptr, cols, values, x_t.ravel(), out_t.ravel())
        return
    r_t = sp.csr_matrix((values, cols, indptr), shape=(width, k)).T.tocsr()  # (k, width)
    if isinstance(out_t, np.ndarray):
        out_t += r_t @ x_t
        return
    dev = out_t.device
    r_t = torch.sparse_csr_tensor(
        torch.from_numpy(r_t.indptr.astype(np.int64)),
        torch.from_numpy(r_t.indices.astype(np.int64)),
        torch.from_numpy(r_t.data),
        size=(k, width),
        device=dev,
    )
    out_t += torch.mm(r_t, torch.from_numpy(x_t).to(dev))


def project(
    features: np.ndarray | Iterable[np.ndarray],
    n_features: int,
    n_components: int,
    density: float | str = "auto",
    seed: int = 0,
    device: str | torch.device | None = None,
    chunk_features: int | None = None,
) -> np.ndarray:
    """features (stimulus, feature) @ R -> (stimulus, component) float32, streamed over chunks.

    `features` is a 2-D array (read `chunk_features` columns at a time) or an iterable of
    (stimulus, chunk) arrays in feature order whose widths sum to n_features. R is never
    dense: it is generated ROW_BLOCK rows at a time, and each piece of at most ROW_BLOCK
    features is multiplied and added into the output. On the CPU the products accumulate
    feature by feature in order, so any chunking gives bit-identical output.
    """
    density = check_density(density, n_features)
    gen = _BlockGenerator(n_features, n_components, density, seed)
    dev = resolve_device(device)
    if hasattr(features, "shape"):
        n_stim = features.shape[0]
        chunks = _as_chunks(features, chunk_features or default_chunk_features(n_stim))
    else:
        chunks = features
    out_t = None  # (component, stimulus)
    for start, x in _pieces(chunks, n_features):
        width = x.shape[1]
        rows, cols, values = gen.rows(start, start + width)
        indptr = np.zeros(width + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=width), out=indptr[1:])
        if out_t is None:
            buffer = np.empty((ROW_BLOCK, x.shape[0]), np.float32)  # reused (feature, stimulus)
            out_t = (
                np.zeros((n_components, x.shape[0]), np.float32)
                if dev.type == "cpu"
                else torch.zeros(n_components, x.shape[0], device=dev)
            )
        x_t = buffer[:width]
        np.copyto(x_t, x.T, casting="same_kind")  # C-contiguous (feature, stimulus) copy
        _accumulate(out_t, indptr, cols, values, x_t, n_components)
    if torch.is_tensor(out_t):
        out_t = out_t.cpu().numpy()
    return np.ascontiguousarray(out_t.T)


# ---------------------------------------------------------------------------------------------
# stores


def resolve_n_components(n_stimuli: int, n_components: int | None, eps: float | None) -> int:
    """k from the config: n_components, or the JL bound for eps (not both); default 4096."""
    if n_components is not None and eps is not None:
        raise ValueError("give n_components or eps for the projection, not both")
    if eps is not None:
        return johnson_lindenstrauss_min_dim(n_stimuli, eps)
    k = 4096 if n_components is None else int(n_components)
    if k < 1:
        raise ValueError(f"n_components must be positive; got {k}")
    return k


def _layer_chunks(array, chunk_features: int) -> Iterable[np.ndarray]:
    n = array.shape[1]
    for i in range(0, n, chunk_features):
        yield np.asarray(array[:, i : i + chunk_features])


def project_store(
    features_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    n_components: int | None = None,
    eps: float | None = None,
    density: float | str = "auto",
    seed: int = 0,
    layers: Sequence[str] | None = None,
    device: str | torch.device | None = None,
    small_layers: str = "identity",
    params: Mapping[str, Any] | None = None,
    inputs: Sequence[str] | None = None,
) -> Path:
    """Project every layer (group) of a features store into a grouped projection store.

    k = n_components, or the JL bound for eps and the number of stimuli. A layer with
    n_features <= k is copied unprojected when small_layers == "identity" (its geometry kept
    exactly, its width n_features), or projected to k all the same when "project".
    """
    import zarr

    if small_layers not in ("identity", "project"):
        raise ValueError(f"small_layers must be 'identity' or 'project'; got {small_layers!r}")
    features_path = Path(features_path)
    groups = io.store_groups(features_path)
    attrs = io.store_attrs(features_path)
    if attrs.get("brainreps_kind") != "features":
        raise io.StoreError(f"{features_path} is not a features store")
    if layers is not None:
        missing = [g for g in layers if g not in groups]
        if missing:
            raise ValueError(f"{features_path} has no layer {missing}; it has {groups}")
        groups = [g for g in groups if g in set(layers)]
    root = zarr.open_group(str(features_path), mode="r")
    first = root[groups[0]]["activations"]
    k = resolve_n_components(first.shape[0], n_components, eps)
    settings = {
        "n_components": k,
        "density": density,
        "seed": seed,
        "small_layers": small_layers,
    }
    prov = io.provenance("projection", params if params is not None else settings, inputs)
    prov["groups"] = json.dumps(list(groups))
    prov["layers"] = json.dumps(list(groups))
    with io.atomic_path(out_path) as tmp:
        xr.Dataset(attrs=prov).to_zarr(tmp, mode="w", zarr_format=3, consolidated=False)
        for group in progress(groups, desc="projection", total=len(groups)):
            ds = io.read_store(features_path, "features", group=group)
            acts = root[group]["activations"]
            n_stim, n_feat = acts.shape
            if small_layers == "identity" and n_feat <= k:
                comps = np.asarray(acts[:], dtype=np.float32)
                method, dens, width = "identity", None, n_feat
            else:
                dens = check_density(density, n_feat)
                chunk = default_chunk_features(n_stim)
                zchunk = acts.chunks[1]
                if zchunk % ROW_BLOCK == 0 or zchunk >= n_feat:
                    chunk = max(zchunk, (chunk // zchunk) * zchunk)
                comps = project(_layer_chunks(acts, chunk), n_feat, k, dens, seed, device=device)
                method, width = "sparse_random_projection", k
            out = xr.Dataset(
                {"components": (("stimulus", "component"), comps)},
                coords={"stimulus": ds["stimulus"].values},
                attrs={
                    "method": method,
                    "n_features": int(n_feat),
                    "n_components": int(width),
                    "density": dens if dens is not None else "n/a",
                    "seed": int(seed),
                },
            )
            io.validate(out, "projection", where=f"{out_path}/{group}")
            out.to_zarr(
                tmp,
                group=group,
                mode="a",
                zarr_format=3,
                consolidated=False,
                encoding=io.default_chunks(out),
            )
            logger.info("%s: %d features -> %d components (%s)", group, n_feat, width, method)
    return Path(out_path)
