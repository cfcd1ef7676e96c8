"""The encoding stage inside the workflow: outputs of the embedded default run and their numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import run_config

from brainreps.encoding.pipeline import encode_stores, resolve_settings
from brainreps.encoding.runs import encoding_runs
from brainreps.io import read_store, store_attrs, store_groups

pytestmark = pytest.mark.slow  # runs the workflow


@pytest.fixture(scope="module")
def runs(default_run):
    config = run_config(default_run)
    pairs = encoding_runs(config)
    assert len(pairs) >= 2, "the embedded default scores at least two models"
    return default_run / "results", config, pairs


def test_default_run_writes_store_table_and_figures(runs):
    results, config, pairs = runs
    for dataset, model in pairs:
        stimuli = config["datasets"][dataset]["stimuli"]
        store = results / "encoding" / model / f"{dataset}.zarr"
        ds = read_store(store, "encoding", load=True)
        responses = read_store(results / "responses" / f"{dataset}.zarr", "responses", load=True)
        projection = results / "projection" / model / f"{stimuli}.zarr"
        # one column per projected layer, in forward order; one row per unit, with metadata
        assert list(ds["layer"].values) == store_groups(projection)
        np.testing.assert_array_equal(ds["unit"].values, responses["unit"].values)
        for key in ("area", "depth", "cre_line"):
            np.testing.assert_array_equal(ds[key].values, responses[key].values)
        np.testing.assert_allclose(ds["r2"].values, ds["r"].values ** 2)
        ceiling = responses["noise_ceiling"].values.astype(float)
        ok = np.isfinite(ceiling)
        np.testing.assert_allclose(
            ds["normalized_score"].values[ok], ds["r2"].values[ok] / ceiling[ok, None], rtol=1e-6
        )
        assert np.isnan(ds["normalized_score"].values[~ok]).all()
        alphas = resolve_settings(config.get("encoding"))["alphas"]
        grid = np.logspace(alphas["low"], alphas["high"], alphas["n"])
        assert np.all(np.isin(ds["alpha_fold"].values, grid))
        attrs = store_attrs(store)
        assert attrs["inputs"] == [
            str(projection.relative_to(results.parent)),
            f"results/responses/{dataset}.zarr",
        ]
        table = pd.read_csv(results / "encoding" / model / f"{dataset}.csv")
        assert len(table) == ds.sizes["unit"] * ds.sizes["layer"]
        assert set(table.model) == {model} and set(table.dataset) == {dataset}
        assert list(table.layer[: ds.sizes["layer"]]) == list(ds["layer"].values)
        for kind in ("layers", "best_layer", "distribution"):
            png = results / "figures" / "encoding" / model / f"{dataset}_{kind}.png"
            assert png.stat().st_size > 10_000


def test_default_run_scores_are_reproducible_and_sensible(runs):
    results, config, pairs = runs
    dataset, model = pairs[0]
    stimuli = config["datasets"][dataset]["stimuli"]
    ds = read_store(results / "encoding" / model / f"{dataset}.zarr", "encoding", load=True)
    again = encode_stores(
        results / "projection" / model / f"{stimuli}.zarr",
        results / "responses" / f"{dataset}.zarr",
        {k: v for k, v in config.get("encoding", {}).items() if k != "runs"},
    )
    np.testing.assert_allclose(again["r"].values, ds["r"].values, rtol=0, atol=1e-12)
    # network layers predict the simulated V1 units far better than the raw pixels do
    median_r = ds["r"].median("unit")
    if "pixels" in median_r["layer"].values:
        pixels = float(median_r.sel(layer="pixels"))
        assert float(median_r.drop_sel(layer="pixels").max()) > pixels + 0.1
    assert float(median_r.max()) > 0.15
