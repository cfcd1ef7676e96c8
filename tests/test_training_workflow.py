"""The training stage in the workflow: checkpoint models from the config, the default run's
accuracy and learning-dynamics outputs, and the accuracy of pretrained classifiers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
import xarray as xr
from helpers import default_config

from brainreps.config import ConfigError, validate_config
from brainreps.io import read_store, write_store


def test_every_saved_epoch_becomes_a_model():
    config = validate_config(default_config())
    models = config["models"]
    expected = {f"convnet_e{e}" for e in (0, 1, 2, 5, 10)} | {
        "convnet-shuffled_e0",
        "convnet-shuffled_e40",
    }
    assert expected <= set(models)
    last = models["convnet_e10"]
    assert last["weights_file"] == "results/training/convnet/checkpoints/epoch_0010.pt"
    assert last["arch"] == "brainreps/convnet" and last["input_size"] == 32
    assert last["stimuli"] == ["embedded"] and last["checkpoint"] == {"run": "convnet", "epoch": 10}
    assert last["figures"] and not models["convnet_e5"]["figures"]
    # validating the validated config changes nothing (the Snakefile may see it twice)
    assert validate_config(config)["models"] == models


def test_a_model_may_name_a_checkpoint_and_override_its_layers():
    config = default_config()
    config["models"]["mine"] = {"checkpoint": {"run": "convnet", "epoch": 5}, "layers": ["fc"]}
    mine = validate_config(config)["models"]["mine"]
    assert mine["weights_file"].endswith("convnet/checkpoints/epoch_0005.pt")
    assert mine["layers"] == ["fc"] and mine["arch"] == "brainreps/convnet"
    config["models"]["mine"]["weights"] = "default"
    with pytest.raises(ConfigError, match="models.mine: a checkpoint model takes no `weights`"):
        validate_config(config)


@pytest.mark.slow
def test_the_default_run_trains_and_draws_the_learning_dynamics(default_run):
    results = default_run / "results"
    acc = pd.read_csv(results / "accuracy.csv").set_index(["model", "split"])
    chance = 1 / 14
    assert acc.loc[("convnet_e0", "test"), "top1"] == pytest.approx(chance, abs=0.03)
    assert acc.loc[("convnet_e10", "test"), "top1"] > 0.45  # well above chance
    assert acc.loc[("convnet-shuffled_e40", "train"), "top1"] > 0.85  # fits random labels
    assert acc.loc[("convnet-shuffled_e40", "test"), "top1"] < 0.15  # and generalises not
    layers = pd.read_csv(results / "training/dynamics_layers.csv")
    assert set(zip(layers["run"], layers["epoch"], strict=True)) >= {
        ("convnet", 10),
        ("convnet", 0),
    }
    assert layers.groupby(["run", "epoch"])["last_hidden"].sum().eq(1).all()
    pred = pd.read_csv(results / "training/dynamics_predictivity.csv")
    assert set(pred["area"]) == {"VISp", "VISl"} and pred["best_median_score"].notna().all()
    for name in ("accuracy", "dimension_depth", "dimension_accuracy", "predictivity_simulated",
                 "convnet_layer_matrices", "convnet_sparseness"):  # fmt: skip
        assert (results / f"figures/training/{name}.png").stat().st_size > 10_000
    store = read_store(results / "training/convnet/accuracy.zarr", "training")
    assert list(store["checkpoint"].values) == [0, 1, 2, 5, 10]
    assert (results / "features/convnet_e10/embedded.zarr").is_dir()


def test_pretrained_accuracy_on_an_imagenet_subset(tmp_path, monkeypatch):
    """A 'pretrained' resnet18 (from a pre-filled cache) that always answers class 281 (tabby
    cat) scores top-1 = the share of tabby images, top-5 the share among its five best."""
    from brainreps.training.pipeline import pretrained_accuracy

    weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path))
    state = torchvision.models.resnet18(weights=None).state_dict()
    state["fc.weight"] = torch.zeros_like(state["fc.weight"])
    state["fc.bias"] = torch.zeros_like(state["fc.bias"])
    state["fc.bias"][[281, 1, 2, 3, 4]] = torch.tensor([5.0, 4.0, 3.0, 2.0, 1.0])
    (tmp_path / "checkpoints").mkdir()
    torch.save(state, tmp_path / "checkpoints" / weights.url.rsplit("/", 1)[-1])
    labels = ["n02123045"] * 3 + ["n01443537"] * 2 + ["n01440764"] * 5  # 281, 1, 0
    rng = np.random.default_rng(0)
    stimuli = xr.Dataset(
        {
            "pixels": (
                ("stimulus", "y", "x", "channel"),
                rng.integers(0, 255, (10, 40, 40, 3), np.uint8),
            )
        },
        coords={"stimulus": [f"s{i}" for i in range(10)], "label": ("stimulus", labels)},
    )
    write_store(stimuli, tmp_path / "in.zarr", kind="stimuli")
    table = pretrained_accuracy(
        {"arch": "resnet18", "weights": "IMAGENET1K_V1", "input_size": 32},
        tmp_path / "in.zarr", "resnet18", "toy", tmp_path / "acc.csv", device="cpu",
    )  # fmt: skip
    assert table.loc[0, "top1"] == pytest.approx(0.3)
    assert table.loc[0, "top5"] == pytest.approx(0.5)
    assert pd.read_csv(tmp_path / "acc.csv").loc[0, "n_images"] == 10
