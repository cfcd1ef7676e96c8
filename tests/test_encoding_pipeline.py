"""Encoding stage: noise-ceiling recovery on a synthetic population, stores, errors, config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from brainreps import io
from brainreps.data.responses import noise_ceiling_from_reliability, split_half_reliability
from brainreps.encoding.pipeline import (
    align_responses,
    check_responses,
    encode_layers,
    encode_stores,
    encoding_table,
    write_results,
)
from brainreps.encoding.runs import encoding_runs

SETTINGS = {"alphas": {"low": -3, "high": 4, "n": 15}, "outer_folds": 5, "inner_folds": 4}


def population(n_stim=160, n_feat=8, n_units=40, n_repeats=8, seed=0):
    """Linear Gaussian units: trial response = X w + Gaussian trial noise (unit, stimulus, repeat)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_stim, n_feat))
    W = rng.normal(size=(n_feat, n_units))
    signal = X @ W / np.sqrt(n_feat)  # unit variance per unit
    noise_sd = rng.uniform(0.8, 2.5, n_units)  # per-unit reliability from ~0.6 to ~0.9
    trials = signal.T[:, :, None] + noise_sd[:, None, None] * rng.normal(
        size=(n_units, n_stim, n_repeats)
    )
    trials += rng.normal(size=(n_units, 1, 1)) * 5  # per-unit baseline
    return X, trials


def _ceiling(trials):
    return noise_ceiling_from_reliability(split_half_reliability(trials, n_splits=20, seed=0))


def test_true_features_reach_the_noise_ceiling_and_shuffles_score_zero():
    X, trials = population()
    mean = trials.mean(axis=2).T  # (stimulus, unit)
    ceiling = _ceiling(trials)
    assert np.all(np.isfinite(ceiling)) and 0.4 < np.median(ceiling) < 0.95
    rng = np.random.default_rng(1)
    layers = {"true": X, "unrelated": rng.normal(size=X.shape)}
    ds = encode_layers(layers, mean, ceiling, SETTINGS)
    norm = ds["normalized_score"].sel(layer="true").values
    # regressing on the generating features explains all the explainable variance
    assert 0.9 < np.median(norm) < 1.05
    assert np.all(norm > 0.75)
    # unrelated features and stimulus-shuffled responses explain none of it
    assert np.median(ds["normalized_score"].sel(layer="unrelated").values) < 0.05
    shuffled = mean[rng.permutation(mean.shape[0])]
    ds_shuffled = encode_layers({"true": X}, shuffled, ceiling, SETTINGS)
    assert np.median(ds_shuffled["normalized_score"].values) < 0.05
    # (held-out predictions of noise are if anything anti-correlated: out-of-fold means)
    assert -0.3 < np.median(ds_shuffled["r"].values) < 0.1
    assert np.median(ds_shuffled["r2"].values) < 0.05
    # r2 is r squared; cod is the coefficient of determination, below r2 for shrunk fits
    np.testing.assert_allclose(ds["r2"].values, ds["r"].values ** 2)
    assert np.all(ds["cod"].sel(layer="true").values <= ds["r2"].sel(layer="true").values + 1e-9)


def test_noise_ceiling_nan_gives_nan_normalized_score():
    X, trials = population(n_stim=60, n_units=5)
    ceiling = np.array([0.5, np.nan, 0.8, np.nan, 0.3])
    ds = encode_layers({"a": X}, trials.mean(2).T, ceiling, SETTINGS)
    norm = ds["normalized_score"].values[:, 0]
    assert np.isnan(norm[[1, 3]]).all()
    np.testing.assert_allclose(norm[[0, 2, 4]], ds["r2"].values[[0, 2, 4], 0] / ceiling[[0, 2, 4]])


