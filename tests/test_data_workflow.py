"""The data stage inside the workflow: stores of the embedded default and their numbers."""

import numpy as np
import pytest

from brainreps.data.simulate import expected_reliability
from brainreps.io import read_store, store_attrs

pytestmark = pytest.mark.slow  # runs the workflow


@pytest.fixture(scope="module")
def stores(default_run):
    results = default_run / "results"
    return (
        read_store(results / "stimuli" / "embedded.zarr", "stimuli", load=True),
        read_store(results / "recordings" / "simulated.zarr", "recording", load=True),
        read_store(results / "responses" / "simulated.zarr", "responses", load=True),
        results,
    )


def test_default_stores_have_the_promised_shape(stores):
    stimuli, recording, responses, results = stores
    assert stimuli["pixels"].shape == (120, 64, 64)
    assert recording.sizes["unit"] >= 200
    assert recording.attrs["frame_rate"] == 30.0
    assert {"area", "depth", "cre_line", "container"} <= set(recording.coords)
    assert responses["trial_responses"].shape == (recording.sizes["unit"], 120, 10)
    np.testing.assert_array_equal(responses["stimulus"].values, stimuli["stimulus"].values)
    np.testing.assert_allclose(
        responses["mean_response"].values,
        np.nanmean(responses["trial_responses"].values, axis=2),
        atol=1e-6,
    )
    attrs = store_attrs(results / "responses" / "simulated.zarr")
    assert attrs["params"]["response_window"] == [0.05, 0.5]
    assert attrs["inputs"][0].endswith("recordings/simulated.zarr")
    for name in ("stimuli_embedded.png", "recording_simulated.png"):
        assert (results / "figures" / "data" / name).stat().st_size > 10_000


def test_default_recovers_the_simulated_reliability(stores):
    _, recording, responses, _ = stores
    expected = expected_reliability(recording, (0.05, 0.5), (-0.2, 0.0))
    measured = responses["split_half_reliability"].values
    reliable = expected > 0.5
    assert reliable.sum() > 150
    diff = measured[reliable] - expected[reliable]
    assert np.abs(diff).mean() < 0.03
    assert np.corrcoef(measured, expected)[0, 1] > 0.95
