"""RSA against neural RDMs from a file is RSA against the same RDMs computed from responses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from test_similarity_store import _features_store, _layers, _responses, rsa_settings

from brainreps import io
from brainreps.cli import main
from brainreps.data.images import npy_stimuli
from brainreps.data.rdms import align_to_stimuli, load_rdms, rdm_dataset, write_rdm_file
from brainreps.similarity import analysis, rdm
from brainreps.similarity.rsa import neural_rdms, rsa, rsa_against, rsa_table

ALLEN = Path(__file__).resolve().parents[2] / "shared" / "data" / "allen_rdms"


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """A features store, its similarity store, and responses read out from one of its layers."""
    folder = tmp_path_factory.mktemp("rsa")
    layers = _layers()
    features = _features_store(folder / "features.zarr", layers)
    sim = analysis.analyze_store(
        features, analysis.SimilarityParams.from_config({"twonn": {"n_bootstrap": 0}})
    )
    io.write_store(sim, folder / "similarity.zarr", kind="similarity")
    resp = _responses(layers["conv1"])
    io.write_store(resp, folder / "responses.zarr", kind="responses")
    return folder, sim, resp


def test_a_provided_rdm_gives_the_rsa_of_the_responses_it_came_from(stores, tmp_path):
    _, sim, resp = stores
    settings = rsa_settings(n_splits=5)
    direct = rsa(sim, resp, model_name="m", dataset_name="d", **settings)
    path = write_rdm_file(neural_rdms(resp, dataset_name="d", **settings), tmp_path / "d.npz")
    provided = rsa_against(sim, load_rdms(path), model_name="m", dataset_name=str(path))
    assert list(provided["group"].values) == list(direct["group"].values)
    for name in ("rsa", "normalized_rsa", "noise_ceiling", "rdm_reliability"):
        np.testing.assert_allclose(provided[name].values, direct[name].values, rtol=0, atol=1e-12)
    assert float(direct["rsa"].sel(layer="conv1", group="all")) > 0.25  # not a trivial match
    assert list(provided["n_units"].values) == list(direct["n_units"].values)
    # from a file, the groups keep their metadata: the area group knows its area
    assert str(provided["area"].sel(group="area:VISl").values) == "VISl"


def test_the_same_rdm_as_a_dissimilarity_in_another_order_gives_the_same_rsa(stores):
    _, sim, resp = stores
    ours = neural_rdms(resp, **rsa_settings(n_splits=2))
    perm = np.random.default_rng(3).permutation(ours.sizes["stimulus"])
    ids = [str(s) for s in ours["stimulus"].values[perm]]
    flipped = rdm_dataset(
        1.0 - ours["rdm"].values[:, perm][:, :, perm],
        list(ours["group"].values),
        ids,
        "dissimilarity",
        reliability=ours["rdm_reliability"].values,
    )
    a = rsa_against(sim, ours)["rsa"].values
    b = rsa_against(sim, flipped)["rsa"].values
    np.testing.assert_allclose(a, b, atol=1e-12)


def test_rsa_with_unknown_ceilings_is_not_normalised(stores):
    _, sim, resp = stores
    ours = neural_rdms(resp, **rsa_settings(n_splits=2))
    bare = rdm_dataset(
        ours["rdm"].values, list(ours["group"].values), list(ours["stimulus"].values), "similarity"
    )
    out = rsa_against(sim, bare)
    assert np.isfinite(out["rsa"].values).all() and np.isnan(out["normalized_rsa"].values).all()
    table = rsa_table(out, model="m", dataset="file")
    assert len(table) == out.sizes["layer"] * out.sizes["group"]
    assert set(table["n_units"]) == {-1} and table["noise_ceiling"].isna().all()


def test_rdm_stimulus_ids_that_do_not_match_the_model_are_refused(stores):
    _, sim, resp = stores
    ours = neural_rdms(resp, **rsa_settings(n_splits=2))
    other = ours.assign_coords(
        stimulus=[f"x{i}" for i in range(ours.sizes["stimulus"])],
        stimulus_b=[f"x{i}" for i in range(ours.sizes["stimulus"])],
    )
    with pytest.raises(rdm.SimilarityInputError, match="stimulus ids of m .* are not those of f"):
        rsa_against(sim, other, model_name="m", dataset_name="f")


def test_the_cli_gives_the_same_rsa_from_the_file_and_from_the_responses(stores, tmp_path):
    folder, _, _ = stores
    common = ["--similarity", str(folder / "similarity.zarr"), "--n-splits", "3"]
    assert main(["rsa", *common, "--responses", str(folder / "responses.zarr"),
                 "--out", str(tmp_path / "a.zarr")]) == 0  # fmt: skip
    assert main(["neural-rdms", "--responses", str(folder / "responses.zarr"), "--n-splits",
                 "3", "--stimulus-set", "fake", "--out", str(tmp_path / "r.npz")]) == 0  # fmt: skip
    assert load_rdms(tmp_path / "r.npz").attrs["stimulus_set"] == "fake"
    assert main(["rsa", *common, "--neural-rdms", str(tmp_path / "r.npz"),
                 "--out", str(tmp_path / "b.zarr"), "--csv", str(tmp_path / "b.csv")]) == 0  # fmt: skip
    a = io.read_store(tmp_path / "a.zarr", "similarity", load=True)
    b = io.read_store(tmp_path / "b.zarr", "similarity", load=True)
    np.testing.assert_allclose(b["rsa"].values, a["rsa"].values, atol=1e-12)
    np.testing.assert_allclose(b["noise_ceiling"].values, a["noise_ceiling"].values, atol=1e-12)
    assert (tmp_path / "b.csv").read_text().startswith("layer,depth,group,")


def test_the_cli_refuses_an_rdm_file_over_other_stimuli(stores, tmp_path, capsys):
    folder, _, resp = stores
    ours = neural_rdms(resp.isel(stimulus=slice(0, 20)), **rsa_settings(n_splits=2))
    write_rdm_file(ours, tmp_path / "r.npz")
    code = main(["rsa", "--similarity", str(folder / "similarity.zarr"), "--neural-rdms",
                 str(tmp_path / "r.npz"), "--out", str(tmp_path / "x.zarr")])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "stimulus ids do not match" in err and "4 stimuli of the stimuli of" in err
    assert not (tmp_path / "x.zarr").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["r.npz"]  # nothing half-written


@pytest.mark.skipif(not (ALLEN / "similarity.npz").is_file(), reason=f"{ALLEN} absent")
def test_the_pixels_of_the_allen_scenes_agree_with_the_documented_row_order():
    """The reference data's README: scenes 0-117 then the blank. The pixel correlation matrix
    of the 118 scenes correlates positively with every site's 118 x 118 block read that way
    (Spearman 0.010-0.188 over the 21 sites; scipy gives the same numbers), and about 0 with
    the rows read as blank first."""
    from scipy.stats import spearmanr

    scenes = npy_stimuli(ALLEN / "scenes_31x31.npy", key=None, labels=None, blank="none",
                         blank_value=127)  # fmt: skip
    pixels = np.corrcoef(scenes["pixels"].values.reshape(118, -1).astype(np.float64))
    sim = xr.Dataset(
        {"correlation": (("layer", "stimulus", "stimulus_b"), pixels[None])},
        coords={
            "layer": ["pixels"],
            "stimulus": scenes["stimulus"].values,
            "stimulus_b": scenes["stimulus"].values,
        },  # fmt: skip
    )
    loaded = load_rdms(ALLEN)
    rdms = align_to_stimuli(loaded, scenes["stimulus"].values, exclude=["blank"])
    out = rsa_against(sim, rdms, model_name="pixels", dataset_name="allen")
    values = out["rsa"].sel(layer="pixels").values
    above = np.triu_indices(118, 1)
    raw = np.load(ALLEN / "similarity.npz", allow_pickle=False)
    expected = [
        spearmanr(pixels[above], raw[k][:118, :118][above])[0] for k in rdms["group"].values
    ]
    np.testing.assert_allclose(values, expected, atol=1e-12)
    assert values.min() > 0.005 and 0.07 < values.mean() < 0.11 and values.max() < 0.19
    shifted = [spearmanr(pixels[above], raw[k][1:, 1:][above])[0] for k in rdms["group"].values]
    assert abs(np.mean(shifted)) < 0.02
    normalized = out["normalized_rsa"].sel(layer="pixels").values
    np.testing.assert_allclose(normalized, values / np.sqrt(rdms["rdm_reliability"].values))
