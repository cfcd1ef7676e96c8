"""Trial responses, arrangement by stimulus, split-half reliability with Spearman-Brown."""

import numpy as np
import pytest
import xarray as xr

from brainreps.data.responses import (
    by_stimulus,
    noise_ceiling_from_reliability,
    responses_dataset,
    spearman_brown,
    split_half_reliability,
    trial_responses,
    window_means,
)

TS = np.arange(100) / 10.0  # 10 Hz


def test_window_mean_minus_baseline_on_a_ramp():
    dff = np.vstack([TS, 2 * TS])
    resp = trial_responses(dff, TS, np.array([2.0, 5.0]), (0.0, 0.5), (-0.3, 0.0))
    # frames 20..24 (mean 2.2) minus frames 17..19 (mean 1.8) on the ramp: 0.4 (0.8 for 2x)
    np.testing.assert_allclose(resp, [[0.4, 0.4], [0.8, 0.8]], atol=1e-12)


def test_nan_samples_are_skipped_inside_a_window():
    dff = TS.copy()[None]
    dff[0, 21] = np.nan
    mean = window_means(dff, TS, np.array([2.0]), (0.0, 0.5))
    np.testing.assert_allclose(mean, [[np.mean([2.0, 2.2, 2.3, 2.4])]])


@pytest.mark.parametrize(
    "onset, window, message",
    [
        (9.8, (0.0, 0.5), "past the end of the traces"),
        (0.1, (-0.3, 0.0), "before the start of the traces"),
        (2.01, (0.0, 0.05), "holds no frame"),
    ],
)
def test_windows_outside_the_trace_are_errors(onset, window, message):
    with pytest.raises(ValueError, match=message):
        window_means(TS[None], TS, np.array([1.0, onset]), window)


def test_by_stimulus_pads_missing_repeats_with_nan():
    responses = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]])
    arranged, shown = by_stimulus(responses, np.array([1, 0, 1, 1, 0]), 3)
    np.testing.assert_array_equal(arranged[0, 0], [2.0, 5.0, np.nan])
    np.testing.assert_array_equal(arranged[0, 1], [1.0, 3.0, 4.0])
    assert np.isnan(arranged[0, 2]).all()
    np.testing.assert_array_equal(shown, [True, True, False])
    with pytest.raises(ValueError, match="stimulus index 7, but the stimulus set has 3"):
        by_stimulus(responses, np.array([0, 1, 7, 0, 1]), 3)


def test_spearman_brown_closed_form():
    np.testing.assert_allclose(
        spearman_brown(np.array([0.0, 0.5, 1.0, -0.2])), [0.0, 2 / 3, 1.0, -0.4 / 0.8]
    )
    np.testing.assert_allclose(
        noise_ceiling_from_reliability(np.array([0.5, -0.1, 0.0])), [0.5, np.nan, np.nan]
    )


def test_split_half_reliability_matches_closed_form():
    # trial = mu_s + sigma_u * noise; the mean of n repeats has reliability 1 / (1 + sigma^2 / n)
    rng = np.random.default_rng(1)
    n_stim, n_rep = 2000, 10
    sigma = np.array([0.5, 1.0, 2.0, 3.0, 5.0])
    mu = rng.standard_normal(n_stim)
    trials = mu[None, :, None] + sigma[:, None, None] * rng.standard_normal((5, n_stim, n_rep))
    measured = split_half_reliability(trials, n_splits=10, seed=0)
    np.testing.assert_allclose(measured, 1 / (1 + sigma**2 / n_rep), atol=0.02)


def test_split_half_reliability_of_pure_noise_is_near_zero_and_constant_is_nan():
    rng = np.random.default_rng(2)
    trials = rng.standard_normal((3, 2000, 8))
    trials[2] = 1.0
    rel = split_half_reliability(trials, n_splits=5)
    assert abs(rel[0]) < 0.06 and abs(rel[1]) < 0.06
    assert np.isnan(rel[2])


def test_responses_dataset_errors_on_nan_only_traces():
    rec = xr.Dataset(
        {
            "dff": (("unit", "time"), np.vstack([TS, np.full(100, np.nan)])),
            "timestamps": (("time",), TS),
            "trial_stimulus": (("trial",), [0, 1, 0, 1]),
            "trial_start": (("trial",), [1.0, 3.0, 5.0, 7.0]),
        },
        coords={"unit": ["a", "b"]},
    )
    with pytest.raises(
        ValueError,
        match=r"rec.zarr: 1 unit\(s\) have NaN-only dF/F traces "
        r"\(first: unit b\)",
    ):
        responses_dataset(rec, ["s0", "s1"], (0, 0.5), (-0.3, 0), source="rec.zarr")
    rec["dff"][1] = TS
    ds = responses_dataset(rec, ["s0", "s1"], (0, 0.5), (-0.3, 0), n_splits=2)
    assert ds["trial_responses"].dims == ("unit", "stimulus", "repeat")
    np.testing.assert_allclose(ds["mean_response"].values, 0.4, atol=1e-6)
