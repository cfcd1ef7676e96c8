"""What a finished training run leaves: checkpoint files, the accuracy store and tables."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from brainreps import io
from brainreps.checkpoints import read_model_file

ACCURACY_COLUMNS = [
    "model", "run", "epoch", "stimuli", "split", "labels", "n_images", "top1", "top5", "loss",
]  # fmt: skip


Evaluations = Mapping[int, Mapping[str, Mapping]]  # epoch -> split -> loss, top1, top5, ...


def accuracy_rows(run: str, stimuli: str, labels: str, evaluations: Evaluations) -> pd.DataFrame:
    """One row per checkpoint and split (test: held out; train: the labels trained on)."""
    rows = []
    for epoch, evaluation in sorted(evaluations.items()):
        for split in ("test", "train"):
            ev = evaluation[split]
            rows.append(
                {
                    "model": f"{run}_e{epoch}",
                    "run": run,
                    "epoch": epoch,
                    "stimuli": stimuli,
                    "split": split,
                    "labels": labels,
                    "n_images": ev["n_images"],
                    "top1": ev["top1"],
                    "top5": ev["top5"],
                    "loss": ev["loss"],
                }
            )
    return pd.DataFrame(rows, columns=ACCURACY_COLUMNS)


def accuracy_store(evaluations: Evaluations, classes: list[str], attrs: Mapping) -> xr.Dataset:
    """The `training` store: accuracy and loss per checkpoint, held-out top-1 per class."""
    ev = [evaluations[e] for e in sorted(evaluations)]

    def per(split: str, key: str) -> np.ndarray:
        return np.array([e[split][key] for e in ev], dtype=np.float64)

    return xr.Dataset(
        {
            "test_top1": ("checkpoint", per("test", "top1")),
            "test_top5": ("checkpoint", per("test", "top5")),
            "test_loss": ("checkpoint", per("test", "loss")),
            "train_top1": ("checkpoint", per("train", "top1")),
            "train_loss": ("checkpoint", per("train", "loss")),
            "class_top1": (
                ("checkpoint", "class"),
                np.array([e["test"]["class_top1"] for e in ev], dtype=np.float64),
            ),
        },
        coords={
            "checkpoint": np.array(sorted(evaluations), dtype=np.int64),
            "class": list(classes),
        },
        attrs=dict(attrs),
    )


def history_frame(last_checkpoint: Path) -> pd.DataFrame:
    """Loss, augmented training accuracy, learning rate and seconds of every epoch."""
    return pd.DataFrame(read_model_file(last_checkpoint)["history"])


def finish_run(
    work: Mapping[int, Path], checkpoint_dir: str | os.PathLike, history_path: str | os.PathLike
) -> None:
    """Copy the run's checkpoints into their folder and write its history, each atomically;
    the work folder goes only once both are in place."""
    epochs = sorted(work)
    with io.atomic_path(checkpoint_dir) as tmp:
        tmp.mkdir(parents=True)
        for epoch in epochs:
            shutil.copyfile(work[epoch], tmp / Path(work[epoch]).name)
    with io.atomic_path(history_path) as tmp:
        history_frame(work[epochs[-1]]).to_csv(tmp, index=False)
    shutil.rmtree(Path(work[epochs[0]]).parent, ignore_errors=True)


def checkpoint_files(checkpoint_dir: str | os.PathLike) -> dict[int, Path]:
    """Saved epoch -> checkpoint file of a run's checkpoint folder."""
    files = sorted(Path(checkpoint_dir).glob("epoch_*.pt"))
    if not files:
        raise FileNotFoundError(f"no checkpoint (epoch_NNNN.pt) in {checkpoint_dir}")
    return {int(p.stem.split("_")[1]): p for p in files}


def write_accuracy(
    evaluations: Evaluations,
    checkpoints: Mapping[int, Path],
    store_path: str | os.PathLike,
    table_path: str | os.PathLike,
    run: str,
    stimuli: str,
    params: Mapping | None = None,
) -> pd.DataFrame:
    """The accuracy store and table of a run's checkpoints, each written atomically."""
    first = read_model_file(checkpoints[min(checkpoints)])
    attrs = {"labels": first["labels"], "arch": first["arch"], "run": run}
    io.write_store(
        accuracy_store(evaluations, first["classes"], attrs), store_path, kind="training",
        params=params,
    )  # fmt: skip
    table = accuracy_rows(run, stimuli, first["labels"], evaluations)
    with io.atomic_path(table_path) as tmp:
        table.to_csv(tmp, index=False)
    return table
