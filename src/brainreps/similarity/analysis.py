"""One streamed pass per layer -> every per-layer and layer x layer result of the stage.

For each layer the feature blocks are read once; the pass accumulates the stimulus Gram
statistics (rdm.GramAccumulator) and the sparseness statistics. From them: the correlation
matrix, decorrelation, the centred Gram (CKA, PCA -> linear dimension, distances -> TwoNN).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from brainreps.config import fill_defaults
from brainreps.similarity import cka, dimension, rdm, second_order, sparseness

logger = logging.getLogger(__name__)

BlockSource = Callable[[], Iterable[np.ndarray]]


@dataclass(frozen=True)
class SimilarityParams:
    """Settings of the similarity stage (config section `similarity`, minus rsa/figures)."""

    block_size: int
    precision: str
    device: str
    discard_fraction: float
    n_bootstrap: int
    confidence: float
    seed: int
    variance_threshold: float
    in_memory_mb: float
    histogram: Mapping[str, float]

    @classmethod
    def from_config(cls, section: Mapping | None = None) -> SimilarityParams:
        """From the config's `similarity` section; missing settings take the schema defaults."""
        s = fill_defaults("similarity", section or {}, "similarity")
        return cls(
            block_size=int(s["block_size"]),
            precision=s["precision"],
            device=s["device"],
            discard_fraction=float(s["twonn"]["discard_fraction"]),
            n_bootstrap=int(s["twonn"]["n_bootstrap"]),
            confidence=float(s["twonn"]["confidence"]),
            seed=int(s["seed"]),
            variance_threshold=float(s["variance_threshold"]),
            in_memory_mb=float(s["in_memory_mb"]),
            histogram=dict(s["histogram"]),
        )

    def edges(self) -> np.ndarray:
        """Bin edges of the log10 |activation| histogram."""
        h = self.histogram
        return sparseness.log_bin_edges(
            int(h["bins"]), float(h["min_log10"]), float(h["max_log10"])
        )


@dataclass
class LayerResult:
    """What one layer's pass gives."""

    correlation: np.ndarray  # (N, N) float32
    centered_gram: np.ndarray  # (N, N) float32, for CKA
    scalars: dict[str, float]
    histogram: np.ndarray


def analyze_layer(
    blocks: Iterable[np.ndarray], n_stimuli: int, layer: str, params: SimilarityParams
) -> LayerResult:
    """Stream a layer's feature blocks once and derive every per-layer result."""
    rdm.check_n_stimuli(n_stimuli, f"layer {layer!r}")
    acc = rdm.GramAccumulator(n_stimuli, device=params.device, precision=params.precision)
    spars = sparseness.SparsenessAccumulator(n_stimuli, edges=params.edges())
    for block in blocks:
        acc.add(block)
        spars.add(block)
    stats = acc.result()
    if stats.n_features < 2:
        raise rdm.SimilarityInputError(
            f"layer {layer!r}: {stats.n_features} feature(s); correlations need >= 2"
        )
    with rdm.blas_threads_for(float(n_stimuli) ** 3):
        return _summarize(stats, spars, n_stimuli, layer, params)


