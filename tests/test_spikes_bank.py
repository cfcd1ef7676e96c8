"""Noise-matched model banks: CASCADE's noise level, member choice, training, the directory."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest
from helpers import synthetic

from brainreps.cli import main as cli_main
from brainreps.spikes import bank, cnn
from brainreps.spikes import preprocess as pp

TINY_CNN = {
    "channels": 6,
    "kernel": 5,
    "dilations": [1, 2, 4],
    "epochs": 2,
    "batch_size": 16,
    "crop": 4.0,
    "learning_rate": 1e-2,
    "threads": 1,
    "n_models": 1,
    "epoch_samples": None,
}
TINY = {"frame_rates": [30.0], "noise_levels": [2.0, 8.0], "cnn": TINY_CNN}


def cascade_noise_level(trace: np.ndarray, fs: float) -> float:
    """CASCADE's own formula (calculate_noise_levels in its utils), for one trace."""
    return float(np.nanmedian(np.abs(np.diff(trace))) / np.sqrt(fs) * 100)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    calcium, spikes = synthetic(4, 60.0, 30.0, seed=2)
    model = bank.train(calcium, spikes, 30.0, **TINY)
    return bank.load(bank.save(model, tmp_path_factory.mktemp("bank") / "b"))


# ---- the noise level ---------------------------------------------------------------------


def test_noise_level_is_cascades_and_white_noise_hits_its_target():
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.standard_normal(5000)) * 0.01
    assert pp.noise_level(x, 30.0) == pytest.approx(cascade_noise_level(x, 30.0), rel=1e-12)
    # runs of one recording pool their differences, none across the gap
    a, b = x[:2000], x[2000:] + 50.0
    pooled = np.median(np.abs(np.concatenate([np.diff(a), np.diff(b)]))) * 100 / np.sqrt(30.0)
    assert pp.noise_level([a, b], 30.0) == pytest.approx(pooled, rel=1e-12)
    for level, fs in [(1.0, 30.0), (4.0, 7.5), (0.5, 100.0)]:
        noise = pp.level_to_sigma(level, fs) * rng.standard_normal(200_000)
        assert pp.noise_level(noise, fs) == pytest.approx(level, rel=0.01)


def test_bands_tile_the_grid_at_geometric_midpoints():
    edges = bank.bands([1.0, 2.0, 4.0])
    np.testing.assert_allclose(
        edges, [(2**-0.5, 2**0.5), (2**0.5, 2**1.5), (2**1.5, 2**2.5)], rtol=1e-12
    )
    assert bank.bands([3.0]) == pytest.approx([(3 / np.sqrt(2), 3 * np.sqrt(2))])
    with pytest.raises(ValueError, match="distinct and positive"):
        bank.bands([1.0, 1.0])


def test_cascade_noise_augmentation_reaches_the_drawn_level():
    """A recording brought to level nu (white noise added in dF/F units) measures nu."""
    rng = np.random.default_rng(1)
    calcium, spikes = synthetic(1, 600.0, 30.0, seed=5, snr=50.0)
    rec, stats, _ = pp.training_recordings_with_stats(calcium, spikes, 30.0, 30.0)
    params = cnn.resolve_params({"rate": 30.0, "noise_level": [3.0, 3.0]})
    x, std = rec[0][0][0], stats[0]["std"]
    naive = cnn._cascade_sigma(stats[0], params, rng)  # adding in quadrature overshoots
    assert pp.noise_level((x + naive * rng.standard_normal(x.size)) * std, 30.0) > 3.15
    stats[0]["curve"] = cnn.level_curve([x], std, 3.0, 30.0)
    sigma_z = cnn._cascade_sigma(stats[0], params, rng)
    noisy = x + sigma_z * rng.standard_normal(x.size)
    assert pp.noise_level(noisy * std, 30.0) == pytest.approx(3.0, rel=0.03)  # median's spread
    quiet = {"std": 1.0, "level": 5.0}  # already noisier than the target: nothing added
    assert cnn._cascade_sigma(quiet, params, rng) == 0.0


def test_epochs_of_sampled_crops_weigh_every_group_alike():
    rng = np.random.default_rng(0)
    big = [[(np.zeros(3000), np.ones(3000))] for _ in range(9)]  # group a: 9 recordings
    small = [[(np.zeros(3000), np.zeros(3000))]]  # group b: one
    params = cnn.resolve_params({"epoch_samples": 60_000, "p_clean": 1.0})
    stats = [{"std": 1.0, "level": 1.0}] * 10
    xs, ys, ms, scales = cnn._sampled_crops(
        big + small, [0.1] * 10, stats, ["a"] * 9 + ["b"], 300, params, rng
    )
    assert len(xs) == 200 and ms.all() and np.all(scales == 1.0)
    assert (ys.sum(1) > 0).sum() == 100  # half the crops from the group of one recording


