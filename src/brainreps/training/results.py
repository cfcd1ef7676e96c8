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
    noise = sorted(ev[0].get("noise", {}))
    fgsm = sorted(ev[0].get("fgsm", {}))

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
            "noise_top1": (
                ("checkpoint", "noise_std"),
                np.array([[e["noise"][k] for k in noise] for e in ev], dtype=np.float64),
            ),
            "fgsm_top1": (
                ("checkpoint", "fgsm_eps"),
                np.array([[e["fgsm"][k] for k in fgsm] for e in ev], dtype=np.float64),
            ),
            **(
                {"rsa": ("checkpoint", np.array([e["rsa"] for e in ev], dtype=np.float64))}
                if "rsa" in ev[0]
                else {}
            ),
        },
        coords={
            "checkpoint": np.array(sorted(evaluations), dtype=np.int64),
            "class": list(classes),
            "noise_std": np.array(noise, dtype=np.float64),
            "fgsm_eps": np.array(fgsm, dtype=np.float64),
        },
        attrs=dict(attrs),
    )


ROBUSTNESS_COLUMNS = ["run", "epoch", "labels", "perturbation", "strength", "top1", "rsa"]


def robustness_rows(run: str, labels: str, evaluations: Evaluations) -> pd.DataFrame:
    """Held-out top-1 per checkpoint: clean (strength 0), under pixel noise, under FGSM; and
    the held-out RSA with the neural target where the run has one."""
    rows = []
    for epoch, ev in sorted(evaluations.items()):
        rsa = ev.get("rsa", float("nan"))
        base = {"run": run, "epoch": epoch, "labels": labels, "rsa": rsa}
        rows.append({**base, "perturbation": "clean", "strength": 0.0, "top1": ev["test"]["top1"]})
        for kind in ("noise", "fgsm"):
            for strength, top1 in sorted(ev.get(kind, {}).items()):
                rows.append({**base, "perturbation": kind, "strength": strength, "top1": top1})
    return pd.DataFrame(rows, columns=ROBUSTNESS_COLUMNS)


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
    robustness_path: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """The accuracy store and tables of a run's checkpoints, each written atomically."""
    first = read_model_file(checkpoints[min(checkpoints)])
    attrs = {"labels": first["labels"], "arch": first["arch"], "run": run}
    io.write_store(
        accuracy_store(evaluations, first["classes"], attrs), store_path, kind="training",
        params=params,
    )  # fmt: skip
    table = accuracy_rows(run, stimuli, first["labels"], evaluations)
    with io.atomic_path(table_path) as tmp:
        table.to_csv(tmp, index=False)
    if robustness_path is not None:
        with io.atomic_path(robustness_path) as tmp:
            robustness_rows(run, first["labels"], evaluations).to_csv(tmp, index=False)
    return table