def _responses_dataset(trials, stimulus_ids):
    n_units = trials.shape[0]
    rel = split_half_reliability(trials, n_splits=10, seed=0)
    return xr.Dataset(
        {
            "trial_responses": (("unit", "stimulus", "repeat"), trials.astype(np.float32)),
            "mean_response": (("unit", "stimulus"), trials.mean(2).astype(np.float32)),
            "split_half_reliability": (("unit",), rel.astype(np.float32)),
            "noise_ceiling": (("unit",), noise_ceiling_from_reliability(rel).astype(np.float32)),
        },
        coords={
            "unit": [f"u{i:03d}" for i in range(n_units)],
            "stimulus": stimulus_ids,
            "area": ("unit", np.array(["VISp", "VISl"])[np.arange(n_units) % 2]),
            "depth": ("unit", np.arange(n_units) * 10),
            "cre_line": ("unit", ["Cux2"] * n_units),
        },
    )


def _projection_store(path, layers, stimulus_ids):
    groups = {
        name: xr.Dataset(
            {"components": (("stimulus", "component"), comps.astype(np.float32))},
            coords={"stimulus": stimulus_ids},
        )
        for name, comps in layers.items()
    }
    return io.write_store(groups, path, kind="projection")


@pytest.fixture
def stores(tmp_path):
    X, trials = population(n_stim=50, n_units=6, seed=3)
    ids = np.array([f"img{i:03d}" for i in range(50)])
    resp_path = io.write_store(
        _responses_dataset(trials, ids), tmp_path / "resp.zarr", kind="responses"
    )
    rng = np.random.default_rng(0)
    # the projection holds the stimuli in another order, plus two without responses
    order = rng.permutation(52)
    all_ids = np.concatenate([ids, ["extra1", "extra2"]])
    feats = {
        "conv1": np.vstack([X, rng.normal(size=(2, 8))]),
        "fc": np.vstack([rng.normal(size=(50, 20)), rng.normal(size=(2, 20))]),
    }
    proj_path = _projection_store(
        tmp_path / "proj.zarr", {k: v[order] for k, v in feats.items()}, all_ids[order]
    )
    return X, trials, feats, proj_path, resp_path


def test_encode_stores_aligns_by_stimulus_id(stores, tmp_path):
    X, trials, feats, proj_path, resp_path = stores
    ds = encode_stores(proj_path, resp_path, SETTINGS)
    ceiling = io.read_store(resp_path, "responses")["noise_ceiling"].values
    expected = encode_layers(
        {k: v[:50].astype(np.float32) for k, v in feats.items()},
        trials.mean(2).T.astype(np.float32),
        ceiling,
        SETTINGS,
    )
    np.testing.assert_allclose(ds["r"].values, expected["r"].values, atol=1e-10)
    assert list(ds["layer"].values) == ["conv1", "fc"]
    assert list(ds["area"].values[:2]) == ["VISp", "VISl"]
    # written and read back as an encoding store, with its tidy table
    store, csv = tmp_path / "enc" / "m" / "d.zarr", tmp_path / "enc" / "m" / "d.csv"
    write_results(ds, store, csv, params=SETTINGS, labels={"model": "m", "dataset": "d"})
    back = io.read_store(store, "encoding", load=True)
    np.testing.assert_allclose(back["normalized_score"].values, ds["normalized_score"].values)
    table = pd.read_csv(csv)
    assert len(table) == 6 * 2
    assert {
        "model",
        "dataset",
        "unit",
        "layer",
        "area",
        "depth",
        "cre_line",
        "r",
        "r2",
        "alpha",
        "normalized_score",
        "noise_ceiling",
    } <= set(table.columns)
    row = table[(table.unit == "u003") & (table.layer == "fc")].iloc[0]
    assert row.r == pytest.approx(float(ds["r"].sel(unit="u003", layer="fc")))
    assert row.depth == 30 and row.area == "VISl"


def test_missing_stimulus_ids_are_named(stores, tmp_path):
    X, trials, feats, proj_path, resp_path = stores
    ids = np.array([f"img{i:03d}" for i in range(48)] + ["ghost_a", "ghost_b"])
    bad = io.write_store(_responses_dataset(trials, ids), tmp_path / "bad.zarr", kind="responses")
    with pytest.raises(ValueError, match="2 stimulus id\\(s\\).*ghost_a, ghost_b"):
        encode_stores(proj_path, bad, SETTINGS)


