"""The similarity stage on stores: streamed layers, store schema, RSA vs brain, CLI, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.stats import spearmanr

from brainreps import io
from brainreps.cli import main
from brainreps.similarity import analysis, rdm, rsa
from brainreps.similarity.rdm import SimilarityInputError


def rsa_settings(**overrides) -> dict:
    """rsa()'s settings: the schema defaults of similarity.rsa and similarity.seed, overridden."""
    from brainreps.config import definition_defaults

    section = definition_defaults("similarity")
    rsa_section = section["rsa"]
    settings = {
        "kinds": rsa_section["groups"],
        "depth_bins": rsa_section["depth_bins"] or None,
        "min_units": rsa_section["min_units"],
        "n_splits": rsa_section["n_splits"],
        "seed": section["seed"],
    }
    return settings | overrides


N_STIM = 24


def _ids(n=N_STIM):
    return [f"img{i:03d}" for i in range(n)]


def _layers(seed=0, n=N_STIM):
    rng = np.random.default_rng(seed)
    pixels = rng.uniform(0, 1, size=(n, 300)).astype(np.float32)
    w = rng.normal(size=(300, 500)).astype(np.float32)
    conv = np.maximum(pixels @ w, 0).astype(np.float16)
    out = (conv.astype(np.float32) @ rng.normal(size=(500, 10))).astype(np.float32)
    return {"pixels": pixels, "conv1": conv, "output": out}


def _features_store(path, layers, ids=None):
    ids = ids or _ids(next(iter(layers.values())).shape[0])
    groups = {
        name: xr.Dataset({"activations": (("stimulus", "feature"), x)}, coords={"stimulus": ids})
        for name, x in layers.items()
    }
    return io.write_store(groups, path, kind="features", params={"test": True})


