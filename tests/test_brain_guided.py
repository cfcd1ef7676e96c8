"""Brain-guided training (Li et al. 2019): the similarity loss, the target, the control, the
fitted encoding model that supplies the neural similarity, and the effect on a small problem."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge

from brainreps.config import ConfigError, validate_config
from brainreps.data.photographs import photograph_stimuli
from brainreps.encoding.fitted import EncodingModel, EncodingModelError, ridge_weights
from brainreps.training.data import labelled_split
from brainreps.training.loop import evaluate_checkpoints, train_run
from brainreps.training.neural import (
    LayerTap,
    NeuralTarget,
    fisher_z,
    layer_similarity,
    response_similarity,
    rsa,
    similarity_loss,
)

CLASSES = ["brick", "camera", "coins", "grass", "moon", "rocket"]


def test_the_loss_is_zero_at_the_target_and_its_gradient_matches_finite_differences():
    torch.manual_seed(0)
    acts = torch.randn(7, 12, dtype=torch.float64)
    target = layer_similarity(acts).detach()
    assert float(similarity_loss(layer_similarity(acts), fisher_z(target))) == pytest.approx(
        0.0, abs=1e-12
    )
    other = fisher_z(layer_similarity(torch.randn(7, 12, dtype=torch.float64))).detach()
    x = torch.randn(7, 12, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a: similarity_loss(layer_similarity(a), other), (x,))
    assert float(similarity_loss(layer_similarity(x), other).detach()) > 0.01


def test_response_similarity_is_the_cosine_of_z_scored_responses():
    rng = np.random.default_rng(0)
    r = rng.normal(size=(9, 20)) * rng.uniform(0.5, 3, 20) + rng.normal(size=20)
    z = (r - r.mean(0)) / r.std(0)
    expected = (z @ z.T) / np.outer(np.linalg.norm(z, axis=1), np.linalg.norm(z, axis=1))
    np.testing.assert_allclose(response_similarity(r), expected, atol=1e-12)


def test_the_control_target_is_shuffled():
    rng = np.random.default_rng(1)
    sim = response_similarity(rng.normal(size=(300, 40)) @ rng.normal(size=(40, 60)))
    members = np.arange(240)
    target = NeuralTarget(np.zeros((300, 4, 4), np.uint8), sim, members, np.arange(240, 300),
                          True, "toy")  # fmt: skip
    control = target.controlled(seed=0)
    block = np.ix_(members, members)
    assert rsa(control.similarity[block], sim[block]) == pytest.approx(0.0, abs=0.05)
    assert rsa(sim[block], sim[block]) == pytest.approx(1.0)
    test = np.ix_(target.test, target.test)  # held-out images keep their identity
    np.testing.assert_array_equal(control.similarity[test], sim[test])


def test_ridge_weights_equal_scikit_learn_per_unit_alpha():
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(40, 90)), rng.normal(size=(40, 3))
    alphas = np.array([0.5, 10.0, 0.5])
    W, b = ridge_weights(X, Y, alphas)
    for u, a in enumerate(alphas):
        ref = Ridge(alpha=a).fit(X, Y[:, u])
        np.testing.assert_allclose(W[:, u], ref.coef_, atol=1e-8)
        assert b[u] == pytest.approx(ref.intercept_, abs=1e-8)


def test_an_encoding_model_predicts_new_images_and_round_trips(tmp_path):
    images = photograph_stimuli(["brick", "moon"], 8, 4, 24, 0)["pixels"].values
    network = {"arch": "brainreps/convnet", "arch_params": {"widths": [4, 8]}, "weights": "none",
               "seed": 0, "input_size": 24}  # fmt: skip
    from brainreps.encoding.fitted import layer_activations
    from brainreps.models import model_from_spec
    from brainreps.projection import project

    net, pre = model_from_spec(network)
    acts = layer_activations(net, pre, images, "block2", 5)
    proj = {"method": "sparse_random_projection", "n_features": acts.shape[1],
            "n_components": 16, "density": "auto", "seed": 3}  # fmt: skip
    X = project(acts, acts.shape[1], 16, "auto", 3)
    rng = np.random.default_rng(3)
    W, b = rng.normal(size=(16, 5)), rng.normal(size=5)
    model = EncodingModel(network, "net", "sim", "block2", proj, W, b, list("abcde"),
                          ["VISp"] * 5, np.full(5, 0.9), 0.5)  # fmt: skip
    model.save(tmp_path / "m.pt")
    loaded = EncodingModel.load(tmp_path / "m.pt")
    np.testing.assert_allclose(loaded.predict(images), X @ W + b, rtol=1e-5, atol=1e-5)
    torch.save({"format": "something else"}, tmp_path / "bad.pt")
    with pytest.raises(EncodingModelError, match="is not a brainreps encoding model"):
        EncodingModel.load(tmp_path / "bad.pt")


def test_a_target_from_another_network_or_other_images_is_refused(tmp_path):
    """The neural_target rule checks the encoding model's network; a run's target must be
    over the run's own images, in order. Nothing is written on refusal."""
    from brainreps import io
    from brainreps.training.pipeline import load_target, neural_target_store

    network = {"arch": "brainreps/convnet", "arch_params": {"widths": [4, 8]}, "weights": "none",
               "seed": 0, "input_size": 24}  # fmt: skip
    proj = {"method": "sparse_random_projection", "n_features": 8 * 6 * 6,
            "n_components": 16, "density": "auto", "seed": 3}  # fmt: skip
    rng = np.random.default_rng(3)
    EncodingModel(network, "net", "sim", "block2", proj, rng.normal(size=(16, 3)),
                  rng.normal(size=3), list("abc"), ["VISp"] * 3, np.full(3, 0.9),
                  0.5).save(tmp_path / "m.pt")  # fmt: skip
    io.write_store(photograph_stimuli(["brick", "moon"], 8, 4, 24, 0), tmp_path / "s.zarr",
                   kind="stimuli")  # fmt: skip
    with pytest.raises(
        EncodingModelError, match="was fitted on brainreps/convnet features, not on alexnet"
    ):
        neural_target_store(tmp_path / "m.pt", tmp_path / "s.zarr", tmp_path / "t.zarr", "alexnet")
    assert not (tmp_path / "t.zarr").exists()
    neural_target_store(tmp_path / "m.pt", tmp_path / "s.zarr", tmp_path / "t.zarr")
    assert io.read_store(tmp_path / "t.zarr", "neural_target")["predicted"].shape == (24, 3)
    io.write_store(photograph_stimuli(["brick", "moon"], 6, 4, 24, 0), tmp_path / "o.zarr",
                   kind="stimuli")  # fmt: skip
    settings = {"neural_similarity": {"source": "encoding", "encoding": {"areas": None}}}
    with pytest.raises(ValueError, match="its stimuli are not those of .*o.zarr"):
        load_target(settings, None, tmp_path / "o.zarr", tmp_path / "t.zarr")