def test_bad_responses_are_named():
    ids = [f"n{i}" for i in range(4)]
    ok = np.random.default_rng(0).normal(size=(10, 4))
    check_responses(ok, ids, "resp.npy")
    nan = ok.copy()
    nan[3, 2] = np.nan
    with pytest.raises(ValueError, match="resp.npy: responses hold 1 NaN.*n2"):
        check_responses(nan, ids, "resp.npy")
    const = ok.copy()
    const[:, 1] = 4.0
    with pytest.raises(ValueError, match="1 unit\\(s\\) have the same response.*n1"):
        check_responses(const, ids, "resp.npy")
    with pytest.raises(ValueError, match="all responses are constant"):
        check_responses(np.ones((10, 4)), ids, "resp.npy")
    with pytest.raises(ValueError, match="components have shape \\(9, 3\\); expected \\(10, n\\)"):
        encode_layers({"l": np.zeros((9, 3))}, ok, np.ones(4), SETTINGS)


def test_align_responses_rejects_duplicate_projection_ids():
    ds = xr.Dataset(
        {"mean_response": (("unit", "stimulus"), np.zeros((1, 2)))}, coords={"stimulus": ["a", "b"]}
    )
    with pytest.raises(ValueError, match="not unique"):
        align_responses(ds, ["a", "a", "b"], "r", "p")
    rows, mean = align_responses(ds, ["b", "c", "a"], "r", "p")
    assert list(rows) == [2, 0] and mean.shape == (2, 1)


def test_encoding_runs_default_and_explicit():
    config = {
        "datasets": {"sim": {"stimuli": "embedded"}, "allen": {"stimuli": "allen_ns"}},
        "models": {"alexnet": {}, "resnet": {"stimuli": ["embedded"]}, "vit": {"stimuli": "x"}},
    }
    assert encoding_runs(config) == [("sim", "alexnet"), ("sim", "resnet"), ("allen", "alexnet")]
    config["encoding"] = {"runs": [{"dataset": "allen", "model": "vit"}]}
    assert encoding_runs(config) == [("allen", "vit")]
    config["encoding"] = {"runs": [{"dataset": "allen", "model": "nope"}]}
    from brainreps.config_checks import reference_problems

    assert (
        "config key encoding.runs.0.model: no model 'nope' (defined: alexnet, resnet, vit)"
        in reference_problems(config)
    )


def test_config_section_defaults_and_errors():
    from brainreps.config import ConfigError, load_config, validate_config

    root = Path(__file__).resolve().parents[1]
    config = load_config(root / "config" / "config.yaml")
    enc = config["encoding"]
    assert enc["outer_folds"] == 5 and enc["backend"] in ("numpy", "torch")
    assert set(enc["alphas"]) == {"low", "high", "n"}
    bad = dict(config, encoding={"outer_folds": 1})
    with pytest.raises(ConfigError, match="encoding.outer_folds"):
        validate_config(bad)
    bad = dict(config, encoding={"alphas": {"low": 0, "hgh": 3}})
    with pytest.raises(ConfigError, match="encoding.alphas.hgh"):
        validate_config(bad)


def test_figures_are_drawn(tmp_path):
    from brainreps.plots import save_figure
    from brainreps.plots.encoding import area_layer_summary
    from brainreps.plots.registry import FIGURES

    X, trials = population(n_stim=60, n_units=8)
    coords = {"area": np.array(["VISp", "VISl"] * 4)}
    ds = encode_layers(
        {"a": X, "b": X[:, :3]}, trials.mean(2).T, _ceiling(trials), SETTINGS, unit_coords=coords
    )
    # plotted from the store as the rules do (strings come back as numpy StringDType)
    write_results(ds, tmp_path / "e.zarr", None)
    ds = io.read_store(tmp_path / "e.zarr", "encoding", load=True)
    summary = area_layer_summary(ds)
    visp = ds["normalized_score"].values[coords["area"] == "VISp"]
    np.testing.assert_allclose(summary["VISp"][0], np.median(visp, axis=0))
    for kind, figure in FIGURES["encoding"].items():
        path = tmp_path / f"{kind}.png"
        save_figure(figure.draw({"encoding": ds}, {"dpi": 40}, "t"), path, {"dpi": 40})
        assert path.stat().st_size > 1000
    table = encoding_table(ds, model="m")
    assert table.shape[0] == 16 and (table.area != "").all()
