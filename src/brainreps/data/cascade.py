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
