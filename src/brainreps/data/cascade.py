"""CASCADE ground truth (Rupprecht et al. 2021): `.mat` files into the `recording` schema.

Each file holds one neuron: a variable `CAttached`, a 1 x n cell array of structs (one per
uninterrupted recording, "trial") with fields `fluo_time` (s), `fluo_mean` (dF/F) and
`events_AP` (spike times in units of 1e-4 s, i.e. ephys samples at 10 kHz; NaN entries are
ignored). Every trial becomes one unit of the recording; spikes are counted into the frames
(bins centred on `fluo_time`). Trials of different lengths are NaN-padded at the end.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.io
import xarray as xr

from brainreps.data.spikefinder import recording_dataset

EPHYS_RATE = 1e4  # events_AP are in ephys samples at 10 kHz
REQUIRED_FIELDS = ("fluo_time", "fluo_mean", "events_AP")
RATE_TOLERANCE = 0.05  # trials within 5% of the target frame rate are not resampled


def _struct_fields(trial: np.ndarray, path: Path, index: int) -> dict[str, np.ndarray]:
    """The fields of one `CAttached` entry (a cell holding a 1x1 struct) as arrays."""
    record = trial
    while isinstance(record, np.ndarray) and record.dtype == object and record.size == 1:
        record = record.flat[0]
    if not isinstance(record, np.ndarray) or record.dtype.names is None:
        raise ValueError(f"{path}: CAttached entry {index} is not a struct")
    missing = [f for f in REQUIRED_FIELDS if f not in record.dtype.names]
    if missing:
        raise ValueError(
            f"{path}: CAttached entry {index} lacks field(s) {missing} "
            f"(has {list(record.dtype.names)}); expected {list(REQUIRED_FIELDS)}"
        )
    item = record.flat[0]
    return {f: np.asarray(item[f], dtype=np.float64).ravel() for f in REQUIRED_FIELDS}


def read_cascade_trials(path: str | os.PathLike) -> list[dict[str, np.ndarray]]:
    """The trials of one CASCADE ground-truth file: dicts of time (s), dff, spike_times (s)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such CASCADE ground-truth file: {path}")
    try:
        content = scipy.io.loadmat(path)
    except Exception as exc:  # scipy raises several types for non-.mat input
        raise ValueError(f"{path}: not a readable MATLAB .mat file: {exc}") from exc
    if "CAttached" not in content:
        names = sorted(k for k in content if not k.startswith("__"))
        raise ValueError(f"{path}: no variable 'CAttached' (has {names})")
    cells = np.asarray(content["CAttached"], dtype=object).ravel()
    trials = []
    for index, cell in enumerate(cells):
        fields = _struct_fields(cell, path, index)
        time, dff = fields["fluo_time"], fields["fluo_mean"][: fields["fluo_time"].size]
        if dff.size < time.size:
            time = time[: dff.size]
        keep = np.isfinite(time)
        time, dff = time[keep], dff[keep]
        if time.size < 2:
            raise ValueError(f"{path}: CAttached entry {index} has fewer than 2 frames")
        if np.any(np.diff(time) <= 0):
            raise ValueError(f"{path}: CAttached entry {index}: fluo_time is not increasing")
        events = fields["events_AP"]
        trials.append(
            {"time": time, "dff": dff, "spike_times": events[np.isfinite(events)] / EPHYS_RATE}
        )
    if not trials:
        raise ValueError(f"{path}: CAttached is empty")
    return trials


def bin_spikes(spike_times: np.ndarray, frame_times: np.ndarray) -> np.ndarray:
    """Spike counts per frame, frames being bins centred on `frame_times`."""
    dt = np.diff(frame_times)
    edges = np.concatenate(
        [[frame_times[0] - dt[0] / 2], frame_times[:-1] + dt / 2, [frame_times[-1] + dt[-1] / 2]]
    )
    return np.histogram(spike_times, bins=edges)[0].astype(np.float64)


def trial_rate(time: np.ndarray) -> float:
    """Frame rate (Hz) of a trial from its frame times."""
    return float(1.0 / np.mean(np.diff(time)))


