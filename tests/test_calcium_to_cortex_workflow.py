"""Calcium to cortex in the embedded default: responses from dF/F, from the rates the trained
cnn infers and from the true spikes; noise ceilings and best-layer predictivity per area."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import run_config

from brainreps import io


@pytest.fixture(scope="module")
def comparison(default_run):
    config = run_config(default_run)
    signals = config["responses"]["compare"]["signals"]
    assert signals == ["dff", "spikes:cnn", "spikes:truth"]
    summary = pd.read_csv(default_run / "results/signals/resnet18/simulated.csv")
    return default_run, summary


def test_each_signal_has_its_responses_store(comparison):
    run, _ = comparison
    main = io.read_store(run / "results/responses/simulated.zarr", "responses")
    assert main.attrs["signal"] == "dff" and main.attrs["signal_unit"] == "dF/F"
    for slug, signal in (("spikes_cnn", "spikes:cnn"), ("spikes_truth", "spikes:truth")):
        arm = io.read_store(run / f"results/responses/simulated/{slug}.zarr", "responses")
        assert arm.attrs["signal"] == signal and arm.attrs["signal_unit"] == "spikes/s"
        assert arm.sizes == main.sizes
        assert (
            "results/spikes/models/cnn_simulated.pt" in arm.attrs["inputs"] or slug != "spikes_cnn"
        )


def test_true_spikes_give_a_higher_noise_ceiling_than_dff_in_every_area(comparison):
    run, summary = comparison
    ceiling = summary.pivot(index="area", columns="signal", values="noise_ceiling")
    assert (ceiling["spikes:truth"] > ceiling["dff"] + 0.01).all(), ceiling
    # the summary's medians are those of the stores
    truth = io.read_store(run / "results/responses/simulated/spikes_truth.zarr", "responses")
    np.testing.assert_allclose(
        ceiling.loc["all", "spikes:truth"], np.nanmedian(truth["noise_ceiling"].values), rtol=1e-6
    )
    assert set(summary["area"]) == {"all", "VISp", "VISl"}
    assert (summary.query("area == 'all'")["n_units"] == 240).all()


def test_the_dff_arm_is_the_main_encoding(comparison):
    run, summary = comparison
    enc = io.read_store(run / "results/encoding/resnet18/simulated.zarr", "encoding", load=True)
    row = summary.query("signal == 'dff' and area == 'all'").iloc[0]
    medians = np.nanmedian(enc["r2"].transpose("unit", "layer").values, axis=0)
    assert row["best_layer"] == str(enc["layer"].values[int(np.argmax(medians))])
    np.testing.assert_allclose(row["r2"], medians.max(), rtol=1e-6)
    units = pd.read_csv(run / "results/signals/resnet18/simulated_units.csv")
    assert len(units) == 3 * 240 * enc.sizes["layer"]
    png = run / "results/figures/signals/resnet18/simulated_comparison.png"
    assert png.stat().st_size > 20_000
