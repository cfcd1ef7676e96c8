"""Calcium to cortex: per area, noise ceiling and best-layer predictivity from each signal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

SIGNAL_NAMES = {"dff": "dF/F", "spikes:truth": "true spikes"}
PANELS = (
    ("noise_ceiling", "noise ceiling (split-half reliability)", "noise ceiling"),
    ("r2", "held-out r² at the best layer", "best-layer r²"),
    ("normalized_score", "r² / noise ceiling at the best layer", "best-layer r² / ceiling"),
)


def signal_label(signal: str) -> str:
    """dF/F, true spikes, or 'inferred (<label>)'."""
    if signal in SIGNAL_NAMES:
        return SIGNAL_NAMES[signal]
    return f"inferred ({signal.split(':', 1)[1]})" if signal.startswith("spikes:") else signal


def signal_comparison(
    summary: pd.DataFrame, settings: Mapping[str, Any] | None = None, title: str = ""
):
    """Grouped bars per area (median over units, inter-quartile range as error bars): the noise
    ceiling, the best layer's r² and its r² / noise ceiling, one bar per signal."""
    settings = settings or {}
    signals = list(dict.fromkeys(summary["signal"]))
    areas = list(dict.fromkeys(summary["area"]))
    width = 0.8 / max(1, len(signals))
    x = np.arange(len(areas))
    size = (float(settings.get("width", 4.2 * len(PANELS))), float(settings.get("height", 4.2)))
    fig, axes = plt.subplots(1, len(PANELS), figsize=size, layout="constrained")
    cmap = plt.get_cmap(settings.get("cmap", "tab10"))
    for ax, (column, ylabel, panel) in zip(axes, PANELS, strict=True):
        q25 = column.replace("normalized_score", "normalized") + "_q25"
        q75 = column.replace("normalized_score", "normalized") + "_q75"
        for k, signal in enumerate(signals):
            rows = summary[summary["signal"] == signal].set_index("area").reindex(areas)
            mid = rows[column].to_numpy(float)
            err = np.abs(
                np.stack([mid - rows[q25].to_numpy(float), rows[q75].to_numpy(float) - mid])
            )
            ax.bar(
                x + (k - (len(signals) - 1) / 2) * width,
                mid,
                width,
                yerr=np.nan_to_num(err),
                capsize=2,
                color=cmap(k),
                label=signal_label(signal),
            )
            if column == "r2":
                for xi, (m, layer) in enumerate(zip(mid, rows["best_layer"], strict=True)):
                    if np.isfinite(m):
                        ax.text(
                            x[xi] + (k - (len(signals) - 1) / 2) * width,
                            0.005,
                            str(layer),
                            rotation=90,
                            ha="center",
                            va="bottom",
                            fontsize=6,
                            color="white",
                        )
        counts = summary.drop_duplicates("area").set_index("area").reindex(areas)["n_units"]
        ax.set_xticks(x)
        ax.set_xticklabels([f"{a}\n(n={int(n)} units)" for a, n in counts.items()], fontsize=8)
        ax.set_xlabel("area")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{panel} (median, IQR)")
        ax.set_ylim(bottom=0)
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, title="responses from", loc="outside right center")
    fig.suptitle(title or "noise ceiling and predictivity per area, by signal")
    return fig
