"""Figures of the spike-inference benchmark: score distributions, example traces, noise curves."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr

PANELS_PER_ROW = 8  # datasets per row of the score figure


def _figure(settings: Mapping[str, Any], width: float, height: float):
    return plt.figure(figsize=(settings.get("width", width), settings.get("height", height)))


def score_distributions(
    scores: pd.DataFrame, settings: Mapping[str, Any] | None = None, title: str = ""
):
    """Per-method distribution (points + median bar) of the Spikefinder `corr`, per dataset."""
    settings = settings or {}
    measure = "corr"
    sub = scores[scores["measure"] == measure].copy()
    if "cv" in sub:  # a supervised method once per cross-validation: "cnn (lodo)"
        sub["method"] = [
            m if cv in ("none", "-") else f"{m} ({cv})"
            for m, cv in zip(sub["method"], sub["cv"], strict=True)
        ]
    datasets = list(dict.fromkeys(sub["dataset"]))
    methods = list(dict.fromkeys(sub["method"]))
    n_cols = min(len(datasets), PANELS_PER_ROW) or 1
    n_rows = max(1, int(np.ceil(len(datasets) / n_cols)))
    panel = max(1.3, 0.35 * len(methods))
    fig = _figure(settings, 1.2 + panel * n_cols, 0.6 + 3.1 * n_rows)
    if not datasets:
        fig.text(0.5, 0.5, "no scores", ha="center")
        return fig
    grid = fig.subplots(n_rows, n_cols, sharey=True, squeeze=False)
    axes = grid.ravel()[: len(datasets)]
    for ax in grid.ravel()[len(datasets) :]:
        ax.set_visible(False)
    rng = np.random.default_rng(0)
    for ax, dataset in zip(axes, datasets, strict=True):
        for j, method in enumerate(methods):
            values = sub[(sub["dataset"] == dataset) & (sub["method"] == method)]["value"]
            values = values.dropna().to_numpy()
            if values.size == 0:
                continue
            ax.scatter(j + rng.uniform(-0.15, 0.15, values.size), values, s=10, alpha=0.6)
            ax.hlines(np.median(values), j - 0.3, j + 0.3, color="k", lw=2)
        ax.set_xticks(range(len(methods)), methods, rotation=60, ha="right", fontsize=7)
        n = int(sub[sub["dataset"] == dataset]["unit"].nunique()) if "unit" in sub else 0
        ax.set_title(f"{dataset}\n{n} traces" if n else dataset, fontsize=8)
        ax.axhline(0, color="0.8", lw=0.8, zorder=0)
    for row in grid:
        row[0].set_ylabel(f"{measure}: Pearson r of 40 ms\nspike counts, per neuron")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def example_traces(
    time: np.ndarray,
    dff: np.ndarray,
    spikes: np.ndarray,
    rates: Mapping[str, np.ndarray],
    units: list[str],
    settings: Mapping[str, Any] | None = None,
    window: float = 30.0,
):
    """Calcium trace, ground-truth spikes and each method's rate for a few units (first `window` s)."""
    settings = settings or {}
    n = dff.shape[0]
    fig = _figure(settings, 9.0, 1.0 + 2.2 * n)
    axes = fig.subplots(n, 1, squeeze=False)[:, 0]
    keep = time <= time[0] + window
    for k, ax in enumerate(axes):
        t = time[keep]
        trace = dff[k, keep]
        lo, hi = np.nanmin(trace), np.nanmax(trace)
        span = hi - lo if np.isfinite(hi - lo) and hi > lo else 1.0
        ax.plot(t, (trace - lo) / span + len(rates) + 1, color="k", lw=0.7, label="dF/F")
        for j, (label, rate) in enumerate(rates.items()):
            r = rate[k, keep]
            top = np.nanmax(r) if np.isfinite(np.nanmax(r)) and np.nanmax(r) > 0 else 1.0
            ax.plot(t, r / top * 0.9 + len(rates) - j, lw=0.7, label=label)
        spike_t = t[np.nan_to_num(spikes[k, keep]) > 0]
        ax.vlines(spike_t, -0.1, 0.8, color="r", lw=0.8, label="spikes")
        ax.set_yticks([])
        ax.set_ylabel(units[k], rotation=0, ha="right")
        if k == 0:
            ax.legend(loc="upper right", fontsize=6, ncol=len(rates) + 2)
    axes[-1].set_xlabel("time (s)")
    fig.tight_layout()
    return fig


