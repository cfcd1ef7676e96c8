"""Learning dynamics: the similarity and encoding tables of every checkpoint, side by side.

Per checkpoint (a model `{run}_e{epoch}`) the similarity stage's per-layer table (sparseness,
decorrelation, TwoNN and linear dimension) and layer-pair table (RDM correlations), and the
encoding stage's per-unit scores, joined with the run's accuracy. The analyses they answer:
- decorrelation and sparseness of each layer over learning (the layer-wise decorrelation post);
- intrinsic dimension against relative depth in trained, untrained (epoch 0) and
  shuffled-label networks, and the last hidden layer's dimension against test accuracy
  (Ansuini et al. 2019: a rise-then-fall profile in trained networks, and a last-layer ID
  that falls as accuracy rises);
- the best layer's neural predictivity against epoch and against accuracy (the DeepMouseTrap
  tutorial's first result: predictivity grows with task accuracy).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

# Groups of the features store that are not hidden layers of the network
NOT_HIDDEN = ("pixels", "output")


def relative_depth(layers: pd.Series) -> pd.Series:
    """Position of each layer in forward order scaled to [0, 1] (input 0, output 1)."""
    n = len(layers)
    return pd.Series(np.arange(n) / max(n - 1, 1), index=layers.index)


def layer_dynamics(
    layer_tables: Mapping[tuple[str, int], pd.DataFrame], accuracy: pd.DataFrame
) -> pd.DataFrame:
    """Per-layer scalars of every (run, epoch), with relative depth and the checkpoint's accuracy."""
    frames = []
    for (run, epoch), table in layer_tables.items():
        t = table.copy()
        t.insert(0, "run", run)
        t.insert(1, "epoch", int(epoch))
        t["relative_depth"] = relative_depth(t["layer"]).to_numpy()
        hidden = t.index[~t["layer"].isin(NOT_HIDDEN)]
        t["last_hidden"] = False
        if len(hidden):
            t.loc[hidden[-1], "last_hidden"] = True
        frames.append(t)
    out = pd.concat(frames, ignore_index=True)
    return out.merge(_accuracy_wide(accuracy), on=["run", "epoch"], how="left")


def _accuracy_wide(accuracy: pd.DataFrame) -> pd.DataFrame:
    """(run, epoch) -> labels, test_top1, test_top5, train_top1."""
    acc = accuracy.dropna(subset=["run"])
    test = acc[acc["split"] == "test"][["run", "epoch", "labels", "top1", "top5"]]
    test = test.rename(columns={"top1": "test_top1", "top5": "test_top5"})
    train = acc[acc["split"] == "train"][["run", "epoch", "top1"]]
    train = train.rename(columns={"top1": "train_top1"})
    wide = test.merge(train, on=["run", "epoch"], how="outer")
    wide["epoch"] = wide["epoch"].astype(int)
    return wide


def predictivity_dynamics(
    encoding_tables: Mapping[tuple[str, int, str], pd.DataFrame], accuracy: pd.DataFrame
) -> pd.DataFrame:
    """Per (run, epoch, dataset, area): the best layer by median normalised score, its score."""
    rows = []
    for (run, epoch, dataset), table in encoding_tables.items():
        score = "normalized_score" if table["normalized_score"].notna().any() else "r2"
        layers = list(dict.fromkeys(table["layer"]))
        depth = dict(zip(layers, np.arange(len(layers)) / max(len(layers) - 1, 1), strict=True))
        areas = table["area"].fillna("all") if "area" in table else pd.Series("all", table.index)
        for area, sub in table.assign(area=areas).groupby("area"):
            medians = sub.groupby("layer", sort=False)[score].median()
            best = medians.idxmax()
            rows.append(
                {
                    "run": run,
                    "epoch": int(epoch),
                    "dataset": dataset,
                    "area": area,
                    "score": score,
                    "best_layer": best,
                    "best_relative_depth": depth[best],
                    "best_median_score": float(medians.max()),
                    "n_units": int(sub["unit"].nunique()),
                }
            )
    out = pd.DataFrame(rows)
    return out.merge(_accuracy_wide(accuracy), on=["run", "epoch"], how="left")
