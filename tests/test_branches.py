"""Inception branches as layers: exact concatenation, selection, errors, paper deviations."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torchvision

from brainreps import branches, io
from brainreps.config import fill_defaults
from brainreps.features import extract_model_features
from brainreps.models import list_layers, model_from_spec, spec_layers

MODULES = ["inception4c", "inception4d"]
pytestmark = pytest.mark.filterwarnings("ignore:The default weight initialization:FutureWarning")


def _googlenet(**extra):
    spec = {"arch": "googlenet", "input_size": 32, "layers": ["conv3"], "branches": MODULES}
    spec = fill_defaults("models#model", {**spec, **extra}, "model")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torchvision's init_weights notice
        return model_from_spec(spec), spec


@pytest.fixture(scope="module")
def stimuli(tmp_path_factory):
    from brainreps.data.embedded import embedded_stimuli

    path = tmp_path_factory.mktemp("stimuli") / "s.zarr"
    io.write_store(embedded_stimuli(8, 32, 0), path, kind="stimuli")
    return path


@pytest.fixture(scope="module")
def store(stimuli, tmp_path_factory):
    (_, spec) = _googlenet()
    path = tmp_path_factory.mktemp("features") / "f.zarr"
    return extract_model_features(stimuli, path, spec, device="cpu")


def _acts(path, group):
    ds = io.read_store(path, "features", group=group, load=True)["activations"]
    return ds.values.reshape(ds.shape[0], *ds.attrs["shape"])


def test_branch_layers_concatenated_equal_the_module_output(store):
    for module in MODULES:
        parts = [_acts(store, f"{module}.{b}") for b in ("1x1", "3x3", "5x5", "pool")]
        whole = _acts(store, module)
        assert sum(p.shape[1] for p in parts) == whole.shape[1] == (512 if "4c" in module else 528)
        np.testing.assert_array_equal(np.concatenate(parts, axis=1), whole)


def test_the_store_holds_each_module_input_branches_and_output_in_forward_order(store):
    assert io.store_groups(store) == [
        "pixels", "conv3", "inception4b",  # inception4c's input
        "inception4c", "inception4c.1x1", "inception4c.3x3", "inception4c.5x5", "inception4c.pool",
        "inception4d", "inception4d.1x1", "inception4d.3x3", "inception4d.5x5", "inception4d.pool",
        "output",
    ]  # fmt: skip
    # the 1x1 branch of inception4c has 128 channels, the '5x5' 64 (Table 1)
    assert _acts(store, "inception4c.1x1").shape[1] == 128
    assert _acts(store, "inception4c.5x5").shape[1] == 64


def test_exposing_branches_leaves_the_network_unchanged():
    (model, pre), _ = _googlenet()
    plain = torchvision.models.googlenet(weights=None, init_weights=True, aux_logits=False)
    plain.load_state_dict(
        {k: v for k, v in model.state_dict().items() if not k.startswith("aux")}, strict=True
    )
    x = pre(np.random.default_rng(0).integers(0, 256, (3, 32, 32), dtype=np.uint8))
    with torch.inference_mode():
        np.testing.assert_array_equal(model(x).numpy(), plain.eval()(x).numpy())


def test_inception_v3_branches_concatenate_to_the_module():
    (model, pre), spec = _googlenet(
        arch="inception_v3", input_size=80, layers=["Mixed_5c"], branches=["Mixed_5b", "Mixed_7c"]
    )
    layers = spec_layers(model, spec)
    assert layers[:6] == ["maxpool2", "Mixed_5b", "Mixed_5b.1x1", "Mixed_5b.5x5",
                          "Mixed_5b.3x3dbl", "Mixed_5b.pool"]  # fmt: skip
    outs = {}
    modules = dict(model.named_modules())
    hooks = [
        modules[n].register_forward_hook(lambda m, a, o, n=n: outs.__setitem__(n, o.clone()))
        for n in layers
    ]
    x = pre(np.random.default_rng(1).integers(0, 256, (2, 80, 80), dtype=np.uint8))
    with torch.inference_mode():
        model(x)
    for h in hooks:
        h.remove()
    for module in ("Mixed_5b", "Mixed_7c"):
        parts = [outs[n] for n in layers if n.startswith(module + ".")]
        assert len(parts) == 4
        torch.testing.assert_close(torch.cat(parts, 1), outs[module], rtol=0, atol=0)


def test_a_branch_name_that_does_not_exist_lists_the_valid_ones():
    with pytest.raises(branches.BranchError) as err:
        _googlenet(branches=["inception4x"])
    message = str(err.value)
    assert "'inception4x'" in message
    assert "inception3a, inception3b, inception4a" in message and "inception5b" in message
    (model, _), spec = _googlenet(layers=["inception4c.7x7"])
    with pytest.raises(ValueError, match=r"unknown layer 'inception4c\.7x7' \(closest: incep"):
        spec_layers(model, spec)


def test_the_paper_notes_are_what_the_modules_show():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        googlenet = torchvision.models.googlenet(weights=None, init_weights=False)
    found = branches.googlenet_deviations(googlenet)
    assert found == list(branches.PAPER_NOTES["googlenet"])
    assert found[0].startswith("the '5x5' branch is 1x1 -> 3x3")
    assert "maxpool4 is 2x2/2 (paper: 3x3/2)" in found
    assert found[-1] == "branch widths as in Table 1"  # all nine modules, six widths each
    v3 = torchvision.models.inception_v3(weights=None, init_weights=False)
    assert branches.inception_v3_deviations(v3) == list(branches.PAPER_NOTES["inception_v3"])
    assert branches.paper_note("resnet18") == ""


def test_module_borders_in_the_figure_order():
    from brainreps.plots.similarity import branch_order

    names = ["pixels", "inception4b", "inception4c", "inception4c.1x1", "inception4c.3x3",
             "inception4d", "output"]  # fmt: skip
    order, blocks = branch_order(names, ["inception4c"])
    assert order == ["pixels", "inception4b", "inception4c.1x1", "inception4c.3x3",
                     "inception4c", "inception4d", "output"]  # fmt: skip
    assert blocks == {"inception4c": (1, 4)}  # input inception4b .. output inception4c


def test_layer_listing_shows_the_branches():
    (model, _), _ = _googlenet()
    names = list_layers(model)
    i = names.index("inception4c.1x1")
    assert names[i : i + 4] == [f"inception4c.{b}" for b in ("1x1", "3x3", "5x5", "pool")]
    assert "inception4e.1x1" not in names
