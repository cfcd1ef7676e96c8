"""The training stage on files: what the rules (and `brainreps train`) do, from paths to outputs."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from brainreps import io
from brainreps.config import fill_defaults
from brainreps.device import resolve_device
from brainreps.training.accuracy import classify, imagenet_index, topk
from brainreps.training.data import labelled_split
from brainreps.training.dynamics import layer_dynamics, predictivity_dynamics
from brainreps.training.loop import evaluate_checkpoints, train_run
from brainreps.training.results import (
    ACCURACY_COLUMNS,
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


def train_from_store(
    stimuli_path: str | os.PathLike,
    stimuli_name: str,
    settings: Mapping[str, Any],
    run: str,
    work_dir: str | os.PathLike,
    checkpoints: str | os.PathLike,
    history: str | os.PathLike,
) -> dict[int, Path]:
    """Rule train: one run on a labelled stimuli store -> its checkpoint folder and history."""
    settings, split = _labelled(stimuli_path, stimuli_name, settings, run)
    logger.info(
        "%s: %s on %s, %d classes, %d training and %d test images, %s labels",
        run,
        settings["arch"],
        stimuli_name,
        len(split.classes),
        split.train.size,
        split.test.size,
        settings["labels"],
    )
    work = train_run(split, settings, work_dir, run)
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
) -> pd.DataFrame:
    """Rule training_accuracy: held-out and training-set accuracy of every checkpoint."""
    settings, split = _labelled(stimuli_path, stimuli_name, settings, run)
    files = checkpoint_files(checkpoints)
    evaluations = evaluate_checkpoints(split, settings, files, run)
    return write_accuracy(evaluations, files, store, table, run, stimuli_name, settings)


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


def accuracy_table(tables: Sequence[str | os.PathLike], out: str | os.PathLike) -> pd.DataFrame:
    """Rule accuracy_table: every run's checkpoints and every pretrained model, one table."""
    frames = [pd.read_csv(p) for p in tables]
    table = (
        pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=ACCURACY_COLUMNS)
    )
    with io.atomic_path(out) as tmp:
        table[ACCURACY_COLUMNS].to_csv(tmp, index=False)
    return table


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
