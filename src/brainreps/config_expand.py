"""Config entries that stand for several: every checkpoint of a training run becomes a model,
and every architecture of the zoo.

After validation, `expand_config` adds to `models` one entry per saved epoch of each training
run, named `{run}_e{epoch}` (on the run's `analyse` stimulus sets), and resolves a model that
names `checkpoint: {run, epoch}` to the run's architecture and checkpoint file. From there on a
checkpoint is a model like any other: features, projection, encoding and similarity run on it
unchanged. The `zoo` section adds one model per architecture and weights (`zoo_models`),
named by `zoo_model_name`, with the zoo's shared settings under each entry's own.
"""

from __future__ import annotations

import copy
import re
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


# the model name of a zoo entry's weights: ARCH_random, ARCH_pretrained, ARCH_<weights>
ZOO_FORMS = {"none": "random", "default": "pretrained"}


def zoo_model_name(arch: str, weights: str) -> str:
    """The model name of an architecture of the zoo in one form of weights."""
    base = re.sub(r"[^A-Za-z0-9_-]+", "-", arch).strip("-")
    form = ZOO_FORMS.get(weights) or re.sub(r"[^A-Za-z0-9_-]+", "-", weights.lower())
    return f"{base}_{form}"


def zoo_models(zoo: Mapping[str, Any], model_defaults: Mapping[str, Any]) -> dict[str, dict]:
    """Model name -> entry of every architecture and form of weights of a (validated) zoo
    section: the schema's model defaults, under the zoo's shared settings, under what the
    architecture's own entry sets (its `weights` picks its one form)."""
    out: dict[str, dict] = {}
    for item in (zoo or {}).get("architectures") or []:
        own = {"arch": item} if isinstance(item, str) else dict(item)
        forms = [own["weights"]] if "weights" in own else list(zoo["weights"])
        for weights in forms:
            entry = copy.deepcopy({**model_defaults, **zoo.get("settings", {}), **own})
            entry["weights"] = weights
            out[zoo_model_name(own["arch"], weights)] = entry
    return out


def zoo_forms(zoo: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(architecture, weights) of every model a zoo section defines, in order."""
    forms = []
    for item in (zoo or {}).get("architectures") or []:
        own = {"arch": item} if isinstance(item, str) else item
        weights = [own["weights"]] if "weights" in own else list(zoo.get("weights", []))
        forms += [(own["arch"], w) for w in weights]
    return forms


def zoo_model_names(zoo: Mapping[str, Any]) -> list[str]:
    """The model names a zoo section defines (a name twice if two entries make it)."""
    return [zoo_model_name(arch, weights) for arch, weights in zoo_forms(zoo)]


def expand_config(config: dict[str, Any], model_defaults: Mapping[str, Any]) -> dict[str, Any]:
    """`config` with a model per zoo architecture and form of weights, a model per checkpoint
    of each training run, and user checkpoints resolved (`model_defaults`: the schema's
    defaults of a models entry)."""
    defaults = model_defaults
    models = config.setdefault("models", {})
    for name, entry in zoo_models(config.get("zoo") or {}, defaults).items():
        models.setdefault(name, entry)  # config_checks refuses a name taken twice
    for name, spec in list(models.items()):
        if "checkpoint" in spec and "weights_file" not in spec:
            ref = spec["checkpoint"]
            resolved = checkpoint_model(config, ref["run"], ref["epoch"], defaults)
            # what the user set beyond the schema's defaults overrides the run's settings
            chosen = {k: v for k, v in spec.items() if k != "checkpoint" and v != defaults.get(k)}
            models[name] = {**resolved, **chosen}
    for run, entry in config.get("training", {}).items():
        if not analysed_sets(config, entry):
            continue  # analyse.stimuli: [] -- the run is trained and scored only
        for epoch in saved_epochs(entry):
            models.setdefault(
                checkpoint_model_name(run, epoch), checkpoint_model(config, run, epoch, defaults)
            )
    return config
