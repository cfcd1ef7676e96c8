"""The zoo, branch, texture and sparseness-decorrelation outputs of the default run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers import run_config

from brainreps import io
from brainreps.config import validate_config

pytestmark = pytest.mark.slow  # reads the default run


def test_the_zoo_table_has_a_row_per_encoding_run(default_run):
    config = validate_config(run_config(default_run))
    table = pd.read_csv(default_run / "results" / "zoo.csv")
    models = [m for m in config["models"] if (default_run / f"results/encoding/{m}").is_dir()]
    assert sorted(table["model"]) == sorted(models) and set(table["dataset"]) == {"simulated"}
    rows = table.set_index("model")
    assert rows.loc["googlenet_random", "depth"] == 22
    assert rows.loc["resnet18", "depth"] == 18 and rows.loc["alexnet", "depth"] == 8
    widths = json.loads(rows.loc["googlenet_random", "features_per_layer"])
    features = default_run / "results/features/googlenet_random/embedded.zarr"
    assert widths == {g: int(io.read_store(features, "features", group=g)["activations"].shape[1])
                      for g in io.store_groups(features)}  # fmt: skip
    assert widths["inception4c.1x1"] == 128 * 4 * 4  # 64 px input: 4x4 maps at inception4
    # checkpoints have their held-out accuracy; the random-init torchvision models have none
    accuracy = pd.read_csv(default_run / "results" / "accuracy.csv")
    last = accuracy[(accuracy["model"] == "convnet_e10") & (accuracy["split"] == "test")]
    assert rows.loc["convnet_e10", "accuracy"] == pytest.approx(float(last["top1"].iloc[0]))
    assert np.isnan(rows.loc["resnet18", "accuracy"])
    assert rows.loc["convnet_e10", "random_twin"] == "convnet_e0"
    assert ((rows["best_relative_depth"] >= 0) & (rows["best_relative_depth"] <= 1)).all()
    for area in ("VISp", "VISl"):
        assert rows[f"score_{area}"].notna().all()
    for name in ("predictivity_accuracy", "predictivity_depth", "predictivity_features",
                 "trained_random"):  # fmt: skip
        assert (default_run / f"results/figures/zoo/{name}.png").stat().st_size > 10_000


def test_branch_and_sparseness_figures(default_run):
    base = default_run / "results/figures/similarity/googlenet_random"
    for name in ("branches", "sparseness_decorrelation", "rdms"):
        assert (base / f"embedded_{name}.png").stat().st_size > 10_000


def test_texture_classification_beats_chance(default_run):
    for model in ("googlenet_random", "convnet_e10"):
        table = pd.read_csv(default_run / f"results/textures/{model}/textures.csv")
        assert table["chance"].iloc[0] == pytest.approx(1 / 3)
        assert (table["n_train"] == 60).all() and (table["n_test"] == 60).all()
        assert table["accuracy"].max() > 0.6  # held-out crops of brick, grass and gravel
        ds = io.read_store(default_run / f"results/textures/{model}/textures.zarr", "textures")
        assert int(ds["confusion"].sel(layer=ds.attrs["best_layer"]).sum()) == 60
        for name in ("accuracy", "confusion", "grams"):
            png = default_run / f"results/figures/textures/{model}/textures_{name}.png"
            assert png.stat().st_size > 10_000
