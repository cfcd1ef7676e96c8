"""Figures of the zoo stage: every model's brain predictivity against task accuracy, depth and
width, and trained against random-init networks (the DeepMouseTrap tutorial's plots).

Each draws from the zoo table (brainreps.zoo: one row per model and dataset); predictivity is
the best layer's median normalised score over all units of the dataset. One panel per
dataset; each panel prints Spearman's rank correlation and n (models with the quantity).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from brainreps.plots.style import rank_correlation

Settings = Mapping[str, Any]
FORMS = {"random": ("o", "C0"), "pretrained": ("s", "C3"), "trained": ("D", "C2")}


def _size(settings: Settings, width: float, height: float) -> tuple[float, float]:
    return float(settings.get("width", width)), float(settings.get("height", height))


def _score_label(table: pd.DataFrame) -> str:
    kinds = set(table["score"])
    if kinds == {"normalized_score"}:
        return "best layer's median r² / noise ceiling"
    return "best layer's median score (" + ", ".join(sorted(kinds)) + ")"


def _panels(table: pd.DataFrame, settings: Settings, width: float = 4.6):
    datasets = list(dict.fromkeys(table["dataset"]))
    fig, axes = plt.subplots(
        1,
        len(datasets),
        figsize=_size(settings, width * len(datasets) + 0.6, 4.2),
        squeeze=False,
        constrained_layout=True,
    )
    return fig, list(zip(axes[0], datasets, strict=True))


def _scatter(ax, sub: pd.DataFrame, x: str, settings: Settings) -> None:
    for form, (marker, color) in FORMS.items():
        s = sub[sub["form"] == form]
        if len(s):
            ax.scatter(s[x], s["best_median_score"], marker=marker, color=color, label=form, s=28)
    max_labels = int(settings.get("max_items", 30))
    if len(sub) <= max_labels:
        for _, row in sub.iterrows():
            if np.isfinite(row[x]) and np.isfinite(row["best_median_score"]):
                ax.annotate(
                    row["model"],
                    (row[x], row["best_median_score"]),
                    fontsize=6,
                    xytext=(3, 2),
                    textcoords="offset points",
                )
    ax.grid(alpha=0.3)


def _statistic(sub: pd.DataFrame, x: str) -> str:
    r, n = rank_correlation(sub[x], sub["best_median_score"])
    return f"Spearman r = {r:.2f}, n = {n}" if np.isfinite(r) else f"n = {n} (too few for r)"


def _predictivity_against(
    table: pd.DataFrame, x: str, xlabel: str, settings: Settings, title: str, log: bool = False
):
    fig, panels = _panels(table, settings)
    for ax, dataset in panels:
        sub = table[table["dataset"] == dataset]
        _scatter(ax, sub, x, settings)
        if log:
            ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(_score_label(table))
        ax.set_title(f"{dataset}: {_statistic(sub, x)}")
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(title)
    return fig


def predictivity_vs_accuracy(table: pd.DataFrame, settings: Settings | None = None, title=""):
    """Predictivity against task top-1 (models without an accuracy are left out of n)."""
    settings = settings or {}
    has = table[np.isfinite(table["accuracy"].astype(float))]
    if has.empty:
        fig, ax = plt.subplots(figsize=_size(settings, 6, 3), constrained_layout=True)
        ax.text(0.5, 0.5, "no model has a task accuracy (n = 0)", ha="center", va="center")
        ax.set_axis_off()
        ax.set_title(title)
        return fig
    where = "; ".join(sorted(set(has["accuracy_on"].astype(str))))
    return _predictivity_against(
        has,
        "accuracy",
        f"task top-1 accuracy (fraction; {where})",
        settings,
        title or "predictivity vs task accuracy",
    )


def predictivity_vs_depth(table: pd.DataFrame, settings: Settings | None = None, title=""):
    """Predictivity against network depth (longest chain of weight layers)."""
    return _predictivity_against(
        table,
        "depth",
        "depth (weight layers on the longest path)",
        settings or {},
        title or "predictivity vs depth",
    )


def predictivity_vs_features(table: pd.DataFrame, settings: Settings | None = None, title=""):
    """Predictivity against the best layer's number of features (log axis)."""
    return _predictivity_against(
        table,
        "best_layer_features",
        "features of the best layer (count, log scale)",
        settings or {},
        title or "predictivity vs features",
        log=True,
    )


def trained_vs_random(table: pd.DataFrame, settings: Settings | None = None, title: str = ""):
    """Each trained model's predictivity beside its random-init twin's (a line per pair)."""
    settings = settings or {}
    twins = table[table["random_twin"].fillna("").astype(str) != ""]
    fig, panels = _panels(table, settings, width=5.2)
    for ax, dataset in panels:
        sub = table[table["dataset"] == dataset].set_index("model")
        pairs = [
            (m, str(row["random_twin"]))
            for m, row in twins[twins["dataset"] == dataset].set_index("model").iterrows()
            if str(row["random_twin"]) in sub.index
        ]
        for i, (trained, random) in enumerate(pairs):
            y = [sub.loc[random, "best_median_score"], sub.loc[trained, "best_median_score"]]
            ax.plot([0, 1], y, marker="o", color=f"C{i % 10}", label=f"{trained} / {random}")
        diffs = [
            sub.loc[t, "best_median_score"] - sub.loc[r, "best_median_score"] for t, r in pairs
        ]
        better = sum(d > 0 for d in diffs)
        ax.set_xticks([0, 1], ["random init", "trained"])
        ax.set_xlim(-0.3, 1.3)
        ax.set_ylabel(_score_label(table))
        ax.set_title(f"{dataset}: trained > random init in {better} of n = {len(pairs)} pairs")
        ax.grid(alpha=0.3)
        if pairs:
            ax.legend(fontsize=6, loc="lower right")
    fig.suptitle(title or "trained vs random-init twins")
    return fig


FIGURES = {
    "predictivity_accuracy": predictivity_vs_accuracy,
    "predictivity_depth": predictivity_vs_depth,
    "predictivity_features": predictivity_vs_features,
    "trained_random": trained_vs_random,
}
