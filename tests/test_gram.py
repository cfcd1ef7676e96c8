"""Gram matrices and the texture classifier: exact values, streaming, synthetic textures, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainreps import io
from brainreps.features import extract_features
from brainreps.models import load_model
from brainreps.similarity import gram, textures


def test_gram_matrices_equal_a_direct_einsum():
    maps = torch.randn(5, 7, 6, 4, generator=torch.Generator().manual_seed(0))
    direct = torch.einsum("nchw,ndhw->ncd", maps, maps) / (6 * 4)
    torch.testing.assert_close(gram.gram_matrices(maps), direct, rtol=1e-6, atol=1e-6)
    packed = gram.pack(direct)
    assert packed.shape == (5, 7 * 8 // 2) and gram.n_channels_of(packed.shape[1]) == 7
    np.testing.assert_allclose(gram.unpack(packed), direct.numpy(), rtol=0, atol=1e-6)
    assert packed[0, 1] == direct[0, 0, 1]  # row by row: (0,0), (0,1), ...
    # block row by block row (the upper triangle only), as the streamed stage computes them
    for block in (1, 3, 7, 128):
        np.testing.assert_allclose(gram.packed_gram(maps, block).numpy(), packed, rtol=1e-6,
                                   atol=1e-6)  # fmt: skip


@pytest.fixture(scope="module")
def net():
    return load_model("brainreps/convnet", input_size=32, arch_params={"widths": [8, 16, 32]})


def test_streamed_grams_equal_an_einsum_of_the_stored_activations(net, tmp_path):
    model, pre = net
    images = np.random.default_rng(0).integers(0, 256, (9, 32, 32), dtype=np.uint8)
    layers = ["block1", "block2", "block3", "pool"]
    out = gram.stream_grams(model, pre, images, layers, tmp_path / "g.zarr", batch_size=4)
    # pool is a vector per image (no feature maps): left out, and said so
    assert io.store_groups(out) == ["pixels", "block1", "block2", "block3"]
    assert io.store_attrs(out)["left_out"] == '{"pool": [32]}'
    feats = extract_features(model, pre, images, layers[:3], tmp_path / "f.zarr", batch_size=4)
    for layer in ["pixels", *layers[:3]]:
        acts = io.read_store(feats, "features", group=layer, load=True)["activations"]
        maps = torch.from_numpy(acts.values.reshape(9, *acts.attrs["shape"]))
        direct = torch.einsum("nchw,ndhw->ncd", maps, maps) / np.prod(acts.attrs["shape"][1:])
        streamed = gram.unpack(gram.read_grams(out, layer))
        np.testing.assert_allclose(streamed, direct.numpy(), rtol=1e-5, atol=1e-6)


def test_layers_too_small_or_too_wide_are_left_out(net, tmp_path):
    model, pre = net
    images = np.zeros((2, 32, 32), dtype=np.uint8)
    out = gram.stream_grams(model, pre, images, ["block1", "block3"], tmp_path / "g.zarr",
                            min_positions=32, max_channels=8)  # fmt: skip
    # block1: 8 channels at 16x16; block3: 32 channels at 4x4 (16 positions < 32)
    assert io.store_groups(out) == ["pixels", "block1"]


def _textures(n: int, rho: tuple[float, float], seed: int):
    """Feature maps (2 channels, 16x16) of two classes: each channel zero mean and unit
    variance; the channels correlate with rho[0] in class 0 and rho[1] in class 1. The classes
    differ in second-order statistics only (or not at all when rho[0] == rho[1])."""
    rng = np.random.default_rng(seed)
    maps, labels = [], []
    for k, r in enumerate(rho):
        cov = np.array([[1.0, r], [r, 1.0]])
        chol = np.linalg.cholesky(cov)
        for _ in range(n):
            maps.append(chol @ rng.standard_normal((2, 256)))
            labels.append(f"class{k}")
    maps = torch.tensor(np.stack(maps), dtype=torch.float32).reshape(-1, 2, 16, 16)
    return maps, np.array(labels)


def _accuracy(maps, labels, seed=0):
    x = gram.pack(gram.gram_matrices(maps))
    y = np.array([0 if v == "class0" else 1 for v in labels])
    return textures.classify_layer(x, y, None, 2, 5, seed)


def test_the_classifier_separates_textures_differing_only_in_second_order_statistics():
    maps, labels = _textures(100, (0.6, -0.6), seed=0)
    # first-order statistics (each channel's mean and variance) do not tell the classes apart
    first = torch.cat([maps.mean((2, 3)), maps.std((2, 3))], 1).numpy()
    y = (labels == "class1").astype(int)
    first_order = textures.classify_layer(first, y, None, 2, 5, 0)["accuracy"]
    assert abs(first_order - 0.5) < 0.1  # 0.51
    result = _accuracy(maps, labels)
    assert result["accuracy"] == result["cv_accuracy"] >= 0.95  # 1.0
    assert result["confusion"].sum() == 200 and np.trace(result["confusion"]) >= 190


def test_the_classifier_fails_on_textures_that_do_not_differ():
    accuracies = [_accuracy(*_textures(100, (0.3, 0.3), seed=s))["accuracy"] for s in range(5)]
    assert abs(np.mean(accuracies) - 0.5) < 0.08  # chance, over 5 draws of 200 images
    assert max(accuracies) < 0.65


def test_held_out_split_scores_the_test_images_only():
    maps, labels = _textures(20, (0.6, -0.6), seed=1)
    y = (labels == "class1").astype(int)
    split = np.array(["train", "test"] * 20)
    result = textures.classify_layer(gram.pack(gram.gram_matrices(maps)), y, split, 2, 5, 0)
    assert result["confusion"].sum() == 20  # the 20 test images
    assert result["accuracy"] >= 0.9


def test_texture_sets_with_one_class_or_too_few_images_are_errors_naming_the_set():
    with pytest.raises(textures.TextureSetError, match=r"texture set 'bark' has 1 class"):
        textures.check_labels(["a"] * 10, 5, "bark")
    with pytest.raises(
        textures.TextureSetError,
        match=r"texture set 'bark'.*b \(3 images\).*fewer images than the 5",
    ):
        textures.check_labels(["a"] * 10 + ["b"] * 3, 5, "bark")  # fmt: skip
    assert textures.check_labels(["b", "a"] * 5, 5, "bark") == ["a", "b"]


def test_texture_analysis_of_a_photograph_set(net, tmp_path):
    from brainreps.data.photographs import photograph_stimuli

    stimuli = tmp_path / "t.zarr"
    io.write_store(photograph_stimuli(["brick", "grass", "gravel"], 10, 6, 32, 0), stimuli,
                   kind="stimuli")  # fmt: skip
    spec = {"arch": "brainreps/convnet", "arch_params": {"widths": [8, 16]}, "input_size": 32,
            "layers": ["block1", "block2"]}  # fmt: skip
    ds = textures.texture_analysis(str(stimuli), spec, {"n_folds": 5}, tmp_path / "o.zarr",
                                   tmp_path / "o.csv", name="t")  # fmt: skip
    assert list(ds["layer"].values) == ["pixels", "block1", "block2"]
    assert ds.attrs["n_train"] == 30 and ds.attrs["n_test"] == 18
    assert ds["confusion"].sum(("class", "class_b")).values.tolist() == [18, 18, 18]
    assert ds["best_gram"].shape == (3, *(2 * [{"pixels": 3, "block1": 8, "block2": 16}[
        ds.attrs["best_layer"]]]))  # fmt: skip
    assert float(ds["accuracy"].max()) > 1 / 3 + 0.2  # well above chance on held-out crops
    with pytest.raises(textures.TextureSetError, match=r"texture set 'small'.*fewer images"):
        textures.texture_analysis(str(stimuli), spec, {"n_folds": 20}, tmp_path / "p.zarr",
                                  tmp_path / "p.csv", name="small")  # fmt: skip


def test_the_textures_command(tmp_path, capsys):
    from brainreps.cli import main
    from brainreps.data.photographs import photograph_stimuli

    io.write_store(photograph_stimuli(["brick", "grass"], 6, 4, 32, 0), tmp_path / "t.zarr",
                   kind="stimuli")  # fmt: skip
    args = ["textures", "--stimuli", str(tmp_path / "t.zarr"), "--model", "brainreps/convnet",
            "--input-size", "32", "--layers", "block1", "block2", "--out", str(tmp_path / "o")]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in out[:3]] == ["pixels", "block1", "block2"]
    assert out[-1].startswith("best layer: ") and "held-out region" in out[-1]
    assert main([*args[:-2], "--out", str(tmp_path / "p"), "--n-folds", "7"]) == 2
    assert "texture set 't': class(es) brick (6 images), grass (6 images)" in (
        capsys.readouterr().err
    )
