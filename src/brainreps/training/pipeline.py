"""The training stage on files: what the rules (and `brainreps train`) do, from paths to outputs."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from brainreps import io
from brainreps.config import fill_defaults
from brainreps.device import resolve_device
from brainreps.training.accuracy import classify, imagenet_index, topk
from brainreps.training.data import labelled_split
from brainreps.training.dynamics import layer_dynamics, predictivity_dynamics
from brainreps.training.loop import evaluate_checkpoints, train_run
from brainreps.training.neural import NeuralTarget, response_similarity
from brainreps.training.results import (
    ACCURACY_COLUMNS,
    ROBUSTNESS_COLUMNS,
    checkpoint_files,
    finish_run,
    write_accuracy,
)

logger = logging.getLogger(__name__)


def _labelled(stimuli_path, stimuli_name, settings, run):
    settings = fill_defaults("training#run", settings, f"training.{run}")
    stimuli = io.read_store(stimuli_path, "stimuli", load=True)
    split = labelled_split(stimuli, stimuli_name, settings["test_fraction"], settings["seed"])
    return settings, split


def neural_target_store(
    encoding_model: str | os.PathLike,
    stimuli_path: str | os.PathLike,
    out: str | os.PathLike,
    expected_arch: str | None = None,
    device: str | None = None,
) -> None:
    """Rule neural_target: an encoding model's predicted responses to every image of a set."""
    import xarray as xr

    from brainreps.encoding.fitted import EncodingModel, EncodingModelError

    model = EncodingModel.load(encoding_model)
    if expected_arch is not None and model.network["arch"] != expected_arch:
        raise EncodingModelError(
            f"{encoding_model} was fitted on {model.network['arch']} features, not on "
            f"{expected_arch} (neural_similarity.encoding.model)"
        )
    keep = np.arange(len(model.units))
    stimuli = io.read_store(stimuli_path, "stimuli", load=True)
    predicted = model.predict(stimuli["pixels"].values, device=device)
    ds = xr.Dataset(
        {"predicted": (("stimulus", "unit"), predicted.astype(np.float32))},
        coords={
            "stimulus": stimuli["stimulus"].values,
            "unit": np.array([model.units[i] for i in keep], dtype=object),
            "area": ("unit", np.array([model.areas[i] for i in keep], dtype=object)),
        },
        attrs={"model": model.model_name, "dataset": model.dataset, "layer": model.layer},
    )
    io.write_store(ds, out, kind="neural_target", inputs=[str(encoding_model), str(stimuli_path)])
    logger.info(
        "predicted %d units of %s (%s, layer %s) on %d images",
        keep.size,
        model.dataset,
        model.model_name,
        model.layer,
        predicted.shape[0],
    )


def check_same_stimuli(
    store: xr.Dataset, path: str | os.PathLike, stimuli: xr.Dataset, stimuli_path: str | os.PathLike
) -> None:
    """Refuse a target store whose stimuli are not the stimulus store's, in order."""
    if [str(s) for s in store["stimulus"].values] != [str(s) for s in stimuli["stimulus"].values]:
        raise ValueError(f"{path}: its stimuli are not those of {stimuli_path} (in order)")


def load_target(
    settings: Mapping[str, Any],
    split,
    stimuli_path: str | os.PathLike,
    target_path,
) -> NeuralTarget | None:
    """The neural target of a brain-guided run (None for a plain run): for source encoding the
    predicted responses to the run's own images, split as the run is; for source rdms the
    measured matrices over their own stimulus set (`target_path` = [the neural_rdms rule's
    store, the stimuli store])."""
    ns = settings.get("neural_similarity")
    if ns is None:
        return None
    if ns["source"] == "encoding":
        target = io.read_store(target_path, "neural_target", load=True)
        stimuli = io.read_store(stimuli_path, "stimuli")
        check_same_stimuli(target, target_path, stimuli, stimuli_path)
        areas = ns["encoding"]["areas"]
        units = np.asarray([str(a) for a in target["area"].values])
        keep = np.isin(units, areas) if areas else np.ones(units.size, bool)
        if not keep.any():
            raise ValueError(
                f"neural_similarity.encoding.areas {areas}: no unit of the encoding model is in "
                f"them (areas: {sorted(set(units))})"
            )
        similarity = response_similarity(target["predicted"].values[:, keep])
        return NeuralTarget(
            split.images, similarity, split.train, split.test, True,
            f"predicted responses of {int(keep.sum())} {target.attrs['dataset']} units "
            f"({target.attrs['model']}, {target.attrs['layer']})",
        )  # fmt: skip
    rdm_path, rdm_stimuli = target_path
    return rdm_target(ns, rdm_path, rdm_stimuli, settings["seed"])


