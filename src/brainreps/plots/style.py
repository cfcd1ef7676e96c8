"""The figure style and the one way a figure is written: atomically, at the configured dpi."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from scipy import stats

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from brainreps.config import fill_defaults  # noqa: E402
from brainreps.io import atomic_path  # noqa: E402

STYLE_FILE = Path(__file__).with_name("brainreps.mplstyle")
plt.style.use(STYLE_FILE)

Settings = Mapping[str, Any]


def figure_settings(settings: Settings | None, where: str = "figures") -> dict[str, Any]:
    """A figure's config entry (figures.<name>) with the schema's defaults filled in."""
    return fill_defaults("figures#figure", settings or {}, where)


def save_figure(fig, path: str | os.PathLike, settings: Settings | None = None) -> None:
    """Write a figure as PNG atomically at the configured dpi, then close it."""
    dpi = figure_settings({k: v for k, v in (settings or {}).items() if k == "dpi"})["dpi"]
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)


def rank_correlation(x, y) -> tuple[float, int]:
    """Spearman r of two series over their finite pairs, and the number of pairs (printed on
    the figures that relate two quantities)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return float("nan"), int(ok.sum())
    return float(stats.spearmanr(x[ok], y[ok])[0]), int(ok.sum())