def test_a_layer_that_does_not_exist_lists_the_valid_ones():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
    with pytest.raises(
        ValueError, match=r"\['block9'\] are not layers of the network; its layers: 0, 1"
    ):
        LayerTap(net, ["block9"])


def test_bad_brain_guided_settings_name_the_key():
    from helpers import default_config

    config = default_config()
    config["training"]["convnet-brain"]["neural_similarity"]["lambda"] = -1
    with pytest.raises(
        ConfigError, match="neural_similarity.lambda: -1 is less than the minimum of 0"
    ):
        validate_config(config)
    config = default_config()
    config["training"]["convnet-brain"]["neural_similarity"]["encoding"]["model"] = "vgg"
    with pytest.raises(ConfigError, match="neural_similarity.encoding.model: no model 'vgg'"):
        validate_config(config)


@pytest.fixture(scope="module")
def teacher_problem():
    """A small labelled set and a target similarity no random network has: a fixed random
    'teacher' network's block-2 similarity of the same images."""
    stimuli = photograph_stimuli(CLASSES, 40, 20, 24, seed=0)
    split = labelled_split(stimuli, "toy", 0.2, 0)
    from brainreps.encoding.fitted import layer_activations
    from brainreps.models import load_model

    teacher, pre = load_model("brainreps/convnet", seed=99, input_size=24, num_classes=6,
                              arch_params={"widths": [8, 16, 32]})  # fmt: skip
    responses = layer_activations(teacher, pre, split.images, "block3", 64)
    target = NeuralTarget(split.images, response_similarity(responses), split.train, split.test,
                          True, "teacher")  # fmt: skip
    return split, target


