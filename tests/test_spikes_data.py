"""Ground-truth loaders: Spikefinder CSVs and CASCADE .mat files into the recording schema."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.io

from brainreps.data import cascade, spikefinder
from brainreps.io import read_store, write_store

SPIKEFINDER = Path(__file__).resolve().parents[2] / "shared" / "data" / "spikefinder"


def write_pair(folder: Path, calcium: np.ndarray, spikes: np.ndarray, gz=True, dset="7"):
    """Spikefinder-format calcium/spikes files (columns '0', '1', ...) for (time, neuron) arrays."""
    suffix = ".csv.gz" if gz else ".csv"
    cols = [str(i) for i in range(calcium.shape[1])]
    ca, sp = folder / f"{dset}.train.calcium{suffix}", folder / f"{dset}.train.spikes{suffix}"
    spikefinder.write_csv_columns(pd.DataFrame(calcium, columns=cols), ca)
    spikefinder.write_csv_columns(pd.DataFrame(spikes, columns=cols), sp)
    return ca, sp


def small_arrays(n=40):
    rng = np.random.default_rng(0)
    calcium = rng.normal(size=(n, 3)).round(4)
    spikes = rng.poisson(0.2, (n, 3)).astype(float)
    calcium[30:, 1] = np.nan  # neuron 1 recorded for 30 frames only: NaN padding
    spikes[30:, 1] = np.nan
    return calcium, spikes


@pytest.mark.parametrize("gz", [True, False])
def test_spikefinder_roundtrip_keeps_nan_padding(tmp_path, gz):
    calcium, spikes = small_arrays()
    ca, sp = write_pair(tmp_path, calcium, spikes, gz=gz)
    assert (ca.read_bytes()[:2] == b"\x1f\x8b") == gz
    ds = spikefinder.load_spikefinder(ca, sp, dataset_id="7")
    assert ds["dff"].dims == ("unit", "time") and ds["dff"].dtype == np.float32
    assert list(ds["unit"].values) == ["0", "1", "2"]
    np.testing.assert_allclose(ds["dff"].values, calcium.T.astype(np.float32), equal_nan=True)
    np.testing.assert_array_equal(ds["spikes"].values, spikes.T)
    assert np.isnan(ds["dff"].values[1, 30:]).all() and ds.attrs["frame_rate"] == 100.0
    np.testing.assert_allclose(ds["timestamps"].values[:3], [0.0, 0.01, 0.02])
    out = write_store(ds, tmp_path / "r.zarr", kind="recording")
    back = read_store(out, "recording", load=True)
    np.testing.assert_array_equal(back["spikes"].values, ds["spikes"].values)


def test_spikefinder_mismatched_columns_and_rows_are_errors(tmp_path):
    calcium, spikes = small_arrays()
    ca, _ = write_pair(tmp_path, calcium, spikes)
    other = tmp_path / "other.csv"
    pd.DataFrame(spikes[:, :2], columns=["0", "1"]).to_csv(other, index=False)
    with pytest.raises(ValueError, match=r"columns \['0', '1'\] but .* has \['0', '1', '2'\]"):
        spikefinder.load_spikefinder(ca, other)
    pd.DataFrame(spikes[:20], columns=["0", "1", "2"]).to_csv(other, index=False)
    with pytest.raises(ValueError, match="20 rows but .* has 40"):
        spikefinder.load_spikefinder(ca, other)
    bad = spikes.copy()
    bad[35, 1] = 1.0  # a spike where the calcium is padding
    pd.DataFrame(bad, columns=["0", "1", "2"]).to_csv(other, index=False)
    with pytest.raises(ValueError, match="spikes at frame 35 of neuron '1'"):
        spikefinder.load_spikefinder(ca, other)
    (tmp_path / "text.csv").write_text("a,b\nx,y\n")
    with pytest.raises(ValueError, match="not a numeric Spikefinder CSV"):
        spikefinder.read_csv_columns(tmp_path / "text.csv")
    with pytest.raises(FileNotFoundError, match="no such Spikefinder CSV"):
        spikefinder.read_csv_columns(tmp_path / "missing.csv")


def test_spikefinder_shared_files_load():
    if not SPIKEFINDER.is_dir():
        pytest.skip("shared Spikefinder data absent")
    ds = spikefinder.load_spikefinder(
        *spikefinder.spikefinder_paths(SPIKEFINDER / "truth", "6"), dataset_id="6"
    )
    assert ds.sizes == {"unit": 9, "time": 23998}
    # neuron 2 is NaN-padded after 59.98 s; its spike total is the file's
    assert int(np.isnan(ds["dff"].values[2]).sum()) == 18000
    assert float(np.nansum(ds["spikes"].values[2])) == 30.0


def cascade_file(path: Path, trials, extra_fields=None, drop=None):
    """A CASCADE-layout .mat: CAttached = 1 x n cell of structs (fluo_time, fluo_mean, events_AP)."""
    cells = np.empty((1, len(trials)), dtype=object)
    for i, (time, dff, events) in enumerate(trials):
        record = {
            "fluo_time": np.asarray(time, float)[:, None],
            "fluo_mean": np.asarray(dff, float)[:, None],
            "events_AP": np.asarray(events, float)[:, None],
            **(extra_fields or {}),
        }
        for key in drop or ():
            record.pop(key)
        cells[0, i] = record
    scipy.io.savemat(path, {"CAttached": cells})
    return path


def test_cascade_roundtrip_bins_spike_times_into_frames(tmp_path):
    t = np.arange(100) / 25.0  # 25 Hz, 4 s
    dff0 = np.sin(t)
    # events_AP in 1e-4 s: 0.50 s -> frame 12.5 rounds into bin [12.5, 13.5) = frame 13;
    # 1.00 s -> frame 25; 1.01 s -> frame 25; NaN ignored
    events0 = [5000.0, 10000.0, 10100.0, np.nan]
    t1 = 10 + np.arange(60) / 25.0
    path = cascade_file(tmp_path / "cell_a.mat", [(t, dff0, events0), (t1, np.cos(t1), [105200.0])])
    ds = cascade.load_cascade([path])
    assert ds.attrs["frame_rate"] == pytest.approx(25.0)
    assert list(ds["unit"].values) == ["cell_a/0", "cell_a/1"]
    assert list(ds["neuron"].values) == ["cell_a", "cell_a"]
    spikes = ds["spikes"].values
    assert np.flatnonzero(spikes[0] > 0).tolist() == [13, 25] and spikes[0, 25] == 2
    assert np.nansum(spikes[1]) == 1 and spikes[1, 13] == 1  # 10.52 s: 13.0 frames after 10 s
    assert np.isnan(ds["dff"].values[1, 60:]).all() and np.isnan(spikes[1, 60:]).all()
    np.testing.assert_allclose(ds["dff"].values[0], dff0.astype(np.float32))
    write_store(ds, tmp_path / "c.zarr", kind="recording")


def test_cascade_frame_rate_mismatch_needs_resampling(tmp_path):
    a = cascade_file(tmp_path / "a.mat", [(np.arange(100) / 30.0, np.zeros(100), [1000.0])])
    b = cascade_file(tmp_path / "b.mat", [(np.arange(100) / 7.5, np.zeros(100), [1000.0])])
    with pytest.raises(ValueError, match="different frame rates .* pass frame_rate="):
        cascade.load_cascade([a, b])
    ds = cascade.load_cascade([a, b], frame_rate=30.0)
    assert ds.attrs["frame_rate"] == 30.0
    # b: 99 frames of 1/7.5 s = 13.2 s -> 397 frames at 30 Hz; its spike (0.1 s) kept
    assert int(np.isfinite(ds["dff"].values[1]).sum()) == 397
    assert np.nansum(ds["spikes"].values[1]) == 1


def test_cascade_without_fields_or_variable_is_a_clear_error(tmp_path):
    t = np.arange(50) / 30.0
    bad = cascade_file(tmp_path / "bad.mat", [(t, t, [1.0])], drop=["events_AP"])
    with pytest.raises(
        ValueError, match=r"bad.mat: CAttached entry 0 lacks field\(s\) \['events_AP'\]"
    ):
        cascade.load_cascade([bad])
    scipy.io.savemat(tmp_path / "other.mat", {"traces": np.zeros((3, 3))})
    with pytest.raises(ValueError, match="no variable 'CAttached' \\(has \\['traces'\\]\\)"):
        cascade.load_cascade([tmp_path / "other.mat"])
    (tmp_path / "junk.mat").write_bytes(b"not a mat file at all")
    with pytest.raises(ValueError, match="not a readable MATLAB .mat file"):
        cascade.load_cascade([tmp_path / "junk.mat"])
    with pytest.raises(FileNotFoundError):
        cascade.load_cascade([tmp_path / "missing.mat"])


CASCADE = SPIKEFINDER.parent / "cascade"


def cascade_csv_folder(folder: Path, dataset="DS99-GCaMP6f-m-V1", native=(25.0, 25.0, 25.0)):
    """A CASCADE-database CSV pair (100 Hz, NaN-padded) and its columns_and_sanity rows."""
    rng = np.random.default_rng(0)
    n = 2000
    calcium = rng.normal(size=(n, 3)).round(4)
    spikes = rng.poisson(0.05, (n, 3)).astype(float)
    calcium[1500:, 2], spikes[1500:, 2] = np.nan, np.nan
    cols = ["0", "1", "2"]
    spikefinder.write_csv_columns(
        pd.DataFrame(calcium, columns=cols), folder / f"{dataset}.calcium.csv.gz"
    )
    spikefinder.write_csv_columns(
        pd.DataFrame(spikes, columns=cols), folder / f"{dataset}.spikes.csv.gz"
    )
    pd.DataFrame(
        {
            "dataset": dataset,
            "column": [0, 1, 2],
            "file": ["cell_a_mini.mat", "cell_a_mini.mat", "cell_b_mini.mat"],
            "native_fs": list(native),
            "duplicate_of_spikefinder": [np.nan, np.nan, "7.train:3"],
            "quality_flag": ["ok", "no_spikes", "weak"],
        }
    ).to_csv(folder / cascade.SANITY_TABLE, index=False)
    return calcium, spikes


def test_cascade_csv_keeps_columns_by_quality_and_groups_trials_by_cell(tmp_path):
    calcium, spikes = cascade_csv_folder(tmp_path)
    ds = cascade.load_cascade_csv(tmp_path, "DS99-GCaMP6f-m-V1")
    assert list(ds["unit"].values) == ["0", "2"] and ds.attrs["frame_rate"] == 100.0
    assert list(ds["neuron"].values) == ["cell_a_mini", "cell_b_mini"]
    assert list(ds["duplicate_of_spikefinder"].values) == ["", "7.train:3"]
    np.testing.assert_allclose(ds["dff"].values[1, :1500], calcium[:1500, 2], rtol=1e-6)
    assert np.isnan(ds["dff"].values[1, 1500:]).all()
    every = cascade.load_cascade_csv(tmp_path, "DS99-GCaMP6f-m-V1", quality=None)
    assert every.sizes["unit"] == 3
    with pytest.raises(ValueError, match="no column has a quality_flag in \\['none'\\]"):
        cascade.load_cascade_csv(tmp_path, "DS99-GCaMP6f-m-V1", quality=["none"])
    with pytest.raises(FileNotFoundError, match="no DS98.calcium.csv"):
        cascade.load_cascade_csv(tmp_path, "DS98")


def test_cascade_csv_native_rate_keeps_spike_counts_and_undoes_the_interpolation(tmp_path):
    _, spikes = cascade_csv_folder(tmp_path, native=(25.0, 25.0, 24.0))
    ds = cascade.load_cascade_csv(tmp_path, "DS99-GCaMP6f-m-V1", frame_rate="native")
    assert ds.attrs["frame_rate"] == 24.5  # the median imaging rate of the kept columns
    assert int(np.isfinite(ds["dff"].values[0]).sum()) == 490  # 20 s at 24.5 Hz
    np.testing.assert_allclose(np.nansum(ds["spikes"].values, 1), np.nansum(spikes[:, [0, 2]], 0))
    # white noise at 25 Hz interpolated to 100 Hz and read back at 25 Hz: without the low-pass
    # it keeps most of its frame-to-frame noise (the CSVs' phase is unknown, so not all);
    # an anti-aliasing filter would halve the noise level the bank chooses members by
    from brainreps.spikes import preprocess as pp

    x25 = np.random.default_rng(1).normal(size=4000)
    x100 = np.interp((np.arange(16000) + 0.5) / 100.0, (np.arange(4000) + 0.5) / 25.0, x25)
    own = pp.noise_level(x25, 25.0)
    plain = pp.resample_trace(x100, 100.0, 25.0, antialias=False)
    assert np.corrcoef(plain, x25)[0, 1] > 0.99
    assert pp.noise_level(plain, 25.0) / own == pytest.approx(0.82, abs=0.03)
    low_passed = pp.resample_trace(x100, 100.0, 25.0)
    assert pp.noise_level(low_passed, 25.0) / own < 0.5


def test_cascade_csv_table_that_does_not_match_is_an_error(tmp_path):
    cascade_csv_folder(tmp_path)
    table = pd.read_csv(tmp_path / cascade.SANITY_TABLE)
    table.iloc[:2].to_csv(tmp_path / cascade.SANITY_TABLE, index=False)
    with pytest.raises(
        ValueError, match="2 rows for dataset 'DS99-GCaMP6f-m-V1' but its CSVs have 3"
    ):
        cascade.load_cascade_csv(tmp_path, "DS99-GCaMP6f-m-V1")
    (tmp_path / cascade.SANITY_TABLE).unlink()
    with pytest.raises(ValueError, match="frame_rate 'native' needs columns_and_sanity.csv"):
        cascade.load_cascade_csv(tmp_path, "DS99-GCaMP6f-m-V1", frame_rate="native")


def test_cascade_shared_csvs_load_at_their_imaging_rate():
    if not CASCADE.is_dir():
        pytest.skip("shared CASCADE data absent")
    ds = cascade.load_cascade_csv(CASCADE, "DS04-OGB1-zf-pDp", frame_rate="native")
    sanity = pd.read_csv(CASCADE / cascade.SANITY_TABLE)
    rows = sanity[(sanity.dataset == "DS04-OGB1-zf-pDp") & (sanity.quality_flag != "no_spikes")]
    assert ds.sizes["unit"] == len(rows) and ds.attrs["frame_rate"] == pytest.approx(
        7.812, abs=1e-3
    )
    assert len(set(ds["neuron"].values)) == rows["file"].nunique()
    assert float(np.nansum(ds["spikes"].values)) == pytest.approx(rows["spikes"].sum())