def rdm_target(
    ns: Mapping[str, Any],
    rdm_path: str | os.PathLike,
    stimuli_path: str | os.PathLike,
    seed: int,
) -> NeuralTarget:
    """Measured RDMs (the mean similarity of the chosen groups; `rdm_path` the neural_rdms
    rule's store, already in the stimulus set's order) over their stimulus set's images, a
    seeded share of them held out to measure the layer's RSA."""
    from brainreps.data.rdms import as_similarity

    stimuli = io.read_store(stimuli_path, "stimuli", load=True)
    ids = [str(s) for s in stimuli["stimulus"].values]
    rdms = io.read_store(rdm_path, "rdms", load=True)
    check_same_stimuli(rdms, rdm_path, stimuli, stimuli_path)
    groups = [str(g) for g in rdms["group"].values]
    chosen = ns["groups"] or groups
    unknown = [g for g in chosen if g not in groups]
    if unknown:
        raise ValueError(
            f"neural_similarity.groups {unknown} are not in {rdm_path}; it has {', '.join(groups)}"
        )
    sims = as_similarity(rdms.sel(group=chosen))
    similarity = np.clip(sims.mean(0), -1.0, 1.0)
    n = len(ids)
    rng = np.random.default_rng([seed, 3])
    test = np.sort(rng.permutation(n)[: max(3, int(round(ns["test_fraction"] * n)))])
    train = np.setdiff1d(np.arange(n), test)
    return NeuralTarget(
        np.asarray(stimuli["pixels"].values), similarity, train, test, False,
        f"measured RDMs {', '.join(chosen)} of {rdm_path}",
    )  # fmt: skip


def train_from_store(
    stimuli_path: str | os.PathLike,
    stimuli_name: str,
    settings: Mapping[str, Any],
    run: str,
    work_dir: str | os.PathLike,
    checkpoints: str | os.PathLike,
    history: str | os.PathLike,
    target_path=None,
) -> dict[int, Path]:
    """Rule train: one run on a labelled stimuli store -> its checkpoint folder and history."""
    settings, split = _labelled(stimuli_path, stimuli_name, settings, run)
    ns = settings.get("neural_similarity")
    regularised = ns is not None and ns["lambda"] > 0
    target = load_target(settings, split, stimuli_path, target_path) if regularised else None
    logger.info(
        "%s: %s on %s, %d classes, %d training and %d test images, %s labels%s",
        run,
        settings["arch"],
        stimuli_name,
        len(split.classes),
        split.train.size,
        split.test.size,
        settings["labels"],
        f"; regularised towards {target.description}" if target is not None else "",
    )
    work = train_run(split, settings, work_dir, run, target=target)
    finish_run(work, checkpoints, history)
    return checkpoint_files(checkpoints)


def checkpoint_accuracy(
    stimuli_path: str | os.PathLike,
    stimuli_name: str,
    settings: Mapping[str, Any],
    run: str,
    checkpoints: str | os.PathLike,
    store: str | os.PathLike,
    table: str | os.PathLike,
    robustness: str | os.PathLike | None = None,
    target_path=None,
) -> pd.DataFrame:
    """Rule training_accuracy: every checkpoint's accuracy, robustness and target RSA."""
    settings, split = _labelled(stimuli_path, stimuli_name, settings, run)
    target = load_target(settings, split, stimuli_path, target_path)
    files = checkpoint_files(checkpoints)
    evaluations = evaluate_checkpoints(split, settings, files, run, target)
    return write_accuracy(evaluations, files, store, table, run, stimuli_name, settings, robustness)


