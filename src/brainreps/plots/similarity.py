"""Figures of the similarity stage: layer x layer matrices, ordered RDMs, RSA, depth profiles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from scipy.cluster.hierarchy import leaves_list, linkage
from scipy.spatial.distance import squareform

Settings = Mapping[str, Any]


def _size(settings: Settings, width: float, height: float) -> tuple[float, float]:
    return float(settings.get("width", width)), float(settings.get("height", height))


def _layer_names(ds: xr.Dataset) -> list[str]:
    return [str(v) for v in ds["layer"].values]


def _ticks(ax, names: Sequence[str], settings: Settings, axis: str = "both") -> None:
    max_items = int(settings.get("max_items", 30))
    step = max(1, int(np.ceil(len(names) / max_items)))
    idx = np.arange(0, len(names), step)
    labels = [names[i] for i in idx]
    if axis in ("x", "both"):
        ax.set_xticks(idx)
        ax.set_xticklabels(labels, rotation=70, ha="right", fontsize=7)
    if axis in ("y", "both"):
        ax.set_yticks(idx)
        ax.set_yticklabels(labels, fontsize=7)


def layer_matrices(ds: xr.Dataset, settings: Settings | None = None, title: str = ""):
    """Layer x layer Pearson and Spearman second-order similarity and linear CKA."""
    settings = settings or {}
    names = _layer_names(ds)
    fig, axes = plt.subplots(1, 3, figsize=_size(settings, 15, 5), constrained_layout=True)
    labels = {
        "pearson": "RDM correlation (Pearson)",
        "spearman": "RDM correlation (Spearman)",
        "cka": "linear CKA",
    }
    for ax, (key, label) in zip(axes, labels.items(), strict=True):
        im = ax.imshow(
            ds[key].values,
            vmin=0 if key == "cka" else -1,
            vmax=1,
            cmap=settings.get("cmap", "viridis"),
            interpolation="nearest",
        )
        ax.set_title(label)
        _ticks(ax, names, settings)
        fig.colorbar(im, ax=ax, shrink=0.8)
    if title:
        fig.suptitle(title)
    return fig


def cluster_order(correlation: np.ndarray) -> np.ndarray:
    """Leaf order of an average-linkage clustering on 1 - r (NaN treated as r = 0)."""
    r = np.nan_to_num(np.asarray(correlation, dtype=np.float64), nan=0.0)
    d = np.clip(1.0 - r, 0.0, 2.0)
    d = (d + d.T) / 2
    np.fill_diagonal(d, 0.0)
    return leaves_list(linkage(squareform(d, checks=False), method="average"))


def default_plot_layers(names: Sequence[str], n_middle: int = 3) -> list[str]:
    """The input, `n_middle` evenly spaced inner layers and the output."""
    if len(names) <= n_middle + 2:
        return list(names)
    idx = np.linspace(0, len(names) - 1, n_middle + 2).round().astype(int)
    return [names[i] for i in dict.fromkeys(idx)]


def stimulus_matrices(ds: xr.Dataset, settings: Settings | None = None, title: str = ""):
    """RDMs (r) of selected layers, ordered by clustering the input's (top) and output's (bottom).

    The layers are `settings['plot_layers']` (the config's similarity.plot_layers), or by
    default the input, three evenly spaced inner layers and the output.
    """
    settings = settings or {}
    names = _layer_names(ds)
    layers = list(settings.get("plot_layers") or []) or default_plot_layers(names)
    missing = [name for name in layers if name not in names]
    if missing:
        raise ValueError(f"plot_layers {missing} are not layers of this store; it has {names}")
    orders = {
        f"ordered by input ({names[0]})": cluster_order(ds["correlation"].isel(layer=0).values),
        f"ordered by output ({names[-1]})": cluster_order(ds["correlation"].isel(layer=-1).values),
    }
    n = len(layers)
    fig, axes = plt.subplots(
        2, n, figsize=_size(settings, 2.6 * n + 1, 5.6), squeeze=False, constrained_layout=True
    )
    im = None
    for row, (label, order) in enumerate(orders.items()):
        for col, name in enumerate(layers):
            ax = axes[row, col]
            m = ds["correlation"].sel(layer=name).values[np.ix_(order, order)]
            im = ax.imshow(
                m, vmin=-1, vmax=1, cmap=settings.get("cmap", "RdBu_r"), interpolation="nearest"
            )
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(name, fontsize=9)
            if col == 0:
                ax.set_ylabel(label, fontsize=8)
    fig.colorbar(im, ax=axes, shrink=0.6, label="Pearson r")
    if title:
        fig.suptitle(title)
    return fig


def rsa_matrix(rsa: xr.Dataset, settings: Settings | None = None, title: str = ""):
    """Layer x unit-group Spearman RSA, with each group's noise ceiling in its label."""
    settings = settings or {}
    names = _layer_names(rsa)
    groups = [str(g) for g in rsa["group"].values]
    ceiling = rsa["noise_ceiling"].values
    labels = [
        _group_label(g, n, c)
        for g, n, c in zip(groups, rsa["n_units"].values, ceiling, strict=True)
    ]
    values = rsa["rsa"].transpose("layer", "group").values
    lim = max(float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0, 1e-3)
    fig, ax = plt.subplots(
        figsize=_size(settings, 3.5 + min(0.75 * len(groups), 11.0), 3.0 + 0.35 * len(names)),
        constrained_layout=True,
    )
    im = ax.imshow(
        values,
        vmin=-lim,
        vmax=lim,
        cmap=settings.get("cmap", "RdBu_r"),
        aspect="auto",
        interpolation="nearest",
    )
    ax.set_xticks(np.arange(len(groups)))
    ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=7)
    _ticks(ax, names, settings, axis="y")
    best = np.nanargmax(np.where(np.isfinite(values), values, -np.inf), axis=0)
    for j, i in enumerate(best):
        if np.isfinite(values[i, j]):
            ax.plot(j, i, marker="*", color="k", markersize=7)
    n = rsa.sizes["stimulus"]
    ax.set_xlabel(f"neural RDM (noise ceiling); n = {n} stimuli, {n * (n - 1) // 2} stimulus pairs")
    ax.set_ylabel("layer")
    fig.colorbar(im, ax=ax, label="Spearman r (model RDM, neural RDM)")
    ax.set_title(title or "RSA: layer x unit group (* best layer)")
    return fig


