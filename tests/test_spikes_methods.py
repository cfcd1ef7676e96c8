"""Spike-inference methods, registry, noise at a target SNR, cross-validation folds."""

from __future__ import annotations

import numpy as np
import pytest
from oasis.functions import deconvolve

from brainreps import spikes
from brainreps.spikes import benchmark, derivative, metrics, noise
from brainreps.spikes import oasis as oasis_method


def ar1_trace(n=3000, g=0.95, rate=0.05, sigma=0.2, seed=0):
    """Calcium c_t = g c_{t-1} + s_t with Poisson spikes, plus white noise: (trace, spikes)."""
    rng = np.random.default_rng(seed)
    s = rng.poisson(rate, n).astype(float)
    c = np.zeros(n)
    for t in range(n):
        c[t] = (g * c[t - 1] if t else 0.0) + s[t]
    return c + sigma * rng.standard_normal(n), s


def test_registry_lists_methods_and_imports_lazily():
    assert {"oasis", "derivative", "cnn", "stm", "bank", "vae"} <= set(spikes.METHODS)
    assert spikes.SUPERVISED == {"cnn", "stm", "bank", "vae"}
    assert spikes.get_method("oasis") is oasis_method
    with pytest.raises(ValueError, match="unknown spike-inference method 'nope'"):
        spikes.get_method("nope")


def test_missing_module_is_reported_not_raised_at_import(monkeypatch):
    monkeypatch.setitem(spikes.METHODS, "ghost", "brainreps.spikes.ghost_does_not_exist")
    with pytest.raises(spikes.MethodUnavailable, match="ghost"):
        spikes.get_method("ghost")
    assert "ghost_does_not_exist" in spikes.available_methods()["ghost"]


def test_oasis_recovers_spikes_of_an_ar1_trace_and_equals_the_package():
    y, s = ar1_trace()
    rate = oasis_method.infer(y, fs=30.0)
    direct = np.maximum(deconvolve(y, penalty=1).s, 0.0)
    np.testing.assert_allclose(rate, direct, rtol=0, atol=1e-12)
    assert rate.shape == y.shape and (rate >= 0).all()
    assert metrics.corr(s, rate, factor=1) > 0.8
    assert metrics.corr(s, rate, factor=4) > 0.9


def test_oasis_ar2_recovers_spikes_and_equals_the_package():
    y, s = ar1_trace(seed=1)
    rate = oasis_method.infer(y, fs=30.0, p=2)
    direct = np.maximum(deconvolve(y, tau_d=None, tau_r=None, penalty=1).s, 0.0)
    np.testing.assert_allclose(rate, direct, rtol=0, atol=1e-12)
    assert metrics.corr(s, rate, factor=4) > 0.85
    with pytest.raises(ValueError, match="p must be 1"):
        oasis_method.infer(y, fs=30.0, p=3)


def test_nan_gaps_are_skipped_and_stay_nan():
    y, _ = ar1_trace(n=1200)
    gapped = y.copy()
    gapped[500:540] = np.nan
    gapped[-100:] = np.nan  # padding at the end, as in Spikefinder files
    for module in (oasis_method, derivative):
        rate = module.infer(gapped, fs=30.0)
        assert np.isnan(rate[500:540]).all() and np.isnan(rate[-100:]).all()
        assert np.isfinite(rate[:500]).all() and np.isfinite(rate[540:-100]).all()
    # each segment is deconvolved on its own: same as running OASIS on the pieces
    rate = oasis_method.infer(gapped, fs=30.0)
    np.testing.assert_allclose(rate[:500], oasis_method.infer(y[:500], fs=30.0))
    np.testing.assert_allclose(rate[540:1100], oasis_method.infer(y[540:1100], fs=30.0))