def pretrained_accuracy(
    spec: Mapping[str, Any],
    stimuli_path: str | os.PathLike,
    model_name: str,
    stimuli_name: str,
    out: str | os.PathLike,
    device: str | None = None,
) -> pd.DataFrame:
    """Rule model_accuracy: top-1/top-5 of an ImageNet-1k classifier on a labelled ImageNet subset
    (class folders named by wnid), every image held out (the model never trained on it here)."""
    from brainreps.models import model_from_spec

    spec = fill_defaults("models#model", spec, f"models.{model_name}")
    stimuli = io.read_store(stimuli_path, "stimuli", load=True)
    if "label" not in stimuli.coords:
        raise ValueError(f"stimulus set {stimuli_name!r} has no class labels")
    targets = imagenet_index([str(x) for x in stimuli["label"].values])
    model, preprocess = model_from_spec(spec)
    logits = classify(
        model, preprocess, stimuli["pixels"], spec["batch_size"], resolve_device(device)
    )
    if logits.shape[1] != 1000:
        raise ValueError(
            f"model {model_name} has {logits.shape[1]} outputs, not the 1,000 ImageNet classes"
        )
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    row = {
        "model": model_name,
        "run": None,
        "epoch": None,
        "stimuli": stimuli_name,
        "split": "all",
        "labels": "given",
        "n_images": len(targets),
        "top1": topk(logits, targets, 1),
        "top5": topk(logits, targets, 5),
        "loss": float(-log_p[np.arange(len(targets)), targets].mean()),
    }
    table = pd.DataFrame([row], columns=ACCURACY_COLUMNS)
    with io.atomic_path(out) as tmp:
        table.to_csv(tmp, index=False)
    logger.info(
        "%s on %s: top-1 %.3f, top-5 %.3f", model_name, stimuli_name, row["top1"], row["top5"]
    )
    return table


def accuracy_table(
    tables: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    robustness: Sequence[str | os.PathLike] = (),
    robustness_out: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Rule accuracy_table: every run's checkpoints and every pretrained model in one table,
    and every run's robustness in another."""
    for paths, columns, target in (
        (tables, ACCURACY_COLUMNS, out),
        (robustness, ROBUSTNESS_COLUMNS, robustness_out),
    ):
        if target is None:
            continue
        frames = [pd.read_csv(p) for p in paths]
        table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
        with io.atomic_path(target) as tmp:
            table[columns].to_csv(tmp, index=False)
    return pd.read_csv(out)


def dynamics_tables(
    checkpoints: Mapping[str, tuple[str, int]],
    layer_csvs: Mapping[str, str],
    pair_csvs: Mapping[str, str],
    encoding_csvs: Mapping[tuple[str, str], str],
    accuracy_csv: str | os.PathLike,
    outputs: Mapping[str, str | os.PathLike],
) -> None:
    """Rule learning_dynamics: per-layer, layer-pair and predictivity tables of every checkpoint.

    `checkpoints` maps each checkpoint model to (run, epoch); the CSVs are the similarity and
    encoding stages' tables of those models (encoding keyed by (model, dataset)).
    """
    accuracy = pd.read_csv(accuracy_csv)
    layers = layer_dynamics(
        {checkpoints[m]: pd.read_csv(p) for m, p in layer_csvs.items()}, accuracy
    )
    pairs = []
    for model, path in pair_csvs.items():
        t = pd.read_csv(path)
        run, epoch = checkpoints[model]
        t.insert(0, "run", run)
        t.insert(1, "epoch", epoch)
        pairs.append(t)
    encoding = {(*checkpoints[m], d): pd.read_csv(p) for (m, d), p in encoding_csvs.items()}
    predictivity = predictivity_dynamics(encoding, accuracy) if encoding else pd.DataFrame()
    for key, frame in (
        ("layers", layers),
        ("pairs", pd.concat(pairs, ignore_index=True)),
        ("predictivity", predictivity),
    ):
        with io.atomic_path(outputs[key]) as tmp:
            frame.to_csv(tmp, index=False)
    logger.info("learning dynamics of %d checkpoints", len(checkpoints))
