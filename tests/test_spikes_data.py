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
