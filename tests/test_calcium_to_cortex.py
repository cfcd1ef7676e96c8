"""Trial responses from dF/F, inferred spike rates and true spikes (responses.signal)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from brainreps import io
from brainreps.config import definition_defaults
from brainreps.data.embedded import embedded_stimuli
from brainreps.data.responses import (
    SignalError,
    parse_signal,
    responses_dataset,
    responses_store,
    signal_slug,
    signal_traces,
)
from brainreps.data.simulate import simulate_recording
from brainreps.spikes import cnn

WINDOWS = ((0.05, 0.5), (-0.2, 0.0))
TINY_CNN = {
    "channels": 4,
    "kernel": 5,
    "dilations": [1, 2],
    "epochs": 1,
    "n_models": 1,
    "crop": 4.0,
    "batch_size": 8,
    "threads": 1,
}


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """A small simulated experiment (60 units, 40 images, 8 repeats) and its stores."""
    folder = tmp_path_factory.mktemp("sim")
    stimuli = embedded_stimuli(40, 32, seed=0)
    params = {**definition_defaults("data#simulation"), "n_units": 60, "n_repeats": 8}
    recording = simulate_recording(stimuli["pixels"].values, stimuli["stimulus"].values, params)
    io.write_store(stimuli, folder / "stimuli.zarr", kind="stimuli")
    io.write_store(recording, folder / "recording.zarr", kind="recording")
    return folder, io.read_store(folder / "recording.zarr", "recording", load=True), stimuli


def responses_of(recording, stimuli, signal, **kwargs):
    traces = signal_traces(recording, signal, **kwargs)
    return responses_dataset(
        recording, stimuli["stimulus"].values, *WINDOWS, 20, 0, traces=traces, signal=signal
    )


def test_true_spikes_are_more_reliable_than_dff(simulated):
    """The simulated imaging adds noise to the spikes: responses from the true spikes have a
    higher noise ceiling than from dF/F (median over units, and in most units)."""
    _, recording, stimuli = simulated
    dff = responses_of(recording, stimuli, "dff")
    truth = responses_of(recording, stimuli, "spikes:truth")
    a, b = dff["noise_ceiling"].values, truth["noise_ceiling"].values
    assert np.nanmedian(b) > np.nanmedian(a) + 0.02
    both = np.isfinite(a) & np.isfinite(b)
    assert (b[both] > a[both]).mean() > 0.6
    assert truth.attrs["signal"] == "spikes:truth" and truth.attrs["signal_unit"] == "spikes/s"
    # spikes/s: the mean evoked rate of the units is between the baseline and peak rates
    assert 0.5 < float(np.nanmean(truth["mean_response"].values)) < 20


def test_inferred_rates_are_responses_in_spikes_per_second(simulated):
    _, recording, stimuli = simulated
    sub = recording.isel(unit=slice(0, 6))
    oasis = responses_of(sub, stimuli, "spikes:oasis", methods={"oasis": {"params": {"p": 1}}})
    truth = responses_of(sub, stimuli, "spikes:truth")
    r = np.corrcoef(oasis["mean_response"].values.ravel(), truth["mean_response"].values.ravel())
    assert r[0, 1] > 0.7  # deconvolution recovers the stimulus tuning of the spikes
    rates, unit = signal_traces(sub, "spikes:derivative")  # a registered method, not a label
    assert unit == "spikes/s" and rates.shape == sub["dff"].shape and (rates >= 0).all()


def test_signal_names():
    assert parse_signal("dff") == ("dff", None)
    assert parse_signal("spikes:oasis_ar2") == ("spikes", "oasis_ar2")
    assert signal_slug("spikes:cnn") == "spikes_cnn"
    with pytest.raises(SignalError, match="neither 'dff' nor"):
        parse_signal("calcium")


def test_an_unknown_method_is_named(simulated):
    _, recording, _ = simulated
    with pytest.raises(SignalError, match=r"'spikes:mlspike' names no spike-inference method"):
        signal_traces(recording, "spikes:mlspike", methods={"oasis": {}})


def test_truth_needs_ground_truth_spikes(simulated):
    _, recording, _ = simulated
    with pytest.raises(SignalError, match="has no ground-truth spikes"):
        signal_traces(recording.drop_vars("spikes"), "spikes:truth")


@pytest.fixture(scope="module")
def cnn_models(tmp_path_factory):
    """A tiny (untrained: the plumbing is tested, not the inference) cnn model file for 30 Hz,
    and the same network saved as a 100 Hz model."""
    import torch

    folder = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    params = cnn.resolve_params({**TINY_CNN, "rate": 30.0})
    model = cnn.CNNModel(
        params, [cnn.build_net(params).state_dict()], {"trained_noise_range": None}
    )
    paths = {30.0: cnn.save(model, folder / "cnn_30Hz.pt")}
    model.params = {**model.params, "rate": 100.0}
    paths[100.0] = cnn.save(model, folder / "cnn_100Hz.pt")
    return paths


def test_a_supervised_model_of_the_recordings_rate_runs(simulated, cnn_models):
    _, recording, _ = simulated
    sub = recording.isel(unit=slice(0, 3))
    rates, unit = signal_traces(sub, "spikes:cnn", model_path=cnn_models[30.0])
    assert unit == "spikes/s" and rates.shape == sub["dff"].shape
    assert np.isfinite(rates).all() and rates.std() > 0


def test_a_model_file_for_another_frame_rate_is_refused(simulated, cnn_models, tmp_path):
    folder, recording, _ = simulated
    with pytest.raises(SignalError, match=r"trained at 100 Hz, but the recording is imaged at 30"):
        signal_traces(recording, "spikes:cnn", model_path=cnn_models[100.0])
    with pytest.raises(SignalError, match="supervised and needs a trained model file"):
        signal_traces(recording, "spikes:cnn")
    with pytest.raises(SignalError, match="oasis is not supervised and takes no model"):
        signal_traces(recording, "spikes:oasis", model_path=cnn_models[30.0])
    # through the store writer: an error and nothing half-written
    out = tmp_path / "responses.zarr"
    params = {**definition_defaults("data#responses"), "signal": "spikes:cnn"}
    with pytest.raises(SignalError, match="100 Hz"):
        responses_store(
            str(folder / "recording.zarr"),
            str(folder / "stimuli.zarr"),
            params,
            str(out),
            model_path=str(cnn_models[100.0]),
        )
    assert list(Path(tmp_path).iterdir()) == []


def test_a_file_that_is_no_model_is_named(simulated, tmp_path):
    _, recording, _ = simulated
    bogus = tmp_path / "model.pt"
    bogus.write_bytes(b"not torch")
    with pytest.raises(SignalError, match="model.pt cannot be read"):
        signal_traces(recording, "spikes:stm", model_path=bogus)