def noise_curves(summary: pd.DataFrame, settings: Mapping[str, Any] | None = None, title: str = ""):
    """Mean corr vs SNR per method (clean at the right): with the truth (top, half-score SNR
    marked) and with the method's own clean-trace output (bottom)."""
    settings = settings or {}
    datasets = list(dict.fromkeys(summary["dataset"]))
    fig = _figure(settings, 5.0 * max(1, len(datasets)), 6.4)
    if not datasets:
        fig.text(0.5, 0.5, "no noise sweep", ha="center")
        return fig
    axes = fig.subplots(2, len(datasets), squeeze=False, sharex="col")
    for col, dataset in enumerate(datasets):
        top_ax, bottom_ax = axes[0, col], axes[1, col]
        sub = summary[summary["dataset"] == dataset]
        finite = sub[np.isfinite(sub["snr"])]
        clean_x = finite["snr"].max() * 2 if len(finite) else 1.0
        for method, m in sub.groupby("method", sort=False):
            m = m.sort_values("snr")
            x = np.where(np.isfinite(m["snr"]), m["snr"], clean_x)
            (line,) = top_ax.plot(x, m["corr_truth"], marker="o", ms=3, label=method)
            bottom_ax.plot(x, m["corr_clean"], marker="o", ms=3, color=line.get_color())
            half = m["half_snr"].iloc[0]
            if np.isfinite(half):
                top_ax.axvline(half, color=line.get_color(), ls=":", lw=1)
                top_ax.annotate(
                    f"{half:.2g}",
                    (half, m["clean_corr"].iloc[0] / 2),
                    fontsize=7,
                    color=line.get_color(),
                )
        top_ax.set_title(dataset)
        for ax in (top_ax, bottom_ax):
            ax.set_xscale("log")
        bottom_ax.set_xlabel("SNR (std trace / std noise); rightmost = clean")
    axes[0, 0].set_ylabel("corr with truth")
    axes[1, 0].set_ylabel("corr with own clean output")
    axes[0, 0].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def spike_examples(
    recording: xr.Dataset,
    rates: Mapping[str, xr.Dataset],
    settings: Mapping[str, Any] | None = None,
    title: str = "",
):
    """Example traces of a ground-truth recording with every method's rate (`n_examples` units)."""
    settings = settings or {}
    n = min(int(settings.get("n_examples", 3)), recording.sizes["unit"])
    fig = example_traces(
        recording["timestamps"].values,
        recording["dff"].values[:n],
        recording["spikes"].values[:n],
        {label: group["rate"].values[:n] for label, group in rates.items()},
        [str(u) for u in recording["unit"].values[:n]],
        settings,
    )
    if title:
        fig.suptitle(title)
        fig.tight_layout()
    return fig


def baseline_differences(
    comparison: pd.DataFrame, settings: Mapping[str, Any] | None = None, title: str = ""
):
    """Each method's mean corr minus the baseline's (OASIS) per dataset, one panel per
    cross-validation: a point below 0 is a dataset where the method is worse."""
    settings = settings or {}
    cvs = list(dict.fromkeys(comparison["cv"])) if len(comparison) else []
    datasets = list(dict.fromkeys(comparison["dataset"])) if len(comparison) else []
    fig = _figure(settings, 2.5 + 0.32 * max(1, len(datasets)), 1.0 + 2.8 * max(1, len(cvs)))
    if not cvs:
        fig.text(0.5, 0.5, "no comparison (the baseline did not run)", ha="center")
        return fig
    axes = fig.subplots(len(cvs), 1, squeeze=False, sharex=True)[:, 0]
    x = {d: i for i, d in enumerate(datasets)}
    for ax, cv in zip(axes, cvs, strict=True):
        sub = comparison[comparison["cv"] == cv]
        methods = list(dict.fromkeys(sub["method"]))
        for j, method in enumerate(methods):
            m = sub[sub["method"] == method]
            offset = (j - (len(methods) - 1) / 2) * 0.12
            below = int((m["difference"] < 0).sum())
            ax.plot(
                [x[d] + offset for d in m["dataset"]],
                m["difference"],
                "o",
                ms=4,
                label=f"{method}: below on {below} of {len(m)}",
            )
        ax.axhline(0, color="k", lw=0.8)
        ax.set_ylabel("mean corr minus OASIS's\n(Pearson r, 40 ms bins)")
        ax.set_title(f"cross-validation: {cv}", fontsize=9)
        ax.legend(fontsize=7, loc="best")
    axes[-1].set_xticks(range(len(datasets)), datasets, rotation=60, ha="right", fontsize=7)
    axes[-1].set_xlabel("held-out dataset")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