def test_constant_trace_gives_zero_rate_and_short_segments_zero():
    assert (oasis_method.infer(np.full(300, 2.5), fs=30.0) == 0).all()
    assert (derivative.infer(np.full(300, 2.5), fs=30.0) == 0).all()
    short = np.r_[np.full(5, 1.0), np.nan, np.random.default_rng(0).normal(size=100)]
    rate = oasis_method.infer(short, fs=30.0)
    assert (rate[:5] == 0).all() and np.isnan(rate[5])


def test_bad_traces_are_rejected():
    with pytest.raises(ValueError, match="1-D"):
        oasis_method.infer(np.zeros((2, 10)), fs=30.0)
    with pytest.raises(ValueError, match="frame rate"):
        oasis_method.infer(np.zeros(10), fs=0.0)
    with pytest.raises(ValueError, match="inf"):
        derivative.infer(np.array([0.0, np.inf, 1.0]), fs=30.0)


def test_derivative_is_the_rectified_first_difference():
    y = np.array([0.0, 1.0, 0.5, 2.0, np.nan, 3.0, 1.0])
    np.testing.assert_allclose(
        derivative.infer(y, fs=10.0), [0, 1, 0, 1.5, np.nan, 0, 0], equal_nan=True
    )


@pytest.mark.parametrize("snr", [0.25, 1.0, 7.5])
def test_noise_reaches_the_target_snr_exactly(snr):
    y, _ = ar1_trace(n=2000)
    y[100:120] = np.nan
    noisy = noise.add_noise_at_snr(y, snr, seed=3)
    assert noise.achieved_snr(y, noisy) == pytest.approx(snr, rel=1e-10)
    assert np.isnan(noisy[100:120]).all()
    np.testing.assert_array_equal(noisy, noise.add_noise_at_snr(y, snr, seed=3))  # seeded
    assert not np.array_equal(noisy, noise.add_noise_at_snr(y, snr, seed=4))


def test_noise_rejects_constant_traces_and_bad_snr():
    with pytest.raises(ValueError, match="constant"):
        noise.add_noise_at_snr(np.ones(50), 2.0)
    with pytest.raises(ValueError, match="positive"):
        noise.add_noise_at_snr(np.arange(50.0), 0.0)


def test_half_score_snr_interpolates_in_log_snr():
    snr = np.array([1.0, 2.0, 4.0, 8.0])
    score = np.array([0.1, 0.3, 0.5, 0.6])
    # clean 0.8 -> half 0.4, crossed between SNR 2 (0.3) and 4 (0.5): halfway in log -> sqrt(8)
    assert noise.half_score_snr(snr, score, 0.8) == pytest.approx(np.sqrt(8.0))
    assert np.isnan(noise.half_score_snr(snr, score, 0.15))  # never falls to 0.075
    assert np.isnan(noise.half_score_snr(snr, score, -0.1))


def test_noise_sweep_scores_degrade_and_self_consistency_is_one_when_clean():
    y, s = ar1_trace(n=2000, sigma=0.1)
    gt = benchmark.GroundTruth("toy", y[None], s[None], 30.0, ["u0"], ["u0"])
    spec = benchmark.MethodSpec("oasis", "oasis")
    sweep = noise.noise_sweep(gt, spec, [0.5, 8.0], [0], seed=0)
    by_snr = sweep.set_index("snr")
    assert by_snr.loc[np.inf, "corr_clean"] == 1.0
    assert by_snr.loc[8.0, "corr_truth"] > by_snr.loc[0.5, "corr_truth"]
    assert by_snr.loc[np.inf, "corr_truth"] >= by_snr.loc[8.0, "corr_truth"] - 0.05


def toy_sets():
    rng = np.random.default_rng(0)

    def gt(name, n, neurons=None):
        return benchmark.GroundTruth(
            name,
            rng.normal(size=(n, 50)),
            rng.poisson(0.1, (n, 50)).astype(float),
            30.0,
            [f"{name}{i}" for i in range(n)],
            neurons or [f"{name}{i}" for i in range(n)],
        )

    return {"a": gt("a", 7), "b": gt("b", 4, ["n0", "n0", "n1", "n1"])}