def _responses(layer_x, ids=None, n_units=60, n_rep=6, seed=1):
    """A fake population whose mean responses are a noisy read-out of `layer_x`."""
    rng = np.random.default_rng(seed)
    n = layer_x.shape[0]
    w = rng.normal(size=(layer_x.shape[1], n_units))
    mean = (layer_x.astype(np.float64) @ w).T  # (unit, stimulus)
    mean = (mean - mean.mean(1, keepdims=True)) / mean.std(1, keepdims=True)
    trials = mean[:, :, None] + rng.normal(size=(n_units, n, n_rep)) * 0.8
    trials[0, 0, 0] = np.nan  # a missing repeat
    areas = np.array(["VISp", "VISl", "VISal"])[np.arange(n_units) % 3]
    return xr.Dataset(
        {
            "trial_responses": (("unit", "stimulus", "repeat"), trials),
            "mean_response": (("unit", "stimulus"), np.nanmean(trials, axis=2)),
            "split_half_reliability": (("unit",), np.full(n_units, 0.5)),
            "noise_ceiling": (("unit",), np.full(n_units, 0.6)),
        },
        coords={
            "stimulus": ids or _ids(n),
            "area": ("unit", areas),
            "depth": ("unit", np.where(np.arange(n_units) < 30, 175.0, 375.0)),
            "cre_line": ("unit", np.array(["Cux2", "Rorb"])[np.arange(n_units) % 2]),
            "container": ("unit", np.arange(n_units) // 10),
        },
    )


PARAMS = analysis.SimilarityParams.from_config(
    {"block_size": 64, "precision": "float64", "device": "cpu", "twonn": {"n_bootstrap": 20}}
)


@pytest.fixture(scope="module")
def store_and_layers(tmp_path_factory):
    layers = _layers()
    path = _features_store(tmp_path_factory.mktemp("feat") / "m.zarr", layers)
    return path, layers


@pytest.fixture(scope="module")
def sim(store_and_layers):
    path, _ = store_and_layers
    return analysis.analyze_store(path, PARAMS)


def test_store_results_equal_direct_computations(store_and_layers, sim):
    _, layers = store_and_layers
    assert list(sim["layer"].values) == ["pixels", "conv1", "output"]  # forward order
    for name, x in layers.items():
        ref = np.corrcoef(x.astype(np.float64))
        assert np.abs(sim["correlation"].sel(layer=name).values - ref).max() < 1e-6
        assert sim["fraction_nonzero"].sel(layer=name) == pytest.approx(
            np.count_nonzero(x) / x.size
        )
        assert sim["n_features"].sel(layer=name) == x.shape[1]
        assert sim["decorrelation"].sel(layer=name) == pytest.approx(
            rdm.upper_triangle(ref).mean(), abs=1e-6
        )
    tri = [rdm.upper_triangle(np.corrcoef(x.astype(np.float64))) for x in layers.values()]
    assert sim["spearman"].values[0, 2] == pytest.approx(spearmanr(tri[0], tri[2])[0], abs=1e-6)
    assert np.allclose(np.diag(sim["cka"].values), 1.0)
    # the output is 10 linear read-outs: linear dimension <= 10
    assert sim["linear_dimension"].sel(layer="output") <= 10
    assert (sim["histogram"].sum("bin").values > 0).all()


def test_store_roundtrip_and_tables(tmp_path, sim):
    out = io.write_store(sim, tmp_path / "s.zarr", kind="similarity", params={})
    back = io.read_store(out, "similarity", load=True)
    assert back["correlation"].dims == ("layer", "stimulus", "stimulus_b")
    assert back["cka"].dims == ("layer", "layer_b")
    layers = analysis.layer_table(back, model="m", stimuli="s")
    assert list(layers.columns[:4]) == ["model", "stimuli", "layer", "depth"]
    assert len(layers) == 3
    pairs = analysis.pair_table(back, model="m")
    assert len(pairs) == 9 and {"pearson", "spearman", "cka"} <= set(pairs.columns)


def test_projection_store_is_read(tmp_path):
    layers = _layers(seed=3)
    groups = {
        n: xr.Dataset({"components": (("stimulus", "component"), x)}, coords={"stimulus": _ids()})
        for n, x in layers.items()
    }
    path = io.write_store(groups, tmp_path / "p.zarr", kind="projection")
    ds = analysis.analyze_store(path, PARAMS, kind="projection", layers=["conv1"])
    ref = np.corrcoef(layers["conv1"].astype(np.float64))
    assert np.abs(ds["correlation"].isel(layer=0).values - ref).max() < 1e-6


@pytest.mark.parametrize("in_memory_mb", [512, 0])
def test_block_reading_paths_equal(tmp_path, in_memory_mb):
    """Feature-chunked, stimulus-chunked in memory, stimulus-chunked via a scratch file."""
    rng = np.random.default_rng(9)
    wide = rng.standard_normal((3, 2**20 + 3)).astype(np.float32)  # > 8 MiB: chunked on features
    tall = rng.standard_normal((30, 700)).astype(np.float32)
    path = _features_store(tmp_path / "c.zarr", {"wide": wide[:3]}, ids=_ids(3))
    path2 = tmp_path / "rows.zarr"
    groups = {
        "tall": xr.Dataset(
            {"activations": (("stimulus", "feature"), tall)}, coords={"stimulus": _ids(30)}
        )
    }
    io.write_store(groups, path2, kind="features")
    ds = io.read_store(path, "features", group="wide")
    assert ds["activations"].encoding["chunks"][1] < wide.shape[1]  # really feature-chunked
    src = analysis.store_block_source(path, "features", "wide", 100_000, in_memory_mb)
    blocks = list(src())
    assert len(blocks) > 1 and all(b.shape[0] == 3 for b in blocks)
    assert np.array_equal(np.concatenate(blocks, axis=1), wide[:3])
    src = analysis.store_block_source(path2, "features", "tall", 64, in_memory_mb)
    blocks = list(src())
    assert [b.shape[1] for b in blocks] == [64] * 10 + [60]
    assert np.array_equal(np.concatenate(blocks, axis=1), tall)


def test_constant_layer_warns_and_gives_nan(tmp_path):
    layers = _layers(seed=4)
    layers["dead"] = np.zeros((N_STIM, 40), np.float32)
    path = _features_store(tmp_path / "d.zarr", layers)
    with pytest.warns(RuntimeWarning, match="layer 'dead'"):
        ds = analysis.analyze_store(path, PARAMS)
    assert np.isnan(ds["correlation"].sel(layer="dead").values).all()
    assert np.isnan(ds["spearman"].sel(layer="dead").values).all()
    assert np.isnan(ds["decorrelation"].sel(layer="dead"))
    assert np.isnan(ds["cka"].sel(layer="dead").values).all()
    assert np.isfinite(ds["spearman"].sel(layer="conv1", layer_b="pixels"))


def test_too_few_stimuli(tmp_path):
    path = _features_store(tmp_path / "t.zarr", {"a": np.random.rand(2, 5).astype(np.float32)})
    with pytest.raises(SimilarityInputError, match="at least 3"):
        analysis.analyze_store(path, PARAMS)


def test_rsa_matches_direct_and_finds_the_source_layer(sim, store_and_layers):
    _, layers = store_and_layers
    resp = _responses(layers["conv1"])
    res = rsa.rsa(sim, resp, model_name="m", dataset_name="d", **rsa_settings(n_splits=5))
    groups = list(res["group"].values)
    assert groups[0] == "all" and "area:VISp" in groups and "cre_line:Rorb" in groups
    assert "depth:175" in groups and "depth:375" in groups
    neural = np.corrcoef(resp["mean_response"].values.T)
    ref = spearmanr(
        rdm.upper_triangle(np.corrcoef(layers["conv1"].astype(np.float64))),
        rdm.upper_triangle(neural),
    )[0]
    assert res["rsa"].sel(layer="conv1", group="all") == pytest.approx(ref, abs=1e-6)
    assert int(np.argmax(res["rsa"].sel(group="all").values)) == 1  # conv1 is the source
    c = res["noise_ceiling"].values
    assert np.all((c > 0) & (c <= 1))
    table = rsa.rsa_table(res, model="m", dataset="d")
    assert len(table) == 3 * len(groups)


def test_split_half_reliability_known_cases():
    rng = np.random.default_rng(0)
    signal = rng.normal(size=(40, 20))
    noiseless = np.repeat(signal[:, :, None], 4, axis=2)
    r, sb = rsa.split_half_reliability(noiseless, n_splits=3)
    assert r == pytest.approx(1.0) and sb == pytest.approx(1.0)
    pure_noise = rng.normal(size=(40, 20, 8))
    r, sb = rsa.split_half_reliability(pure_noise, n_splits=10)
    assert abs(r) < 0.15


def test_rsa_stimulus_mismatch_errors(sim, store_and_layers):
    _, layers = store_and_layers
    small = _responses(layers["conv1"][:20], ids=_ids(20))
    with pytest.raises(SimilarityInputError, match=r"model.*24 stimuli.*dset.*20"):
        rsa.rsa(sim, small, model_name="model", dataset_name="dset", **rsa_settings())
    other = _responses(layers["conv1"], ids=[f"x{i}" for i in range(N_STIM)])
    with pytest.raises(SimilarityInputError, match="not those of"):
        rsa.rsa(sim, other, **rsa_settings())


def test_rsa_reorders_stimuli_by_id(sim, store_and_layers):
    _, layers = store_and_layers
    resp = _responses(layers["conv1"])
    perm = np.random.default_rng(2).permutation(N_STIM)
    shuffled = resp.isel(stimulus=perm)
    a = rsa.rsa(sim, resp, **rsa_settings(n_splits=2))["rsa"].values
    b = rsa.rsa(sim, shuffled, **rsa_settings(n_splits=2))["rsa"].values
    assert np.allclose(a, b, atol=1e-9)


def test_unit_groups_depth_bins():
    units = pd.DataFrame({"area": ["a"] * 6, "depth": [100, 150, 300, 320, 500, 90]})
    groups = rsa.unit_groups(units, ("area", "depth"), depth_bins=[0, 200, 400], min_units=2)
    names = [g.name for g in groups]
    assert names == ["all", "area:a", "depth:0-200", "depth:200-400"]
    assert list(groups[2].index) == [0, 1, 5]


def test_cli_similarity_and_rsa(tmp_path, store_and_layers, capsys):
    path, layers = store_and_layers
    out = tmp_path / "cli.zarr"
    rc = main(
        [
            "rdm",
            "--features",
            str(path),
            "--out",
            str(out),
            "--block-size",
            "50",
            "--precision",
            "float64",
            "--n-bootstrap",
            "5",
            "--csv",
            str(tmp_path / "l.csv"),
        ]
    )
    assert rc == 0
    ds = io.read_store(out, "similarity", load=True)
    ref = np.corrcoef(layers["output"].astype(np.float64))
    assert np.abs(ds["correlation"].sel(layer="output").values - ref).max() < 1e-6
    assert len(pd.read_csv(tmp_path / "l.csv")) == 3
    resp_path = io.write_store(_responses(layers["conv1"]), tmp_path / "r.zarr", kind="responses")
    rc = main(
        [
            "rsa",
            "--similarity",
            str(out),
            "--responses",
            str(resp_path),
            "--out",
            str(tmp_path / "rsa.zarr"),
            "--n-splits",
            "2",
        ]
    )
    assert rc == 0
    assert io.read_store(tmp_path / "rsa.zarr", "similarity")["rsa"].dims == ("layer", "group")
    rc = main(["rdm", "--features", str(tmp_path / "nope.zarr"), "--out", str(tmp_path / "x")])
    assert rc == 2
    assert "nope.zarr does not exist" in capsys.readouterr().err
