"""Figures of the texture analysis: which layer's Gram matrices tell the textures apart.

Each draws from a `textures` store (brainreps.similarity.textures): per layer accuracy of a
nearest-class-mean classifier on the Gram matrices, the best layer's confusion matrix, and the
best layer's class-mean Gram matrices (as cosines) with channels ordered by clustering.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from brainreps.plots.similarity import cluster_order

Settings = Mapping[str, Any]


def _size(settings: Settings, width: float, height: float) -> tuple[float, float]:
    return float(settings.get("width", width)), float(settings.get("height", height))


def _counts(ds: xr.Dataset) -> str:
    a = ds.attrs
    if a["n_train"] != a["n_test"] or "held-out" in a["evaluation"]:
        return f"n = {a['n_train']} train / {a['n_test']} test images"
    return f"n = {a['n_train']} images"


def accuracy_by_layer(ds: xr.Dataset, settings: Settings | None = None, title: str = ""):
    """Accuracy (and k-fold accuracy) of the Gram-matrix classifier per layer, chance marked."""
    settings = settings or {}
    names = [str(v) for v in ds["layer"].values]
    x = np.arange(len(names))
    fig, ax = plt.subplots(
        figsize=_size(settings, max(6.0, 0.32 * len(names) + 2.5), 4.2), constrained_layout=True
    )
    ax.plot(x, ds["accuracy"].values, marker="o", color="C0", label=ds.attrs["evaluation"])
    if not np.allclose(ds["accuracy"].values, ds["cv_accuracy"].values):
        ax.plot(x, ds["cv_accuracy"].values, marker=".", ls=":", color="C1",
                label=ds["cv_accuracy"].attrs.get("description", "k-fold"))  # fmt: skip
    ax.axhline(ds.attrs["chance"], color="0.5", ls="--", lw=0.8, label="chance")
    best = names.index(ds.attrs["best_layer"])
    ax.plot(best, ds["accuracy"].values[best], marker="*", color="k", ms=12, ls="none",
            label=f"best: {names[best]}")  # fmt: skip
    ax.set_xticks(x, names, rotation=70, ha="right", fontsize=7)
    ax.set_xlabel("layer (forward order; channels in the Gram matrix vary)")
    ax.set_ylabel("classification accuracy (fraction of images)")
    ax.set_ylim(0, 1.02)
    classes = ", ".join(str(c) for c in ds["class"].values)
    text = f"classes: {classes}; {_counts(ds)}"
    left_out = json.loads(ds.attrs.get("left_out") or "{}")
    if left_out:
        shapes = ", ".join(f"{k} {'x'.join(map(str, v))}" for k, v in left_out.items())
        text += f"\nleft out (no map, too few positions or too many channels): {shapes}"
    text = "\n".join(textwrap.fill(line, 140) for line in text.splitlines())
    ax.text(0.01, 0.02, text, transform=ax.transAxes, fontsize=6, va="bottom")
    ax.legend(fontsize=7, loc="center right")
    ax.grid(alpha=0.3)
    ax.set_title(title)
    return fig


def confusion_matrix(ds: xr.Dataset, settings: Settings | None = None, title: str = ""):
    """The best layer's confusion matrix (images of each class by predicted class)."""
    settings = settings or {}
    best = ds.attrs["best_layer"]
    counts = ds["confusion"].sel(layer=best).values
    classes = [str(c) for c in ds["class"].values]
    k = len(classes)
    fig, ax = plt.subplots(figsize=_size(settings, 1.0 * k + 2.8, 0.9 * k + 2.0),
                           constrained_layout=True)  # fmt: skip
    im = ax.imshow(counts, cmap=settings.get("cmap", "Blues"), vmin=0)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(int(counts[i, j])), ha="center", va="center", fontsize=8,
                    color="w" if counts[i, j] > counts.max() / 2 else "k")  # fmt: skip
    ax.set_xticks(range(k), classes, rotation=45, ha="right")
    ax.set_yticks(range(k), classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    acc = float(ds["accuracy"].sel(layer=best))
    fig.colorbar(im, ax=ax, shrink=0.8, label="images (count)")
    ax.set_title(f"{title}\n{best}: accuracy {acc:.2f} ({_counts(ds)})", fontsize=8)
    return fig


def gram_matrices(ds: xr.Dataset, settings: Settings | None = None, title: str = ""):
    """The best layer's class-mean Gram matrices as cosines, channels ordered by clustering
    the mean over classes (one order for every panel)."""
    settings = settings or {}
    grams = ds["best_gram"].values
    classes = [str(c) for c in ds["class"].values]
    order = cluster_order(grams.mean(axis=0))
    k = len(classes)
    fig, axes = plt.subplots(1, k, figsize=_size(settings, 3.0 * k + 1.0, 3.5), squeeze=False,
                             constrained_layout=True)  # fmt: skip
    im = None
    for ax, c, g in zip(axes[0], classes, grams, strict=True):
        im = ax.imshow(g[np.ix_(order, order)], vmin=0, vmax=1,
                       cmap=settings.get("cmap", "magma"))  # fmt: skip
        ax.set_title(c)
        ax.set_xlabel(f"channel (clustered, n = {g.shape[0]})")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=axes, shrink=0.8, label="G_cd / sqrt(G_cc G_dd) (cosine)")
    fig.suptitle(f"{title}\nclass-mean Gram matrices of {ds.attrs['best_layer']}")
    return fig


FIGURES = {"accuracy": accuracy_by_layer, "confusion": confusion_matrix, "grams": gram_matrices}
