"""Figures of the data stage: a montage of a stimulus set, a recording at a glance."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr


def stimuli_montage(
    stimuli: xr.Dataset, settings: Mapping[str, Any] | None = None, title: str = ""
):
    """A grid of the first stimuli of a set, each titled with its label."""
    settings = settings or {}
    n = min(int(settings.get("max_items", 48)), stimuli.sizes["stimulus"])
    cols = int(np.ceil(np.sqrt(n * 1.5)))
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(settings.get("width", 1.3 * cols), settings.get("height", 1.4 * rows)),
        squeeze=False,
    )
    pixels = stimuli["pixels"].values[:n]
    labels = stimuli["label"].values[:n] if "label" in stimuli.coords else [""] * n
    for ax, image, label in zip(axes.flat, pixels, labels, strict=False):
        ax.imshow(image, cmap=None if image.ndim == 3 else "gray", vmin=0, vmax=255)
        ax.set_title(str(label)[:14], fontsize=6)
    for ax in axes.flat:
        ax.axis("off")
    head = f"{title}: " if title else ""
    fig.suptitle(f"{head}{stimuli.sizes['stimulus']} stimuli (first {n} shown)", fontsize=9)
    return fig


def recording_overview(
    recording: xr.Dataset,
    responses: xr.Dataset,
    settings: Mapping[str, Any] | None = None,
    title: str = "",
):
    """Example dF/F traces (with ground-truth spikes when known) and reliability per area."""
    settings = settings or {}
    reliability = responses["split_half_reliability"].values
    order = np.argsort(-np.nan_to_num(reliability, nan=-np.inf))
    # from the most reliable unit down to the 90th percentile, evenly spaced, no repeats
    spread = np.linspace(0, max(int(len(order) * 0.9), 1) - 1, int(settings.get("n_examples", 6)))
    picks = order[np.unique(spread.astype(int))]
    n_examples = len(picks)
    fig = plt.figure(figsize=(settings.get("width", 11), settings.get("height", 7)))
    grid = fig.add_gridspec(n_examples, 3)
    ts = recording["timestamps"].values
    fr = float(recording.attrs.get("frame_rate", 1.0 / np.median(np.diff(ts))))
    t_stop = ts[0] + min(float(settings.get("seconds", 20.0)), ts[-1] - ts[0])
    span = slice(0, int(np.searchsorted(ts, t_stop)))
    for row, unit in enumerate(picks):
        ax = fig.add_subplot(grid[row, :2])
        ax.plot(ts[span], recording["dff"].values[unit, span], lw=0.6, color="k")
        if "spikes" in recording:
            spikes = recording["spikes"].values[unit, span]
            hit = np.flatnonzero(spikes > 0)
            ax.vlines(
                ts[span][hit],
                0.0,
                0.08,
                color="tab:red",
                lw=0.8,
                transform=ax.get_xaxis_transform(),
            )
        if "trial_start" in recording:
            starts = recording["trial_start"].values
            ends = recording["trial_end"].values if "trial_end" in recording else starts + 0.25
            duration = float(np.median(ends - starts))
            for s in starts[(starts >= ts[0]) & (starts < t_stop)]:
                ax.axvspan(s, s + duration, color="tab:blue", alpha=0.15, lw=0)
        ax.set_ylabel(f"{recording['unit'].values[unit]}\nr={reliability[unit]:.2f}", fontsize=7)
        ax.tick_params(labelsize=6)
        if row < n_examples - 1:
            ax.set_xticklabels([])
    ax.set_xlabel("time (s); red ticks: ground-truth spikes, blue: stimulus on")
    ax = fig.add_subplot(grid[:, 2])
    areas = (
        responses["area"].values
        if "area" in responses.coords
        else np.array(["all"] * len(reliability))
    )
    for area in np.unique(areas):
        vals = reliability[(areas == area) & np.isfinite(reliability)]
        ax.hist(vals, bins=np.linspace(-0.2, 1, 25), alpha=0.6, label=f"{area} (n={vals.size})")
    ax.set_xlabel("split-half reliability (Spearman-Brown)")
    ax.set_ylabel("units")
    ax.legend(fontsize=7)
    head = f"{title}: " if title else ""
    fig.suptitle(f"{head}dF/F at {fr:.1f} Hz and trial-response reliability", fontsize=10)
    fig.tight_layout()
    return fig