def load_cascade(paths: Sequence[str | os.PathLike], frame_rate: float | None = None) -> xr.Dataset:
    """CASCADE ground-truth files as one `recording` Dataset, one unit per trial.

    With `frame_rate` None all trials must share a frame rate (within 5%), else ValueError
    naming the files; given a `frame_rate`, trials off by more than 5% are resampled (linear
    interpolation of dF/F onto the new frames, spikes re-counted per new frame).
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("no CASCADE files given")
    trials, neuron, trial_index = [], [], []
    for path in paths:
        for i, trial in enumerate(read_cascade_trials(path)):
            trials.append((path, trial))
            neuron.append(path.stem)
            trial_index.append(i)
    rates = np.array([trial_rate(t["time"]) for _, t in trials])
    if frame_rate is None:
        frame_rate = float(np.median(rates))
        off = np.abs(rates - frame_rate) / frame_rate > RATE_TOLERANCE
        if off.any():
            bad = sorted({str(trials[i][0]) for i in np.flatnonzero(off)})
            raise ValueError(
                f"CASCADE trials have different frame rates ({rates.min():.2f}-{rates.max():.2f} "
                f"Hz; off the median {frame_rate:.2f} Hz by >5%: {bad}); pass frame_rate= to "
                "resample them to one rate"
            )
    dffs, spikes = [], []
    for (_, trial), rate in zip(trials, rates, strict=True):
        time, dff = trial["time"], trial["dff"]
        if abs(rate - frame_rate) / frame_rate > RATE_TOLERANCE:
            n = max(2, int(round((time[-1] - time[0]) * frame_rate)) + 1)
            new_time = time[0] + np.arange(n) / frame_rate
            dff = np.interp(new_time, time, dff)
            time = new_time
        dffs.append(dff)
        spikes.append(bin_spikes(trial["spike_times"], time))
    n_time = max(d.size for d in dffs)
    dff_arr = np.full((len(dffs), n_time), np.nan)
    spk_arr = np.full((len(dffs), n_time), np.nan)
    for i, (d, s) in enumerate(zip(dffs, spikes, strict=True)):
        dff_arr[i, : d.size] = d
        spk_arr[i, : s.size] = s
    units = [f"{n}/{t}" for n, t in zip(neuron, trial_index, strict=True)]
    return recording_dataset(
        dff_arr,
        frame_rate,
        spikes=spk_arr,
        unit=units,
        unit_coords={"neuron": neuron, "trial": np.asarray(trial_index)},
        attrs={"source": "cascade", "files": [str(p) for p in paths]},
    )


# ---- the CASCADE database as 100 Hz Spikefinder-format CSVs (../shared/data/cascade) ----------

CSV_RATE = 100.0  # Hz, every column of the converted CSVs
SANITY_TABLE = "columns_and_sanity.csv"


def cascade_csv_paths(folder: str | os.PathLike, dataset: str) -> tuple[Path, Path]:
    """(calcium, spikes) CSVs of one CASCADE dataset in a folder (`{dataset}.calcium.csv(.gz)`)."""
    folder = Path(folder)
    found = []
    for kind in ("calcium", "spikes"):
        for candidate in (folder / f"{dataset}.{kind}.csv.gz", folder / f"{dataset}.{kind}.csv"):
            if candidate.is_file():
                found.append(candidate)
                break
        else:
            known = sorted({p.name.split(".")[0] for p in folder.glob("*.calcium.csv*")})
            raise FileNotFoundError(
                f"no {dataset}.{kind}.csv(.gz) in {folder} (datasets there: {known[:30]})"
            )
    return found[0], found[1]


def _sanity_rows(folder: Path, dataset: str, n_columns: int) -> pd.DataFrame | None:
    """The dataset's rows of columns_and_sanity.csv by column, or None when there is no table."""
    path = folder / SANITY_TABLE
    if not path.is_file():
        return None
    table = pd.read_csv(path)
    rows = table[table["dataset"] == dataset].set_index("column").sort_index()
    if len(rows) != n_columns:
        raise ValueError(
            f"{path}: {len(rows)} rows for dataset {dataset!r} but its CSVs have {n_columns} "
            "columns; the table does not belong to these files"
        )
    return rows


def native_rate(rates: np.ndarray) -> float:
    """One frame rate for columns imaged at `rates` Hz: their median, at most the CSV rate."""
    return float(min(CSV_RATE, np.median(rates)))