def test_drop_noisier_leaves_out_noisy_recordings_and_says_when_none_is_left():
    calcium, spikes = synthetic(3, 40.0, 30.0, seed=3, snr=1.0)
    with pytest.raises(ValueError, match="every training recording is noisier than noise_level"):
        cnn.train(
            calcium,
            spikes,
            30.0,
            **TINY_CNN,
            rate=30.0,
            noise_level=[0.01, 0.02],
            drop_noisier=True,
        )


# ---- choosing a member -------------------------------------------------------------------


def grid_bank(**settings) -> bank.Bank:
    s = bank.resolve_settings(
        {"frame_rates": [7.5, 30.0], "noise_levels": [1.0, 2.0, 4.0], **settings}
    )
    return bank.Bank(bank.grid(s), s)


def test_choice_by_rate_and_noise_band():
    b = grid_bank()
    c = bank.choose(b, 1.9, 30.0, name="cell 3")
    assert (c.member.rate, c.member.level, c.warnings) == (30.0, 2.0, [])
    c = bank.choose(b, 1.2, 7.8, name="cell 3")  # within 5% of 7.5 Hz: served as it is
    assert (c.member.rate, c.member.level, c.resampled, c.warnings) == (7.5, 1.0, False, [])


def test_noise_outside_the_bank_warns_naming_trace_and_nearest_member():
    b = grid_bank()
    c = bank.choose(b, 20.0, 30.0, name="column 7")
    assert c.member.level == 4.0
    assert c.warnings == [
        "column 7: noise level 20 %·s^-1/2 is outside the bank's range 0.707-5.66 at 30 Hz; "
        "using the nearest model (any 30 Hz, noise level 4)"
    ]
    assert bank.choose(b, 0.3, 30.0, name="x").member.level == 1.0


def test_frame_rate_is_resampled_within_the_ratio_and_refused_beyond():
    b = grid_bank()
    c = bank.choose(b, 2.0, 50.0, name="t1")
    assert c.member.rate == 30.0 and c.resampled
    assert c.warnings == [
        "t1: the bank has no 50 Hz member; resampling the trace to its nearest, 30 Hz"
    ]
    with pytest.raises(
        ValueError,
        match=r"t2: frame rate 100 Hz is not served by this bank "
        r"\(its members run at 7.5, 30 Hz",
    ):
        bank.choose(b, 2.0, 100.0, name="t2")


def test_indicator_prefers_its_members_and_warns_when_it_has_none():
    general, ogb = grid_bank(), grid_bank(indicator="OGB-1")
    merged = bank.Bank(general.members + ogb.members, {"max_rate_ratio": 2.0})
    assert bank.choose(merged, 2.0, 30.0).member.indicator == "any"
    assert bank.choose(merged, 2.0, 30.0, indicator="ogb-1").member.indicator == "OGB-1"
    c = bank.choose(merged, 2.0, 30.0, indicator="GCaMP8m", name="n")
    assert c.member.indicator == "any"
    assert "the bank has no member tagged 'GCaMP8m' (it has ['OGB-1', 'any'])" in c.warnings[0]


# ---- a trained bank on disk --------------------------------------------------------------


def test_trained_bank_round_trips_and_infers_with_its_matched_member(trained, caplog):
    assert [(m.rate, m.level) for m in trained.members] == [(30.0, 2.0), (30.0, 8.0)]
    calcium, spikes = synthetic(1, 30.0, 30.0, seed=9)
    trace = calcium[0].copy()
    trace[100:120] = np.nan
    with caplog.at_level(logging.WARNING, logger="brainreps.spikes.bank"):
        rate = bank.infer(trace, 30.0, model=trained.root, name="n1")
    assert np.isnan(rate[100:120]).all() and np.nanmin(rate) >= 0
    level = bank.trace_level(trace, 30.0)
    member = bank.choose(trained, level, 30.0).member
    expected = cnn.infer(trace, 30.0, model=trained.model(member))
    np.testing.assert_allclose(rate, expected, equal_nan=True)
    # the loud copy: a warning naming the trace and the member, never silence
    loud = trace + 20 * np.random.default_rng(0).standard_normal(trace.size)
    with caplog.at_level(logging.WARNING, logger="brainreps.spikes.bank"):
        bank.infer(loud, 30.0, model=trained, name="loud trace")
    assert "loud trace: noise level" in caplog.text and "noise level 8)" in caplog.text


def test_only_the_served_members_are_trained_when_asked():
    calcium, spikes = synthetic(3, 40.0, 30.0, seed=4)
    b = bank.train(calcium, spikes, 30.0, serve=[(30.0, 7.0)], members="served", **TINY)
    assert [m.level for m in b.members] == [8.0]
    assert len(bank.train(calcium, spikes, 30.0, serve=[(30.0, 7.0)], **TINY).members) == 2