@pytest.mark.parametrize(
    "cv",
    [
        {"scheme": "kfold_neurons", "n_folds": 3},
        {"scheme": "leave_one_neuron_out"},
        {"scheme": "kfold_neurons", "n_folds": 2, "train_on": "all_datasets"},
        {"scheme": "leave_one_dataset_out"},
    ],
)
def test_folds_never_train_on_a_scored_neuron(cv):
    sets = toy_sets()
    folds = benchmark.make_folds(sets, cv)
    scored = {name: [] for name in sets}
    for fold in folds:
        for name, test in fold.test.items():
            scored[name] += list(test)
            test_neurons = {sets[name].neurons[i] for i in test}
            train_neurons = {sets[name].neurons[i] for i in fold.train.get(name, [])}
            assert not test_neurons & train_neurons, fold.fold_id
    for name, gt in sets.items():  # every unit scored exactly once
        assert sorted(scored[name]) == list(range(len(gt.units)))
    if cv["scheme"] == "leave_one_neuron_out":
        assert len(folds) == 7 + 2  # 7 neurons in a, 2 (of 2 trials each) in b


@pytest.mark.parametrize("n_folds", [1, 0, -2])
def test_kfold_with_fewer_than_two_folds_is_an_error_naming_the_key(n_folds):
    message = f"config key spikes.cv.n_folds: {n_folds} is less than the minimum of 2"
    with pytest.raises(ValueError, match=message):
        benchmark.make_folds(toy_sets(), {"scheme": "kfold_neurons", "n_folds": n_folds})


def test_benchmark_skips_a_missing_supervised_module_with_a_reason(monkeypatch):
    monkeypatch.setitem(spikes.METHODS, "stm", "brainreps.spikes.ghost_stm")
    sets = toy_sets()
    specs = benchmark.method_specs({"derivative": {}, "stm": {}})
    result = benchmark.run_benchmark(sets, specs, {"scheme": "kfold_neurons"}, ("corr",))
    assert "ghost_stm" in result.skipped["stm"]
    assert set(result.scores["method"]) == {"derivative"}
    assert len(result.scores) == 7 + 4


def test_benchmark_trains_supervised_methods_only_on_other_neurons(monkeypatch):
    """A fake supervised method that records what it was trained on."""
    import types

    seen = []
    fake = types.ModuleType("fake_supervised")

    def train(calcium, spike_list, fs, **params):
        seen.append({round(float(c[0]), 12) for c in calcium})
        return {"first_samples": seen[-1]}

    def infer(trace, fs, model=None):
        assert round(float(trace[0]), 12) not in model["first_samples"]
        return np.abs(np.asarray(trace))

    fake.train, fake.infer = train, infer
    monkeypatch.setitem(spikes.METHODS, "cnn", "fake_supervised")
    monkeypatch.setitem(__import__("sys").modules, "fake_supervised", fake)
    sets = toy_sets()
    specs = benchmark.method_specs({"cnn": {}})
    result = benchmark.run_benchmark(sets, specs, {"scheme": "leave_one_neuron_out"}, ("corr",))
    assert len(seen) == 9 and not result.skipped
    assert result.scores["fold"].str.contains(":").all()


def test_frame_rate_that_does_not_match_the_timestamps_is_an_error():
    from brainreps.data.spikefinder import recording_dataset

    ds = recording_dataset(np.zeros((1, 10)), 30.0, spikes=np.zeros((1, 10)))
    ds.attrs["frame_rate"] = 100.0
    with pytest.raises(ValueError, match="frame_rate attribute says 100 Hz"):
        benchmark.ground_truth_from_recording(ds, "x")


