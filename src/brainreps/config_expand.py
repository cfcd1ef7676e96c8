"""Config entries that stand for several: every checkpoint of a training run becomes a model.

After validation, `expand_config` adds to `models` one entry per saved epoch of each training
run, named `{run}_e{epoch}` (on the run's `analyse` stimulus sets), and resolves a model that
names `checkpoint: {run, epoch}` to the run's architecture and checkpoint file. From there on a
checkpoint is a model like any other: features, projection, encoding and similarity run on it
unchanged.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

TRAINING_DIR = "results/training"  # the workflow's results/ folder, its training stage


def checkpoint_model_name(run: str, epoch: int) -> str:
    """The model name of a saved epoch of a training run."""
    return f"{run}_e{epoch}"


def checkpoint_dir(run: str, training_dir: str = TRAINING_DIR) -> str:
    """The folder where the workflow keeps a run's checkpoints (the train rule's output)."""
    return f"{training_dir}/{run}/checkpoints"


def checkpoint_file(run: str, epoch: int, training_dir: str = TRAINING_DIR) -> str:
    """Where the workflow keeps a run's checkpoint of one epoch."""
    return f"{checkpoint_dir(run, training_dir)}/epoch_{int(epoch):04d}.pt"


def saved_epochs(entry: Mapping[str, Any]) -> list[int]:
    """The epochs a run saves (its list with epoch 0), in increasing order."""
    return sorted({0, *(int(e) for e in entry["epochs"])})


def analysed_sets(config: Mapping[str, Any], entry: Mapping[str, Any]) -> list[str]:
    """The stimulus sets a run's checkpoints are analysed on (default: the datasets' sets)."""
    sets = entry["analyse"]["stimuli"]
    if sets is None:
        sets = list(dict.fromkeys(d["stimuli"] for d in config["datasets"].values()))
    return list(sets)


def checkpoint_model(
    config: Mapping[str, Any], run: str, epoch: int, model_defaults: Mapping[str, Any]
) -> dict[str, Any]:
    """The model entry of a run's checkpoint (arch, file, input size and analysis settings);
    `model_defaults` are the schema's defaults of a models entry."""
    entry = config["training"][run]
    size = entry["input_size"] or config["stimulus_sets"][entry["stimuli"]].get("size")
    model = copy.deepcopy(dict(model_defaults))
    model.update(
        {
            "arch": entry["arch"],
            "arch_params": copy.deepcopy(entry["arch_params"]),
            "weights_file": checkpoint_file(run, epoch),
            "checkpoint": {"run": run, "epoch": int(epoch)},
            "input_size": size,
            "layers": copy.deepcopy(entry["analyse"]["layers"]),
            "batch_size": entry["analyse"]["batch_size"],
            "stimuli": analysed_sets(config, entry),
            "figures": int(epoch) == saved_epochs(entry)[-1],
        }
    )
    return model


def expand_config(config: dict[str, Any], model_defaults: Mapping[str, Any]) -> dict[str, Any]:
    """`config` with a model per checkpoint of each training run and user checkpoints resolved
    (`model_defaults`: the schema's defaults of a models entry)."""
    defaults = model_defaults
    models = config.setdefault("models", {})
    for name, spec in list(models.items()):
        if "checkpoint" in spec and "weights_file" not in spec:
            ref = spec["checkpoint"]
            resolved = checkpoint_model(config, ref["run"], ref["epoch"], defaults)
            # what the user set beyond the schema's defaults overrides the run's settings
            chosen = {k: v for k, v in spec.items() if k != "checkpoint" and v != defaults.get(k)}
            models[name] = {**resolved, **chosen}
    for run, entry in config.get("training", {}).items():
        for epoch in saved_epochs(entry):
            models.setdefault(
                checkpoint_model_name(run, epoch), checkpoint_model(config, run, epoch, defaults)
            )
    return config