def _group_label(group: str, n_units: int, ceiling: float) -> str:
    """A neural RDM's tick label: its name, units behind it (when known) and noise ceiling."""
    parts = [f"n={int(n_units)}"] if int(n_units) >= 0 else []
    if np.isfinite(ceiling):
        parts.append(f"ceil {ceiling:.2f}")
    return f"{group}\n({', '.join(parts)})" if parts else group


def neural_rdm_matrices(rdms: xr.Dataset, settings: Settings | None = None, title: str = ""):
    """The neural matrices of an RDM dataset (up to max_items), one panel each, in the
    stimulus set's order, with each matrix's noise ceiling."""
    settings = settings or {}
    groups = [str(g) for g in rdms["group"].values]
    shown = groups[: int(settings.get("max_items", 24))]
    n_cols = min(len(shown), 7)
    n_rows = int(np.ceil(len(shown) / n_cols))
    fig, axes = plt.subplots(
        n_rows,
        n_cols,
        figsize=_size(settings, 1.9 * n_cols + 1, 2.0 * n_rows + 0.8),
        squeeze=False,
        constrained_layout=True,
    )
    kind = str(rdms.attrs.get("kind", "similarity"))
    values = rdms["rdm"].values
    off = ~np.eye(values.shape[1], dtype=bool)
    lo, hi = np.percentile(values[:, off], [1, 99])
    im = None
    for ax, name in zip(axes.ravel(), shown, strict=False):
        m = rdms["rdm"].sel(group=name).values
        im = ax.imshow(m, vmin=lo, vmax=hi, cmap=settings.get("cmap", "RdBu_r"))
        c = float(rdms["noise_ceiling"].sel(group=name))
        ax.set_title(f"{name}" + (f"\nceil {c:.2f}" if np.isfinite(c) else ""), fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.ravel()[len(shown) :]:
        ax.axis("off")
    label = "similarity (as given)" if kind == "similarity" else "dissimilarity (as given)"
    fig.colorbar(im, ax=axes, shrink=0.6, label=label)
    n = rdms.sizes["stimulus"]
    more = f"; {len(groups) - len(shown)} more not shown" if len(groups) > len(shown) else ""
    fig.suptitle(
        (title or "neural RDMs") + f"\n{len(groups)} matrices of n = {n} stimuli "
        f"(rows in stimulus-set order{more})"
    )
    return fig


def sparseness_vs_depth(ds: xr.Dataset, settings: Settings | None = None, title: str = ""):
    """Fraction non-zero, population/lifetime sparseness and decorrelation against depth."""
    settings = settings or {}
    names = _layer_names(ds)
    x = np.arange(len(names))
    fig, axes = plt.subplots(1, 2, figsize=_size(settings, 12, 4.2), constrained_layout=True)
    for key, label in [
        ("fraction_nonzero", "fraction non-zero"),
        ("population_sparseness", "population sparseness (Treves-Rolls)"),
        ("lifetime_sparseness", "lifetime sparseness (Treves-Rolls)"),
    ]:
        axes[0].plot(x, ds[key].values, marker="o", label=label)
    axes[0].set_ylim(-0.02, 1.02)
    axes[0].set_ylabel("sparseness / fraction")
    axes[0].legend(fontsize=8)
    axes[1].plot(x, ds["decorrelation"].values, marker="o", color="C3")
    axes[1].set_ylabel("mean off-diagonal r of the RDM")
    axes[1].set_title("decorrelation (lower = more decorrelated)", fontsize=9)
    for ax in axes:
        _ticks(ax, names, settings, axis="x")
        ax.set_xlabel("layer (forward order)")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return fig


def dimension_vs_depth(ds: xr.Dataset, settings: Settings | None = None, title: str = ""):
    """TwoNN intrinsic dimension (bootstrap interval) and linear dimension against depth."""
    settings = settings or {}
    names = _layer_names(ds)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=_size(settings, 8, 4.2), constrained_layout=True)
    ax.plot(x, ds["twonn"].values, marker="o", color="C0", label="TwoNN intrinsic dimension")
    ax.fill_between(
        x,
        ds["twonn_low"].values,
        ds["twonn_high"].values,
        color="C0",
        alpha=0.25,
        label="bootstrap interval",
    )
    ax.set_ylabel("intrinsic dimension (TwoNN)", color="C0")
    ax2 = ax.twinx()
    desc = ds["linear_dimension"].attrs.get("description", "linear dimension")
    ax2.plot(x, ds["linear_dimension"].values, marker="s", color="C1", label=desc)
    ax2.set_ylabel(f"linear dimension ({desc})", color="C1")
    _ticks(ax, names, settings, axis="x")
    ax.set_xlabel("layer (forward order)")
    ax.grid(alpha=0.3)
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=8, loc="best")
    if title:
        ax.set_title(title)
    return fig