def _held_out_rsa(split, target, weight, tmp_path) -> float:
    settings = {"arch": "brainreps/convnet", "arch_params": {"widths": [8, 16, 32]},
                "stimuli": "toy", "epochs": [0, 6], "threads": 1,
                "augmentation": {"crop_padding": 0, "flip": False},
                "neural_similarity": {"source": "encoding", "layers": ["block3"],
                                      "lambda": weight}}  # fmt: skip
    work = train_run(split, settings, tmp_path / f"w{weight}", target=target)
    return evaluate_checkpoints(split, settings, work, "toy", target)[6]["rsa"]


def test_regularised_training_raises_the_held_out_rsa_with_the_target(teacher_problem, tmp_path):
    split, target = teacher_problem
    baseline = _held_out_rsa(split, target, 0.0, tmp_path)
    regularised = _held_out_rsa(split, target, 5.0, tmp_path)
    assert regularised > baseline + 0.1, (baseline, regularised)


def test_measured_rdms_are_a_target_over_their_own_images(tmp_path):
    import xarray as xr

    from brainreps.data.rdms import RDMFileError, align_to_stimuli, load_rdms, write_rdm_file
    from brainreps.io import write_store
    from brainreps.training.pipeline import load_target

    rng = np.random.default_rng(4)
    n = 12
    ids = [f"s{i}" for i in range(n)]
    stimuli = xr.Dataset(
        {"pixels": (("stimulus", "y", "x"), rng.integers(0, 255, (n, 16, 16), np.uint8))},
        coords={"stimulus": ids},
    )
    sims = np.stack([response_similarity(rng.normal(size=(n, 30))) for _ in range(2)])
    rdms = xr.Dataset(
        {"rdm": (("group", "stimulus", "stimulus_b"), sims)},
        coords={"group": ["VISp", "VISl"], "stimulus": ids, "stimulus_b": ids},
        attrs={"kind": "similarity"},
    )
    write_rdm_file(rdms, tmp_path / "rdms.npz")
    # what the neural_rdms rule writes: the file's matrices in the stimulus set's order
    shuffled = ids[::-1]
    aligned = align_to_stimuli(load_rdms(tmp_path / "rdms.npz"), shuffled)
    write_store(stimuli.sel(stimulus=shuffled), tmp_path / "scenes.zarr", kind="stimuli")
    write_store(aligned, tmp_path / "rdms.zarr", kind="rdms")
    ns = {"source": "rdms", "dataset": "allen", "groups": ["VISl"], "layers": ["block3"],
          "lambda": 1.0, "control": "none", "batch_size": 8, "test_fraction": 0.25}  # fmt: skip
    settings = {"neural_similarity": ns, "seed": 0}
    target = load_target(settings, None, None, [tmp_path / "rdms.zarr", tmp_path / "scenes.zarr"])
    np.testing.assert_allclose(target.similarity, sims[1][::-1, ::-1])
    np.testing.assert_array_equal(target.images, stimuli["pixels"].values[::-1])
    assert not target.same_images and target.test.size == 3 and target.train.size == 9
    other = stimuli.assign_coords(stimulus=[f"x{i}" for i in range(n)])
    write_store(other, tmp_path / "other.zarr", kind="stimuli")
    with pytest.raises(RDMFileError, match="stimulus ids do not match"):
        align_to_stimuli(load_rdms(tmp_path / "rdms.npz"), [f"x{i}" for i in range(n)])
    with pytest.raises(ValueError, match="its stimuli are not those of .*other.zarr"):
        load_target(settings, None, None, [tmp_path / "rdms.zarr", tmp_path / "other.zarr"])