def load_cascade_csv(
    folder: str | os.PathLike,
    dataset: str,
    frame_rate: float | str | None = None,
    quality: Sequence[str] | None = ("ok", "weak"),
) -> xr.Dataset:
    """One CASCADE dataset from its 100 Hz CSVs as a `recording` Dataset, one unit per column.

    `frame_rate`: None keeps the CSVs' 100 Hz; "native" resamples every column to the median
    frame rate the dataset was imaged at (from columns_and_sanity.csv, at most 100 Hz), which
    undoes the interpolation of 7.8-30 Hz recordings; a number resamples to that rate (dF/F by
    Gaussian anti-aliasing + linear interpolation, spikes re-binned so that counts are kept).
    `quality` keeps the columns whose `quality_flag` is listed (None: all). Units of one
    recorded cell share a `neuron` coordinate (its source file), so that cross-validation keeps
    them together; `native_fs` and `duplicate_of_spikefinder` are unit coordinates too.
    """
    from brainreps.data.spikefinder import read_csv_columns, recording_dataset
    from brainreps.spikes import preprocess as pp

    folder = Path(folder)
    calcium_path, spikes_path = cascade_csv_paths(folder, dataset)
    calcium, spikes = read_csv_columns(calcium_path), read_csv_columns(spikes_path)
    if list(calcium.columns) != list(spikes.columns) or calcium.shape != spikes.shape:
        raise ValueError(
            f"{spikes_path} (shape {spikes.shape}) does not match {calcium_path} "
            f"(shape {calcium.shape}): calcium and spike files must hold the same columns"
        )
    rows = _sanity_rows(folder, dataset, calcium.shape[1])
    columns = list(range(calcium.shape[1]))
    if rows is not None and quality is not None:
        flags = rows["quality_flag"].astype(str)
        columns = [c for c in columns if flags.iloc[c] in set(quality)]
        if not columns:
            raise ValueError(
                f"{dataset}: no column has a quality_flag in {list(quality)} "
                f"(flags: {sorted(set(flags))})"
            )
    native = (
        rows["native_fs"].to_numpy(float)[columns]
        if rows is not None
        else np.full(len(columns), np.nan)
    )
    if frame_rate == "native":
        if rows is None:
            raise ValueError(
                f"{dataset}: frame_rate 'native' needs {SANITY_TABLE} (the imaging rates) "
                f"in {folder}"
            )
        fs = native_rate(native)
    else:
        fs = CSV_RATE if frame_rate is None else float(frame_rate)
    dffs, counts = [], []
    for c, imaged in zip(columns, native, strict=True):
        ca = calcium.iloc[:, c].to_numpy()
        sp = spikes.iloc[:, c].to_numpy()
        n = int(np.isfinite(ca).sum())  # NaN is end padding in these files
        ca, sp = ca[:n], np.nan_to_num(sp[:n])
        if not np.isclose(fs, CSV_RATE):
            m = pp.resampled_length(n, CSV_RATE, fs)
            # back to (about) the imaging rate: the 100 Hz samples were interpolated from it
            restoring = bool(np.isfinite(imaged) and fs >= 0.95 * imaged)
            ca = pp.resample_trace(ca, CSV_RATE, fs, m, antialias=not restoring)
            sp = pp.rebin_counts(sp, CSV_RATE, fs, m)
        dffs.append(ca)
        counts.append(sp)
    n_time = max(d.size for d in dffs)
    dff_arr = np.full((len(dffs), n_time), np.nan)
    spk_arr = np.full((len(dffs), n_time), np.nan)
    for i, (d, s) in enumerate(zip(dffs, counts, strict=True)):
        dff_arr[i, : d.size] = d
        spk_arr[i, : s.size] = s
    if rows is not None:
        neuron = [Path(str(f)).stem for f in rows["file"].iloc[columns]]
        duplicate = [
            "" if pd.isna(v) else str(v) for v in rows["duplicate_of_spikefinder"].iloc[columns]
        ]
    else:
        neuron, duplicate = [str(c) for c in columns], [""] * len(columns)
    return recording_dataset(
        dff_arr,
        fs,
        spikes=spk_arr,
        unit=[str(calcium.columns[c]) for c in columns],
        unit_coords={
            "neuron": neuron,
            "native_fs": native,
            "duplicate_of_spikefinder": duplicate,
        },
        attrs={
            "source": "cascade",
            "dataset": dataset,
            "calcium_file": str(calcium_path),
            "spikes_file": str(spikes_path),
        },
    )
