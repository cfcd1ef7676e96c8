"""The simulated recording: its schedule, spikes, calcium kernel, SNR and closed-form reliability."""

import numpy as np
import pytest
from helpers import default_config
from scipy.signal import fftconvolve

from brainreps.config import validate_config
from brainreps.data.embedded import embedded_stimuli
from brainreps.data.responses import responses_dataset
from brainreps.data.simulate import (
    calcium_kernel,
    expected_reliability,
    expected_spike_counts,
    simulate_recording,
)

WINDOWS = ((0.05, 0.5), (-0.2, 0.0))


@pytest.fixture(scope="module")
def simulation():
    params = validate_config(default_config())["datasets"]["simulated"]["simulation"]
    params = dict(params, n_units=60, n_repeats=10, seed=3)
    stimuli = embedded_stimuli(60, 32, seed=0)
    rec = simulate_recording(stimuli["pixels"].values, stimuli["stimulus"].values, params)
    return params, stimuli, rec


def test_schedule_shows_every_image_n_times_in_shuffled_order(simulation):
    params, stimuli, rec = simulation
    stim = rec["trial_stimulus"].values
    assert np.bincount(stim).tolist() == [10] * 60
    blocks = stim.reshape(10, 60)
    assert all(sorted(b) == list(range(60)) for b in blocks)
    assert not all((b == np.arange(60)).all() for b in blocks)
    np.testing.assert_allclose(rec["trial_end"] - rec["trial_start"], 0.25)
    np.testing.assert_allclose(np.diff(rec["trial_start"].values), 0.25 + 0.5)
    assert rec.attrs["frame_rate"] == 30.0
    np.testing.assert_allclose(np.diff(rec["timestamps"].values), 1 / 30)
    assert rec.sizes["unit"] == 60 and rec["dff"].dtype == np.float32


def test_spike_counts_are_poisson_around_their_expectation(simulation):
    params, _, rec = simulation
    lam = expected_spike_counts(
        rec["stimulus_rate"].values.astype(float),
        params["baseline_rate"],
        rec["trial_stimulus"].values,
        rec["trial_start"].values,
        0.25,
        params["latency"],
        30.0,
        rec.sizes["time"],
    )
    total, expected = rec["spikes"].values.sum(), lam.sum()
    assert abs(total - expected) < 4 * np.sqrt(expected)
    # frames outside any response: counts have mean = variance = baseline rate / frame rate
    quiet = rec["spikes"].values[np.isclose(lam, params["baseline_rate"] / 30)]
    assert quiet.size > 100_000
    assert quiet.mean() == pytest.approx(params["baseline_rate"] / 30, rel=0.05)
    assert quiet.var() == pytest.approx(quiet.mean(), rel=0.05)


def test_calcium_kernel_has_fast_rise_and_the_configured_decay():
    k = calcium_kernel(0.7, 0.05, 30.0)
    t = (np.arange(k.size) + 0.5) / 30.0
    assert t[np.argmax(k)] < 0.25
    late = t > 0.5
    slope = np.polyfit(t[late], np.log(k[late]), 1)[0]
    assert -1 / slope == pytest.approx(0.7, rel=0.01)


def test_noise_is_added_at_each_units_snr(simulation):
    params, _, rec = simulation
    fr, rise = 30.0, params["rise_time"]
    for u in range(0, 60, 7):
        k = calcium_kernel(float(rec["decay_time"][u]), rise, fr)
        clean = (
            rec.attrs["spike_amplitude"]
            * fftconvolve(rec["spikes"].values[u], k)[: rec.sizes["time"]]
        )
        noise = rec["dff"].values[u] - clean
        if clean.std() > 0:
            assert clean.std() / noise.std() == pytest.approx(float(rec["snr"][u]), rel=0.03)
    lo, hi = params["snr"]
    assert lo <= rec["snr"].min() and rec["snr"].max() <= hi


def test_reliability_matches_the_closed_form(simulation):
    _, stimuli, rec = simulation
    resp = responses_dataset(rec, stimuli["stimulus"].values, *WINDOWS, n_splits=20, seed=0)
    measured = resp["split_half_reliability"].values
    expected = expected_reliability(rec, *WINDOWS)
    reliable = expected > 0.3
    assert reliable.sum() >= 30
    assert np.abs(measured - expected)[reliable].mean() < 0.04
    assert np.corrcoef(measured[reliable], expected[reliable])[0, 1] > 0.9
    unresponsive = rec["max_rate"].values == 0
    assert np.abs(measured[unresponsive]).max() < 0.5
    assert np.abs(expected[unresponsive]).max() < 1e-3
