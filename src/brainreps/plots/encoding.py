"""Figures of the encoding stage: score per layer per area, best layer, score distributions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

SCORE_LABELS = {
    "normalized_score": "r² / noise ceiling",
    "r2": "r² (held-out)",
    "r": "Pearson r (held-out)",
}


def plotted_score(ds: xr.Dataset) -> str:
    """normalized_score, or r2 when no unit has a noise ceiling (responses without trials)."""
    if np.isfinite(ds["normalized_score"].values).any():
        return "normalized_score"
    return "r2"


def _areas(ds: xr.Dataset) -> np.ndarray:
    if "area" in ds.coords:
        # (str() per item: areas read back from Zarr may be numpy StringDType)
        return np.array([str(a) for a in ds["area"].values], dtype=object)
    return np.full(ds.sizes["unit"], "all units")


def area_layer_summary(ds: xr.Dataset, score: str | None = None) -> dict[str, np.ndarray]:
    """Per area: median, 25th and 75th percentile of `score` per layer, and unit counts."""
    score = score or plotted_score(ds)
    values = ds[score].transpose("unit", "layer").values
    areas = _areas(ds)
    out = {}
    for area in np.unique(areas):
        v = values[areas == area]
        ok = np.isfinite(v).any(axis=1)
        v = v[ok]
        if v.size == 0:
            continue
        q25, q50, q75 = np.nanpercentile(v, [25, 50, 75], axis=0)
        out[area] = np.stack([q50, q25, q75, np.full_like(q50, v.shape[0])])
    return out


def _layer_ticks(ax, ds: xr.Dataset, settings: Mapping[str, Any]) -> None:
    names = [str(n) for n in ds["layer"].values]
    max_items = int(settings.get("max_items", 30))
    step = max(1, int(np.ceil(len(names) / max_items)))
    ticks = np.arange(0, len(names), step)
    ax.set_xticks(ticks)
    ax.set_xticklabels([names[i] for i in ticks], rotation=60, ha="right", fontsize=7)


def score_per_layer(ds: xr.Dataset, title: str = "", settings: Mapping[str, Any] | None = None):
    """Median score per layer for each area, with the inter-quartile range shaded."""
    settings = settings or {}
    score = plotted_score(ds)
    summary = area_layer_summary(ds, score)
    n_layers = ds.sizes["layer"]
    fig, ax = plt.subplots(
        figsize=(settings.get("width", max(5.0, 0.35 * n_layers + 3)), settings.get("height", 4.0))
    )
    cmap = plt.get_cmap(settings.get("cmap", "tab10"))
    x = np.arange(n_layers)
    for i, (area, (med, q25, q75, n)) in enumerate(summary.items()):
        color = cmap(i % cmap.N)
        ax.plot(x, med, marker="o", ms=3, color=color, label=f"{area} (n={int(n[0])})")
        ax.fill_between(x, q25, q75, color=color, alpha=0.2, lw=0)
    _layer_ticks(ax, ds, settings)
    ax.set_xlabel("layer (forward order)")
    ax.set_ylabel(f"{SCORE_LABELS[score]}: median, IQR shaded")
    ax.axhline(0, color="0.6", lw=0.6)
    ax.legend(fontsize=7, frameon=False)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def best_layer_per_area(ds: xr.Dataset, title: str = "", settings: Mapping[str, Any] | None = None):
    """Fraction of each area's units best predicted by each layer; x marks the best median."""
    settings = settings or {}
    score = plotted_score(ds)
    values = ds[score].transpose("unit", "layer").values
    areas = _areas(ds)
    names = np.unique(areas)
    n_layers = ds.sizes["layer"]
    fractions = np.zeros((len(names), n_layers))
    best_median = np.full(len(names), -1)
    for i, area in enumerate(names):
        v = values[areas == area]
        v = v[np.isfinite(v).any(axis=1)]
        if v.size == 0:
            continue
        best = np.nanargmax(np.where(np.isfinite(v), v, -np.inf), axis=1)
        fractions[i] = np.bincount(best, minlength=n_layers) / len(best)
        best_median[i] = int(np.nanargmax(np.nanmedian(v, axis=0)))
    fig, ax = plt.subplots(
        figsize=(
            settings.get("width", max(5.0, 0.35 * n_layers + 3)),
            settings.get("height", 2.2 + 0.4 * len(names)),
        )
    )
    im = ax.imshow(
        fractions, aspect="auto", cmap=settings.get("cmap", "viridis"), vmin=0, interpolation="none"
    )
    for i, b in enumerate(best_median):
        if b >= 0:
            ax.plot(b, i, "x", color="tab:red", ms=8, mew=2)
    ax.set_yticks(np.arange(len(names)))
    ax.set_yticklabels(names, fontsize=8)
    _layer_ticks(ax, ds, settings)
    ax.set_xlabel("layer (forward order)")
    fig.colorbar(im, ax=ax, label="fraction of units")
    ax.set_title(
        f"{title}\nbest layer per unit ({SCORE_LABELS[score]}); x: best median", fontsize=9
    )
    fig.tight_layout()
    return fig


def score_distribution(ds: xr.Dataset, title: str = "", settings: Mapping[str, Any] | None = None):
    """Histogram per area of each unit's score at its best layer (and at the best median layer)."""
    settings = settings or {}
    score = plotted_score(ds)
    values = ds[score].transpose("unit", "layer").values
    areas = _areas(ds)
    ok = np.isfinite(values).any(axis=1)
    best_unit = np.full(values.shape[0], np.nan)
    best_unit[ok] = np.nanmax(values[ok], axis=1)
    best_layer = int(np.nanargmax(np.nanmedian(values[ok], axis=0))) if ok.any() else 0
    at_layer = values[:, best_layer]
    finite = np.concatenate([best_unit[ok], at_layer[np.isfinite(at_layer)]])
    # units with a tiny noise ceiling can have huge ratios: clip the axis, count them
    lo = min(0.0, float(np.percentile(finite, 1))) if finite.size else 0.0
    hi = float(np.clip(np.percentile(finite, 99), 1.0, 2.0)) if finite.size else 1.0
    bins = np.linspace(lo, hi, 31)
    fig, axes = plt.subplots(
        1, 2, figsize=(settings.get("width", 9.0), settings.get("height", 3.6)), sharey=True
    )
    cmap = plt.get_cmap(settings.get("cmap", "tab10"))
    layer_name = str(ds["layer"].values[best_layer])
    panels = ((best_unit, "each unit's best layer"), (at_layer, f"layer {layer_name}"))
    for ax, (vals, label) in zip(axes, panels, strict=True):
        for i, area in enumerate(np.unique(areas)):
            v = vals[(areas == area) & np.isfinite(vals)]
            if v.size:
                ax.hist(
                    np.clip(v, lo, hi),
                    bins=bins,
                    histtype="step",
                    lw=1.5,
                    color=cmap(i % cmap.N),
                    label=f"{area} (median {np.median(v):.2f})",
                )
        outside = int(((vals < lo) | (vals > hi)).sum())
        note = (
            f"\n{outside} unit(s) outside [{lo:.2f}, {hi:.2f}] in the end bins" if outside else ""
        )
        ax.set_xlabel(f"{SCORE_LABELS[score]} at {label}{note}", fontsize=8)
        ax.legend(fontsize=7, frameon=False)
    axes[0].set_ylabel("units")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


FIGURES = {
    "layers": score_per_layer,
    "best_layer": best_layer_per_area,
    "distribution": score_distribution,
}
