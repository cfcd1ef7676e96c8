"""Figures of the training stage: accuracy over epochs and the learning dynamics of each run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from brainreps.plots.style import rank_correlation

Settings = Mapping[str, Any]


def _size(settings: Settings, width: float, height: float) -> tuple[float, float]:
    return float(settings.get("width", width)), float(settings.get("height", height))


def _run(table: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    run = settings["run"]
    sub = table[table["run"] == run]
    if sub.empty:
        raise ValueError(f"no rows of training run {run!r}; runs: {sorted(set(table['run']))}")
    return sub


def accuracy_curves(accuracy: pd.DataFrame, settings: Settings | None = None, title: str = ""):
    """Held-out and training-set top-1 of every run against epoch, with chance marked."""
    settings = settings or {}
    acc = accuracy.dropna(subset=["run"])
    fig, ax = plt.subplots(figsize=_size(settings, 6.5, 4.0), constrained_layout=True)
    for i, (run, sub) in enumerate(acc.groupby("run", sort=False)):
        color = f"C{i % 10}"
        labels = sub["labels"].iloc[0]
        for split, style in (("test", "-"), ("train", ":")):
            s = sub[sub["split"] == split].sort_values("epoch")
            name = "held-out" if split == "test" else "training set (its labels)"
            ax.plot(s["epoch"], s["top1"], style, marker="o", ms=3, color=color,
                    label=f"{run} ({labels} labels), {name}")  # fmt: skip
    n_classes = settings.get("n_classes")
    if n_classes:
        ax.axhline(1 / n_classes, color="0.5", lw=0.8, ls="--", label=f"chance (1/{n_classes})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("top-1 accuracy (fraction of images)")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7)
    ax.set_title(title)
    return fig


def checkpoint_matrices(pairs: pd.DataFrame, settings: Settings | None = None, title: str = ""):
    """The layer x layer RDM correlation (Pearson) at each checkpoint of a run, side by side."""
    settings = settings or {}
    sub = _run(pairs, settings)
    epochs = sorted(set(sub["epoch"]))
    layers = list(dict.fromkeys(sub["layer"]))
    fig, axes = plt.subplots(
        1, len(epochs), figsize=_size(settings, 2.6 * len(epochs) + 1.2, 3.4), squeeze=False,
        constrained_layout=True,
    )  # fmt: skip
    im = None
    for ax, epoch in zip(axes[0], epochs, strict=True):
        e = sub[sub["epoch"] == epoch]
        m = e.pivot(index="layer", columns="layer_b", values="pearson").loc[layers, layers]
        im = ax.imshow(m.values, vmin=-1, vmax=1, cmap=settings.get("cmap", "RdBu_r"))
        ax.set_title(f"epoch {epoch}")
        ax.set_xticks(range(len(layers)), layers, rotation=70, fontsize=6)
        ax.set_yticks(range(len(layers)), layers if ax is axes[0, 0] else [], fontsize=6)
    fig.colorbar(im, ax=axes, shrink=0.8, label="Pearson r between the layers' RDMs")
    fig.suptitle(title or f"{settings['run']}: layer x layer RDM correlation over training")
    return fig


def sparseness_vs_epoch(layers: pd.DataFrame, settings: Settings | None = None, title: str = ""):
    """Per layer, decorrelation and population sparseness against epoch (one line per layer)."""
    settings = settings or {}
    sub = _run(layers, settings)
    names = list(dict.fromkeys(sub["layer"]))
    cmap = plt.get_cmap(settings.get("cmap", "viridis"))
    fig, axes = plt.subplots(1, 2, figsize=_size(settings, 11, 4.0), constrained_layout=True)
    panels = (
        ("decorrelation", "decorrelation: mean off-diagonal r of the RDM"),
        ("population_sparseness", "population sparseness (Treves-Rolls)"),
    )
    for ax, (key, label) in zip(axes, panels, strict=True):
        for i, name in enumerate(names):
            s = sub[sub["layer"] == name].sort_values("epoch")
            ax.plot(s["epoch"], s[key], marker="o", ms=3, color=cmap(i / max(len(names) - 1, 1)),
                    label=name)  # fmt: skip
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, title="layer", ncol=2)
    fig.suptitle(title or f"{settings['run']}: decorrelation and sparseness over training")
    return fig


def dimension_vs_depth(layers: pd.DataFrame, settings: Settings | None = None, title: str = ""):
    """TwoNN intrinsic dimension against relative depth: each run's last checkpoint, and the
    untrained network (epoch 0) of each run trained on its labels."""
    settings = settings or {}
    fig, ax = plt.subplots(figsize=_size(settings, 7.5, 4.4), constrained_layout=True)
    for i, (run, sub) in enumerate(layers.groupby("run", sort=False)):
        color = f"C{i % 10}"
        last = sub["epoch"].max()
        kind = sub["labels"].iloc[0]
        curves = [(last, "-", f"{run}, epoch {last} ({kind} labels)")]
        if kind == "given":
            curves.append((0, "--", f"{run}, epoch 0 (untrained)"))
        for epoch, style, label in curves:
            s = sub[sub["epoch"] == epoch].sort_values("relative_depth")
            ax.plot(s["relative_depth"], s["twonn"], style, marker="o", ms=3, color=color,
                    label=label)  # fmt: skip
            ax.fill_between(s["relative_depth"], s["twonn_low"], s["twonn_high"], color=color,
                            alpha=0.12, lw=0)  # fmt: skip
    ax.set_xlabel("relative depth (0 = input pixels, 1 = output)")
    ax.set_ylabel("intrinsic dimension (TwoNN, bootstrap interval)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    ax.set_title(title or "intrinsic dimension across layers")
    return fig


def dimension_vs_accuracy(layers: pd.DataFrame, settings: Settings | None = None, title: str = ""):
    """The last hidden layer's TwoNN dimension against held-out top-1, every checkpoint of
    every run (Ansuini et al. 2019)."""
    settings = settings or {}
    last = layers[layers["last_hidden"]]
    fig, ax = plt.subplots(figsize=_size(settings, 6.0, 4.2), constrained_layout=True)
    for i, (run, sub) in enumerate(last.groupby("run", sort=False)):
        ax.scatter(sub["test_top1"], sub["twonn"], color=f"C{i % 10}", label=run, s=22)
        for _, row in sub.iterrows():
            ax.annotate(f"e{int(row['epoch'])}", (row["test_top1"], row["twonn"]), fontsize=6)
    r, n = rank_correlation(last["test_top1"], last["twonn"])
    ax.text(0.02, 0.97, f"Spearman r = {r:.2f}, n = {n} checkpoints", transform=ax.transAxes,
            va="top", fontsize=8)  # fmt: skip
    layer = ", ".join(sorted(set(last["layer"])))
    ax.set_xlabel("held-out top-1 accuracy (fraction)")
    ax.set_ylabel(f"TwoNN dimension of the last hidden layer ({layer})")
    ax.legend(fontsize=7)
    ax.set_title(title or "last hidden layer dimension vs accuracy")
    return fig


def predictivity_vs_training(
    predictivity: pd.DataFrame, settings: Settings | None = None, title: str = ""
):
    """The best layer's median neural predictivity per area, against epoch and against
    held-out accuracy (one dataset)."""
    settings = settings or {}
    sub = predictivity[predictivity["dataset"] == settings["dataset"]]
    score = sub["score"].iloc[0] if len(sub) else "normalized_score"
    label = "r² / noise ceiling" if score == "normalized_score" else "r² (held-out)"
    fig, axes = plt.subplots(1, 2, figsize=_size(settings, 11, 4.0), constrained_layout=True)
    for i, ((run, area), s) in enumerate(sub.groupby(["run", "area"], sort=False)):
        s = s.sort_values("epoch")
        kw = {"marker": "o", "ms": 3, "color": f"C{i % 10}", "label": f"{run}, {area}"}
        axes[0].plot(s["epoch"], s["best_median_score"], **kw)
        axes[1].plot(s["test_top1"], s["best_median_score"], **kw)
    r, n = rank_correlation(sub["test_top1"], sub["best_median_score"])
    axes[1].text(0.02, 0.97, f"Spearman r = {r:.2f}, n = {n}", transform=axes[1].transAxes,
                 va="top", fontsize=8)  # fmt: skip
    axes[0].set_xlabel("epoch")
    axes[1].set_xlabel("held-out top-1 accuracy (fraction)")
    for ax in axes:
        ax.set_ylabel(f"best layer's median {label}")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(title or f"neural predictivity over training: {settings['dataset']}")
    return fig


ARM_COLORS = {
    "baseline": "C0",
    "regularised": "C3",
    "control": "C2",
    "plain": "C7",
    "shuffled labels": "C5",
}


def _last_epoch(table: pd.DataFrame) -> pd.DataFrame:
    last = table.groupby("run")["epoch"].transform("max")
    return table[table["epoch"] == last]


def robustness_curves(robustness: pd.DataFrame, settings: Settings | None = None, title: str = ""):
    """Held-out top-1 of each run's last checkpoint under pixel noise (left) and FGSM (right),
    coloured by arm (baseline, regularised, control); mean and range where an arm has seeds."""
    settings = settings or {}
    arms = settings.get("arms", {})
    last = _last_epoch(robustness)
    fig, axes = plt.subplots(1, 2, figsize=_size(settings, 11, 4.2), constrained_layout=True)
    for ax, kind, label in (
        (axes[0], "noise", "std of additive Gaussian pixel noise (pixels in [0, 1])"),
        (axes[1], "fgsm", "FGSM budget eps (L-infinity, pixels in [0, 1])"),
    ):
        sub = last[last["perturbation"].isin(["clean", kind])]
        sub = sub.assign(arm=sub["run"].map(lambda r: arms.get(r, r)))
        for arm, a in sub.groupby("arm", sort=False):
            curve = a.groupby("strength")["top1"].agg(["mean", "min", "max", "count"])
            n = a["run"].nunique()
            color = ARM_COLORS.get(arm)
            ax.plot(curve.index, curve["mean"], marker="o", ms=3, color=color,
                    label=f"{arm} (n={n} run{'s' if n > 1 else ''})")  # fmt: skip
            if n > 1:
                ax.fill_between(curve.index, curve["min"], curve["max"], color=color, alpha=0.2)
        ax.set_xlabel(label)
        ax.set_ylabel("held-out top-1 accuracy (fraction)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(title or "robustness of each run's last checkpoint")
    return fig


def target_rsa(robustness: pd.DataFrame, settings: Settings | None = None, title: str = ""):
    """The regularised layers' held-out RSA with the neural similarity, against epoch, for
    every brain-guided run (epoch 0 = before training)."""
    settings = settings or {}
    arms = settings.get("arms", {})
    clean = robustness[(robustness["perturbation"] == "clean") & robustness["rsa"].notna()]
    fig, ax = plt.subplots(figsize=_size(settings, 6.5, 4.0), constrained_layout=True)
    for run, sub in clean.groupby("run", sort=False):
        sub = sub.sort_values("epoch")
        arm = arms.get(run, run)
        ax.plot(sub["epoch"], sub["rsa"], marker="o", ms=3, color=ARM_COLORS.get(arm),
                label=f"{run} ({arm})")  # fmt: skip
    ax.axhline(0, color="0.6", lw=0.7)
    ax.set_xlabel("epoch (0 = before training)")
    ax.set_ylabel("Spearman RSA, layer vs neural similarity\n(held-out images)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    ax.set_title(title or "RSA of the regularised layers with the neural similarity")
    return fig