def test_oasis_smoothing_is_a_gaussian_of_the_deconvolved_spikes():
    from scipy.ndimage import gaussian_filter1d

    y, s = ar1_trace(seed=2)
    raw = oasis_method.infer(y, fs=100.0)
    smoothed = oasis_method.infer(y, fs=100.0, smooth=0.05)  # 5 frames
    np.testing.assert_allclose(smoothed, gaussian_filter1d(raw, 5.0, mode="constant"))
    assert smoothed.sum() == pytest.approx(raw.sum(), rel=1e-3)  # spikes moved, not lost
    with pytest.raises(ValueError, match="smooth must be >= 0"):
        oasis_method.infer(y, fs=100.0, smooth=-1)


def test_leave_one_dataset_out_with_one_dataset_skips_supervised_methods(monkeypatch):
    sets = {"a": toy_sets()["a"]}
    assert benchmark.make_folds(sets, {"scheme": "leave_one_dataset_out"}) == []
    import sys
    import types

    fake = types.ModuleType("fake_untrainable")
    fake.train = fake.infer = lambda *a, **k: pytest.fail("must not be called without a fold")
    monkeypatch.setitem(sys.modules, "fake_untrainable", fake)
    monkeypatch.setitem(spikes.METHODS, "cnn", "fake_untrainable")
    specs = benchmark.method_specs({"cnn": {}})
    result = benchmark.run_benchmark(sets, specs, {"scheme": "leave_one_dataset_out"})
    assert "no cross-validation fold" in result.skipped["cnn"] and result.scores.empty


def test_oasis_ar2_does_not_depend_on_numpys_global_rng():
    # the package's AR(2) estimate draws from np.random when a root falls outside (0, 1):
    # on this white-noise trace two global seeds give different spikes unless infer seeds it
    y = np.random.default_rng(0).standard_normal(1000)
    outs = []
    for seed in (1, 2):
        np.random.seed(seed)
        outs.append(oasis_method.infer(y, 30.0, p=2))
        # and the caller's global state is left as it was
        assert np.array_equal(np.random.get_state()[1], np.random.RandomState(seed).get_state()[1])
    np.testing.assert_array_equal(outs[0], outs[1])


def indicator_sets():
    sets = toy_sets()
    sets["a"].indicator, sets["b"].indicator = "OGB-1", "GCaMP6s"
    rng = np.random.default_rng(1)
    sets["c"] = benchmark.GroundTruth(
        "c",
        rng.normal(size=(3, 50)),
        rng.poisson(0.1, (3, 50)).astype(float),
        30.0,
        ["c0", "c1", "c2"],
        ["c0", "c1", "c2"],
        "ogb-1",
    )
    return sets


def test_same_indicator_folds_add_only_that_indicators_other_datasets():
    sets = indicator_sets()
    folds = benchmark.make_folds(
        sets, {"scheme": "leave_one_neuron_out", "train_on": "same_indicator"}
    )
    for fold in folds:
        (name,) = fold.test
        others = set(fold.train) - {name}
        assert others == {"a": {"c"}, "b": set(), "c": {"a"}}[name], fold.fold_id
    lodo = benchmark.make_folds(
        sets, {"scheme": "leave_one_dataset_out", "train_on": "same_indicator"}
    )
    assert {f.fold_id: set(f.train) for f in lodo} == {"a:lodo": {"c"}, "c:lodo": {"a"}}
    plain = benchmark.make_folds(sets, {"scheme": "leave_one_dataset_out"})
    assert {f.fold_id: set(f.train) for f in plain}["b:lodo"] == {"a", "c"}
    sets["b"].indicator = ""
    with pytest.raises(ValueError, match="ground truth 'b' names no indicator"):
        benchmark.make_folds(sets, {"scheme": "kfold_neurons", "train_on": "same_indicator"})


