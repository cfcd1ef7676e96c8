"""Features and projection inside the default workflow run: stores, layer order, re-runs."""

from __future__ import annotations

import re

import numpy as np
import pytest
from helpers import run_config, run_snakemake

from brainreps.io import read_store, store_attrs, store_groups

pytestmark = pytest.mark.slow  # runs the workflow


@pytest.mark.parametrize("model", ["resnet18", "alexnet"])
def test_default_features_and_projection_stores(default_run, model):
    results = default_run / "results"
    config = run_config(default_run)
    stimuli = read_store(results / "stimuli" / "embedded.zarr", "stimuli")
    features = results / "features" / model / "embedded.zarr"
    projection = results / "projection" / model / "embedded.zarr"
    groups = store_groups(features)
    assert groups[0] == "pixels" and groups[-1] == "output" and len(groups) >= 5
    assert store_groups(projection) == groups
    assert store_attrs(features)["params"]["model"]["arch"] == config["models"][model]["arch"]
    k = config["projection"]["n_components"]
    for group in groups:
        f = read_store(features, "features", group=group)
        p = read_store(projection, "projection", group=group, load=True)
        np.testing.assert_array_equal(f["stimulus"].values, stimuli["stimulus"].values)
        np.testing.assert_array_equal(p["stimulus"].values, stimuli["stimulus"].values)
        n_features = f.sizes["feature"]
        assert p.sizes["component"] == min(n_features, k)
        assert np.isfinite(p["components"].values).all()


def test_projection_change_reruns_only_projection(default_run):
    config = run_config(default_run)
    config["projection"]["seed"] = 1
    proc = run_snakemake(default_run, "-n", config=config, config_name="fe_changed_projection.yaml")
    jobs = set(re.findall(r"^rule (\w+):", proc.stdout, flags=re.M))
    assert "project_features" in jobs
    assert not jobs & {"extract_features", "fetch_weights", "stimuli_embedded"}
