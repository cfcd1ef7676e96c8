"""Which layer's Gram matrices tell textures apart: a simple classifier per layer.

Per layer, every image's Gram matrix (brainreps.similarity.gram) is a vector (its upper
triangle); a nearest-class-mean classifier on those vectors, each entry z-scored with the
training images' mean and standard deviation, predicts each held-out image's class. The
layer whose Gram matrices classify best is the layer whose second-order statistics carry the
texture, the question of the style-transfer post (Gatys et al. 2015 use the same matrices).

Decisions:
- Evaluation. A labelled set with a `split` coordinate holding train and test images (the
  `photographs` source: test crops come from a quadrant of each photograph no training crop
  touches) is scored on the test images by a classifier fit on the training images:
  `accuracy`, and the confusion matrix, are held-out-region numbers. `cv_accuracy` is
  stratified k-fold cross-validation (n_folds) within the training images; random crops of
  one region overlap, so it is optimistic, and stated beside the held-out number. A set
  without a split (an ImageNet subset) is scored by k-fold cross-validation over all images,
  `accuracy` = `cv_accuracy`, the confusion matrix from the held-out predictions.
- The classifier has no parameter to tune: the class means and the z-scoring come from the
  training images alone, so nothing of a test image enters its own prediction. Entries that
  are constant over the training images are left out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import xarray as xr

logger = logging.getLogger(__name__)

TEST, TRAIN = "test", "train"


class TextureSetError(ValueError):
    """A labelled set that cannot be classified (one class, too few images for the folds)."""


def nearest_mean_fit(x: np.ndarray, y: np.ndarray, classes: Sequence) -> dict[str, np.ndarray]:
    """Class means of z-scored vectors (the z-scoring from `x` alone)."""
    x = np.asarray(x, dtype=np.float32)
    mean = x.mean(axis=0, dtype=np.float64)
    centred = x - mean.astype(np.float32)
    sd = np.sqrt(np.einsum("ij,ij->j", centred, centred, dtype=np.float64) / len(x))
    keep = (sd > 0) & (sd > 1e-6 * np.abs(mean))  # constant, up to float32 rounding: dropped
    scale = (1.0 / sd[keep]).astype(np.float32)
    z = centred[:, keep] * scale
    y = np.asarray(y)
    centroids = np.stack([z[y == c].mean(axis=0) for c in classes])
    return {
        "mean": mean[keep].astype(np.float32),
        "scale": scale,
        "keep": keep,
        "centroids": centroids,
    }


def nearest_mean_predict(model: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """Index of the nearest class mean (Euclidean, in the training z-scores) of each row."""
    z = (np.asarray(x, dtype=np.float32)[:, model["keep"]] - model["mean"]) * model["scale"]
    c = model["centroids"]
    d = (z**2).sum(1)[:, None] - 2 * z @ c.T + (c**2).sum(1)[None, :]
    return d.argmin(axis=1)


def check_labels(labels: Sequence[str], n_folds: int, name: str) -> list[str]:
    """The sorted classes of a set; an error naming the set for one class or too few images."""
    counts = pd.Series(list(labels)).value_counts()
    if len(counts) < 2:
        raise TextureSetError(
            f"texture set {name!r} has {len(counts)} class(es) ({', '.join(counts.index)}); "
            "telling textures apart needs at least 2"
        )
    small = counts[counts < n_folds]
    if len(small):
        raise TextureSetError(
            f"texture set {name!r}: class(es) {', '.join(f'{c} ({n} images)' for c, n in small.items())} "
            f"have fewer images than the {n_folds} cross-validation folds"
        )
    return sorted(counts.index)


def _folds(y: np.ndarray, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import StratifiedKFold

    cv = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return list(cv.split(np.zeros(len(y)), y))


def classify_layer(
    x: np.ndarray,
    y: np.ndarray,
    split: np.ndarray | None,
    n_classes: int,
    n_folds: int,
    seed: int,
) -> dict[str, object]:
    """Accuracy, k-fold accuracy and confusion counts (true x predicted) of one layer.

    `y` holds class indices; `split` ('train'/'test' per image) or None (k-fold over all).
    """
    x = np.asarray(x)
    y = np.asarray(y)
    classes = np.arange(n_classes)
    if split is not None:
        train, test = np.flatnonzero(split == TRAIN), np.flatnonzero(split == TEST)
        cv_idx = train
    else:
        cv_idx = np.arange(len(y))
    cv_pred = np.empty(len(cv_idx), dtype=np.int64)
    for fit, held in _folds(y[cv_idx], n_folds, seed):
        model = nearest_mean_fit(x[cv_idx[fit]], y[cv_idx[fit]], classes)
        cv_pred[held] = nearest_mean_predict(model, x[cv_idx[held]])
    cv_accuracy = float((cv_pred == y[cv_idx]).mean())
    if split is not None:
        model = nearest_mean_fit(x[train], y[train], classes)
        truth, pred = y[test], nearest_mean_predict(model, x[test])
    else:
        truth, pred = y[cv_idx], cv_pred
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (truth, pred), 1)
    return {
        "accuracy": float((truth == pred).mean()),
        "cv_accuracy": cv_accuracy,
        "confusion": confusion,
    }


def normalized_gram(grams: np.ndarray) -> np.ndarray:
    """Gram matrices scaled to cosines: G_cd / sqrt(G_cc G_dd) (0 where a channel is silent)."""
    g = np.asarray(grams, dtype=np.float64)
    diag = np.sqrt(np.clip(np.einsum("...ii->...i", g), 0.0, None))
    outer = diag[..., :, None] * diag[..., None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(outer > 0, g / outer, 0.0)
    return out


def texture_scores(
    layers: Sequence[str],
    load: Callable[[str], np.ndarray],
    labels: Sequence[str],
    split: Sequence[str] | None,
    *,
    n_folds: int,
    seed: int,
    name: str,
    depth: Sequence[int] | None = None,
) -> xr.Dataset:
    """The `textures` Dataset: per layer accuracy, k-fold accuracy and confusion matrix, and
    the best layer's class-mean Gram matrices (as cosines; figures order their channels).

    `load(layer)` gives a layer's packed Gram matrices (stimulus, entry).
    """
    from brainreps.similarity.gram import n_channels_of, unpack

    labels = np.asarray([str(v) for v in labels])
    split_arr = None if split is None else np.asarray([str(v) for v in split])
    if split_arr is not None and not ({TRAIN, TEST} <= set(split_arr)):
        split_arr = None
    check_labels(labels if split_arr is None else labels[split_arr == TRAIN], n_folds, name)
    if split_arr is not None:
        check_labels(labels[split_arr == TEST], 1, name)
    classes = sorted(set(labels))
    y = np.array([classes.index(v) for v in labels])
    rows = []
    for layer in layers:
        x = load(layer)
        result = classify_layer(x, y, split_arr, len(classes), n_folds, seed)
        result["n_channels"] = n_channels_of(x.shape[1])
        rows.append(result)
        logger.info(
            "%s: %d channels, accuracy %.3f (k-fold %.3f)",
            layer,
            result["n_channels"],
            result["accuracy"],
            result["cv_accuracy"],
        )
    accuracy = np.array([r["accuracy"] for r in rows])
    best = int(np.argmax(accuracy))
    grams = unpack(load(layers[best]))
    cosines = normalized_gram(grams)
    class_means = np.stack([cosines[y == k].mean(axis=0) for k in range(len(classes))])
    n_train = int((split_arr == TRAIN).sum()) if split_arr is not None else len(y)
    n_test = int((split_arr == TEST).sum()) if split_arr is not None else len(y)
    ds = xr.Dataset(
        {
            "accuracy": (("layer",), accuracy),
            "cv_accuracy": (("layer",), np.array([r["cv_accuracy"] for r in rows])),
            "n_channels": (("layer",), np.array([r["n_channels"] for r in rows], dtype=np.int64)),
            "confusion": (("layer", "class", "class_b"), np.stack([r["confusion"] for r in rows])),
            "best_gram": (("class", "channel", "channel_b"), class_means.astype(np.float32)),
        },
        coords={
            "layer": list(layers),
            "depth": ("layer", np.asarray(depth if depth is not None else range(len(layers)))),
            "class": classes,
            "class_b": classes,
        },
        attrs={
            "stimuli": name,
            "best_layer": str(layers[best]),
            "evaluation": (
                "held-out region (fit on train crops, scored on test crops)"
                if split_arr is not None
                else f"{n_folds}-fold cross-validation"
            ),
            "n_folds": int(n_folds),
            "n_train": n_train,
            "n_test": n_test,
            "n_per_class": int(pd.Series(labels).value_counts().min()),
            "chance": float(pd.Series(y).value_counts(normalize=True).max()),
            "classifier": "nearest class mean of z-scored Gram entries",
        },
    )
    ds["accuracy"].attrs["description"] = ds.attrs["evaluation"]
    ds["cv_accuracy"].attrs["description"] = f"stratified {n_folds}-fold cross-validation" + (
        " within the training crops" if split_arr is not None else ""
    )
    ds["confusion"].attrs["description"] = "images of class (row) predicted as class_b (column)"
    ds["best_gram"].attrs["description"] = (
        f"class-mean Gram matrices of {layers[best]} as cosines G_cd / sqrt(G_cc G_dd)"
    )
    return ds


def scores_table(ds: xr.Dataset, **labels: str) -> pd.DataFrame:
    """Tidy per-layer accuracy: one row per layer, labelled with e.g. model and stimuli."""
    df = pd.DataFrame(
        {
            "layer": ds["layer"].values,
            "depth": ds["depth"].values,
            "n_channels": ds["n_channels"].values,
            "accuracy": ds["accuracy"].values,
            "cv_accuracy": ds["cv_accuracy"].values,
        }
    )
    df["best"] = df["layer"] == ds.attrs["best_layer"]
    df["chance"] = ds.attrs["chance"]
    df["evaluation"] = ds.attrs["evaluation"]
    df["n_train"] = ds.attrs["n_train"]
    df["n_test"] = ds.attrs["n_test"]
    for i, (key, value) in enumerate(labels.items()):
        df.insert(i, key, value)
    return df


def texture_analysis(
    stimuli_path: str,
    spec: dict,
    settings: dict,
    out_store: str,
    out_csv: str,
    *,
    name: str,
    model_name: str = "",
    device: str | None = None,
    params: dict | None = None,
    scratch_dir: str | None = None,
) -> xr.Dataset:
    """Gram matrices of a model's layers on a labelled set, classified layer by layer.

    `spec` is a models.<name> entry, `settings` the config's `textures` section. The Gram
    matrices go to a scratch store (one batch in memory), read back one layer at a time.
    """
    import tempfile
    from pathlib import Path

    from brainreps import io
    from brainreps.config import fill_defaults
    from brainreps.features import open_images
    from brainreps.models import model_from_spec, spec_layers
    from brainreps.similarity.gram import read_grams, stream_grams

    spec = fill_defaults("models#model", spec, "model")
    settings = fill_defaults("textures#textures", settings, "textures")
    stimuli = io.read_store(stimuli_path, "stimuli")
    if "label" not in stimuli.coords:
        raise TextureSetError(f"texture set {name!r} has no class labels")
    labels = [str(v) for v in stimuli["label"].values]
    split = [str(v) for v in stimuli["split"].values] if "split" in stimuli.coords else None
    check_labels(labels, 1, name)
    model, preprocess = model_from_spec(spec)
    layers = spec_layers(model, spec)
    images, ids = open_images(stimuli_path)
    with tempfile.TemporaryDirectory(dir=scratch_dir, prefix="brainreps-gram-") as tmp:
        path = Path(tmp) / "grams.zarr"
        stream_grams(
            model,
            preprocess,
            images,
            layers,
            path,
            batch_size=int(settings["batch_size"] or spec["batch_size"]),
            device=device,
            include_pixels=bool(spec["include_pixels"]),
            min_positions=int(settings["min_positions"]),
            max_channels=settings["max_channels"],
            stimulus_ids=ids,
        )
        groups = io.store_groups(path)
        left_out = io.store_attrs(path).get("left_out") or "{}"
        position = {n: i for i, n in enumerate(["pixels", *layers])}
        ds = texture_scores(
            groups,
            lambda layer: read_grams(path, layer),
            labels,
            split,
            n_folds=int(settings["n_folds"]),
            seed=int(settings["seed"]),
            name=name,
            depth=[position[g] for g in groups],
        )
    ds.attrs["model"] = model_name or spec["arch"]
    ds.attrs["left_out"] = left_out  # JSON: layer -> activation shape, without Gram matrices
    io.write_store(ds, out_store, kind="textures", params=params, inputs=[str(stimuli_path)])
    table = scores_table(ds, model=model_name or spec["arch"], stimuli=name)
    with io.atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    return ds
