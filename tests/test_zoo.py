"""The zoo: depth of known networks, the table against the model, twins, the config shortcut."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
from helpers import default_config

from brainreps import io
from brainreps.config import ConfigError, definition_defaults, fill_defaults, validate_config
from brainreps.config_expand import zoo_model_name, zoo_models
from brainreps.features import extract_model_features
from brainreps.models import load_model
from brainreps.zoo import random_twins, weight_depth, zoo_table


@pytest.mark.parametrize(
    ("arch", "size", "depth"),
    [("alexnet", 64, 8), ("resnet18", 32, 18), ("googlenet", 32, 22)],
)
def test_depth_is_the_published_count_of_weight_layers(arch, size, depth):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model, _ = load_model(arch, input_size=size)
    assert weight_depth(model, size)[0] == depth  # GoogLeNet: 22, as Szegedy et al. count


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A resnet18 features store on 6 images and a synthetic encoding table of two areas."""
    from brainreps.data.embedded import embedded_stimuli

    tmp = tmp_path_factory.mktemp("zoo")
    io.write_store(embedded_stimuli(6, 32, 0), tmp / "s.zarr", kind="stimuli")
    spec = fill_defaults(
        "models#model",
        {"arch": "resnet18", "input_size": 32, "layers": ["layer1", "layer3", "avgpool"]},
    )
    extract_model_features(tmp / "s.zarr", tmp / "f.zarr", spec, device="cpu")
    layers = ["pixels", "layer1", "layer3", "avgpool", "output"]
    rows = []
    for u in range(8):
        for i, layer in enumerate(layers):
            score = 0.1 * (i == 2) + 0.01 * u + (0.05 if u % 2 else 0.0)  # layer3 best
            rows.append({"unit": f"u{u}", "layer": layer, "area": "VISp" if u % 2 else "VISl",
                         "r2": score, "normalized_score": score})  # fmt: skip
    pd.DataFrame(rows).to_csv(tmp / "e.csv", index=False)
    return {"model": "resnet18", "dataset": "sim", "encoding": str(tmp / "e.csv"),
            "features": str(tmp / "f.zarr")}, spec  # fmt: skip


def test_the_table_depth_and_feature_counts_match_the_model(run):
    entry, spec = run
    table = zoo_table([entry], {"resnet18": spec})
    row = table.iloc[0]
    model, pre = load_model("resnet18", input_size=32)
    shapes = {}
    modules = dict(model.named_modules())
    for name in ("layer1", "layer3", "avgpool"):
        modules[name].register_forward_hook(
            lambda m, a, o, name=name: shapes.__setitem__(name, o[0].numel())
        )
    with torch.inference_mode():
        out = model(torch.zeros(1, 3, 32, 32))
    expected = {"pixels": 3 * 32 * 32, **shapes, "output": out[0].numel()}
    assert json.loads(row["features_per_layer"]) == expected
    assert expected["layer1"] == 64 * 8 * 8 and expected["avgpool"] == 512
    convs = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert row["n_weight_layers"] == len(convs) == 21  # 17 + 3 shortcut convs + fc
    assert row["depth"] == 18 and row["n_layers_stored"] == 3
    # layer3: conv1 + layer1..layer3 (2 blocks x 2 convs each) = 13 weight layers deep
    assert row["best_layer"] == "layer3" and row["best_layer_depth"] == 13
    assert row["best_relative_depth"] == pytest.approx(13 / 18)
    assert row["best_layer_features"] == 256 * 2 * 2
    assert row["best_median_score"] == pytest.approx(np.median(0.1 + 0.01 * np.arange(8)
                                                               + 0.05 * (np.arange(8) % 2)))  # fmt: skip
    assert row["score_VISp"] == pytest.approx(0.1 + 0.05 + 0.01 * 4)  # units 1, 3, 5, 7
    assert row["n_units_VISl"] == 4 and np.isnan(row["accuracy"])


def test_accuracy_comes_from_the_accuracy_table(run):
    entry, spec = run
    accuracy = pd.DataFrame([
        {"model": "resnet18", "run": None, "epoch": None, "stimuli": "nette", "split": "all",
         "labels": "given", "n_images": 50, "top1": 0.7, "top5": 0.9, "loss": 1.0},
    ])  # fmt: skip
    row = zoo_table([entry], {"resnet18": spec}, accuracy).iloc[0]
    assert row["accuracy"] == 0.7 and row["accuracy_on"] == "nette all (n=50)"