def _summarize(
    stats: rdm.GramStats,
    spars: sparseness.SparsenessAccumulator,
    n_stimuli: int,
    layer: str,
    params: SimilarityParams,
) -> LayerResult:
    corr = stats.correlation(layer=layer)
    kc = stats.centered_gram()
    sp = spars.result()
    variances = dimension.pca_variances(kc)
    if np.allclose(kc, 0.0):
        tw = (np.nan, np.nan, np.nan)
    else:
        tw = dimension.twonn(
            dimension.sq_distances_from_gram(kc),
            discard_fraction=params.discard_fraction,
            n_bootstrap=params.n_bootstrap,
            confidence=params.confidence,
            seed=params.seed,
        )
    n_constant = int(stats.constant_rows().sum())
    scalars = {
        "n_features": stats.n_features,
        "n_constant_stimuli": n_constant,
        "fraction_nonzero": sp["fraction_nonzero"],
        "zero_fraction": sp["zero_fraction"],
        "negative_fraction": sp["negative_fraction"],
        "population_sparseness": sp["population_sparseness"],
        "lifetime_sparseness": sp["lifetime_sparseness"],
        "decorrelation": (
            rdm.mean_offdiagonal(corr) if n_constant < n_stimuli - 1 else float("nan")
        ),
        "twonn": tw[0],
        "twonn_low": tw[1],
        "twonn_high": tw[2],
        "linear_dimension": dimension.linear_dimension(variances, params.variance_threshold),
    }
    logger.info(
        "layer %s: %d features, mean r %.3f, TwoNN %.2f, linear dim %d",
        layer,
        stats.n_features,
        scalars["decorrelation"],
        tw[0],
        scalars["linear_dimension"],
    )
    return LayerResult(corr.astype(np.float32), kc.astype(np.float32), scalars, sp["histogram"])


def analyze_layers(
    sources: Mapping[str, BlockSource],
    stimulus_ids: Sequence[str],
    params: SimilarityParams,
) -> xr.Dataset:
    """Run `analyze_layer` over layers (in order) and add the layer x layer matrices."""
    layers = list(sources)
    if not layers:
        raise ValueError("no layers to analyse")
    n = len(stimulus_ids)
    rdm.check_n_stimuli(n)
    results = []
    for name in layers:
        results.append(analyze_layer(sources[name](), n, name, params))
    corrs = [r.correlation for r in results]
    pearson = second_order.second_order(corrs, "pearson")
    spearman = second_order.second_order(corrs, "spearman")
    ckas = cka.cka_matrix([r.centered_gram for r in results])
    return build_dataset(
        layers, list(map(str, stimulus_ids)), results, pearson, spearman, ckas, params
    )


SCALAR_INT = ("n_features", "n_constant_stimuli", "linear_dimension")


def build_dataset(
    layers: list[str],
    stimulus_ids: list[str],
    results: list[LayerResult],
    pearson: np.ndarray,
    spearman: np.ndarray,
    ckas: np.ndarray,
    params: SimilarityParams,
) -> xr.Dataset:
    """The `similarity` store's Dataset (named dims; see io.SCHEMAS['similarity'])."""
    edges = params.edges()
    data = {
        "correlation": (
            ("layer", "stimulus", "stimulus_b"),
            np.stack([r.correlation for r in results]),
        ),
        "pearson": (("layer", "layer_b"), pearson),
        "spearman": (("layer", "layer_b"), spearman),
        "cka": (("layer", "layer_b"), ckas),
        "histogram": (("layer", "bin"), np.stack([r.histogram for r in results]).astype(np.int64)),
    }
    for key in results[0].scalars:
        values = np.array([r.scalars[key] for r in results])
        data[key] = (("layer",), values.astype(np.int64 if key in SCALAR_INT else np.float64))
    ds = xr.Dataset(
        data,
        coords={
            "layer": layers,
            "layer_b": layers,
            "depth": ("layer", np.arange(len(layers))),
            "stimulus": stimulus_ids,
            "stimulus_b": stimulus_ids,
            "log10_low": ("bin", edges[:-1]),
            "log10_high": ("bin", edges[1:]),
        },
    )
    ds["correlation"].attrs["description"] = "Pearson r between stimulus patterns; RDM = 1 - r"
    ds["cka"].attrs["description"] = "linear CKA (Kornblith et al. 2019)"
    ds["twonn"].attrs["description"] = (
        f"TwoNN intrinsic dimension, discard fraction {params.discard_fraction}; "
        f"twonn_low/high: {params.confidence:.0%} bootstrap interval ({params.n_bootstrap})"
    )
    ds["linear_dimension"].attrs["description"] = (
        f"number of PCs for {params.variance_threshold:.0%} of the variance"
    )
    ds["histogram"].attrs["description"] = (
        "counts of log10|activation| of non-zero activations (outliers in the end bins)"
    )
    return ds


