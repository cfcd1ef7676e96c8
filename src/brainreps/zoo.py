"""The zoo table: across models, how brain predictivity relates to accuracy, depth and width.

One row per (model, dataset), from the encoding stage's per-unit table, the features store's
layer widths, the task-accuracy table and the network itself:
- `depth`: the longest chain of weight layers (convolutions and linear maps) from the input
  to the output, traced in one forward pass (`weight_depth`): AlexNet 8, VGG-16 16, ResNet-18
  18, GoogLeNet 22 (Szegedy et al. 2015 count it so), Inception-v3 48; `n_weight_layers` is
  the number of weight layers a forward pass calls, in forward order (GoogLeNet 58);
- the stored layers in forward order and their widths (`features_per_layer`, as JSON);
- the best layer (the highest median normalised score over all units) and its relative depth
  (the weight layers up to it / depth: the input 0, the output 1), its width, its median
  normalised score over all units and per area (`score_<area>`);
- task accuracy where the model has one: held-out top-1 of a training run's checkpoint, or a
  pretrained model's top-1 on a labelled ImageNet subset (results/accuracy.csv);
- for every trained model that has a random-init twin (a run's last checkpoint and its epoch
  0; a pretrained model and a `weights: none` model of the same architecture), the twin's
  name, so that the figures can pair them.

This follows the DeepMouseTrap tutorial (CBMM summer course): predictivity against ImageNet
accuracy, depth and number of features, and trained against random-init networks.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

logger = logging.getLogger(__name__)

NOT_HIDDEN = ("pixels", "output")  # groups of a features store that are not modules
WEIGHT_OPS = {
    F.conv1d,
    F.conv2d,
    F.conv3d,
    F.conv_transpose1d,
    F.conv_transpose2d,
    F.conv_transpose3d,
    F.linear,
    torch.conv1d,
    torch.conv2d,
    torch.conv3d,
    torch._C._nn.linear,
    torch.matmul,
    torch.bmm,
    torch.addmm,
}


class _DepthMode(TorchFunctionMode):
    """Tags every tensor of a forward pass with the longest chain of weight ops behind it."""

    def __init__(self) -> None:
        super().__init__()
        self.depth: dict[int, int] = {}
        self.keep: list[torch.Tensor] = []  # ids stay unique while the pass runs

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        inputs = [t for t in tree_flatten((args, kwargs))[0] if torch.is_tensor(t)]
        d = max((self.depth.get(id(t), 0) for t in inputs), default=0)
        if func in WEIGHT_OPS and any(isinstance(t, torch.nn.Parameter) for t in inputs):
            d += 1
        for t in tree_flatten(out)[0]:
            if torch.is_tensor(t):
                self.depth[id(t)] = d
                self.keep.append(t)
        return out


def weight_depth(
    model: torch.nn.Module, input_size: int, layers: Sequence[str] = ()
) -> tuple[int, int, dict[str, int]]:
    """(depth, n_weight_layers, depth of each named layer's output) of a network.

    depth: the longest chain of weight layers (ops with a parameter operand: convolutions,
    linear maps) from the input to the output of one forward pass on a blank image;
    n_weight_layers: the modules with such an op that the pass calls. `pixels` is at 0 and
    `output` at `depth`.
    """
    modules = dict(model.named_modules())
    mode = _DepthMode()
    outputs: dict[str, torch.Tensor] = {}
    called: list[str] = []
    handles = []

    def keep(name):
        def hook(module, args, output):
            from brainreps.models import _first_tensor

            t = _first_tensor(output)
            if t is not None and name not in outputs:
                outputs[name] = t

        return hook

    def weighted(name):
        def hook(module, args, output):
            if name not in called:
                called.append(name)

        return hook

    for name in layers:
        if name in modules:
            handles.append(modules[name].register_forward_hook(keep(name)))
    for name, module in modules.items():
        is_leaf = not any(True for _ in module.children())
        if name and is_leaf and any(True for _ in module.parameters(recurse=False)):
            if isinstance(module, (torch.nn.modules.conv._ConvNd, torch.nn.Linear)):
                handles.append(module.register_forward_hook(weighted(name)))
    was_training = model.training
    try:
        model.eval()
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        with torch.no_grad(), mode:
            out = model(torch.zeros(1, 3, input_size, input_size, device=device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    from brainreps.models import _first_tensor

    total = mode.depth.get(id(_first_tensor(out)), 0)
    per_layer = {"pixels": 0, "output": total}
    per_layer.update({name: mode.depth.get(id(t), 0) for name, t in outputs.items()})
    return total, len(called), per_layer


def _features_per_layer(path: str) -> dict[str, int]:
    from brainreps import io

    attrs = io.store_attrs(path)
    counts = attrs.get("n_features")
    counts = json.loads(counts) if isinstance(counts, str) else counts
    return {g: int(counts[g]) for g in io.store_groups(path)}


def _accuracy_of(model: str, spec: Mapping[str, Any], accuracy: pd.DataFrame) -> tuple:
    """(top-1, where it was measured) of a model, or (NaN, '')."""
    if accuracy.empty or "model" not in accuracy:
        return float("nan"), ""
    rows = accuracy[accuracy["model"] == model]
    if spec.get("checkpoint"):
        rows = rows[rows["split"] == "test"]
    else:
        rows = rows[rows["split"] == "all"]
    if rows.empty:
        return float("nan"), ""
    row = rows.sort_values("n_images", ascending=False).iloc[0]
    return float(row["top1"]), f"{row['stimuli']} {row['split']} (n={int(row['n_images'])})"


def form_of(spec: Mapping[str, Any]) -> str:
    """random (untrained), trained (a checkpoint after epoch 0, a weights file) or pretrained."""
    ref = spec.get("checkpoint")
    if ref is not None:
        return "random" if int(ref["epoch"]) == 0 else "trained"
    if spec.get("weights_file"):
        return "trained"
    return "random" if str(spec.get("weights", "none")) == "none" else "pretrained"


def random_twins(specs: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Trained model -> its random-init twin: a run's last checkpoint -> its epoch 0; a
    pretrained model -> a `weights: none` model of the same architecture (and arch_params)."""
    twins: dict[str, str] = {}
    runs: dict[str, dict[int, str]] = {}
    for name, spec in specs.items():
        ref = spec.get("checkpoint")
        if ref is not None:
            runs.setdefault(ref["run"], {})[int(ref["epoch"])] = name
    for epochs in runs.values():
        last = max(epochs)
        if last > 0 and 0 in epochs:
            twins[epochs[last]] = epochs[0]

    def key(spec):
        return spec["arch"], json.dumps(spec.get("arch_params") or {}, sort_keys=True)

    random = {}
    for name, spec in specs.items():
        if spec.get("checkpoint") is None and form_of(spec) == "random":
            random.setdefault(key(spec), name)
    for name, spec in specs.items():
        if form_of(spec) == "pretrained" and key(spec) in random:
            twins[name] = random[key(spec)]
    return twins


def architecture(spec: Mapping[str, Any]) -> torch.nn.Module:
    """A model entry's network with random weights: its architecture alone (no download, no
    checkpoint file), branches exposed as in its features store."""
    from brainreps.models import model_from_spec

    built = {k: v for k, v in spec.items() if k not in ("weights_file", "checkpoint")}
    built["weights"] = "none"
    net, _ = model_from_spec(built)
    return net


def zoo_row(
    model: str,
    dataset: str,
    spec: Mapping[str, Any],
    encoding: pd.DataFrame,
    features_path: str,
    accuracy: pd.DataFrame,
    net: torch.nn.Module | None = None,
) -> dict[str, Any]:
    """One row of the zoo table (see the module docstring)."""
    from brainreps.models import DEFAULT_INPUT_SIZE

    widths = _features_per_layer(features_path)
    layers = list(widths)
    if net is None:
        net = architecture(spec)
    size = int(getattr(net, "_brainreps_input_size", DEFAULT_INPUT_SIZE))
    depth, n_weight_layers, per_layer = weight_depth(net, size, layers)
    score = "normalized_score" if encoding["normalized_score"].notna().any() else "r2"
    medians = encoding.groupby("layer", sort=False)[score].median()
    best = str(medians.idxmax())
    areas = encoding["area"].fillna("all").astype(str) if "area" in encoding else None
    top1, measured_on = _accuracy_of(model, spec, accuracy)
    row: dict[str, Any] = {
        "model": model,
        "dataset": dataset,
        "arch": spec["arch"],
        "weights": (
            f"checkpoint {spec['checkpoint']['run']} epoch {spec['checkpoint']['epoch']}"
            if spec.get("checkpoint")
            else ("file" if spec.get("weights_file") else spec.get("weights", "none"))
        ),
        "form": form_of(spec),
        "depth": depth,
        "n_weight_layers": n_weight_layers,
        "n_layers_stored": len([g for g in layers if g not in NOT_HIDDEN]),
        "features_per_layer": json.dumps(widths),
        "best_layer": best,
        "best_layer_depth": per_layer.get(best, np.nan),
        "best_relative_depth": per_layer.get(best, np.nan) / max(depth, 1),
        "best_layer_features": widths.get(best, np.nan),
        "score": score,
        "best_median_score": float(medians.max()),
        "n_units": int(encoding["unit"].nunique()),
    }
    if areas is not None:
        best_rows = encoding[encoding["layer"] == best]
        for area, sub in best_rows.groupby(areas[best_rows.index]):
            row[f"score_{area}"] = float(sub[score].median())
            row[f"n_units_{area}"] = int(sub["unit"].nunique())
    row["accuracy"] = top1
    row["accuracy_on"] = measured_on
    return row


def zoo_table(
    runs: Sequence[Mapping[str, str]],
    specs: Mapping[str, Mapping[str, Any]],
    accuracy: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The zoo table of (model, dataset) runs: each {model, dataset, encoding, features}
    (the encoding CSV and the features store of the dataset's stimulus set); `specs` are the
    models' config entries (defaults filled), `accuracy` the task-accuracy table."""
    accuracy = accuracy if accuracy is not None else pd.DataFrame()
    rows, nets = [], {}
    for run in runs:
        model = run["model"]
        spec = specs[model]
        logger.info("%s on %s", model, run["dataset"])
        encoding = pd.read_csv(run["encoding"])
        if model not in nets:
            nets[model] = architecture(spec)
        rows.append(
            zoo_row(
                model,
                run["dataset"],
                spec,
                encoding,
                run["features"],
                accuracy,
                nets.get(model),
            )
        )
    table = pd.DataFrame(rows)
    twins = random_twins(specs)
    table["random_twin"] = [twins.get(m, "") for m in table["model"]]
    return table


def write_zoo_table(
    runs: Sequence[Mapping[str, str]],
    specs: Mapping[str, Mapping[str, Any]],
    accuracy_csv: str | None,
    out: str,
) -> pd.DataFrame:
    """Rule zoo_table: the zoo table of every (model, dataset) run, written atomically."""
    from brainreps import io

    accuracy = pd.read_csv(accuracy_csv) if accuracy_csv else pd.DataFrame()
    table = zoo_table(runs, specs, accuracy)
    with io.atomic_path(out) as tmp:
        table.to_csv(tmp, index=False)
    return table