def test_random_twins():
    specs = {
        "net_e0": {"arch": "brainreps/convnet", "checkpoint": {"run": "net", "epoch": 0}},
        "net_e5": {"arch": "brainreps/convnet", "checkpoint": {"run": "net", "epoch": 5}},
        "r50": {"arch": "resnet50", "weights": "default"},
        "r50_random": {"arch": "resnet50", "weights": "none"},
        "alexnet": {"arch": "alexnet", "weights": "default"},  # no random twin
    }
    assert random_twins(specs) == {"net_e5": "net_e0", "r50": "r50_random"}


def test_the_zoo_shortcut_expands_into_models():
    assert zoo_model_name("googlenet", "none") == "googlenet_random"
    assert zoo_model_name("timm/vit_small_patch16_224.augreg_in21k", "IMAGENET1K_V1") == (
        "timm-vit_small_patch16_224-augreg_in21k_imagenet1k_v1"
    )
    config = default_config()
    config["zoo"] = {
        "architectures": ["alexnet", {"arch": "vgg11", "weights": "default", "batch_size": 4}],
        "weights": ["none", "default"],
        "settings": {"stimuli": "embedded", "batch_size": 16, "input_size": 64},
    }
    config["textures"]["models"] = ["alexnet_random"]  # a zoo model
    models = validate_config(config)["models"]
    assert {"alexnet_random", "alexnet_pretrained", "vgg11_pretrained"} <= set(models)
    assert "vgg11_random" not in models  # its entry picks one form
    assert models["alexnet_pretrained"]["weights"] == "default"
    assert models["alexnet_random"]["batch_size"] == 16  # the shared setting
    assert models["vgg11_pretrained"]["batch_size"] == 4  # its own over the shared one
    assert models["alexnet_random"]["layers"] == definition_defaults("models#model")["layers"]
    assert zoo_models({}, {}) == {}


def test_a_zoo_name_taken_twice_is_an_error():
    config = default_config()
    config["models"]["googlenet_random"] = dict(config["models"]["alexnet"], arch="googlenet")
    assert (
        validate_config(config)["models"]["googlenet_random"]["layers"]
        == (config["models"]["alexnet"]["layers"])
    )  # the same architecture and weights: the user's own entry is the zoo's model
    config["models"]["googlenet_random"]["weights"] = "default"
    with pytest.raises(ConfigError, match="zoo's model 'googlenet_random' is defined twice"):
        validate_config(config)


def test_zoo_figures_print_the_rank_correlation_and_n():
    from brainreps.plots import zoo as plots
    from brainreps.plots.style import rank_correlation

    table = pd.DataFrame({
        "model": ["a", "b", "c", "d", "a0"], "dataset": "sim",
        "form": ["trained", "pretrained", "random", "trained", "random"],
        "depth": [8, 18, 22, 11, 8], "best_layer_features": [100, 1000, 50, 200, 100],
        "best_median_score": [0.3, 0.5, 0.2, 0.4, 0.1], "score": "normalized_score",
        "accuracy": [0.6, 0.8, np.nan, 0.7, np.nan], "accuracy_on": "x",
        "random_twin": ["a0", "", "", "", ""],
    })  # fmt: skip
    fig = plots.predictivity_vs_accuracy(table, {}, "t")
    r, n = rank_correlation([0.6, 0.8, 0.7], [0.3, 0.5, 0.4])
    assert fig.axes[0].get_title() == f"sim: Spearman r = {r:.2f}, n = {n}" and n == 3
    fig = plots.trained_vs_random(table, {}, "t")
    assert fig.axes[0].get_title() == "sim: trained > random init in 1 of n = 1 pairs"
    for name in ("predictivity_depth", "predictivity_features"):
        fig = plots.FIGURES[name](table, {}, "t")
        assert fig.axes[0].get_title().endswith(", n = 5")


def test_googlenet_is_not_changed_by_the_depth_trace():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model = torchvision.models.googlenet(weights=None, init_weights=True).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.inference_mode():
        before = model(x)
    depth, n_weight, per_layer = weight_depth(model, 32, ["inception3a", "inception5b"])
    with torch.inference_mode():
        torch.testing.assert_close(model(x), before, rtol=0, atol=0)
    assert (depth, n_weight) == (22, 58)  # 3 stem convs + 9 x 6 branch convs + fc
    assert per_layer["inception3a"] == 5 and per_layer["inception5b"] == 21