def test_a_cross_validation_scores_only_its_datasets_with_the_same_folds():
    sets = toy_sets()
    every = benchmark.make_folds(sets, {"scheme": "kfold_neurons", "n_folds": 2})
    only_b = benchmark.make_folds(
        sets, {"scheme": "kfold_neurons", "n_folds": 2, "datasets": ["b"]}
    )
    assert [f.fold_id for f in only_b] == ["b:0", "b:1"]
    for fold in only_b:  # the filter does not change which neurons share a fold
        twin = next(f for f in every if f.fold_id == fold.fold_id)
        np.testing.assert_array_equal(fold.test["b"], twin.test["b"])
    with pytest.raises(ValueError, match=r"datasets \['z'\] are not ground truth here"):
        benchmark.make_folds(sets, {"scheme": "kfold_neurons", "datasets": ["z"]})


@pytest.fixture
def fake_cnn(monkeypatch):
    """`cnn` replaced by a supervised method whose model is its number of training
    recordings and whose rate is the derivative's."""
    import types

    fake = types.ModuleType("fake_supervised")
    fake.train = lambda calcium, spikes, fs, **kw: len(calcium)
    fake.infer = lambda trace, fs, model=None: derivative.infer(trace, fs)
    monkeypatch.setitem(spikes.METHODS, "cnn", "fake_supervised")
    monkeypatch.setitem(__import__("sys").modules, "fake_supervised", fake)


def test_several_cross_validations_run_and_oasis_is_the_baseline_per_dataset(fake_cnn):
    sets = toy_sets()
    specs = benchmark.method_specs({"derivative": {}, "fake": {"method": "cnn"}})
    cvs = [{"scheme": "leave_one_neuron_out"}, {"scheme": "leave_one_dataset_out"}]
    result = benchmark.run_benchmark(sets, specs, cvs, ("corr", "count_bias"))
    assert result.keys == {
        "derivative": ("derivative", "none"),
        "fake.lono": ("fake", "lono"),
        "fake.lodo": ("fake", "lodo"),
    }
    corr = result.scores[result.scores.measure == "corr"]
    assert corr.groupby(["method", "cv"]).size().to_dict() == {
        ("derivative", "none"): 11,
        ("fake", "lodo"): 11,
        ("fake", "lono"): 11,
    }
    # the fake rate is the derivative's: same scores under every cross-validation
    table = benchmark.baseline_comparison(result.scores, baseline="derivative")
    np.testing.assert_allclose(table["difference"], 0.0, atol=1e-12)
    assert table["at_least_baseline"].all() and set(table["cv"]) == {"lono", "lodo"}
    assert result.models["fake.lodo"] == {"a:lodo": 4, "b:lodo": 7}  # trained on the other set
    with pytest.raises(ValueError, match="names must differ"):
        benchmark.run_benchmark(sets, specs, [cvs[0], cvs[0]])


def test_a_cross_validation_trains_only_its_methods(fake_cnn):
    """`methods` limits a cross-validation to the labels it names; a supervised method no
    cross-validation names is skipped, and an unknown or unsupervised label is refused."""
    sets = toy_sets()
    specs = benchmark.method_specs(
        {"derivative": {}, "wide": {"method": "cnn"}, "own": {"method": "cnn"}}
    )
    cvs = [
        {"scheme": "leave_one_neuron_out", "methods": ["own"]},
        {"scheme": "leave_one_dataset_out", "methods": ["wide"]},
    ]
    result = benchmark.run_benchmark(sets, specs, cvs, ("corr",))
    assert set(result.keys) == {"derivative", "own.lono", "wide.lodo"}
    counts = result.scores.groupby(["method", "cv"]).size().to_dict()
    assert counts == {("derivative", "none"): 11, ("own", "lono"): 11, ("wide", "lodo"): 11}
    nobody = [{"scheme": "leave_one_dataset_out", "methods": ["wide"]}]
    assert benchmark.run_benchmark(sets, specs, nobody).skipped == {
        "own": "no cross-validation lists it in its methods"
    }
    for label in ("derivative", "cnn"):
        with pytest.raises(ValueError, match=rf"cv 'lodo': methods \['{label}'\] are not"):
            benchmark.run_benchmark(
                sets, specs, [{"scheme": "leave_one_dataset_out", "methods": [label]}]
            )