def activation_histograms(ds: xr.Dataset, settings: Settings | None = None, title: str = ""):
    """Per layer, the distribution of log10 |activation| of non-zero values, zero share stated."""
    settings = settings or {}
    names = _layer_names(ds)
    max_items = int(settings.get("max_items", 12))
    idx = np.unique(np.linspace(0, len(names) - 1, min(max_items, len(names))).round().astype(int))
    centers = (ds["log10_low"].values + ds["log10_high"].values) / 2
    width = ds["log10_high"].values - ds["log10_low"].values
    cmap = plt.get_cmap(settings.get("cmap", "viridis"))
    fig, ax = plt.subplots(figsize=_size(settings, 8, 4.5), constrained_layout=True)
    for k, i in enumerate(idx):
        counts = ds["histogram"].isel(layer=i).values.astype(float)
        total = counts.sum() / max(1e-300, 1 - float(ds["zero_fraction"].values[i]))
        density = counts / max(total, 1.0) / width  # share of ALL activations per log10 unit
        density[counts == 0] = np.nan  # no line down to log(0)
        zero = float(ds["zero_fraction"].values[i])
        ax.plot(
            centers,
            density,
            color=cmap(k / max(1, len(idx) - 1)),
            label=f"{names[i]} (zero: {zero:.0%})",
        )
    ax.set_yscale("log")
    ax.set_xlabel("log10 |activation| (non-zero activations)")
    ax.set_ylabel("share of activations per log10 unit")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    return fig


