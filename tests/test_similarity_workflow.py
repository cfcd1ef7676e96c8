"""The similarity rules inside the default run: outputs exist and hold the right numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from brainreps import io
from brainreps.config_checks import model_stimulus_sets
from brainreps.similarity.analysis import SimilarityParams, analyze_store
from brainreps.similarity.rdm import correlation_matrix

pytestmark = pytest.mark.slow  # runs the workflow

REPO_CONFIG = Path(__file__).resolve().parents[1] / "config" / "config.yaml"
FIGURES = ("layer_matrices", "rdms", "sparseness", "dimension", "histograms")


def _runs():
    cfg = yaml.safe_load(REPO_CONFIG.read_text())
    models = cfg.get("models") or {}
    return cfg, [(m, s) for m in models for s in model_stimulus_sets(cfg, m)]


def test_default_run_similarity_outputs(default_run):
    cfg, runs = _runs()
    if not runs:
        pytest.skip("no models in the default config yet")
    for model, stimuli in runs:
        base = default_run / "results"
        feats = base / "features" / model / f"{stimuli}.zarr"
        sim = io.read_store(
            base / "similarity" / model / f"{stimuli}.zarr", "similarity", load=True
        )
        layers = io.store_groups(feats)
        assert list(sim["layer"].values) == layers  # forward order, pixels ... output
        # the streamed float32-block RDM equals numpy.corrcoef of the stored activations
        for name in (layers[0], layers[len(layers) // 2], layers[-1]):
            x = io.read_store(feats, "features", group=name)["activations"].values
            ref = np.corrcoef(x.astype(np.float64))
            got = sim["correlation"].sel(layer=name).values
            ok = np.isfinite(ref)
            assert np.array_equal(ok, np.isfinite(got))
            assert np.abs(got[ok] - ref[ok]).max() < 1e-4
        table = pd.read_csv(base / "similarity" / model / f"{stimuli}_layers.csv")
        assert list(table["layer"]) == layers
        assert table["fraction_nonzero"].between(0, 1).all()
        assert (table["linear_dimension"] <= sim.sizes["stimulus"]).all()
        pairs = pd.read_csv(base / "similarity" / model / f"{stimuli}_layer_pairs.csv")
        assert len(pairs) == len(layers) ** 2
        for fig in FIGURES:
            png = base / "figures" / "similarity" / model / f"{stimuli}_{fig}.png"
            assert png.stat().st_size > 5000
    for model, stimuli in runs:
        for dataset, spec in cfg["datasets"].items():
            if spec["stimuli"] != stimuli:
                continue
            rsa = pd.read_csv(default_run / "results" / "similarity" / model / f"{dataset}_rsa.csv")
            assert "all" in set(rsa["group"])
            assert rsa["rsa"].between(-1, 1).all()
            ceiling = rsa["noise_ceiling"].dropna()
            assert ceiling.between(0, 1).all() and len(ceiling) > 0
            png = default_run / "results" / "figures" / "similarity" / model / f"{dataset}_rsa.png"
            assert png.stat().st_size > 5000


def test_default_run_float64_recompute_matches(default_run):
    """Recomputing one model's store with float64 blocks changes the RDMs by < 1e-4."""
    _, runs = _runs()
    if not runs:
        pytest.skip("no models in the default config yet")
    model, stimuli = runs[0]
    feats = default_run / "results" / "features" / model / f"{stimuli}.zarr"
    stored = io.read_store(
        default_run / "results" / "similarity" / model / f"{stimuli}.zarr", "similarity", load=True
    )
    layer = str(stored["layer"].values[-1])
    x = io.read_store(feats, "features", group=layer)["activations"].values
    exact = correlation_matrix(x, precision="float64", layer=layer)
    ok = np.isfinite(exact)
    assert np.abs(stored["correlation"].sel(layer=layer).values[ok] - exact[ok]).max() < 1e-4
    again = analyze_store(
        feats,
        SimilarityParams.from_config({"twonn": {"n_bootstrap": 10}, "device": "cpu"}),
        layers=[layer],
    )
    assert again["linear_dimension"].item() == stored["linear_dimension"].sel(layer=layer).item()