def test_bank_directory_errors_name_what_is_wrong(trained, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        bank.load(tmp_path / "none")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"holds no model bank: bank.json is missing"):
        bank.load(tmp_path / "empty")
    old = tmp_path / "old"
    old.mkdir()
    (old / "bank.json").write_text(json.dumps({"format": bank.FORMAT, "version": 0}))
    with pytest.raises(ValueError, match="format version 0; this brainreps reads version 1"):
        bank.load(old)
    (old / "bank.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(ValueError, match="is not a brainreps model bank"):
        bank.load(old)
    manifest = json.loads((trained.root / "bank.json").read_text())
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bank.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="the file of bank member any 30 Hz, noise level 2 is"):
        bank.load(broken)


def test_merged_banks_keep_every_member_and_refuse_twins(trained, tmp_path):
    ogb = bank.Bank(
        [
            bank.Member(m.rate, m.level, m.band, "OGB-1", m.file.replace("any", "OGB-1"))
            for m in trained.members
        ],
        trained.settings,
    )
    for m, src in zip(ogb.members, trained.members, strict=True):
        m.model = trained.model(src)
    merged = bank.load(bank.merge([trained, ogb], tmp_path / "m"))
    assert merged.indicators() == ["OGB-1", "any"] and len(merged.members) == 4
    with pytest.raises(ValueError, match="two banks both hold a member any 30 Hz"):
        bank.merge([trained, trained], tmp_path / "twice")


# ---- the command line --------------------------------------------------------------------


def test_cli_trains_a_bank_directory_and_infers_from_it(tmp_path, capsys):
    calcium, spikes = synthetic(3, 40.0, 30.0, seed=6)
    cols = [str(i) for i in range(3)]
    n = len(calcium[0])
    ca, sp = tmp_path / "x.calcium.csv", tmp_path / "x.spikes.csv"
    pd.DataFrame(np.array(calcium).T, columns=cols).to_csv(ca, index=False)
    pd.DataFrame(np.array(spikes).T, columns=cols).to_csv(sp, index=False)
    params = [
        f"--param=cnn={json.dumps(TINY_CNN)}",
        "--param=frame_rates=[30]",
        "--param=noise_levels=[3]",
    ]
    out = tmp_path / "bankdir"
    argv = [
        "spikes",
        "train",
        "--method",
        "bank",
        "--calcium",
        str(ca),
        "--spikes",
        str(sp),
        "--fs",
        "30",
        "--indicator",
        "GCaMP6f",
        "--indicators",
        "GCaMP6f",
        "--out",
        str(out),
        *params,
    ]
    assert cli_main(argv) == 0
    assert bank.load(out).indicators() == ["GCaMP6f"]
    assert bank.load(out).trained_indicators() == ["GCaMP6f"]
    pred = tmp_path / "p.csv"
    argv = [
        "spikes",
        "infer",
        "--method",
        "cnn",
        "--model",
        str(out),
        "--calcium",
        str(ca),
        "--fs",
        "30",
        "--indicator",
        "GCaMP6f",
        "--out",
        str(pred),
    ]
    assert cli_main(argv) == 0
    assert pd.read_csv(pred).shape == (n, 3)
    (tmp_path / "notabank").mkdir()
    argv[5] = str(tmp_path / "notabank")
    assert cli_main(argv) != 0
    assert "bank.json is missing" in capsys.readouterr().err


def test_an_indicator_no_member_saw_falls_back_to_oasis(caplog):
    from brainreps.spikes import oasis

    calcium, spikes = synthetic(3, 40.0, 30.0, seed=8)
    trained_on = bank.train(calcium, spikes, 30.0, indicators=["GCaMP6f"] * 3, **TINY)
    assert trained_on.trained_indicators() == ["GCaMP6f"]
    trace = calcium[0]
    with caplog.at_level(logging.WARNING, logger="brainreps.spikes.bank"):
        rate = bank.infer(trace, 30.0, model=trained_on, indicator="OGB-1", name="cell 2")
    np.testing.assert_array_equal(rate, oasis.infer(trace, 30.0))
    assert "cell 2: no member of the bank was trained on indicator 'OGB-1'" in caplog.text
    assert "falling back to OASIS" in caplog.text
    # seen indicators and unnamed ones are served by the members
    seen = bank.infer(trace, 30.0, model=trained_on, indicator="gcamp6f")
    np.testing.assert_array_equal(seen, bank.infer(trace, 30.0, model=trained_on))
    trained_on.settings["fallback"] = "none"
    kept = bank.infer(trace, 30.0, model=trained_on, indicator="OGB-1")
    np.testing.assert_array_equal(kept, seen)


