"""The supervised CNN spike-inference method and the shared preprocessing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import synthetic

from brainreps.spikes import cnn, derivative, metrics
from brainreps.spikes import preprocess as pp

TINY = {
    "rate": 30.0,
    "channels": 8,
    "kernel": 5,
    "dilations": [1, 2, 4, 8],
    "epochs": 8,
    "batch_size": 16,
    "crop": 4.0,
    "learning_rate": 1e-2,
    "threads": 1,
}


@pytest.fixture(scope="module")
def trained():
    calcium, spikes = synthetic(6, 90.0, 30.0, seed=1)
    return cnn.train(calcium, spikes, 30.0, **TINY)


# ---- preprocessing ----------------------------------------------------------------------------


def test_rebin_counts_preserves_sums_and_lengths():
    rng = np.random.default_rng(0)
    counts = rng.poisson(0.3, 1000).astype(float)
    down = pp.rebin_counts(counts, 100.0, 30.0)
    assert down.size == 300
    assert down.sum() == pytest.approx(counts.sum())
    back = pp.rebin_counts(down, 30.0, 100.0, n_out=1000)
    assert back.size == 1000 and back.sum() == pytest.approx(counts.sum())
    # integer ratio: plain block sums
    np.testing.assert_allclose(pp.rebin_counts(counts, 100.0, 25.0), counts.reshape(-1, 4).sum(1))


def test_resample_trace_reproduces_a_slow_sine():
    fs_in, fs_out = 100.0, 30.0
    t_in = (np.arange(2000) + 0.5) / fs_in
    x = np.sin(2 * np.pi * 0.5 * t_in)
    y = pp.resample_trace(x, fs_in, fs_out)
    t_out = (np.arange(600) + 0.5) / fs_out
    assert y.size == 600
    inner = slice(10, -10)
    np.testing.assert_allclose(y[inner], np.sin(2 * np.pi * 0.5 * t_out)[inner], atol=2e-3)


def test_normalise_noise_sigma_and_smoothing():
    rng = np.random.default_rng(0)
    x = 5.0 + 2.0 * rng.standard_normal(20000)
    z = pp.normalise(x)
    assert np.median(z) == pytest.approx(0.0, abs=1e-12)
    assert np.std(z) == pytest.approx(1.0)
    assert pp.noise_sigma(x) == pytest.approx(2.0, rel=0.03)  # white noise: sigma itself
    assert np.all(pp.normalise(np.full(10, 3.0)) == 0.0)  # constant trace -> zeros, not NaN
    spikes = np.zeros(200)
    spikes[100] = 2
    sm = pp.smooth_spikes(spikes, 100.0, 0.05)
    assert sm.sum() == pytest.approx(2.0)
    assert np.argmax(sm) == 100
    # a Gaussian of std 5 samples: its peak is 2 / (sqrt(2 pi) 5)
    assert sm[100] == pytest.approx(2 / (np.sqrt(2 * np.pi) * 5), rel=1e-2)


def test_add_noise_reaches_the_target_level():
    rng = np.random.default_rng(0)
    calcium, _ = synthetic(1, 300.0, 30.0, seed=3, snr=20.0)
    (seg,) = pp.normalise_segments([calcium[0]])
    before = pp.noise_sigma(seg)
    (noisy,) = pp.add_noise_to_level([seg], 0.3, rng)
    assert before < 0.2
    assert pp.noise_sigma(noisy) == pytest.approx(0.3, rel=0.1)
    assert np.std(noisy) == pytest.approx(1.0)


def test_windows_rows():
    w = pp.windows(np.arange(5.0), before=1, after=2)
    np.testing.assert_array_equal(w[0], [0, 0, 1, 2])
    np.testing.assert_array_equal(w[2], [1, 2, 3, 4])
    np.testing.assert_array_equal(w[4], [3, 4, 4, 4])


# ---- the network -------------------------------------------------------------------------------


def test_cnn_beats_the_rectified_derivative(trained):
    calcium, spikes = synthetic(3, 90.0, 30.0, seed=2)
    factor = metrics.bin_factor(30.0)
    ours = [
        metrics.corr(s, cnn.infer(c, 30.0, model=trained), factor)
        for c, s in zip(calcium, spikes, strict=True)
    ]
    floor = [
        metrics.corr(s, derivative.infer(c, 30.0), factor)
        for c, s in zip(calcium, spikes, strict=True)
    ]
    assert np.mean(ours) > np.mean(floor) + 0.07, (ours, floor)


def test_save_load_round_trip(trained, tmp_path):
    calcium, _ = synthetic(1, 30.0, 30.0, seed=5)
    path = cnn.save(trained, tmp_path / "m.pt")
    again = cnn.load(path)
    np.testing.assert_array_equal(
        cnn.infer(calcium[0], 30.0, model=trained), cnn.infer(calcium[0], 30.0, model=again)
    )
    np.testing.assert_array_equal(
        cnn.infer(calcium[0], 30.0, model=trained), cnn.infer(calcium[0], 30.0, model=path)
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]  # no temp file left


def test_load_rejects_other_files(tmp_path):
    bad = tmp_path / "bad.pt"
    torch.save({"format": "something else"}, bad)
    with pytest.raises(ValueError, match="bad.pt"):
        cnn.load(bad)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        cnn.load(tmp_path / "missing.pt")


def test_nan_gaps_stay_nan(trained):
    calcium, _ = synthetic(1, 40.0, 30.0, seed=6)
    trace = calcium[0].copy()
    trace[:5] = np.nan
    trace[300:420] = np.nan
    trace[-3:] = np.nan
    out = cnn.infer(trace, 30.0, model=trained)
    assert out.shape == trace.shape
    np.testing.assert_array_equal(np.isnan(out), np.isnan(trace))
    assert np.all(out[np.isfinite(out)] >= 0)


def test_training_is_deterministic_with_a_seed():
    calcium, spikes = synthetic(2, 30.0, 30.0, seed=7)
    params = {**TINY, "epochs": 2}
    a = cnn.train(calcium, spikes, 30.0, **params)
    b = cnn.train(calcium, spikes, 30.0, **params)
    c = cnn.train(calcium, spikes, 30.0, **{**params, "seed": 1})
    for key in a.states[0]:
        torch.testing.assert_close(a.states[0][key], b.states[0][key], rtol=0, atol=0)
    assert not torch.equal(a.states[0]["out.weight"], c.states[0]["out.weight"])


def test_model_trained_at_100hz_serves_30hz_data():
    calcium, spikes = synthetic(3, 60.0, 100.0, seed=8)
    model = cnn.train(calcium, spikes, 100.0, **{**TINY, "rate": 50.0, "epochs": 4})
    c30, s30 = synthetic(1, 60.0, 30.0, seed=9)
    c30[0][100:130] = np.nan
    out = cnn.infer(c30[0], 30.0, model=model)
    assert out.shape == (1800,)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(c30[0]))
    # the same trace at 100 Hz and at 30 Hz gives the same total expected spike count
    c100, _ = synthetic(1, 60.0, 100.0, seed=9)
    at30 = cnn.infer(pp.resample_trace(c100[0], 100.0, 30.0), 30.0, model=model)
    at100 = cnn.infer(c100[0], 100.0, model=model)
    assert at30.size == 1800 and at100.size == 6000
    assert np.nansum(at30) == pytest.approx(np.nansum(at100), rel=0.1)


def test_training_accepts_one_rate_per_recording_and_checks_shapes():
    c1, s1 = synthetic(1, 30.0, 30.0, seed=10)
    c2, s2 = synthetic(1, 30.0, 100.0, seed=11)
    model = cnn.train(c1 + c2, s1 + s2, [30.0, 100.0], **{**TINY, "epochs": 1})
    assert model.info["n_recordings"] == 2
    with pytest.raises(ValueError, match="recording 0"):
        cnn.train([c1[0]], [s1[0][:-1]], 30.0, **TINY)
    with pytest.raises(ValueError, match="2 sampling rates for 1"):
        cnn.train(c1, s1, [30.0, 30.0], **TINY)
    with pytest.raises(ValueError, match="unknown cnn parameter"):
        cnn.train(c1, s1, 30.0, epoch=3)
    with pytest.raises(ValueError, match="supervised"):
        cnn.infer(c1[0], 30.0)


def test_corr_loss_is_one_minus_the_mean_binned_pearson_r():
    rng = np.random.default_rng(3)
    pred, target = rng.random((3, 1, 42)), rng.random((3, 1, 42))
    target[2] = 0.0  # a crop without spikes has no correlation and is left out
    mask = np.ones_like(pred)
    mask[1, 0, 37:] = 0.0  # padding: the bins it touches are left out
    width = 4
    expected = []
    for b, n_bins in ((0, 10), (1, 9)):
        p = pred[b, 0, : n_bins * width].reshape(n_bins, width).sum(1)
        t = target[b, 0, : n_bins * width].reshape(n_bins, width).sum(1)
        expected.append(np.corrcoef(p, t)[0, 1])
    loss = cnn._corr_loss(*(torch.as_tensor(a) for a in (pred, target, mask)), width)
    assert float(loss) == pytest.approx(1.0 - np.mean(expected), abs=1e-9)
    params = cnn.resolve_params({"loss": "mse+corr", "rate": 100.0})
    both = cnn._loss(*(torch.as_tensor(a) for a in (pred, target, mask)), params)
    mse = (((pred - target) ** 2) * mask).sum() / mask.sum()
    assert float(both) == pytest.approx(mse + float(loss), abs=1e-9)
    for name, value in (("mse", mse), ("corr", float(loss))):
        alone = cnn._loss(
            *(torch.as_tensor(a) for a in (pred, target, mask)), {**params, "loss": name}
        )
        assert float(alone) == pytest.approx(value, abs=1e-9)
    with pytest.raises(ValueError, match="loss must be one of"):
        cnn.resolve_params({"loss": "l1"})


def test_train_model_from_a_recording_store(tmp_path):
    import xarray as xr

    from brainreps.io import write_store
    from brainreps.spikes.training import train_model

    calcium, spikes = synthetic(3, 40.0, 30.0, seed=12)
    dff = np.stack(calcium).astype(np.float32)
    dff[2, -100:] = np.nan  # NaN padding at the end, as in Spikefinder files
    ds = xr.Dataset(
        {
            "dff": (("unit", "time"), dff),
            "spikes": (("unit", "time"), np.stack(spikes).astype(np.float32)),
            "timestamps": (("time",), (np.arange(dff.shape[1]) / 30.0).astype(np.float64)),
        },
        coords={"unit": ["a", "b", "c"]},
        attrs={"frame_rate": 30.0},
    )
    store = write_store(ds, tmp_path / "gt.zarr", kind="recording")
    out = tmp_path / "models" / "cnn_gt.pt"
    model = train_model("cnn", [store], out, {**TINY, "epochs": 1})
    assert model.info["n_recordings"] == 3
    assert model.info["n_samples"] == 3 * 1200 - 100
    again = cnn.load(out)
    np.testing.assert_array_equal(
        cnn.infer(calcium[0], 30.0, model=model), cnn.infer(calcium[0], 30.0, model=again)
    )
    with pytest.raises(ValueError, match="not supervised"):
        train_model("oasis", [store], tmp_path / "x.pt")


def test_constant_and_out_of_range_traces(trained, caplog):
    flat = cnn.infer(np.full(300, 2.5), 30.0, model=trained)
    assert flat.shape == (300,) and np.all(np.isfinite(flat)) and np.ptp(flat[30:-30]) < 1e-6
    assert np.all(np.isnan(cnn.infer(np.full(50, np.nan), 30.0, model=trained)))
    lo, hi = trained.info["trained_noise_range"]
    assert 0 < lo < hi < 1
    caplog.clear()
    with caplog.at_level("WARNING", logger="brainreps.spikes.cnn"):
        cnn.infer(synthetic(1, 30.0, 30.0, seed=13)[0][0], 30.0, model=trained)
        assert not caplog.records  # the noise level it was trained on
        cnn.infer(synthetic(1, 30.0, 30.0, seed=13, snr=100.0)[0][0], 30.0, model=trained)
    assert any("outside the range" in r.getMessage() for r in caplog.records)
