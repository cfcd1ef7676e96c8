"""Feature extraction: hooks vs torchvision's feature extractor, determinism, streaming, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import zarr
from torchvision.models.feature_extraction import create_feature_extractor

from brainreps import io
from brainreps.features import extract_features, iter_layer_blocks
from brainreps.models import load_model

LAYERS = ["bn1", "layer1.0.conv2", "layer2", "avgpool"]


@pytest.fixture(scope="module")
def resnet():
    return load_model("resnet18", input_size=32, seed=0)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, (10, 40, 36), dtype=np.uint8)


@pytest.fixture(scope="module")
def store(resnet, images, tmp_path_factory):
    model, pre = resnet
    path = tmp_path_factory.mktemp("features") / "f.zarr"
    ids = [f"img{i}" for i in range(len(images))]
    return extract_features(
        model, pre, images, LAYERS, path, batch_size=4, stimulus_ids=ids, device="cpu"
    )


def _acts(path, group):
    return io.read_store(path, "features", group=group, load=True)["activations"].values


def test_groups_in_forward_order_with_input_and_output(store, resnet, images):
    model, pre = resnet
    assert io.store_groups(store) == ["pixels", *LAYERS, "output"]
    x = pre(images)
    np.testing.assert_array_equal(_acts(store, "pixels"), x.flatten(1).numpy())
    with torch.inference_mode():
        logits = model(x)
    np.testing.assert_allclose(_acts(store, "output"), logits.numpy(), rtol=1e-5, atol=1e-5)
    ds = io.read_store(store, "features", group="layer2")
    assert list(ds["stimulus"].values) == [f"img{i}" for i in range(10)]
    assert ds["activations"].shape == (10, 128 * 4 * 4)
    assert ds["activations"].attrs["shape"] == [128, 4, 4]  # per stimulus, before flattening
    assert io.read_store(store, "features", group="pixels")["activations"].attrs["shape"] == [
        3,
        32,
        32,
    ]


def test_hooks_equal_torchvision_feature_extractor_and_truncated_model(store, resnet, images):
    model, pre = resnet
    x = pre(images)
    names = ["layer1.0.conv2", "layer2", "avgpool"]
    extractor = create_feature_extractor(model, return_nodes=names)
    with torch.inference_mode():
        ref = extractor(x)
        # bn1 is followed by an in-place ReLU: the stored copy must be the pre-ReLU output
        trunc = torch.nn.Sequential(model.conv1, model.bn1)(x)
    for name in names:
        np.testing.assert_allclose(
            _acts(store, name), ref[name].flatten(1).numpy(), rtol=1e-5, atol=1e-6
        )
    bn1 = _acts(store, "bn1")
    np.testing.assert_allclose(bn1, trunc.flatten(1).numpy(), rtol=1e-5, atol=1e-6)
    assert bn1.min() < 0


def test_deterministic_and_batch_size_independent(store, resnet, images, tmp_path):
    model, pre = resnet
    ids = [f"img{i}" for i in range(len(images))]
    again = extract_features(
        model, pre, images, LAYERS, tmp_path / "a.zarr", batch_size=4, stimulus_ids=ids
    )
    for g in io.store_groups(store):
        a, b = _acts(store, g), _acts(again, g)
        assert a.tobytes() == b.tobytes()  # same input, seed, batch size: identical bytes
    other = extract_features(model, pre, images, LAYERS, tmp_path / "b.zarr", batch_size=3)
    for g in io.store_groups(store):
        # other batch sizes may change summation order in the convolutions: equal to float eps
        np.testing.assert_allclose(_acts(other, g), _acts(store, g), rtol=1e-5, atol=1e-5)
    # a fresh model with the same seed gives the same features
    model2, pre2 = load_model("resnet18", input_size=32, seed=0)
    third = extract_features(model2, pre2, images, ["layer2"], tmp_path / "c.zarr", batch_size=4)
    assert _acts(third, "layer2").tobytes() == _acts(store, "layer2").tobytes()


def test_float16_store(resnet, images, store, tmp_path):
    model, pre = resnet
    half = extract_features(
        model, pre, images, ["layer2"], tmp_path / "h.zarr", batch_size=4, dtype="float16"
    )
    a = _acts(half, "layer2")
    assert a.dtype == np.float16
    ref = _acts(store, "layer2")
    np.testing.assert_allclose(a.astype(np.float32), ref, rtol=2e-3, atol=2e-3)


class _LazyImages:
    """An image array that records which rows were read (streaming input)."""

    def __init__(self, data):
        self.data = data
        self.shape = data.shape
        self.dtype = data.dtype
        self.reads = []

    def __getitem__(self, index):
        part = self.data[index]
        self.reads.append(part.shape[0])
        return part


def test_streams_batch_by_batch(resnet, images, tmp_path):
    model, pre = resnet
    lazy = _LazyImages(images)
    out = extract_features(model, pre, lazy, ["layer3"], tmp_path / "s.zarr", batch_size=4)
    assert lazy.reads == [4, 4, 2]  # never more than one batch of images read at once
    arr = zarr.open_group(str(out), mode="r")["layer3"]["activations"]
    assert arr.chunks[0] == 4  # one chunk of rows per batch
    blocks = list(iter_layer_blocks(out, "layer3", columns=300))
    assert [b.shape[1] for b in blocks] == [300, 300, 300, 124]
    np.testing.assert_array_equal(np.concatenate(blocks, axis=1), _acts(out, "layer3"))


def test_failure_leaves_nothing(resnet, images, tmp_path):
    model, pre = resnet
    calls = []

    def failing(module, args, output):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom in batch 2")

    handle = model.layer4.register_forward_hook(failing)
    try:
        with pytest.raises(RuntimeError, match="boom"):
            extract_features(model, pre, images, ["layer3"], tmp_path / "x.zarr", batch_size=4)
    finally:
        handle.remove()
    assert list(tmp_path.iterdir()) == []


def test_bad_input_errors(resnet, tmp_path):
    model, pre = resnet
    ragged = [np.zeros((32, 32), np.uint8), np.zeros((32, 32), np.uint8), np.zeros((30, 32))]
    with pytest.raises(ValueError, match=r"inconsistent size.*image 2 has shape \(30, 32\)"):
        extract_features(model, pre, ragged, ["layer1"], tmp_path / "r.zarr")
    good = np.zeros((2, 32, 32), np.uint8)
    with pytest.raises(ValueError, match=r"unknown layer 'layer9'.*closest: layer"):
        extract_features(model, pre, good, ["layer9"], tmp_path / "r.zarr")
    with pytest.raises(ValueError, match="shape"):
        extract_features(model, pre, np.zeros((32, 32), np.uint8), ["layer1"], tmp_path / "r.zarr")
    with pytest.raises(ValueError, match="dtype"):
        extract_features(model, pre, good, ["layer1"], tmp_path / "r.zarr", dtype="int8")
    assert not (tmp_path / "r.zarr").exists()


def test_cli_layers_features_project(tmp_path, capsys):
    from brainreps.cli import main

    assert main(["layers", "alexnet", "--input-size", "64", "--kind", "leaves"]) == 0
    listed = [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()]
    assert listed[:3] == ["features.0", "features.1", "features.2"] and listed[-1] == "classifier.6"
    images = np.random.default_rng(0).integers(0, 256, (6, 36, 36, 3), dtype=np.uint8)
    np.save(tmp_path / "im.npy", images)
    args = ["features", "--stimuli", str(tmp_path / "im.npy"), "--model", "resnet18"]
    args += ["--input-size", "32", "--pattern", "^layer[34]$", "--out", str(tmp_path / "f.zarr")]
    assert main(args) == 0
    assert io.store_groups(tmp_path / "f.zarr") == ["pixels", "layer3", "layer4", "output"]
    assert main(["project", str(tmp_path / "f.zarr"), "--out", str(tmp_path / "p.zarr")]) == 0
    assert io.store_groups(tmp_path / "p.zarr") == ["pixels", "layer3", "layer4", "output"]
    bad = ["features", "--stimuli", str(tmp_path / "im.npy"), "--model", "resnet18"]
    bad += ["--layers", "layer7", "--out", str(tmp_path / "g.zarr")]
    assert main(bad) == 2
    assert "unknown layer 'layer7'" in capsys.readouterr().err
    assert not (tmp_path / "g.zarr").exists()