def test_general_members_that_saw_the_indicator_serve_it_quietly():
    calcium, spikes = synthetic(2, 40.0, 30.0, seed=10)
    b = bank.train(calcium, spikes, 30.0, indicators=["OGB-1", "GCaMP6s"], **TINY)
    assert b.indicators() == ["any"] and b.trained_indicators() == ["GCaMP6s", "OGB-1"]
    c = bank.choose(b, 2.0, 30.0, indicator="ogb-1", name="n")
    assert c.member.indicator == "any" and c.warnings == []


def test_the_absolute_input_sees_the_transients_size():
    """With `absolute`, the same z-scored trace at 10x the dF/F gets a different rate."""
    calcium, spikes = synthetic(4, 60.0, 30.0, seed=15)
    params = {**TINY_CNN, "rate": 30.0, "epoch_samples": 6000, "absolute": True}
    model = cnn.train(calcium, spikes, 30.0, **params)
    assert model.nets()[0].inp.in_channels == 2
    trace = calcium[0]
    small, large = cnn.infer(trace, 30.0, model=model), cnn.infer(10 * trace, 30.0, model=model)
    assert np.max(np.abs(small - large)) > 1e-3
    plain = cnn.train(calcium, spikes, 30.0, **{**params, "absolute": False})
    np.testing.assert_allclose(
        cnn.infer(trace, 30.0, model=plain), cnn.infer(10 * trace, 30.0, model=plain), atol=1e-9
    )
    with pytest.raises(ValueError, match="absolute: true needs epoch_samples"):
        cnn.resolve_params({"absolute": True})


def test_a_trace_faster_than_anything_the_members_learnt_from_falls_back_to_oasis(caplog):
    """Members that saw an indicator only at 10 Hz cannot serve its 30 Hz traces (factor 3 >
    max_rate_ratio 2): OASIS does, with a warning; a 15 Hz trace (factor 1.5) is served."""
    from brainreps.spikes import oasis

    slow, slow_spikes = synthetic(2, 60.0, 10.0, seed=21)
    fast, fast_spikes = synthetic(2, 60.0, 30.0, seed=22)
    b = bank.train(
        slow + fast,
        slow_spikes + fast_spikes,
        [10.0, 10.0, 30.0, 30.0],
        indicators=["Cal-520", "Cal-520", "OGB-1", "OGB-1"],
        **TINY,
    )
    assert b.members[0].info["imaged_rates"] == {"*": 30.0, "Cal-520": 10.0, "OGB-1": 30.0}
    assert bank.imaged_ceiling(b.members, "cal-520") == 10.0
    assert bank.imaged_ceiling(b.members, None) == 30.0
    trace = fast[0]
    with caplog.at_level(logging.WARNING, logger="brainreps.spikes.bank"):
        rate = bank.infer(trace, 30.0, model=b, indicator="Cal-520", name="cell 7")
    np.testing.assert_array_equal(rate, oasis.infer(trace, 30.0))
    assert "cell 7: the bank's members learnt from Cal-520 recordings imaged at up to 10 Hz" in (
        caplog.text
    )
    assert "falling back to OASIS" in caplog.text
    # the same trace named OGB-1 (seen at 30 Hz), or unnamed, is served by a member
    assert bank.choose(b, 2.0, 30.0, indicator="OGB-1").member is not None
    assert bank.choose(b, 2.0, 30.0).member is not None
    assert bank.choose(b, 2.0, 15.0, indicator="Cal-520").member is not None
    # fallback none: served anyway, and the warning says so
    b.settings["fallback"] = "none"
    kept = bank.choose(b, 2.0, 30.0, indicator="Cal-520", name="cell 7")
    assert kept.member is not None and "serving it anyway" in kept.warnings[0]
    # a bank written before the rates were recorded serves as before
    for m in b.members:
        del m.info["imaged_rates"]
    b.settings["fallback"] = "oasis"
    assert bank.imaged_ceiling(b.members, "Cal-520") is None
    assert bank.choose(b, 2.0, 30.0, indicator="Cal-520").member is not None


def test_imaged_rates_refuses_an_indicator_list_of_the_wrong_length():
    """One indicator per recording, or one for all; three for four recordings is refused."""
    assert bank.imaged_rates([10.0, 30.0], 2, ["OGB-1"]) == {"*": 30.0, "OGB-1": 30.0}
    assert bank.imaged_rates(20.0, 2, None) == {"*": 20.0}
    with pytest.raises(ValueError, match="3 indicators for 4 recordings"):
        bank.imaged_rates([10.0, 10.0, 30.0, 30.0], 4, ["a", "b", "c"])
