"""Models by name, seeded random init, pretrained weights from the cache, layer selection."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision

from brainreps.models import (
    Preprocess,
    list_layers,
    load_model,
    prefetch_weights,
    select_layers,
)


@pytest.fixture(scope="module")
def resnet():
    return load_model("resnet18", input_size=32)


def test_random_init_is_seeded(resnet):
    model, _ = resnet
    same, _ = load_model("resnet18", seed=0, input_size=32)
    other, _ = load_model("resnet18", seed=1, input_size=32)
    w = model.conv1.weight
    assert torch.equal(w, same.conv1.weight)
    assert not torch.equal(w, other.conv1.weight)
    assert not model.training
    # torchvision's own constructor under the same seed gives the same weights
    torch.manual_seed(0)
    ref = torchvision.models.resnet18(weights=None)
    assert torch.equal(ref.fc.weight, model.fc.weight)


def test_preprocess_grayscale_resize_crop_normalise():
    pre = Preprocess(crop_size=8, resize_size=10)
    img = np.full((2, 20, 30), 255, dtype=np.uint8)
    x = pre(img)
    assert x.shape == (2, 3, 8, 8) and x.dtype == torch.float32
    expected = (1 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(x[0, :, 4, 4].numpy(), expected, rtol=1e-6)
    # (N, H, W, 1) and (N, H, W) give the same; RGB channels go through as channels
    torch.testing.assert_close(pre(img[..., None]), x)
    rgb = np.random.default_rng(0).integers(0, 256, (3, 12, 16, 3), dtype=np.uint8)
    y = pre(rgb)
    assert y.shape == (3, 3, 8, 8)
    # float images are taken to be in [0, 1]
    torch.testing.assert_close(pre(img.astype(np.float64) / 255), x)
    with pytest.raises(ValueError, match="channels"):
        pre(np.zeros((1, 8, 8, 2), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        pre(np.zeros((1, 8, 8), np.int16))


def test_preprocess_matches_torchvision_weights_transforms():
    weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    ours = Preprocess(224, 256)
    rgb = np.random.default_rng(1).integers(0, 256, (2, 300, 260, 3), dtype=np.uint8)
    theirs = weights.transforms()(torch.from_numpy(rgb).permute(0, 3, 1, 2))
    torch.testing.assert_close(ours(rgb), theirs)


def test_pretrained_weights_load_from_the_torch_cache(tmp_path, monkeypatch):
    """weights=IMAGENET1K_V1 goes through torchvision's download cache (pre-filled, offline)."""
    weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path))
    torch.manual_seed(123)
    fake = torchvision.models.resnet18(weights=None).state_dict()
    (tmp_path / "checkpoints").mkdir()
    torch.save(fake, tmp_path / "checkpoints" / weights.url.rsplit("/", 1)[-1])
    info = prefetch_weights("resnet18", "IMAGENET1K_V1")
    assert info["fetched"] == weights.url
    model, pre = load_model("resnet18", weights="IMAGENET1K_V1")
    assert torch.equal(model.conv1.weight, fake["conv1.weight"])
    assert (pre.crop_size, pre.resize_size) == (224, 256)
    model2, _ = load_model("resnet18", weights="default")  # DEFAULT is V1 for resnet18
    assert torch.equal(model2.fc.weight, fake["fc.weight"])
    assert prefetch_weights("resnet18", "none")["fetched"] is None
    with pytest.raises(ValueError, match="IMAGENET1K_V1"):
        load_model("resnet18", weights="IMAGENET9K")


def test_timm_model_by_name():
    model, pre = load_model("timm/resnet10t", input_size=32)
    assert pre.crop_size == 32
    layers = list_layers(model)
    assert "conv1" in layers and "fc" in layers[-3:]


def test_unknown_model_lists_closest_names():
    with pytest.raises(ValueError, match=r"unknown model 'resnet19'.*closest: resnet18"):
        load_model("resnet19")


def test_list_layers_forward_order(resnet):
    model, _ = resnet
    all_layers = list_layers(model)
    pos = {n: i for i, n in enumerate(all_layers)}
    assert pos["conv1"] < pos["layer1"] < pos["layer1.0.conv1"] < pos["layer2"] < pos["fc"]
    assert all_layers[-1] == "fc" and "" not in all_layers
    leaves, blocks = list_layers(model, "leaves"), list_layers(model, "blocks")
    assert sorted(leaves + blocks) == sorted(all_layers)
    assert "layer1" in blocks and "layer1.0.conv1" in leaves
    # a module defined but never called is left out
    model.unused = torch.nn.Linear(2, 2)
    model._brainreps_layer_order = None
    assert "unused" not in list_layers(model)
    del model.unused
    model._brainreps_layer_order = None


def test_select_layers_by_name_pattern_every(resnet):
    model, _ = resnet
    assert select_layers(model, ["layer2", "conv1"]) == ["conv1", "layer2"]  # forward order
    assert select_layers(model, {"pattern": r"^layer\d$"}) == [
        "layer1",
        "layer2",
        "layer3",
        "layer4",
    ]
    leaves = list_layers(model, "leaves")
    assert select_layers(model, {"every": 5, "of": "leaves"}) == leaves[4::5]
    assert select_layers(model, "avgpool") == ["avgpool"]


def test_unknown_layer_lists_valid_names():
    model, _ = load_model("alexnet", input_size=64)
    with pytest.raises(ValueError, match=r"unknown layer 'features\.99'.*valid layers: .*avgpool"):
        select_layers(model, ["features.99"])
    resnet, _ = load_model("resnet18", input_size=32)
    with pytest.raises(ValueError, match=r"closest: layer4.*brainreps layers resnet18"):
        select_layers(resnet, ["layer5"])
    with pytest.raises(ValueError, match="matches no"):
        select_layers(resnet, {"pattern": "^nothing$"})
    with pytest.raises(ValueError, match="must be a list"):
        select_layers(resnet, {"evry": 2})