def store_block_source(
    path: str | os.PathLike,
    kind: str,
    group: str,
    block_size: int,
    in_memory_mb: float = 512,
    scratch_dir: str | os.PathLike | None = None,
) -> BlockSource:
    """Feature blocks (N x b) of one layer of a features/projection store, read lazily.

    How depends on the store's chunks: chunked along features -> blocks aligned to the
    chunks, each chunk read once; chunked by stimulus only (rows written batch by batch) and
    small (<= in_memory_mb) -> the layer is read once and cut in memory; larger -> it is
    transposed once, chunk by chunk, into a scratch file (feature-major, on disk), and the
    blocks are read from there, so memory stays at one chunk or block.
    """
    from brainreps import io

    variable = {"features": "activations", "projection": "components"}[kind]

    def blocks() -> Iterable[np.ndarray]:
        var = io.read_store(path, kind, group=group)[variable]
        n, d = var.shape
        chunks = var.encoding.get("chunks") or (n, d)
        row_chunk, feature_chunk = int(chunks[0]), int(chunks[1])
        if feature_chunk < d:
            step = max(feature_chunk, (block_size // feature_chunk) * feature_chunk)
            for start in range(0, d, step):
                yield var[:, start : start + step].values
        elif n * d * var.dtype.itemsize <= in_memory_mb * 2**20:
            yield from rdm.iter_blocks(var.values, block_size)
        else:
            with tempfile.TemporaryDirectory(dir=scratch_dir, prefix="brainreps-") as tmp:
                fm = np.lib.format.open_memmap(
                    Path(tmp) / f"{group}.npy", mode="w+", dtype=var.dtype, shape=(d, n)
                )
                for start in range(0, n, row_chunk):
                    fm[:, start : start + row_chunk] = var[start : start + row_chunk, :].values.T
                fm.flush()
                for start in range(0, d, block_size):
                    yield fm[start : start + block_size].T
                del fm

    return blocks


def analyze_store(
    path: str | os.PathLike,
    params: SimilarityParams,
    kind: str = "features",
    layers: Sequence[str] | None = None,
) -> xr.Dataset:
    """The similarity Dataset of every layer (or `layers`) of a features/projection store."""
    from brainreps import io

    groups = io.store_groups(path)
    if layers:
        missing = [g for g in layers if g not in groups]
        if missing:
            raise ValueError(f"{path}: no layer(s) {missing}; it has {groups}")
        groups = [g for g in groups if g in layers]
    if not groups:
        raise ValueError(f"{path}: a {kind} store without layer groups")
    first = io.read_store(path, kind, group=groups[0])
    ids = [str(s) for s in first["stimulus"].values]
    for g in groups[1:]:
        other = io.read_store(path, kind, group=g)
        if other.sizes["stimulus"] != len(ids):
            raise ValueError(
                f"{path}: layer {g!r} has {other.sizes['stimulus']} stimuli, "
                f"layer {groups[0]!r} has {len(ids)}"
            )
    sources = {
        g: store_block_source(path, kind, g, params.block_size, params.in_memory_mb) for g in groups
    }
    return analyze_layers(sources, ids, params)


def layer_table(ds: xr.Dataset, **labels: str) -> pd.DataFrame:
    """Tidy per-layer scalars: one row per layer, labelled with e.g. model and stimuli."""
    names = [v for v in ds.data_vars if ds[v].dims == ("layer",)]
    df = ds[names].to_dataframe().reset_index()
    df = df[["layer", "depth", *[c for c in df.columns if c not in ("layer", "depth")]]]
    for i, (key, value) in enumerate(labels.items()):
        df.insert(i, key, value)
    return df


def pair_table(ds: xr.Dataset, **labels: str) -> pd.DataFrame:
    """Tidy layer x layer measures: one row per (layer, layer_b)."""
    df = ds[["pearson", "spearman", "cka"]].to_dataframe().reset_index()
    df = df[[c for c in ["layer", "layer_b", "pearson", "spearman", "cka"]]]
    for i, (key, value) in enumerate(labels.items()):
        df.insert(i, key, value)
    return df