def sparseness_decorrelation(ds: xr.Dataset, settings: Settings | None = None, title: str = ""):
    """Population sparseness (red) and decorrelation (blue) against depth, on one plot: the
    layer-wise decorrelation post's two curves."""
    settings = settings or {}
    names = _layer_names(ds)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=_size(settings, max(6.5, 0.3 * len(names) + 3), 4.2),
                           constrained_layout=True)  # fmt: skip
    ax.plot(x, ds["population_sparseness"].values, marker="o", color="tab:red",
            label="population sparseness (Treves-Rolls; 1 = one unit active)")  # fmt: skip
    ax.set_ylabel("population sparseness", color="tab:red")
    ax.set_ylim(-0.02, 1.02)
    ax2 = ax.twinx()
    ax2.plot(x, ds["decorrelation"].values, marker="s", color="tab:blue",
             label="mean stimulus x stimulus r (lower = more decorrelated)")  # fmt: skip
    ax2.set_ylabel("mean off-diagonal Pearson r of the RDM", color="tab:blue")
    ax2.set_ylim(min(-0.02, float(np.nanmin(ds["decorrelation"].values)) - 0.02), 1.02)
    _ticks(ax, names, settings, axis="x")
    ax.set_xlabel(f"layer (forward order; n = {ds.sizes['stimulus']} stimuli)")
    ax.grid(alpha=0.3)
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=7, loc="upper left")
    ax.set_title(title)
    return fig


def branch_order(names: Sequence[str], modules: Sequence[str]) -> tuple[list[str], dict]:
    """Layers with each branched module's output moved after its branches, and per module the
    (first, last) index of its block: its input (the layer before), branches, output."""
    order = list(names)
    blocks = {}
    for module in modules:
        branches = [n for n in order if n.startswith(module + ".")]
        if module not in order or not branches:
            continue
        order.remove(module)
        last = max(order.index(b) for b in branches)
        order.insert(last + 1, module)
        first = order.index(branches[0])
        blocks[module] = (max(first - 1, 0), last + 1)
    return order, blocks


def branch_matrices(ds: xr.Dataset, settings: Settings | None = None, title: str = ""):
    """Layer x layer RDM correlation and CKA with inception branches as layers of their own,
    each module's block (input, branches, output) framed; the implementation's deviations
    from its paper printed below (settings: `branches`, the modules; `note`)."""
    from matplotlib.patches import Rectangle

    settings = settings or {}
    names = _layer_names(ds)
    order, blocks = branch_order(names, settings.get("branches") or [])
    fig, axes = plt.subplots(1, 2, figsize=_size(settings, 13, 6.4), constrained_layout=True)
    for ax, (key, label, vmin) in zip(
        axes,
        [("pearson", "RDM correlation (Pearson)", -1), ("cka", "linear CKA", 0)],
        strict=True,
    ):
        m = ds[key].sel(layer=order, layer_b=order).values
        im = ax.imshow(m, vmin=vmin, vmax=1, cmap=settings.get("cmap", "viridis"))
        for module, (a, b) in blocks.items():
            ax.add_patch(Rectangle((a - 0.5, a - 0.5), b - a + 1, b - a + 1, fill=False,
                                   edgecolor="w", lw=1.6))  # fmt: skip
            ax.text(b + 0.6, a - 0.6, module, color="k", fontsize=7, va="bottom")
        ax.set_xticks(range(len(order)), order, rotation=80, fontsize=6)
        ax.set_yticks(range(len(order)), order, fontsize=6)
        ax.set_title(label)
        fig.colorbar(im, ax=ax, shrink=0.7)
    note = settings.get("note") or ""
    n = ds.sizes["stimulus"]
    fig.suptitle(f"{title} (n = {n} stimuli; framed: module input, branches, output)")
    if note:
        fig.text(0.5, -0.01, note, ha="center", va="top", fontsize=7, wrap=True)
    return fig
